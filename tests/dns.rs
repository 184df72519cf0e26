//! RFC 8305 §3 resolution against a real DNS server on loopback: `connect_host` through
//! [`HickoryResolver`] (real, separate AAAA and A queries) to an authoritative `hickory-server`
//! in this process, on 127.0.0.1, whose answers come with set delays, or not at all, or as
//! NXDOMAIN or SERVFAIL (`support/dns.rs`).
//!
//! The addresses of a name share one port, so each test puts its endpoints on one port number
//! across loopback addresses: `[::1]`, `127.0.0.1` and `127.0.0.2` (all of 127/8 is loopback
//! on Linux). Timings use real clocks: exact lower bounds, generous upper bounds.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use staggered::net::{ConnectErrorKind, ConnectEvent, HappyEyeballs, HickoryResolver, Tokio};

#[path = "support/dns.rs"]
mod dns;
#[path = "support/loopback.rs"]
mod loopback;

use dns::{Answer, DnsServer, Family as Query};
use loopback::{on_one_port, Endpoint};

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V4_B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One line of the timeline: milliseconds since the connect began, and what happened.
type Line = (u64, String);

/// Every event of a connect, as it happened.
type Timeline = Arc<Mutex<Vec<Line>>>;

/// A connector on the server's resolver that writes every event to a timeline (its times
/// counted from now), with the attempt delay `delay`.
fn connector(
    server: &DnsServer,
    delay: Duration,
) -> (HappyEyeballs<Tokio, HickoryResolver>, Timeline) {
    let timeline = Arc::new(Mutex::new(Vec::new()));
    let (log, start) = (timeline.clone(), Instant::now());
    let resolver = HickoryResolver::new(server.resolver().expect("a resolver for the server"));
    let connector = HappyEyeballs::new(Tokio)
        .resolver(resolver)
        .attempt_delay(delay)
        .on_event(move |event| {
            let at = start.elapsed().as_millis() as u64;
            let line = match event {
                ConnectEvent::Resolved {
                    family,
                    result: Ok(addrs),
                } => {
                    let ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                    format!("{family}: [{}]", ips.join(", "))
                }
                ConnectEvent::Resolved {
                    family,
                    result: Err(e),
                } => format!("{family}: error: {e}"),
                ConnectEvent::ResolutionDelayStarted { delay } => format!("wait {delay:?}"),
                ConnectEvent::ResolutionDelayPassed { .. } => "waited".to_owned(),
                ConnectEvent::Started { attempt, addr } => {
                    format!("#{attempt} {} started", addr.ip())
                }
                ConnectEvent::Failed { attempt, .. } => format!("#{attempt} failed"),
                ConnectEvent::Won { attempt, .. } => format!("#{attempt} won"),
                ConnectEvent::Cancelled { attempt, .. } => format!("#{attempt} cancelled"),
                _ => return,
            };
            log.lock().unwrap().push((at, line));
        });
    (connector, timeline)
}

/// The timeline's lines without their times.
fn what(timeline: &Mutex<Vec<Line>>) -> Vec<String> {
    timeline
        .lock()
        .unwrap()
        .iter()
        .map(|(_, l)| l.clone())
        .collect()
}

