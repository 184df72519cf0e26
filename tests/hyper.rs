//! `staggered::net::HttpConnector` end to end: a real hyper server on loopback, reached
//! through hyper-util's legacy client. Loopback only (127.0.0.0/8): the addresses of one name
//! share a port on 127.0.0.1, 127.0.0.2, ..., as a real host's addresses would.
//!
//! Black holes are listeners with a full accept queue (`support/loopback.rs`): connects to
//! them hang. Names go through a resolver of the test's own, or through `HickoryResolver` and
//! a DNS server on loopback (`support/dns.rs`). Timings are real, with exact lower bounds and
//! generous upper bounds.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpInfo;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use staggered::net::{
    ConnectError, ConnectErrorKind, Family, HappyEyeballs, HttpConnector, Resolve, Tokio,
    DEFAULT_ATTEMPT_DELAY,
};
use tower_service::Service;

#[path = "support/dns.rs"]
mod dns;
#[path = "support/loopback.rs"]
mod loopback;

use loopback::{BlackHole, Refusing};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn lo(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// Answers every name with fixed IPv4 addresses (with the port asked for), in order, and
/// nothing for IPv6. Counts the lookups.
#[derive(Clone)]
struct Fixed {
    v4: Vec<IpAddr>,
    lookups: Arc<Mutex<Vec<(String, Family)>>>,
}

impl Fixed {
    fn new(v4: Vec<IpAddr>) -> Fixed {
        Fixed {
            v4,
            lookups: Arc::default(),
        }
    }
}

impl Resolve for Fixed {
    async fn lookup(&self, host: &str, port: u16, family: Family) -> io::Result<Vec<SocketAddr>> {
        self.lookups.lock().unwrap().push((host.to_owned(), family));
        Ok(match family {
            Family::V4 => self
                .v4
                .iter()
                .map(|&ip| SocketAddr::new(ip, port))
                .collect(),
            Family::V6 => Vec::new(),
        })
    }
}

/// An HTTP/1 server on `listener` that answers every request with "hello from PATH".
fn serve(listener: std::net::TcpListener) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        Ok::<_, Infallible>(Response::new(format!(
                            "hello from {}",
                            req.uri().path()
                        )))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// A server on 127.0.0.1 at a port that is free on 127.0.0.2 and .3 too (where the other
/// endpoints of the test go). `None` if loopback has no 127.0.0.2 here.
fn server_port() -> Option<(u16, std::net::TcpListener)> {
    for _ in 0..20 {
        let listener = std::net::TcpListener::bind((lo(1), 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let free = (2..=3).all(|n| std::net::TcpListener::bind((lo(n), port)).is_ok());
        if free {
            return Some((port, listener));
        }
    }
    println!("no 127.0.0.2 / 127.0.0.3 on this loopback: skipping");
    None
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

fn connect_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> &'a ConnectError {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<ConnectError>() {
            return found;
        }
        source = e.source();
    }
    panic!("no ConnectError in the chain of {err:?}");
}

#[tokio::test]
async fn a_black_holed_first_address_costs_one_attempt_delay() {
    let Some((port, listener)) = server_port() else {
        return;
    };
    serve(listener);
    let _hole = BlackHole::at(SocketAddr::new(lo(2), port)).unwrap();
    let resolver = Fixed::new(vec![lo(2), lo(1)]);
    let connector = HttpConnector::from(HappyEyeballs::new(Tokio).resolver(resolver.clone()));
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);

    let uri: Uri = format!("http://service.test:{port}/black-hole")
        .parse()
        .unwrap();
    let t0 = Instant::now();
    let response = client.get(uri).await.unwrap();
    let elapsed = t0.elapsed();
    println!("black hole, then the server: the response came after {elapsed:?}");
    assert!(response.status().is_success());
    let info = response.extensions().get::<HttpInfo>().unwrap().clone();
    assert_eq!(info.remote_addr(), SocketAddr::new(lo(1), port));
    assert_eq!(info.local_addr().ip(), lo(1));
    assert_eq!(
        body_text(response.into_body()).await,
        "hello from /black-hole"
    );
    assert!(
        elapsed >= DEFAULT_ATTEMPT_DELAY,
        "answered after {elapsed:?}, before the delay"
    );
    assert!(
        elapsed < DEFAULT_ATTEMPT_DELAY + ms(1500),
        "answered after {elapsed:?}: the black hole was waited on"
    );
    let lookups = resolver.lookups.lock().unwrap().clone();
    assert_eq!(
        lookups,
        [
            ("service.test".to_owned(), Family::V6),
            ("service.test".to_owned(), Family::V4)
        ]
    );
}

