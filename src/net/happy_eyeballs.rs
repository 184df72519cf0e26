//! [`HappyEyeballs`]: the options of a connect, and the connect itself.

use core::fmt;
use core::future::Future;
use core::time::Duration;
use std::format;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::vec::Vec;

use super::error::ConnectError;
use super::event::{ConnectEvent, Log, Observer, Tracked};
use super::interleave::interleave_by_family;
use super::runtime::{timeout, Runtime};
use crate::{staggered_race, Timer};

/// The Connection Attempt Delay that RFC 8305 §8 recommends, and the default: 250 ms.
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The smallest Connection Attempt Delay: RFC 8305 §5 says it "MUST NOT" go below 10 ms, so
/// shorter delays are raised to this.
pub const MIN_ATTEMPT_DELAY: Duration = Duration::from_millis(10);

/// A Happy Eyeballs v2 (RFC 8305) TCP connect: the options, and
/// [`connect`](HappyEyeballs::connect) / [`connect_host`](HappyEyeballs::connect_host).
///
/// The addresses are interleaved by family ([`interleave_by_family`], RFC 8305 §4), then raced
/// with [`staggered_race`]: the first attempt starts at once, and each next one starts when the
/// one before it fails or when the attempt delay has passed since it started, whichever comes
/// first. The first connection wins; every other attempt is dropped on the spot, which closes
/// its socket. If none connects, the error names every address with its own error.
///
/// `R` is the runtime: [`Tokio`](super::Tokio) (feature `net-tokio`) or
/// [`AsyncIo`](super::AsyncIo) (feature `net-async-io`). The builder is cheap to clone and can
/// be shared: `connect` takes `&self`.
///
/// ```
/// # #[cfg(feature = "net-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use staggered::net::{HappyEyeballs, Tokio};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let good = listener.local_addr()?;
/// // A port that refuses: bound, never listening.
/// let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
///
/// let connector = HappyEyeballs::new(Tokio)
///     .attempt_delay(Duration::from_millis(100))
///     .timeout(Duration::from_secs(5));
/// let stream = connector.connect([closed, good]).await?;
/// assert_eq!(stream.peer_addr()?, good);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct HappyEyeballs<R> {
    runtime: R,
    attempt_delay: Duration,
    first_family_count: usize,
    attempt_timeout: Option<Duration>,
    timeout: Option<Duration>,
    observer: Option<Observer>,
}

impl<R> HappyEyeballs<R> {
    /// The RFC 8305 defaults on `runtime`: a 250 ms attempt delay, a First Address Family
    /// Count of 1, and no timeouts (each attempt is then bounded by the OS's own connect
    /// timeout).
    pub fn new(runtime: R) -> Self {
        HappyEyeballs {
            runtime,
            attempt_delay: DEFAULT_ATTEMPT_DELAY,
            first_family_count: 1,
            attempt_timeout: None,
            timeout: None,
            observer: None,
        }
    }

    /// The Connection Attempt Delay (RFC 8305 §5): how long an attempt runs on its own before
    /// the next one starts beside it. Default 250 ms; values below 10 ms are raised to
    /// [`MIN_ATTEMPT_DELAY`], as the RFC requires.
    pub fn attempt_delay(mut self, delay: Duration) -> Self {
        self.attempt_delay = delay.max(MIN_ATTEMPT_DELAY);
        self
    }

    /// The First Address Family Count (RFC 8305 §4): how many addresses of the first family
    /// are tried before the other family's first. Default 1; 0 counts as 1.
    pub fn first_address_family_count(mut self, count: usize) -> Self {
        self.first_family_count = count.max(1);
        self
    }

