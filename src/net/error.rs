//! [`ConnectError`]: why a Happy Eyeballs connect returned no stream.

use std::boxed::Box;
use std::error::Error;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use std::vec::Vec;

/// What kind of failure a [`ConnectError`] is.
///
/// ```
/// # #[cfg(feature = "net-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use staggered::net::{ConnectErrorKind, HappyEyeballs, Tokio};
///
/// let refusing = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?; // bound, not listening
/// let connector = HappyEyeballs::new(Tokio).timeout(Duration::from_secs(5));
/// let err = connector.connect([refusing]).await.unwrap_err();
/// assert_eq!(err.kind(), ConnectErrorKind::AllFailed);
/// assert_eq!(err.attempts()[0].0, refusing);
///
/// let err = connector.connect([]).await.unwrap_err();
/// assert_eq!(err.kind(), ConnectErrorKind::NoAddresses);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// There was no address to try: an empty list, or a host name that resolved to nothing.
    /// Reported at once.
    NoAddresses,
    /// The host name could not be resolved: both lookups failed, or one failed and the other
    /// found nothing, or neither answered within the resolve timeout.
    Resolve,
    /// The target was unusable before any lookup: no port, a port out of range, an empty
    /// host, a URI without a host or with a scheme the connector does not take.
    InvalidInput,
    /// Every address was tried, and every attempt failed.
    AllFailed,
    /// The overall timeout passed first.
    TimedOut,
}

/// A Happy Eyeballs connect returned no stream. Names every address tried, each with its own
/// error, in attempt order.
///
/// - [`attempts`](ConnectError::attempts) lists `(address, error)` for every attempt that was
///   started, in start order (the interleaved order, RFC 8305 §4). An attempt that was still
///   connecting when the overall timeout passed is listed with an
///   [`io::ErrorKind::TimedOut`] error. Since every started attempt is listed, an entry's
///   position is its attempt index (the `attempt` of its [`ConnectEvent`](super::ConnectEvent)s);
///   [`indexed_attempts`](ConnectError::indexed_attempts) pairs each with it.
/// - [`Display`](fmt::Display) names the addresses, each numbered by its attempt index and
///   with its error (`[1] 127.0.0.1:80: Connection refused`), and the resolver's error when
///   resolving failed. When addresses were tried but a lookup of the name failed, timed out
///   or had not answered, the message ends with both lookups (`; name lookups: IPv6 (AAAA)
///   lookup found 1 address; IPv4 (A) lookup failed: ...`), which
///   [`resolve_error`](ConnectError::resolve_error) also gives. It prints up to 8 attempts whole; past 8, the first 6, a count of those
///   left out and the last, so a name with 1,000 failed addresses makes a message of a few
///   hundred bytes. The value keeps every error, and the alternate form, `{:#}`, prints every
///   attempt.
/// - [`source`](Error::source) is `None`, as for [`AllFailed`](crate::AllFailed): `Display`
///   already prints the underlying errors (all of them, up to the bound above), so an
///   error-chain reporter (`anyhow`, `eyre`) that prints the sources after the message would
///   print one of them twice. The errors are
///   all in [`attempts`](ConnectError::attempts) and
///   [`resolve_error`](ConnectError::resolve_error).
/// - It converts into an [`io::Error`] whose kind is [`TimedOut`](io::ErrorKind::TimedOut) when
///   the overall timeout passed, [`InvalidInput`](io::ErrorKind::InvalidInput) when there was
///   no address (as in `std`), and otherwise the kind of the resolver's error or of the last
///   attempt's error (the one `std`'s `TcpStream::connect` would return). The
///   `ConnectError` stays inside: [`io::Error::get_ref`] and `downcast` give it back.
///
/// ```
/// # #[cfg(feature = "net-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use staggered::net::{tokio::connect, ConnectErrorKind};
///
/// let err = connect([]).await.unwrap_err();
/// assert_eq!(err.kind(), ConnectErrorKind::NoAddresses);
/// assert_eq!(err.to_string(), "no addresses to connect to");
/// assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::InvalidInput);
/// # });
/// ```
pub struct ConnectError {
    kind: ConnectErrorKind,
    host: Option<Box<str>>,
    reason: Option<Box<str>>,
    timeout: Option<Duration>,
    resolve: Option<io::Error>,
    attempts: Vec<(SocketAddr, io::Error)>,
}

