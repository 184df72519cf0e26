//! Time to connect when the first address hangs: `cargo bench --bench connect`.
//!
//! Compares, over loopback only:
//! - `staggered::net::HappyEyeballs` on tokio (attempt delay 250 ms, the RFC 8305 default);
//! - sequential `tokio::net::TcpStream::connect` over the same list (as `connect(&addrs[..])`
//!   does), stopped at a 3 s cap: without it, a black-holed address costs the OS's connect
//!   timeout, about 2 minutes on Linux;
//! - hyper-util's `HttpConnector` with its Happy Eyeballs on (fallback delay 300 ms, its
//!   default), fed the same list by a fixed resolver, with the same cap.
//!
//! Then, for a name (issue 12), RFC 8305 §3 resolution (`connect_host` through
//! `HickoryResolver`) against waiting for both answers and then racing (what `connect_host` did
//! before), through a DNS server on loopback whose AAAA or A answer comes late.
//!
//! A black hole is a listener with backlog 0 whose accept queue is full, so SYNs to it are
//! dropped. `-- --quick` runs each case once instead of 5 times (for CI).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use staggered::net::{HappyEyeballs, HickoryResolver, Tokio};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tower_service::Service;

const CAP: Duration = Duration::from_secs(3);

#[path = "../tests/support/dns.rs"]
mod dns;
#[path = "../tests/support/loopback.rs"]
mod loopback;

use dns::{Answer, DnsServer, Family as Query};
use loopback::{on_one_port, BlackHole, Endpoint};

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 1 } else { 5 };
    sizes()?;

    let hole4 = BlackHole::new(Ipv4Addr::LOCALHOST.into())?;
    let good4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let refused4 = TcpSocket::new_v4()?;
    refused4.bind((Ipv4Addr::LOCALHOST, 0).into())?;
    let hole6 = match TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).await {
        Ok(_) => Some(BlackHole::new(Ipv6Addr::LOCALHOST.into())?),
        Err(e) => {
            println!("no IPv6 loopback ({e}): skipping the mixed-family case");
            None
        }
    };

    let mut cases = vec![
        (
            "black hole, good (both IPv4)",
            vec![hole4.addr, good4.local_addr()?],
        ),
        (
            "refused, good (both IPv4)",
            vec![refused4.local_addr()?, good4.local_addr()?],
        ),
    ];
    if let Some(hole6) = &hole6 {
        cases.insert(
            1,
            (
                "black hole [::1], good 127.0.0.1",
                vec![hole6.addr, good4.local_addr()?],
            ),
        );
    }

    println!(
        "time to connect over loopback: median of {runs} run{} (min-max); \"cap\" means no connection within {} s",
        if runs == 1 { "" } else { "s" },
        CAP.as_secs()
    );
    println!();
    println!(
        "| {:<34} | {:<26} | {:<26} | {:<26} |",
        "addresses, in order", "staggered::net", "sequential connect", "hyper-util HttpConnector"
    );
    println!("|{:-<36}|{:-<28}|{:-<28}|{:-<28}|", "", "", "", "");
    for (name, addrs) in &cases {
        let staggered = measure(runs, || async {
            HappyEyeballs::new(Tokio)
                .connect(addrs.iter().copied())
                .await
                .map_err(io::Error::from)
        })
        .await;
        let sequential = measure(runs, || TcpStream::connect(&addrs[..])).await;
        let hyper = measure(runs, || async {
            let mut connector = HttpConnector::new_with_resolver(Fixed(Arc::new(addrs.clone())));
            connector.set_happy_eyeballs_timeout(Some(Duration::from_millis(300)));
            let uri: http::Uri = "http://bench.invalid/".parse().unwrap();
            connector.call(uri).await.map_err(io::Error::other)
        })
        .await;
        println!("| {name:<34} | {staggered:<26} | {sequential:<26} | {hyper:<26} |");
    }
    println!();
    println!("staggered::net: attempt delay 250 ms (RFC 8305 default). hyper-util: fallback delay 300 ms (its default), no connect timeout.");

    resolution(runs).await
}

