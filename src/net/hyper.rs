//! [`HttpConnector`]: Happy Eyeballs as a connector for hyper-util's legacy client (feature
//! `net-hyper`).

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::borrow::Cow;
use std::boxed::Box;
use std::format;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::string::ToString;
use std::sync::Arc;
use std::time::Duration;
use std::vec::Vec;

use ::tokio::net::TcpStream;
use http::Uri;
use hyper_util::rt::TokioIo;

use super::resolve::{parse_port, Resolve, SystemResolver};
use super::{ConnectError, HappyEyeballs, Tokio, MIN_ATTEMPT_DELAY};

/// A connector for [hyper-util's legacy client] that connects with [`HappyEyeballs`] on
/// tokio: a [`tower_service::Service<Uri>`] whose streams implement hyper-util's
/// [`Connection`](hyper_util::client::legacy::connect::Connection).
///
/// It takes the URI's host and port (80 for `http`, 443 for `https`, when the port is absent
/// or empty), resolves the host with
/// the builder's [resolver](HappyEyeballs::resolver) (the system resolver by default, one
/// lookup per family, RFC 8305 §3 as [`connect_host`](HappyEyeballs::connect_host) does it),
/// and races the addresses with every option of the [`HappyEyeballs`] it
/// was made from: attempt delay, timeouts, socket options, event observer. The stream it
/// gives is a [`TokioIo<TcpStream>`](TokioIo), so hyper-util reports its own
/// [`HttpInfo`](hyper_util::client::legacy::connect::HttpInfo) (remote and local address) in
/// each response's extensions, as with its own connector.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use hyper_util::client::legacy::connect::{Connect, Connection};
/// use staggered::net::{HappyEyeballs, HttpConnector, Tokio};
/// use tower_service::Service;
///
/// let connector = HttpConnector::from(
///     HappyEyeballs::new(Tokio)
///         .attempt_delay(Duration::from_millis(250))
///         .timeout(Duration::from_secs(10))
///         .nodelay(true),
/// );
/// // What hyper-util's client takes: a `Connect`. With hyper-util's `http1` or `http2`
/// // feature, `Client::builder(TokioExecutor::new()).build(connector)` is the client
/// // (a `Client<HttpConnector, Body>`).
/// fn for_the_client<C: Connect + Clone + Send + Sync + 'static>(connector: C) -> C {
///     connector
/// }
/// let mut connector = for_the_client(connector);
///
/// // What the client does with it: one connection per URI, with hyper-util's `HttpInfo`.
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let server = listener.local_addr()?;
/// let stream = connector.call(format!("http://localhost:{}/", server.port()).parse()?).await?;
/// let connected = stream.connected();
/// let mut extensions = http::Extensions::new();
/// connected.get_extras(&mut extensions);
/// let info = extensions.get::<hyper_util::client::legacy::connect::HttpInfo>().unwrap();
/// assert_eq!(info.remote_addr(), server);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// Errors are [`ConnectError`]s (hyper-util wraps them; [`std::error::Error::source`] on its
/// error gives them back): a URI without a host, with a port out of range, or with a scheme
/// other than `http` while [`enforce_http`](Self::enforce_http) is on is an
/// [`InvalidInput`](super::ConnectErrorKind::InvalidInput) error naming the URI, before any
/// lookup.
///
/// # Setting it up: hyper-util's setters, or the builder
///
/// Two ways, for the same options:
///
/// - **hyper-util's setters**, by the same names and with `&mut self`
///   ([`enforce_http`](Self::enforce_http), [`set_nodelay`](Self::set_nodelay),
///   [`set_connect_timeout`](Self::set_connect_timeout), ...): code written for hyper-util's
///   `HttpConnector` compiles with only the import changed. Use them in such code, and where
///   a connector is set up step by step.
/// - **The [`HappyEyeballs`] builder**, by value, then [`HttpConnector::from`]: every option
///   of the race, including those hyper-util has no setter for (a [resolver](HappyEyeballs::resolver)
///   such as [`HickoryResolver`][super::HickoryResolver],
///   [`attempt_timeout`](HappyEyeballs::attempt_timeout),
///   [`resolution_delay`](HappyEyeballs::resolution_delay),
///   [`first_address_family_count`](HappyEyeballs::first_address_family_count),
///   [`on_event`](HappyEyeballs::on_event)). Use it for new code.
///
/// They mix: a setter changes the options the connector was built with. Like hyper-util's,
/// a setter on a clone changes that clone only (the options are copied on write), and the
/// setters need a resolver that is `Clone` (the [`SystemResolver`] and
/// [`HickoryResolver`][super::HickoryResolver] are).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use staggered::net::HttpConnector; // was: hyper_util::client::legacy::connect::HttpConnector
/// use tower_service::Service;
///
/// let mut http = HttpConnector::new();
/// http.enforce_http(false);
/// http.set_nodelay(true);
/// http.set_connect_timeout(Some(Duration::from_secs(5)));
/// http.set_happy_eyeballs_timeout(Some(Duration::from_millis(300)));
/// http.set_keepalive(Some(Duration::from_secs(60)));
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// // `enforce_http(false)`: a TLS connector wrapping this one hands it `https` URIs.
/// let uri = format!("https://localhost:{}/", listener.local_addr()?.port()).parse()?;
/// let stream = http.call(uri).await?;
/// assert!(stream.inner().nodelay()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Compared with hyper-util's `HttpConnector`
///
/// Same name, same meaning:
/// [`enforce_http`](Self::enforce_http), [`set_nodelay`](Self::set_nodelay),
/// [`set_keepalive`](Self::set_keepalive), [`set_keepalive_interval`](Self::set_keepalive_interval),
/// [`set_keepalive_retries`](Self::set_keepalive_retries),
/// [`set_send_buffer_size`](Self::set_send_buffer_size),
/// [`set_recv_buffer_size`](Self::set_recv_buffer_size),
/// [`set_reuse_address`](Self::set_reuse_address), `set_interface`, `set_mark` and
/// `set_tcp_user_timeout` (each on the systems where hyper-util has it), and
/// [`set_local_addresses`](Self::set_local_addresses). The setters that differ, and why:
///
/// | hyper-util `HttpConnector` | here |
/// |---|---|
/// | `set_happy_eyeballs_timeout` (default 300 ms): the preferred family's addresses one after another, the other family's after the timeout, also one after another; `None`: every address one after another | [`set_happy_eyeballs_timeout`](Self::set_happy_eyeballs_timeout) sets the [attempt delay](HappyEyeballs::attempt_delay) (default 250 ms, RFC 8305's): every address in the interleaved order (RFC 8305 §4), the next one starting when the one before fails or after the delay, so a black-holed address costs one delay, whichever family it is in; `None`: every address one after another, as in hyper-util |
/// | `set_connect_timeout`: split evenly over the addresses of each family; name lookup not included | [`set_connect_timeout`](Self::set_connect_timeout) sets the [overall timeout](HappyEyeballs::timeout): the whole connect, name lookup included, not split (attempts overlap, so a split would not bound anything). A limit per attempt is [`attempt_timeout`](HappyEyeballs::attempt_timeout) |
/// | `set_local_address`, `set_local_addresses`: with one family's address set, only that family's addresses are tried | [`set_local_address`](Self::set_local_address) (`None` clears both), [`set_local_addresses`](Self::set_local_addresses): the other family is still tried, from an unbound socket (to keep to one family, use a resolver that gives only that family) |
/// | `new_with_resolver`: any `Service<Name>` (`GaiResolver`: one `getaddrinfo` for both families); the connect waits for the whole answer | [`new_with_resolver`](Self::new_with_resolver): a [`Resolve`], one lookup per family, [`SystemResolver`] by default or [`HickoryResolver`][super::HickoryResolver] (feature `net-hickory`), each bounded by [`resolve_timeout`](HappyEyeballs::resolve_timeout) (10 s); the race starts on the first useful answer, after the [Resolution Delay](HappyEyeballs::resolution_delay) (50 ms) if A beat AAAA, and later answers join it (RFC 8305 §3) |
/// | an IPv6 zone: the host, `%` and all, goes to `getaddrinfo`, so `[fe80::1%eth0]` and `[fe80::1%2]` connect with that scope id (glibc takes an interface name on a link-local address only), and RFC 6874's `[fe80::1%25eth0]` fails to resolve (`%252` is scope 252) | the same for `[fe80::1%eth0]` and `[fe80::1%2]`, without a lookup, and a name on any address; `%25` is decoded as RFC 6874 says (`[fe80::1%25eth0]` is zone `eth0`, `%252` is zone 2); a zone that names no interface is an `InvalidInput` error |
/// | errors: one `ConnectError` with the last cause | [`ConnectError`]: every address tried, each with its own error |
/// | HTTP/1 and HTTP/2 over the stream, `HttpInfo` in responses | the same: the stream is hyper-util's `TokioIo<TcpStream>` |
///
/// [hyper-util's legacy client]: https://docs.rs/hyper-util/0.1/hyper_util/client/legacy/struct.Client.html
#[cfg_attr(
    not(feature = "net-hickory"),
    doc = "",
    doc = "[super::HickoryResolver]: crate#features"
)]
pub struct HttpConnector<D = SystemResolver<Tokio>> {
    inner: Arc<HappyEyeballs<Tokio, D>>,
    enforce_http: bool,
}

