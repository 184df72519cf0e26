//! `staggered::net::HttpsConnector` (issue 22, feature `net-tls`) against real servers on
//! loopback: the DNS server of `support/dns.rs` with HTTPS records, rustls servers with
//! rcgen certificates, listeners that accept TCP and never answer the ClientHello, and a
//! listener that captures the ClientHello bytes. The scenarios of Mozilla's `happy-eyeballs`
//! test suite that apply to TCP and TLS (hints, ports, ALPN, target names, ECH propagation,
//! no plain-TLS fallback when ECH is advertised, the resolution delay on the HTTPS answer),
//! and two it lacks: a stalled handshake loses to a slower one that finishes, and a late
//! answer re-sorts the endpoints not yet tried.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_server::proto::rr::rdata::svcb::{
    Alpn, EchConfigList, IpHint, SvcParamKey, SvcParamValue, SVCB,
};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::Name;
use hyper_util::client::legacy::connect::{Connection, HttpInfo};
use staggered::net::{
    ConnectEvent, HappyEyeballs, HickoryResolver, HttpsConnector, HttpsInfo, HttpsStream, Tokio,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_service::Service;

#[path = "support/dns.rs"]
mod dns;

use dns::{Answer, DnsServer, Family};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The ring provider (it builds with a C compiler alone), for both ends.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for `a.test` and `public.test`: the server's config (offering
/// `alpn`) and the roots a client trusts.
fn certificate(alpn: &[&str]) -> (Arc<rustls::ServerConfig>, rustls::RootCertStore) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["a.test".to_owned(), "public.test".to_owned()])
            .unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    server.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (Arc::new(server), roots)
}

/// A TLS server on `ip` (port chosen by the system, or `port`): finishes each handshake and
/// holds the connection until the client closes it. Counts the handshakes.
struct TlsServer {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl TlsServer {
    async fn start(ip: IpAddr, port: u16, config: Arc<rustls::ServerConfig>) -> TlsServer {
        let listener = tokio::net::TcpListener::bind((ip, port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (h, a) = (handshakes.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                a.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let h = h.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        h.fetch_add(1, Ordering::SeqCst);
                        let mut buf = [0u8; 64];
                        while let Ok(n) = tls.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    }
                });
            }
        });
        TlsServer {
            addr,
            handshakes,
            accepted,
            _task: task,
        }
    }
}

/// A listener that never accepts: the kernel completes the TCP handshake (backlog), and the
/// ClientHello is never answered. A server that stalls the TLS handshake.
fn stalling(ip: IpAddr, port: u16) -> std::net::TcpListener {
    std::net::TcpListener::bind((ip, port)).unwrap()
}

/// A listener that reads one TLS record (the ClientHello) from each connection, keeps its
/// bytes, and closes the connection.
struct Capture {
    addr: SocketAddr,
    hellos: Arc<Mutex<Vec<Vec<u8>>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Capture {
    async fn start(ip: IpAddr, port: u16) -> Capture {
        let listener = tokio::net::TcpListener::bind((ip, port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hellos = Arc::new(Mutex::new(Vec::new()));
        let keep = hellos.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let mut header = [0u8; 5];
                if tcp.read_exact(&mut header).await.is_err() {
                    continue;
                }
                let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
                let mut body = vec![0u8; len];
                if tcp.read_exact(&mut body).await.is_ok() {
                    keep.lock().unwrap().push(body);
                }
                let _ = tcp.shutdown().await;
            }
        });
        Capture {
            addr,
            hellos,
            _task: task,
        }
    }
}

/// The extensions of a ClientHello handshake message (the record's body), as (type, data).
fn extensions(hello: &[u8]) -> Vec<(u16, Vec<u8>)> {
    assert_eq!(hello[0], 1, "a ClientHello");
    let mut at = 4 + 2 + 32; // handshake header, version, random
    at += 1 + usize::from(hello[at]); // session id
    at += 2 + usize::from(u16::from_be_bytes([hello[at], hello[at + 1]])); // cipher suites
    at += 1 + usize::from(hello[at]); // compression methods
    let end = at + 2 + usize::from(u16::from_be_bytes([hello[at], hello[at + 1]]));
    at += 2;
    let mut out = Vec::new();
    while at + 4 <= end {
        let kind = u16::from_be_bytes([hello[at], hello[at + 1]]);
        let len = usize::from(u16::from_be_bytes([hello[at + 2], hello[at + 3]]));
        out.push((kind, hello[at + 4..at + 4 + len].to_vec()));
        at += 4 + len;
    }
    out
}

/// The server name of a ClientHello's SNI extension.
fn sni(hello: &[u8]) -> Option<String> {
    let (_, data) = extensions(hello).into_iter().find(|(kind, _)| *kind == 0)?;
    let len = usize::from(u16::from_be_bytes([data[3], data[4]]));
    Some(String::from_utf8(data[5..5 + len].to_vec()).unwrap())
}

/// An ECHConfigList of one ECHConfig (version 0xfe0d): `config_id`, X25519 with
/// HKDF-SHA256 and AES-128-GCM, a public key nobody holds the private half of, and
/// `public_name`.
fn ech_config_list(config_id: u8, public_name: &str) -> Vec<u8> {
    let mut contents = vec![config_id];
    contents.extend(0x0020u16.to_be_bytes()); // DHKEM(X25519, HKDF-SHA256)
    contents.extend(32u16.to_be_bytes());
    contents.extend([0x42u8; 32]);
    contents.extend(4u16.to_be_bytes());
    contents.extend(0x0001u16.to_be_bytes()); // HKDF-SHA256
    contents.extend(0x0001u16.to_be_bytes()); // AES-128-GCM
    contents.push(0); // maximum_name_length
    contents.push(public_name.len() as u8);
    contents.extend(public_name.as_bytes());
    contents.extend(0u16.to_be_bytes()); // no extensions
    let mut config = Vec::from(0xfe0du16.to_be_bytes());
    config.extend((contents.len() as u16).to_be_bytes());
    config.extend(contents);
    let mut list = Vec::from((config.len() as u16).to_be_bytes());
    list.extend(config);
    list
}

