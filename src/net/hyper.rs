//! [`HttpConnector`]: Happy Eyeballs as a connector for hyper-util's legacy client (feature
//! `net-hyper`).

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::boxed::Box;
use std::format;
use std::string::ToString;
use std::sync::Arc;

use ::tokio::net::TcpStream;
use http::Uri;
use hyper_util::rt::TokioIo;

use super::resolve::{parse_port, Resolve, SystemResolver};
use super::{ConnectError, HappyEyeballs, Tokio};

/// A connector for [hyper-util's legacy client] that connects with [`HappyEyeballs`] on
/// tokio: a [`tower_service::Service<Uri>`] whose streams implement hyper-util's
/// [`Connection`](hyper_util::client::legacy::connect::Connection).
///
/// It takes the URI's host and port (80 for `http`, 443 for `https`), resolves the host with
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
/// use hyper_util::client::legacy::connect::Connection;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use staggered::net::{HappyEyeballs, HttpConnector, Tokio};
/// use tower_service::Service;
///
/// let connector = HttpConnector::from(
///     HappyEyeballs::new(Tokio)
///         .attempt_delay(Duration::from_millis(250))
///         .timeout(Duration::from_secs(10))
///         .nodelay(true),
/// );
/// // What hyper-util's client takes (with its `http1` or `http2` feature to send requests):
/// let _client: Client<HttpConnector, String> =
///     Client::builder(TokioExecutor::new()).build(connector.clone());
///
/// // What the client does with it: one connection per URI, with hyper-util's `HttpInfo`.
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let server = listener.local_addr()?;
/// let mut connector = connector;
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
/// # Compared with hyper-util's `HttpConnector`
///
/// | hyper-util `HttpConnector` | here |
/// |---|---|
/// | `set_happy_eyeballs_timeout` (300 ms): the preferred family's addresses one after another, the other family's after the timeout, also one after another | [`attempt_delay`](HappyEyeballs::attempt_delay) (250 ms): every address in the interleaved order (RFC 8305 §4), the next one starting when the one before fails or after the delay, so a black-holed address costs one delay, whichever family it is in |
/// | `set_connect_timeout`: split evenly over the addresses of each family | [`attempt_timeout`](HappyEyeballs::attempt_timeout) per attempt, and [`timeout`](HappyEyeballs::timeout) for the whole connect, name lookup included |
/// | resolver: `GaiResolver` (one `getaddrinfo` for both families), or any `Service<Name>`; the connect waits for the whole answer | [`Resolve`]: one lookup per family, [`SystemResolver`] by default or [`HickoryResolver`](super::HickoryResolver) (feature `net-hickory`), each bounded by [`resolve_timeout`](HappyEyeballs::resolve_timeout) (10 s); the race starts on the first useful answer, after the [Resolution Delay](HappyEyeballs::resolution_delay) (50 ms) if A beat AAAA, and later answers join it (RFC 8305 §3) |
/// | `set_nodelay`, `set_keepalive`, `set_keepalive_interval`, `set_keepalive_retries`, `set_send_buffer_size`, `set_recv_buffer_size`, `set_reuse_address` | [`nodelay`](HappyEyeballs::nodelay), [`keepalive`](HappyEyeballs::keepalive), [`keepalive_interval`](HappyEyeballs::keepalive_interval), [`keepalive_retries`](HappyEyeballs::keepalive_retries), [`send_buffer_size`](HappyEyeballs::send_buffer_size), [`recv_buffer_size`](HappyEyeballs::recv_buffer_size), [`reuse_address`](HappyEyeballs::reuse_address): the same socket options |
/// | `set_local_address`, `set_local_addresses`: with one family's address set, only that family is tried | [`local_address`](HappyEyeballs::local_address), [`local_addresses`](HappyEyeballs::local_addresses): the other family is still tried, unbound |
/// | `enforce_http` (on by default) | [`enforce_http`](Self::enforce_http) (on by default) |
/// | `set_interface` (`SO_BINDTODEVICE`), `set_mark`, `set_tcp_user_timeout` | not available |
/// | errors: one `ConnectError` with the last cause | [`ConnectError`]: every address tried, each with its own error |
/// | HTTP/1 and HTTP/2 over the stream, `HttpInfo` in responses | the same: the stream is hyper-util's `TokioIo<TcpStream>` |
///
/// [hyper-util's legacy client]: https://docs.rs/hyper-util/0.1/hyper_util/client/legacy/struct.Client.html
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

impl<D> HttpConnector<D> {
    /// Whether only `http` URIs are taken (the default, as in hyper-util). Turn it off to
    /// connect for other schemes too, for example under a TLS connector that wraps this one;
    /// a URI without a scheme then uses port 80 unless it names one.
    pub fn enforce_http(mut self, enforce: bool) -> Self {
        self.enforce_http = enforce;
        self
    }

    /// The Happy Eyeballs options it connects with.
    pub fn happy_eyeballs(&self) -> &HappyEyeballs<Tokio, D> {
        &self.inner
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
fn host_port(uri: &Uri, enforce_http: bool) -> Result<std::string::String, ConnectError> {
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
        Some(port) => parse_port(port).map_err(|why| invalid(&why))?,
        None if scheme == Some("https") => 443,
        None => 80,
    };
    // An IPv6 host keeps its brackets in `Uri::host`.
    Ok(format!("{host}:{port}"))
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
}