impl HttpConnector {
    /// A connector with the [`HappyEyeballs`] defaults on tokio.
    pub fn new() -> Self {
        Self::from(HappyEyeballs::new(Tokio))
    }
}

impl Default for HttpConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl<D> From<HappyEyeballs<Tokio, D>> for HttpConnector<D> {
    /// A connector that races with `connector`'s options.
    fn from(connector: HappyEyeballs<Tokio, D>) -> Self {
        HttpConnector {
            inner: Arc::new(connector),
            enforce_http: true,
        }
    }
}

impl<D: Resolve> HttpConnector<D> {
    /// A connector with the [`HappyEyeballs`] defaults on tokio that looks names up with
    /// `resolver`, as hyper-util's `new_with_resolver`; here the resolver is a [`Resolve`]
    /// (one lookup per family), not a `Service<Name>`.
    pub fn new_with_resolver(resolver: D) -> Self {
        Self::from(HappyEyeballs::new(Tokio).resolver(resolver))
    }
}

impl<D> HttpConnector<D> {
    /// Whether only `http` URIs are taken (the default, as in hyper-util). Turn it off to
    /// connect for other schemes too, for example under a TLS connector that wraps this one;
    /// a URI without a scheme then uses port 80 unless it names one.
    ///
    /// Takes `&mut self`, as hyper-util's does; for a chain of options, set up the
    /// [`HappyEyeballs`] builder and convert it.
    pub fn enforce_http(&mut self, is_enforced: bool) {
        self.enforce_http = is_enforced;
    }

