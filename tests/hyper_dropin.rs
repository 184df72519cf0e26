//! `staggered::net::HttpConnector` as a drop-in for hyper-util's (issue 21): hyper-util's
//! setters by the same names, the usual snippet under a TLS connector (hyper-rustls), and
//! HTTPS end to end against a rustls server on loopback with a self-signed certificate
//! (rcgen), `localhost` resolving to both `::1` and `127.0.0.1` through a DNS server on
//! loopback (`support/dns.rs`). Loopback only.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpInfo;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use staggered::net::{
    ConnectErrorKind, ConnectEvent, HappyEyeballs, HickoryResolver, HttpConnector, Tokio,
};
use tower_service::Service;

#[path = "support/dns.rs"]
mod dns;
#[path = "support/loopback.rs"]
mod loopback;

use loopback::BlackHole;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A self-signed certificate for `localhost` (rcgen), as a rustls server config and a client
/// config that trusts it (and nothing else). The `ring` provider.
fn tls_configs() -> (Arc<rustls::ServerConfig>, rustls::ClientConfig) {
    // rustls deprecates ring's provider for its lack of post-quantum key exchange; it is the
    // one that builds with a C compiler alone, and this is loopback.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), client)
}

/// An HTTPS (HTTP/1 over rustls) server on `listener`: answers every request with
/// "hello over TLS at ADDR, PATH", ADDR being the address the client reached.
fn serve_tls(listener: std::net::TcpListener, config: Arc<rustls::ServerConfig>) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let local = stream.local_addr().unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: Request<_>| async move {
                    Ok::<_, Infallible>(Response::new(format!(
                        "hello over TLS at {local}, {}",
                        req.uri().path()
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
}

async fn body_text(body: hyper::body::Incoming) -> String {
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

/// A port free on both `::1` and `127.0.0.1`, with a listener on 127.0.0.1 holding it.
fn dual_port() -> (u16, std::net::TcpListener) {
    for _ in 0..20 {
        let listener = std::net::TcpListener::bind((V4, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        if std::net::TcpListener::bind((V6, port)).is_ok() {
            return (port, listener);
        }
    }
    panic!("no port free on both ::1 and 127.0.0.1");
}

/// The usual hyper-util + hyper-rustls snippet, as written for hyper-util's `HttpConnector`,
/// with only the import changed; it must compile and fetch a page over HTTPS.
#[tokio::test]
async fn the_usual_hyper_util_snippet_compiles_with_only_the_import_changed() {
    let (server_config, tls) = tls_configs();
    let listener = std::net::TcpListener::bind((V4, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    serve_tls(listener, server_config);

    // --- the snippet: only this import differs from hyper-util's ---
    use staggered::net::HttpConnector; // was: hyper_util::client::legacy::connect::HttpConnector

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    http.set_keepalive_interval(Some(Duration::from_secs(10)));
    http.set_keepalive_retries(Some(3));
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    http.set_happy_eyeballs_timeout(Some(Duration::from_millis(300)));
    http.set_send_buffer_size(Some(64 * 1024));
    http.set_recv_buffer_size(Some(64 * 1024));
    http.set_local_address(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    http.set_reuse_address(true).set_reuse_address(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(https);
    // --- end of the snippet ---

    let uri: Uri = format!("https://localhost:{port}/snippet").parse().unwrap();
    let response = client.get(uri).await.unwrap();
    assert!(response.status().is_success());
    let info = response.extensions().get::<HttpInfo>().unwrap().clone();
    assert_eq!(info.remote_addr(), SocketAddr::new(V4, port));
    assert_eq!(
        body_text(response.into_body()).await,
        format!("hello over TLS at 127.0.0.1:{port}, /snippet")
    );
}

/// `localhost` resolves to `::1` and `127.0.0.1` (the loopback DNS server's answer). With a
/// black hole on `[::1]:port`, the race starts `::1` first, then `127.0.0.1` one attempt
/// delay later, which completes the TLS handshake and the request; with an HTTPS server on
/// `::1` too, `::1` wins at once.
#[tokio::test]
async fn https_to_localhost_races_v6_and_v4() {
    let (server_config, tls) = tls_configs();
    let dns = dns::DnsServer::start().await.unwrap();
    for (family, ip) in [(dns::Family::V6, V6), (dns::Family::V4, V4)] {
        dns.answer(
            "localhost",
            family,
            Duration::ZERO,
            dns::Answer::Addrs(vec![ip]),
        );
    }
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let happy_eyeballs = HappyEyeballs::new(Tokio)
        .resolver(HickoryResolver::new(dns.resolver().unwrap()))
        .on_event(move |event| {
            let line = match event {
                ConnectEvent::Started { addr, .. } => format!("started {}", addr.ip()),
                ConnectEvent::Won { addr, .. } => format!("won {}", addr.ip()),
                ConnectEvent::Cancelled { addr, .. } => format!("cancelled {}", addr.ip()),
                ConnectEvent::Failed { addr, .. } => format!("failed {}", addr.ip()),
                _ => return,
            };
            log.lock().unwrap().push(line);
        });
    // The builder for what hyper-util has no setter for, then hyper-util's setters.
    let mut http = HttpConnector::from(happy_eyeballs);
    http.enforce_http(false);
    http.set_happy_eyeballs_timeout(Some(ms(150)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(https);

    // 1. ::1 black-holed: 127.0.0.1 wins after the attempt delay.
    let (port, listener) = dual_port();
    let _hole = BlackHole::at(SocketAddr::new(V6, port)).unwrap();
    serve_tls(listener, server_config.clone());
    let t0 = Instant::now();
    let response = client
        .get(
            format!("https://localhost:{port}/v6-black-holed")
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    let elapsed = t0.elapsed();
    println!("::1 black-holed: the HTTPS response came after {elapsed:?}");
    let info = response.extensions().get::<HttpInfo>().unwrap().clone();
    assert_eq!(info.remote_addr(), SocketAddr::new(V4, port));
    assert_eq!(
        body_text(response.into_body()).await,
        format!("hello over TLS at 127.0.0.1:{port}, /v6-black-holed")
    );
    assert!(elapsed >= ms(150), "answered after {elapsed:?}");
    assert!(elapsed < ms(3000), "answered after {elapsed:?}");
    assert_eq!(
        *events.lock().unwrap(),
        [
            "started ::1",
            "started 127.0.0.1",
            "won 127.0.0.1",
            "cancelled ::1"
        ]
    );

    // 2. An HTTPS server on both: ::1 (IPv6 first) wins.
    events.lock().unwrap().clear();
    let (port, listener) = dual_port();
    serve_tls(listener, server_config.clone());
    serve_tls(
        std::net::TcpListener::bind((V6, port)).unwrap(),
        server_config,
    );
    let response = client
        .get(format!("https://localhost:{port}/both").parse().unwrap())
        .await
        .unwrap();
    let info = response.extensions().get::<HttpInfo>().unwrap().clone();
    assert_eq!(info.remote_addr(), SocketAddr::new(V6, port));
    assert_eq!(
        body_text(response.into_body()).await,
        format!("hello over TLS at [::1]:{port}, /both")
    );
    assert_eq!(events.lock().unwrap()[0], "started ::1");
    assert!(events.lock().unwrap().contains(&"won ::1".to_owned()));
}

/// Each setter reaches the socket, and a setter on a clone changes that clone only.
#[tokio::test]
async fn the_setters_reach_the_socket_and_a_clone_keeps_its_own() {
    let listener = tokio::net::TcpListener::bind((V4, 0)).await.unwrap();
    let uri: Uri = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    )
    .parse()
    .unwrap();
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(61)));
    http.set_keepalive_interval(Some(Duration::from_secs(7)));
    http.set_keepalive_retries(Some(4));
    http.set_recv_buffer_size(Some(32 * 1024));
    http.set_local_address(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))));
    let mut plain = http.clone();
    plain.set_nodelay(false);
    plain.set_keepalive(None);
    plain.set_local_address(None);

    let stream = http.call(uri.clone()).await.unwrap();
    let tcp = stream.inner();
    assert!(tcp.nodelay().unwrap());
    let socket = socket2::SockRef::from(tcp);
    assert!(socket.keepalive().unwrap());
    assert_eq!(
        socket.tcp_keepalive_time().unwrap(),
        Duration::from_secs(61)
    );
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(7)
    );
    assert_eq!(socket.tcp_keepalive_retries().unwrap(), 4);
    assert!(socket.recv_buffer_size().unwrap() >= 32 * 1024);

    let stream = plain.call(uri.clone()).await.unwrap();
    assert!(!stream.inner().nodelay().unwrap());
    assert!(!socket2::SockRef::from(stream.inner()).keepalive().unwrap());
    // And the first connector still has its own.
    assert!(http.call(uri).await.unwrap().inner().nodelay().unwrap());
}

/// `set_happy_eyeballs_timeout(None)`: one address after another, as in hyper-util; so a
/// black-holed first address holds the connect until `set_connect_timeout`'s limit.
#[tokio::test]
async fn no_happy_eyeballs_timeout_tries_one_address_after_another() {
    let listener = tokio::net::TcpListener::bind((V4, 0)).await.unwrap();
    let good = listener.local_addr().unwrap();
    let hole = BlackHole::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))).unwrap();

    let mut http = HttpConnector::new_with_resolver(Fixed(vec![hole.addr, good]));
    http.set_happy_eyeballs_timeout(None);
    http.set_connect_timeout(Some(ms(400)));
    let t0 = Instant::now();
    let err = http
        .call("http://two.test/".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut);
    assert!(t0.elapsed() >= ms(400));
    assert_eq!(err.attempts().len(), 1, "{err}");

    // With a delay, the second address wins.
    http.set_happy_eyeballs_timeout(Some(ms(50)));
    let stream = http
        .call("http://two.test/".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stream.inner().peer_addr().unwrap(), good);
}

/// `set_interface`: `lo` reaches loopback; a name the OS does not know fails each attempt,
/// with the name in the error.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn set_interface_binds_to_the_device() {
    let listener = tokio::net::TcpListener::bind((V4, 0)).await.unwrap();
    let uri: Uri = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    )
    .parse()
    .unwrap();
    let mut http = HttpConnector::new();
    http.set_interface("no-such-if0");
    let err = http.call(uri.clone()).await.unwrap_err();
    assert!(
        err.to_string().contains("SO_BINDTODEVICE \"no-such-if0\""),
        "{err}"
    );
    http.set_interface("lo");
    match http.call(uri).await {
        Ok(stream) => {
            println!("bound to lo");
            let device = socket2::SockRef::from(stream.inner()).device().unwrap();
            assert_eq!(device.as_deref(), Some(&b"lo"[..]));
        }
        // Some sandboxes have no SO_BINDTODEVICE at all.
        Err(err) => assert!(err.to_string().contains("SO_BINDTODEVICE \"lo\""), "{err}"),
    }
}

/// A resolver that answers every name with these IPv4 addresses (ports included), and no
/// IPv6 address.
#[derive(Clone)]
struct Fixed(Vec<SocketAddr>);

impl staggered::net::Resolve for Fixed {
    async fn lookup(
        &self,
        _host: &str,
        _port: u16,
        family: staggered::net::Family,
    ) -> io::Result<Vec<SocketAddr>> {
        Ok(match family {
            staggered::net::Family::V4 => self.0.clone(),
            staggered::net::Family::V6 => Vec::new(),
        })
    }
}