    /// A limit on each attempt: an attempt still connecting after this long fails with
    /// [`io::ErrorKind::TimedOut`], and the next one starts at once. `None` (the default)
    /// leaves it to the OS.
    pub fn attempt_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.attempt_timeout = limit.into();
        self
    }

    /// A limit on the whole connect, name resolution included: when it passes, every running
    /// attempt is dropped and the connect fails with a [`ConnectError`] whose kind is
    /// [`TimedOut`](super::ConnectErrorKind::TimedOut). `None` (the default) sets no limit.
    pub fn timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.timeout = limit.into();
        self
    }

    /// Calls `observer` with every [`ConnectEvent`]: the address order, and each attempt's
    /// start, failure, win or cancellation, as they happen. For logs, metrics and timelines.
    ///
    /// ```
    /// # #[cfg(feature = "net-tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::{Arc, Mutex};
    /// use staggered::net::{ConnectEvent, HappyEyeballs, Tokio};
    ///
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let connector = HappyEyeballs::new(Tokio).on_event(move |event| {
    ///     log.lock().unwrap().push(match event {
    ///         ConnectEvent::Addresses { .. } => "addresses",
    ///         ConnectEvent::Started { .. } => "started",
    ///         ConnectEvent::Failed { .. } => "failed",
    ///         ConnectEvent::Won { .. } => "won",
    ///         ConnectEvent::Cancelled { .. } => "cancelled",
    ///         _ => "other",
    ///     })
    /// });
    /// connector.connect([listener.local_addr().unwrap()]).await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), ["addresses", "started", "won"]);
    /// # });
    /// ```
    pub fn on_event(
        mut self,
        observer: impl Fn(&ConnectEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }
}

impl<R: Runtime> HappyEyeballs<R> {
    /// Connects to the first of `addrs` that answers, Happy Eyeballs style.
    ///
    /// The addresses are read at once (not on the first poll), interleaved by family, and
    /// tried in that order. An empty list fails at once with
    /// [`NoAddresses`](super::ConnectErrorKind::NoAddresses).
    ///
    /// Dropping the future drops every running attempt, which closes their sockets.
    pub fn connect<A>(
        &self,
        addrs: A,
    ) -> impl Future<Output = Result<R::TcpStream, ConnectError>> + '_
    where
        A: IntoIterator<Item = SocketAddr>,
    {
        let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
        self.run(None, Some(addrs))
    }

    /// Resolves `host` (`"name:port"`, or an IP address literal with its port) through the
    /// system resolver without blocking the executor, then [`connect`](Self::connect)s to the
    /// addresses it gives, in the resolver's order of preference, interleaved by family.
    ///
    /// The overall [`timeout`](Self::timeout) covers the resolution too.
    pub async fn connect_host(&self, host: &str) -> Result<R::TcpStream, ConnectError> {
        self.run(Some(host), None).await
    }

    async fn run(
        &self,
        host: Option<&str>,
        addrs: Option<Vec<SocketAddr>>,
    ) -> Result<R::TcpStream, ConnectError> {
        let log = Log::new(self.observer.as_deref());
        let work = self.resolve_and_race(&log, host, addrs);
        let Some(limit) = self.timeout else {
            return work.await;
        };
        // `work` (with every attempt in it) is dropped by the time this `await` returns.
        let result = timeout(work, self.runtime.timer().sleep(limit)).await;
        result.unwrap_or_else(|| {
            let attempts = log.take_errors(|| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("still connecting when the overall timeout of {limit:?} passed"),
                )
            });
            Err(ConnectError::timed_out(host, limit, attempts))
        })
    }

    async fn resolve_and_race(
        &self,
        log: &Log<'_>,
        host: Option<&str>,
        addrs: Option<Vec<SocketAddr>>,
    ) -> Result<R::TcpStream, ConnectError> {
        let addrs = match (addrs, host) {
            (Some(addrs), _) => addrs,
            (None, Some(host)) => self
                .runtime
                .resolve(host)
                .await
                .map_err(|error| ConnectError::resolve(host, error))?,
            (None, None) => Vec::new(),
        };
        let addrs: Vec<SocketAddr> = interleave_by_family(addrs, self.first_family_count).collect();
        log.report(ConnectEvent::Addresses { addrs: &addrs });
        if addrs.is_empty() {
            return Err(ConnectError::no_addresses(host));
        }
        // The closures take no references as arguments: a higher-ranked closure type inside
        // the future would keep the compiler from proving it `Send` (rust-lang/rust#102211).
        let attempts = addrs.iter().copied().enumerate().map(|(index, addr)| {
            move || {
                let guard = log.start(index, addr);
                Tracked::new(self.attempt(addr), guard)
            }
        });
        let outcome =
            staggered_race(attempts, Some(self.attempt_delay), self.runtime.timer()).await;
        match outcome.winner {
            Some((_, stream)) => Ok(stream),
            None => {
                let attempts = log.take_errors(|| io::Error::other("attempt did not finish"));
                Err(ConnectError::all_failed(host, attempts))
            }
        }
    }

    /// One attempt: a connect, bounded by the attempt timeout if there is one.
    async fn attempt(&self, addr: SocketAddr) -> io::Result<R::TcpStream> {
        let connect = self.runtime.connect(addr);
        let Some(limit) = self.attempt_timeout else {
            return connect.await;
        };
        match timeout(connect, self.runtime.timer().sleep(limit)).await {
            Some(result) => result,
            None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connection attempt timed out after {limit:?}"),
            )),
        }
    }
}

impl<R: Default> Default for HappyEyeballs<R> {
    fn default() -> Self {
        Self::new(R::default())
    }
}

impl<R: Clone> Clone for HappyEyeballs<R> {
    fn clone(&self) -> Self {
        HappyEyeballs {
            runtime: self.runtime.clone(),
            attempt_delay: self.attempt_delay,
            first_family_count: self.first_family_count,
            attempt_timeout: self.attempt_timeout,
            timeout: self.timeout,
            observer: self.observer.clone(),
        }
    }
}

impl<R: fmt::Debug> fmt::Debug for HappyEyeballs<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HappyEyeballs")
            .field("runtime", &self.runtime)
            .field("attempt_delay", &self.attempt_delay)
            .field("first_address_family_count", &self.first_family_count)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("timeout", &self.timeout)
            .field(
                "observer",
                &self.observer.as_ref().map(|_| "Fn(&ConnectEvent)"),
            )
            .finish()
    }
}
