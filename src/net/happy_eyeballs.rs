//! [`HappyEyeballs`]: the options of a connect, and the connect itself.

use core::fmt;
use core::future::Future;
use core::time::Duration;
use std::format;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::vec::Vec;

use super::error::ConnectError;
use super::event::{ConnectEvent, Log, Observer};
use super::interleave::interleave_by_family;
use super::resolve::{combine, lookup_both, parse_target, Family, Resolve, SystemResolver, Target};
use super::runtime::{timeout, Runtime};
use super::socket::SocketOptions;
use crate::{Event, Staggered, Timer};

/// The Connection Attempt Delay that RFC 8305 §8 recommends, and the default: 250 ms.
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The smallest Connection Attempt Delay: RFC 8305 §5 says it "MUST NOT" go below 10 ms, so
/// shorter delays are raised to this.
pub const MIN_ATTEMPT_DELAY: Duration = Duration::from_millis(10);

/// How long [`connect_host`](HappyEyeballs::connect_host) waits for the name lookups by
/// default: 10 s, the time glibc's resolver takes to give up on one server with its default
/// settings (two tries of 5 s).
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A Happy Eyeballs v2 (RFC 8305) TCP connect: the options, and
/// [`connect`](HappyEyeballs::connect) / [`connect_host`](HappyEyeballs::connect_host).
///
/// The addresses are interleaved by family ([`interleave_by_family`], RFC 8305 §4), then raced
/// with [`staggered_race`](crate::staggered_race): the first attempt starts at once, and each next one starts when the
/// one before it fails or when the attempt delay has passed since it started, whichever comes
/// first. The first connection wins; every other attempt is dropped on the spot, which closes
/// its socket. If none connects, the error names every address with its own error.
///
/// `R` is the runtime: [`Tokio`](super::Tokio) (feature `net-tokio`) or
/// [`AsyncIo`](super::AsyncIo) (feature `net-async-io`). `D` is the name resolver of
/// [`connect_host`](HappyEyeballs::connect_host): the [`SystemResolver`] unless
/// [`resolver`](HappyEyeballs::resolver) sets another. The builder is cheap to clone and can
/// be shared: `connect` takes `&self`.
///
/// Socket options ([`nodelay`](Self::nodelay), [`keepalive`](Self::keepalive), buffer sizes,
/// [`local_address`](Self::local_address)) are set through `socket2` on every attempt's
/// socket before it connects; by default each is left to the OS.
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
pub struct HappyEyeballs<R, D = SystemResolver<R>> {
    runtime: R,
    resolver: D,
    attempt_delay: Duration,
    first_family_count: usize,
    attempt_timeout: Option<Duration>,
    timeout: Option<Duration>,
    resolve_timeout: Option<Duration>,
    socket: SocketOptions,
    observer: Option<Observer>,
}

impl<R: Clone> HappyEyeballs<R> {
    /// The RFC 8305 defaults on `runtime`: a 250 ms attempt delay, a First Address Family
    /// Count of 1, the [`SystemResolver`] with a 10 s resolve timeout, no other timeouts (each
    /// attempt is then bounded by the OS's own connect timeout), and the OS's socket options.
    pub fn new(runtime: R) -> Self {
        HappyEyeballs {
            resolver: SystemResolver::new(runtime.clone()),
            runtime,
            attempt_delay: DEFAULT_ATTEMPT_DELAY,
            first_family_count: 1,
            attempt_timeout: None,
            timeout: None,
            resolve_timeout: Some(DEFAULT_RESOLVE_TIMEOUT),
            socket: SocketOptions::default(),
            observer: None,
        }
    }
}

impl<R, D> HappyEyeballs<R, D> {
    /// The resolver [`connect_host`](Self::connect_host) looks names up with, in place of the
    /// [`SystemResolver`]. See [`Resolve`].
    pub fn resolver<D2: Resolve>(self, resolver: D2) -> HappyEyeballs<R, D2> {
        HappyEyeballs {
            runtime: self.runtime,
            resolver,
            attempt_delay: self.attempt_delay,
            first_family_count: self.first_family_count,
            attempt_timeout: self.attempt_timeout,
            timeout: self.timeout,
            resolve_timeout: self.resolve_timeout,
            socket: self.socket,
            observer: self.observer,
        }
    }