/// When the first line that starts with `prefix` happened.
fn when(timeline: &Mutex<Vec<Line>>, prefix: &str) -> u64 {
    let lines = timeline.lock().unwrap();
    lines
        .iter()
        .find(|(_, l)| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {lines:?}"))
        .0
}

/// Sets the server's answers for `name`: (delay in ms, answer) for AAAA, then for A.
fn answers(server: &DnsServer, name: &str, aaaa: (u64, Answer), a: (u64, Answer)) {
    server.answer(name, Query::V6, ms(aaaa.0), aaaa.1);
    server.answer(name, Query::V4, ms(a.0), a.1);
}

fn addrs(ips: &[IpAddr]) -> Answer {
    Answer::Addrs(ips.to_vec())
}

#[tokio::test]
async fn aaaa_first_starts_the_race_at_once() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::Good), (V4, Endpoint::Good)])?;
    answers(
        &server,
        "aaaa-first.test",
        (0, addrs(&[V6])),
        (300, addrs(&[V4])),
    );
    let t0 = Instant::now();
    let (connector, timeline) = connector(&server, ms(250));
    let stream = connector
        .connect_host(&format!("aaaa-first.test:{port}"))
        .await?;
    let elapsed = t0.elapsed();
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V6, port));
    assert!(
        elapsed < ms(250),
        "connected in {elapsed:?}, not before the A answer at 300 ms"
    );
    // The A answer had not come: the race did not wait for it.
    assert_eq!(
        what(&timeline),
        ["IPv6 (AAAA): [::1]", "#0 ::1 started", "#0 won"]
    );
    // Both queries were sent, separately and at once.
    let queries = server.queries();
    let kinds: Vec<&str> = queries.iter().map(|q| q.2).collect();
    assert!(
        kinds.contains(&"AAAA") && kinds.contains(&"A"),
        "{queries:?}"
    );
    assert!(queries.iter().all(|q| q.0 < ms(200)), "{queries:?}");
    Ok(())
}

#[tokio::test]
async fn a_first_then_aaaa_within_the_resolution_delay_goes_ipv6_first() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::Good), (V4, Endpoint::Good)])?;
    answers(
        &server,
        "within.test",
        (15, addrs(&[V6])),
        (0, addrs(&[V4])),
    );
    // A Resolution Delay of 200 ms, so that a busy machine does not let it pass before the
    // AAAA answer at 15 ms.
    let (connector, timeline) = connector(&server, ms(250));
    let stream = connector
        .resolution_delay(ms(200))
        .connect_host(&format!("within.test:{port}"))
        .await?;
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V6, port));
    assert_eq!(
        what(&timeline),
        [
            "IPv4 (A): [127.0.0.1]",
            "wait 200ms",
            "IPv6 (AAAA): [::1]",
            "#0 ::1 started",
            "#0 won"
        ]
    );
    assert!(when(&timeline, "#0 ::1 started") >= 15);
    Ok(())
}

#[tokio::test]
async fn a_first_then_aaaa_after_the_resolution_delay_goes_ipv4() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::Good), (V4, Endpoint::Good)])?;
    answers(
        &server,
        "after.test",
        (400, addrs(&[V6])),
        (0, addrs(&[V4])),
    );
    let t0 = Instant::now();
    let (connector, timeline) = connector(&server, ms(250));
    let stream = connector
        .connect_host(&format!("after.test:{port}"))
        .await?;
    let elapsed = t0.elapsed();
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V4, port));
    assert_eq!(
        what(&timeline),
        [
            "IPv4 (A): [127.0.0.1]",
            "wait 50ms",
            "waited",
            "#0 127.0.0.1 started",
            "#0 won"
        ]
    );
    let a = when(&timeline, "IPv4");
    assert!(when(&timeline, "waited") >= a + 50);
    assert!(
        elapsed >= ms(50) && elapsed < ms(400),
        "connected in {elapsed:?}"
    );
    Ok(())
}

