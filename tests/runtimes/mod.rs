//! One suite, every executor: the scenarios, written once against [`Harness`].
//!
//! Each `tests/runtime_*.rs` file implements [`Harness`] for one executor and its timer, and
//! expands [`scenarios!`] into one `#[test]` per scenario. On real clocks the checks are the
//! outcome, the start order, exact lower bounds on times, and generous upper bounds
//! ([`SLACK_FACTOR`] times the ideal plus [`SLACK`]); on a virtual clock
//! ([`Harness::EXACT`]) the times must be exact.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{self, Either};
use staggered::{staggered_race, Attempt, Timer};

/// A boxed, `Send` future: what a harness hands to the scenarios.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One executor and its timer.
pub trait Harness: 'static {
    /// The timer the race runs on.
    type Timer: Timer<Sleep: Send> + Clone + Send + 'static;
    /// Whether the clock is virtual, so that every timing must be exact.
    const EXACT: bool = false;

    /// The timer to race with.
    fn timer() -> Self::Timer;
    /// Runs `fut` to completion on this executor, from the calling thread.
    fn block_on<F: Future + 'static>(fut: F) -> F::Output
    where
        F::Output: 'static;
    /// The time on this executor's clock, from an arbitrary fixed origin.
    fn now() -> Duration;
    /// Something that happens `after` from now: how attempts wait. The default is a sleep of
    /// the harness's timer; a harness may override it to be woken from elsewhere.
    fn event(after: Duration) -> BoxFuture<()> {
        Box::pin(Self::timer().sleep(after))
    }
    /// Opens a TCP connection to `addr` with this executor's I/O, and returns the peer address.
    fn connect(addr: SocketAddr) -> BoxFuture<io::Result<SocketAddr>> {
        Box::pin(async move {
            let stream = smol::Async::<std::net::TcpStream>::connect(addr).await?;
            stream.get_ref().peer_addr()
        })
    }
}

/// Upper bounds on real clocks are this many times the ideal time...
pub const SLACK_FACTOR: u32 = 5;
/// ... plus this much.
pub const SLACK: Duration = Duration::from_millis(200);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Asserts that `what` happened at `actual`, ideally at `ideal`: exactly on a virtual clock;
/// at or after it and within the generous upper bound on a real one.
#[track_caller]
pub fn check_time<H: Harness>(what: &str, actual: Duration, ideal: Duration) {
    if H::EXACT {
        assert_eq!(actual, ideal, "{what}: not at the exact time");
    } else {
        assert!(actual >= ideal, "{what}: at {actual:?}, before {ideal:?}");
        let bound = ideal * SLACK_FACTOR + SLACK;
        assert!(
            actual <= bound,
            "{what}: at {actual:?}, later than {bound:?}"
        );
    }
}

/// What an attempt does once started.
pub enum Plan {
    /// Never finishes.
    Hang,
    /// Never finishes; says so on the channel when it starts.
    HangAndSignal(oneshot::Sender<()>),
    /// Fails after a while.
    FailAfter(Duration),
    /// Succeeds after a while.
    SucceedAfter(Duration),
    /// Opens a TCP connection with the harness's I/O.
    Connect(SocketAddr),
}

/// An attempt's success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Won {
    /// It waited and succeeded.
    Value(usize),
    /// It connected to this peer.
    Peer(SocketAddr),
}

/// An attempt's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// It waited and failed, as planned.
    Planned(usize),
    /// Its I/O failed.
    Io(io::ErrorKind),
}

/// What happened, in order, and when (relative to the scenario's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Started(usize),
    Finished(usize),
    Dropped(usize),
}

/// The shared record of events.
#[derive(Clone, Default)]
pub struct Log {
    origin: Duration,
    events: Arc<Mutex<Vec<(Event, Duration)>>>,
}

impl Log {
    fn new<H: Harness>() -> Self {
        Log {
            origin: H::now(),
            events: Arc::default(),
        }
    }

    fn push<H: Harness>(&self, event: Event) {
        let at = H::now().saturating_sub(self.origin);
        self.events.lock().unwrap().push((event, at));
    }

    /// The scenario's time so far.
    fn elapsed<H: Harness>(&self) -> Duration {
        H::now().saturating_sub(self.origin)
    }

