//! [`HttpsConnector`]: HTTPS for hyper-util's legacy client with Happy Eyeballs v3 (feature
//! `net-tls`): HTTPS records, per-endpoint ALPN and ECH, and the TLS handshake inside each
//! attempt of the race.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::borrow::ToOwned;
use std::boxed::Box;
use std::collections::HashMap;
use std::format;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use std::vec::Vec;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;
use futures_core::Stream;
use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::client::{EchConfig, EchMode, EchStatus};
use rustls::crypto::hpke::Hpke;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{EchConfigListBytes, ServerName};
use rustls::{ClientConfig, RootCertStore};

use super::address_selection;
use super::endpoints::{self, Endpoint, Service};
use super::event::Log;
use super::hyper::host_port;
use super::resolution::alongside;
use super::resolve::{parse_target, Family, Resolve, SystemResolver, Target};
use super::runtime::Runtime;
use super::svcb::HttpsRecord;
use super::{ConnectError, ConnectEvent, HappyEyeballs, Tokio, MIN_ATTEMPT_DELAY};
use crate::{Event, Outcome, Staggered};

/// The largest attempt delay [`HttpsConnector`] uses: 2 s (Happy Eyeballs v3 clamps the
/// Connection Attempt Delay to 10 ms..2 s).
pub const MAX_ATTEMPT_DELAY: Duration = Duration::from_secs(2);

/// How many AliasMode hops are followed before the connect gives up on HTTPS records and
/// uses the last name's addresses (a guard against alias loops).
const MAX_ALIAS_HOPS: usize = 4;

/// How many distinct ServiceMode TargetNames get their AAAA and A looked up, the first ones
/// in SvcPriority order: a guard against an answer with many records. The services past
/// them are tried on their address hints only.
const MAX_TARGETS: usize = 8;

/// HTTPS with Happy Eyeballs v3 for [hyper-util's legacy client]: a
/// [`tower_service::Service<Uri>`] whose attempts each connect TCP *and* finish the TLS
/// handshake, so a server that accepts the connection but stalls the handshake does not win.
///
/// For each `https` URI it:
///
/// - sends the HTTPS (SVCB) query beside the AAAA and A queries ([`Resolve::lookup_https`];
///   the [`SystemResolver`] answers "no records", the
///   [`HickoryResolver`](super::HickoryResolver) asks the DNS): for the host itself on port
///   443, for `_{port}._https.{host}` on any other port (RFC 9460 §9.1; a TargetName of `"."`
///   there means the host);
/// - starts connecting once there is an endpoint, the HTTPS query has answered and the AAAA
///   query of the first service's target (the host's own without records) has answered, or
///   when the [Resolution Delay](HappyEyeballs::resolution_delay) (50 ms) has passed since
///   the list of endpoints first had one (from an answer or from an address hint);
/// - follows AliasMode records and ServiceMode TargetNames (asking the AAAA and A of the
///   first 8 distinct targets, in priority order; the others are tried on their hints), lets
///   `ipv4hint`/`ipv6hint` stand in until the target's own answer is in, and does not try a
///   hint twice when the answer has it too;
/// - orders the endpoints by SvcPriority (lowest first), then RFC 6724 and family
///   interleaving within a priority, skips records with no ALPN it speaks over TCP (`h2`,
///   `http/1.1`), and re-sorts the endpoints not yet tried when a later answer arrives;
/// - connects to the record's `port`, offers the record's ALPN, and uses the record's `ech`
///   ECHConfigList when there is one and the connector can use it (HPKE suites supporting
///   one of its configurations; otherwise the `ech` is ignored, as by any client that does
///   not do ECH); when any record has usable `ech`, only endpoints with ECH are
///   tried (no plain-TLS fallback; a plain handshake that started before a late HTTPS answer
///   advertised ECH is not used either), and a server that rejects ECH and sends retry
///   configurations gets one more handshake with them;
/// - races the endpoints with the [attempt delay](HappyEyeballs::attempt_delay) (250 ms,
///   clamped to 10 ms..[`MAX_ATTEMPT_DELAY`]).
///
/// The connection reports the negotiated ALPN to hyper-util ([`Connected::negotiated_h2`])
/// and an [`HttpsInfo`] (the address, the ALPN, whether `h3` was advertised, whether ECH was
/// accepted) in the response's extensions, beside hyper-util's `HttpInfo`.
///
/// TLS is rustls, with the crypto provider and the trust roots you pass; ECH needs HPKE
/// suites ([`ech_suites`](Self::ech_suites), e.g. rustls' `aws_lc_rs::hpke::ALL_SUPPORTED_SUITES`).
/// The plain [`HttpConnector`](super::HttpConnector) stays as it is, for clients that bring
/// their own TLS.
///
/// A TLS server of the example's own on loopback (a self-signed certificate for
/// `localhost`, from rcgen), reached through the system resolver (which has no HTTPS
/// records: the URI's port and both TCP protocols):
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use hyper_util::client::legacy::connect::{Connect, Connection};
/// use staggered::net::{HappyEyeballs, HttpsConnector, Tokio};
/// use tower_service::Service;
///
/// # #[allow(deprecated)]
/// let provider = Arc::new(rustls::crypto::ring::default_provider());
/// let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// let cert = certified.cert.der().clone();
/// let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
/// let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
///     .with_safe_default_protocol_versions()?
///     .with_no_client_auth()
///     .with_single_cert(vec![cert.clone()], key)?;
/// server.alpn_protocols = vec![b"h2".to_vec()];
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let port = listener.local_addr()?.port();
/// let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
/// tokio::spawn(async move {
///     let (tcp, _) = listener.accept().await.unwrap();
///     let tls = acceptor.accept(tcp).await.unwrap();
///     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
///     drop(tls);
/// });
///
/// let mut roots = rustls::RootCertStore::empty();
/// roots.add(cert)?;
/// let connector = HttpsConnector::new(provider, roots)
///     // The race's options and resolver; `HickoryResolver` asks for HTTPS records.
///     .happy_eyeballs(HappyEyeballs::new(Tokio));
/// // What hyper-util's client takes: with its `http1`/`http2` features,
/// // `Client::builder(TokioExecutor::new()).build(connector)`.
/// fn for_the_client<C: Connect + Clone + Send + Sync + 'static>(c: C) -> C { c }
/// let mut connector = for_the_client(connector);
///
/// let stream = connector.call(format!("https://localhost:{port}/").parse()?).await?;
/// assert_eq!(stream.inner().info().alpn.as_deref(), Some(&b"h2"[..]));
/// assert!(stream.connected().is_negotiated_h2());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// [hyper-util's legacy client]: https://docs.rs/hyper-util/0.1/hyper_util/client/legacy/struct.Client.html
#[cfg_attr(
    not(feature = "net-hickory"),
    doc = "",
    doc = "[super::HickoryResolver]: crate#features"
)]
pub struct HttpsConnector<D = SystemResolver<Tokio>> {
    happy_eyeballs: Arc<HappyEyeballs<Tokio, D>>,
    tls: Arc<TlsSettings>,
}