#[tokio::test]
async fn one_family_failing_leaves_it_out() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::Good), (V4, Endpoint::Good)])?;
    let (connector, timeline) = connector(&server, ms(250));

    // AAAA SERVFAIL: IPv4 at once, with no Resolution Delay (AAAA is already done).
    answers(
        &server,
        "servfail6.test",
        (0, Answer::ServFail),
        (10, addrs(&[V4])),
    );
    let stream = connector
        .connect_host(&format!("servfail6.test:{port}"))
        .await?;
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V4, port));
    let lines = what(&timeline);
    assert!(
        lines[0].starts_with("IPv6 (AAAA): error: ") && lines[0].contains("SERVFAIL"),
        "{lines:?}"
    );
    assert_eq!(
        lines[1..],
        ["IPv4 (A): [127.0.0.1]", "#0 127.0.0.1 started", "#0 won"]
    );

    // A NXDOMAIN (a server that lies about one family): IPv6 goes alone.
    timeline.lock().unwrap().clear();
    answers(
        &server,
        "nx4.test",
        (10, addrs(&[V6])),
        (0, Answer::NxDomain),
    );
    let stream = connector.connect_host(&format!("nx4.test:{port}")).await?;
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V6, port));

    // AAAA never answered: the Resolution Delay, not the resolver's timeout, holds IPv4 back.
    timeline.lock().unwrap().clear();
    answers(
        &server,
        "silent6.test",
        (0, Answer::NoAnswer),
        (0, addrs(&[V4])),
    );
    let t0 = Instant::now();
    let stream = connector
        .connect_host(&format!("silent6.test:{port}"))
        .await?;
    let elapsed = t0.elapsed();
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V4, port));
    assert!(
        elapsed >= ms(50) && elapsed < ms(1000),
        "connected in {elapsed:?}"
    );
    assert_eq!(
        what(&timeline),
        [
            "IPv4 (A): [127.0.0.1]",
            "wait 50ms",
            "waited",
            "#0 127.0.0.1 started",
            "#0 won"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn both_families_failing_is_one_error_naming_both_lookups() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (connector, timeline) = connector(&server, ms(250));

    answers(
        &server,
        "broken.test",
        (0, Answer::ServFail),
        (5, Answer::NxDomain),
    );
    let err = connector.connect_host("broken.test:443").await.unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Resolve);
    assert_eq!(err.host(), Some("broken.test:443"));
    let message = err.to_string();
    assert!(
        message.starts_with("could not resolve broken.test:443: IPv6 (AAAA) lookup failed: "),
        "{message}"
    );
    assert!(
        message.contains("SERVFAIL") && message.contains("; IPv4 (A) lookup failed: "),
        "{message}"
    );
    assert!(message.contains("NXDOMAIN"), "{message}");
    assert!(err.attempts().is_empty());
    assert_eq!(what(&timeline).len(), 2, "both lookups reported");

    // A name the server does not know: NXDOMAIN for both, which converts to NotFound.
    let err = connector
        .connect_host("nowhere.test:443")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Resolve);
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);

    // NOERROR with no records in either family: the name has no address.
    answers(
        &server,
        "empty.test",
        (0, Answer::Empty),
        (0, Answer::Empty),
    );
    let err = connector.connect_host("empty.test:443").await.unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::NoAddresses);
    assert_eq!(err.to_string(), "empty.test:443 resolved to no addresses");
    Ok(())
}

#[tokio::test]
async fn a_server_that_never_answers_ends_at_the_resolve_timeout() -> io::Result<()> {
    let server = DnsServer::start().await?;
    answers(
        &server,
        "hangs.test",
        (0, Answer::NoAnswer),
        (0, Answer::NoAnswer),
    );
    let (connector, _) = connector(&server, ms(250));
    let connector = connector.resolve_timeout(ms(300));
    let t0 = Instant::now();
    let err = connector.connect_host("hangs.test:443").await.unwrap_err();
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= ms(300) && elapsed < ms(3000),
        "failed after {elapsed:?}"
    );
    assert_eq!(err.kind(), ConnectErrorKind::Resolve);
    assert_eq!(
        err.to_string(),
        "could not resolve hangs.test:443: \
         IPv6 (AAAA) lookup failed: no answer within the resolve timeout of 300ms; \
         IPv4 (A) lookup failed: no answer within the resolve timeout of 300ms"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);

    // With no resolve timeout, the overall timeout still ends it, naming the host.
    let (connector, _) = self::connector(&server, ms(250));
    let connector = connector.resolve_timeout(None).timeout(ms(200));
    let err = connector.connect_host("hangs.test:443").await.unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut);
    assert_eq!(
        err.to_string(),
        "connecting to hangs.test:443 timed out after 200ms (0 addresses tried); \
         name lookups: IPv6 (AAAA) lookup had not answered; IPv4 (A) lookup had not answered"
    );
    assert_eq!(
        err.resolve_error().map(io::Error::kind),
        Some(io::ErrorKind::TimedOut)
    );
    Ok(())
}

