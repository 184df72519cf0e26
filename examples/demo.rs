//! Happy Eyeballs (RFC 8305) on loopback, in real time: `cargo run --example demo`.
//!
//! The demo sets up four local endpoints, connects through them with `staggered::net`, and
//! prints a timeline of every attempt as it happens: started, failed (with the error), won,
//! cancelled, in milliseconds since the connect began. It then runs the same address list
//! through plain sequential `TcpStream::connect`, capped at 3 s, and prints both side by side.
//!
//! Part 4 resolves a name through a DNS server on loopback (hickory-server, in this process)
//! whose AAAA answer is late, and shows RFC 8305 §3 on the same timeline: the A answer, the
//! Resolution Delay, and the race starting before AAAA has answered.
//!
//! Part 5 is Happy Eyeballs v3 (`staggered::net::HttpsConnector`): an HTTPS record with a
//! port, ALPN and address hints answered at once, A late, and a first endpoint that accepts
//! TCP but stalls the TLS handshake: the race is won by a finished handshake, on a hint,
//! before the A answer.
//!
//! It needs no network: everything is on 127.0.0.1 and [::1]. Given `host:port` arguments, it connects
//! to those instead (and then it does use the network and the system resolver).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use staggered::net::{
    ConnectEvent, HappyEyeballs, HickoryResolver, Tokio, DEFAULT_RESOLUTION_DELAY,
};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const DELAY: Duration = Duration::from_millis(250);
const CAP: Duration = Duration::from_secs(3);
const SLOW_DRAIN: Duration = Duration::from_millis(500);
/// How late the DNS server of part 4 answers AAAA.
const AAAA_LATE: Duration = Duration::from_millis(600);

#[path = "../tests/support/dns.rs"]
mod dns;
#[path = "../tests/support/loopback.rs"]
mod loopback;

use dns::{Answer, DnsServer, Family as Query};
use loopback::{on_one_port, Endpoint};

/// Labels for the addresses in the timeline.
type Names = Arc<HashMap<SocketAddr, String>>;

#[tokio::main]
async fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        return connect_to_arguments(&args).await;
    }

    println!("staggered: Happy Eyeballs (RFC 8305) on loopback, in real time");
    println!();
    println!("Four local endpoints:");
    let lab = Lab::new().await?;
    let names = lab.names();
    for (addr, name, what) in [
        (lab.black_hole, "black hole", "accept queue full, never drained: SYNs are dropped and a connect hangs"),
        (lab.refusing, "refusing", "a bound port with no listener: a connect is refused at once"),
        (
            lab.slow,
            "slow",
            "accept queue full until 500 ms in: a SYN gets through on the kernel's retransmission, ~1 s after it was sent",
        ),
        (lab.good, "good", "listening: a connect completes at once"),
    ] {
        println!("  {addr:<16} {name:<11} {what}");
    }

    let list = [lab.black_hole, lab.refusing, lab.slow, lab.good];
    println!();
    println!(
        "1. staggered::net::HappyEyeballs through all four, in that order (attempt delay {} ms):",
        DELAY.as_millis()
    );
    let staggered = happy_eyeballs(&list, &names).await;

    println!();
    println!("2. The same without the good one, so the slow one has to win:");
    let lab2 = Lab::new().await?;
    let names2 = lab2.names();
    happy_eyeballs(&[lab2.black_hole, lab2.refusing, lab2.slow], &names2).await;

    println!();
    println!(
        "3. Plain sequential tokio::net::TcpStream::connect through list 1, capped at {} s:",
        CAP.as_secs()
    );
    let sequential = sequential(&list, &names).await;

    println!();
    println!("Side by side, list 1 (black hole, refusing, slow, good):");
    println!("  {:<34} {:>9}  result", "", "time");
    println!(
        "  {:<34} {:>6} ms  {}",
        "staggered::net::HappyEyeballs",
        staggered.0.as_millis(),
        staggered.1
    );
    println!(
        "  {:<34} {:>6} ms  {}",
        "sequential TcpStream::connect",
        sequential.0.as_millis(),
        sequential.1
    );

    println!();
    resolution().await?;
    println!();
    tls().await?;
    Ok(())
}

/// How late the DNS server of part 5 answers A and AAAA.
/// 800 ms: the race is expected to be won at about 310 ms (the attempt delay after the
/// Resolution Delay), and CI checks it was before 700 ms on a loaded machine.
const A_LATE: Duration = Duration::from_millis(800);