/// The TLS side: provider, roots, HPKE suites.
struct TlsSettings {
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    hpke: Vec<&'static dyn Hpke>,
}

impl HttpsConnector {
    /// A connector with the Happy Eyeballs defaults (the system resolver: no HTTPS records),
    /// TLS by `provider`, trusting `roots`. No ECH until [`ech_suites`](Self::ech_suites)
    /// gives HPKE suites.
    pub fn new(provider: Arc<CryptoProvider>, roots: impl Into<Arc<RootCertStore>>) -> Self {
        HttpsConnector {
            happy_eyeballs: Arc::new(HappyEyeballs::new(Tokio)),
            tls: Arc::new(TlsSettings {
                provider,
                roots: roots.into(),
                hpke: Vec::new(),
            }),
        }
    }
}

impl<D> HttpsConnector<D> {
    /// The race's options and resolver: attempt delay (clamped to 10 ms..2 s here),
    /// Resolution Delay, timeouts, socket options, event observer; the resolver's
    /// [`lookup_https`](Resolve::lookup_https) gives the HTTPS records.
    pub fn happy_eyeballs<D2: Resolve>(
        self,
        happy_eyeballs: HappyEyeballs<Tokio, D2>,
    ) -> HttpsConnector<D2> {
        HttpsConnector {
            happy_eyeballs: Arc::new(happy_eyeballs),
            tls: self.tls,
        }
    }

    /// The HPKE suites for ECH (rustls' `aws_lc_rs::hpke::ALL_SUPPORTED_SUITES`, or another
    /// provider's). With them, when an HTTPS record advertises ECH with a configuration they
    /// support, only ECH endpoints are tried (no plain-TLS fallback). Without them (the
    /// default), or when none of a record's configurations is supported, the connector is
    /// not ECH-capable for that record: it ignores its `ech` and connects with plain TLS.
    pub fn ech_suites(self, suites: &[&'static dyn Hpke]) -> Self {
        let tls = TlsSettings {
            provider: self.tls.provider.clone(),
            roots: self.tls.roots.clone(),
            hpke: suites.to_vec(),
        };
        HttpsConnector {
            happy_eyeballs: self.happy_eyeballs,
            tls: Arc::new(tls),
        }
    }

    /// The Happy Eyeballs options it connects with.
    pub fn options(&self) -> &HappyEyeballs<Tokio, D> {
        &self.happy_eyeballs
    }
}

impl<D> Clone for HttpsConnector<D> {
    fn clone(&self) -> Self {
        HttpsConnector {
            happy_eyeballs: self.happy_eyeballs.clone(),
            tls: self.tls.clone(),
        }
    }
}

impl<D: fmt::Debug> fmt::Debug for HttpsConnector<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpsConnector")
            .field("happy_eyeballs", &self.happy_eyeballs)
            .field("ech_suites", &self.tls.hpke.len())
            .finish_non_exhaustive()
    }
}

