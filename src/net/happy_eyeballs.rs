//! [`HappyEyeballs`]: the options of a connect, and the connect itself.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;
use core::time::Duration;
use std::format;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use futures_core::Stream;

use super::error::ConnectError;
use super::event::{ConnectEvent, Log, Observer};
use super::interleave::interleave_by_family;
use super::resolution::{self, alongside};
use super::resolve::{parse_target, Family, Resolve, SystemResolver, Target};
use super::runtime::{timeout, Runtime};
use super::socket::SocketOptions;
use crate::builder::Source;
use crate::{AttemptFn, Event, Outcome, Staggered, Timer};

/// The Connection Attempt Delay that RFC 8305 §8 recommends, and the default: 250 ms.
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The smallest Connection Attempt Delay: RFC 8305 §5 says it "MUST NOT" go below 10 ms, so
/// shorter delays are raised to this.
pub const MIN_ATTEMPT_DELAY: Duration = Duration::from_millis(10);

/// How long [`connect_host`](HappyEyeballs::connect_host) waits for the name lookups by
/// default: 10 s, the time glibc's resolver takes to give up on one server with its default
/// settings (two tries of 5 s).
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Resolution Delay that RFC 8305 §3 and §8 recommend, and the default: 50 ms. When the
/// A answer comes first, [`connect_host`](HappyEyeballs::connect_host) waits this long for
/// the AAAA answer before it starts on IPv4.
pub const DEFAULT_RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// A Happy Eyeballs v2 (RFC 8305) TCP connect: the options, and
/// [`connect`](HappyEyeballs::connect) / [`connect_host`](HappyEyeballs::connect_host).
///
/// The addresses are interleaved by family ([`interleave_by_family`], RFC 8305 §4), then raced
/// with the crate's [`Staggered`] race: the first attempt starts at once, and each next one
/// starts when the one before it fails or when the attempt delay has passed since it started,
/// whichever comes first. For a name, [`connect_host`](HappyEyeballs::connect_host) races the
/// addresses as the AAAA and A answers bring them (RFC 8305 §3, the race's stream source).
/// The first connection wins; every other attempt is dropped on the spot, which closes its
/// socket. If none connects, the error names every address with its own error.
///
/// `R` is the runtime: [`Tokio`][super::Tokio] (feature `net-tokio`) or
/// [`AsyncIo`][super::AsyncIo] (feature `net-async-io`). `D` is the name resolver of
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
pub struct HappyEyeballs<R, D = SystemResolver<R>> {
    // `pub(super)`: `HttpConnector`'s hyper-util-style setters change some in place, and
    // `HttpsConnector` runs its own race with all of them.
    pub(super) runtime: R,
    pub(super) resolver: D,
    pub(super) attempt_delay: Duration,
    pub(super) first_family_count: usize,
    pub(super) attempt_timeout: Option<Duration>,
    pub(super) timeout: Option<Duration>,
    pub(super) resolve_timeout: Option<Duration>,
    pub(super) resolution_delay: Duration,
    pub(super) socket: SocketOptions,
    pub(super) observer: Option<Observer>,
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
            resolution_delay: DEFAULT_RESOLUTION_DELAY,
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
            resolution_delay: self.resolution_delay,
            socket: self.socket,
            observer: self.observer,
        }
    }

    /// A limit on each name lookup of [`connect_host`](Self::connect_host), counted from its
    /// start: a lookup that has not answered by then counts as failed (with an
    /// [`io::ErrorKind::TimedOut`] error), so the connect goes on with the family that
    /// answered, or fails with a [`Resolve`](super::ConnectErrorKind::Resolve) error naming
    /// both lookups if neither gave an address. Default [`DEFAULT_RESOLVE_TIMEOUT`] (10 s);
    /// `None` waits as long as the resolver takes (a resolver that never answers then holds
    /// the connect until the overall [`timeout`](Self::timeout), if there is one).
    pub fn resolve_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.resolve_timeout = limit.into();
        self
    }

    /// The Resolution Delay (RFC 8305 §3): when the A answer comes before the AAAA one,
    /// [`connect_host`](Self::connect_host) waits this long for AAAA before it starts on
    /// IPv4; AAAA addresses that come later join the race. Default
    /// [`DEFAULT_RESOLUTION_DELAY`] (50 ms); `Duration::ZERO` starts on the first answer with
    /// addresses, whichever family it is.
    pub fn resolution_delay(mut self, delay: Duration) -> Self {
        self.resolution_delay = delay;
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
    /// [`TimedOut`](super::ConnectErrorKind::TimedOut) (naming the lookups too, in
    /// [`resolve_error`](ConnectError::resolve_error), if one of them failed or had not
    /// answered). `None` (the default) sets no limit.
    ///
    /// # No default bound, on purpose
    ///
    /// Without a limit, a connect whose addresses all hang (a black hole: SYNs dropped) ends
    /// when the OS gives up on the last attempt: on Linux, with `net.ipv4.tcp_syn_retries` at
    /// its default 6, about 130 s after that attempt started (134.6 s measured in issue 23).
    /// Name lookups are bounded on their own by the
    /// [`resolve_timeout`](Self::resolve_timeout) (10 s). The default stays `None`, as in the
    /// libraries this connector stands in for, and the connect is bounded by the OS:
    ///
    /// | | default bound on a connect |
    /// |---|---|
    /// | hyper-util `HttpConnector::set_connect_timeout` | `None` ("Default is `None`", its docs) |
    /// | Go `net.Dialer.Timeout` | none (zero: the OS's timeout); `http.DefaultTransport`'s dialer sets 30 s |
    /// | curl `CURLOPT_CONNECTTIMEOUT` | 300 s (name resolution, TCP and TLS); no overall `CURLOPT_TIMEOUT` |
    /// | Firefox `network.http.connection-timeout` | 90 s |
    /// | this crate | `None`: the OS's (about 130 s on Linux per attempt) |
    ///
    /// A library cannot know the caller's budget: an HTTP client has its own request
    /// timeout, a database pool its own checkout timeout, and a second bound below theirs
    /// would only cut a connect they were willing to wait for. Applications that call
    /// `connect` directly should set one; Go's 30 s is a reasonable value for the Internet,
    /// a few seconds for a data-center peer.
    ///
    /// ```
    /// # #[cfg(feature = "net-tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use staggered::net::{ConnectErrorKind, HappyEyeballs, Tokio};
    ///
    /// let connector = HappyEyeballs::new(Tokio).timeout(Duration::from_secs(30));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// connector.connect([listener.local_addr()?]).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
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
        let addrs: Vec<SocketAddr> = interleave_by_family(addrs, self.first_family_count).collect();
        self.connect_list(None, addrs)
    }

    /// Resolves `host` (`"name:port"`, `"[v6]:port"`, or an IP address literal with its
    /// port; an IPv6 literal may have a zone, `"[fe80::1%eth0]:port"` or `"[fe80::1%2]:port"`,
    /// which sets its scope id) and connects to the addresses it gives, RFC 8305 §3 and §4: the connect starts
    /// on the first useful answer, and addresses that arrive later join the race.
    ///
    /// A name is looked up with the [resolver](Self::resolver) (by default the
    /// [`SystemResolver`], off the executor), one lookup per family, both sent at once:
    ///
    /// - an AAAA answer with addresses starts the race at once;
    /// - an A answer that comes first starts the
    ///   [Resolution Delay](Self::resolution_delay) (50 ms): the race starts when AAAA
    ///   answers or the delay passes, whichever is first;
    /// - an empty or failed answer starts nothing; when both are in, the race starts with
    ///   what there is;
    /// - addresses of a later answer join the race in their interleaved place (§4): the next
    ///   start takes the family whose turn it is, or the other one when that family has
    ///   none; a start that is due while no address is left waits for the next answer.
    ///
    /// Each family keeps the resolver's order (RFC 6724 for the system resolver); IPv6 goes
    /// first unless the OS has no route to its first address. An address literal is not
    /// looked up. Each answer is reported as it arrives ([`ConnectEvent::Resolved`]), and
    /// so is the Resolution Delay.
    ///
    /// Bad input fails at once with a clear error naming `host`:
    /// [`InvalidInput`](super::ConnectErrorKind::InvalidInput) for a missing or out-of-range
    /// port, an empty name or a zone that names no network interface; [`Resolve`](super::ConnectErrorKind::Resolve) when no lookup
    /// gave an address and at least one failed, or did not answer within the
    /// [resolve timeout](Self::resolve_timeout) (one error naming both lookups); and
    /// [`NoAddresses`](super::ConnectErrorKind::NoAddresses) when the name has no address.
    ///
    /// The overall [`timeout`](Self::timeout) covers the resolution too.
    pub async fn connect_host(&self, host: &str) -> Result<R::TcpStream, ConnectError> {
        match parse_target(host) {
            Ok(Target::Addr(addr)) => self.connect_list(Some(host), Vec::from([addr])).await,
            Ok(Target::Name(name, port)) => self.connect_name(host, name, port).await,
            Err(why) => Err(ConnectError::invalid_input(host, why)),
        }
    }

    /// The race over addresses known up front.
    async fn connect_list(
        &self,
        host: Option<&str>,
        addrs: Vec<SocketAddr>,
    ) -> Result<R::TcpStream, ConnectError> {
        let log = Log::new(self.observer.as_deref());
        log.report(ConnectEvent::Addresses { addrs: &addrs });
        if addrs.is_empty() {
            return Err(ConnectError::no_addresses(host));
        }
        let tried = Mutex::new(Vec::with_capacity(addrs.len()));
        // The closures take no references as arguments: a higher-ranked closure type inside
        // the future would keep the compiler from proving it `Send` (rust-lang/rust#102211).
        let attempts = addrs.iter().copied().map(|addr| {
            lock(&tried).push(addr);
            move || self.attempt(addr)
        });
        let outcome = self.race(&log, Staggered::new(attempts), &tried).await;
        self.finish(host, outcome, tried)
    }

    /// The race over a name's addresses, as the lookups give them (RFC 8305 §3).
    async fn connect_name(
        &self,
        host: &str,
        name: &str,
        port: u16,
    ) -> Result<R::TcpStream, ConnectError> {
        let log = Log::new(self.observer.as_deref());
        let queue = resolution::queue(self.first_family_count);
        let tried = Mutex::new(Vec::new());
        let attempts = resolution::addresses(&queue, |addr| {
            lock(&tried).push(addr);
            move || self.attempt(addr)
        });
        let race = self.race(&log, Staggered::from_stream(attempts), &tried);
        let outcome = alongside(self.lookups(name, port, &queue, &log), race).await;
        if outcome.attempts.is_empty() && !outcome.timed_out {
            // The lookups ended with no address to try.
            return Err(unresolved(host, &queue));
        }
        // A failed, timed-out or unanswered lookup could have brought the address that
        // works: it is part of the error (issue 23).
        self.finish(Some(host), outcome, tried)
            .map_err(|error| match resolution::trouble(&queue) {
                Some(lookups) => error.with_lookups(lookups),
                None => error,
            })
    }

    /// Both lookups of `name`, each bounded by the resolve timeout, feeding `queue`.
    fn lookups<'a>(
        &'a self,
        name: &'a str,
        port: u16,
        queue: &'a Mutex<resolution::Queue>,
        log: &'a Log<'a>,
    ) -> impl Future<Output = ()> + 'a {
        let bounded = |family| Bounded {
            lookup: self.resolver.lookup(name, port, family),
            sleep: self
                .resolve_timeout
                .map(|limit| self.runtime.timer().sleep(limit)),
            limit: self.resolve_timeout.unwrap_or_default(),
        };
        // AAAA first: both are sent at once, in this order.
        let v6 = bounded(Family::V6);
        let v4 = bounded(Family::V4);
        resolution::lookups(
            v6,
            v4,
            self.runtime.timer(),
            self.resolution_delay,
            queue,
            log,
        )
    }

    /// The race over `attempts`, its events reported as [`ConnectEvent`]s, with the overall
    /// timeout, if any, as its deadline. `tried` is filled with each attempt's address as it is taken.
    async fn race<S>(
        &self,
        log: &Log<'_>,
        attempts: Staggered<S>,
        tried: &Mutex<Vec<SocketAddr>>,
    ) -> Outcome<R::TcpStream, io::Error>
    where
        S: Source,
        S::Item: AttemptFn<Ok = R::TcpStream, Error = io::Error>,
    {
        let addr = |index: usize| lock(tried)[index];
        let report = move |event: Event<'_, io::Error>| {
            log.report(match event {
                Event::Started { index } => ConnectEvent::Started {
                    attempt: index,
                    addr: addr(index),
                },
                Event::Failed { index, error } => ConnectEvent::Failed {
                    attempt: index,
                    addr: addr(index),
                    error,
                },
                Event::Won { index } => ConnectEvent::Won {
                    attempt: index,
                    addr: addr(index),
                },
                Event::Cancelled { index } => ConnectEvent::Cancelled {
                    attempt: index,
                    addr: addr(index),
                },
            })
        };
        let attempts = attempts.delay(self.attempt_delay).on_event(report);
        // No timeout, no deadline: the race then keeps no sleep for it (a `Duration::MAX`
        // deadline would be a live sleep, polled on every poll of the race).
        match self.timeout {
            Some(limit) => attempts.deadline(limit).race(self.runtime.timer()).await,
            None => attempts.race(self.runtime.timer()).await,
        }
    }

    /// The stream of the winner, or the error naming every address tried.
    fn finish(
        &self,
        host: Option<&str>,
        outcome: Outcome<R::TcpStream, io::Error>,
        tried: Mutex<Vec<SocketAddr>>,
    ) -> Result<R::TcpStream, ConnectError> {
        if let Some((_, stream)) = outcome.winner {
            return Ok(stream);
        }
        let timed_out = outcome.timed_out;
        let errors = tried
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .into_iter()
            .zip(outcome.attempts)
            .map(|(addr, attempt)| {
                let error = attempt.into_error().unwrap_or_else(|| match self.timeout {
                    Some(limit) if timed_out => io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("still connecting when the overall timeout of {limit:?} passed"),
                    ),
                    _ => io::Error::other("attempt did not finish"),
                });
                (addr, error)
            })
            .collect();
        match self.timeout {
            Some(limit) if timed_out => Err(ConnectError::timed_out(host, limit, errors)),
            _ => Err(ConnectError::all_failed(host, errors)),
        }
    }

    /// Resolves `host` as [`connect_host`](Self::connect_host) would, without connecting:
    /// every address, in the order `connect_host` would start them if none connected (RFC
    /// 8305 §3 and §4: with an A answer that beat AAAA by more than the
    /// [Resolution Delay](Self::resolution_delay), the IPv4 addresses come first), or the
    /// same errors. It waits for both lookups (up to the
    /// [`resolve_timeout`](Self::resolve_timeout)); the [`timeout`](Self::timeout) does not
    /// apply here.
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
        self.resolve_until(host, false).await
    }

    /// Resolves `host` up to the first useful answer of RFC 8305 §3: the addresses
    /// [`connect_host`](Self::connect_host) would start its race with (an AAAA answer at
    /// once, or an A answer after the Resolution Delay, with any answer that is in by then),
    /// in interleaved order. The other lookup is dropped. For [`ReqwestResolver`](super::ReqwestResolver).
    #[cfg_attr(not(feature = "net-reqwest"), allow(dead_code))]
    pub(super) async fn resolve_first(&self, host: &str) -> Result<Vec<SocketAddr>, ConnectError> {
        self.resolve_until(host, true).await
    }

    /// [`resolve`](Self::resolve) (`first` false) or
    /// [`resolve_first`](Self::resolve_first) (`first` true).
    async fn resolve_until(
        &self,
        host: &str,
        first: bool,
    ) -> Result<Vec<SocketAddr>, ConnectError> {
        let (name, port) = match parse_target(host) {
            Ok(Target::Addr(addr)) => return Ok(Vec::from([addr])),
            Ok(Target::Name(name, port)) => (name, port),
            Err(why) => return Err(ConnectError::invalid_input(host, why)),
        };
        let log = Log::new(self.observer.as_deref());
        let queue = resolution::queue(self.first_family_count);
        let mut stream = resolution::addresses(&queue, |addr| addr);
        let mut addrs = Vec::new();
        let all = core::future::poll_fn(|cx| loop {
            match Pin::new(&mut stream).poll_next(cx) {
                Poll::Ready(Some(addr)) => addrs.push(addr),
                Poll::Ready(None) => return Poll::Ready(()),
                // Released and drained: the addresses of the first useful answer.
                Poll::Pending if first && !addrs.is_empty() => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        });
        alongside(self.lookups(name, port, &queue, &log), all).await;
        if addrs.is_empty() {
            return Err(unresolved(host, &queue));
        }
        Ok(addrs)
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

pin_project_lite::pin_project! {
    /// One lookup, bounded by the resolve timeout when `sleep` is there. A struct rather than
    /// an async block: the block kept the lookup and the sleep twice (as captured, and again
    /// in the timeout it awaited), 2.3 KB a family with hickory's lookup (issue 23, item 5).
    struct Bounded<F, S> {
        #[pin]
        lookup: F,
        #[pin]
        sleep: Option<S>,
        limit: Duration,
    }
}

impl<F, S> Future for Bounded<F, S>
where
    F: Future<Output = io::Result<Vec<SocketAddr>>>,
    S: Future<Output = ()>,
{
    type Output = io::Result<Vec<SocketAddr>>;

    fn poll(self: Pin<&mut Self>, cx: &mut core::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The lookup first: an answer that is in at the deadline wins over the timeout.
        if let Poll::Ready(answer) = this.lookup.poll(cx) {
            return Poll::Ready(answer);
        }
        match this.sleep.as_pin_mut() {
            Some(sleep) => sleep.poll(cx).map(|()| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within the resolve timeout of {:?}", this.limit),
                ))
            }),
            None => Poll::Pending,
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
            resolution_delay: self.resolution_delay,
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
            .field("resolution_delay", &self.resolution_delay)
            .field("socket", &self.socket)
            .field(
                "observer",
                &self.observer.as_ref().map(|_| "Fn(&ConnectEvent)"),
            )
            .finish()
    }
}