/// Issue 23, item 1: AAAA answers with a refused `[::1]`, every A query is lost. The connect
/// fails once the A lookup times out, and the error names that lookup, not only the refusal.
#[tokio::test]
async fn a_refused_address_and_a_lost_a_query_name_the_lookup() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::Refusing)])?;
    answers(
        &server,
        "c1.lb.test",
        (0, addrs(&[V6])),
        (0, Answer::NoAnswer),
    );
    let (connector, timeline) = connector(&server, ms(250));
    let connector = connector.resolve_timeout(ms(300));
    let host = format!("c1.lb.test:{port}");
    let t0 = Instant::now();
    let err = connector.connect_host(&host).await.unwrap_err();
    let elapsed = t0.elapsed();
    assert!(elapsed >= ms(300) && elapsed < ms(3000), "{elapsed:?}");
    assert_eq!(err.kind(), ConnectErrorKind::AllFailed);
    assert_eq!(err.attempts().len(), 1);
    assert_eq!(err.attempts()[0].1.kind(), io::ErrorKind::ConnectionRefused);
    let lookups = err
        .resolve_error()
        .expect("the A lookup's timeout is in the error");
    assert_eq!(lookups.kind(), io::ErrorKind::TimedOut);
    assert_eq!(
        lookups.to_string(),
        "IPv6 (AAAA) lookup found 1 address; \
         IPv4 (A) lookup failed: no answer within the resolve timeout of 300ms"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "could not connect to {host} (1 address tried): [0] [::1]:{port}: "
        )),
        "{message}"
    );
    assert!(
        message.ends_with(
            "; name lookups: IPv6 (AAAA) lookup found 1 address; \
             IPv4 (A) lookup failed: no answer within the resolve timeout of 300ms"
        ),
        "{message}"
    );
    // The io::Error keeps the kind of the last attempt, as before.
    assert_eq!(
        io::Error::from(err).kind(),
        io::ErrorKind::ConnectionRefused
    );
    assert!(what(&timeline).contains(&"#0 failed".to_owned()));

    // Both lookups answered: nothing to blame on them.
    answers(&server, "c2.lb.test", (0, addrs(&[V6])), (0, Answer::Empty));
    let err = connector
        .connect_host(&format!("c2.lb.test:{port}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::AllFailed);
    assert!(err.resolve_error().is_none(), "{err}");
    assert!(!err.to_string().contains("lookup"), "{err}");
    Ok(())
}

/// Issue 23, item 1: a black-holed `[::1]` and every A query lost. Whether the overall
/// timeout or the attempt timeout ends it, the error names the A lookup: failed (its resolve
/// timeout passed) or had not answered.
#[tokio::test]
async fn a_black_hole_and_a_lost_a_query_name_the_lookup() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::BlackHole)])?;
    answers(
        &server,
        "c1.hole.test",
        (0, addrs(&[V6])),
        (0, Answer::NoAnswer),
    );
    let host = format!("c1.hole.test:{port}");
    let (connector, _) = connector(&server, ms(250));

    // The overall timeout passes after the A lookup's resolve timeout.
    let err = connector
        .clone()
        .resolve_timeout(ms(200))
        .timeout(ms(500))
        .connect_host(&host)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut);
    assert_eq!(err.attempts().len(), 1);
    let message = err.to_string();
    assert!(
        message.ends_with(
            "; name lookups: IPv6 (AAAA) lookup found 1 address; \
             IPv4 (A) lookup failed: no answer within the resolve timeout of 200ms"
        ),
        "{message}"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);

    // The overall timeout passes first: the A lookup had not answered.
    let err = connector
        .clone()
        .resolve_timeout(ms(5000))
        .timeout(ms(300))
        .connect_host(&host)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::TimedOut);
    let lookups = err
        .resolve_error()
        .expect("the unanswered lookup is in the error");
    assert_eq!(lookups.kind(), io::ErrorKind::TimedOut);
    assert!(
        lookups
            .to_string()
            .ends_with("IPv4 (A) lookup had not answered"),
        "{lookups}"
    );

    // No overall timeout, an attempt timeout (in place of the OS's two minutes): all
    // failed, the attempt timed out, and the A lookup is named.
    let err = connector
        .clone()
        .resolve_timeout(ms(200))
        .attempt_timeout(ms(400))
        .connect_host(&host)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::AllFailed);
    assert_eq!(err.attempts()[0].1.kind(), io::ErrorKind::TimedOut);
    assert!(
        err.to_string()
            .contains("IPv4 (A) lookup failed: no answer within the resolve timeout of 200ms"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn late_answers_join_the_race_in_their_turn() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::Good), (V4_B, Endpoint::BlackHole)])?;
    // A at once with a black hole; AAAA 150 ms later with a good address.
    answers(
        &server,
        "late.test",
        (150, addrs(&[V6])),
        (0, addrs(&[V4_B])),
    );
    let (connector, timeline) = connector(&server, ms(250));
    let stream = connector.connect_host(&format!("late.test:{port}")).await?;
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V6, port));
    assert_eq!(
        what(&timeline),
        [
            "IPv4 (A): [127.0.0.2]",
            "wait 50ms",
            "waited",
            "#0 127.0.0.2 started",
            "IPv6 (AAAA): [::1]",
            "#1 ::1 started",
            "#1 won",
            "#0 cancelled"
        ]
    );
    // The AAAA answer is reported when it comes, and its address starts when the attempt
    // delay after #0 has passed.
    let first = when(&timeline, "#0 ");
    assert!(when(&timeline, "IPv6") >= 150 && when(&timeline, "IPv6") < first + 250);
    assert!(when(&timeline, "#1 ") >= first + 250);
    Ok(())
}

