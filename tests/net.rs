//! Happy Eyeballs over real sockets, on loopback only (127.0.0.1 and [::1]), on both runtimes.
//!
//! Addresses that hang are "black holes": a listener with backlog 0 whose accept queue is
//! filled and never drained, so the kernel drops every further SYN and a connect to it waits
//! for the OS's timeout (minutes). `BlackHole::new` checks that this holds on the machine.
//! Addresses that refuse are sockets bound to a port but not listening.
//!
//! Timings use real clocks, so they assert exact lower bounds and generous upper bounds.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{select, Either, FutureExt};
use staggered::net::{
    AsyncIo, ConnectErrorKind, ConnectEvent, HappyEyeballs, Runtime, Tokio, DEFAULT_ATTEMPT_DELAY,
};
use staggered::Timer;

#[path = "support/loopback.rs"]
mod loopback;
use loopback::{connecting_to, BlackHole, Refusing};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------------
// Loopback endpoints

/// A listener: connects to it complete in the kernel, accepted or not.
fn listening(ip: IpAddr) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// `true` when [::1] can be bound; otherwise prints why the test skips its IPv6 part.
fn ipv6(test: &str) -> bool {
    match TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) {
        Ok(_) => true,
        Err(e) => {
            println!("{test}: skipping the IPv6 cases: no IPv6 loopback here ([::1]: {e})");
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Recording events

/// One event, owned, with the time since the recorder was made.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Started(usize, SocketAddr),
    Failed(usize, SocketAddr, io::ErrorKind),
    Won(usize, SocketAddr),
    Cancelled(usize, SocketAddr),
}

#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<(Duration, Ev)>>>,
    order: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Recorder {
    fn attach<R>(&self, connector: HappyEyeballs<R>) -> HappyEyeballs<R> {
        let me = self.clone();
        let t0 = Instant::now();
        connector.on_event(move |event| {
            let ev = match *event {
                ConnectEvent::Addresses { addrs } => {
                    *me.order.lock().unwrap() = addrs.to_vec();
                    return;
                }
                ConnectEvent::Resolved { .. } => return,
                ConnectEvent::Started { attempt, addr } => Ev::Started(attempt, addr),
                ConnectEvent::Failed {
                    attempt,
                    addr,
                    error,
                } => Ev::Failed(attempt, addr, error.kind()),
                ConnectEvent::Won { attempt, addr } => Ev::Won(attempt, addr),
                ConnectEvent::Cancelled { attempt, addr } => Ev::Cancelled(attempt, addr),
                _ => unreachable!("no other events yet"),
            };
            me.events.lock().unwrap().push((t0.elapsed(), ev));
        })
    }

    fn events(&self) -> Vec<Ev> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    fn started(&self) -> Vec<SocketAddr> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Started(_, addr) => Some(addr),
                _ => None,
            })
            .collect()
    }
}

/// The peer address and the socket of either runtime's stream.
trait Peer {
    fn peer(&self) -> SocketAddr;
    fn sock(&self) -> socket2::SockRef<'_>;
}

impl Peer for tokio::net::TcpStream {
    fn peer(&self) -> SocketAddr {
        self.peer_addr().unwrap()
    }
    fn sock(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(self)
    }
}

impl Peer for async_io::Async<TcpStream> {
    fn peer(&self) -> SocketAddr {
        self.get_ref().peer_addr().unwrap()
    }
    fn sock(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(self.get_ref())
    }
}

fn block_on_tokio<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

// ---------------------------------------------------------------------------------------------
// The scenarios, for any runtime

mod scenarios {
    use super::*;

    pub async fn refused_then_listening<R: Runtime>(rt: R)
    where
        R::TcpStream: Peer,
    {
        let refused = Refusing::new(V4).unwrap();
        let (_listener, good) = listening(V4);
        let rec = Recorder::default();
        let connector = rec.attach(HappyEyeballs::new(rt).attempt_delay(ms(2000)));
        let t0 = Instant::now();
        let stream = connector.connect([refused.addr, good]).await.unwrap();
        let elapsed = t0.elapsed();
        assert_eq!(stream.peer(), good);
        assert!(
            elapsed < ms(1000),
            "waited {elapsed:?}: the refusal should start the next attempt at once"
        );
        assert_eq!(
            rec.events(),
            [
                Ev::Started(0, refused.addr),
                Ev::Failed(0, refused.addr, io::ErrorKind::ConnectionRefused),
                Ev::Started(1, good),
                Ev::Won(1, good),
            ]
        );
    }

