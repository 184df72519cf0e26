//! Time to a finished TLS handshake, on loopback: `staggered::net::HttpsConnector` (Happy
//! Eyeballs v3, HTTPS records) against hyper-rustls over hyper-util's `HttpConnector`, both
//! resolving through the same DNS server on loopback (hickory-server, in this process):
//!
//! - (a) the first address accepts TCP and stalls the TLS handshake;
//! - (b) the HTTPS record's `port` differs from the URI's (nothing listens on the URI's);
//! - (c) the HTTPS record's `ipv4hint` is answered at once, A and AAAA 300 ms later.
//!
//! `cargo run -p staggered-extra-tests --example https_compare` (a debug build: the figures
//! are loopback latencies set by the scenario's delays, not the code's speed). Each case runs
//! 5 times; the median is printed, in a Markdown table. A connect that has not finished its
//! handshake after 3 s is stopped and counted as such.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_server::proto::rr::rdata::svcb::{IpHint, SvcParamKey, SvcParamValue, SVCB};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::Name;
use hyper_util::client::legacy::connect::dns::Name as DnsName;
use staggered::net::{HappyEyeballs, HickoryResolver, HttpsConnector, Tokio};
use tower_service::Service;

#[path = "../tests/support/dns.rs"]
mod dns;

use dns::{Answer, DnsServer, Family};

const RUNS: usize = 5;
const CAP: Duration = Duration::from_secs(3);
const LATE: Duration = Duration::from_millis(300);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// hyper-util's resolver seam (`Service<Name>`) on the loopback DNS server: hickory's
/// `lookup_ip`, which asks A and AAAA and waits for both, as `getaddrinfo` does.
#[derive(Clone)]
struct LoopbackGai(TokioResolver);

impl Service<DnsName> for LoopbackGai {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: DnsName) -> Self::Future {
        let resolver = self.0.clone();
        Box::pin(async move {
            let ips = resolver
                .lookup_ip(name.as_str())
                .await
                .map_err(io::Error::other)?;
            let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(addrs.into_iter())
        })
    }
}

struct Tls {
    provider: Arc<rustls::crypto::CryptoProvider>,
    server: Arc<rustls::ServerConfig>,
    roots: rustls::RootCertStore,
}

fn tls() -> Tls {
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = rcgen::generate_simple_self_signed(vec!["shop.test".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    Tls {
        provider,
        server: Arc::new(server),
        roots,
    }
}

/// A TLS server on `ip` (any port, or `port`): finishes handshakes and holds connections.
async fn serve(ip: IpAddr, port: u16, config: Arc<rustls::ServerConfig>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((ip, port)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    drop(tls);
                }
            });
        }
    });
    addr
}

/// One connect, timed: `Ok(ms)` at a finished handshake, or why not.
async fn timed<F, S, E>(connect: F) -> Result<Duration, String>
where
    F: Future<Output = Result<S, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let t0 = Instant::now();
    match tokio::time::timeout(CAP, connect).await {
        Ok(Ok(_stream)) => Ok(t0.elapsed()),
        Ok(Err(error)) => {
            // The innermost cause: "Connection refused (os error 111)", not a wrapper's.
            let error: Box<dyn std::error::Error + Send + Sync> = error.into();
            let mut cause: &dyn std::error::Error = &*error;
            while let Some(source) = cause.source() {
                cause = source;
            }
            Err(format!(
                "fails in {} ms ({cause})",
                t0.elapsed().as_millis()
            ))
        }
        Err(_) => Err(format!("no handshake after {} s", CAP.as_secs())),
    }
}

fn median(mut runs: Vec<Result<Duration, String>>) -> String {
    let failures: Vec<String> = runs.iter().filter_map(|r| r.clone().err()).collect();
    if let Some(first) = failures.first() {
        return format!("{first} ({} of {RUNS} runs)", failures.len());
    }
    runs.sort_by_key(|r| *r.as_ref().unwrap());
    format!("{} ms", runs[RUNS / 2].as_ref().unwrap().as_millis())
}