/// What an [`HttpsConnector`] connection tells about itself: in the response's extensions
/// (through hyper-util's `Connected::extra`), and on [`HttpsStream::info`].
///
/// ```
/// use staggered::net::HttpsInfo;
///
/// // What a response's extensions carry: `response.extensions().get::<HttpsInfo>()`.
/// // (`#[non_exhaustive]`: made with `HttpsInfo::new`, e.g. for a test double.)
/// let mut info = HttpsInfo::new("192.0.2.1:8443".parse().unwrap());
/// info.alpn = Some(b"h2".to_vec());
/// info.h3_advertised = true;
/// info.from_hint = true;
/// let mut extensions = http::Extensions::new();
/// extensions.insert(info.clone());
/// let got = extensions.get::<HttpsInfo>().unwrap();
/// assert_eq!(got.alpn.as_deref(), Some(&b"h2"[..]));
/// assert!(got.h3_advertised); // for a QUIC race later
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpsInfo {
    /// The endpoint that won.
    pub remote_addr: SocketAddr,
    /// The ALPN protocol the server picked (`b"h2"`, `b"http/1.1"`), if any.
    pub alpn: Option<Vec<u8>>,
    /// Whether the endpoint's HTTPS record advertised `h3` (for a QUIC race later).
    pub h3_advertised: bool,
    /// Whether the handshake used ECH and the server accepted it.
    pub ech_accepted: bool,
    /// Whether the endpoint came from an address hint (`ipv4hint`/`ipv6hint`).
    pub from_hint: bool,
}

impl HttpsInfo {
    /// The info of a connection to `remote_addr`: no ALPN, no h3, no ECH, not from a hint
    /// (set the public fields after).
    pub fn new(remote_addr: SocketAddr) -> HttpsInfo {
        HttpsInfo {
            remote_addr,
            alpn: None,
            h3_advertised: false,
            ech_accepted: false,
            from_hint: false,
        }
    }
}

/// A TLS connection made by [`HttpsConnector`]: tokio-rustls over TCP, with its
/// [`HttpsInfo`]. hyper-util gets it as a [`TokioIo<HttpsStream>`](TokioIo).
///
/// ```
/// use hyper_util::rt::TokioIo;
/// use staggered::net::{ConnectError, HttpsConnecting, HttpsInfo, HttpsStream};
///
/// async fn endpoint(connecting: HttpsConnecting) -> Result<HttpsInfo, ConnectError> {
///     let stream: TokioIo<HttpsStream> = connecting.await?;
///     let (_tcp, session) = stream.inner().inner().get_ref();
///     assert_eq!(session.alpn_protocol(), stream.inner().info().alpn.as_deref());
///     Ok(stream.inner().info().clone())
/// }
/// ```
pub struct HttpsStream {
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    info: HttpsInfo,
}

impl HttpsStream {
    /// The endpoint, the ALPN, h3 and ECH.
    pub fn info(&self) -> &HttpsInfo {
        &self.info
    }

    /// The tokio-rustls stream inside.
    pub fn inner(&self) -> &tokio_rustls::client::TlsStream<TcpStream> {
        &self.tls
    }
}

impl fmt::Debug for HttpsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpsStream")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for HttpsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for HttpsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }
}

impl Connection for HttpsStream {
    fn connected(&self) -> Connected {
        let connected = self.tls.get_ref().0.connected().extra(self.info.clone());
        if self.info.alpn.as_deref() == Some(b"h2") {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

/// The future of [`HttpsConnector`]'s `call`.
///
/// ```
/// use staggered::net::{HttpsConnecting, HttpsConnector};
/// use tower_service::Service;
///
/// fn connect(connector: &mut HttpsConnector, uri: http::Uri) -> HttpsConnecting {
///     connector.call(uri)
/// }
/// ```
pub type HttpsConnecting =
    Pin<Box<dyn Future<Output = Result<TokioIo<HttpsStream>, ConnectError>> + Send>>;

impl<D: Resolve + Send + Sync + 'static> tower_service::Service<Uri> for HttpsConnector<D> {
    type Response = TokioIo<HttpsStream>;
    type Error = ConnectError;
    type Future = HttpsConnecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> HttpsConnecting {
        let he = self.happy_eyeballs.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            if uri.scheme_str() != Some("https") {
                return Err(ConnectError::invalid_input(
                    &uri.to_string(),
                    "the scheme is not https (HttpsConnector connects https only)",
                ));
            }
            let host = host_port(&uri, false)?;
            let connect = Arc::new(Connect { he, tls, host });
            connect.run().await.map(TokioIo::new)
        })
    }
}

/// One connect: the options, and the `"host:port"` of the URI.
struct Connect<D> {
    he: Arc<HappyEyeballs<Tokio, D>>,
    tls: Arc<TlsSettings>,
    host: String,
}