#[tokio::test]
async fn a_due_start_waits_for_the_next_answer_then_goes_at_once() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::Good), (V4_B, Endpoint::BlackHole)])?;
    // The next start is due at 50 + 100 ms, but AAAA only answers at 500 ms.
    answers(
        &server,
        "due.test",
        (500, addrs(&[V6])),
        (0, addrs(&[V4_B])),
    );
    let (connector, timeline) = connector(&server, ms(100));
    let stream = connector.connect_host(&format!("due.test:{port}")).await?;
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V6, port));
    let answered = when(&timeline, "IPv6");
    let started = when(&timeline, "#1 ::1 started");
    assert!(answered >= 500);
    assert!(
        started >= answered && started < answered + 100,
        "{:?}",
        timeline.lock().unwrap()
    );
    Ok(())
}

#[tokio::test]
async fn a_black_holed_first_address_with_resolution_in_flight() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::BlackHole), (V4, Endpoint::Good)])?;
    // AAAA at once with a black hole; A 100 ms later with a good address.
    answers(&server, "hole.test", (0, addrs(&[V6])), (100, addrs(&[V4])));
    let t0 = Instant::now();
    let (connector, timeline) = connector(&server, ms(250));
    let stream = connector.connect_host(&format!("hole.test:{port}")).await?;
    let elapsed = t0.elapsed();
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V4, port));
    assert_eq!(
        what(&timeline),
        [
            "IPv6 (AAAA): [::1]",
            "#0 ::1 started",
            "IPv4 (A): [127.0.0.1]",
            "#1 127.0.0.1 started",
            "#1 won",
            "#0 cancelled"
        ]
    );
    // The A answer came while #0 hung (and was reported then); #1 started at the delay.
    let first = when(&timeline, "#0 ");
    assert!(when(&timeline, "IPv4") >= 100 && when(&timeline, "IPv4") < first + 250);
    assert!(when(&timeline, "#1 ") >= first + 250);
    assert!(
        elapsed >= ms(250) && elapsed < ms(1000),
        "connected in {elapsed:?}"
    );
    Ok(())
}

