//! Issue 23: a load test under faults, over loopback only. Thousands of concurrent
//! `connect_host` calls through `HickoryResolver` and a DNS server on 127.0.0.1 that drops a
//! share of the queries, to names whose addresses are a black hole, a refusing port and a
//! listener that accepts. It fails on:
//!
//! - a leaked file descriptor (`/proc/self/fd` counted before and after);
//! - a socket left in SYN_SENT towards the black hole (`/proc/net/tcp6`);
//! - a connect that runs past its bound (the overall timeout, plus a margin);
//! - an error that does not name a failed lookup: every name here has an address that works
//!   or none at all, so a connect can only fail because a lookup failed, timed out or had not
//!   answered, and the error must say so (`resolve_error`, and the message).
//!
//! `#[ignore]`d: run by `.ci/steps/72-load.sh` at a reduced count, and by hand:
//!
//! `STAGGERED_LOAD_CONNECTS=20000 cargo test --release --all-features --test load -- --ignored --nocapture`

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use staggered::net::{ConnectErrorKind, HappyEyeballs, HickoryResolver, Tokio};

#[path = "support/dns.rs"]
mod dns;
#[path = "support/loopback.rs"]
mod loopback;

use dns::{Answer, DnsServer, Family as Query};
use loopback::{accepting_on_one_port, connecting_to, BlackHole, Refusing};

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The overall timeout of each connect.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How far past [`TIMEOUT`] a connect may end before it counts as hung.
const MARGIN: Duration = Duration::from_secs(2);
/// Connects in flight at once.
const IN_FLIGHT: usize = 500;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The number of open file descriptors of this process.
fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

/// The kinds of name, by connect number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// AAAA: a black-holed `[::1]`; A: a listener on 127.0.0.1 that accepts.
    HoleThenGood,
    /// AAAA: a refusing `[::1]`; A: the accepting listener.
    RefusedThenGood,
    /// AAAA: a refusing `[::1]`; A: never answered. Always fails; the A lookup is to blame.
    RefusedAndLostA,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a load test: .ci/steps/72-load.sh runs it"]
async fn thousands_of_connects_under_faults() -> io::Result<()> {
    let n: usize = std::env::var("STAGGERED_LOAD_CONNECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let drop_per_mille = 200;
    if std::net::TcpListener::bind((V6, 0)).is_err() {
        println!("no IPv6 loopback here: skipping");
        return Ok(());
    }

    // The endpoints: the accepting listener on 127.0.0.1, with a black hole on [::1] at the
    // same port (for HoleThenGood), and another accepting port with a refusing [::1] (for
    // the two others).
    let (good_port, hole, accepting) = loop {
        let (port, accepting) = accepting_on_one_port(&[V4]).await?;
        match BlackHole::at(SocketAddr::new(V6, port)) {
            Ok(hole) => break (port, hole, accepting),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    };
    let (refused_port, refusing, accepting2) = loop {
        let (port, accepting) = accepting_on_one_port(&[V4]).await?;
        match Refusing::at(SocketAddr::new(V6, port)) {
            Ok(refusing) => break (port, refusing, accepting),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    };

    let server = DnsServer::start().await?;
    let kind = |i: usize| match i % 3 {
        0 => Kind::HoleThenGood,
        1 => Kind::RefusedThenGood,
        _ => Kind::RefusedAndLostA,
    };
    // A name of its own for each connect: hickory shares one query among concurrent lookups
    // of the same name, which would hide the loss.
    for i in 0..n {
        let name = format!("c{i}.load.test");
        server.answer(&name, Query::V6, Duration::ZERO, Answer::Addrs(vec![V6]));
        let a = match kind(i) {
            Kind::RefusedAndLostA => Answer::NoAnswer,
            _ => Answer::Addrs(vec![V4]),
        };
        server.answer(&name, Query::V4, Duration::ZERO, a);
    }
    server.drop_share(drop_per_mille);

    // Baselines, with the endpoints and the server up and nothing connecting yet.
    let fds_before = open_fds();
    let start = Instant::now();
    let (outcomes, worst) = {
        let resolver = server
            .resolver_with(|o| {
                o.timeout = ms(300);
                o.attempts = 1;
            })
            .expect("a resolver");
        let connector = Arc::new(
            HappyEyeballs::new(Tokio)
                .resolver(HickoryResolver::new(resolver))
                .resolve_timeout(ms(1000))
                .timeout(TIMEOUT),
        );
        let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (connector, gate) = (connector.clone(), gate.clone());
            let port = match kind(i) {
                Kind::HoleThenGood => good_port,
                _ => refused_port,
            };
            tasks.spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let t0 = Instant::now();
                let host = format!("c{i}.load.test:{port}");
                let bounded =
                    tokio::time::timeout(TIMEOUT + MARGIN, connector.connect_host(&host)).await;
                (i, t0.elapsed(), bounded)
            });
        }
        let mut outcomes = [0usize; 4]; // won, failed naming a lookup, hung, bad error
        let mut worst = Duration::ZERO;
        let mut bad = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (i, took, bounded) = done.expect("no connect panics");
            worst = worst.max(took);
            match bounded {
                Err(_) => {
                    outcomes[2] += 1;
                    bad.push(format!(
                        "c{i} ({:?}): still running after {took:?}",
                        kind(i)
                    ));
                }
                Ok(Ok(stream)) => {
                    outcomes[0] += 1;
                    assert_ne!(kind(i), Kind::RefusedAndLostA, "c{i} connected");
                    drop(stream);
                }
                Ok(Err(err)) => {
                    let named = err.resolve_error().is_some()
                        && err.to_string().contains("lookup")
                        && matches!(
                            err.kind(),
                            ConnectErrorKind::AllFailed
                                | ConnectErrorKind::TimedOut
                                | ConnectErrorKind::Resolve
                        );
                    if named {
                        outcomes[1] += 1;
                    } else {
                        outcomes[3] += 1;
                        bad.push(format!(
                            "c{i} ({:?}): an error naming no lookup: {err}",
                            kind(i)
                        ));
                    }
                }
            }
        }
        assert!(
            bad.is_empty(),
            "{} bad of {n}: {:#?}",
            bad.len(),
            &bad[..bad.len().min(10)]
        );
        (outcomes, worst)
    };
    let took = start.elapsed();

    // Every socket of a connect is closed when the connect ends: nothing left in SYN_SENT
    // towards the black hole, and the descriptors back to the baseline (the accept tasks
    // may take a moment to close the streams they accepted).
    let hole_syn_sent = connecting_to(hole.addr);
    assert!(
        matches!(hole_syn_sent, None | Some(0)),
        "sockets left in SYN_SENT towards the black hole: {hole_syn_sent:?}"
    );
    let mut fds_after = open_fds();
    let settle = Instant::now();
    while fds_after > fds_before && settle.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(ms(50)).await;
        fds_after = open_fds();
    }
    assert_eq!(fds_after, fds_before, "file descriptors before and after");

    let (dropped, seen) = server.dropped();
    println!(
        "{n} connects ({IN_FLIGHT} in flight) in {took:?}: {} connected, {} failed naming a \
         lookup, slowest {worst:?}; DNS: {dropped} of {seen} queries dropped; fds {:?} -> {:?}; \
         SYN_SENT to the black hole after: {hole_syn_sent:?}",
        outcomes[0], outcomes[1], fds_before, fds_after
    );
    // Every kind did its part: some connected (through the black hole and the refusal) and
    // some failed, each naming its lookup.
    assert!(outcomes[0] > 0 && outcomes[1] >= n / 3, "{outcomes:?}");
    drop((refusing, accepting, accepting2));
    Ok(())
}