/// What the lookups know so far, and the endpoints left to try.
struct State {
    /// The origin name and the URI's port.
    origin: String,
    port: u16,
    /// The services in effect: the records' (once the HTTPS answer is in, aliases followed),
    /// or the origin's own.
    services: Vec<Arc<Service>>,
    /// Whether the HTTPS answer (after any aliases) is in.
    https_done: bool,
    /// The answers per (target, family); a failed lookup is an empty answer here.
    answers: HashMap<(String, Family), Vec<IpAddr>>,
    /// The (target, family) lookups started.
    asked: Vec<(String, Family)>,
    /// Lookups still out (HTTPS and addresses).
    out: usize,
    /// Whether connecting may start (HEv3 §4), and when the Resolution Delay started.
    released: bool,
    delay_started: bool,
    /// The endpoints not yet tried, in order, and the endpoints tried (address and ECH
    /// config: a plain attempt does not stand for an ECH endpoint on the same address).
    list: Vec<Endpoint>,
    attempted: Vec<endpoints::Attempted>,
    /// The source address of each address answered or hinted (RFC 6724), asked when the
    /// answer arrives, outside the lock: [`State::replan`] sorts without route lookups.
    sources: HashMap<IpAddr, Option<IpAddr>>,
    tried: Vec<Endpoint>,
    /// Errors of the lookups, for the error when nothing connects.
    errors: Vec<String>,
    /// Whether an HTTPS answer advertised ECH: from then on, a plain-TLS handshake that
    /// finishes is not used (it may have started before the answer came).
    ech_required: bool,
    first_family_count: usize,
    /// The race's stream, waiting for an endpoint.
    waker: Option<Waker>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// A placeholder, for taking the state out of its mutex at the end.
    fn empty() -> State {
        State {
            origin: String::new(),
            port: 0,
            services: Vec::new(),
            https_done: true,
            answers: HashMap::new(),
            asked: Vec::new(),
            out: 0,
            released: true,
            delay_started: false,
            list: Vec::new(),
            attempted: Vec::new(),
            sources: HashMap::new(),
            tried: Vec::new(),
            errors: Vec::new(),
            ech_required: false,
            first_family_count: 1,
            waker: None,
        }
    }

    /// Recomputes the list after an answer: the whole order, without what was tried.
    fn replan(&mut self) {
        let answers = &self.answers;
        let sources = &self.sources;
        let fresh = endpoints::order(
            &self.services,
            |name, family| answers.get(&(name.to_owned(), family)).cloned(),
            |addrs: &mut [SocketAddr]| {
                // The sources were asked when the addresses arrived; one missing (not
                // expected) is asked now.
                let mut pairs: Vec<(SocketAddr, Option<IpAddr>)> = addrs
                    .iter()
                    .map(|&a| {
                        let source = match sources.get(&a.ip()) {
                            Some(&known) => known,
                            None => address_selection::source_for(a),
                        };
                        (a, source)
                    })
                    .collect();
                address_selection::sort_with_sources(&mut pairs);
                for (slot, (addr, _)) in addrs.iter_mut().zip(pairs) {
                    *slot = addr;
                }
            },
            self.first_family_count,
        );
        self.list = endpoints::merge(&self.attempted, fresh);
    }