    pub async fn black_hole_then_listening<R: Runtime>(rt: R)
    where
        R::TcpStream: Peer,
    {
        let hole = BlackHole::new(V4).unwrap();
        let (_listener, good) = listening(V4);
        let rec = Recorder::default();
        // The default delay: 250 ms.
        let connector = rec.attach(HappyEyeballs::new(rt));
        let t0 = Instant::now();
        let stream = connector.connect([hole.addr, good]).await.unwrap();
        let elapsed = t0.elapsed();
        assert_eq!(stream.peer(), good);
        assert!(
            elapsed >= DEFAULT_ATTEMPT_DELAY,
            "connected after {elapsed:?}, before the delay"
        );
        assert!(elapsed < ms(1000), "connected after {elapsed:?}");
        assert_eq!(
            rec.events(),
            [
                Ev::Started(0, hole.addr),
                Ev::Started(1, good),
                Ev::Won(1, good),
                Ev::Cancelled(0, hole.addr),
            ]
        );
        let started_1 = rec.events.lock().unwrap()[1].0;
        assert!(
            started_1 >= DEFAULT_ATTEMPT_DELAY,
            "attempt 1 started at {started_1:?}"
        );
    }

    pub async fn delays_below_10ms_are_raised<R: Runtime>(rt: R)
    where
        R::TcpStream: Peer,
    {
        let hole = BlackHole::new(V4).unwrap();
        let (_listener, good) = listening(V4);
        let connector = HappyEyeballs::new(rt).attempt_delay(ms(1));
        let t0 = Instant::now();
        let stream = connector.connect([hole.addr, good]).await.unwrap();
        let elapsed = t0.elapsed();
        assert_eq!(stream.peer(), good);
        assert!(
            elapsed >= ms(10),
            "connected after {elapsed:?}: the delay was not raised to 10 ms"
        );
        assert!(elapsed < ms(1000), "connected after {elapsed:?}");
    }

    pub async fn all_refused<R: Runtime>(rt: R) {
        let refused = [
            Refusing::new(V4).unwrap(),
            Refusing::new(V4).unwrap(),
            Refusing::new(V4).unwrap(),
        ];
        let addrs: Vec<SocketAddr> = refused.iter().map(|r| r.addr).collect();
        let connector = HappyEyeballs::new(rt).attempt_delay(ms(2000));
        let t0 = Instant::now();
        let err = connector.connect(addrs.clone()).await.unwrap_err();
        assert!(t0.elapsed() < ms(1000), "took {:?}", t0.elapsed());
        assert_eq!(err.kind(), ConnectErrorKind::AllFailed);
        let tried: Vec<SocketAddr> = err.attempts().iter().map(|(addr, _)| *addr).collect();
        assert_eq!(tried, addrs);
        for (addr, error) in err.attempts() {
            assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{addr}");
        }
        let text = err.to_string();
        for addr in &addrs {
            assert!(text.contains(&addr.to_string()), "{text}");
        }
        // Display names every error; no source() repeats one of them.
        assert!(std::error::Error::source(&err).is_none());
        assert_eq!(
            io::Error::from(err).kind(),
            io::ErrorKind::ConnectionRefused
        );
    }

