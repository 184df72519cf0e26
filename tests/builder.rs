//! The builder's options, one test (or more) per point of their contract: a stream source,
//! delay policies, the cap in both modes, the deadline and events. In virtual time, with
//! exact timings; the model (`tests/support/model.rs`) checks the same rules on random
//! scripts.
#![allow(missing_docs)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use staggered::testing::ManualClock;
use staggered::timer::NoTimer;
use staggered::{staggered_race, Attempt, Event, Staggered};

use Attempt::{Cancelled, Failed, Won};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What an attempt does: finish with `result` after `after` ms, or hang (`None`).
#[derive(Clone, Copy, Debug)]
struct Plan {
    after: u64,
    result: Option<Result<u32, u32>>,
}

const fn ok(after: u64, value: u32) -> Plan {
    Plan {
        after,
        result: Some(Ok(value)),
    }
}
const fn err(after: u64, value: u32) -> Plan {
    Plan {
        after,
        result: Some(Err(value)),
    }
}
const HANG: Plan = Plan {
    after: 0,
    result: None,
};

/// The attempt for `plan`, on `clock`.
fn attempt(
    clock: &ManualClock,
    plan: Plan,
) -> impl FnOnce() -> Pin<Box<dyn Future<Output = Result<u32, u32>>>> {
    let clock = clock.clone();
    move || {
        Box::pin(async move {
            match plan.result {
                None => std::future::pending().await,
                Some(result) => {
                    if plan.after > 0 {
                        clock.sleep(ms(plan.after)).await;
                    }
                    result
                }
            }
        })
    }
}

/// An attempt closure of any kind, boxed.
type AnyAttempt = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<u32, u32>>>>>;

/// A log of events with the virtual time each happened at.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<(u64, String)>>>);

impl Log {
    fn observer(&self, clock: &ManualClock) -> impl FnMut(Event<'_, u32>) {
        let (log, clock) = (self.0.clone(), clock.clone());
        move |event| {
            let at = clock.now().as_millis() as u64;
            let line = match event {
                Event::Started { index } => format!("start {index}"),
                Event::Failed { index, error } => format!("fail {index} ({error})"),
                Event::Won { index } => format!("win {index}"),
                Event::Cancelled { index } => format!("cancel {index}"),
            };
            log.borrow_mut().push((at, line));
        }
    }
    fn lines(&self) -> Vec<(u64, String)> {
        self.0.borrow().clone()
    }
    fn starts(&self) -> Vec<u64> {
        self.lines()
            .into_iter()
            .filter(|(_, line)| line.starts_with("start"))
            .map(|(at, _)| at)
            .collect()
    }
}

/// An attempt's boxed future.
type BoxFut = Pin<Box<dyn Future<Output = Result<u32, u32>>>>;

/// A stream of attempts fed through a channel of plans.
fn channel(
    clock: &ManualClock,
) -> (
    mpsc::UnboundedSender<Plan>,
    impl futures::Stream<Item = impl FnOnce() -> BoxFut>,
) {
    let (tx, rx) = mpsc::unbounded();
    let clock = clock.clone();
    (tx, rx.map(move |plan| attempt(&clock, plan)))
}

fn lines(expected: &[(u64, &str)]) -> Vec<(u64, String)> {
    expected
        .iter()
        .map(|(at, l)| (*at, l.to_string()))
        .collect()
}