/// An HTTPS record: `priority`, `target` (`"."` for the owner), the parameters.
fn https(priority: u16, target: &str, params: Vec<SvcParamValue>) -> SVCB {
    let target = if target == "." {
        Name::root()
    } else {
        Name::from_ascii(format!("{target}.")).unwrap()
    };
    let params = params
        .into_iter()
        .map(|value| {
            let key = match &value {
                SvcParamValue::Alpn(_) => SvcParamKey::Alpn,
                SvcParamValue::NoDefaultAlpn => SvcParamKey::NoDefaultAlpn,
                SvcParamValue::Port(_) => SvcParamKey::Port,
                SvcParamValue::Ipv4Hint(_) => SvcParamKey::Ipv4Hint,
                SvcParamValue::Ipv6Hint(_) => SvcParamKey::Ipv6Hint,
                SvcParamValue::EchConfigList(_) => SvcParamKey::EchConfigList,
                other => panic!("not used here: {other:?}"),
            };
            (key, value)
        })
        .collect::<Vec<_>>();
    // On the wire the keys go in increasing order (RFC 9460 §2.2); a resolver drops a
    // message that has them otherwise.
    let mut params = params;
    params.sort_by_key(|(key, _)| u16::from(*key));
    SVCB::new(priority, target, params)
}

fn alpn(protocols: &[&str]) -> SvcParamValue {
    SvcParamValue::Alpn(Alpn(protocols.iter().map(|p| p.to_string()).collect()))
}

fn hint4(ips: &[u8]) -> SvcParamValue {
    SvcParamValue::Ipv4Hint(IpHint(
        ips.iter()
            .map(|last| A(Ipv4Addr::new(127, 0, 0, *last)))
            .collect(),
    ))
}

/// The connector under test: hickory against the loopback DNS server, ECH suites from
/// aws-lc-rs, the events into `log` (milliseconds since `start`, text).
fn https_connector(
    dns: &DnsServer,
    roots: rustls::RootCertStore,
    tune: impl FnOnce(HappyEyeballs<Tokio, HickoryResolver>) -> HappyEyeballs<Tokio, HickoryResolver>,
) -> (HttpsConnector<HickoryResolver>, Arc<Mutex<Vec<String>>>) {
    https_connector_with(dns, roots, true, tune)
}

/// [`https_connector`], with the ECH suites or without them (`ech`: false is
/// `HttpsConnector::new`'s default, as with ring alone).
fn https_connector_with(
    dns: &DnsServer,
    roots: rustls::RootCertStore,
    ech: bool,
    tune: impl FnOnce(HappyEyeballs<Tokio, HickoryResolver>) -> HappyEyeballs<Tokio, HickoryResolver>,
) -> (HttpsConnector<HickoryResolver>, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let keep = log.clone();
    let happy_eyeballs = HappyEyeballs::new(Tokio)
        .resolver(HickoryResolver::new(dns.resolver().unwrap()))
        .on_event(move |event| {
            let at = start.elapsed().as_millis();
            let line = match event {
                ConnectEvent::HttpsRecords { name, result } => {
                    format!("{at} https {name} {:?}", result.map(|r| r.len()))
                }
                ConnectEvent::Started { addr, .. } => format!("{at} started {addr}"),
                ConnectEvent::Won { addr, .. } => format!("{at} won {addr}"),
                ConnectEvent::Failed { addr, error, .. } => format!("{at} failed {addr}: {error}"),
                other => format!("{at} {other:?}"),
            };
            keep.lock().unwrap().push(line);
        });
    let connector = HttpsConnector::new(provider(), roots);
    let connector = if ech {
        connector.ech_suites(rustls::crypto::aws_lc_rs::hpke::ALL_SUPPORTED_SUITES)
    } else {
        connector
    };
    (connector.happy_eyeballs(tune(happy_eyeballs)), log)
}

async fn connect(
    connector: &mut HttpsConnector<HickoryResolver>,
    uri: &str,
) -> Result<HttpsStream, staggered::net::ConnectError> {
    connector
        .call(uri.parse().unwrap())
        .await
        .map(|io| io.into_inner())
}

fn started(log: &Mutex<Vec<String>>) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|line| line.split_once(" started ").map(|(_, a)| a.to_owned()))
        .collect()
}