    /// Whether the preferred family (AAAA) of the first service's target has answered.
    fn preferred_answered(&self) -> bool {
        self.services
            .first()
            .is_some_and(|s| self.answers.contains_key(&(s.target.clone(), Family::V6)))
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// One lookup's answer, as the driver gets it.
enum Answer {
    Https {
        name: String,
        hops: usize,
        result: io::Result<Vec<HttpsRecord>>,
    },
    Addrs {
        name: String,
        family: Family,
        result: io::Result<Vec<SocketAddr>>,
    },
}

type Lookup = Pin<Box<dyn Future<Output = Answer> + Send>>;

impl<D: Resolve + Send + Sync + 'static> Connect<D> {
    async fn run(self: Arc<Self>) -> Result<HttpsStream, ConnectError> {
        let host = self.host.as_str();
        let (name, port, literal) = match parse_target(host) {
            Ok(Target::Addr(addr)) => (addr.ip().to_string(), addr.port(), Some(addr)),
            Ok(Target::Name(name, port)) => (name.to_owned(), port, None),
            Err(why) => return Err(ConnectError::invalid_input(host, why)),
        };
        let server_name = ServerName::try_from(name.clone())
            .map_err(|e| ConnectError::invalid_input(host, e.to_string()))?;
        let origin = endpoints::origin(&name, port);
        let mut state = State {
            origin: endpoints::normalize(&name),
            port,
            services: Vec::from([Arc::new(origin)]),
            https_done: literal.is_some(),
            answers: HashMap::new(),
            asked: Vec::new(),
            out: 0,
            released: literal.is_some(),
            delay_started: false,
            list: Vec::new(),
            attempted: Vec::new(),
            sources: HashMap::new(),
            tried: Vec::new(),
            errors: Vec::new(),
            ech_required: false,
            first_family_count: self.he.first_family_count,
            waker: None,
        };
        if let Some(addr) = literal {
            // The literal under its own family, the other family empty.
            let target = state.origin.clone();
            let (own, other) = match addr.ip() {
                IpAddr::V6(_) => (Family::V6, Family::V4),
                IpAddr::V4(_) => (Family::V4, Family::V6),
            };
            state.answers.insert((target.clone(), other), Vec::new());
            state.answers.insert((target, own), Vec::from([addr.ip()]));
            state
                .sources
                .extend(address_selection::sources_of(&[addr.ip()]));
            state.replan();
        }
        let state = Arc::new(Mutex::new(state));
        let log = Log::new(self.he.observer.as_deref());

        let attempts = Endpoints {
            state: state.clone(),
            connect: self.clone(),
            server_name,
        };
        let tried = |index: usize| lock(&state).tried[index].addr;
        let report = |event: Event<'_, io::Error>| {
            log.report(match event {
                Event::Started { index } => ConnectEvent::Started {
                    attempt: index,
                    addr: tried(index),
                },
                Event::Failed { index, error } => ConnectEvent::Failed {
                    attempt: index,
                    addr: tried(index),
                    error,
                },
                Event::Won { index } => ConnectEvent::Won {
                    attempt: index,
                    addr: tried(index),
                },
                Event::Cancelled { index } => ConnectEvent::Cancelled {
                    attempt: index,
                    addr: tried(index),
                },
            })
        };
        let delay = self
            .he
            .attempt_delay
            .clamp(MIN_ATTEMPT_DELAY, MAX_ATTEMPT_DELAY);
        let race = Staggered::from_stream(attempts)
            .delay(delay)
            .on_event(report);
        let timer = self.he.runtime.timer();
        let race = async {
            match self.he.timeout {
                Some(limit) => race.deadline(limit).race(timer).await,
                None => race.race(timer).await,
            }
        };
        let outcome: Outcome<HttpsStream, io::Error> = if literal.is_some() {
            race.await
        } else {
            alongside(self.lookups(&name, &state, &log), race).await
        };
        let state = core::mem::replace(&mut *lock(&state), State::empty());
        self.finish(outcome, state)
    }