/// Issue 23, item 5: the size of the futures, as `std::mem::size_of_val` gives it (what each
/// connect in flight holds, before any heap allocation). `cargo test --all-features --lib
/// future_sizes -- --ignored --nocapture` prints the parts inside (debug build).
fn sizes() -> io::Result<()> {
    use std::mem::size_of_val;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
    let system = HappyEyeballs::new(Tokio);
    // A resolver with no name server: only its futures' size is wanted.
    let resolver = hickory_resolver::TokioResolver::builder_with_config(
        hickory_resolver::config::ResolverConfig::from_parts(None, vec![], vec![]),
        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
    )
    .build()
    .map_err(io::Error::other)?;
    let hickory = HappyEyeballs::new(Tokio).resolver(HickoryResolver::new(resolver));
    println!("size of the futures (bytes, std::mem::size_of_val):");
    println!(
        "  tokio::net::TcpStream::connect(addr)                  {:>5}",
        size_of_val(&TcpStream::connect(addr))
    );
    println!(
        "  HappyEyeballs::connect([addr])                        {:>5}",
        size_of_val(&system.connect([addr]))
    );
    println!(
        "  HappyEyeballs::connect_host, SystemResolver           {:>5}",
        size_of_val(&system.connect_host("a.test:1"))
    );
    println!(
        "  HappyEyeballs::connect_host, HickoryResolver          {:>5}",
        size_of_val(&hickory.connect_host("a.test:1"))
    );
    println!();
    Ok(())
}

/// Issue 12: RFC 8305 §3 resolution against waiting for both answers (what `connect_host` did
/// before), through a DNS server on loopback with set delays.
async fn resolution(runs: usize) -> io::Result<()> {
    let dns = DnsServer::start().await?;
    let v6 = IpAddr::from(Ipv6Addr::LOCALHOST);
    let v4 = IpAddr::from(Ipv4Addr::LOCALHOST);
    let late = Duration::from_millis(200);
    let cases = [
        (
            "AAAA 200 ms late, good A",
            (v6, Endpoint::Good),
            late,
            Duration::ZERO,
        ),
        (
            "A 200 ms late, good AAAA",
            (v6, Endpoint::Good),
            Duration::ZERO,
            late,
        ),
        (
            "first AAAA black-holed, good A",
            (v6, Endpoint::BlackHole),
            Duration::ZERO,
            Duration::ZERO,
        ),
    ];
    println!();
    println!(
        "time to connect to a name, through a DNS server on loopback (hickory-server; HickoryResolver): median of {runs} run{} (min-max)",
        if runs == 1 { "" } else { "s" },
    );
    println!();
    println!(
        "| {:<34} | {:<26} | {:<26} |",
        "answers", "connect_host (RFC 8305 §3)", "both answers, then race"
    );
    println!("|{:-<36}|{:-<28}|{:-<28}|", "", "", "");
    for (i, (name, aaaa, aaaa_after, a_after)) in cases.into_iter().enumerate() {
        let (port, _keep) = on_one_port(&[aaaa, (v4, Endpoint::Good)])?;
        let host = format!("case{i}.test");
        dns.answer(&host, Query::V6, aaaa_after, Answer::Addrs(vec![v6]));
        dns.answer(&host, Query::V4, a_after, Answer::Addrs(vec![v4]));
        let target = format!("{host}:{port}");
        let connector = HappyEyeballs::new(Tokio).resolver(HickoryResolver::new(dns.resolver()?));
        let rfc8305 = measure(runs, || async {
            connector
                .connect_host(&target)
                .await
                .map_err(io::Error::from)
        })
        .await;
        // connect_host before issue 12: both lookups, then the race, IPv6 first.
        let both_first = measure(runs, || async {
            let mut addrs = connector.resolve(&target).await.map_err(io::Error::from)?;
            addrs.sort_by_key(SocketAddr::is_ipv4);
            connector.connect(addrs).await.map_err(io::Error::from)
        })
        .await;
        println!("| {name:<34} | {rfc8305:<26} | {both_first:<26} |");
    }
    println!();
    println!("Resolution Delay 50 ms and attempt delay 250 ms (RFC 8305 defaults). Every address shares the port of host:port.");
    Ok(())
}

/// Runs `connect` `runs` times, each capped at `CAP`, and formats the median and range.
async fn measure<F, Fut, T>(runs: usize, mut connect: F) -> String
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut times = Vec::new();
    let mut capped = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        match tokio::time::timeout(CAP, connect()).await {
            Ok(Ok(_stream)) => times.push(t0.elapsed()),
            Ok(Err(e)) => return format!("error: {e}"),
            Err(_) => capped += 1,
        }
    }
    if capped == runs {
        return format!(">= {} ms (cap)", CAP.as_millis());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(times[times.len() / 2]);
    let mut out = format!("{median:.2} ms");
    if times.len() > 1 {
        out += &format!(" ({:.2}-{:.2})", ms(times[0]), ms(times[times.len() - 1]));
    }
    if capped > 0 {
        out += &format!(", {capped} capped");
    }
    out
}

/// A resolver for hyper-util that always answers with the same list.
#[derive(Clone)]
struct Fixed(Arc<Vec<SocketAddr>>);

impl Service<Name> for Fixed {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<Self::Response>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        std::future::ready(Ok(Vec::clone(&self.0).into_iter()))
    }
}