/// The record's `port` is where the connect goes, not the URI's; its ALPN (`h2`) is
/// offered and negotiated, and hyper-util hears of h2 (`negotiated_h2`) and gets the
/// `HttpsInfo` beside its own `HttpInfo`.
#[tokio::test]
async fn the_records_port_and_alpn() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let server = TlsServer::start(v4(1), 0, config).await;
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(1)]));
    // Port 1 on the URI: nothing listens there; its HTTPS records are at `_1._https.a.test`
    // (RFC 9460 §9.1), and "." there is `a.test`.
    dns.answer_https(
        "_1._https.a.test",
        ms(0),
        vec![https(
            1,
            ".",
            vec![alpn(&["h3", "h2"]), SvcParamValue::Port(server.addr.port())],
        )],
    );
    let (mut connector, _log) = https_connector(&dns, roots, |he| he);
    let stream = connect(&mut connector, "https://a.test:1/").await.unwrap();
    let info = stream.info().clone();
    assert_eq!(info.remote_addr, server.addr);
    assert_eq!(info.alpn.as_deref(), Some(&b"h2"[..]));
    assert!(info.h3_advertised);
    assert!(!info.from_hint);
    let connected = stream.connected();
    assert!(connected.is_negotiated_h2());
    let mut extensions = http::Extensions::new();
    connected.get_extras(&mut extensions);
    assert_eq!(extensions.get::<HttpsInfo>(), Some(&info));
    assert_eq!(
        extensions.get::<HttpInfo>().unwrap().remote_addr(),
        server.addr
    );
    for _ in 0..100 {
        if server.handshakes.load(Ordering::SeqCst) == 1 {
            return;
        }
        tokio::time::sleep(ms(10)).await;
    }
    panic!("the server saw no handshake");
}

/// ALPN per record: a record with only `h3` (`no-default-alpn`) is skipped, though it has
/// the better priority; a record with `http/1.1` only offers just that, so the server, which
/// prefers h2, answers `http/1.1`.
#[tokio::test]
async fn alpn_per_record_and_records_without_a_tcp_protocol_skipped() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let h3_only = TlsServer::start(v4(1), 0, config.clone()).await;
    let h1 = TlsServer::start(v4(1), 0, config).await;
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(1)]));
    dns.answer_https(
        "a.test",
        ms(0),
        vec![
            https(
                1,
                ".",
                vec![
                    alpn(&["h3"]),
                    SvcParamValue::NoDefaultAlpn,
                    SvcParamValue::Port(h3_only.addr.port()),
                ],
            ),
            https(
                2,
                ".",
                vec![
                    alpn(&["http/1.1"]),
                    SvcParamValue::NoDefaultAlpn,
                    SvcParamValue::Port(h1.addr.port()),
                ],
            ),
        ],
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he);
    let stream = connect(&mut connector, "https://a.test/").await.unwrap();
    assert_eq!(stream.info().remote_addr, h1.addr);
    assert_eq!(stream.info().alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(!stream.connected().is_negotiated_h2());
    assert_eq!(
        h3_only.accepted.load(Ordering::SeqCst),
        0,
        "{:?}",
        log.lock().unwrap()
    );
}

/// `ipv4hint` stands in while the A answer is out (here 1 s late): the connect is done on
/// the hint long before the answer.
#[tokio::test]
async fn hints_stand_in_until_the_addresses_arrive() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let server = TlsServer::start(v4(2), 0, config).await;
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(1000), Answer::Addrs(vec![v4(2)]));
    dns.answer("a.test", Family::V6, ms(1000), Answer::Empty);
    dns.answer_https(
        "a.test",
        ms(0),
        vec![https(
            1,
            ".",
            vec![hint4(&[2]), SvcParamValue::Port(server.addr.port())],
        )],
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he);
    let t0 = Instant::now();
    let stream = connect(&mut connector, "https://a.test/")
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?} {:?}", log.lock().unwrap(), dns.queries()));
    let took = t0.elapsed();
    assert_eq!(stream.info().remote_addr, server.addr);
    assert!(stream.info().from_hint);
    assert!(took < ms(500), "took {took:?}: {:?}", log.lock().unwrap());
    // The Resolution Delay was waited for (no AAAA answer yet), not the addresses.
    assert!(took >= ms(45), "took {took:?}");
}

/// A ServiceMode TargetName: its own A answer gives the address (the origin's address
/// refuses); an AliasMode record is followed to the alias's ServiceMode record; an alias
/// loop ends with the last name's addresses instead of hanging.
#[tokio::test]
async fn target_names_and_aliases_are_followed() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let server = TlsServer::start(v4(3), 0, config.clone()).await;
    let port = server.addr.port();
    let dns = DnsServer::start().await.unwrap();
    // ServiceMode with a TargetName.
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(9)]));
    dns.answer_https(
        "a.test",
        ms(0),
        vec![https(1, "svc.b.test", vec![SvcParamValue::Port(port)])],
    );
    dns.answer("svc.b.test", Family::V4, ms(0), Answer::Addrs(vec![v4(3)]));
    let (mut connector, log) = https_connector(&dns, roots.clone(), |he| he);
    let stream = connect(&mut connector, "https://a.test/").await.unwrap();
    assert_eq!(
        stream.info().remote_addr,
        server.addr,
        "{:?}",
        log.lock().unwrap()
    );
    drop(stream);

    // AliasMode, then ServiceMode at the alias.
    let aliased = TlsServer::start(v4(4), 0, config.clone()).await;
    dns.answer_https("a.test", ms(0), vec![https(0, "alias.test", vec![])]);
    dns.answer_https(
        "alias.test",
        ms(0),
        vec![https(
            1,
            ".",
            vec![SvcParamValue::Port(aliased.addr.port())],
        )],
    );
    dns.answer("alias.test", Family::V4, ms(0), Answer::Addrs(vec![v4(4)]));
    let (mut connector, log) = https_connector(&dns, roots.clone(), |he| he);
    let stream = connect(&mut connector, "https://a.test/").await.unwrap();
    assert_eq!(
        stream.info().remote_addr,
        aliased.addr,
        "{:?}",
        log.lock().unwrap()
    );
    drop(stream);

    // An alias loop: _port._https.a.test -> loop.test -> a.test -> loop.test -> ...
    let direct = TlsServer::start(v4(9), 0, config).await;
    let port = direct.addr.port();
    dns.answer_https(
        &format!("_{port}._https.a.test"),
        ms(0),
        vec![https(0, "loop.test", vec![])],
    );
    dns.answer_https("a.test", ms(0), vec![https(0, "loop.test", vec![])]);
    dns.answer_https("loop.test", ms(0), vec![https(0, "a.test", vec![])]);
    let (mut connector, log) = https_connector(&dns, roots, |he| he);
    let uri = format!("https://a.test:{port}/");
    let https_queries = || dns.queries().iter().filter(|q| q.2 == "HTTPS").count();
    let before = https_queries();
    let stream = tokio::time::timeout(ms(3000), connect(&mut connector, &uri))
        .await
        .expect("an alias loop must not hang")
        .unwrap();
    assert_eq!(
        stream.info().remote_addr,
        direct.addr,
        "{:?}",
        log.lock().unwrap()
    );
    // The loop was followed, and given up after MAX_ALIAS_HOPS (4) hops: the origin's
    // query and at most 4 more.
    let asked = https_queries() - before;
    assert!(
        (3..=5).contains(&asked),
        "{asked} HTTPS queries: {:?}",
        dns.queries()
    );
}