    /// The Happy Eyeballs options it connects with.
    pub fn happy_eyeballs(&self) -> &HappyEyeballs<Tokio, D> {
        &self.inner
    }
}

/// hyper-util's setters. Each changes this connector's options only (not those of its
/// clones): the options are copied on the first change after a clone.
impl<D: Clone> HttpConnector<D> {
    fn options(&mut self) -> &mut HappyEyeballs<Tokio, D> {
        Arc::make_mut(&mut self.inner)
    }

    /// `TCP_NODELAY` on every socket, as hyper-util's; see [`HappyEyeballs::nodelay`].
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.options().socket.nodelay = nodelay;
    }

    /// TCP keepalive's idle time, as hyper-util's; see [`HappyEyeballs::keepalive`].
    pub fn set_keepalive(&mut self, time: Option<Duration>) {
        self.options().socket.keepalive_time = time;
    }

    /// The time between keepalive probes, as hyper-util's; see
    /// [`HappyEyeballs::keepalive_interval`].
    pub fn set_keepalive_interval(&mut self, interval: Option<Duration>) {
        self.options().socket.keepalive_interval = interval;
    }

    /// The number of keepalive probes, as hyper-util's; see
    /// [`HappyEyeballs::keepalive_retries`].
    pub fn set_keepalive_retries(&mut self, retries: Option<u32>) {
        self.options().socket.keepalive_retries = retries;
    }

    /// `SO_SNDBUF`, as hyper-util's; see [`HappyEyeballs::send_buffer_size`].
    pub fn set_send_buffer_size(&mut self, size: Option<usize>) {
        self.options().socket.send_buffer_size = size;
    }

    /// `SO_RCVBUF`, as hyper-util's; see [`HappyEyeballs::recv_buffer_size`].
    pub fn set_recv_buffer_size(&mut self, size: Option<usize>) {
        self.options().socket.recv_buffer_size = size;
    }

    /// `SO_REUSEADDR`, as hyper-util's; see [`HappyEyeballs::reuse_address`].
    pub fn set_reuse_address(&mut self, reuse_address: bool) -> &mut Self {
        self.options().socket.reuse_address = reuse_address;
        self
    }

    /// The local address of its family's sockets; `None` clears both families'. As
    /// hyper-util's, except that the other family is still tried (unbound): see
    /// [`HappyEyeballs::local_address`].
    pub fn set_local_address(&mut self, addr: Option<IpAddr>) {
        let socket = &mut self.options().socket;
        let (v4, v6) = match addr {
            Some(IpAddr::V4(v4)) => (Some(v4), None),
            Some(IpAddr::V6(v6)) => (None, Some(v6)),
            None => (None, None),
        };
        socket.local_v4 = v4;
        socket.local_v6 = v6;
    }

    /// The local address of each family's sockets, as hyper-util's; see
    /// [`HappyEyeballs::local_addresses`].
    pub fn set_local_addresses(&mut self, addr_ipv4: Ipv4Addr, addr_ipv6: Ipv6Addr) {
        let socket = &mut self.options().socket;
        socket.local_v4 = Some(addr_ipv4);
        socket.local_v6 = Some(addr_ipv6);
    }

    /// A limit on the whole connect, name lookup included: the [overall
    /// timeout](HappyEyeballs::timeout). hyper-util splits its connect timeout over the
    /// addresses and leaves the lookup out; here attempts overlap, so the limit is on the
    /// connect as a whole. `None` (the default): no limit.
    pub fn set_connect_timeout(&mut self, dur: Option<Duration>) {
        self.options().timeout = dur;
    }

    /// The [attempt delay](HappyEyeballs::attempt_delay) (RFC 8305's Connection Attempt
    /// Delay, 250 ms by default; hyper-util's default is 300 ms): how long an attempt runs
    /// alone before the next address, of either family, starts beside it. `None` tries the
    /// addresses one after another, each when the one before fails, as hyper-util does with
    /// `None`. Values below 10 ms are raised to [`MIN_ATTEMPT_DELAY`].
    pub fn set_happy_eyeballs_timeout(&mut self, dur: Option<Duration>) {
        self.options().attempt_delay = dur.map_or(Duration::MAX, |d| d.max(MIN_ATTEMPT_DELAY));
    }

    /// Binds every socket to the interface named `interface`, as hyper-util's: with
    /// `SO_BINDTODEVICE` on Linux, Android and Fuchsia, by the interface's index on the Apple
    /// systems, illumos and Solaris (the systems of hyper-util's). A name the OS does not know
    /// fails each attempt with an error naming it.
    #[cfg(any(
        target_os = "android",
        target_os = "fuchsia",
        target_os = "illumos",
        target_os = "ios",
        target_os = "linux",
        target_os = "macos",
        target_os = "solaris",
        target_os = "tvos",
        target_os = "visionos",
        target_os = "watchos",
    ))]
    pub fn set_interface<S: Into<std::string::String>>(&mut self, interface: S) -> &mut Self {
        self.options().socket.interface = Some(interface.into());
        self
    }

    /// `SO_MARK` on every socket (Linux, Android, Fuchsia), as hyper-util's.
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    pub fn set_mark(&mut self, mark: Option<u32>) {
        self.options().socket.mark = mark;
    }

    /// `TCP_USER_TIMEOUT` on every socket (Linux, Android, Fuchsia), as hyper-util's.
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    pub fn set_tcp_user_timeout(&mut self, time: Option<Duration>) {
        self.options().socket.tcp_user_timeout = time;
    }
}