impl ConnectError {
    pub(crate) fn no_addresses(host: Option<&str>) -> Self {
        Self::new(ConnectErrorKind::NoAddresses, host)
    }

    pub(crate) fn resolve(host: &str, error: io::Error) -> Self {
        ConnectError {
            resolve: Some(error),
            ..Self::new(ConnectErrorKind::Resolve, Some(host))
        }
    }

    pub(crate) fn invalid_input(host: &str, reason: impl Into<Box<str>>) -> Self {
        ConnectError {
            reason: Some(reason.into()),
            ..Self::new(ConnectErrorKind::InvalidInput, Some(host))
        }
    }

    pub(crate) fn all_failed(host: Option<&str>, attempts: Vec<(SocketAddr, io::Error)>) -> Self {
        ConnectError {
            attempts,
            ..Self::new(ConnectErrorKind::AllFailed, host)
        }
    }

    pub(crate) fn timed_out(
        host: Option<&str>,
        timeout: Duration,
        attempts: Vec<(SocketAddr, io::Error)>,
    ) -> Self {
        ConnectError {
            timeout: Some(timeout),
            attempts,
            ..Self::new(ConnectErrorKind::TimedOut, host)
        }
    }

    /// The same error, naming the lookups of its name as well: a lookup failed, timed out
    /// or had not answered while the connect failed with addresses tried (or timed out), so
    /// the address that works may be the one it did not bring. Kept in
    /// [`resolve_error`](Self::resolve_error) and printed after the attempts.
    pub(crate) fn with_lookups(self, lookups: io::Error) -> Self {
        ConnectError {
            resolve: Some(lookups),
            ..self
        }
    }

