//! [`ReqwestResolver`]: RFC 8305 §3 resolution as reqwest's resolver (feature `net-reqwest`).

use core::fmt;
use std::boxed::Box;
use std::format;
use std::sync::Arc;

use super::resolve::{Resolve, SystemResolver};
use super::{HappyEyeballs, Tokio};

/// A resolver for [reqwest] (`ClientBuilder::dns_resolver`) that answers at the first useful
/// answer of RFC 8305 §3, with the addresses in RFC 8305 §4's interleaved order.
///
/// It sends the AAAA and A lookups at once (one per family, with the
/// [resolver](HappyEyeballs::resolver) of the [`HappyEyeballs`] it was made from) and answers
/// reqwest with what [`connect_host`](HappyEyeballs::connect_host) would start its race with:
///
/// - an AAAA answer with addresses: at once, with those (and the IPv4 ones, if A answered
///   first);
/// - an A answer that comes first: after the [Resolution Delay](HappyEyeballs::resolution_delay)
///   (50 ms), or at the AAAA answer if it comes within it;
/// - empty or failed answers: when both are in, with what there is, or an error naming both
///   lookups; each lookup is bounded by the [resolve timeout](HappyEyeballs::resolve_timeout)
///   (10 s).
///
/// A plain `getaddrinfo` (reqwest's default resolver) or reqwest's hickory resolver waits for
/// both answers instead, so one slow family (a DNS server or middlebox that drops AAAA
/// queries) delays every request by as long as that family takes, or its timeout.
///
/// # What reqwest then does with the addresses
///
/// reqwest connects with its own connector, hyper-util's `HttpConnector`: the family of the
/// first address is the preferred one, and its addresses are tried one after another; the
/// other family's start, also one after another, 300 ms later (two lanes, not RFC 8305 §5's
/// staggering over every address). Addresses that a lookup brings after the answer is given
/// (the late family, here) are not used: reqwest takes one answer per name. So with a
/// black-holed first address reqwest waits its lane's connect timeout before the next
/// address of that family.
///
/// The cost of answering early: when AAAA answers first, reqwest gets the IPv6 addresses
/// alone (the A answer, still out, is dropped), so on a network whose IPv6 is broken but
/// whose DNS answers AAAA quickly, that request has no IPv4 address to fall back to, where
/// a resolver that waits for both would have given one. The race of
/// [`HttpConnector`] has no such cost: late answers join it.
///
/// reqwest 0.13 takes no custom connector (`ClientBuilder::connector_layer` wraps its own,
/// and must return reqwest's own connection type), so the race itself, with every address
/// staggered and late answers joining, is not yet possible inside reqwest: for that, use
/// hyper-util's client with [`HttpConnector`] (feature `net-hyper`).
///
/// # Resolvers
///
/// [`ReqwestResolver::new`] uses the [`SystemResolver`] (`getaddrinfo`, one call per family);
/// [`From`] a [`HappyEyeballs`] takes its resolver and options, for example a
/// [`HickoryResolver`] (feature `net-hickory`). The resolver need
/// not be `Clone` (the options are shared behind an `Arc`), but it must be
/// `Send + Sync + 'static`, as reqwest shares it between tasks: the [`From`] impl asks for
/// that, so a resolver that is not gets its error at the conversion, not as an unrelated
/// `IntoResolve` bound of reqwest's.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use staggered::net::ReqwestResolver;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// // An HTTP/1 server on loopback, answering one request.
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let port = listener.local_addr()?.port();
/// tokio::spawn(async move {
///     let (mut stream, _) = listener.accept().await.unwrap();
///     let mut request = [0; 1024];
///     let _ = stream.read(&mut request).await.unwrap();
///     let response = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
///     stream.write_all(response.as_bytes()).await.unwrap();
/// });
///
/// // The one line for reqwest users:
/// let client = reqwest::Client::builder().dns_resolver(ReqwestResolver::new()).no_proxy().build()?;
/// let body = client.get(format!("http://localhost:{port}/")).send().await?.text().await?;
/// assert_eq!(body, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// The answer comes at the first useful one: here A at once and AAAA only after 2 s (a
/// resolver of the example's own), so reqwest gets the IPv4 addresses after the Resolution
/// Delay, not after 2 s:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::net::SocketAddr;
/// use std::time::{Duration, Instant};
/// use staggered::net::{Family, HappyEyeballs, ReqwestResolver, Resolve, Tokio};
///
/// struct SlowAaaa;
///
/// impl Resolve for SlowAaaa {
///     async fn lookup(&self, _: &str, port: u16, family: Family) -> std::io::Result<Vec<SocketAddr>> {
///         match family {
///             Family::V4 => Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
///             Family::V6 => {
///                 tokio::time::sleep(Duration::from_secs(2)).await;
///                 Ok(vec![SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))])
///             }
///         }
///     }
/// }
///
/// let resolver = ReqwestResolver::from(HappyEyeballs::new(Tokio).resolver(SlowAaaa));
/// let t0 = Instant::now();
/// let addrs: Vec<SocketAddr> =
///     reqwest::dns::Resolve::resolve(&resolver, "dual.test".parse()?).await?.collect();
/// assert_eq!(addrs, [SocketAddr::from(([127, 0, 0, 1], 0))]); // reqwest sets the port
/// assert!(t0.elapsed() < Duration::from_secs(1));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
///
/// [reqwest]: https://docs.rs/reqwest/0.13
#[cfg_attr(feature = "net-hyper", doc = "[`HttpConnector`]: super::HttpConnector")]
#[cfg_attr(not(feature = "net-hyper"), doc = "[`HttpConnector`]: crate#features")]
#[cfg_attr(
    feature = "net-hickory",
    doc = "[`HickoryResolver`]: super::HickoryResolver"
)]
#[cfg_attr(
    not(feature = "net-hickory"),
    doc = "[`HickoryResolver`]: crate#features"
)]
pub struct ReqwestResolver<D = SystemResolver<Tokio>> {
    inner: Arc<HappyEyeballs<Tokio, D>>,
}

