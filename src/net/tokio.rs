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

use std::format;
use std::io;
use std::net::SocketAddr;

use ::tokio::net::{TcpSocket, TcpStream};

use super::runtime::{sealed, Runtime};
use super::socket::SocketOptions;
use super::{ConnectError, HappyEyeballs};
use crate::timer::TokioTimer;

/// The tokio runtime, for [`HappyEyeballs::new`]: connects with a [`TcpSocket`] (its options
/// set through `socket2`), runs the system resolver on tokio's blocking pool
/// ([`spawn_blocking`](::tokio::task::spawn_blocking)), and staggers with [`TokioTimer`].
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

    async fn connect(&self, addr: SocketAddr, options: &SocketOptions) -> io::Result<TcpStream> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        options.apply(socket2::SockRef::from(&socket), addr)?;
        socket.connect(addr).await
    }

    async fn unblock<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        ::tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| io::Error::other(format!("the blocking task failed: {e}")))
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