    fn new(kind: ConnectErrorKind, host: Option<&str>) -> Self {
        ConnectError {
            kind,
            host: host.map(Box::from),
            reason: None,
            timeout: None,
            resolve: None,
            attempts: Vec::new(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ConnectErrorKind {
        self.kind
    }

    /// Every started attempt's address and error, in start order. Empty when no attempt
    /// started.
    pub fn attempts(&self) -> &[(SocketAddr, io::Error)] {
        &self.attempts
    }

    /// Every started attempt's address and error, in start order, by value.
    pub fn into_attempts(self) -> Vec<(SocketAddr, io::Error)> {
        self.attempts
    }

    /// Every started attempt as `(attempt index, address, error)`, in start order. The index
    /// is the `attempt` of the attempt's [`ConnectEvent`](super::ConnectEvent)s and the number
    /// in the message.
    ///
    /// ```
    /// # #[cfg(feature = "net-tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use staggered::net::{HappyEyeballs, Tokio};
    ///
    /// // Two ports nobody listens on (their listeners are dropped at once): both refuse.
    /// let closed = || Ok::<_, std::io::Error>(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?);
    /// let addrs = [closed()?, closed()?];
    /// let err = HappyEyeballs::new(Tokio).connect(addrs).await.unwrap_err();
    /// let tried: Vec<_> = err.indexed_attempts().map(|(attempt, addr, _)| (attempt, addr)).collect();
    /// assert_eq!(tried, [(0, addrs[0]), (1, addrs[1])]);
    /// assert!(err.to_string().contains(&format!("[1] {}: ", addrs[1])));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn indexed_attempts(
        &self,
    ) -> impl DoubleEndedIterator<Item = (usize, SocketAddr, &io::Error)> + ExactSizeIterator + '_
    {
        self.attempts
            .iter()
            .enumerate()
            .map(|(attempt, (addr, error))| (attempt, *addr, error))
    }

    /// The `host:port` string given to `connect_host` (or the URI given to the HTTP
    /// connector), if that is how the connect began.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// `true` when the overall timeout passed.
    pub fn is_timeout(&self) -> bool {
        self.kind == ConnectErrorKind::TimedOut
    }

    /// The `io::ErrorKind` this error converts to.
    fn io_kind(&self) -> io::ErrorKind {
        match self.kind {
            ConnectErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ConnectErrorKind::NoAddresses | ConnectErrorKind::InvalidInput => {
                io::ErrorKind::InvalidInput
            }
            _ => self
                .last_error()
                .map_or(io::ErrorKind::Other, io::Error::kind),
        }
    }

    /// The resolver's error: one error naming both lookups of the name (AAAA and A), each
    /// with how it ended.
    ///
    /// - With [`Resolve`](ConnectErrorKind::Resolve): resolving the host failed, no address
    ///   was found.
    /// - With [`AllFailed`](ConnectErrorKind::AllFailed) or
    ///   [`TimedOut`](ConnectErrorKind::TimedOut), from
    ///   [`connect_host`](super::HappyEyeballs::connect_host) or the HTTP connector: a
    ///   lookup failed, timed out (the [resolve
    ///   timeout](super::HappyEyeballs::resolve_timeout)) or had not answered when the
    ///   connect ended, while the other one's addresses were tried. That lookup could have
    ///   brought the address that works, so it is part of why the connect failed. Its kind
    ///   is the failed lookup's ([`io::ErrorKind::TimedOut`] for one that had not
    ///   answered).
    ///
    /// `None` otherwise: both lookups answered, or there was no name to look up.
    ///
    /// ```
    /// # #[cfg(feature = "net-tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use staggered::net::{HappyEyeballs, Tokio};
    ///
    /// // An address literal is not looked up: no lookup can be to blame.
    /// let refusing = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    /// let err = HappyEyeballs::new(Tokio).connect_host(&refusing.to_string()).await.unwrap_err();
    /// assert!(err.resolve_error().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn resolve_error(&self) -> Option<&io::Error> {
        self.resolve.as_ref()
    }

    /// The error whose kind the `io::Error` takes: the resolver's when resolving failed,
    /// else the last attempt's (the resolver's if no attempt was made).
    fn last_error(&self) -> Option<&io::Error> {
        match (self.kind, &self.resolve) {
            (ConnectErrorKind::Resolve, Some(error)) => Some(error),
            _ => self
                .attempts
                .last()
                .map(|(_, error)| error)
                .or(self.resolve.as_ref()),
        }
    }

    /// After the attempts: the lookups, when one failed or had not answered.
    fn write_lookups(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resolve {
            Some(error) => write!(f, "; name lookups: {error}"),
            None => Ok(()),
        }
    }

    /// The attempts of the message, numbered and bounded by the rule of
    /// [`AllFailed`](crate::AllFailed)'s.
    fn write_attempts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error_list::write_bounded(f, &self.attempts, |f, attempt, (addr, error)| {
            write!(f, "[{attempt}] {addr}: {error}")
        })
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.attempts.len();
        let plural = if n == 1 { "" } else { "es" };
        match (self.kind, self.host.as_deref()) {
            (ConnectErrorKind::NoAddresses, Some(host)) => {
                write!(f, "{host} resolved to no addresses")
            }
            (ConnectErrorKind::NoAddresses, None) => f.write_str("no addresses to connect to"),
            (ConnectErrorKind::InvalidInput, host) => {
                write!(f, "invalid address {:?}", host.unwrap_or(""))?;
                match &self.reason {
                    Some(reason) => write!(f, ": {reason}"),
                    None => Ok(()),
                }
            }
            (ConnectErrorKind::Resolve, host) => {
                write!(f, "could not resolve {}", host.unwrap_or("the host"))?;
                match &self.resolve {
                    Some(error) => write!(f, ": {error}"),
                    None => Ok(()),
                }
            }
            (ConnectErrorKind::TimedOut, host) => {
                f.write_str("connecting")?;
                if let Some(host) = host {
                    write!(f, " to {host}")?;
                }
                if let Some(timeout) = self.timeout {
                    write!(f, " timed out after {timeout:?}")?;
                } else {
                    f.write_str(" timed out")?;
                }
                write!(f, " ({n} address{plural} tried)")?;
                self.write_attempts(f)?;
                self.write_lookups(f)
            }
            (_, host) => {
                match (host, n) {
                    (Some(host), _) => {
                        write!(f, "could not connect to {host} ({n} address{plural} tried)")?
                    }
                    (None, 1) => f.write_str("could not connect")?,
                    (None, _) => write!(f, "could not connect to any of {n} addresses")?,
                }
                self.write_attempts(f)?;
                self.write_lookups(f)
            }
        }
    }
}

