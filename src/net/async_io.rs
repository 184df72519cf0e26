//! Happy Eyeballs on async-io (smol, async-std): the [`AsyncIo`] runtime, and [`connect`] /
//! [`connect_host`] with the default options.
//!
//! Needs the feature `net-async-io`. Works on any executor: async-io drives its own reactor.
//!
//! ```
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let stream: async_io::Async<std::net::TcpStream> =
//!     async_io::block_on(staggered::net::async_io::connect([listener.local_addr()?]))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::ToOwned;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::vec;
use std::vec::Vec;

use ::async_io::Async;

use super::runtime::{sealed, Runtime};
use super::{ConnectError, HappyEyeballs};
use crate::timer::AsyncIoTimer;

/// The async-io runtime, for [`HappyEyeballs::new`]: connects with
/// [`Async::<TcpStream>::connect`](Async::connect), resolves with the system resolver on the
/// [`blocking`] crate's thread pool, and staggers with [`AsyncIoTimer`].
///
/// ```
/// use std::time::Duration;
/// use staggered::net::{AsyncIo, HappyEyeballs};
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let connector = HappyEyeballs::new(AsyncIo).timeout(Duration::from_secs(5));
/// let stream = async_io::block_on(connector.connect_host(&format!("localhost:{port}")))?;
/// assert_eq!(stream.get_ref().peer_addr()?.port(), port);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AsyncIo;

impl sealed::Sealed for AsyncIo {}

impl Runtime for AsyncIo {
    type TcpStream = Async<TcpStream>;
    type Timer = AsyncIoTimer;

    fn timer(&self) -> AsyncIoTimer {
        AsyncIoTimer
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Async<TcpStream>> {
        Async::<TcpStream>::connect(addr).await
    }

    async fn resolve(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        // An address literal needs no resolver, nor a trip to the thread pool.
        if let Ok(addr) = host.parse::<SocketAddr>() {
            return Ok(vec![addr]);
        }
        let host = host.to_owned();
        blocking::unblock(move || Ok(host.to_socket_addrs()?.collect())).await
    }
}

/// [`HappyEyeballs::connect`] on async-io with the default options (250 ms attempt delay, no
/// timeouts).
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let stream = async_io::block_on(staggered::net::async_io::connect([addr]))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn connect<A>(addrs: A) -> Result<Async<TcpStream>, ConnectError>
where
    A: IntoIterator<Item = SocketAddr>,
{
    HappyEyeballs::new(AsyncIo).connect(addrs).await
}

/// [`HappyEyeballs::connect_host`] on async-io with the default options.
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let host = format!("127.0.0.1:{}", listener.local_addr()?.port());
/// let stream = async_io::block_on(staggered::net::async_io::connect_host(&host))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn connect_host(host: &str) -> Result<Async<TcpStream>, ConnectError> {
    HappyEyeballs::new(AsyncIo).connect_host(host).await
}