/// ECH propagation: the record's ECHConfigList goes into the ClientHello. A listener on
/// loopback captures it: the ECH extension (0xfe0d) is there, an outer one (type 0) with the
/// record's config id, and the SNI of the outer hello is the config's public name, not the
/// origin's.
#[tokio::test]
async fn ech_is_sent_with_the_records_config() {
    let (_, roots) = certificate(&["h2", "http/1.1"]);
    let capture = Capture::start(v4(5), 0).await;
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(5)]));
    dns.answer_https(
        "a.test",
        ms(0),
        vec![https(
            1,
            ".",
            vec![
                SvcParamValue::Port(capture.addr.port()),
                SvcParamValue::EchConfigList(EchConfigList(ech_config_list(0x2a, "public.test"))),
            ],
        )],
    );
    let (mut connector, _log) = https_connector(&dns, roots, |he| he);
    let error = connect(&mut connector, "https://a.test/")
        .await
        .unwrap_err();
    let hellos = capture.hellos.lock().unwrap().clone();
    assert_eq!(hellos.len(), 1, "{error}");
    let ech = extensions(&hellos[0])
        .into_iter()
        .find(|(kind, _)| *kind == 0xfe0d)
        .expect("the ECH extension (0xfe0d) in the ClientHello");
    // ECHClientHello: type 0 (outer), cipher suite (HKDF-SHA256, AES-128-GCM), config id.
    assert_eq!(ech.1[0], 0, "an outer ECH extension");
    assert_eq!(&ech.1[1..5], &[0, 1, 0, 1]);
    assert_eq!(ech.1[5], 0x2a, "the record's config id");
    assert_eq!(sni(&hellos[0]).as_deref(), Some("public.test"));
}

/// When a record advertises ECH, no endpoint falls back to plain TLS: the record without
/// `ech` (a working server) and the origin's own address on the URI's port (another) are
/// never tried, and the ECH endpoint's failure is the connect's.
#[tokio::test]
async fn no_plain_tls_fallback_when_ech_is_advertised() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let capture = Capture::start(v4(6), 0).await;
    let plain = TlsServer::start(v4(6), 0, config.clone()).await;
    let origin = TlsServer::start(v4(6), 0, config).await;
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(6)]));
    dns.answer_https(
        &format!("_{}._https.a.test", origin.addr.port()),
        ms(0),
        vec![
            https(
                2,
                ".",
                vec![
                    SvcParamValue::Port(capture.addr.port()),
                    SvcParamValue::EchConfigList(EchConfigList(ech_config_list(1, "public.test"))),
                ],
            ),
            https(1, ".", vec![SvcParamValue::Port(plain.addr.port())]),
        ],
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he);
    let uri = format!("https://a.test:{}/", origin.addr.port());
    let error = connect(&mut connector, &uri).await.unwrap_err();
    assert_eq!(error.attempts().len(), 1, "{error}");
    assert_eq!(error.attempts()[0].0, capture.addr);
    assert_eq!(
        plain.accepted.load(Ordering::SeqCst),
        0,
        "{:?}",
        log.lock().unwrap()
    );
    assert_eq!(origin.accepted.load(Ordering::SeqCst), 0);
    let hellos = capture.hellos.lock().unwrap().clone();
    assert!(hellos
        .iter()
        .all(|h| extensions(h).iter().any(|(k, _)| *k == 0xfe0d)));
}

/// A TLS server on `ip` that waits `stall` after accepting each connection before it reads
/// the ClientHello, then finishes the handshake and holds the connection a while. Counts the
/// handshakes it finished.
async fn slow_server(
    ip: IpAddr,
    stall: Duration,
    config: Arc<rustls::ServerConfig>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let done = handshakes.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, done) = (acceptor.clone(), done.clone());
            tokio::spawn(async move {
                tokio::time::sleep(stall).await;
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    done.fetch_add(1, Ordering::SeqCst);
                    let _ = tls.read(&mut [0u8; 8]).await;
                }
            });
        }
    });
    (addr, handshakes)
}

/// Waits (up to 5 s) until `counter` reaches `want`; false if it does not.
async fn reaches(counter: &AtomicUsize, want: usize) -> bool {
    for _ in 0..500 {
        if counter.load(Ordering::SeqCst) >= want {
            return true;
        }
        tokio::time::sleep(ms(10)).await;
    }
    false
}