impl fmt::Debug for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ConnectError");
        d.field("kind", &self.kind);
        if let Some(host) = &self.host {
            d.field("host", host);
        }
        if let Some(reason) = &self.reason {
            d.field("reason", reason);
        }
        if let Some(timeout) = &self.timeout {
            d.field("timeout", timeout);
        }
        if let Some(resolve) = &self.resolve {
            d.field("resolve", resolve);
        }
        d.field("attempts", &self.attempts).finish()
    }
}

/// No [`source`](Error::source): [`Display`](fmt::Display) prints the underlying errors.
impl Error for ConnectError {}

impl From<ConnectError> for io::Error {
    fn from(error: ConnectError) -> io::Error {
        io::Error::new(error.io_kind(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn refused() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionRefused, "refused")
    }

    #[test]
    fn all_failed_names_every_address_in_order() {
        let err = ConnectError::all_failed(
            None,
            vec![
                (addr("[::1]:1"), refused()),
                (
                    addr("127.0.0.1:2"),
                    io::Error::new(io::ErrorKind::TimedOut, "slow"),
                ),
            ],
        );
        assert_eq!(err.kind(), ConnectErrorKind::AllFailed);
        assert_eq!(
            err.to_string(),
            "could not connect to any of 2 addresses: [0] [::1]:1: refused; [1] 127.0.0.1:2: slow"
        );
        // Display has every error; no source, so reporters print none of them twice.
        assert!(err.source().is_none());
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(e) = source {
            chain.push_str(&std::format!(": {e}"));
            source = e.source();
        }
        assert_eq!(chain.matches("slow").count(), 1, "{chain}");
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
        let inner = io
            .get_ref()
            .unwrap()
            .downcast_ref::<ConnectError>()
            .unwrap();
        assert_eq!(inner.attempts().len(), 2);
    }

    #[test]
    fn one_address_with_host() {
        let err =
            ConnectError::all_failed(Some("db:5432"), vec![(addr("127.0.0.1:5432"), refused())]);
        assert_eq!(
            err.to_string(),
            "could not connect to db:5432 (1 address tried): [0] 127.0.0.1:5432: refused"
        );
        assert_eq!(
            io::Error::from(err).kind(),
            io::ErrorKind::ConnectionRefused
        );
    }

    #[test]
    fn timeout_and_resolve_and_empty() {
        let err = ConnectError::timed_out(
            Some("h:1"),
            Duration::from_secs(2),
            vec![(addr("127.0.0.1:1"), refused())],
        );
        assert!(err.is_timeout());
        assert_eq!(
            err.to_string(),
            "connecting to h:1 timed out after 2s (1 address tried): [0] 127.0.0.1:1: refused"
        );
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);

        let err = ConnectError::resolve("nowhere:1", io::Error::new(io::ErrorKind::NotFound, "nx"));
        assert_eq!(err.to_string(), "could not resolve nowhere:1: nx");
        assert!(err.source().is_none());
        assert_eq!(err.resolve_error().unwrap().to_string(), "nx");
        assert_eq!(err.host(), Some("nowhere:1"));
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);

