//! `staggered::net::ReqwestResolver` through reqwest (issue 21), and what it saves: the time
//! to the first byte of a response when the AAAA answer comes 2 s after the A answer, with
//!
//! 1. `ReqwestResolver` (RFC 8305 §3: answers at the first useful answer);
//! 2. the resolver `examples/reqwest.rs` had before (`HappyEyeballs::resolve`: both lookups,
//!    then one answer);
//! 3. reqwest's own hickory-dns resolver: its code (`lookup_ip` with
//!    `LookupIpStrategy::Ipv6AndIpv4`), pointed at the loopback DNS server instead of the
//!    system's configuration. reqwest's default, `getaddrinfo` for both families, cannot be
//!    pointed at a DNS server of the test's own; like this one it answers when both lookups
//!    are in.
//!
//! All three ask the same DNS server on loopback (`support/dns.rs`) with the same hickory
//! settings (no cache, no hosts file), and reqwest connects to the same HTTP server on
//! `127.0.0.1` and `::1`. `cargo test --test reqwest -- --nocapture` prints the figures.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};
use hyper_util::rt::TokioIo;
use staggered::net::{HappyEyeballs, HickoryResolver, ReqwestResolver, Resolve, Tokio};

#[path = "support/dns.rs"]
mod dns;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// How late the AAAA answer is.
const AAAA_DELAY: Duration = Duration::from_secs(2);

