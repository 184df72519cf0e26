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

use std::io;
use std::net::{SocketAddr, TcpStream};

use ::async_io::Async;
use socket2::{Domain, Protocol, Socket, Type};

use super::runtime::{sealed, Runtime};
use super::socket::SocketOptions;
use super::{ConnectError, HappyEyeballs};
use crate::timer::AsyncIoTimer;

/// The async-io runtime, for [`HappyEyeballs::new`]: connects a non-blocking `socket2` socket
/// (its options set first) and waits on it with [`Async`], runs the system resolver on the
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

    async fn connect(
        &self,
        addr: SocketAddr,
        options: &SocketOptions,
    ) -> io::Result<Async<TcpStream>> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        options.apply(socket2::SockRef::from(&socket), addr)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        let stream = Async::new(TcpStream::from(socket))?;
        // Writable once the connect is done, either way; the socket's error says which.
        stream.writable().await?;
        match stream.get_ref().take_error()? {
            Some(error) => Err(error),
            None => {
                stream.get_ref().peer_addr()?;
                Ok(stream)
            }
        }
    }

    async fn unblock<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        Ok(blocking::unblock(work).await)
    }
}

/// A non-blocking connect that has begun and will finish later.
fn in_progress(error: &io::Error) -> bool {
    #[cfg(unix)]
    if error.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    error.kind() == io::ErrorKind::WouldBlock
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