    /// The stream of the winner, or the error naming every endpoint tried.
    fn finish(
        &self,
        outcome: Outcome<HttpsStream, io::Error>,
        state: State,
    ) -> Result<HttpsStream, ConnectError> {
        if let Some((_, stream)) = outcome.winner {
            return Ok(stream);
        }
        let host = Some(self.host.as_str());
        if outcome.attempts.is_empty() && !outcome.timed_out {
            let why = state.errors.join("; ");
            return Err(if why.is_empty() {
                ConnectError::no_addresses(host)
            } else {
                ConnectError::resolve(&self.host, io::Error::other(why))
            });
        }
        let errors = state
            .tried
            .iter()
            .map(|e| e.addr)
            .zip(outcome.attempts)
            .map(|(addr, attempt)| {
                let error = attempt
                    .into_error()
                    .unwrap_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "did not finish"));
                (addr, error)
            })
            .collect();
        match self.he.timeout {
            Some(limit) if outcome.timed_out => Err(ConnectError::timed_out(host, limit, errors)),
            _ => Err(ConnectError::all_failed(host, errors)),
        }
    }

    /// The lookups: HTTPS, AAAA and A of the origin at once; then the targets' and aliases'
    /// as the HTTPS answer names them. Each answer updates `state`.
    async fn lookups(&self, name: &str, state: &Mutex<State>, log: &Log<'_>) {
        let mut running: Vec<Lookup> = Vec::new();
        let port = lock(state).port;
        running.push(self.https(https_query_name(name, port), 0));
        {
            let mut s = lock(state);
            let origin = s.origin.clone();
            for lookup in self.addresses(&mut s, &origin) {
                running.push(lookup);
            }
            s.out = running.len();
        }
        let mut sleep: Option<Pin<Box<::tokio::time::Sleep>>> = None;
        let delay = self.he.resolution_delay;
        core::future::poll_fn(|cx| {
            // The Resolution Delay.
            if let Some(timer) = sleep.as_mut() {
                if timer.as_mut().poll(cx).is_ready() {
                    sleep = None;
                    log.report(ConnectEvent::ResolutionDelayPassed { delay });
                    let mut s = lock(state);
                    if !s.released {
                        if s.list.is_empty() {
                            // Nothing to connect to (the list emptied since the delay
                            // started): a fresh delay starts when the list fills again.
                            s.delay_started = false;
                        } else {
                            s.released = true;
                            s.wake();
                        }
                    }
                }
            }
            let mut i = 0;
            while i < running.len() {
                let Poll::Ready(answer) = running[i].as_mut().poll(cx) else {
                    i += 1;
                    continue;
                };
                drop(running.swap_remove(i));
                let more = self.take(answer, state, log);
                let mut s = lock(state);
                s.out -= 1;
                s.out += more.len();
                drop(s);
                running.extend(more);
            }
            let mut s = lock(state);
            if running.is_empty() {
                // Everything is in: start with what there is, and end the stream when it
                // is tried.
                s.out = 0;
                s.released = true;
                s.wake();
                return Poll::Ready(());
            }
            if !s.released && !s.list.is_empty() {
                if s.https_done && s.preferred_answered() {
                    s.released = true;
                    // No Resolution Delay event after this: it no longer matters.
                    sleep = None;
                    s.wake();
                } else if !s.delay_started {
                    s.delay_started = true;
                    log.report(ConnectEvent::ResolutionDelayStarted { delay });
                    let mut timer = Box::pin(::tokio::time::sleep(delay));
                    if timer.as_mut().poll(cx).is_ready() {
                        s.released = true;
                        s.wake();
                    } else {
                        sleep = Some(timer);
                    }
                }
            } else if s.released && !s.list.is_empty() {
                s.wake();
            }
            Poll::Pending
        })
        .await
    }

    /// An answer into `state`; the lookups it calls for (a target's addresses, an alias's
    /// records).
    fn take(&self, answer: Answer, state: &Mutex<State>, log: &Log<'_>) -> Vec<Lookup> {
        let mut more = Vec::new();
        // The RFC 6724 source addresses of the new addresses (answered or hinted): route
        // lookups, asked here, before the lock is taken, once per answer.
        let new_ips: Vec<IpAddr> = match &answer {
            Answer::Addrs {
                result: Ok(addrs), ..
            } => addrs.iter().map(SocketAddr::ip).collect(),
            Answer::Https {
                result: Ok(records),
                ..
            } => records
                .iter()
                .flat_map(|r| {
                    r.ipv6hint
                        .iter()
                        .map(|&ip| IpAddr::V6(ip))
                        .chain(r.ipv4hint.iter().map(|&ip| IpAddr::V4(ip)))
                })
                .collect(),
            _ => Vec::new(),
        };
        let sources = address_selection::sources_of(&new_ips);
        let mut s = lock(state);
        s.sources.extend(sources);
        match answer {
            Answer::Https { name, hops, result } => {
                log.report(ConnectEvent::HttpsRecords {
                    name: &name,
                    result: result.as_deref(),
                });
                let records = match result {
                    Ok(records) => records,
                    Err(error) => {
                        s.errors.push(format!("HTTPS {name}: {error}"));
                        Vec::new()
                    }
                };
                let alias = records.iter().find(|r| r.is_alias());
                match alias {
                    Some(alias) if hops < MAX_ALIAS_HOPS && !alias.target.is_empty() => {
                        let target = endpoints::normalize(&alias.target);
                        more.push(self.https(target.clone(), hops + 1));
                        // The alias target's own addresses, for when it has no records.
                        more.extend(self.addresses(&mut s, &target));
                    }
                    _ => {
                        // A client that cannot do ECH ignores `ech` (RFC 9848's
                        // no-fallback rule is for ECH-capable clients).
                        let records = self.tls.usable_ech(records);
                        s.ech_required |= endpoints::advertise_ech(&records);
                        // A TargetName of "." at `_port._https.host` is the origin host
                        // (RFC 9460 §9.1); at an alias, the alias's name.
                        let owner = if hops == 0 {
                            s.origin.clone()
                        } else {
                            endpoints::normalize(&name)
                        };
                        let mut services = endpoints::services(&owner, s.port, &records);
                        if services.is_empty() {
                            if endpoints::advertise_ech(&records) {
                                s.errors.push(format!(
                                    "HTTPS {name}: the records advertise ECH, and no record with ECH offers a protocol this connector speaks over TCP (h2, http/1.1); no plain-TLS fallback"
                                ));
                            } else {
                                services.push(endpoints::origin(&owner, s.port));
                            }
                        }
                        s.services = services.into_iter().map(Arc::new).collect();
                        s.https_done = true;
                        let mut targets: Vec<String> = Vec::new();
                        for svc in &s.services {
                            if !targets.contains(&svc.target) {
                                targets.push(svc.target.clone());
                            }
                        }
                        targets.truncate(MAX_TARGETS);
                        for target in targets {
                            more.extend(self.addresses(&mut s, &target));
                        }
                    }
                }
            }
            Answer::Addrs {
                name,
                family,
                result,
            } => {
                if name == s.origin {
                    log.report(ConnectEvent::Resolved {
                        family,
                        result: result.as_deref(),
                    });
                }
                let ips = match result {
                    Ok(addrs) => addrs.into_iter().map(|a| a.ip()).collect(),
                    Err(error) => {
                        s.errors.push(format!("{family} {name}: {error}"));
                        Vec::new()
                    }
                };
                s.answers.insert((name, family), ips);
            }
        }
        s.replan();
        more
    }

    /// The AAAA and A lookups of `target`, unless they were asked already.
    fn addresses(&self, s: &mut State, target: &str) -> Vec<Lookup> {
        let mut lookups: Vec<Lookup> = Vec::new();
        for family in [Family::V6, Family::V4] {
            let key = (target.to_owned(), family);
            if s.asked.contains(&key) {
                continue;
            }
            s.asked.push(key);
            let name = target.to_owned();
            let he = self.he.clone();
            let limit = he.resolve_timeout;
            lookups.push(Box::pin(async move {
                let result = within(limit, he.resolver.lookup(&name, 0, family)).await;
                Answer::Addrs {
                    name,
                    family,
                    result,
                }
            }));
        }
        lookups
    }

    /// The HTTPS lookup of `name`, `hops` aliases away from the origin.
    fn https(&self, name: String, hops: usize) -> Lookup {
        let he = self.he.clone();
        let limit = he.resolve_timeout;
        Box::pin(async move {
            let result = within(limit, he.resolver.lookup_https(&name)).await;
            Answer::Https { name, hops, result }
        })
    }

    /// One attempt: TCP connect and TLS handshake, with the endpoint's ALPN and ECH; one
    /// more handshake with the server's retry configurations if it rejects ECH with them.
    async fn attempt(
        self: Arc<Self>,
        state: Arc<Mutex<State>>,
        endpoint: Endpoint,
        server_name: ServerName<'static>,
    ) -> io::Result<HttpsStream> {
        let work = async {
            let ech = endpoint.service.ech.as_deref().map(<[u8]>::to_vec);
            let mut config = self.tls.config(&endpoint.service.alpn, ech.as_deref())?;
            let mut retried = false;
            loop {
                let tcp = self
                    .he
                    .runtime
                    .connect(endpoint.addr, &self.he.socket)
                    .await?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                match connector.connect(server_name.clone(), tcp).await {
                    Ok(_) if ech.is_none() && lock(&state).ech_required => {
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            "a plain-TLS handshake, and an HTTPS record advertises ECH: not used (no plain-TLS fallback)",
                        ));
                    }
                    Ok(tls) => {
                        let (_, session) = tls.get_ref();
                        let info = HttpsInfo {
                            remote_addr: endpoint.addr,
                            alpn: session.alpn_protocol().map(<[u8]>::to_vec),
                            h3_advertised: endpoint.service.h3,
                            ech_accepted: session.ech_status() == EchStatus::Accepted,
                            from_hint: endpoint.from_hint,
                        };
                        return Ok(HttpsStream { tls, info });
                    }
                    Err(error) => match retry_configs(&error) {
                        Some(retry) if !retried && ech.is_some() => {
                            retried = true;
                            config = self.tls.config(&endpoint.service.alpn, Some(&retry))?;
                        }
                        _ => return Err(error),
                    },
                }
            }
        };
        let Some(limit) = self.he.attempt_timeout else {
            return work.await;
        };
        ::tokio::time::timeout(limit, work)
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connection attempt timed out after {limit:?}"),
                ))
            })
    }
}