    /// A limit on the name lookups of [`connect_host`](Self::connect_host). When it passes, the
    /// connect goes on with the family that answered, or fails with a
    /// [`Resolve`](super::ConnectErrorKind::Resolve) error if neither did. Default
    /// [`DEFAULT_RESOLVE_TIMEOUT`] (10 s); `None` waits as long as the resolver takes.
    pub fn resolve_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.resolve_timeout = limit.into();
        self
    }

    /// Sets `TCP_NODELAY` on every socket (turns Nagle's algorithm off), as hyper-util's
    /// `HttpConnector::set_nodelay` does. Default `false`: the OS's default.
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.socket.nodelay = nodelay;
        self
    }

    /// TCP keepalive: the idle time before the first probe. `None` (the default) leaves
    /// keepalive as the OS has it (off on most).
    pub fn keepalive(mut self, time: impl Into<Option<Duration>>) -> Self {
        self.socket.keepalive_time = time.into();
        self
    }

    /// The time between keepalive probes. Applies when [`keepalive`](Self::keepalive) is set,
    /// and only where the OS has the option (Linux, Android, the Apple systems, FreeBSD,
    /// NetBSD, Windows); elsewhere it is ignored.
    pub fn keepalive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.socket.keepalive_interval = interval.into();
        self
    }

    /// The number of unanswered keepalive probes before the connection is dropped. Applies
    /// when [`keepalive`](Self::keepalive) is set, where the OS has the option (as for
    /// [`keepalive_interval`](Self::keepalive_interval)).
    pub fn keepalive_retries(mut self, retries: impl Into<Option<u32>>) -> Self {
        self.socket.keepalive_retries = retries.into();
        self
    }

    /// `SO_SNDBUF`: the socket's send buffer size. `None` (the default) leaves it to the OS.
    pub fn send_buffer_size(mut self, size: impl Into<Option<usize>>) -> Self {
        self.socket.send_buffer_size = size.into();
        self
    }

    /// `SO_RCVBUF`: the socket's receive buffer size, set before the connect so that it counts
    /// in the TCP window scale. `None` (the default) leaves it to the OS.
    pub fn recv_buffer_size(mut self, size: impl Into<Option<usize>>) -> Self {
        self.socket.recv_buffer_size = size.into();
        self
    }

    /// `SO_REUSEADDR` on every socket. Default `false`.
    pub fn reuse_address(mut self, reuse: bool) -> Self {
        self.socket.reuse_address = reuse;
        self
    }

    /// The local address to bind sockets of `addr`'s family to before they connect (with
    /// port 0: the OS picks the port). Each family has its own: call it once with an IPv4
    /// and once with an IPv6 address to set both, or use
    /// [`local_addresses`](Self::local_addresses). Sockets of a family with no local address
    /// are not bound.
    ///
    /// Unlike hyper-util's `set_local_address`, which then connects to that family's
    /// addresses only, the other family's addresses are still tried (from an unbound
    /// socket). To keep to one family, filter the addresses, or use a resolver that gives
    /// only that family.
    pub fn local_address(mut self, addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => self.socket.local_v4 = Some(v4),
            IpAddr::V6(v6) => self.socket.local_v6 = Some(v6),
        }
        self
    }

    /// The local addresses to bind to, one per family. See
    /// [`local_address`](Self::local_address).
    pub fn local_addresses(mut self, v4: Ipv4Addr, v6: Ipv6Addr) -> Self {
        self.socket.local_v4 = Some(v4);
        self.socket.local_v6 = Some(v6);
        self
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

impl<R: Runtime, D: Resolve> HappyEyeballs<R, D> {
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

    /// Resolves `host` (`"name:port"`, `"[v6]:port"`, or an IP address literal with its
    /// port), then [`connect`](Self::connect)s to the addresses it gives, interleaved by
    /// family.
    ///
    /// A name is looked up with the [resolver](Self::resolver) (by default the
    /// [`SystemResolver`], off the executor), one lookup per family, both at once. Each
    /// family keeps the resolver's order (RFC 6724 for the system resolver); IPv6 goes first
    /// unless the OS has no route to its first address. An address literal is not looked up.
    ///
    /// Bad input fails at once with a clear error naming `host`:
    /// [`InvalidInput`](super::ConnectErrorKind::InvalidInput) for a missing or out-of-range
    /// port or an empty name, [`Resolve`](super::ConnectErrorKind::Resolve) when both lookups
    /// failed (or one failed and the other found nothing, or the
    /// [resolve timeout](Self::resolve_timeout) passed with no answer), and
    /// [`NoAddresses`](super::ConnectErrorKind::NoAddresses) when the name has no address.
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
        let Some(limit) = self.timeout else {
            let addrs = self.addresses(&log, host, addrs).await?;
            return self.race(&log, host, &addrs, None).await;
        };
        // The overall timeout covers the resolution, then the race's own deadline covers the
        // time left: the race keeps every error it collected when it passes.
        let t0 = self.runtime.now();
        let lookup = self.addresses(&log, host, addrs);
        let addrs = match timeout(lookup, self.runtime.timer().sleep(limit)).await {
            Some(addrs) => addrs?,
            None => return Err(ConnectError::timed_out(host, limit, Vec::new())),
        };
        let left = limit.saturating_sub(self.runtime.now().saturating_duration_since(t0));
        self.race(&log, host, &addrs, Some((left, limit))).await
    }

    /// The addresses to race, interleaved, reported as [`ConnectEvent::Addresses`].
    async fn addresses(
        &self,
        log: &Log<'_>,
        host: Option<&str>,
        addrs: Option<Vec<SocketAddr>>,
    ) -> Result<Vec<SocketAddr>, ConnectError> {
        let addrs = match (addrs, host) {
            (Some(addrs), _) => addrs,
            (None, Some(host)) => self.lookup(log, host).await?,
            (None, None) => Vec::new(),
        };
        let addrs: Vec<SocketAddr> = interleave_by_family(addrs, self.first_family_count).collect();
        log.report(ConnectEvent::Addresses { addrs: &addrs });
        if addrs.is_empty() {
            return Err(ConnectError::no_addresses(host));
        }
        Ok(addrs)
    }

    /// The race over `addrs`, its events reported as [`ConnectEvent`]s; `deadline` is the
    /// time left of the overall timeout, and the timeout itself.
    async fn race(
        &self,
        log: &Log<'_>,
        host: Option<&str>,
        addrs: &[SocketAddr],
        deadline: Option<(Duration, Duration)>,
    ) -> Result<R::TcpStream, ConnectError> {
        // The closures take no references as arguments: a higher-ranked closure type inside
        // the future would keep the compiler from proving it `Send` (rust-lang/rust#102211).
        let attempts = addrs.iter().copied().map(|addr| move || self.attempt(addr));
        let report = move |event: Event<'_, io::Error>| {
            log.report(match event {
                Event::Started { index } => ConnectEvent::Started {
                    attempt: index,
                    addr: addrs[index],
                },
                Event::Failed { index, error } => ConnectEvent::Failed {
                    attempt: index,
                    addr: addrs[index],
                    error,
                },
                Event::Won { index } => ConnectEvent::Won {
                    attempt: index,
                    addr: addrs[index],
                },
                Event::Cancelled { index } => ConnectEvent::Cancelled {
                    attempt: index,
                    addr: addrs[index],
                },
            })
        };
        let race = Staggered::new(attempts)
            .delay(self.attempt_delay)
            .on_event(report)
            .deadline(deadline.map_or(Duration::MAX, |(left, _)| left));
        let outcome = race.race(self.runtime.timer()).await;
        if let Some((_, stream)) = outcome.winner {
            return Ok(stream);
        }
        let timed_out = outcome.timed_out;
        let errors = addrs
            .iter()
            .zip(outcome.attempts)
            .map(|(&addr, attempt)| {
                let error = attempt.into_error().unwrap_or_else(|| match deadline {
                    Some((_, limit)) if timed_out => io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("still connecting when the overall timeout of {limit:?} passed"),
                    ),
                    _ => io::Error::other("attempt did not finish"),
                });
                (addr, error)
            })
            .collect();
        match deadline {
            Some((_, limit)) if timed_out => Err(ConnectError::timed_out(host, limit, errors)),
            _ => Err(ConnectError::all_failed(host, errors)),
        }
    }

    /// Resolves `host` as [`connect_host`](Self::connect_host) would, without connecting:
    /// the addresses in the order the attempts would start (interleaved by family, RFC 8305
    /// §4), or the same errors. The [`timeout`](Self::timeout) does not apply here; the
    /// [`resolve_timeout`](Self::resolve_timeout) does.
    ///
    /// For clients that take a resolver but not a connector (reqwest's
    /// `ClientBuilder::dns_resolver`): see `examples/reqwest.rs`.
    ///
    /// ```
    /// # #[cfg(feature = "net-tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use staggered::net::{HappyEyeballs, Tokio};
    ///
    /// let connector = HappyEyeballs::new(Tokio);
    /// let addrs = connector.resolve("localhost:8080").await?;
    /// assert!(addrs.contains(&"127.0.0.1:8080".parse()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, ConnectError> {
        let log = Log::new(self.observer.as_deref());
        let addrs = self.lookup(&log, host).await?;
        let addrs: Vec<SocketAddr> = interleave_by_family(addrs, self.first_family_count).collect();
        if addrs.is_empty() {
            return Err(ConnectError::no_addresses(Some(host)));
        }
        Ok(addrs)
    }

    /// `host:port` to addresses: a literal as it is, a name through both lookups.
    async fn lookup(&self, log: &Log<'_>, host: &str) -> Result<Vec<SocketAddr>, ConnectError> {
        let (name, port) = match parse_target(host) {
            Ok(Target::Addr(addr)) => return Ok(Vec::from([addr])),
            Ok(Target::Name(name, port)) => (name, port),
            Err(why) => return Err(ConnectError::invalid_input(host, why)),
        };
        let v6 = self.resolver.lookup(name, port, Family::V6);
        let v4 = self.resolver.lookup(name, port, Family::V4);
        let sleep = self
            .resolve_timeout
            .map(|limit| self.runtime.timer().sleep(limit));
        let (answers, timed_out) = lookup_both(v6, v4, sleep).await;
        let limit = if timed_out {
            self.resolve_timeout
        } else {
            None
        };
        for (family, answer) in [(Family::V6, &answers.v6), (Family::V4, &answers.v4)] {
            let no_answer;
            let result = match answer {
                Some(Ok(addrs)) => Ok(&addrs[..]),
                Some(Err(error)) => Err(error),
                None => {
                    no_answer = io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no answer within the resolve timeout of {:?}",
                            limit.unwrap_or_default()
                        ),
                    );
                    Err(&no_answer)
                }
            };
            log.report(ConnectEvent::Resolved { family, result });
        }
        combine(answers, limit).map_err(|error| ConnectError::resolve(host, error))
    }

    /// One attempt: a connect, bounded by the attempt timeout if there is one.
    async fn attempt(&self, addr: SocketAddr) -> io::Result<R::TcpStream> {
        let connect = self.runtime.connect(addr, &self.socket);
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

impl<R: Default + Clone> Default for HappyEyeballs<R> {
    fn default() -> Self {
        Self::new(R::default())
    }
}

impl<R: Clone, D: Clone> Clone for HappyEyeballs<R, D> {
    fn clone(&self) -> Self {
        HappyEyeballs {
            runtime: self.runtime.clone(),
            resolver: self.resolver.clone(),
            attempt_delay: self.attempt_delay,
            first_family_count: self.first_family_count,
            attempt_timeout: self.attempt_timeout,
            timeout: self.timeout,
            resolve_timeout: self.resolve_timeout,
            socket: self.socket.clone(),
            observer: self.observer.clone(),
        }
    }
}

impl<R: fmt::Debug, D: fmt::Debug> fmt::Debug for HappyEyeballs<R, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HappyEyeballs")
            .field("runtime", &self.runtime)
            .field("resolver", &self.resolver)
            .field("attempt_delay", &self.attempt_delay)
            .field("first_address_family_count", &self.first_family_count)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("timeout", &self.timeout)
            .field("resolve_timeout", &self.resolve_timeout)
            .field("socket", &self.socket)
            .field(
                "observer",
                &self.observer.as_ref().map(|_| "Fn(&ConnectEvent)"),
            )
            .finish()
    }
}