async fn both(
    dns: &DnsServer,
    tls: &Tls,
    uri: &str,
) -> (Vec<Result<Duration, String>>, Vec<Result<Duration, String>>) {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..RUNS {
        let mut connector = HttpsConnector::new(tls.provider.clone(), tls.roots.clone())
            .happy_eyeballs(
                HappyEyeballs::new(Tokio).resolver(HickoryResolver::new(dns.resolver().unwrap())),
            );
        ours.push(timed(connector.call(uri.parse().unwrap())).await);

        let mut http = hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(
            LoopbackGai(dns.resolver().unwrap()),
        );
        http.enforce_http(false);
        let client = rustls::ClientConfig::builder_with_provider(tls.provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(tls.roots.clone())
            .with_no_client_auth();
        let mut https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(client)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        theirs.push(timed(https.call(uri.parse().unwrap())).await);
    }
    (ours, theirs)
}

fn port_record(params: Vec<(SvcParamKey, SvcParamValue)>) -> Vec<SVCB> {
    let mut params = params;
    params.sort_by_key(|(key, _)| u16::from(*key));
    vec![SVCB::new(1, Name::root(), params)]
}

#[tokio::main]
async fn main() {
    let tls = tls();
    let mut rows = Vec::new();

    // (a) The first address accepts TCP and stalls the handshake; the second finishes it.
    {
        let dns = DnsServer::start().await.unwrap();
        let good = serve(ip(41), 0, tls.server.clone()).await;
        let _stall = std::net::TcpListener::bind((ip(40), good.port())).unwrap();
        dns.answer(
            "shop.test",
            Family::V4,
            Duration::ZERO,
            Answer::Addrs(vec![ip(40), ip(41)]),
        );
        dns.answer("shop.test", Family::V6, Duration::ZERO, Answer::Empty);
        let uri = format!("https://shop.test:{}/", good.port());
        let (ours, theirs) = both(&dns, &tls, &uri).await;
        rows.push(("(a) first address stalls the TLS handshake", ours, theirs));
    }

    // (b) The record's port differs from the URI's; nothing listens on the URI's.
    {
        let dns = DnsServer::start().await.unwrap();
        let good = serve(ip(42), 0, tls.server.clone()).await;
        let closed = std::net::TcpListener::bind((ip(42), 0)).unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        dns.answer(
            "shop.test",
            Family::V4,
            Duration::ZERO,
            Answer::Addrs(vec![ip(42)]),
        );
        dns.answer("shop.test", Family::V6, Duration::ZERO, Answer::Empty);
        // The URI is not on port 443: its HTTPS records are at `_{port}._https.shop.test`
        // (RFC 9460 §9.1).
        dns.answer_https(
            &format!("_{closed_port}._https.shop.test"),
            Duration::ZERO,
            port_record(vec![(SvcParamKey::Port, SvcParamValue::Port(good.port()))]),
        );
        let uri = format!("https://shop.test:{closed_port}/");
        let (ours, theirs) = both(&dns, &tls, &uri).await;
        rows.push(("(b) the record's port differs from the URI's", ours, theirs));
    }

    // (c) The hint is in at once, A and AAAA 300 ms later.
    {
        let dns = DnsServer::start().await.unwrap();
        let good = serve(ip(43), 0, tls.server.clone()).await;
        dns.answer("shop.test", Family::V4, LATE, Answer::Addrs(vec![ip(43)]));
        dns.answer("shop.test", Family::V6, LATE, Answer::Empty);
        dns.answer_https(
            &format!("_{}._https.shop.test", good.port()),
            Duration::ZERO,
            port_record(vec![(
                SvcParamKey::Ipv4Hint,
                SvcParamValue::Ipv4Hint(IpHint(vec![A(Ipv4Addr::new(127, 0, 0, 43))])),
            )]),
        );
        let uri = format!("https://shop.test:{}/", good.port());
        let (ours, theirs) = both(&dns, &tls, &uri).await;
        rows.push(("(c) hints answered 300 ms before A/AAAA", ours, theirs));
    }

    println!(
        "Time to a finished TLS handshake, median of {RUNS} runs (loopback DNS and TLS servers):"
    );
    println!();
    println!(
        "| case | staggered `HttpsConnector` | hyper-rustls over hyper-util's `HttpConnector` |"
    );
    println!("|---|---|---|");
    for (case, ours, theirs) in rows {
        println!("| {case} | {} | {} |", median(ours), median(theirs));
    }
}