#[tokio::test]
async fn every_address_failing_names_every_address() {
    let Some((port, listener)) = server_port() else {
        return;
    };
    drop(listener);
    let refusing: Vec<Refusing> = (1..=3)
        .map(|n| Refusing::at(SocketAddr::new(lo(n), port)).unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = (1..=3).map(|n| SocketAddr::new(lo(n), port)).collect();
    let connector = HttpConnector::from(
        HappyEyeballs::new(Tokio)
            .attempt_delay(ms(2000))
            .resolver(Fixed::new(vec![lo(1), lo(2), lo(3)])),
    );
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);
    let uri: Uri = format!("http://service.test:{port}/").parse().unwrap();
    let t0 = Instant::now();
    let err = client.get(uri).await.unwrap_err();
    assert!(t0.elapsed() < ms(1500), "refusals took {:?}", t0.elapsed());
    assert!(err.is_connect(), "{err:?}");
    let err = connect_error(&err);
    assert_eq!(err.kind(), ConnectErrorKind::AllFailed);
    let tried: Vec<SocketAddr> = err.attempts().iter().map(|(a, _)| *a).collect();
    assert_eq!(tried, addrs);
    let text = err.to_string();
    assert!(text.contains(&format!("service.test:{port}")), "{text}");
    for addr in &addrs {
        assert!(text.contains(&format!("{addr}: ")), "{text} lacks {addr}");
    }
    for (addr, error) in err.attempts() {
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{addr}");
    }
    drop(refusing);
}

#[tokio::test]
async fn the_system_resolver_and_socket_options() {
    let listener = std::net::TcpListener::bind((lo(1), 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    serve(listener);
    let connector = HttpConnector::from(
        HappyEyeballs::new(Tokio)
            .nodelay(true)
            .keepalive(Duration::from_secs(30))
            .keepalive_interval(Duration::from_secs(5))
            .keepalive_retries(3)
            .recv_buffer_size(64 * 1024)
            .send_buffer_size(64 * 1024),
    );
    // Straight through the Service, to see the socket.
    let mut service = connector.clone();
    let uri: Uri = format!("http://localhost:{port}/").parse().unwrap();
    let io = service.call(uri.clone()).await.unwrap();
    let socket = socket2::SockRef::from(io.inner());
    assert!(socket.tcp_nodelay().unwrap());
    assert!(socket.keepalive().unwrap());
    assert_eq!(
        socket.tcp_keepalive_time().unwrap(),
        Duration::from_secs(30)
    );
    #[cfg(target_os = "linux")]
    {
        assert_eq!(
            socket.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(5)
        );
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), 3);
    }
    assert!(socket.recv_buffer_size().unwrap() >= 64 * 1024);
    assert!(socket.send_buffer_size().unwrap() >= 64 * 1024);
    // And through the client: `localhost` from /etc/hosts, no DNS.
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);
    let response = client.get(uri).await.unwrap();
    assert_eq!(body_text(response.into_body()).await, "hello from /");
}

#[tokio::test]
async fn local_address_per_family() {
    let Some((port, listener)) = server_port() else {
        return;
    };
    serve(listener);
    let mut connector = HttpConnector::from(
        HappyEyeballs::new(Tokio)
            .local_address(lo(3))
            .local_address("::1".parse().unwrap()),
    );
    let uri: Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
    let io = connector.call(uri).await.unwrap();
    assert_eq!(io.inner().local_addr().unwrap().ip(), lo(3));
    assert_eq!(
        io.inner().peer_addr().unwrap(),
        SocketAddr::new(lo(1), port)
    );
}

/// Never answers.
struct Hangs;

impl Resolve for Hangs {
    async fn lookup(&self, _: &str, _: u16, _: Family) -> io::Result<Vec<SocketAddr>> {
        std::future::pending().await
    }
}

/// Fails every lookup, as for a name that does not exist.
struct NoSuchName;

impl Resolve for NoSuchName {
    async fn lookup(&self, host: &str, _: u16, _: Family) -> io::Result<Vec<SocketAddr>> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host}: no such name"),
        ))
    }
}