/// Part 5: Happy Eyeballs v3 with `HttpsConnector`. The HTTPS record (port, ALPN h2, two
/// IPv4 hints) is in at once, A and AAAA 800 ms later; the first hint accepts TCP and never
/// answers the ClientHello, the second finishes its handshake. Success is a finished
/// handshake, so the second wins, on its hint, before A has answered.
async fn tls() -> io::Result<()> {
    use hickory_server::proto::rr::rdata::svcb::{Alpn, IpHint, SvcParamKey, SvcParamValue, SVCB};
    use hickory_server::proto::rr::rdata::A;
    use hyper_util::client::legacy::connect::Connection;
    use staggered::net::HttpsConnector;
    use tower_service::Service;

    let (stall, good) = ([127, 0, 0, 3], [127, 0, 0, 4]);
    // The server: a self-signed certificate for shop.test (rcgen), ALPN h2 and http/1.1.
    let certified = rcgen::generate_simple_self_signed(vec!["shop.test".to_owned()])
        .map_err(io::Error::other)?;
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    // rustls deprecates ring's provider (no post-quantum key exchange); it is the one that
    // builds with a C compiler alone, and this is loopback.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .map_err(io::Error::other)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let listener = TcpListener::bind(SocketAddr::from((good, 0))).await?;
    let port = listener.local_addr()?.port();
    // Accepts TCP (the kernel's backlog) and never reads: the handshake stalls.
    let _stalling = std::net::TcpListener::bind(SocketAddr::from((stall, port)))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    drop(tls);
                }
            });
        }
    });

    let dns = DnsServer::start().await?;
    let hint = |ip: [u8; 4]| A(ip.into());
    dns.answer_https(
        "shop.test",
        Duration::ZERO,
        vec![SVCB::new(
            1,
            hickory_server::proto::rr::Name::root(),
            vec![
                (
                    SvcParamKey::Alpn,
                    SvcParamValue::Alpn(Alpn(vec!["h2".to_owned()])),
                ),
                (SvcParamKey::Port, SvcParamValue::Port(port)),
                (
                    SvcParamKey::Ipv4Hint,
                    SvcParamValue::Ipv4Hint(IpHint(vec![hint(stall), hint(good)])),
                ),
            ],
        )],
    );
    let (stall_ip, good_ip) = (IpAddr::from(stall), IpAddr::from(good));
    dns.answer(
        "shop.test",
        Query::V4,
        A_LATE,
        Answer::Addrs(vec![stall_ip, good_ip]),
    );
    dns.answer("shop.test", Query::V6, A_LATE, Answer::Empty);
    let mut names = HashMap::new();
    names.insert(
        SocketAddr::new(stall_ip, port),
        format!("{stall_ip}:{port} (stalls TLS)"),
    );
    names.insert(
        SocketAddr::new(good_ip, port),
        format!("{good_ip}:{port} (good)"),
    );
    let names: Names = Arc::new(names);

    println!("5. Happy Eyeballs v3: staggered::net::HttpsConnector, HTTPS records and the TLS handshake in the race:");
    println!(
        "     shop.test  HTTPS  at once:        1 . alpn=h2 port={port} ipv4hint={stall_ip},{good_ip}"
    );
    println!(
        "     shop.test  A      after {} ms:   {stall_ip}, {good_ip}   (AAAA: none, after {} ms)",
        A_LATE.as_millis(),
        A_LATE.as_millis()
    );
    println!("     {stall_ip}:{port} accepts TCP and never answers the ClientHello; {good_ip}:{port} finishes the handshake");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).map_err(io::Error::other)?;
    let t0 = Instant::now();
    let labels = names.clone();
    let mut connector = HttpsConnector::new(provider, roots).happy_eyeballs(
        HappyEyeballs::new(Tokio)
            .resolver(HickoryResolver::new(dns.resolver()?))
            .attempt_delay(DELAY)
            .on_event(move |event| print_event(t0, &labels, event)),
    );
    println!(
        "   HttpsConnector::call(\"https://shop.test/\") (URI port 443), Resolution Delay {} ms, attempt delay {} ms:",
        DEFAULT_RESOLUTION_DELAY.as_millis(),
        DELAY.as_millis()
    );
    println!("      0 ms     HTTPS, AAAA and A queries sent, separately and at once");
    let uri = "https://shop.test/".parse().map_err(io::Error::other)?;
    let result = connector.call(uri).await;
    let took = t0.elapsed();
    match result {
        Ok(stream) => {
            let info = stream.inner().info().clone();
            println!(
                "  => handshake finished with {}{}, ALPN {}, h2 for hyper: {}, in {} ms (A answers at {} ms)",
                name(&names, info.remote_addr),
                if info.from_hint { " from the hint" } else { "" },
                info.alpn
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default(),
                stream.connected().is_negotiated_h2(),
                took.as_millis(),
                A_LATE.as_millis()
            );
        }
        Err(e) => println!("  => failed: {e}, in {} ms", took.as_millis()),
    }
    Ok(())
}