        let err = ConnectError::invalid_input("h", "no port");
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
        assert_eq!(err.to_string(), "invalid address \"h\": no port");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);

        let err = ConnectError::no_addresses(Some("h:1"));
        assert_eq!(err.to_string(), "h:1 resolved to no addresses");
        assert!(err.source().is_none());
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn lookups_follow_the_attempts_and_keep_the_io_kind() {
        let lookups = io::Error::new(
            io::ErrorKind::TimedOut,
            "IPv6 (AAAA) lookup found 1 address; IPv4 (A) lookup failed: slow",
        );
        let err = ConnectError::all_failed(Some("h:1"), vec![(addr("[::1]:1"), refused())])
            .with_lookups(lookups);
        assert_eq!(err.kind(), ConnectErrorKind::AllFailed);
        assert_eq!(
            err.to_string(),
            "could not connect to h:1 (1 address tried): [0] [::1]:1: refused; \
             name lookups: IPv6 (AAAA) lookup found 1 address; IPv4 (A) lookup failed: slow"
        );
        assert_eq!(err.resolve_error().unwrap().kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            io::Error::from(err).kind(),
            io::ErrorKind::ConnectionRefused
        );
        // Timed out before any attempt: the lookups' kind.
        let err =
            ConnectError::timed_out(Some("h:1"), Duration::from_secs(1), Vec::new()).with_lookups(
                io::Error::new(io::ErrorKind::TimedOut, "both had not answered"),
            );
        assert_eq!(
            err.to_string(),
            "connecting to h:1 timed out after 1s (0 addresses tried); name lookups: both had not answered"
        );
    }

    /// `n` refused attempts, at `[2001:db8::i]:443`.
    fn refused_addresses(n: u16) -> Vec<(SocketAddr, io::Error)> {
        (0..n)
            .map(|i| {
                let addr = SocketAddr::new(
                    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i).into(),
                    443,
                );
                (addr, io::Error::from(io::ErrorKind::ConnectionRefused))
            })
            .collect()
    }

    #[test]
    fn a_thousand_addresses_make_a_bounded_message() {
        let err = ConnectError::all_failed(Some("many.test:443"), refused_addresses(1000));
        let message = err.to_string();
        assert!(message.len() < 500, "{} bytes: {message}", message.len());
        assert!(
            message.starts_with(
                "could not connect to many.test:443 (1000 addresses tried): \
                 [0] [2001:db8::]:443: connection refused; [1] [2001:db8::1]:443: "
            ),
            "{message}"
        );
        assert!(
            message.contains("; [5] [2001:db8::5]:443: connection refused; ... (993 more) ...; "),
            "{message}"
        );
        assert!(
            message.ends_with("; [999] [2001:db8::3e7]:443: connection refused"),
            "{message}"
        );
        // The value keeps every attempt; `{:#}` prints them all.
        assert_eq!(err.attempts().len(), 1000);
        assert_eq!(err.indexed_attempts().len(), 1000);
        let full = std::format!("{err:#}");
        assert!(full.len() > 35_000, "{}", full.len());
        assert_eq!(full.matches("connection refused").count(), 1000);

        let timed_out = ConnectError::timed_out(None, Duration::from_secs(1), refused_addresses(9));
        assert_eq!(
            timed_out.to_string(),
            "connecting timed out after 1s (9 addresses tried): [0] [2001:db8::]:443: connection refused; \
             [1] [2001:db8::1]:443: connection refused; [2] [2001:db8::2]:443: connection refused; \
             [3] [2001:db8::3]:443: connection refused; [4] [2001:db8::4]:443: connection refused; \
             [5] [2001:db8::5]:443: connection refused; ... (2 more) ...; \
             [8] [2001:db8::8]:443: connection refused"
        );
        // Up to 8, whole.
        let eight = ConnectError::all_failed(None, refused_addresses(8)).to_string();
        assert_eq!(eight.matches("connection refused").count(), 8, "{eight}");
        assert!(!eight.contains("more"), "{eight}");
    }

    #[test]
    fn indexed_attempts_pair_each_address_with_its_attempt() {
        let err = ConnectError::all_failed(None, refused_addresses(3));
        let indexed: Vec<_> = err
            .indexed_attempts()
            .map(|(i, addr, _)| (i, addr))
            .collect();
        let expected: Vec<_> = err
            .attempts()
            .iter()
            .map(|(addr, _)| *addr)
            .enumerate()
            .collect();
        assert_eq!(indexed, expected);
        assert_eq!(indexed[2].0, 2);
        assert!(err.to_string().contains("[2] [2001:db8::2]:443: "));
    }
}