impl TlsSettings {
    /// `records` with the `ech` of each record removed when this client cannot use it: no
    /// HPKE suites, or none of the record's configurations supported by them. Such a client
    /// is not ECH-capable for that record, and connects with plain TLS.
    fn usable_ech(&self, mut records: Vec<HttpsRecord>) -> Vec<HttpsRecord> {
        for record in &mut records {
            let usable = match &record.ech {
                None => continue,
                Some(list) => {
                    !self.hpke.is_empty()
                        && EchConfig::new(EchConfigListBytes::from(list.clone()), &self.hpke)
                            .is_ok()
                }
            };
            if !usable {
                record.ech = None;
            }
        }
        records
    }

    /// A client config offering `alpn`, with ECH when `ech` is an ECHConfigList.
    fn config(&self, alpn: &[&str], ech: Option<&[u8]>) -> io::Result<Arc<ClientConfig>> {
        let tls_error = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidInput, e);
        let builder = ClientConfig::builder_with_provider(self.provider.clone());
        let builder = match ech {
            Some(list) => {
                if self.hpke.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "the HTTPS record advertises ECH, and the connector has no HPKE suites (HttpsConnector::ech_suites); no plain-TLS fallback",
                    ));
                }
                let config = EchConfig::new(EchConfigListBytes::from(list.to_vec()), &self.hpke)
                    .map_err(tls_error)?;
                builder
                    .with_ech(EchMode::Enable(config))
                    .map_err(tls_error)?
            }
            None => builder
                .with_safe_default_protocol_versions()
                .map_err(tls_error)?,
        };
        let mut config = builder
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// The name the HTTPS query of `host` on `port` asks for (RFC 9460 §9.1): the host itself
/// for port 443, `_{port}._https.{host}` for any other port.
fn https_query_name(host: &str, port: u16) -> String {
    if port == 443 {
        host.to_owned()
    } else {
        format!("_{port}._https.{host}")
    }
}