/// An HTTPS answer with ECH that comes after the Resolution Delay (at 400 ms): the
/// plain-TLS attempt on the origin's address started before it (at about 50 ms; the server
/// waits 600 ms before it handshakes), and its finished handshake is not used: no plain-TLS
/// fallback, even late.
#[tokio::test]
async fn a_late_ech_answer_refuses_a_plain_handshake_in_flight() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let capture = Capture::start(v4(8), 0).await;
    let (slow, handshakes) = slow_server(v4(8), ms(600), config).await;
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(8)]));
    dns.answer("a.test", Family::V6, ms(0), Answer::Empty);
    dns.answer_https(
        &format!("_{}._https.a.test", slow.port()),
        ms(400),
        vec![https(
            1,
            ".",
            vec![
                SvcParamValue::Port(capture.addr.port()),
                SvcParamValue::EchConfigList(EchConfigList(ech_config_list(3, "public.test"))),
            ],
        )],
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he);
    let uri = format!("https://a.test:{}/", slow.port());
    let error = connect(&mut connector, &uri).await.unwrap_err();
    let log = log.lock().unwrap().clone();
    assert_eq!(error.attempts().len(), 2, "{error}: {log:?}");
    assert_eq!(error.attempts()[0].0, slow, "{log:?}");
    assert_eq!(
        error.attempts()[0].1.kind(),
        io::ErrorKind::PermissionDenied,
        "{error}"
    );
    assert_eq!(error.attempts()[1].0, capture.addr);
    assert!(
        reaches(&handshakes, 1).await,
        "the plain handshake did finish: {log:?}"
    );
}

/// The common case of a late ECH answer: the HTTPS record with ECH is for the very address
/// and port the plain attempt (started on the A answer, after the Resolution Delay) went
/// to. The plain attempt does not count as trying the ECH endpoint: a second handshake goes
/// to the same address, with ECH.
#[tokio::test]
async fn a_late_ech_answer_on_the_plain_attempts_address_is_tried() {
    let (_, roots) = certificate(&["h2", "http/1.1"]);
    let capture = Capture::start(v4(12), 0).await;
    let port = capture.addr.port();
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(12)]));
    dns.answer("a.test", Family::V6, ms(0), Answer::Empty);
    dns.answer_https(
        &format!("_{port}._https.a.test"),
        ms(400),
        vec![https(
            1,
            ".",
            vec![SvcParamValue::EchConfigList(EchConfigList(
                ech_config_list(4, "public.test"),
            ))],
        )],
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he);
    let uri = format!("https://a.test:{port}/");
    let error = tokio::time::timeout(ms(5000), connect(&mut connector, &uri))
        .await
        .expect("the connect ends")
        .unwrap_err();
    let log = log.lock().unwrap().clone();
    assert_eq!(error.attempts().len(), 2, "{error}: {log:?}");
    assert!(error.attempts().iter().all(|(a, _)| *a == capture.addr));
    let hellos = capture.hellos.lock().unwrap().clone();
    assert_eq!(hellos.len(), 2, "{error}: {log:?}");
    assert!(!extensions(&hellos[0]).iter().any(|(k, _)| *k == 0xfe0d));
    assert!(extensions(&hellos[1]).iter().any(|(k, _)| *k == 0xfe0d));
}

/// A connector without HPKE suites (`HttpsConnector::new`'s default; ring has none) cannot
/// do ECH, so it ignores the record's `ech` and connects with plain TLS to the record's
/// endpoint.
#[tokio::test]
async fn without_hpke_suites_ech_is_ignored() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let server = TlsServer::start(v4(13), 0, config).await;
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(13)]));
    dns.answer_https(
        "a.test",
        ms(0),
        vec![https(
            1,
            ".",
            vec![
                SvcParamValue::Port(server.addr.port()),
                SvcParamValue::EchConfigList(EchConfigList(ech_config_list(5, "public.test"))),
            ],
        )],
    );
    let (mut connector, log) = https_connector_with(&dns, roots, false, |he| he);
    let stream = connect(&mut connector, "https://a.test/")
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?}", log.lock().unwrap()));
    assert_eq!(stream.info().remote_addr, server.addr);
    assert!(!stream.info().ech_accepted);
}

/// ECH advertised, and every record with ECH offers no protocol over TCP (h3 only): the
/// error says so, instead of "no addresses".
#[tokio::test]
async fn ech_on_h3_only_records_is_a_specific_error() {
    let (_, roots) = certificate(&["h2", "http/1.1"]);
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(16)]));
    dns.answer_https(
        "a.test",
        ms(0),
        vec![https(
            1,
            ".",
            vec![
                alpn(&["h3"]),
                SvcParamValue::NoDefaultAlpn,
                SvcParamValue::EchConfigList(EchConfigList(ech_config_list(6, "public.test"))),
            ],
        )],
    );
    let (mut connector, _log) = https_connector(&dns, roots, |he| he);
    let error = connect(&mut connector, "https://a.test/")
        .await
        .unwrap_err();
    assert!(error.attempts().is_empty(), "{error}");
    assert!(error.to_string().contains("advertise ECH"), "{error}");
}