/// The error for `host` when its lookups ended with no address: the one naming both lookups
/// if one failed, else "resolved to no addresses".
fn unresolved(host: &str, queue: &Mutex<resolution::Queue>) -> ConnectError {
    match resolution::failure(queue) {
        Some(error) => ConnectError::resolve(host, error),
        None => ConnectError::no_addresses(Some(host)),
    }
}

/// `tried`, locked; no code of the user's runs under the lock.
fn lock(tried: &Mutex<Vec<SocketAddr>>) -> MutexGuard<'_, Vec<SocketAddr>> {
    tried.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(all(test, feature = "net-tokio"))]
mod tests {
    use super::*;
    use crate::net::runtime::sealed;
    use crate::net::Tokio;
    use crate::timer::TokioTimer;

    /// Tokio, with a timer that records every sleep it makes or re-arms.
    #[derive(Debug, Clone, Default)]
    struct Counted(Arc<Mutex<Vec<Duration>>>);

    impl Counted {
        fn sleeps(&self) -> Vec<Duration> {
            self.0.lock().unwrap().clone()
        }
    }

    impl Timer for Counted {
        type Sleep = ::tokio::time::Sleep;

        fn sleep(&self, duration: Duration) -> Self::Sleep {
            self.0.lock().unwrap().push(duration);
            TokioTimer.sleep(duration)
        }