/// Part 4: a name through a DNS server on loopback whose AAAA answer is late. RFC 8305 §3:
/// the A answer starts the Resolution Delay, the race starts on IPv4 when it passes, and the
/// AAAA answer is not waited for.
async fn resolution() -> io::Result<()> {
    let dns = DnsServer::start().await?;
    let (hole, good, v6) = (
        IpAddr::from([127, 0, 0, 2]),
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    );
    let (port, _keep) = on_one_port(&[
        (good, Endpoint::Good),
        (hole, Endpoint::BlackHole),
        (v6, Endpoint::Good),
    ])?;
    dns.answer(
        "shop.test",
        Query::V4,
        Duration::ZERO,
        Answer::Addrs(vec![hole, good]),
    );
    dns.answer("shop.test", Query::V6, AAAA_LATE, Answer::Addrs(vec![v6]));
    let mut names = HashMap::new();
    for (ip, name) in [(hole, "black hole"), (good, "good"), (v6, "good")] {
        let addr = SocketAddr::new(ip, port);
        names.insert(addr, format!("{addr} ({name})"));
    }
    let names: Names = Arc::new(names);
    let host = format!("shop.test:{port}");
    println!(
        "4. A name, through a DNS server on loopback (hickory-server at {}), RFC 8305 §3:",
        dns.addr()
    );
    println!("     shop.test  A     at once:        {hole} (black hole), {good} (good)");
    println!(
        "     shop.test  AAAA  after {} ms:   {v6} (good)",
        AAAA_LATE.as_millis()
    );
    println!(
        "   connect_host({host:?}) with staggered::net::HickoryResolver (Resolution Delay {} ms, attempt delay {} ms):",
        DEFAULT_RESOLUTION_DELAY.as_millis(),
        DELAY.as_millis()
    );
    let t0 = Instant::now();
    let labels = names.clone();
    let connector = HappyEyeballs::new(Tokio)
        .resolver(HickoryResolver::new(dns.resolver()?))
        .attempt_delay(DELAY)
        .on_event(move |event| print_event(t0, &labels, event));
    println!("      0 ms     AAAA and A queries sent, separately and at once");
    let result = connector.connect_host(&host).await;
    let staggered = t0.elapsed();
    let summary = match result {
        Ok(stream) => format!("connected to {}", name(&names, stream.peer_addr()?)),
        Err(e) => format!("failed: {e}"),
    };
    println!("  => {summary}, in {} ms", staggered.as_millis());

    // What connect_host did before: wait for both answers, then race, IPv6 first.
    println!();
    println!("   The same name resolved first (both answers), then raced IPv6 first, as connect_host did before RFC 8305 §3:");
    let quiet = HappyEyeballs::new(Tokio)
        .resolver(HickoryResolver::new(dns.resolver()?))
        .attempt_delay(DELAY);
    let t0 = Instant::now();
    let mut addrs = quiet.resolve(&host).await.map_err(io::Error::from)?;
    println!(
        "  {:>5} ms     both answers in: {} addresses",
        t0.elapsed().as_millis(),
        addrs.len()
    );
    addrs.sort_by_key(SocketAddr::is_ipv4); // stable: IPv6 first, each family in order
    let result = quiet.connect(addrs).await;
    let both_first = t0.elapsed();
    let summary = match result {
        Ok(stream) => format!("connected to {}", name(&names, stream.peer_addr()?)),
        Err(e) => format!("failed: {e}"),
    };
    println!("  => {summary}, in {} ms", both_first.as_millis());
    println!();
    println!(
        "   RFC 8305 §3 resolution: {} ms; waiting for both answers: {} ms",
        staggered.as_millis(),
        both_first.as_millis()
    );
    Ok(())
}