async fn call<D: Resolve + Send + Sync + 'static>(
    connector: &HttpConnector<D>,
    uri: &str,
) -> ConnectError {
    let uri: Uri = uri.parse().unwrap();
    let t0 = Instant::now();
    let result = connector.clone().call(uri).await;
    assert!(t0.elapsed() < ms(3000), "took {:?}", t0.elapsed());
    match result {
        Ok(io) => panic!("connected to {:?}", io.inner().peer_addr()),
        Err(err) => err,
    }
}

#[tokio::test]
async fn bad_input_fails_clearly_and_at_once() {
    let connector = HttpConnector::new();
    // No host.
    let err = call(&connector, "/only/a/path").await;
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "invalid address \"/only/a/path\": the URI has no scheme"
    );
    let err = call(
        &{
            let mut c = connector.clone();
            c.enforce_http(false);
            c
        },
        "/only/a/path",
    )
    .await;
    assert_eq!(
        err.to_string(),
        "invalid address \"/only/a/path\": the URI has no host"
    );
    // A port out of range.
    let err = call(&connector, "http://localhost:65536/").await;
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "invalid address \"http://localhost:65536/\": port 65536 is out of range (0 to 65535)"
    );
    // Not http.
    let err = call(&connector, "https://localhost/").await;
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);

    // An unresolvable name: both lookups fail, and the error says so, naming the host.
    let unresolvable = HttpConnector::from(HappyEyeballs::new(Tokio).resolver(NoSuchName));
    let err = call(&unresolvable, "http://nowhere.test/").await;
    assert_eq!(err.kind(), ConnectErrorKind::Resolve);
    assert_eq!(err.host(), Some("nowhere.test:80"));
    assert_eq!(
        err.to_string(),
        "could not resolve nowhere.test:80: IPv6 (AAAA) lookup failed: nowhere.test: no such name; \
         IPv4 (A) lookup failed: nowhere.test: no such name"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);

    // An empty answer set.
    let empty = HttpConnector::from(HappyEyeballs::new(Tokio).resolver(Fixed::new(vec![])));
    let err = call(&empty, "http://empty.test:8080/").await;
    assert_eq!(err.kind(), ConnectErrorKind::NoAddresses);
    assert_eq!(err.to_string(), "empty.test:8080 resolved to no addresses");

    // A resolver that hangs: the resolve timeout ends it.
    let hangs = HttpConnector::from(
        HappyEyeballs::new(Tokio)
            .resolve_timeout(ms(100))
            .resolver(Hangs),
    );
    let t0 = Instant::now();
    let err = call(&hangs, "http://slow.test/").await;
    assert!(t0.elapsed() >= ms(100));
    assert_eq!(err.kind(), ConnectErrorKind::Resolve);
    assert_eq!(
        err.to_string(),
        "could not resolve slow.test:80: \
         IPv6 (AAAA) lookup failed: no answer within the resolve timeout of 100ms; \
         IPv4 (A) lookup failed: no answer within the resolve timeout of 100ms"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);

    // With the resolve timeout off, the overall timeout still ends it.
    let hangs = HttpConnector::from(
        HappyEyeballs::new(Tokio)
            .resolve_timeout(None)
            .timeout(ms(100))
            .resolver(Hangs),
    );
    let err = call(&hangs, "http://slow.test/").await;
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut);
    assert_eq!(
        err.to_string(),
        "connecting to slow.test:80 timed out after 100ms (0 addresses tried); name lookups: \
         IPv6 (AAAA) lookup had not answered; IPv4 (A) lookup had not answered"
    );
    assert!(err.resolve_error().is_some());
}