    pub async fn empty_list_fails_at_once<R: Runtime>(rt: R) {
        let rec = Recorder::default();
        // Even with a timeout armed, an empty list is an error on the first poll.
        let connector = rec.attach(HappyEyeballs::new(rt).timeout(ms(5000)));
        let err = connector
            .connect([])
            .now_or_never()
            .expect("an empty list must fail on the first poll")
            .unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::NoAddresses);
        assert!(err.attempts().is_empty());
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
        assert!(rec.events().is_empty());
    }

    pub async fn mixed_families_start_in_interleaved_order<R: Runtime + Clone>(rt: R) {
        if !ipv6("mixed_families_start_in_interleaved_order") {
            return;
        }
        let v6: Vec<Refusing> = (0..3).map(|_| Refusing::new(V6).unwrap()).collect();
        let v4: Vec<Refusing> = (0..3).map(|_| Refusing::new(V4).unwrap()).collect();
        let (a6, b6, c6) = (v6[0].addr, v6[1].addr, v6[2].addr);
        let (a4, b4, c4) = (v4[0].addr, v4[1].addr, v4[2].addr);
        let cases: [(Vec<SocketAddr>, usize, Vec<SocketAddr>); 4] = [
            (vec![a6, b6, a4, b4], 1, vec![a6, a4, b6, b4]),
            (vec![a6, b6, c6, a4], 2, vec![a6, b6, a4, c6]),
            // The family of the first address leads.
            (vec![a4, a6, b6, b4, c4], 1, vec![a4, a6, b4, b6, c4]),
            (
                vec![a6, b6, c6, a4, b4, c4],
                2,
                vec![a6, b6, a4, c6, b4, c4],
            ),
        ];
        for (input, count, expected) in cases {
            let rec = Recorder::default();
            let connector = rec.attach(
                HappyEyeballs::new(rt.clone())
                    .attempt_delay(ms(2000))
                    .first_address_family_count(count),
            );
            let err = connector.connect(input.clone()).await.unwrap_err();
            assert_eq!(
                *rec.order.lock().unwrap(),
                expected,
                "announced order, count {count}"
            );
            assert_eq!(
                rec.started(),
                expected,
                "start order of {input:?}, count {count}"
            );
            let tried: Vec<SocketAddr> = err.attempts().iter().map(|(a, _)| *a).collect();
            assert_eq!(tried, expected, "error order, count {count}");
        }
    }

    pub async fn losers_are_closed_when_the_winner_is_known<R: Runtime>(rt: R)
    where
        R::TcpStream: Peer,
    {
        let holes = [BlackHole::new(V4).unwrap(), BlackHole::new(V4).unwrap()];
        let (_listener, good) = listening(V4);
        let at_win = Arc::new(Mutex::new(None));
        let seen = at_win.clone();
        let (h0, h1) = (holes[0].addr, holes[1].addr);
        let connector = HappyEyeballs::new(rt)
            .attempt_delay(ms(30))
            .on_event(move |event| {
                if let ConnectEvent::Won { .. } = event {
                    *seen.lock().unwrap() = Some((connecting_to(h0), connecting_to(h1)));
                }
            });
        let stream = connector.connect([h0, h1, good]).await.unwrap();
        assert_eq!(stream.peer(), good);
        let Some((Some(before0), Some(before1))) = *at_win.lock().unwrap() else {
            println!("losers_are_closed_when_the_winner_is_known: no /proc/net/tcp here, skipping the socket count");
            return;
        };
        assert_eq!(
            (before0, before1),
            (1, 1),
            "the losers were connecting when the winner won"
        );
        assert_eq!(
            (connecting_to(h0), connecting_to(h1)),
            (Some(0), Some(0)),
            "a loser's socket outlived the connect"
        );
    }

    pub async fn dropping_the_connect_closes_every_socket<R: Runtime>(rt: R) {
        let holes = [
            BlackHole::new(V4).unwrap(),
            BlackHole::new(V4).unwrap(),
            BlackHole::new(V4).unwrap(),
        ];
        let addrs: Vec<SocketAddr> = holes.iter().map(|h| h.addr).collect();
        let rec = Recorder::default();
        let timer = rt.timer();
        let connector = rec.attach(HappyEyeballs::new(rt).attempt_delay(ms(20)));
        let connect = Box::pin(connector.connect(addrs.clone()));
        // Let all three attempts start (at 0, 20 and 40 ms), then give up on the connect.
        let connect = match select(connect, pin!(timer.sleep(ms(300)))).await {
            Either::Left((result, _)) => panic!("a black hole answered: {:?}", result.map(|_| ())),
            Either::Right(((), connect)) => connect,
        };
        assert_eq!(rec.started(), addrs);
        let counts =
            |addrs: &[SocketAddr]| addrs.iter().map(|&a| connecting_to(a)).collect::<Vec<_>>();
        let before = counts(&addrs);
        drop(connect);
        let after = counts(&addrs);
        let cancelled: Vec<Ev> = rec.events().into_iter().skip(3).collect();
        assert_eq!(
            cancelled,
            addrs
                .iter()
                .enumerate()
                .map(|(i, &a)| Ev::Cancelled(i, a))
                .collect::<Vec<_>>()
        );
        if before.contains(&None) {
            println!("dropping_the_connect_closes_every_socket: no /proc/net/tcp here, skipping the socket count");
            return;
        }
        assert_eq!(
            before,
            [Some(1); 3],
            "every attempt had a socket connecting"
        );
        assert_eq!(after, [Some(0); 3], "a socket outlived the dropped connect");
    }

    pub async fn attempt_timeout_starts_the_next_at_once<R: Runtime>(rt: R)
    where
        R::TcpStream: Peer,
    {
        let hole = BlackHole::new(V4).unwrap();
        let (_listener, good) = listening(V4);
        let rec = Recorder::default();
        let connector = rec.attach(
            HappyEyeballs::new(rt)
                .attempt_delay(ms(5000))
                .attempt_timeout(ms(50)),
        );
        let t0 = Instant::now();
        let stream = connector.connect([hole.addr, good]).await.unwrap();
        let elapsed = t0.elapsed();
        assert_eq!(stream.peer(), good);
        assert!(
            elapsed >= ms(50),
            "connected after {elapsed:?}, before the attempt timeout"
        );
        assert!(
            elapsed < ms(2000),
            "connected after {elapsed:?}: the timeout did not start the next attempt"
        );
        assert_eq!(
            rec.events(),
            [
                Ev::Started(0, hole.addr),
                Ev::Failed(0, hole.addr, io::ErrorKind::TimedOut),
                Ev::Started(1, good),
                Ev::Won(1, good),
            ]
        );
    }

    pub async fn overall_timeout<R: Runtime>(rt: R) {
        let holes = [
            BlackHole::new(V4).unwrap(),
            BlackHole::new(V4).unwrap(),
            BlackHole::new(V4).unwrap(),
        ];
        let refused = Refusing::new(V4).unwrap();
        let addrs = [holes[0].addr, refused.addr, holes[1].addr, holes[2].addr];
        // Margins of 150 ms on each side of the timeout (a 50 ms one failed once on a
        // machine with a load average of 12: the delay's sleep and the deadline were seen in
        // the same poll, and the deadline goes first).
        let connector = HappyEyeballs::new(rt)
            .attempt_delay(ms(300))
            .timeout(ms(450));
        let t0 = Instant::now();
        let err = connector.connect(addrs).await.unwrap_err();
        let elapsed = t0.elapsed();
        assert!(elapsed >= ms(450), "gave up after {elapsed:?}");
        assert!(elapsed < ms(2300), "gave up after {elapsed:?}");
        assert_eq!(err.kind(), ConnectErrorKind::TimedOut);
        // 0 ms: hole 0; 300 ms: refused, then hole 1 at once; 450 ms: the timeout. Hole 2
        // (due at 600 ms) never started.
        let tried: Vec<(SocketAddr, io::ErrorKind)> =
            err.attempts().iter().map(|(a, e)| (*a, e.kind())).collect();
        assert_eq!(
            tried,
            [
                (holes[0].addr, io::ErrorKind::TimedOut),
                (refused.addr, io::ErrorKind::ConnectionRefused),
                (holes[1].addr, io::ErrorKind::TimedOut),
            ]
        );
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);
        for hole in &holes {
            assert_ne!(
                connecting_to(hole.addr),
                Some(1),
                "{} still connecting",
                hole.addr
            );
        }
    }

    pub async fn connect_host<R: Runtime>(rt: R)
    where
        R::TcpStream: Peer,
    {
        let (_listener, good) = listening(V4);
        let connector = HappyEyeballs::new(rt);
        // An address literal.
        let stream = connector.connect_host(&good.to_string()).await.unwrap();
        assert_eq!(stream.peer(), good);
        // A name, through the system resolver (`localhost` comes from /etc/hosts: no DNS). It
        // may resolve to [::1] too, which refuses and falls through at once.
        let stream = connector
            .connect_host(&format!("localhost:{}", good.port()))
            .await
            .unwrap();
        assert_eq!(stream.peer(), good);
        // No port: refused before any lookup, naming the host and what is wrong.
        let err = connector.connect_host("localhost").await.unwrap_err();
        assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
        assert_eq!(err.host(), Some("localhost"));
        assert!(std::error::Error::source(&err).is_none());
        assert_eq!(
            err.to_string(),
            "invalid address \"localhost\": no port (expected \"host:port\")"
        );
        // A port out of range, an empty name, an IPv6 literal without brackets.
        for (host, why) in [
            ("localhost:65536", "port 65536 is out of range (0 to 65535)"),
            (":80", "empty host name"),
            ("::1:80", "an IPv6 address needs brackets: \"[addr]:port\""),
        ] {
            let err = connector.connect_host(host).await.unwrap_err();
            assert_eq!(err.kind(), ConnectErrorKind::InvalidInput, "{err}");
            assert_eq!(err.to_string(), format!("invalid address {host:?}: {why}"));
        }
    }

    pub async fn socket_options<R: Runtime>(rt: R)
    where
        R::TcpStream: Peer,
    {
        let (_listener, good) = listening(V4);
        let local = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let local = if TcpListener::bind((local, 0)).is_ok() {
            local
        } else {
            V4
        };
        let connector = HappyEyeballs::new(rt.clone())
            .nodelay(true)
            .keepalive(Duration::from_secs(20))
            .recv_buffer_size(128 * 1024)
            .local_address(local)
            .local_address(V6);
        let stream = connector.connect([good]).await.unwrap();
        assert_eq!(stream.peer(), good);
        let sock = stream.sock();
        assert!(sock.tcp_nodelay().unwrap());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(20));
        assert!(sock.recv_buffer_size().unwrap() >= 128 * 1024);
        let bound = sock.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(bound.ip(), local);
        // The defaults leave the options to the OS: Nagle on.
        let stream = HappyEyeballs::new(rt).connect([good]).await.unwrap();
        assert!(!stream.sock().tcp_nodelay().unwrap());
    }
}