/// Connects through `list` with Happy Eyeballs, printing each event as it happens. Returns the
/// time taken and a one-line result.
async fn happy_eyeballs(list: &[SocketAddr], names: &Names) -> (Duration, String) {
    let t0 = Instant::now();
    let labels = names.clone();
    let connector = HappyEyeballs::new(Tokio)
        .attempt_delay(DELAY)
        .on_event(move |event| print_event(t0, &labels, event));
    let result = connector.connect(list.iter().copied()).await;
    let elapsed = t0.elapsed();
    let summary = match result {
        Ok(stream) => {
            let peer = stream
                .peer_addr()
                .map(|a| name(names, a))
                .unwrap_or_default();
            format!("connected to {peer}")
        }
        Err(e) => format!("failed: {e}"),
    };
    println!("  => {summary}, in {} ms", elapsed.as_millis());
    (elapsed, summary)
}

/// What answered last before a Resolution Delay started: 1 an address answer, 2 an HTTPS
/// answer with address hints (the demo's connects run one at a time).
static LAST_ANSWER: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

fn print_event(t0: Instant, names: &Names, event: &ConnectEvent<'_>) {
    use std::sync::atomic::Ordering::Relaxed;
    let at = t0.elapsed().as_millis();
    match *event {
        ConnectEvent::Resolved {
            result: Ok(addrs), ..
        } if !addrs.is_empty() => LAST_ANSWER.store(1, Relaxed),
        ConnectEvent::HttpsRecords {
            result: Ok(records),
            ..
        } if records
            .iter()
            .any(|r| !r.ipv4hint.is_empty() || !r.ipv6hint.is_empty()) =>
        {
            LAST_ANSWER.store(2, Relaxed)
        }
        _ => {}
    }
    match *event {
        ConnectEvent::Addresses { addrs } => {
            let order: Vec<String> = addrs.iter().map(|&a| name(names, a)).collect();
            println!("  {at:>5} ms     order: {}", order.join(", "));
        }
        ConnectEvent::Resolved {
            family,
            result: Ok(addrs),
        } => {
            let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            println!("  {at:>5} ms     {family} answered: {}", list.join(", "));
        }
        ConnectEvent::Resolved {
            family,
            result: Err(error),
        } => println!("  {at:>5} ms     {family} lookup failed: {error}"),
        ConnectEvent::HttpsRecords {
            name,
            result: Ok(records),
        } => {
            let list: Vec<String> = records
                .iter()
                .map(|r| {
                    format!(
                        "priority {} port {:?} alpn {:?} ipv4hint {:?}",
                        r.priority, r.port, r.alpn, r.ipv4hint
                    )
                })
                .collect();
            println!(
                "  {at:>5} ms     HTTPS {name} answered: {}",
                list.join("; ")
            )
        }
        ConnectEvent::HttpsRecords {
            name,
            result: Err(error),
        } => println!("  {at:>5} ms     HTTPS {name} lookup failed: {error}"),
        ConnectEvent::ResolutionDelayStarted { delay } => println!(
            "  {at:>5} ms     {} came first: Resolution Delay, waiting up to {} ms for AAAA",
            if LAST_ANSWER.load(Relaxed) == 2 {
                "an HTTPS hint"
            } else {
                "A"
            },
            delay.as_millis()
        ),
        ConnectEvent::ResolutionDelayPassed { .. } => {
            println!("  {at:>5} ms     Resolution Delay passed with no AAAA: starting on IPv4")
        }
        ConnectEvent::Started { attempt, addr } => {
            println!("  {at:>5} ms  #{attempt} {:<30} started", name(names, addr))
        }
        ConnectEvent::Failed {
            attempt,
            addr,
            error,
        } => println!(
            "  {at:>5} ms  #{attempt} {:<30} failed: {error}",
            name(names, addr)
        ),
        ConnectEvent::Won { attempt, addr } => {
            println!("  {at:>5} ms  #{attempt} {:<30} WON", name(names, addr))
        }
        ConnectEvent::Cancelled { attempt, addr } => println!(
            "  {at:>5} ms  #{attempt} {:<30} cancelled (socket closed)",
            name(names, addr)
        ),
        _ => {}
    }
}