    /// The events, without times.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().iter().map(|e| e.0).collect()
    }

    /// When `event` happened; panics if it did not, or did more than once.
    #[track_caller]
    pub fn at(&self, event: Event) -> Duration {
        let events = self.events.lock().unwrap();
        let mut times = events.iter().filter(|e| e.0 == event).map(|e| e.1);
        let at = times
            .next()
            .unwrap_or_else(|| panic!("{event:?} never happened"));
        assert!(times.next().is_none(), "{event:?} happened twice");
        at
    }

    /// The attempts started, in order.
    pub fn starts(&self) -> Vec<usize> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Started(i) => Some(i),
                _ => None,
            })
            .collect()
    }

    /// The attempts dropped before finishing, sorted.
    pub fn drops(&self) -> Vec<usize> {
        let mut drops: Vec<usize> = self
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Dropped(i) => Some(i),
                _ => None,
            })
            .collect();
        drops.sort_unstable();
        drops
    }
}

/// Logs `Dropped` if the attempt's future goes away before it finished.
struct Probe<H: Harness> {
    log: Log,
    index: usize,
    finished: bool,
    harness: std::marker::PhantomData<fn() -> H>,
}

impl<H: Harness> Probe<H> {
    fn finish(&mut self) {
        self.finished = true;
        self.log.push::<H>(Event::Finished(self.index));
    }
}

impl<H: Harness> Drop for Probe<H> {
    fn drop(&mut self) {
        if !self.finished {
            self.log.push::<H>(Event::Dropped(self.index));
        }
    }
}

/// The attempts for `plans`, as a lazy iterator of closures: each logs its start when the race
/// calls it, and its end or its drop.
pub fn attempts<H: Harness>(
    log: &Log,
    plans: Vec<Plan>,
) -> impl Iterator<Item = impl FnOnce() -> BoxFuture<Result<Won, Failed>>> {
    let log = log.clone();
    plans.into_iter().enumerate().map(move |(index, plan)| {
        let log = log.clone();
        move || -> BoxFuture<Result<Won, Failed>> {
            log.push::<H>(Event::Started(index));
            let mut probe = Probe::<H> {
                log,
                index,
                finished: false,
                harness: std::marker::PhantomData,
            };
            Box::pin(async move {
                let result = match plan {
                    Plan::Hang => future::pending().await,
                    Plan::HangAndSignal(tx) => {
                        tx.send(()).unwrap();
                        future::pending().await
                    }
                    Plan::FailAfter(after) => {
                        H::event(after).await;
                        Err(Failed::Planned(index))
                    }
                    Plan::SucceedAfter(after) => {
                        H::event(after).await;
                        Ok(Won::Value(index))
                    }
                    Plan::Connect(addr) => H::connect(addr)
                        .await
                        .map(Won::Peer)
                        .map_err(|e| Failed::Io(e.kind())),
                };
                probe.finish();
                result
            })
        }
    })
}

/// A fall-through: the first two attempts hang, so each later one starts when the delay runs
/// out, and the third wins. The two losers are dropped before the race returns.
pub fn third_attempt_wins_by_falling_through<H: Harness>() {
    const DELAY: u64 = 40;
    let log = H::block_on(async {
        let log = Log::new::<H>();
        let plans = vec![Plan::Hang, Plan::Hang, Plan::SucceedAfter(ms(10))];
        let outcome = staggered_race(attempts::<H>(&log, plans), Some(ms(DELAY)), H::timer()).await;
        check_time::<H>("the race's end", log.elapsed::<H>(), ms(2 * DELAY + 10));
        assert_eq!(outcome.winner, Some((2, Won::Value(2))));
        assert_eq!(
            outcome.attempts,
            [Attempt::Cancelled, Attempt::Cancelled, Attempt::Won]
        );
        // The losers are gone by the time the race returns.
        assert_eq!(log.drops(), [0, 1]);
        log
    });
    assert_eq!(log.starts(), [0, 1, 2]);
    check_time::<H>("attempt 0's start", log.at(Event::Started(0)), ms(0));
    check_time::<H>("attempt 1's start", log.at(Event::Started(1)), ms(DELAY));
    check_time::<H>(
        "attempt 2's start",
        log.at(Event::Started(2)),
        ms(2 * DELAY),
    );
    check_time::<H>(
        "attempt 2's end",
        log.at(Event::Finished(2)),
        ms(2 * DELAY + 10),
    );
}