/// The HTTPS query of a URI on another port than 443 is `_{port}._https.{host}` (RFC 9460
/// §9.1), and a TargetName of "." there is the host: the host's own records (pointing to
/// port 1, where nothing listens) are not used.
#[tokio::test]
async fn the_https_query_has_the_port_prefix_off_443() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let server = TlsServer::start(v4(14), 0, config).await;
    let port = server.addr.port();
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(14)]));
    dns.answer_https(
        "a.test",
        ms(0),
        vec![https(1, ".", vec![SvcParamValue::Port(1)])],
    );
    let prefixed = format!("_{port}._https.a.test");
    dns.answer_https(&prefixed, ms(0), vec![https(1, ".", vec![alpn(&["h2"])])]);
    let (mut connector, log) = https_connector(&dns, roots, |he| he);
    let stream = connect(&mut connector, &format!("https://a.test:{port}/"))
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?} {:?}", log.lock().unwrap(), dns.queries()));
    assert_eq!(stream.info().remote_addr, server.addr);
    assert_eq!(stream.info().alpn.as_deref(), Some(&b"h2"[..]));
    let https: Vec<String> = dns
        .queries()
        .into_iter()
        .filter(|q| q.2 == "HTTPS")
        .map(|q| q.1)
        .collect();
    assert_eq!(https, [format!("{prefixed}.")]);
}

/// Once the preferred family and the HTTPS query have answered, connecting starts and the
/// Resolution Delay no longer runs: no `ResolutionDelayPassed` later, while the attempt
/// (a server that handshakes after 900 ms) and a lookup (another target's) are still going.
#[tokio::test]
async fn no_resolution_delay_event_after_the_release() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let (slow, _) = slow_server(v4(15), ms(900), config).await;
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(15)]));
    dns.answer("a.test", Family::V6, ms(50), Answer::Empty);
    // A second service whose A answer is out until after the connect: the lookups go on
    // past the delay.
    dns.answer_https(
        &format!("_{}._https.a.test", slow.port()),
        ms(50),
        vec![https(1, ".", vec![]), https(2, "other.test", vec![])],
    );
    dns.answer(
        "other.test",
        Family::V4,
        ms(3000),
        Answer::Addrs(vec![v4(19)]),
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he.resolution_delay(ms(500)));
    let stream = connect(&mut connector, &format!("https://a.test:{}/", slow.port()))
        .await
        .unwrap();
    assert_eq!(stream.info().remote_addr, slow);
    let log = log.lock().unwrap().clone();
    assert!(
        log.iter().any(|l| l.contains("ResolutionDelayStarted")),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("ResolutionDelayPassed")),
        "{log:?}"
    );
}

/// The Resolution Delay passes while the list is empty (the HTTPS answer named a target
/// whose addresses are not in yet, and no hints): connecting is not released on it; when
/// the target's A answer fills the list and its AAAA is still out, a fresh delay starts.
#[tokio::test]
async fn a_resolution_delay_that_passes_on_an_empty_list_starts_again() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let server = TlsServer::start(v4(17), 0, config).await;
    let port = server.addr.port();
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(18)]));
    dns.answer("a.test", Family::V6, ms(0), Answer::Empty);
    dns.answer_https(
        &format!("_{port}._https.a.test"),
        ms(150),
        vec![https(1, "svc.test", vec![])],
    );
    dns.answer("svc.test", Family::V4, ms(800), Answer::Addrs(vec![v4(17)]));
    dns.answer("svc.test", Family::V6, ms(2000), Answer::Empty);
    let (mut connector, log) = https_connector(&dns, roots, |he| he.resolution_delay(ms(400)));
    let stream = connect(&mut connector, &format!("https://a.test:{port}/"))
        .await
        .unwrap();
    assert_eq!(stream.info().remote_addr, server.addr);
    let log = log.lock().unwrap().clone();
    let starts = log
        .iter()
        .filter(|l| l.contains("ResolutionDelayStarted"))
        .count();
    assert_eq!(starts, 2, "{log:?}");
}

/// The Resolution Delay applies to the HTTPS answer: an HTTPS answer 20 ms after A (and
/// AAAA) is waited for, and its `port` is used (here with the delay set to 300 ms, so that a
/// loaded machine does not turn 20 ms into 50); one 600 ms late is not, and the connect goes
/// to the URI's port at the default Resolution Delay (50 ms).
#[tokio::test]
async fn the_resolution_delay_waits_for_the_https_answer() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let record = TlsServer::start(v4(7), 0, config.clone()).await;
    let origin = TlsServer::start(v4(7), 0, config).await;
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(7)]));
    dns.answer("a.test", Family::V6, ms(0), Answer::Empty);
    let uri = format!("https://a.test:{}/", origin.addr.port());

    let name = format!("_{}._https.a.test", origin.addr.port());
    dns.answer_https(
        &name,
        ms(20),
        vec![https(1, ".", vec![SvcParamValue::Port(record.addr.port())])],
    );
    let (mut connector, log) =
        https_connector(&dns, roots.clone(), |he| he.resolution_delay(ms(300)));
    let stream = connect(&mut connector, &uri).await.unwrap();
    assert_eq!(
        stream.info().remote_addr,
        record.addr,
        "{:?}",
        log.lock().unwrap()
    );

    dns.answer_https(
        &name,
        ms(600),
        vec![https(1, ".", vec![SvcParamValue::Port(record.addr.port())])],
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he);
    let t0 = Instant::now();
    let stream = connect(&mut connector, &uri).await.unwrap();
    let took = t0.elapsed();
    assert_eq!(
        stream.info().remote_addr,
        origin.addr,
        "{:?}",
        log.lock().unwrap()
    );
    assert!(took >= ms(45) && took < ms(600), "took {took:?}");
}