/// Connects through `list` one address at a time, as `TcpStream::connect` does, printing each
/// step; gives up at `CAP`.
async fn sequential(list: &[SocketAddr], names: &Names) -> (Duration, String) {
    let t0 = Instant::now();
    let ms = || t0.elapsed().as_millis();
    let run = async {
        for (i, &addr) in list.iter().enumerate() {
            println!("  {:>5} ms  #{i} {:<30} started", ms(), name(names, addr));
            match TcpStream::connect(addr).await {
                Ok(_) => {
                    println!("  {:>5} ms  #{i} {:<30} connected", ms(), name(names, addr));
                    return format!("connected to {}", name(names, addr));
                }
                Err(e) => println!(
                    "  {:>5} ms  #{i} {:<30} failed: {e}",
                    ms(),
                    name(names, addr)
                ),
            }
        }
        "every address failed".to_string()
    };
    let summary = match tokio::time::timeout(CAP, run).await {
        Ok(summary) => summary,
        Err(_) => {
            println!("  {:>5} ms     gave up at the cap, still connecting (the OS would wait about 2 minutes)", ms());
            format!("no connection: stopped at the {} s cap", CAP.as_secs())
        }
    };
    let elapsed = t0.elapsed();
    println!("  => {summary}, in {} ms", elapsed.as_millis());
    (elapsed, summary)
}

/// `host:port` arguments: resolve them, and connect through every address they give.
async fn connect_to_arguments(args: &[String]) -> io::Result<()> {
    let mut list = Vec::new();
    let mut names = HashMap::new();
    for arg in args {
        for addr in tokio::net::lookup_host(arg.as_str()).await? {
            names.insert(addr, format!("{addr} ({arg})"));
            list.push(addr);
        }
    }
    let names = Arc::new(names);
    println!(
        "Happy Eyeballs through {} (attempt delay {} ms):",
        args.join(", "),
        DELAY.as_millis()
    );
    let staggered = happy_eyeballs(&list, &names).await;
    println!();
    println!(
        "Sequential tokio::net::TcpStream::connect, capped at {} s:",
        CAP.as_secs()
    );
    let sequential = sequential(&list, &names).await;
    println!();
    println!(
        "  staggered::net::HappyEyeballs  {:>6} ms  {}",
        staggered.0.as_millis(),
        staggered.1
    );
    println!(
        "  sequential TcpStream::connect  {:>6} ms  {}",
        sequential.0.as_millis(),
        sequential.1
    );
    Ok(())
}

fn name(names: &Names, addr: SocketAddr) -> String {
    names
        .get(&addr)
        .cloned()
        .unwrap_or_else(|| addr.to_string())
}

/// The four local endpoints. They live as long as the `Lab`.
struct Lab {
    black_hole: SocketAddr,
    refusing: SocketAddr,
    slow: SocketAddr,
    good: SocketAddr,
    _keep: Vec<Box<dyn std::any::Any>>,
}

impl Lab {
    async fn new() -> io::Result<Lab> {
        let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();

        let (black_hole, listener, queued) = full_listener().await?;
        keep.push(Box::new((listener, queued)));

        let socket = TcpSocket::new_v4()?;
        socket.bind("127.0.0.1:0".parse().unwrap())?;
        let refusing = socket.local_addr()?;
        keep.push(Box::new(socket));

        // Full like the black hole, but drained after SLOW_DRAIN; then it accepts everything.
        let (slow, listener, queued) = full_listener().await?;
        let server = tokio::spawn(async move {
            tokio::time::sleep(SLOW_DRAIN).await;
            let mut accepted = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                accepted.push(stream);
            }
            drop(queued);
        });
        keep.push(Box::new(AbortOnDrop(server)));

        let good_listener = TcpListener::bind("127.0.0.1:0").await?;
        let good = good_listener.local_addr()?;
        keep.push(Box::new(good_listener));

        Ok(Lab {
            black_hole,
            refusing,
            slow,
            good,
            _keep: keep,
        })
    }

    fn names(&self) -> Names {
        let mut names = HashMap::new();
        for (addr, name) in [
            (self.black_hole, "black hole"),
            (self.refusing, "refusing"),
            (self.slow, "slow"),
            (self.good, "good"),
        ] {
            names.insert(addr, format!("{addr} ({name})"));
        }
        Arc::new(names)
    }
}

/// A listener with backlog 0 whose accept queue is full: further SYNs are dropped.
async fn full_listener() -> io::Result<(SocketAddr, TcpListener, Vec<TcpStream>)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse().unwrap())?;
    let listener = socket.listen(0)?;
    let addr = listener.local_addr()?;
    let mut queued = Vec::new();
    // Connect until one connect no longer completes: the queue is full.
    while let Ok(stream) =
        tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(addr)).await
    {
        queued.push(stream?);
        if queued.len() > 64 {
            return Err(io::Error::other("the accept queue never filled up"));
        }
    }
    Ok((addr, listener, queued))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