/// A failure starts the next attempt at once, long before the delay runs out.
pub fn a_failure_starts_the_next_attempt_early<H: Harness>() {
    // Far longer than the generous upper bound on attempt 1's start.
    const DELAY: u64 = 2_000;
    let log = H::block_on(async {
        let log = Log::new::<H>();
        let plans = vec![
            Plan::FailAfter(ms(20)),
            Plan::SucceedAfter(ms(20)),
            Plan::SucceedAfter(ms(0)),
        ];
        let outcome = staggered_race(attempts::<H>(&log, plans), Some(ms(DELAY)), H::timer()).await;
        assert_eq!(outcome.winner, Some((1, Won::Value(1))));
        // Attempt 2 never started: the iterator was not advanced past the winner.
        assert_eq!(
            outcome.attempts,
            [Attempt::Failed(Failed::Planned(0)), Attempt::Won]
        );
        log
    });
    assert_eq!(log.starts(), [0, 1]);
    assert!(log.drops().is_empty());
    let failed = log.at(Event::Finished(0));
    check_time::<H>("attempt 0's failure", failed, ms(20));
    let started = log.at(Event::Started(1));
    assert!(
        started >= failed,
        "attempt 1 started before attempt 0 failed"
    );
    check_time::<H>("attempt 1's start", started, ms(20));
    assert!(started < ms(DELAY), "attempt 1 waited for the delay");
    check_time::<H>("attempt 1's end", log.at(Event::Finished(1)), ms(40));
}

/// A delay too long for any clock (`Duration::MAX`): only failures start attempts. Every
/// timer must take such a sleep, and such a re-arm, without overflowing.
pub fn an_endless_delay_leaves_the_starts_to_failures<H: Harness>() {
    let log = H::block_on(async {
        let log = Log::new::<H>();
        let plans = vec![
            Plan::FailAfter(ms(10)),
            Plan::FailAfter(ms(10)),
            Plan::SucceedAfter(ms(10)),
        ];
        let outcome =
            staggered_race(attempts::<H>(&log, plans), Some(Duration::MAX), H::timer()).await;
        assert_eq!(outcome.winner, Some((2, Won::Value(2))));
        assert_eq!(
            outcome.attempts,
            [
                Attempt::Failed(Failed::Planned(0)),
                Attempt::Failed(Failed::Planned(1)),
                Attempt::Won
            ]
        );
        log
    });
    assert_eq!(log.starts(), [0, 1, 2]);
    for i in 1..3 {
        let started = log.at(Event::Started(i));
        assert!(started >= log.at(Event::Finished(i - 1)));
        check_time::<H>("an attempt's start", started, ms(10 * i as u64));
    }
    check_time::<H>("the winner's end", log.at(Event::Finished(2)), ms(30));
}

/// Every attempt fails: the race waits for the last failure and reports every error, in start
/// order (which is not the order they failed in).
pub fn all_attempts_fail<H: Harness>() {
    const DELAY: u64 = 50;
    let log = H::block_on(async {
        let log = Log::new::<H>();
        // Starts at 0, 50 (delay), 60 (attempt 1 failed); failures at 60, 65, 80.
        let plans = vec![
            Plan::FailAfter(ms(80)),
            Plan::FailAfter(ms(10)),
            Plan::FailAfter(ms(5)),
        ];
        let outcome = staggered_race(attempts::<H>(&log, plans), Some(ms(DELAY)), H::timer()).await;
        check_time::<H>("the race's end", log.elapsed::<H>(), ms(80));
        assert_eq!(outcome.winner, None);
        let errors = outcome.into_result().unwrap_err().into_errors();
        assert_eq!(
            errors,
            [Failed::Planned(0), Failed::Planned(1), Failed::Planned(2)]
        );
        log
    });
    assert_eq!(log.starts(), [0, 1, 2]);
    assert!(log.drops().is_empty());
    check_time::<H>("attempt 1's start", log.at(Event::Started(1)), ms(DELAY));
    let started = log.at(Event::Started(2));
    assert!(started >= log.at(Event::Finished(1)));
    check_time::<H>("attempt 2's start", started, ms(DELAY + 10));
    check_time::<H>("attempt 0's failure", log.at(Event::Finished(0)), ms(80));
}