macro_rules! on_runtime {
    ($name:ident, $rt:expr, $block_on:path) => {
        mod $name {
            use super::*;

            #[test]
            fn refused_then_listening_connects_at_once() {
                $block_on(scenarios::refused_then_listening($rt))
            }

            #[test]
            fn black_hole_then_listening_connects_after_the_delay() {
                $block_on(scenarios::black_hole_then_listening($rt))
            }

            #[test]
            fn delays_below_10ms_are_raised() {
                $block_on(scenarios::delays_below_10ms_are_raised($rt))
            }

            #[test]
            fn all_refused_lists_every_error_in_order() {
                $block_on(scenarios::all_refused($rt))
            }

            #[test]
            fn empty_list_fails_at_once() {
                $block_on(scenarios::empty_list_fails_at_once($rt))
            }

            #[test]
            fn mixed_families_start_in_interleaved_order() {
                $block_on(scenarios::mixed_families_start_in_interleaved_order($rt))
            }

            #[test]
            fn losers_are_closed_when_the_winner_is_known() {
                $block_on(scenarios::losers_are_closed_when_the_winner_is_known($rt))
            }

            #[test]
            fn dropping_the_connect_closes_every_socket() {
                $block_on(scenarios::dropping_the_connect_closes_every_socket($rt))
            }

            #[test]
            fn attempt_timeout_starts_the_next_at_once() {
                $block_on(scenarios::attempt_timeout_starts_the_next_at_once($rt))
            }

            #[test]
            fn overall_timeout_names_every_started_attempt() {
                $block_on(scenarios::overall_timeout($rt))
            }

            #[test]
            fn connect_host_resolves_without_blocking() {
                $block_on(scenarios::connect_host($rt))
            }

            #[test]
            fn socket_options_are_set_before_the_connect() {
                $block_on(scenarios::socket_options($rt))
            }
        }
    };
}

