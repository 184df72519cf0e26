//! [`Runtime`]: what a Happy Eyeballs connect needs from an async runtime.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
use std::net::SocketAddr;

use super::socket::SocketOptions;
use crate::Timer;

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// An async runtime that [`HappyEyeballs`](super::HappyEyeballs) can connect with: a TCP
/// connect with socket options, a thread pool for blocking work (the system resolver), and a
/// [`Timer`].
///
/// Implemented by [`Tokio`][super::Tokio] (feature `net-tokio`) and
/// [`AsyncIo`][super::AsyncIo] (feature `net-async-io`). It is sealed: its shape may still
/// change, so other runtimes are added inside the crate for now.
///
/// # Example
///
/// Code that works on either runtime takes an `R: Runtime`:
///
/// ```
/// # #[cfg(feature = "net-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::net::SocketAddr;
/// use staggered::net::{ConnectError, HappyEyeballs, Runtime, Tokio};
///
/// async fn connect_quickly<R: Runtime>(runtime: R, addrs: Vec<SocketAddr>) -> Result<R::TcpStream, ConnectError> {
///     HappyEyeballs::new(runtime).attempt_delay(std::time::Duration::from_millis(50)).connect(addrs).await
/// }
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let stream = connect_quickly(Tokio, vec![listener.local_addr()?]).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[cfg_attr(
    not(feature = "net-tokio"),
    doc = "",
    doc = "[super::Tokio]: crate#features"
)]
#[cfg_attr(
    not(feature = "net-async-io"),
    doc = "",
    doc = "[super::AsyncIo]: crate#features"
)]
pub trait Runtime: sealed::Sealed + Clone + Send + Sync {
    /// The connected stream this runtime gives.
    type TcpStream: core::fmt::Debug;
    /// The timer the race staggers its starts with.
    type Timer: Timer;

    /// The timer.
    fn timer(&self) -> Self::Timer;

    /// Connects to one address, with `options` applied to the socket before the connect.
    /// Dropping the future closes its socket.
    #[doc(hidden)]
    fn connect(
        &self,
        addr: SocketAddr,
        options: &SocketOptions,
    ) -> impl Future<Output = io::Result<Self::TcpStream>> + Send;

    /// Runs `work` on a thread where blocking is allowed, off the executor.
    #[doc(hidden)]
    fn unblock<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = io::Result<T>> + Send;
}

pin_project_lite::pin_project! {
    /// `inner`, or `None` once `sleep` completes first.
    pub(crate) struct Timeout<F, S> {
        #[pin]
        inner: F,
        #[pin]
        sleep: S,
    }
}

/// Runs `inner` until `sleep` completes. `inner` is polled first, so a result that is ready at
/// the deadline wins over the timeout.
pub(crate) fn timeout<F: Future, S: Future<Output = ()>>(inner: F, sleep: S) -> Timeout<F, S> {
    Timeout { inner, sleep }
}

impl<F: Future, S: Future<Output = ()>> Future for Timeout<F, S> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(Some(output));
        }
        this.sleep.poll(cx).map(|()| None)
    }
}