/// An IPv6 literal with a zone, against hyper-util's own connector (the reference), which
/// hands the host, zone and all, to `getaddrinfo`: a numeric zone connects with both. glibc
/// takes an interface name only on a link-local address and does not decode RFC 6874's `%25`,
/// so hyper-util fails to resolve `[::1%lo]` and `[::1%25lo]`, which connect here (the zone
/// is the interface's scope id, which a loopback address ignores). On `::1` the zone does not
/// change the route, so any machine with IPv6 loopback runs it.
#[tokio::test]
async fn an_ipv6_zone_connects_as_with_hyper_util() {
    let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    };
    let server = listener.local_addr().unwrap();
    let port = server.port();
    let accept = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            held.push(listener.accept().await.unwrap().0);
        }
    });
    let mut ours = HttpConnector::new();
    let mut theirs = hyper_util::client::legacy::connect::HttpConnector::new();
    let uri = |zone: &str| -> Uri { format!("http://[::1%{zone}]:{port}/").parse().unwrap() };
    let peer = |stream: TokioIo<tokio::net::TcpStream>| stream.inner().peer_addr().unwrap();

    let stream = theirs.call(uri("1")).await.unwrap();
    assert_eq!(peer(stream), server);
    let stream = ours.call(uri("1")).await.unwrap();
    assert_eq!(peer(stream), server);

    for zone in ["lo", "25lo", "251"] {
        let stream = ours.call(uri(zone)).await.unwrap();
        assert_eq!(peer(stream), server, "{zone}");
    }
    for zone in ["lo", "25lo"] {
        assert!(theirs.call(uri(zone)).await.is_err(), "{zone}");
    }
    // A zone that names no interface fails at once, before any lookup.
    let err = call(&ours, &format!("http://[::1%25no-such-if9]:{port}/")).await;
    assert_eq!(err.kind(), ConnectErrorKind::InvalidInput);
    accept.abort();
}

#[test]
fn the_connector_is_send_sync_and_its_future_is_send() {
    fn send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let mut connector = HttpConnector::new();
    send_sync(&connector);
    let future = connector.call(Uri::from_static("http://localhost:1/"));
    send(&future);
}

/// IPv6 lookups fail, IPv4 ones answer 127.0.0.1.
struct V6Fails;

impl Resolve for V6Fails {
    async fn lookup(&self, _: &str, port: u16, family: Family) -> io::Result<Vec<SocketAddr>> {
        match family {
            Family::V6 => Err(io::Error::other("SERVFAIL")),
            Family::V4 => Ok(vec![SocketAddr::new(lo(1), port)]),
        }
    }
}

#[tokio::test]
async fn a_failed_family_is_left_out_and_reported() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let connector = HappyEyeballs::new(Tokio)
        .resolver(V6Fails)
        .on_event(move |event| {
            if let staggered::net::ConnectEvent::Resolved { family, result } = event {
                let result = result
                    .map(<[SocketAddr]>::to_vec)
                    .map_err(|e| e.to_string());
                log.lock().unwrap().push((*family, result));
            }
        });
    let addrs = connector.resolve("half.test:81").await.unwrap();
    assert_eq!(addrs, [SocketAddr::new(lo(1), 81)]);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Family::V6, Err("SERVFAIL".to_owned())),
            (Family::V4, Ok(vec![SocketAddr::new(lo(1), 81)])),
        ]
    );
    // An address literal is not looked up.
    seen.lock().unwrap().clear();
    let addrs = connector.resolve("[::1]:82").await.unwrap();
    assert_eq!(addrs, ["[::1]:82".parse::<SocketAddr>().unwrap()]);
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn through_hickory_and_a_dns_server_whose_aaaa_answer_is_late() {
    // RFC 8305 §3 end to end: the DNS server answers A at once and AAAA only after 2 s; the
    // request is answered over IPv4 after the Resolution Delay, without waiting for AAAA.
    let Some((port, listener)) = server_port() else {
        return;
    };
    serve(listener);
    let server = dns::DnsServer::start().await.unwrap();
    let v6 = IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
    server.answer(
        "api.test",
        dns::Family::V4,
        Duration::ZERO,
        dns::Answer::Addrs(vec![lo(1)]),
    );
    server.answer(
        "api.test",
        dns::Family::V6,
        ms(2000),
        dns::Answer::Addrs(vec![v6]),
    );
    let resolver = staggered::net::HickoryResolver::new(server.resolver().unwrap());
    let connector = HttpConnector::from(HappyEyeballs::new(Tokio).resolver(resolver));
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);

    let t0 = Instant::now();
    let response = client
        .get(format!("http://api.test:{port}/late-aaaa").parse().unwrap())
        .await
        .unwrap();
    let elapsed = t0.elapsed();
    assert_eq!(
        response
            .extensions()
            .get::<HttpInfo>()
            .unwrap()
            .remote_addr(),
        SocketAddr::new(lo(1), port)
    );
    assert_eq!(
        body_text(response.into_body()).await,
        "hello from /late-aaaa"
    );
    assert!(
        elapsed >= staggered::net::DEFAULT_RESOLUTION_DELAY && elapsed < ms(1000),
        "answered after {elapsed:?}"
    );
}
