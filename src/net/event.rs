//! [`ConnectEvent`]: what a connect reports to an observer.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One step of a Happy Eyeballs connect, reported to the observer set with
/// [`HappyEyeballs::on_event`](super::HappyEyeballs::on_event).
///
/// Events are reported synchronously, from inside the connect future's `poll`, in the order
/// they happen. `attempt` is the attempt's index: its position in the interleaved address
/// order, which is also its start order.
///
/// # Example
///
/// A timeline of one connect, as the crate's demo prints it:
///
/// ```
/// # #[cfg(feature = "net-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::{Arc, Mutex};
/// use staggered::net::{ConnectEvent, HappyEyeballs, Tokio};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let good = listener.local_addr()?;
/// let refusing = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?; // bound, not listening
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let connector = HappyEyeballs::new(Tokio).on_event({
///     let log = log.clone();
///     move |event| {
///         let line = match event {
///             ConnectEvent::Addresses { addrs } => format!("{} addresses", addrs.len()),
///             ConnectEvent::Started { attempt, .. } => format!("#{attempt} started"),
///             ConnectEvent::Failed { attempt, error, .. } => format!("#{attempt} failed: {:?}", error.kind()),
///             ConnectEvent::Won { attempt, .. } => format!("#{attempt} won"),
///             ConnectEvent::Cancelled { attempt, .. } => format!("#{attempt} cancelled"),
///             _ => return, // non-exhaustive
///         };
///         log.lock().unwrap().push(line);
///     }
/// });
/// connector.connect([refusing, good]).await?;
/// assert_eq!(
///     *log.lock().unwrap(),
///     ["2 addresses", "#0 started", "#0 failed: ConnectionRefused", "#1 started", "#1 won"]
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectEvent<'a> {
    /// One family's lookup of [`connect_host`](super::HappyEyeballs::connect_host) (or
    /// [`resolve`](super::HappyEyeballs::resolve)) ended: its addresses in the resolver's
    /// order, or its error (a lookup that did not answer within the resolve timeout has an
    /// [`io::ErrorKind::TimedOut`] error). Reported when the answer arrives, even while the
    /// race is busy with the addresses it has: the two lookups run at once and each is
    /// reported on its own (RFC 8305 §3). A lookup still out when the connect ends (it won,
    /// failed or timed out) is dropped, and not reported. Not reported for address literals.
    Resolved {
        /// The family looked up.
        family: super::Family,
        /// What the lookup gave.
        result: Result<&'a [SocketAddr], &'a io::Error>,
    },
    /// The HTTPS query of [`HttpsConnector`][super::HttpsConnector] for `name` (the origin,
    /// or an AliasMode target) answered: its records, or its error.
    #[cfg_attr(
        not(feature = "net-tls"),
        doc = "",
        doc = "[super::HttpsConnector]: crate#features"
    )]
    HttpsRecords {
        /// The name asked.
        name: &'a str,
        /// The records, or the error.
        result: Result<&'a [super::HttpsRecord], &'a io::Error>,
    },
    /// The A answer came first, with addresses, while the AAAA lookup was still out: the
    /// connect waits up to `delay` (the Resolution Delay, RFC 8305 §3) for AAAA before it
    /// starts on IPv4. The wait ends with the IPv6 [`Resolved`](Self::Resolved), or with
    /// [`ResolutionDelayPassed`](Self::ResolutionDelayPassed).
    ResolutionDelayStarted {
        /// The Resolution Delay ([`resolution_delay`](super::HappyEyeballs::resolution_delay)).
        delay: Duration,
    },
    /// The Resolution Delay passed with no AAAA answer: the connect starts on the IPv4
    /// addresses, and IPv6 addresses join the race when (if) the AAAA answer comes.
    ResolutionDelayPassed {
        /// The Resolution Delay.
        delay: Duration,
    },
    /// The addresses to try, in the order they will be tried (after interleaving), when they
    /// are all known before the first attempt: reported by
    /// [`connect`](super::HappyEyeballs::connect) (and by `connect_host` for an address
    /// literal) once, before the first attempt starts, and also when the list is empty. A
    /// name's addresses arrive over time instead: `connect_host` reports each lookup as
    /// [`Resolved`](Self::Resolved), and each address as its attempt is
    /// [`Started`](Self::Started).
    Addresses {
        /// The interleaved addresses.
        addrs: &'a [SocketAddr],
    },
    /// An attempt started: its connect was called.
    Started {
        /// The attempt's index.
        attempt: usize,
        /// The address it connects to.
        addr: SocketAddr,
    },
    /// An attempt failed with this error (for example, refused, or its own timeout passed).
    Failed {
        /// The attempt's index.
        attempt: usize,
        /// The address it tried.
        addr: SocketAddr,
        /// Why it failed.
        error: &'a io::Error,
    },
    /// An attempt connected first: its stream is the one the connect returns.
    Won {
        /// The attempt's index.
        attempt: usize,
        /// The address it connected to.
        addr: SocketAddr,
    },
    /// An attempt was still connecting when another won, when the overall timeout passed, or
    /// when the connect future was dropped. Its socket has been closed.
    Cancelled {
        /// The attempt's index.
        attempt: usize,
        /// The address it was connecting to.
        addr: SocketAddr,
    },
}

/// The observer type stored by the builder.
pub(crate) type Observer = Arc<dyn Fn(&ConnectEvent<'_>) + Send + Sync>;

/// Where a connect's events go: the observer, if one is set. The race reports the attempts'
/// events itself (`Staggered::on_event`), and keeps their errors in its outcome, the overall
/// timeout included (its deadline), so this is all that is left of a log.
pub(crate) struct Log<'o> {
    observer: Option<&'o (dyn Fn(&ConnectEvent<'_>) + Send + Sync)>,
}

impl<'o> Log<'o> {
    pub(crate) fn new(observer: Option<&'o (dyn Fn(&ConnectEvent<'_>) + Send + Sync)>) -> Self {
        Log { observer }
    }

    pub(crate) fn report(&self, event: ConnectEvent<'_>) {
        if let Some(observer) = self.observer {
            observer(&event)
        }
    }
}