#[tokio::test]
async fn resolve_gives_every_address_in_the_order_connect_host_would_start_them() -> io::Result<()>
{
    let server = DnsServer::start().await?;
    // A Resolution Delay of 200 ms: AAAA at 10 ms is well within it, at 500 ms well after.
    let (connector, _) = connector(&server, ms(250));
    let connector = connector.resolution_delay(ms(200));
    let v6b = IpAddr::V6("::2".parse().unwrap());
    // AAAA within the Resolution Delay: interleaved, IPv6 first.
    answers(
        &server,
        "order.test",
        (10, addrs(&[V6, v6b])),
        (0, addrs(&[V4, V4_B])),
    );
    let order = connector.resolve("order.test:80").await?;
    let ips: Vec<IpAddr> = order.iter().map(SocketAddr::ip).collect();
    assert_eq!(ips, [V6, V4, v6b, V4_B]);
    assert!(order.iter().all(|a| a.port() == 80));
    // AAAA after it: IPv4 went first, and the late IPv6 addresses follow.
    answers(
        &server,
        "order.test",
        (500, addrs(&[V6, v6b])),
        (0, addrs(&[V4, V4_B])),
    );
    let order = connector.resolve("order.test:80").await?;
    let ips: Vec<IpAddr> = order.iter().map(SocketAddr::ip).collect();
    assert_eq!(ips, [V4, V4_B, V6, v6b]);
    Ok(())
}

#[tokio::test]
async fn the_resolution_delay_at_its_edges() -> io::Result<()> {
    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::Good), (V4, Endpoint::Good)])?;
    answers(
        &server,
        "edges.test",
        (300, addrs(&[V6])),
        (0, addrs(&[V4])),
    );
    let host = format!("edges.test:{port}");

    // Zero: the A answer starts the race at once.
    let (connector, timeline) = connector(&server, ms(250));
    let t0 = Instant::now();
    let stream = connector
        .resolution_delay(Duration::ZERO)
        .connect_host(&host)
        .await?;
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V4, port));
    assert!(t0.elapsed() < ms(300));
    assert_eq!(
        what(&timeline),
        [
            "IPv4 (A): [127.0.0.1]",
            "wait 0ns",
            "waited",
            "#0 127.0.0.1 started",
            "#0 won"
        ]
    );

    // `Duration::MAX`: never go without AAAA; it answers at 300 ms and goes first.
    let (connector, timeline) = self::connector(&server, ms(250));
    let t0 = Instant::now();
    let stream = connector
        .resolution_delay(Duration::MAX)
        .connect_host(&host)
        .await?;
    assert_eq!(stream.peer_addr()?, SocketAddr::new(V6, port));
    assert!(t0.elapsed() >= ms(300));
    assert_eq!(
        what(&timeline)[2..4],
        ["IPv6 (AAAA): [::1]", "#0 ::1 started"]
    );
    Ok(())
}

/// A resolver that panics: in `lookup` itself (`Now`), or in its future (`Later`).
enum Panics {
    Now,
    Later,
}

impl staggered::net::Resolve for Panics {
    fn lookup(
        &self,
        _: &str,
        _: u16,
        _: staggered::net::Family,
    ) -> impl std::future::Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        if let Panics::Now = self {
            panic!("the resolver panicked");
        }
        async { panic!("the lookup panicked") }
    }
}