/// An HTTP/1 server on `listener` answering "hello".
fn serve(listener: std::net::TcpListener) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(http::Response::new("hello".to_owned()))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// The server on one port of both `127.0.0.1` and `::1`.
fn serve_dual() -> u16 {
    for _ in 0..20 {
        let v4 = std::net::TcpListener::bind((V4, 0)).unwrap();
        let port = v4.local_addr().unwrap().port();
        if let Ok(v6) = std::net::TcpListener::bind((V6, port)) {
            serve(v4);
            serve(v6);
            return port;
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}

/// The resolver `examples/reqwest.rs` had: `HappyEyeballs::resolve`, which waits for both
/// lookups.
struct WaitsForBoth<D>(Arc<HappyEyeballs<Tokio, D>>);

impl<D: Resolve + Send + Sync + 'static> reqwest::dns::Resolve for WaitsForBoth<D> {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let connector = self.0.clone();
        Box::pin(async move {
            let addrs = connector.resolve(&format!("{}:0", name.as_str())).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// reqwest's hickory-dns resolver (reqwest 0.13's `dns/hickory.rs`: `lookup_ip` with
/// `Ipv6AndIpv4`, each address with port 0), over `resolver`.
struct ReqwestHickory(TokioResolver);

impl reqwest::dns::Resolve for ReqwestHickory {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.0.clone();
        Box::pin(async move {
            let lookup = resolver.lookup_ip(name.as_str()).await?;
            let addrs: Vec<SocketAddr> = lookup.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A hickory resolver asking only `server`, with `support/dns.rs`'s settings (no cache, no
/// hosts file, no search domains) and `strategy`.
fn hickory(server: SocketAddr, strategy: LookupIpStrategy) -> TokioResolver {
    let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
    for connection in &mut name_server.connections {
        connection.port = server.port();
    }
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(5);
    options.attempts = 0;
    options.ndots = 0;
    options.cache_size = 0;
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    options.use_hosts_file = ResolveHosts::Never;
    options.ip_strategy = strategy;
    Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![name_server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .unwrap()
}

/// The time to the response's head (its first byte) of a GET through a fresh client with
/// `resolver`, and the server's body.
async fn first_byte(resolver: impl reqwest::dns::Resolve + 'static, url: &str) -> Duration {
    let client = reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(resolver)
        .build()
        .unwrap();
    let t0 = Instant::now();
    let response = client.get(url).send().await.unwrap();
    let elapsed = t0.elapsed();
    assert!(response.status().is_success());
    assert_eq!(response.text().await.unwrap(), "hello");
    elapsed
}

#[tokio::test]
async fn reqwest_resolver_answers_at_the_first_useful_answer() {
    let port = serve_dual();
    let dns = dns::DnsServer::start().await.unwrap();
    dns.answer(
        "late-aaaa.test",
        dns::Family::V4,
        Duration::ZERO,
        dns::Answer::Addrs(vec![V4]),
    );
    dns.answer(
        "late-aaaa.test",
        dns::Family::V6,
        AAAA_DELAY,
        dns::Answer::Addrs(vec![V6]),
    );
    let url = format!("http://late-aaaa.test:{port}/");
    let happy_eyeballs =
        || HappyEyeballs::new(Tokio).resolver(HickoryResolver::new(dns.resolver().unwrap()));

    let runs = 3;
    let mut rows = Vec::new();
    for (name, which) in [
        ("ReqwestResolver", 0),
        ("the example's resolver before (HappyEyeballs::resolve)", 1),
        ("reqwest's hickory-dns resolver (Ipv6AndIpv4)", 2),
    ] {
        let mut times = Vec::new();
        for _ in 0..runs {
            let elapsed = match which {
                0 => first_byte(ReqwestResolver::from(happy_eyeballs()), &url).await,
                1 => first_byte(WaitsForBoth(Arc::new(happy_eyeballs())), &url).await,
                _ => {
                    let resolver = hickory(dns.addr(), LookupIpStrategy::Ipv6AndIpv4);
                    first_byte(ReqwestHickory(resolver), &url).await
                }
            };
            times.push(elapsed);
        }
        times.sort();
        rows.push((name, times));
    }
    println!(
        "time to first byte, AAAA answered {AAAA_DELAY:?} after A ({runs} runs each, sorted):"
    );
    for (name, times) in &rows {
        let ms: Vec<String> = times
            .iter()
            .map(|t| format!("{} ms", t.as_millis()))
            .collect();
        println!("  {name}: {}", ms.join(", "));
    }
    // ReqwestResolver: the A answer, the Resolution Delay (50 ms), no wait for AAAA.
    for &t in &rows[0].1 {
        assert!(
            t >= staggered::net::DEFAULT_RESOLUTION_DELAY && t < Duration::from_secs(1),
            "{t:?}"
        );
    }
    // The other two wait for the AAAA answer.
    for (_, times) in &rows[1..] {
        for &t in times {
            assert!(t >= AAAA_DELAY, "{t:?}");
        }
    }
}

/// The AAAA answer first: `ReqwestResolver` answers with it at once (IPv6 first), and
/// reqwest connects over IPv6.
#[tokio::test]
async fn an_aaaa_answer_is_given_at_once() {
    let port = serve_dual();
    let dns = dns::DnsServer::start().await.unwrap();
    dns.answer(
        "late-a.test",
        dns::Family::V4,
        AAAA_DELAY,
        dns::Answer::Addrs(vec![V4]),
    );
    dns.answer(
        "late-a.test",
        dns::Family::V6,
        Duration::ZERO,
        dns::Answer::Addrs(vec![V6]),
    );
    let resolver = ReqwestResolver::from(
        HappyEyeballs::new(Tokio).resolver(HickoryResolver::new(dns.resolver().unwrap())),
    );
    let t0 = Instant::now();
    let addrs: Vec<SocketAddr> =
        reqwest::dns::Resolve::resolve(&resolver, "late-a.test".parse().unwrap())
            .await
            .unwrap()
            .collect();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(addrs, [SocketAddr::new(V6, 0)]);
    let elapsed = first_byte(resolver, &format!("http://late-a.test:{port}/")).await;
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

/// Both answers in within the Resolution Delay: both families, interleaved, IPv6 first; and
/// a name that does not resolve is an error that names it.
#[tokio::test]
async fn both_answers_interleaved_and_errors() {
    let dns = dns::DnsServer::start().await.unwrap();
    let v4s = vec![V4, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))];
    dns.answer(
        "both.test",
        dns::Family::V4,
        Duration::ZERO,
        dns::Answer::Addrs(v4s),
    );
    dns.answer(
        "both.test",
        dns::Family::V6,
        Duration::from_millis(10),
        dns::Answer::Addrs(vec![V6]),
    );
    dns.answer(
        "none.test",
        dns::Family::V4,
        Duration::ZERO,
        dns::Answer::NxDomain,
    );
    dns.answer(
        "none.test",
        dns::Family::V6,
        Duration::ZERO,
        dns::Answer::NxDomain,
    );
    let resolver = ReqwestResolver::from(
        HappyEyeballs::new(Tokio)
            .resolver(HickoryResolver::new(dns.resolver().unwrap()))
            .resolution_delay(Duration::from_millis(500)),
    );
    let addrs: Vec<IpAddr> =
        reqwest::dns::Resolve::resolve(&resolver, "both.test".parse().unwrap())
            .await
            .unwrap()
            .map(|addr| addr.ip())
            .collect();
    assert_eq!(addrs, [V6, V4, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))]);

    let err = match reqwest::dns::Resolve::resolve(&resolver, "none.test".parse().unwrap()).await {
        Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
        Err(err) => err,
    };
    assert!(err.to_string().contains("none.test"), "{err}");
}
