//! Happy Eyeballs on tokio: the [`Tokio`] runtime, and [`connect`] / [`connect_host`] with the
//! default options.
//!
//! Needs the feature `net-tokio`, and a tokio runtime with the IO and time drivers enabled
//! (`enable_all()`, or `#[tokio::main]`).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let stream: tokio::net::TcpStream = staggered::net::tokio::connect([listener.local_addr()?]).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::io;
use std::net::SocketAddr;
use std::vec::Vec;

use ::tokio::net::TcpStream;

use super::runtime::{sealed, Runtime};
use super::{ConnectError, HappyEyeballs};
use crate::timer::TokioTimer;

/// The tokio runtime, for [`HappyEyeballs::new`]: connects with
/// [`tokio::net::TcpStream::connect`], resolves with
/// [`tokio::net::lookup_host`] (on tokio's blocking pool), and
/// staggers with [`TokioTimer`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use staggered::net::{HappyEyeballs, Tokio};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let port = listener.local_addr()?.port();
/// let connector = HappyEyeballs::new(Tokio).timeout(Duration::from_secs(5));
/// let stream = connector.connect_host(&format!("localhost:{port}")).await?;
/// assert_eq!(stream.peer_addr()?.port(), port);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Tokio;

impl sealed::Sealed for Tokio {}

impl Runtime for Tokio {
    type TcpStream = TcpStream;
    type Timer = TokioTimer;

    fn timer(&self) -> TokioTimer {
        TokioTimer
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect(addr).await
    }

    async fn resolve(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        Ok(::tokio::net::lookup_host(host).await?.collect())
    }
}

/// [`HappyEyeballs::connect`] on tokio with the default options (250 ms attempt delay, no
/// timeouts).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let stream = staggered::net::tokio::connect([listener.local_addr()?]).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn connect<A>(addrs: A) -> Result<TcpStream, ConnectError>
where
    A: IntoIterator<Item = SocketAddr>,
{
    HappyEyeballs::new(Tokio).connect(addrs).await
}

/// [`HappyEyeballs::connect_host`] on tokio with the default options.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let port = listener.local_addr()?.port();
/// let stream = staggered::net::tokio::connect_host(&format!("127.0.0.1:{port}")).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn connect_host(host: &str) -> Result<TcpStream, ConnectError> {
    HappyEyeballs::new(Tokio).connect_host(host).await
}