#[tokio::test]
async fn panics_in_the_resolver_and_the_observer_reach_the_caller() -> io::Result<()> {
    // A panic in the resolver or in the observer unwinds out of the connect's poll: the task
    // that runs it ends with the panic (no hang), and the connector still works afterwards.
    for resolver in [Panics::Now, Panics::Later] {
        let connector = HappyEyeballs::new(Tokio).resolver(resolver);
        let joined =
            tokio::spawn(async move { connector.connect_host("panics.test:80").await.map(|_| ()) })
                .await;
        assert!(joined.unwrap_err().is_panic());
    }

    let server = DnsServer::start().await?;
    let (port, _keep) = on_one_port(&[(V6, Endpoint::Good), (V4, Endpoint::Good)])?;
    answers(
        &server,
        "observed.test",
        (100, addrs(&[V6])),
        (0, addrs(&[V4])),
    );
    let host = format!("observed.test:{port}");
    let resolver = HickoryResolver::new(server.resolver()?);
    for panic_on in ["resolved", "delay", "started"] {
        let connector = HappyEyeballs::new(Tokio)
            .resolver(resolver.clone())
            .on_event(move |event| {
                let now = match event {
                    ConnectEvent::Resolved { .. } => "resolved",
                    ConnectEvent::ResolutionDelayStarted { .. } => "delay",
                    ConnectEvent::Started { .. } => "started",
                    _ => return,
                };
                if now == panic_on {
                    panic!("the observer panicked on {now}");
                }
            });
        let target = host.clone();
        let joined =
            tokio::spawn(async move { connector.connect_host(&target).await.map(|_| ()) }).await;
        assert!(joined.unwrap_err().is_panic(), "a panic on {panic_on}");
    }
    let connector = HappyEyeballs::new(Tokio).resolver(resolver);
    assert_eq!(
        connector.connect_host(&host).await?.peer_addr()?.port(),
        port
    );
    Ok(())
}

/// Issue 23, item 3: what `HickoryResolver`'s RFC 6724 sort adds to hickory's own lookup of a
/// name with 500 addresses, and how late a 1 ms ticker on the same (current-thread) executor
/// runs meanwhile. Prints figures, asserts only that the answers are whole:
///
/// `cargo test --release --all-features --test dns sort_cost -- --ignored --nocapture`
#[tokio::test]
#[ignore = "prints figures; run by hand"]
async fn sort_cost_against_hickorys_own_lookup() -> io::Result<()> {
    use staggered::net::{Family, Resolve};
    let server = DnsServer::start().await?;
    // 500 IPv6 addresses in one /64, 500 IPv4 ones over two /24s, and 500 IPv6 ones in 500
    // /64s (the worst case: one route lookup each, on the blocking pool).
    let one_subnet: Vec<IpAddr> = (0..500u16)
        .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i + 1).into())
        .collect();
    let v4: Vec<IpAddr> = (0..500u16)
        .map(|i| Ipv4Addr::new(198, 18, (i / 250) as u8, (i % 250) as u8 + 1).into())
        .collect();
    let spread: Vec<IpAddr> = (0..500u16)
        .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, i + 1, 0, 0, 0, 1).into())
        .collect();
    server.answer(
        "one.test",
        Query::V6,
        Duration::ZERO,
        Answer::Addrs(one_subnet),
    );
    server.answer("v4.test", Query::V4, Duration::ZERO, Answer::Addrs(v4));
    server.answer(
        "spread.test",
        Query::V6,
        Duration::ZERO,
        Answer::Addrs(spread),
    );
    let hickory = server.resolver()?;
    let ours = HickoryResolver::new(server.resolver()?);
    let runs = 20u32;
    for (name, family) in [
        ("one.test", Family::V6),
        ("v4.test", Family::V4),
        ("spread.test", Family::V6),
    ] {
        // Warm up (TCP connection to the server for the truncated answer).
        ours.lookup(name, 443, family).await?;
        let mut own = Duration::ZERO;
        let mut sorted = Duration::ZERO;
        let mut late = 0;
        let mut ticks = 0;
        for _ in 0..runs {
            let t0 = Instant::now();
            let n = match family {
                Family::V6 => hickory.ipv6_lookup(name).await.map(|l| l.answers().len()),
                Family::V4 => hickory.ipv4_lookup(name).await.map(|l| l.answers().len()),
            }
            .map_err(io::Error::other)?;
            own += t0.elapsed();
            assert_eq!(n, 500);
            // Ours, with a 1 ms ticker beside it on this executor.
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            let ticker = tokio::spawn(async move {
                let (mut late, mut ticks) = (0, 0);
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = Instant::now();
                    tokio::time::sleep(ms(1)).await;
                    ticks += 1;
                    if t.elapsed() > ms(5) {
                        late += 1;
                    }
                }
                (late, ticks)
            });
            tokio::task::yield_now().await;
            let t0 = Instant::now();
            let addrs = ours.lookup(name, 443, family).await?;
            sorted += t0.elapsed();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let (l, t) = ticker.await.unwrap();
            late += l;
            ticks += t;
            assert_eq!(addrs.len(), 500);
        }
        println!(
            "{name}: hickory's own lookup {:?}, HickoryResolver::lookup (with the sort) {:?} \
             ({:.2}x); 1 ms ticks more than 5 ms late: {late} of {ticks}",
            own / runs,
            sorted / runs,
            sorted.as_secs_f64() / own.as_secs_f64()
        );
    }
    Ok(())
}