/// HEv3: success is a finished handshake. The first address accepts TCP and never answers
/// the ClientHello; the second, started an attempt delay later, finishes its handshake and
/// wins. (A TCP-only race would have handed the stalled connection to TLS and hung.)
#[tokio::test]
async fn a_stalled_handshake_loses_to_a_slower_one_that_finishes() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let good = TlsServer::start(v4(11), 0, config).await;
    let _stalled = stalling(v4(10), good.addr.port());
    let dns = DnsServer::start().await.unwrap();
    dns.answer(
        "a.test",
        Family::V4,
        ms(0),
        Answer::Addrs(vec![v4(10), v4(11)]),
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he.attempt_delay(ms(100)));
    let t0 = Instant::now();
    let uri = format!("https://a.test:{}/", good.addr.port());
    let stream = connect(&mut connector, &uri).await.unwrap();
    let took = t0.elapsed();
    assert_eq!(stream.info().remote_addr, good.addr);
    let started = started(&log);
    assert_eq!(
        started[0],
        SocketAddr::new(v4(10), good.addr.port()).to_string(),
        "{:?}",
        log.lock().unwrap()
    );
    assert!(took >= ms(95), "took {took:?}");
}

/// A late answer re-sorts what is not tried yet: the origin's four addresses (all stalling
/// the handshake) are in at once, the priority-1 target's address 600 ms later; the attempts
/// started before it (at 0 and 400 ms, the attempt delay) stay, and the priority-1 address
/// goes ahead of the origin's untried ones (at 800 ms). 200 ms or more between the events.
#[tokio::test]
async fn a_late_answer_resorts_the_untried_endpoints() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let good = TlsServer::start(v4(22), 0, config).await;
    let port = good.addr.port();
    let _stalled: Vec<_> = [20, 21, 23, 24].map(|last| stalling(v4(last), port)).into();
    let dns = DnsServer::start().await.unwrap();
    dns.answer(
        "a.test",
        Family::V4,
        ms(0),
        Answer::Addrs([20, 21, 23, 24].map(v4).into()),
    );
    dns.answer("a.test", Family::V6, ms(0), Answer::Empty);
    dns.answer("svc.test", Family::V4, ms(600), Answer::Addrs(vec![v4(22)]));
    dns.answer("svc.test", Family::V6, ms(0), Answer::Empty);
    dns.answer_https(
        &format!("_{port}._https.a.test"),
        ms(0),
        vec![https(1, "svc.test", vec![]), https(2, ".", vec![])],
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he.attempt_delay(ms(400)));
    let uri = format!("https://a.test:{port}/");
    let stream = tokio::time::timeout(ms(5000), connect(&mut connector, &uri))
        .await
        .unwrap_or_else(|_| panic!("no winner: {:?} {:?}", log.lock().unwrap(), dns.queries()))
        .unwrap();
    assert_eq!(stream.info().remote_addr, good.addr);
    let started = started(&log);
    let at = |last: u8| SocketAddr::new(v4(last), port).to_string();
    assert_eq!(started[..2], [at(20), at(21)], "{:?}", log.lock().unwrap());
    assert_eq!(started[2], at(22), "{:?}", log.lock().unwrap());
}

/// The HTTPS records as `HickoryResolver` decodes them from the wire.
#[tokio::test]
async fn hickory_decodes_https_records() -> io::Result<()> {
    use staggered::net::{HttpsRecord, Resolve};
    let dns = DnsServer::start().await?;
    dns.answer_https(
        "a.test",
        ms(0),
        vec![
            https(
                1,
                "svc.test",
                vec![
                    alpn(&["h3", "h2"]),
                    SvcParamValue::NoDefaultAlpn,
                    SvcParamValue::Port(8443),
                    hint4(&[1, 2]),
                    SvcParamValue::EchConfigList(EchConfigList(vec![1, 2, 3])),
                ],
            ),
            https(0, "alias.test", vec![]),
        ],
    );
    let resolver = HickoryResolver::new(dns.resolver()?);
    let mut records = resolver.lookup_https("a.test").await?;
    records.sort_by_key(|r| r.priority);
    assert_eq!(
        records,
        [HttpsRecord::alias("alias.test"), {
            let mut r = HttpsRecord::service(1, "svc.test");
            r.port = Some(8443);
            r.alpn = vec!["h3".into(), "h2".into()];
            r.no_default_alpn = true;
            r.ipv4hint = vec![Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2)];
            r.ech = Some(vec![1, 2, 3]);
            r
        },]
    );
    // A name without records: none.
    dns.answer("plain.test", Family::V4, ms(0), Answer::Addrs(vec![v4(1)]));
    assert_eq!(resolver.lookup_https("plain.test").await?, []);
    Ok(())
}

/// Through hyper-util's legacy client: a GET over the connector, the response carrying the
/// `HttpsInfo` of its connection.
#[tokio::test]
async fn through_hyper_utils_client() {
    use http_body_util_free::body_text;
    let (config, roots) = certificate(&["http/1.1"]);
    let listener = tokio::net::TcpListener::bind((v4(30), 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        "hello over HEv3".to_owned(),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(30)]));
    dns.answer_https(
        "a.test",
        ms(0),
        vec![https(1, ".", vec![SvcParamValue::Port(addr.port())])],
    );
    let (connector, _log) = https_connector(&dns, roots, |he| he);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, String>(connector);
    let response = client
        .get("https://a.test/".parse().unwrap())
        .await
        .unwrap();
    let info = response.extensions().get::<HttpsInfo>().unwrap().clone();
    assert_eq!(info.remote_addr, addr);
    assert_eq!(info.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(body_text(response.into_body()).await, "hello over HEv3");
}