impl<D> Clone for HttpConnector<D> {
    fn clone(&self) -> Self {
        HttpConnector {
            inner: self.inner.clone(),
            enforce_http: self.enforce_http,
        }
    }
}

impl<D: fmt::Debug> fmt::Debug for HttpConnector<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnector")
            .field("happy_eyeballs", &self.inner)
            .field("enforce_http", &self.enforce_http)
            .finish()
    }
}

/// The future of [`HttpConnector`]'s `call`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use staggered::net::{HttpConnecting, HttpConnector};
/// use tower_service::Service;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let uri = format!("http://{}/", listener.local_addr()?).parse()?;
/// let connecting: HttpConnecting = HttpConnector::new().call(uri);
/// let stream = connecting.await?;
/// assert_eq!(stream.inner().peer_addr()?, listener.local_addr()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub type HttpConnecting =
    Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, ConnectError>> + Send>>;

impl<D: Resolve + Send + Sync + 'static> tower_service::Service<Uri> for HttpConnector<D> {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = HttpConnecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> HttpConnecting {
        let inner = self.inner.clone();
        let target = host_port(&uri, self.enforce_http);
        Box::pin(async move {
            let host = target?;
            inner.connect_host(&host).await.map(TokioIo::new)
        })
    }
}

/// `"host:port"` for `uri`, or why there is none.
pub(super) fn host_port(
    uri: &Uri,
    enforce_http: bool,
) -> Result<std::string::String, ConnectError> {
    let invalid = |why: &str| ConnectError::invalid_input(&uri.to_string(), why);
    let scheme = uri.scheme_str();
    if enforce_http && scheme != Some("http") {
        return Err(invalid(match scheme {
            Some(_) => "the scheme is not http (see HttpConnector::enforce_http)",
            None => "the URI has no scheme",
        }));
    }
    let host = match uri.host() {
        Some(host) if !host.is_empty() => host,
        _ => return Err(invalid("the URI has no host")),
    };
    // From the authority's text: `Uri::port` is `None` for a port that does not fit a `u16`,
    // which would silently become the scheme's default.
    let port = uri
        .authority()
        .and_then(|a| a.as_str().rsplit('@').next())
        .and_then(|rest| rest.strip_prefix(host))
        .and_then(|rest| rest.strip_prefix(':'));
    let port = match port {
        // RFC 3986 §3.2.3: an empty port (`host:`) is the scheme's default, as hyper-util
        // has it (`Uri::port` is `None` then).
        Some(port) if !port.is_empty() => parse_port(port).map_err(|why| invalid(&why))?,
        _ if scheme == Some("https") => 443,
        _ => 80,
    };
    let host = decode_zone(host).map_err(|why| invalid(&why))?;
    // An IPv6 host keeps its brackets in `Uri::host`.
    Ok(format!("{host}:{port}"))
}