/// Issue 23, item 4: connect times to an IPv4-only name through a DNS server that drops 30%
/// of the queries, with
/// hickory's default timeout and attempts and with shorter timeouts and more attempts.
/// Prints the figures:
///
/// `cargo test --release --all-features --test dns dns_loss -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints figures; run by hand (about a minute)"]
async fn dns_loss_tail_by_resolver_settings() -> io::Result<()> {
    let server = DnsServer::start().await?;
    // An IPv4-only name (AAAA: no records), the case of the issue: the connect waits for the
    // A answer, and a lost A query costs the resolver's timeout. (With addresses in both
    // families, both lookups must be lost for that.)
    let (port, _accepting) = loopback::accepting_on_one_port(&[V4]).await?;
    server.drop_share(300);
    let n = 1000;
    // A name of its own for each connect and setting: hickory shares one query among the
    // lookups of a name in flight at once, which would hide the loss.
    for i in 0..n * 4 {
        answers(
            &server,
            &format!("c{i}.lossy.test"),
            (0, Answer::Empty),
            (0, addrs(&[V4])),
        );
    }
    let mut next = 0;
    for (timeout, attempts) in [(5000, 2), (2000, 2), (2000, 3), (1000, 4)] {
        let resolver = server.resolver_with(|o| {
            o.timeout = ms(timeout);
            o.attempts = attempts;
        })?;
        let connector =
            Arc::new(HappyEyeballs::new(Tokio).resolver(HickoryResolver::new(resolver)));
        let gate = Arc::new(tokio::sync::Semaphore::new(100));
        let t0 = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let host = format!("c{next}.lossy.test:{port}");
            next += 1;
            let (connector, gate) = (connector.clone(), gate.clone());
            tasks.spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let t = Instant::now();
                let ok = connector.connect_host(&host).await.is_ok();
                (t.elapsed(), ok)
            });
        }
        let mut times = Vec::new();
        let mut failed = 0;
        while let Some(done) = tasks.join_next().await {
            let (took, ok) = done.unwrap();
            times.push(took);
            failed += usize::from(!ok);
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        let over = |limit: u64| times.iter().filter(|t| **t > ms(limit)).count() as f64 / n as f64;
        println!(
            "timeout {timeout} ms, attempts {attempts}: p50 {:?} p99 {:?} p99.9 {:?} max {:?}; \
             over 1 s {:.1}%, over 2 s {:.1}%, over 5 s {:.1}%; failed {failed} of {n}; \
             wall {:?}",
            at(0.5),
            at(0.99),
            at(0.999),
            times[times.len() - 1],
            over(1000) * 100.0,
            over(2000) * 100.0,
            over(5000) * 100.0,
            t0.elapsed()
        );
    }
    let (dropped, seen) = server.dropped();
    println!("dropped {dropped} of {seen} queries");
    Ok(())
}