        fn reset(&self, sleep: Pin<&mut Self::Sleep>, duration: Duration) {
            self.0.lock().unwrap().push(duration);
            TokioTimer.reset(sleep, duration)
        }
    }

    impl sealed::Sealed for Counted {}

    impl Runtime for Counted {
        type TcpStream = ::tokio::net::TcpStream;
        type Timer = Self;

        fn timer(&self) -> Self {
            self.clone()
        }

        fn connect(
            &self,
            addr: SocketAddr,
            options: &SocketOptions,
        ) -> impl Future<Output = io::Result<Self::TcpStream>> + Send {
            Tokio.connect(addr, options)
        }

        fn unblock<T: Send + 'static>(
            &self,
            work: impl FnOnce() -> T + Send + 'static,
        ) -> impl Future<Output = io::Result<T>> + Send {
            Tokio.unblock(work)
        }
    }

    /// Every sleep of a connect to a refusing address then a good one, with `timeout`.
    fn sleeps_of_a_connect(timeout: Option<Duration>) -> Vec<Duration> {
        let runtime = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = ::tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let good = listener.local_addr().unwrap();
            // A port that refuses: its listener is dropped at once.
            let refusing = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            let timer = Counted::default();
            let connector = HappyEyeballs::new(timer.clone())
                .attempt_delay(Duration::from_secs(1))
                .timeout(timeout);
            let stream = connector.connect([refusing, good]).await.unwrap();
            assert_eq!(stream.peer_addr().unwrap(), good);
            timer.sleeps()
        })
    }

    /// Without a `timeout`, the race has no deadline: no `Duration::MAX` sleep is made (and so
    /// none is polled on every poll). With one, its sleep is the deadline.
    #[test]
    #[cfg_attr(miri, ignore = "miri has no sockets")]
    fn no_timeout_makes_no_deadline_sleep() {
        let ms = Duration::from_millis;
        // Only the attempt delay (1 s) is armed; the refusal starts the second attempt at once.
        let without = sleeps_of_a_connect(None);
        assert!(!without.is_empty(), "the attempt delay is armed");
        assert!(without.iter().all(|&d| d == ms(1000)), "{without:?}");
        let with = sleeps_of_a_connect(Some(ms(5000)));
        assert!(with.contains(&ms(5000)), "{with:?}");
        assert!(!with.contains(&Duration::MAX), "{with:?}");
    }
}