/// `[v6%25zone]` as `[v6%zone]`: RFC 6874 writes an IPv6 zone in a URI as `%25` and the
/// zone, percent-encoded, and `connect_host` takes it as `getaddrinfo` does, after a bare `%`.
/// A bare `%` (which the `http` crate accepts too, and hyper-util hands to `getaddrinfo` as
/// it is) is kept. So is every host without a `%`: `http` allows one only inside brackets.
fn decode_zone(host: &str) -> Result<Cow<'_, str>, std::string::String> {
    let Some((ip, zone)) = host.split_once('%') else {
        return Ok(Cow::Borrowed(host));
    };
    let (Some(zone), Some(ip)) = (
        zone.strip_prefix("25")
            .and_then(|zone| zone.strip_suffix(']')),
        ip.strip_prefix('['),
    ) else {
        return Ok(Cow::Borrowed(host));
    };
    let bad = || format!("invalid percent-encoding in the zone of {host}");
    let mut bytes = Vec::with_capacity(zone.len());
    let mut rest = zone.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b != b'%' {
            bytes.push(b);
            rest = tail;
            continue;
        }
        let hex = tail
            .get(..2)
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| core::str::from_utf8(hex).ok());
        let byte = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok());
        bytes.push(byte.ok_or_else(bad)?);
        rest = &tail[2..];
    }
    let zone = std::string::String::from_utf8(bytes).map_err(|_| bad())?;
    Ok(Cow::Owned(format!("[{ip}%{zone}]")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ConnectErrorKind;

    fn target(uri: &str, enforce: bool) -> Result<std::string::String, std::string::String> {
        host_port(&uri.parse().unwrap(), enforce).map_err(|e| {
            assert_eq!(e.kind(), ConnectErrorKind::InvalidInput);
            e.to_string()
        })
    }

    #[test]
    fn host_and_port_from_the_uri() {
        assert_eq!(
            target("http://example.com/a", true).unwrap(),
            "example.com:80"
        );
        assert_eq!(
            target("http://example.com:8080", true).unwrap(),
            "example.com:8080"
        );
        assert_eq!(target("http://[::1]:81/", true).unwrap(), "[::1]:81");
        assert_eq!(target("http://u:p@[::1]/", true).unwrap(), "[::1]:80");
        assert_eq!(target("http://u@h:82/", true).unwrap(), "h:82");
        assert_eq!(
            target("https://example.com", false).unwrap(),
            "example.com:443"
        );
        assert_eq!(
            target("https://example.com", true).unwrap_err(),
            "invalid address \"https://example.com/\": the scheme is not http (see HttpConnector::enforce_http)"
        );
        assert_eq!(
            target("/path/only", true).unwrap_err(),
            "invalid address \"/path/only\": the URI has no scheme"
        );
        assert_eq!(
            target("/path/only", false).unwrap_err(),
            "invalid address \"/path/only\": the URI has no host"
        );
        assert_eq!(
            target("http://example.com:70000/", true).unwrap_err(),
            "invalid address \"http://example.com:70000/\": port 70000 is out of range (0 to 65535)"
        );
    }

    /// An IPv6 zone: RFC 6874's `%25` is a `%`, as is a bare `%` (which `http` takes and
    /// hyper-util hands to `getaddrinfo`); the zone itself is read by `parse_target`.
    #[test]
    fn ipv6_zones_in_the_uri() {
        assert_eq!(
            target("http://[fe80::1%25eth0]:80/", true).unwrap(),
            "[fe80::1%eth0]:80"
        );
        assert_eq!(
            target("http://[fe80::1%eth0]/", true).unwrap(),
            "[fe80::1%eth0]:80"
        );
        assert_eq!(
            target("http://[fe80::1%254]/", true).unwrap(),
            "[fe80::1%4]:80"
        );
        assert_eq!(
            target("http://[fe80::1%25en%30]:81/", true).unwrap(),
            "[fe80::1%en0]:81"
        );
        assert_eq!(
            target("http://[fe80::1%25e%zz]/", true).unwrap_err(),
            "invalid address \"http://[fe80::1%25e%zz]/\": invalid percent-encoding in the zone of [fe80::1%25e%zz]"
        );
    }

    /// RFC 3986 §3.2.3: an empty port (`host:`) is the scheme's default, as in hyper-util's
    /// connector (`Uri::port` is `None` for it).
    #[test]
    fn an_empty_port_is_the_schemes_default() {
        assert_eq!(
            target("http://example.com:/", true).unwrap(),
            "example.com:80"
        );
        assert_eq!(target("http://u@[::1]:/a", true).unwrap(), "[::1]:80");
        assert_eq!(
            target("https://example.com:", false).unwrap(),
            "example.com:443"
        );
        let uri: Uri = "http://example.com:/".parse().unwrap();
        assert_eq!(uri.port(), None);
    }
}