/// Each started attempt has exactly one `start`, then exactly one of fail, win or cancel.
fn assert_one_start_then_one_end(log: &Log, started: usize) {
    for index in 0..started {
        let mine: Vec<String> = log
            .lines()
            .into_iter()
            .map(|(_, l)| l)
            .filter(|l| l.split(' ').nth(1) == Some(&index.to_string()))
            .collect();
        assert_eq!(mine.len(), 2, "attempt {index}: {mine:?}");
        assert_eq!(mine[0], format!("start {index}"));
        assert!(!mine[1].starts_with("start"), "attempt {index}: {mine:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// staggered_race is the builder with a fixed delay
// ---------------------------------------------------------------------------------------------

#[test]
fn staggered_race_and_the_builder_agree() {
    for delay in [None, Some(ms(0)), Some(ms(100))] {
        // Sequential races need no attempt that hangs.
        let plans = match delay {
            None => [err(50, 0), err(0, 1), ok(30, 2), ok(0, 3)],
            Some(_) => [HANG, err(50, 1), ok(30, 2), ok(0, 3)],
        };
        let a = ManualClock::new();
        let b = ManualClock::new();
        let old = a.block_on(staggered_race(
            plans.map(|p| attempt(&a, p)),
            delay,
            a.clone(),
        ));
        let builder = Staggered::new(plans.map(|p| attempt(&b, p)));
        let builder = match delay {
            None => builder.sequential(),
            Some(d) => builder.delay(d),
        };
        let new = b.block_on(builder.race(b.clone()));
        assert_eq!(old, new, "delay {delay:?}");
        assert_eq!(a.now(), b.now());
        assert!(!new.timed_out);
    }
}

// ---------------------------------------------------------------------------------------------
// Stream source
// ---------------------------------------------------------------------------------------------

#[test]
fn a_stream_is_not_pulled_before_a_start_is_due() {
    let clock = ManualClock::new();
    let pulled = Rc::new(Cell::new(0));
    let stream = futures::stream::iter(0..3).map({
        let (pulled, clock) = (pulled.clone(), clock.clone());
        move |_| {
            pulled.set(pulled.get() + 1);
            attempt(&clock, HANG)
        }
    });
    let race = Staggered::from_stream(stream)
        .delay(ms(100))
        .race(clock.clone());
    let mut race = pin!(race);
    assert!(race.as_mut().now_or_never().is_none());
    assert_eq!(pulled.get(), 1, "one start due on the first poll: one item");
    clock.advance(ms(99));
    assert!(race.as_mut().now_or_never().is_none());
    assert_eq!(pulled.get(), 1);
    clock.advance(ms(1));
    assert!(race.as_mut().now_or_never().is_none());
    assert_eq!(
        pulled.get(),
        2,
        "the second is pulled when its start is due"
    );
}

#[test]
fn a_pending_stream_holds_a_due_start_and_it_starts_the_moment_it_yields() {
    let clock = ManualClock::new();
    let log = Log::default();
    let (tx, stream) = channel(&clock);
    tx.unbounded_send(err(10, 0)).unwrap();
    let race = Staggered::from_stream(stream)
        .delay(ms(100))
        .on_event(log.observer(&clock))
        .race(clock.clone());
    // The second item comes at 300 ms; attempt 0 failed at 10 ms, so its start was due then.
    let feeder = {
        let clock = clock.clone();
        async move {
            clock.sleep(ms(300)).await;
            tx.unbounded_send(ok(5, 7)).unwrap();
            std::future::pending::<()>().await
        }
    };
    let outcome = clock.block_on(async {
        futures::select_biased! {
            outcome = race.fuse() => outcome,
            _ = pin!(feeder.fuse()) => unreachable!(),
        }
    });
    assert_eq!(outcome.winner, Some((1, 7)));
    assert_eq!(outcome.attempts, [Failed(0), Won]);
    assert_eq!(
        log.lines(),
        lines(&[
            (0, "start 0"),
            (10, "fail 0 (0)"),
            (300, "start 1"),
            (305, "win 1")
        ])
    );
}

#[test]
fn a_stream_item_that_comes_after_the_delay_starts_at_once() {
    let clock = ManualClock::new();
    let log = Log::default();
    let (tx, stream) = channel(&clock);
    tx.unbounded_send(HANG).unwrap();
    let race = Staggered::from_stream(stream)
        .delay(ms(100))
        .on_event(log.observer(&clock))
        .race(clock.clone());
    let mut race = pin!(race);
    assert!(race.as_mut().now_or_never().is_none());
    clock.advance(ms(250)); // the start is due since 100 ms; the stream has nothing
    assert!(race.as_mut().now_or_never().is_none());
    tx.unbounded_send(HANG).unwrap();
    assert!(race.as_mut().now_or_never().is_none());
    assert_eq!(log.starts(), [0, 250]);
    // Its own delay counts from its start: the third is due at 350 ms.
    tx.unbounded_send(ok(0, 9)).unwrap();
    clock.advance(ms(99));
    assert!(race.as_mut().now_or_never().is_none());
    assert_eq!(log.starts(), [0, 250]);
    clock.advance(ms(1));
    let outcome = race.as_mut().now_or_never().expect("won at 350 ms");
    assert_eq!(outcome.winner, Some((2, 9)));
    assert_eq!(log.starts(), [0, 250, 350]);
}

#[test]
fn all_running_failed_and_an_open_stream_waits_then_an_ended_one_ends() {
    let clock = ManualClock::new();
    let (tx, stream) = channel(&clock);
    tx.unbounded_send(err(0, 1)).unwrap();
    let mut race = pin!(Staggered::from_stream(stream)
        .delay(ms(100))
        .race(clock.clone()));
    assert!(
        race.as_mut().now_or_never().is_none(),
        "the stream is open: wait"
    );
    tx.unbounded_send(err(0, 2)).unwrap();
    assert!(race.as_mut().now_or_never().is_none());
    drop(tx);
    let outcome = race
        .as_mut()
        .now_or_never()
        .expect("ended with nothing running");
    assert_eq!(outcome.attempts, [Failed(1), Failed(2)]);
    assert!(!outcome.timed_out);
    let err = outcome.into_result().unwrap_err();
    assert!(!err.timed_out() && !err.no_attempts());
}

#[test]
fn an_empty_stream_ends_at_once() {
    let stream = futures::stream::empty::<fn() -> std::future::Ready<Result<(), ()>>>();
    let outcome = Staggered::from_stream(stream)
        .race(NoTimer)
        .now_or_never()
        .expect("at once");
    assert!(outcome.attempts.is_empty() && !outcome.timed_out);
    assert!(outcome.into_result().unwrap_err().no_attempts());
}

#[test]
fn a_stream_that_ends_while_attempts_run_lets_them_finish() {
    let clock = ManualClock::new();
    let stream = futures::stream::iter([HANG, ok(500, 4)]).map({
        let clock = clock.clone();
        move |plan| attempt(&clock, plan)
    });
    let outcome = clock.block_on(
        Staggered::from_stream(stream)
            .delay(ms(100))
            .race(clock.clone()),
    );
    assert_eq!(outcome.winner, Some((1, 4)));
    assert_eq!(clock.now(), ms(600));
}

#[test]
fn a_stream_need_not_be_unpin() {
    let clock = ManualClock::new();
    let stream = futures::stream::unfold(0u32, |n| async move {
        (n < 3).then(|| {
            (
                move || async move {
                    if n == 2 {
                        Ok(n)
                    } else {
                        Err(n)
                    }
                },
                n + 1,
            )
        })
    });
    let outcome = clock.block_on(Staggered::from_stream(stream).race(clock.clone()));
    assert_eq!(outcome.winner, Some((2, 2)));
}

// ---------------------------------------------------------------------------------------------
// delay_fn
// ---------------------------------------------------------------------------------------------

#[test]
fn delay_fn_is_called_once_per_started_attempt_with_its_index() {
    let clock = ManualClock::new();
    let calls = RefCell::new(Vec::new());
    let log = Log::default();
    let plans = [err(0, 0), HANG, err(5, 2), HANG, ok(1, 4), HANG];
    let outcome = clock.block_on(
        Staggered::new(plans.map(|p| attempt(&clock, p)))
            .delay_fn(|index| {
                calls.borrow_mut().push(index);
                match index {
                    1 => Some(ms(0)),   // the next at once
                    2 => None,          // only its failure starts the next
                    _ => Some(ms(100)), // else 100 ms
                }
            })
            .on_event(log.observer(&clock))
            .race(clock.clone()),
    );
    assert_eq!(*calls.borrow(), [0, 1, 2, 3, 4]);
    assert_eq!(outcome.winner, Some((4, 4)));
    // 0 fails at once; 1 starts at 0 and 2 right after (zero delay); 2 fails at 5 ms, so 3
    // starts then; 4 starts 100 ms later and wins 1 ms after.
    assert_eq!(log.starts(), [0, 0, 0, 5, 105]);
    assert_eq!(clock.now(), ms(106));
    assert_one_start_then_one_end(&log, 5);
}

#[test]
fn delay_fn_none_waits_for_the_failure_only() {
    let clock = ManualClock::new();
    let outcome = clock.block_on(
        Staggered::new([err(1_000, 0), ok(0, 1)].map(|p| attempt(&clock, p)))
            .delay_fn(|_| None)
            .race(clock.clone()),
    );
    assert_eq!(outcome.winner, Some((1, 1)));
    assert_eq!(clock.now(), ms(1_000));
}

#[test]
fn delay_fn_with_duration_max_never_fires() {
    let clock = ManualClock::new();
    let mut race = pin!(Staggered::new([HANG, HANG].map(|p| attempt(&clock, p)))
        .delay_fn(|_| Some(Duration::MAX))
        .race(clock.clone()));
    assert!(race.as_mut().now_or_never().is_none());
    clock.advance(Duration::from_secs(1 << 40));
    assert!(race.as_mut().now_or_never().is_none());
    assert!(format!("{race:?}").contains("started: 1"), "{race:?}");
}

// ---------------------------------------------------------------------------------------------
// The cap
// ---------------------------------------------------------------------------------------------

#[test]
fn a_start_due_at_the_cap_waits_for_room_then_happens_at_once() {
    let clock = ManualClock::new();
    let log = Log::default();
    let plans = [err(300, 0), HANG, ok(50, 2)];
    let outcome = clock.block_on(
        Staggered::new(plans.map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .max_running(2)
            .on_event(log.observer(&clock))
            .race(clock.clone()),
    );
    // 0 at 0, 1 at 100; 2 is due at 200 but waits for room: 0 fails at 300.
    assert_eq!(log.starts(), [0, 100, 300]);
    assert_eq!(outcome.winner, Some((2, 2)));
    assert_eq!(outcome.attempts, [Failed(0), Cancelled, Won]);
    assert_eq!(clock.now(), ms(350));
}

#[test]
fn at_the_cap_the_delay_still_counts_from_each_start() {
    let clock = ManualClock::new();
    let log = Log::default();
    // Cap 1: attempt 1 waits for 0 (a failure at 30 ms starts it at once anyway); attempt 1
    // hangs, so 2 is due 100 ms after 1 started (130 ms), and waits: nothing frees room.
    let plans = [err(30, 0), HANG, ok(0, 2)];
    let mut race = pin!(Staggered::new(plans.map(|p| attempt(&clock, p)))
        .delay(ms(100))
        .max_running(1)
        .on_event(log.observer(&clock))
        .race(clock.clone()));
    assert!(race.as_mut().now_or_never().is_none());
    clock.advance(ms(30));
    assert!(race.as_mut().now_or_never().is_none());
    clock.advance(ms(1_000));
    assert!(race.as_mut().now_or_never().is_none());
    assert_eq!(
        log.starts(),
        [0, 30],
        "the third waits for room that never comes"
    );
}

#[test]
fn cancel_oldest_makes_room_at_once_and_reports_it() {
    let clock = ManualClock::new();
    let log = Log::default();
    let plans = [HANG, HANG, HANG, ok(10, 3)];
    let outcome = clock.block_on(
        Staggered::new(plans.map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .max_running(2)
            .cancel_oldest_when_full()
            .on_event(log.observer(&clock))
            .race(clock.clone()),
    );
    assert_eq!(outcome.winner, Some((3, 3)));
    assert_eq!(outcome.attempts, [Cancelled, Cancelled, Cancelled, Won]);
    assert_eq!(
        log.lines(),
        lines(&[
            (0, "start 0"),
            (100, "start 1"),
            (200, "cancel 0"),
            (200, "start 2"),
            (300, "cancel 1"),
            (300, "start 3"),
            (310, "win 3"),
            (310, "cancel 2"),
        ])
    );
}

#[test]
fn cancel_oldest_cancels_nothing_while_a_stream_has_no_next_attempt() {
    let clock = ManualClock::new();
    let log = Log::default();
    let (tx, stream) = channel(&clock);
    tx.unbounded_send(HANG).unwrap();
    let mut race = pin!(Staggered::from_stream(stream)
        .delay(ms(100))
        .max_running(1)
        .cancel_oldest_when_full()
        .on_event(log.observer(&clock))
        .race(clock.clone()));
    assert!(race.as_mut().now_or_never().is_none());
    clock.advance(ms(500));
    assert!(race.as_mut().now_or_never().is_none());
    assert_eq!(log.lines(), lines(&[(0, "start 0")]));
    tx.unbounded_send(ok(0, 1)).unwrap();
    let outcome = race
        .as_mut()
        .now_or_never()
        .expect("wins on its first poll");
    assert_eq!(outcome.attempts, [Cancelled, Won]);
    assert_eq!(
        log.lines(),
        lines(&[
            (0, "start 0"),
            (500, "cancel 0"),
            (500, "start 1"),
            (500, "win 1")
        ])
    );
}

#[test]
fn cancel_oldest_without_a_cap_changes_nothing() {
    let clock = ManualClock::new();
    let plans = [HANG, HANG, ok(0, 2)];
    let outcome = clock.block_on(
        Staggered::new(plans.map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .cancel_oldest_when_full()
            .race(clock.clone()),
    );
    assert_eq!(outcome.attempts, [Cancelled, Cancelled, Won]);
    assert_eq!(clock.now(), ms(200));
}

#[test]
#[should_panic(expected = "max_running(0)")]
fn max_running_zero_panics() {
    let _ = Staggered::new([|| async { Ok::<(), ()>(()) }]).max_running(0);
}

#[test]
fn the_cap_holds_for_all_at_once() {
    let clock = ManualClock::new();
    let running = Rc::new(Cell::new(0usize));
    let most = Rc::new(Cell::new(0usize));
    let attempts = (0..20u64).map(|i| {
        let (clock, running, most) = (clock.clone(), running.clone(), most.clone());
        move || async move {
            running.set(running.get() + 1);
            most.set(most.get().max(running.get()));
            clock.sleep(ms(10 + i % 3)).await;
            running.set(running.get() - 1);
            Err::<(), u64>(i)
        }
    });
    let outcome = clock.block_on(
        Staggered::new(attempts)
            .all_at_once()
            .max_running(3)
            .race(clock.clone()),
    );
    assert_eq!(outcome.attempts.len(), 20);
    assert_eq!(most.get(), 3);
}

// ---------------------------------------------------------------------------------------------
// The deadline
// ---------------------------------------------------------------------------------------------

#[test]
fn the_deadline_cancels_what_runs_and_keeps_every_error() {
    let clock = ManualClock::new();
    let log = Log::default();
    let plans = [err(10, 0), HANG, HANG, ok(0, 3)];
    let outcome = clock.block_on(
        Staggered::new(plans.map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .deadline(ms(150))
            .on_event(log.observer(&clock))
            .race(clock.clone()),
    );
    // 0 fails at 10 ms, starting 1; 2 starts at 110 ms; the deadline is at 150 ms.
    assert!(outcome.timed_out);
    assert_eq!(outcome.winner, None);
    assert_eq!(outcome.attempts, [Failed(0), Cancelled, Cancelled]);
    assert_eq!(clock.now(), ms(150));
    let lines_at_end: Vec<_> = log
        .lines()
        .into_iter()
        .filter(|(at, _)| *at == 150)
        .collect();
    assert_eq!(lines_at_end.len(), 2, "two cancellations: {lines_at_end:?}");
    assert_one_start_then_one_end(&log, 3);
    let err = outcome.into_result().unwrap_err();
    assert!(err.timed_out() && !err.no_attempts());
    assert_eq!(err.errors(), [0]);
    assert_eq!(
        err.to_string(),
        "the deadline passed with no winner (3 attempts started, 1 failed): [0] 0"
    );
}

#[test]
fn a_success_at_the_deadline_instant_wins() {
    let clock = ManualClock::new();
    let outcome = clock.block_on(
        Staggered::new([ok(100, 1)].map(|p| attempt(&clock, p)))
            .deadline(ms(100))
            .race(clock.clone()),
    );
    assert_eq!(outcome.winner, Some((0, 1)));
    assert!(!outcome.timed_out);
}

#[test]
fn a_start_due_at_the_deadline_instant_is_not_made() {
    let clock = ManualClock::new();
    let log = Log::default();
    let outcome = clock.block_on(
        Staggered::new([HANG, ok(0, 1)].map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .deadline(ms(100))
            .on_event(log.observer(&clock))
            .race(clock.clone()),
    );
    assert!(outcome.timed_out);
    assert_eq!(outcome.attempts, [Cancelled]);
    assert_eq!(log.lines(), lines(&[(0, "start 0"), (100, "cancel 0")]));
}

#[test]
fn a_zero_deadline_ends_before_anything_starts() {
    let outcome = Staggered::new([|| async { Ok::<(), ()>(()) }])
        .deadline(Duration::ZERO)
        .race(NoTimer) // a zero deadline needs no sleep
        .now_or_never()
        .expect("on the first poll");
    assert!(outcome.timed_out && outcome.attempts.is_empty());
    let err = outcome.into_result().unwrap_err();
    assert!(err.timed_out() && !err.no_attempts());
}

#[test]
fn every_attempt_failed_before_the_deadline_is_all_failed() {
    let clock = ManualClock::new();
    let outcome = clock.block_on(
        Staggered::new([err(10, 0), err(20, 1)].map(|p| attempt(&clock, p)))
            .deadline(ms(1_000))
            .race(clock.clone()),
    );
    assert!(!outcome.timed_out);
    assert_eq!(outcome.attempts, [Failed(0), Failed(1)]);
    assert_eq!(clock.now(), ms(30));
    assert_eq!(clock.live_sleeps(), 0, "the deadline's sleep is dropped");
}

#[test]
fn the_deadline_ends_a_race_waiting_for_a_stream() {
    let clock = ManualClock::new();
    let (tx, stream) = channel(&clock);
    tx.unbounded_send(err(10, 0)).unwrap();
    let outcome = clock.block_on(
        Staggered::from_stream(stream)
            .deadline(ms(500))
            .race(clock.clone()),
    );
    assert!(
        outcome.timed_out,
        "nothing runs, but the stream was still open"
    );
    assert_eq!(outcome.attempts, [Failed(0)]);
    assert_eq!(clock.now(), ms(500));
    drop(tx);
}

/// Runs `plans` (all started at once) against a deadline of `deadline` ms, on either race:
/// the winner, the entries and `timed_out`.
fn race_to_deadline<const N: usize>(
    plans: [Plan; N],
    delay: Option<Duration>,
    deadline: u64,
    array: bool,
) -> (Option<(usize, u32)>, Vec<Attempt<u32>>, bool) {
    let clock = ManualClock::new();
    let builder = Staggered::new(plans.map(|p| attempt(&clock, p)));
    let builder = match delay {
        Some(d) => builder.delay(d),
        None => builder.sequential(),
    }
    .deadline(ms(deadline));
    if array {
        let o = clock.block_on(builder.race_array(clock.clone()));
        (o.winner, o.attempts.to_vec(), o.timed_out)
    } else {
        let o = clock.block_on(builder.race(clock.clone()));
        (o.winner, o.attempts, o.timed_out)
    }
}

/// Issue 18, defect 2: more completions at the deadline's instant than one poll's budget.
/// Before the fix the budget cut the poll that saw the deadline, and the rest were cancelled
/// with their outcomes already there: no winner, `timed_out`, 72 errors lost.
#[test]
fn the_deadline_takes_in_every_completion_of_its_instant_whatever_the_budget() {
    for array in [false, true] {
        let plans: [Plan; 200] = std::array::from_fn(|i| {
            if i == 199 {
                ok(1_000, 199)
            } else {
                err(1_000, i as u32)
            }
        });
        let (winner, attempts, timed_out) =
            race_to_deadline(plans, Some(Duration::ZERO), 1_000, array);
        assert_eq!(winner, Some((199, 199)), "array: {array}");
        assert!(!timed_out);
        let failed: Vec<_> = (0..199).map(Failed).collect();
        assert_eq!(attempts[..199], failed[..], "array: {array}");
        assert_eq!(attempts[199], Won);

        // All fail at the deadline's instant: every error, and all-failed.
        let plans: [Plan; 200] = std::array::from_fn(|i| err(1_000, i as u32));
        let (winner, attempts, timed_out) =
            race_to_deadline(plans, Some(Duration::ZERO), 1_000, array);
        assert_eq!(winner, None);
        assert_eq!(
            attempts,
            (0..200).map(Failed).collect::<Vec<_>>(),
            "array: {array}"
        );
        assert!(
            !timed_out,
            "every attempt failed and nothing was left: array: {array}"
        );
    }
}

/// Issue 18, defect 3: the last attempt failing at the deadline's instant, with nothing left
/// to start, is all-failed, as it is 1 ms earlier. Before the fix nothing asked the source
/// again once the deadline had passed, so the race reported a timeout.
#[test]
fn a_last_failure_at_the_deadline_instant_is_all_failed() {
    for array in [false, true] {
        for at in [99, 100] {
            let (winner, attempts, timed_out) =
                race_to_deadline([HANG, err(at, 1)], Some(ms(10)), 110, array);
            assert_eq!((winner, &attempts[..]), (None, &[Cancelled, Failed(1)][..]));
            assert!(timed_out, "attempt 0 was still running: array {array}");

            let (winner, attempts, timed_out) =
                race_to_deadline([err(10, 0), err(at - 10, 1)], None, 100, array);
            assert_eq!((winner, &attempts[..]), (None, &[Failed(0), Failed(1)][..]));
            assert!(!timed_out, "failed at {at} ms, nothing left: array {array}");
        }
        // With an attempt left to start, the same failure is a timeout; the attempt left
        // is not started.
        let (winner, attempts, timed_out) =
            race_to_deadline([err(10, 0), err(90, 1), ok(0, 2)], None, 100, array);
        assert_eq!((winner, &attempts[..]), (None, &[Failed(0), Failed(1)][..]));
        assert!(timed_out, "array {array}");
    }
}

/// The source is asked once more at the deadline only when a start is due and nothing runs:
/// an empty source under a zero deadline is all-failed with no attempts, like any empty race;
/// a source with attempts is timed out, and its first closure is never called.
#[test]
fn a_zero_deadline_asks_the_source_whether_anything_was_left() {
    let outcome = Staggered::new(Vec::<fn() -> std::future::Ready<Result<(), ()>>>::new())
        .deadline(Duration::ZERO)
        .race(NoTimer)
        .now_or_never()
        .expect("on the first poll");
    assert!(!outcome.timed_out && outcome.attempts.is_empty());
    assert!(outcome.into_result().unwrap_err().no_attempts());

    let called = Cell::new(false);
    let outcome = Staggered::new([|| {
        called.set(true);
        async { Ok::<(), ()>(()) }
    }])
    .deadline(Duration::ZERO)
    .race(NoTimer)
    .now_or_never()
    .expect("on the first poll");
    assert!(outcome.timed_out && outcome.attempts.is_empty());
    assert!(!called.get(), "nothing starts after the deadline");
}

#[test]
fn the_deadline_ends_a_race_of_attempts_that_keep_waking_themselves() {
    struct Busy;
    impl Future for Busy {
        type Output = Result<(), ()>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    let clock = ManualClock::new();
    let mut race = pin!(Staggered::new([|| Busy, || Busy, || Busy])
        .all_at_once()
        .deadline(ms(10))
        .race(clock.clone()));
    let waker = Waker::from(std::sync::Arc::new(Nop));
    let mut cx = Context::from_waker(&waker);
    for _ in 0..5 {
        assert!(race.as_mut().poll(&mut cx).is_pending());
    }
    clock.advance(ms(10));
    match race.as_mut().poll(&mut cx) {
        Poll::Ready(outcome) => {
            assert!(outcome.timed_out);
            assert_eq!(outcome.attempts, [Cancelled; 3]);
        }
        Poll::Pending => panic!("busy attempts held back the deadline"),
    }
}

struct Nop;
impl Wake for Nop {
    fn wake(self: std::sync::Arc<Self>) {}
}

#[test]
fn a_deadline_of_duration_max_never_passes() {
    let clock = ManualClock::new();
    let outcome = clock.block_on(
        Staggered::new([HANG, ok(5_000, 1)].map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .deadline(Duration::MAX)
            .race(clock.clone()),
    );
    assert_eq!(outcome.winner, Some((1, 1)));
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[test]
fn events_come_in_the_order_things_happen() {
    let clock = ManualClock::new();
    let log = Log::default();
    let plans = [HANG, err(20, 1), HANG, ok(30, 3), HANG];
    let outcome = clock.block_on(
        Staggered::new(plans.map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .on_event(log.observer(&clock))
            .race(clock.clone()),
    );
    assert_eq!(outcome.winner, Some((3, 3)));
    let mut end: Vec<_> = log.lines().split_off(6);
    end.sort();
    assert_eq!(
        log.lines()[..6],
        lines(&[
            (0, "start 0"),
            (100, "start 1"),
            (120, "fail 1 (1)"),
            (120, "start 2"),
            (220, "start 3"),
            (250, "win 3"),
        ])
    );
    assert_eq!(end, lines(&[(250, "cancel 0"), (250, "cancel 2")]));
    assert_one_start_then_one_end(&log, 4);
}

#[test]
fn a_race_dropped_while_running_reports_its_running_attempts_cancelled() {
    let clock = ManualClock::new();
    let log = Log::default();
    {
        let mut race = pin!(
            Staggered::new([HANG, err(0, 1), HANG].map(|p| attempt(&clock, p)))
                .all_at_once()
                .on_event(log.observer(&clock))
                .race(clock.clone())
        );
        assert!(race.as_mut().now_or_never().is_none());
    }
    let mut end = log.lines().split_off(4);
    end.sort();
    assert_eq!(end, lines(&[(0, "cancel 0"), (0, "cancel 2")]));
    assert_one_start_then_one_end(&log, 3);
}

#[test]
fn a_race_dropped_before_its_first_poll_reports_nothing() {
    let clock = ManualClock::new();
    let log = Log::default();
    drop(
        Staggered::new([HANG].map(|p| attempt(&clock, p)))
            .on_event(log.observer(&clock))
            .race(clock.clone()),
    );
    assert!(log.lines().is_empty());
}

#[test]
fn the_array_race_reports_the_same_events_and_outcome() {
    let plans = [HANG, err(20, 1), HANG, ok(30, 3), HANG, HANG];
    for cap in [None, Some(2)] {
        let run = |array: bool| {
            let clock = ManualClock::new();
            let log = Log::default();
            let builder = Staggered::new(plans.map(|p| attempt(&clock, p)))
                .delay(ms(100))
                .deadline(ms(1_000))
                .on_event(log.observer(&clock));
            let builder = match cap {
                Some(n) => builder.max_running(n).cancel_oldest_when_full(),
                None => builder,
            };
            let (winner, attempts, timed_out) = if array {
                let o = clock.block_on(builder.race_array(clock.clone()));
                (o.winner, o.attempts.to_vec(), o.timed_out)
            } else {
                let o = clock.block_on(builder.race(clock.clone()));
                (o.winner, o.attempts, o.timed_out)
            };
            let mut lines = log.lines();
            lines.sort();
            (winner, attempts, timed_out, lines, clock.now())
        };
        assert_eq!(run(false), run(true), "cap {cap:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Panics in the callbacks
// ---------------------------------------------------------------------------------------------

/// Counts drops of the attempts' futures.
struct Probe(Rc<Cell<usize>>);
impl Drop for Probe {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn probed(
    dropped: &Rc<Cell<usize>>,
) -> impl FnOnce() -> Pin<Box<dyn Future<Output = Result<u32, u32>>>> {
    let dropped = dropped.clone();
    move || {
        let probe = Probe(dropped);
        Box::pin(async move {
            let _probe = probe;
            std::future::pending().await
        })
    }
}

#[test]
fn a_panic_in_on_event_behaves_like_a_panic_in_an_attempt() {
    for panic_on in ["start 1", "fail 2", "win 3", "cancel 0"] {
        let clock = ManualClock::new();
        let dropped = Rc::new(Cell::new(0));
        let attempts: Vec<AnyAttempt> = vec![
            Box::new(probed(&dropped)),
            Box::new(probed(&dropped)),
            Box::new(attempt(&clock, err(0, 2))),
            Box::new(attempt(&clock, ok(0, 3))),
        ];
        let mut race = Box::pin(
            Staggered::new(attempts.into_iter().map(|a| move || a()))
                .all_at_once()
                .on_event(|event: Event<'_, u32>| {
                    let line = match event {
                        Event::Started { index } => format!("start {index}"),
                        Event::Failed { index, .. } => format!("fail {index}"),
                        Event::Won { index } => format!("win {index}"),
                        Event::Cancelled { index } => format!("cancel {index}"),
                    };
                    if line == panic_on {
                        panic!("observer: {line}");
                    }
                })
                .race(clock.clone()),
        );
        let err =
            catch_unwind(AssertUnwindSafe(|| race.as_mut().now_or_never())).expect_err(panic_on);
        assert_eq!(
            err.downcast_ref::<String>().map(String::as_str),
            Some(format!("observer: {panic_on}").as_str())
        );
        let again = catch_unwind(AssertUnwindSafe(|| race.as_mut().now_or_never())).unwrap_err();
        let again = again.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(again.contains("after a panic"), "{panic_on}: {again}");
        drop(race); // no events from a broken race, and no double drop
        assert_eq!(
            dropped.get(),
            2,
            "{panic_on}: each started probe dropped once"
        );
    }
}

#[test]
fn a_panic_in_delay_fn_behaves_like_a_panic_in_an_attempt() {
    let clock = ManualClock::new();
    let dropped = Rc::new(Cell::new(0));
    let mut race = Box::pin(
        Staggered::new([probed(&dropped), probed(&dropped)])
            .delay_fn(|index| {
                if index == 1 {
                    panic!("delay_fn: {index}")
                } else {
                    Some(ms(0))
                }
            })
            .race(clock.clone()),
    );
    let err = catch_unwind(AssertUnwindSafe(|| race.as_mut().now_or_never())).unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("delay_fn: 1")
    );
    assert!(catch_unwind(AssertUnwindSafe(|| race.as_mut().now_or_never())).is_err());
    drop(race);
    assert_eq!(dropped.get(), 2);
}

#[test]
fn a_panic_in_the_observer_while_the_race_is_dropped_reaches_the_dropper() {
    let clock = ManualClock::new();
    let dropped = Rc::new(Cell::new(0));
    let mut race = Box::pin(
        Staggered::new([probed(&dropped)])
            .on_event(|event: Event<'_, u32>| {
                if let Event::Cancelled { .. } = event {
                    panic!("observer in drop");
                }
            })
            .race(clock.clone()),
    );
    assert!(race.as_mut().now_or_never().is_none());
    let err = catch_unwind(AssertUnwindSafe(|| drop(race))).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"observer in drop"));
    assert_eq!(dropped.get(), 1, "the attempt is still dropped");
}

#[test]
#[should_panic(expected = "NoTimer cannot sleep")]
fn a_deadline_on_no_timer_panics_clearly() {
    let race = Staggered::new([|| std::future::pending::<Result<(), ()>>()])
        .deadline(ms(5))
        .race(NoTimer);
    let _ = race.now_or_never();
}

#[test]
fn a_race_that_returned_holds_no_sleep() {
    let clock = ManualClock::new();
    let mut race = pin!(Staggered::new([ok(10, 1)].map(|p| attempt(&clock, p)))
        .delay(ms(100))
        .deadline(ms(1_000))
        .race(clock.clone()));
    assert!(race.as_mut().now_or_never().is_none());
    assert_eq!(
        clock.live_sleeps(),
        3,
        "the attempt's, the delay's and the deadline's"
    );
    clock.advance(ms(10));
    let outcome = race.as_mut().now_or_never().expect("won at 10 ms");
    assert_eq!(outcome.winner, Some((0, 1)));
    assert_eq!(
        clock.live_sleeps(),
        0,
        "the deadline's sleep went with the race's end"
    );
}

#[test]
fn cancelled_is_reported_once_the_attempt_is_dropped() {
    for how in ["win", "room", "deadline", "drop"] {
        let clock = ManualClock::new();
        let dropped = Rc::new(Cell::new(0));
        let seen_after_drop = Rc::new(Cell::new(true));
        let winner: AnyAttempt = if how == "win" {
            Box::new(attempt(&clock, ok(150, 9)))
        } else {
            Box::new(probed(&dropped))
        };
        let attempts: Vec<AnyAttempt> = vec![Box::new(probed(&dropped)), winner];
        let builder = Staggered::new(attempts.into_iter().map(|a| move || a()))
            .delay(ms(100))
            .max_running(if how == "room" { 1 } else { 2 })
            .deadline(if how == "deadline" {
                ms(120)
            } else {
                ms(10_000)
            });
        let builder = if how == "room" {
            builder.cancel_oldest_when_full()
        } else {
            builder
        };
        let mut race = Box::pin(
            builder
                .on_event({
                    let (dropped, seen) = (dropped.clone(), seen_after_drop.clone());
                    move |event: Event<'_, u32>| {
                        if let Event::Cancelled { index: 0 } = event {
                            // The probe of attempt 0 is the first one dropped.
                            seen.set(seen.get() && dropped.get() >= 1);
                        }
                    }
                })
                .race(clock.clone()),
        );
        assert!(race.as_mut().now_or_never().is_none());
        clock.advance(ms(100));
        let _ = race.as_mut().now_or_never();
        clock.advance(ms(100));
        let _ = race.as_mut().now_or_never();
        drop(race);
        assert!(dropped.get() >= 1, "{how}");
        assert!(
            seen_after_drop.get(),
            "{how}: Cancelled came before the drop"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The errors of a race without a winner keep their attempt index (issue 21): after a cancelled
// attempt, an error's position in the list and its attempt differ.
// ---------------------------------------------------------------------------------------------

/// Attempt 0 hangs and is cancelled at 100 ms to make room for attempt 1, which fails at
/// 110 ms and starts attempt 2 at once; that one fails at 130 ms.
const CANCELLED_THEN_FAILED: [Plan; 3] = [HANG, err(10, 1), err(20, 2)];

#[test]
fn the_errors_after_a_cancelled_attempt_keep_their_attempt_index() {
    let clock = ManualClock::new();
    let outcome = clock.block_on(
        Staggered::new(CANCELLED_THEN_FAILED.map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .max_running(1)
            .cancel_oldest_when_full()
            .race(clock.clone()),
    );
    assert_eq!(outcome.attempts, [Cancelled, Failed(1), Failed(2)]);
    assert_eq!(clock.now(), ms(130));
    let err = outcome.into_result().unwrap_err();
    // The plain list is as before: positions 0 and 1.
    assert_eq!(err.errors(), [1, 2]);
    assert_eq!(err.clone().into_errors(), [1, 2]);
    assert_eq!(err.clone().into_iter().collect::<Vec<_>>(), [1, 2]);
    // Paired with their attempts: 1 and 2.
    assert_eq!(err.indexed_errors().collect::<Vec<_>>(), [(1, &1), (2, &2)]);
    assert_eq!(
        err.indexed_errors()
            .rev()
            .map(|(i, _)| i)
            .collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(err.indexed_errors().len(), 2);
    assert_eq!(
        err.to_string(),
        "no attempt won (3 attempts started, 2 failed, 1 cancelled): [1] 1; [2] 2"
    );
    assert_eq!(
        err.into_indexed_errors().collect::<Vec<_>>(),
        [(1, 1), (2, 2)]
    );
}

#[test]
fn the_array_race_errors_after_a_cancelled_attempt_keep_their_attempt_index() {
    let clock = ManualClock::new();
    let outcome = clock.block_on(
        Staggered::new(CANCELLED_THEN_FAILED.map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .max_running(1)
            .cancel_oldest_when_full()
            .race_array(clock.clone()),
    );
    assert_eq!(*outcome.attempts, [Cancelled, Failed(1), Failed(2)]);
    let err = outcome.into_result().unwrap_err();
    assert_eq!(err.errors(), [1, 2]);
    assert_eq!(err.clone().into_errors().as_slice(), [1, 2]);
    assert_eq!(err.indexed_errors().collect::<Vec<_>>(), [(1, &1), (2, &2)]);
    assert_eq!(
        err.to_string(),
        "no attempt won (3 attempts started, 2 failed, 1 cancelled): [1] 1; [2] 2"
    );
    assert_eq!(
        err.into_indexed_errors().collect::<Vec<_>>(),
        [(1, 1), (2, 2)]
    );
}

#[test]
fn a_deadline_after_a_cancelled_attempt_numbers_the_errors_by_attempt() {
    // Attempt 0 is cancelled for attempt 1 at 100 ms, which fails at 110 ms and starts
    // attempt 2; the deadline at 250 ms cancels attempt 2.
    let plans = [HANG, err(10, 1), HANG];
    let clock = ManualClock::new();
    let vec_race = clock.block_on(
        Staggered::new(plans.map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .max_running(1)
            .cancel_oldest_when_full()
            .deadline(ms(250))
            .race(clock.clone()),
    );
    let clock = ManualClock::new();
    let array_race = clock.block_on(
        Staggered::new(plans.map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .max_running(1)
            .cancel_oldest_when_full()
            .deadline(ms(250))
            .race_array(clock.clone()),
    );
    assert!(vec_race.timed_out && array_race.timed_out);
    assert_eq!(vec_race.attempts, [Cancelled, Failed(1), Cancelled]);
    assert_eq!(*array_race.attempts, [Cancelled, Failed(1), Cancelled]);
    let message = "the deadline passed with no winner (3 attempts started, 1 failed): [1] 1";
    let vec_err = vec_race.into_result().unwrap_err();
    assert_eq!(vec_err.to_string(), message);
    assert_eq!(vec_err.indexed_errors().collect::<Vec<_>>(), [(1, &1)]);
    let array_err = array_race.into_result().unwrap_err();
    assert_eq!(array_err.to_string(), message);
    assert_eq!(array_err.indexed_errors().collect::<Vec<_>>(), [(1, &1)]);
}

#[test]
fn an_attempt_cancelled_by_the_deadline_before_a_failed_one_leaves_a_gap() {
    let clock = ManualClock::new();
    let outcome = clock.block_on(
        Staggered::new([err(10, 0), err(10, 1), ok(500, 2), err(0, 3)].map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .deadline(ms(300))
            .race(clock.clone()),
    );
    // 0 fails at 10 ms, 1 at 20 ms; 2 starts at 20 ms, 3 at 120 ms and fails at once; the
    // deadline cancels 2.
    assert_eq!(
        outcome.attempts,
        [Failed(0), Failed(1), Cancelled, Failed(3)]
    );
    let err = outcome.into_result().unwrap_err();
    assert_eq!(err.errors(), [0, 1, 3]);
    assert_eq!(
        err.indexed_errors().collect::<Vec<_>>(),
        [(0, &0), (1, &1), (3, &3)]
    );
    assert_eq!(
        err.to_string(),
        "the deadline passed with no winner (4 attempts started, 3 failed): [0] 0; [1] 1; [3] 3"
    );
}

#[test]
fn without_a_cancelled_attempt_the_attempt_index_is_the_position() {
    let clock = ManualClock::new();
    let outcome = clock.block_on(
        Staggered::new([err(10, 0), err(10, 1)].map(|p| attempt(&clock, p)))
            .delay(ms(100))
            .race(clock.clone()),
    );
    let err = outcome.into_result().unwrap_err();
    assert_eq!(err.indexed_errors().collect::<Vec<_>>(), [(0, &0), (1, &1)]);
    assert_eq!(err.to_string(), "all 2 attempts failed: [0] 0; [1] 1");
    // The same value as one built from the plain list.
    assert_eq!(err, staggered::AllFailed::new(vec![0, 1]));
}