/// The ECHConfigList the server sent when it rejected ECH, if `error` is that.
fn retry_configs(error: &io::Error) -> Option<Vec<u8>> {
    use rustls::internal::msgs::codec::Codec;
    let inner = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    match inner {
        rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::ServerRejectedEncryptedClientHello(Some(configs)),
        ) => {
            let mut bytes = Vec::new();
            configs.encode(&mut bytes);
            Some(bytes)
        }
        _ => None,
    }
}

/// The race's source: the endpoints of the state, as they are released.
struct Endpoints<D> {
    state: Arc<Mutex<State>>,
    connect: Arc<Connect<D>>,
    server_name: ServerName<'static>,
}

/// An attempt of the race, not yet started.
type AttemptOf =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = io::Result<HttpsStream>> + Send>> + Send>;

impl<D: Resolve + Send + Sync + 'static> Stream for Endpoints<D> {
    type Item = AttemptOf;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut s = lock(&self.state);
        if s.released && !s.list.is_empty() {
            let endpoint = s.list.remove(0);
            s.attempted.push(endpoints::attempted(&endpoint));
            s.tried.push(endpoint.clone());
            let connect = self.connect.clone();
            let server_name = self.server_name.clone();
            let state = self.state.clone();
            return Poll::Ready(Some(Box::new(move || {
                Box::pin(connect.attempt(state, endpoint, server_name))
                    as Pin<Box<dyn Future<Output = io::Result<HttpsStream>> + Send>>
            })));
        }
        if s.released && s.out == 0 {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A lookup, cut short by the resolve timeout (`limit`), if any, with a `TimedOut` error.
async fn within<T>(
    limit: Option<Duration>,
    lookup: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match limit {
        Some(limit) => ::tokio::time::timeout(limit, lookup)
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within the resolve timeout of {limit:?}"),
                ))
            }),
        None => lookup.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::internal::msgs::codec::{Codec, Reader};
    use rustls::internal::msgs::handshake::EchConfigPayload;
    use std::vec;

    /// An ECHConfigList of one ECHConfig (0xfe0d): X25519, HKDF-SHA256, AES-128-GCM.
    fn config_list(config_id: u8, public_name: &str) -> Vec<u8> {
        let mut contents = vec![config_id];
        contents.extend(0x0020u16.to_be_bytes());
        contents.extend(32u16.to_be_bytes());
        contents.extend([0x42u8; 32]);
        contents.extend(4u16.to_be_bytes());
        contents.extend(0x0001u16.to_be_bytes());
        contents.extend(0x0001u16.to_be_bytes());
        contents.push(0);
        contents.push(public_name.len() as u8);
        contents.extend(public_name.as_bytes());
        contents.extend(0u16.to_be_bytes());
        let mut config = Vec::from(0xfe0du16.to_be_bytes());
        config.extend((contents.len() as u16).to_be_bytes());
        config.extend(contents);
        let mut list = Vec::from((config.len() as u16).to_be_bytes());
        list.extend(config);
        list
    }

    /// Without HPKE suites the connector is not ECH-capable: every record's `ech` is
    /// dropped, the rest of the record kept.
    #[test]
    fn ech_is_dropped_without_hpke_suites() {
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = TlsSettings {
            provider,
            roots: Arc::new(RootCertStore::empty()),
            hpke: Vec::new(),
        };
        let mut with = HttpsRecord::service(1, ".");
        with.ech = Some(config_list(1, "public.test"));
        with.port = Some(8443);
        let records = tls.usable_ech(vec![with, HttpsRecord::service(2, ".")]);
        assert!(records.iter().all(|r| r.ech.is_none()));
        assert_eq!(records[0].port, Some(8443));
        assert!(!endpoints::advertise_ech(&records));
    }

    /// RFC 9460 §9.1: the host itself on port 443, the port-prefixed name otherwise.
    #[test]
    fn the_https_query_name_has_the_port_off_443() {
        assert_eq!(https_query_name("a.test", 443), "a.test");
        assert_eq!(https_query_name("a.test", 8443), "_8443._https.a.test");
        assert_eq!(https_query_name("a.test", 80), "_80._https.a.test");
    }

    /// The retry configurations of a rejection, as tokio-rustls hands the error over (an
    /// `io::Error` around rustls' error), come back as the ECHConfigList bytes the server
    /// sent; other errors give none.
    #[test]
    fn retry_configs_from_a_rejection() {
        let list = config_list(7, "public.test");
        let configs = Vec::<EchConfigPayload>::read(&mut Reader::init(&list)).unwrap();
        let rejected = rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::ServerRejectedEncryptedClientHello(Some(configs)),
        );
        let error = io::Error::new(io::ErrorKind::InvalidData, rejected);
        assert_eq!(retry_configs(&error), Some(list));

        let without = rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::ServerRejectedEncryptedClientHello(None),
        );
        let error = io::Error::new(io::ErrorKind::InvalidData, without);
        assert_eq!(retry_configs(&error), None);
        assert_eq!(retry_configs(&io::Error::other("refused")), None);
    }
}