on_runtime!(tokio_runtime, Tokio, block_on_tokio);
on_runtime!(async_io_runtime, AsyncIo, async_io::block_on);

#[test]
fn mixed_families_race_across_families() {
    if !ipv6("mixed_families_race_across_families") {
        return;
    }
    // A black-holed IPv6 address and a listening IPv4 one: IPv4 wins after the delay.
    block_on_tokio(async {
        let hole = BlackHole::new(V6).unwrap();
        let (_listener, good) = listening(V4);
        let t0 = Instant::now();
        let stream = HappyEyeballs::new(Tokio)
            .attempt_delay(ms(100))
            .connect([hole.addr, good])
            .await
            .unwrap();
        assert_eq!(stream.peer(), good);
        assert!(t0.elapsed() >= ms(100));
        assert!(t0.elapsed() < ms(1000));
    });
}

#[test]
fn the_tokio_connect_future_is_send() {
    // It runs on a multi-threaded runtime through `tokio::spawn`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_listener, good) = listening(V4);
    let connector = Arc::new(HappyEyeballs::new(Tokio));
    let task = runtime.spawn({
        let connector = connector.clone();
        async move { connector.connect([good]).await.map(|s| s.peer()) }
    });
    assert_eq!(runtime.block_on(task).unwrap().unwrap(), good);
    let host = runtime.spawn(async move {
        staggered::net::tokio::connect_host(&good.to_string())
            .await
            .map(|s| s.peer())
    });
    assert_eq!(runtime.block_on(host).unwrap().unwrap(), good);
}