impl ReqwestResolver {
    /// The resolver with the [`HappyEyeballs`] defaults: the [`SystemResolver`], a 50 ms
    /// Resolution Delay, a 10 s resolve timeout.
    pub fn new() -> Self {
        Self::from(HappyEyeballs::new(Tokio))
    }
}

impl Default for ReqwestResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Resolve + Send + Sync + 'static> From<HappyEyeballs<Tokio, D>> for ReqwestResolver<D> {
    /// The resolver of `connector`, with its Resolution Delay, resolve timeout, First
    /// Address Family Count and event observer (which sees each answer as it arrives).
    fn from(connector: HappyEyeballs<Tokio, D>) -> Self {
        ReqwestResolver {
            inner: Arc::new(connector),
        }
    }
}

impl<D> ReqwestResolver<D> {
    /// The Happy Eyeballs options it resolves with.
    pub fn happy_eyeballs(&self) -> &HappyEyeballs<Tokio, D> {
        &self.inner
    }
}

impl<D> Clone for ReqwestResolver<D> {
    fn clone(&self) -> Self {
        ReqwestResolver {
            inner: self.inner.clone(),
        }
    }
}

impl<D: fmt::Debug> fmt::Debug for ReqwestResolver<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestResolver")
            .field("happy_eyeballs", &self.inner)
            .finish()
    }
}

impl<D: Resolve + Send + Sync + 'static> reqwest::dns::Resolve for ReqwestResolver<D> {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let inner = self.inner.clone();
        // Port 0: reqwest puts the URL's port (or the scheme's) in its place.
        let host = format!("{}:0", name.as_str());
        Box::pin(async move {
            let addrs = inner.resolve_first(&host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