/// The race is dropped while three attempts run: all three are dropped with it, on the spot,
/// and the fourth never starts.
pub fn dropping_the_race_drops_every_running_attempt<H: Harness>() {
    const DELAY: u64 = 30;
    let log = H::block_on(async {
        let log = Log::new::<H>();
        let (tx, third_started) = oneshot::channel();
        let plans = vec![
            Plan::Hang,
            Plan::Hang,
            Plan::HangAndSignal(tx),
            Plan::SucceedAfter(ms(0)),
        ];
        // Boxed, so that dropping it below drops the race itself.
        let race = Box::pin(staggered_race(
            attempts::<H>(&log, plans),
            Some(ms(DELAY)),
            H::timer(),
        ));
        let race = match future::select(race, third_started).await {
            Either::Left(_) => panic!("the race finished"),
            Either::Right((signal, race)) => {
                signal.unwrap();
                race
            }
        };
        assert_eq!(log.starts(), [0, 1, 2]);
        assert!(log.drops().is_empty(), "an attempt was dropped too soon");
        drop(race);
        assert_eq!(log.drops(), [0, 1, 2]);
        log
    });
    assert_eq!(log.starts(), [0, 1, 2]);
    check_time::<H>(
        "attempt 2's start",
        log.at(Event::Started(2)),
        ms(2 * DELAY),
    );
}

/// Real I/O: attempt 0 is refused at once, which starts attempt 1 early; it hangs, so attempt
/// 2 starts after the delay and connects to a live loopback listener, and wins.
pub fn a_loopback_tcp_connect_wins<H: Harness>() {
    const DELAY: u64 = 50;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let live = listener.local_addr().unwrap();
    // A port that refuses: bound, then closed.
    let refused = {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        closed.local_addr().unwrap()
    };
    let log = H::block_on(async move {
        let log = Log::new::<H>();
        let plans = vec![Plan::Connect(refused), Plan::Hang, Plan::Connect(live)];
        let outcome = staggered_race(attempts::<H>(&log, plans), Some(ms(DELAY)), H::timer()).await;
        assert_eq!(outcome.winner, Some((2, Won::Peer(live))));
        assert_eq!(
            outcome.attempts,
            [
                Attempt::Failed(Failed::Io(io::ErrorKind::ConnectionRefused)),
                Attempt::Cancelled,
                Attempt::Won
            ]
        );
        assert_eq!(log.drops(), [1]);
        log
    });
    // The connection really reached the listener.
    let (_, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip(), live.ip());
    assert_eq!(log.starts(), [0, 1, 2]);
    // I/O does not run on a virtual clock, so only the lower bounds hold everywhere.
    let started = log.at(Event::Started(1));
    assert!(started >= log.at(Event::Finished(0)));
    let last = log.at(Event::Started(2));
    assert!(
        last >= started + ms(DELAY),
        "attempt 2 started before the delay"
    );
}

/// Expands into one `#[test]` per scenario, run on the harness `$h`.
/// The harness's timer passes `staggered::testing::check_timer`, with the harness's own
/// [`event`](Harness::event) as the way to let time pass (on real clocks, 20 ms units: about
/// half a second).
pub fn the_timer_passes_the_conformance_check<H: Harness>() {
    let result = H::block_on(async {
        let timer = H::timer();
        staggered::testing::check_timer(&timer, ms(20), H::event).await
    });
    assert_eq!(result, Ok(()));
}

macro_rules! scenarios {
    ($h:ty) => {
        #[test]
        fn the_timer_passes_the_conformance_check() {
            $crate::runtimes::the_timer_passes_the_conformance_check::<$h>();
        }

        #[test]
        fn third_attempt_wins_by_falling_through() {
            $crate::runtimes::third_attempt_wins_by_falling_through::<$h>();
        }

        #[test]
        fn a_failure_starts_the_next_attempt_early() {
            $crate::runtimes::a_failure_starts_the_next_attempt_early::<$h>();
        }

        #[test]
        fn an_endless_delay_leaves_the_starts_to_failures() {
            $crate::runtimes::an_endless_delay_leaves_the_starts_to_failures::<$h>();
        }

        #[test]
        fn all_attempts_fail() {
            $crate::runtimes::all_attempts_fail::<$h>();
        }

        #[test]
        fn dropping_the_race_drops_every_running_attempt() {
            $crate::runtimes::dropping_the_race_drops_every_running_attempt::<$h>();
        }

        #[test]
        fn a_loopback_tcp_connect_wins() {
            $crate::runtimes::a_loopback_tcp_connect_wins::<$h>();
        }
    };
}
pub(crate) use scenarios;