/// The body of a response as text, without a body-utilities crate.
mod http_body_util_free {
    pub async fn body_text(body: hyper::body::Incoming) -> String {
        let mut body = std::pin::pin!(body);
        let mut out = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| hyper::body::Body::poll_frame(body.as_mut(), cx)).await
        {
            if let Ok(data) = frame.unwrap().into_data() {
                out.extend_from_slice(&data);
            }
        }
        String::from_utf8(out).unwrap()
    }
}

/// The attempt delay is clamped to 2 s (HEv3): set to 60 s, the second endpoint still
/// starts 2 s after the first, which stalls its handshake.
#[tokio::test]
async fn the_attempt_delay_is_clamped_to_two_seconds() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let good = TlsServer::start(v4(51), 0, config).await;
    let _stalled = stalling(v4(50), good.addr.port());
    let dns = DnsServer::start().await.unwrap();
    dns.answer(
        "a.test",
        Family::V4,
        ms(0),
        Answer::Addrs(vec![v4(50), v4(51)]),
    );
    dns.answer("a.test", Family::V6, ms(0), Answer::Empty);
    let (mut connector, log) =
        https_connector(&dns, roots, |he| he.attempt_delay(Duration::from_secs(60)));
    let t0 = Instant::now();
    let uri = format!("https://a.test:{}/", good.addr.port());
    let stream = tokio::time::timeout(ms(5000), connect(&mut connector, &uri))
        .await
        .expect("the 60 s delay is clamped")
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(
        stream.info().remote_addr,
        good.addr,
        "{:?}",
        log.lock().unwrap()
    );
    assert!(took >= ms(1990) && took < ms(2500), "took {took:?}");
}

/// Both families of hints, A and AAAA 1 s late: IPv6 goes first within the group (RFC 6724
/// and interleaving), and wins on its hint.
#[tokio::test]
async fn ipv6_hints_go_first() {
    let (config, roots) = certificate(&["h2", "http/1.1"]);
    let good = TlsServer::start(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 0, config).await;
    let port = good.addr.port();
    let _stalled = stalling(v4(60), port);
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(1000), Answer::Addrs(vec![v4(60)]));
    dns.answer("a.test", Family::V6, ms(1000), Answer::Empty);
    dns.answer_https(
        "a.test",
        ms(0),
        vec![https(
            1,
            ".",
            vec![
                SvcParamValue::Port(port),
                hint4(&[60]),
                SvcParamValue::Ipv6Hint(IpHint(vec![hickory_server::proto::rr::rdata::AAAA(
                    std::net::Ipv6Addr::LOCALHOST,
                )])),
            ],
        )],
    );
    let (mut connector, log) = https_connector(&dns, roots, |he| he);
    let t0 = Instant::now();
    let stream = connect(&mut connector, "https://a.test/").await.unwrap();
    let took = t0.elapsed();
    assert_eq!(
        stream.info().remote_addr,
        good.addr,
        "{:?}",
        log.lock().unwrap()
    );
    assert!(stream.info().from_hint);
    assert_eq!(started(&log)[0], good.addr.to_string());
    assert!(took < ms(500), "took {took:?}");
}

/// A self-signed certificate for the loopback addresses (IP SANs), for URIs with a literal.
fn certificate_for_literals() -> (Arc<rustls::ServerConfig>, rustls::RootCertStore) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "::1".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (Arc::new(server), roots)
}

/// URIs with an address literal connect to it, IPv6 (`https://[::1]:port/`) and IPv4
/// alike, without a lookup.
#[tokio::test]
async fn address_literals_connect() {
    let (config, roots) = certificate_for_literals();
    let dns = DnsServer::start().await.unwrap();
    for ip in [IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), v4(1)] {
        let server = TlsServer::start(ip, 0, config.clone()).await;
        let (mut connector, log) = https_connector(&dns, roots.clone(), |he| he);
        let uri = format!("https://{}/", server.addr);
        let stream = tokio::time::timeout(ms(5000), connect(&mut connector, &uri))
            .await
            .expect("the connect ends")
            .unwrap_or_else(|e| panic!("{uri}: {e}: {:?}", log.lock().unwrap()));
        assert_eq!(stream.info().remote_addr, server.addr);
    }
    assert!(dns.queries().is_empty(), "{:?}", dns.queries());
}

/// At most 8 distinct ServiceMode targets get their addresses looked up (the first ones in
/// priority order): an answer with 10 targets asks AAAA and A of 8.
#[tokio::test]
async fn at_most_eight_targets_are_looked_up() {
    let (_, roots) = certificate(&["h2", "http/1.1"]);
    let dns = DnsServer::start().await.unwrap();
    dns.answer("a.test", Family::V4, ms(0), Answer::Addrs(vec![v4(1)]));
    let records = (0..10u16)
        .map(|i| https(i + 1, &format!("t{i}.test"), vec![]))
        .collect();
    dns.answer_https("a.test", ms(0), records);
    let (mut connector, _log) = https_connector(&dns, roots, |he| he);
    let _ = tokio::time::timeout(ms(5000), connect(&mut connector, "https://a.test/"))
        .await
        .expect("the connect ends");
    let mut asked: Vec<String> = dns
        .queries()
        .into_iter()
        .filter(|q| q.2 != "HTTPS" && q.1 != "a.test.")
        .map(|q| q.1)
        .collect();
    asked.sort();
    asked.dedup();
    let want: Vec<String> = (0..8).map(|i| format!("t{i}.test.")).collect();
    assert_eq!(asked, want);
}