/// Where the bytes of a connect's future go (issue 23, item 5): prints `size_of_val` of the
/// futures and their parts. Figures only, no assertion:
/// `cargo test --all-features --lib future_sizes -- --ignored --nocapture`.
#[cfg(all(test, feature = "net-tokio"))]
mod sizes {
    use super::*;
    use crate::net::Tokio;
    use core::mem::size_of_val;
    use std::println;

    fn print_parts<R: Runtime, D: Resolve>(what: &str, connector: &HappyEyeballs<R, D>) {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let log = Log::new(None);
        let queue = resolution::queue(1);
        println!("{what}:");
        println!(
            "  connect([addr])            {:>5} B",
            size_of_val(&connector.connect([addr]))
        );
        println!(
            "  connect_host(name)         {:>5} B",
            size_of_val(&connector.connect_host("a.test:1"))
        );
        println!(
            "  connect_name               {:>5} B",
            size_of_val(&connector.connect_name("a.test:1", "a.test", 1))
        );
        println!(
            "  one attempt                {:>5} B",
            size_of_val(&connector.attempt(addr))
        );
        println!(
            "  runtime connect            {:>5} B",
            size_of_val(&connector.runtime.connect(addr, &connector.socket))
        );
        println!(
            "  timer sleep                {:>5} B",
            size_of_val(&connector.runtime.timer().sleep(Duration::ZERO))
        );
        println!(
            "  one lookup (resolver's)    {:>5} B",
            size_of_val(&connector.resolver.lookup("a.test", 1, Family::V6))
        );
        println!(
            "  both lookups (bounded)     {:>5} B",
            size_of_val(&connector.lookups("a.test", 1, &queue, &log))
        );
        let tried = Mutex::new(Vec::new());
        let attempts = resolution::addresses(&queue, |addr| {
            lock(&tried).push(addr);
            move || connector.attempt(addr)
        });
        println!(
            "  race over the stream       {:>5} B",
            size_of_val(&connector.race(&log, Staggered::from_stream(attempts), &tried))
        );
    }

    #[test]
    #[ignore = "prints figures"]
    fn future_sizes() {
        let runtime = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
            println!(
                "tokio TcpStream::connect     {:>5} B",
                size_of_val(&::tokio::net::TcpStream::connect(addr))
            );
            print_parts(
                "HappyEyeballs<Tokio> (SystemResolver)",
                &HappyEyeballs::new(Tokio),
            );
            #[cfg(feature = "net-hickory")]
            {
                let hickory = crate::net::HickoryResolver::new(
                    hickory_resolver::TokioResolver::builder_with_config(
                        hickory_resolver::config::ResolverConfig::from_parts(
                            None,
                            std::vec![],
                            std::vec![],
                        ),
                        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
                    )
                    .build()
                    .unwrap(),
                );
                println!(
                    "hickory ipv6_lookup          {:>5} B",
                    size_of_val(&hickory.inner().ipv6_lookup("a.test"))
                );
                print_parts(
                    "HappyEyeballs<Tokio, HickoryResolver>",
                    &HappyEyeballs::new(Tokio).resolver(hickory),
                );
            }
        });
    }
}
