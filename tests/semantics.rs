//! The race semantics, in virtual time with exact timings.
//!
//! The first sections port the reference suites case by case, each test named after its
//! source; the rest check every numbered point of the contract.

mod support;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use staggered::testing::ManualClock;
use staggered::timer::NoTimer;
use staggered::{staggered_race, AllFailed, Attempt, Outcome};
use support::{ms, run, Act, CountWaker, Event};

use Attempt::{Cancelled, Failed, Won};

/// 100,000 normally; fewer under miri, which is ~1000x slower.
const MANY: usize = if cfg!(miri) { 300 } else { 100_000 };
/// Attempts pending at once in the precise-wake test.
const PENDING: usize = if cfg!(miri) { 300 } else { 1_000 };
/// The most attempts the slab race runs in task mode, polled with the task's waker.
const TASK_MODE: usize = 8;

// ---------------------------------------------------------------------------------------------
// CPython: Lib/test/test_asyncio/test_staggered.py
// ---------------------------------------------------------------------------------------------

#[test]
fn cpython_test_empty() {
    let race = staggered_race(
        std::iter::empty::<fn() -> std::future::Ready<Result<(), &'static str>>>(),
        None,
        NoTimer,
    );
    let outcome = race
        .now_or_never()
        .expect("an empty race completes at once");
    assert_eq!(outcome.winner, None);
    assert!(outcome.attempts.is_empty());
    let err = outcome.into_result().unwrap_err();
    assert!(err.no_attempts());
    assert_eq!(
        err.to_string(),
        "no attempts were made: the attempt iterator was empty"
    );
}

#[test]
fn cpython_test_one_successful() {
    let coro = |index: usize| async move { Ok::<_, ()>(format!("Res: {index}")) };
    let outcome = staggered_race((0..2).map(|i| move || coro(i)), None, NoTimer)
        .now_or_never()
        .unwrap();
    assert_eq!(outcome.winner, Some((0, "Res: 0".to_string())));
    assert_eq!(outcome.attempts, [Won]);
}

#[test]
fn cpython_test_first_error_second_successful() {
    let coro = |index: usize| async move {
        if index == 0 {
            return Err(format!("ValueError({index})"));
        }
        Ok(format!("Res: {index}"))
    };
    let outcome = staggered_race((0..2).map(|i| move || coro(i)), None, NoTimer)
        .now_or_never()
        .unwrap();
    assert_eq!(outcome.winner, Some((1, "Res: 1".to_string())));
    assert_eq!(outcome.attempts, [Failed("ValueError(0)".to_string()), Won]);
}

#[test]
fn cpython_test_first_timeout_second_successful() {
    // Attempt 0 sleeps much longer than the delay; attempt 1 wins and 0 is cancelled.
    let (outcome, trace, clock) = run(&[Act::Ok(10_000), Act::Ok(0)], Some(ms(100)));
    assert_eq!(outcome.winner, Some((1, 1)));
    assert_eq!(outcome.attempts, [Cancelled, Won]);
    assert_eq!(trace.start_times(), [ms(0), ms(100)]);
    assert_eq!(clock.now(), ms(100));
}

#[test]
fn cpython_test_none_successful() {
    let (outcome, _, _) = run(&[Act::Err(0), Act::Err(0)], None);
    assert_eq!(outcome.winner, None);
    assert_eq!(outcome.attempts, [Failed(0), Failed(1)]);
}

#[test]
fn cpython_test_multiple_winners() {
    // Attempts 0 and 1 wait on one event; attempt 2 sets it and hangs. Both waiters finish in
    // the same wake-up: exactly one wins, the first to have waited.
    let clock = ManualClock::new();
    let event = Event::default();
    let coro = |index: usize| {
        let event = event.clone();
        move || {
            async move {
                event.wait().await;
                Ok::<_, ()>(index)
            }
            .boxed_local()
        }
    };
    let do_set = {
        let event = event.clone();
        move || {
            async move {
                event.set();
                std::future::pending::<Result<usize, ()>>().await
            }
            .boxed_local()
        }
    };
    let attempts: Vec<Box<dyn FnOnce() -> _>> =
        vec![Box::new(coro(0)), Box::new(coro(1)), Box::new(do_set)];
    let outcome = clock.block_on(staggered_race(attempts, Some(ms(100)), clock.clone()));
    assert_eq!(outcome.winner, Some((0, 0)));
    assert_eq!(outcome.attempts, [Won, Cancelled, Cancelled]);
    assert_eq!(clock.now(), ms(200));
}

// ---------------------------------------------------------------------------------------------
// CPython: Lib/test/test_asyncio/test_eager_task_factory.py (gh-124309)
// ---------------------------------------------------------------------------------------------

#[test]
fn cpython_eager_test_staggered_race_with_eager_tasks() {
    // [blocked forever, sleep(1) -> "sleep1", fail after one yield], delay 0.25.
    let clock = ManualClock::new();
    let fail = || {
        async {
            support::yield_now().await; // asyncio.sleep(0)
            Err("no good")
        }
        .boxed_local()
    };
    let blocked = || std::future::pending().boxed_local();
    let sleep1 = {
        let clock = clock.clone();
        move || {
            async move {
                clock.sleep(ms(1000)).await;
                Ok("sleep1")
            }
            .boxed_local()
        }
    };
    let attempts: Vec<Box<dyn FnOnce() -> _>> =
        vec![Box::new(blocked), Box::new(sleep1), Box::new(fail)];
    let outcome = clock.block_on(staggered_race(attempts, Some(ms(250)), clock.clone()));
    assert_eq!(outcome.winner, Some((1, "sleep1")));
    assert_eq!(outcome.attempts, [Cancelled, Won, Failed("no good")]);
    assert_eq!(clock.now(), ms(1250));
}

#[test]
fn cpython_eager_test_staggered_race_with_eager_tasks_no_delay() {
    // [fail at once, sleep(1) -> "sleep1", sleep(0) -> "sleep0"], delay None: the third is
    // never started.
    let (outcome, trace, clock) = run(&[Act::Err(0), Act::Ok(1000), Act::Ok(0)], None);
    assert_eq!(outcome.winner, Some((1, 1)));
    assert_eq!(outcome.attempts, [Failed(0), Won]);
    assert_eq!(trace.starts.len(), 2);
    assert_eq!(clock.now(), ms(1000));
}

// ---------------------------------------------------------------------------------------------
// Trio: src/trio/_tests/test_highlevel_open_tcp_stream.py, with fake attempts (250 ms delay)
// ---------------------------------------------------------------------------------------------

#[test]
fn trio_test_basic_fallthrough() {
    let (outcome, trace, clock) = run(&[Act::Ok(1000), Act::Ok(1000), Act::Ok(200)], Some(ms(250)));
    assert_eq!(outcome.winner, Some((2, 2)));
    assert_eq!(clock.now(), ms(250 + 250 + 200));
    assert_eq!(trace.start_times(), [ms(0), ms(250), ms(500)]);
    assert_eq!(outcome.attempts, [Cancelled, Cancelled, Won]);
}

#[test]
fn trio_test_early_success() {
    let (outcome, trace, clock) = run(&[Act::Ok(1000), Act::Ok(100), Act::Ok(200)], Some(ms(250)));
    assert_eq!(outcome.winner, Some((1, 1)));
    assert_eq!(clock.now(), ms(250 + 100));
    // The third attempt was never even started.
    assert_eq!(trace.start_times(), [ms(0), ms(250)]);
}

#[test]
fn trio_test_custom_delay() {
    let (outcome, trace, clock) = run(&[Act::Ok(1000), Act::Ok(1000), Act::Ok(200)], Some(ms(450)));
    assert_eq!(outcome.winner, Some((0, 0)));
    assert_eq!(clock.now(), ms(1000));
    assert_eq!(trace.start_times(), [ms(0), ms(450), ms(900)]);
}

#[test]
fn trio_test_custom_errors_expedite() {
    let (outcome, trace, clock) = run(
        &[Act::Err(100), Act::Err(200), Act::Ok(10_000), Act::Ok(250)],
        Some(ms(250)),
    );
    assert_eq!(outcome.winner, Some((3, 3)));
    assert_eq!(clock.now(), ms(100 + 200 + 250 + 250));
    assert_eq!(
        trace.start_times(),
        [ms(0), ms(100), ms(100 + 200), ms(100 + 200 + 250)]
    );
    assert_eq!(outcome.attempts, [Failed(0), Failed(1), Cancelled, Won]);
}

#[test]
fn trio_test_all_fail() {
    let (outcome, trace, clock) = run(
        &[
            Act::Err(100),
            Act::Err(200),
            Act::Err(10_000),
            Act::Err(250),
        ],
        Some(ms(250)),
    );
    assert_eq!(outcome.winner, None);
    assert_eq!(
        outcome.attempts,
        [Failed(0), Failed(1), Failed(2), Failed(3)]
    );
    assert_eq!(clock.now(), ms(100 + 200 + 10_000));
    assert_eq!(
        trace.start_times(),
        [ms(0), ms(100), ms(100 + 200), ms(100 + 200 + 250)]
    );
    assert_eq!(outcome.into_result().unwrap_err().errors(), [0, 1, 2, 3]);
}

#[test]
fn trio_test_multi_success() {
    let (outcome, trace, clock) = run(
        &[
            Act::Err(500),
            Act::Ok(10_000),
            Act::Ok(10_000 - 1000),
            Act::Ok(10_000 - 2000),
            Act::Err(500),
        ],
        Some(ms(1000)),
    );
    // 1, 2 and 3 all finish at 10.5 s: exactly one wins.
    let (winner, _) = outcome.winner.unwrap();
    assert!([1, 2, 3].contains(&winner));
    assert_eq!(clock.now(), ms(500 + 10_000));
    assert_eq!(
        trace.start_times(),
        [ms(0), ms(500), ms(1500), ms(2500), ms(3500)]
    );
    assert_eq!(outcome.attempts[0], Failed(0));
    assert_eq!(outcome.attempts[4], Failed(4));
    assert_eq!(outcome.attempts.iter().filter(|a| a.is_won()).count(), 1);
    assert_eq!(
        outcome.attempts.iter().filter(|a| a.is_cancelled()).count(),
        2
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Nothing runs before the first poll; closures are called only when their attempt starts.
// ---------------------------------------------------------------------------------------------

#[test]
fn nothing_runs_before_the_first_poll() {
    let calls = Cell::new(0);
    let nexts = Cell::new(0);
    let attempts = std::iter::from_fn(|| {
        nexts.set(nexts.get() + 1);
        Some(|| {
            calls.set(calls.get() + 1);
            std::future::pending::<Result<(), ()>>()
        })
    })
    .take(3);
    let mut race = pin!(staggered_race(attempts, None, NoTimer));
    assert_eq!((calls.get(), nexts.get()), (0, 0));
    assert!(race.as_mut().now_or_never().is_none());
    // Sequential and pending: only attempt 0 has started.
    assert_eq!((calls.get(), nexts.get()), (1, 1));
}

#[test]
fn closures_are_called_lazily_one_per_start() {
    let (_, trace, _) = run(&[Act::Err(10), Act::Err(20), Act::Ok(30), Act::Ok(0)], None);
    let starts: Vec<usize> = trace.starts.iter().map(|&(i, _)| i).collect();
    assert_eq!(starts, [0, 1, 2]);
    assert_eq!(trace.start_times(), [ms(0), ms(10), ms(30)]);
}

// ---------------------------------------------------------------------------------------------
// 2. Attempt i+1 starts at min(start of i + delay, failure of i); only i's failure counts.
// ---------------------------------------------------------------------------------------------

#[test]
fn an_older_attempt_failing_starts_nothing() {
    // 0 fails at 400, while 1 (started at 250) is the newest: 2 still starts at 500.
    let (_, trace, _) = run(&[Act::Err(400), Act::Hang, Act::Ok(10)], Some(ms(250)));
    assert_eq!(trace.start_times(), [ms(0), ms(250), ms(500)]);
}

#[test]
fn the_delay_counts_from_the_start_of_the_previous_attempt() {
    // 0 fails at 100, so 1 starts at 100; 2 starts 250 after *that*, at 350 (not at 500).
    let (outcome, trace, _) = run(&[Act::Err(100), Act::Hang, Act::Ok(0)], Some(ms(250)));
    assert_eq!(trace.start_times(), [ms(0), ms(100), ms(350)]);
    assert_eq!(outcome.attempts, [Failed(0), Cancelled, Won]);
}

#[test]
fn a_failure_after_the_delay_starts_nothing_more() {
    // 0 fails at 300, after 1 already started at 250: 2 starts at 500, not at 300.
    let (_, trace, _) = run(&[Act::Err(300), Act::Hang, Act::Ok(0)], Some(ms(250)));
    assert_eq!(trace.start_times(), [ms(0), ms(250), ms(500)]);
}

#[test]
fn one_live_sleep_rearmed_with_reset() {
    // Attempts that don't use the clock: the race's sleep is the only one.
    let clock = ManualClock::new();
    let max_live = Cell::new(0);
    let race = staggered_race(
        (0..5).map(|i| {
            let (clock, max_live) = (clock.clone(), &max_live);
            move || {
                max_live.set(max_live.get().max(clock.live_sleeps()));
                async move {
                    if i < 4 {
                        std::future::pending().await
                    } else {
                        Ok::<_, ()>(i)
                    }
                }
            }
        }),
        Some(ms(10)),
        clock.clone(),
    );
    let outcome = clock.block_on(race);
    assert_eq!(outcome.winner, Some((4, 4)));
    assert_eq!(clock.sleeps_created(), 1);
    assert_eq!(clock.resets(), 3);
    assert_eq!(max_live.get(), 1);
    assert_eq!(
        clock.live_sleeps(),
        0,
        "the sleep is dropped when the race ends"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. None: one after another, no timer. Some(ZERO): all at once, no timer.
// ---------------------------------------------------------------------------------------------

#[test]
fn delay_none_runs_sequentially_without_the_timer() {
    let (outcome, trace, clock) = run(&[Act::Err(100), Act::Err(50), Act::Ok(70)], None);
    assert_eq!(outcome.winner, Some((2, 2)));
    assert_eq!(trace.start_times(), [ms(0), ms(100), ms(150)]);
    // Only the attempts' own sleeps: the race never called the timer.
    assert_eq!(clock.sleeps_created(), 3);
    assert_eq!(clock.resets(), 0);
}

#[test]
fn delay_none_never_calls_the_timer() {
    // NoTimer panics if called.
    let outcome = futures::executor::block_on(staggered_race(
        (1..=2).map(|e| move || async move { Err::<(), _>(e) }),
        None,
        NoTimer,
    ));
    assert_eq!(outcome.attempts, [Failed(1), Failed(2)]);
}

#[test]
fn delay_zero_starts_everything_at_once_without_the_timer() {
    let (outcome, trace, clock) = run(&[Act::Ok(300), Act::Ok(100), Act::Ok(200)], Some(ms(0)));
    assert_eq!(outcome.winner, Some((1, 1)));
    assert_eq!(trace.start_times(), [ms(0), ms(0), ms(0)]);
    assert_eq!(clock.now(), ms(100));
    assert_eq!(clock.sleeps_created(), 3, "only the attempts' own sleeps");
    assert_eq!(clock.resets(), 0);
}

#[test]
#[should_panic(expected = "NoTimer cannot sleep")]
fn a_nonzero_delay_with_no_timer_is_a_clear_panic() {
    let _ = staggered_race(
        [|| std::future::pending::<Result<(), ()>>()],
        Some(ms(1)),
        NoTimer,
    )
    .now_or_never();
}

// ---------------------------------------------------------------------------------------------
// 4, 5. The first Ok wins; others are dropped before Ready; the iterator is not advanced again.
// ---------------------------------------------------------------------------------------------

#[test]
fn losers_are_dropped_before_ready_and_the_iterator_is_left_alone() {
    let clock = ManualClock::new();
    let trace = Rc::new(RefCell::new(support::Trace::default()));
    let nexts = Cell::new(0);
    let acts = [Act::Hang, Act::Hang, Act::Ok(50), Act::Ok(0), Act::Ok(0)];
    let attempts = acts.iter().enumerate().map(|(i, &act)| {
        nexts.set(nexts.get() + 1);
        let (clock, trace) = (clock.clone(), trace.clone());
        move || {
            trace.borrow_mut().starts.push((i, clock.now()));
            support::scripted(i, act, &clock, &trace)
        }
    });
    let race = staggered_race(attempts, Some(ms(20)), clock.clone());
    let outcome = clock.block_on(race);
    // Starts at 0, 20, 40 and 60; attempt 3 succeeds as it starts, at 60, before 2 (due at 90).
    assert_eq!(outcome.winner, Some((3, 3)));
    assert_eq!(nexts.get(), 4, "the iterator is not advanced after the win");
    let trace = trace.borrow();
    for i in 0..4 {
        assert_eq!(trace.drop_time(i), Some(ms(60)), "attempt {i}");
    }
    assert_eq!(outcome.attempts, [Cancelled, Cancelled, Cancelled, Won]);
}

#[test]
fn exactly_one_winner_when_several_finish_in_one_wake_up() {
    // All four finish at 400 ms, in the same wake-up of the clock.
    let (outcome, _, clock) = run(
        &[Act::Ok(400), Act::Ok(300), Act::Ok(200), Act::Ok(100)],
        Some(ms(100)),
    );
    assert_eq!(clock.now(), ms(400));
    assert_eq!(outcome.attempts.iter().filter(|a| a.is_won()).count(), 1);
    // The tie goes to the attempt that started first, whatever the order of the wake-ups.
    assert_eq!(outcome.winner, Some((0, 0)));
    assert_eq!(outcome.attempts, [Won, Cancelled, Cancelled, Cancelled]);
}

#[test]
fn a_completion_at_the_same_instant_as_the_delay_wins_without_a_new_start() {
    // 0 succeeds at exactly 250 ms, when the delay also fires: no attempt 1 is started.
    let (outcome, trace, _) = run(&[Act::Ok(250), Act::Ok(0)], Some(ms(250)));
    assert_eq!(outcome.winner, Some((0, 0)));
    assert_eq!(trace.starts.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Ties: attempts that complete in one wake-up go in start order, in both races, whatever the
// order their wakers fired in.
// ---------------------------------------------------------------------------------------------

/// Attempts whose results the test sets, and whose latest wakers it fires, in any order.
#[derive(Clone, Default)]
struct Gates(Rc<RefCell<Vec<GateState>>>);

#[derive(Default)]
struct GateState {
    result: Option<Result<usize, usize>>,
    waker: Option<std::task::Waker>,
    polls: usize,
}

impl Gates {
    fn new(n: usize) -> Self {
        Gates(Rc::new(RefCell::new(
            (0..n).map(|_| GateState::default()).collect(),
        )))
    }

    /// Attempt `i`: pending until the test gives it a result.
    fn attempt(&self, i: usize) -> impl Future<Output = Result<usize, usize>> {
        let gates = self.clone();
        std::future::poll_fn(move |cx| {
            let mut gates = gates.0.borrow_mut();
            let gate = &mut gates[i];
            gate.polls += 1;
            match gate.result.take() {
                Some(result) => Poll::Ready(result),
                None => {
                    gate.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }

    /// Gives attempt `i` its result, without waking it.
    fn finish(&self, i: usize, result: Result<usize, usize>) {
        self.0.borrow_mut()[i].result = Some(result);
    }

    /// Takes attempt `i`'s latest waker.
    fn waker(&self, i: usize) -> std::task::Waker {
        self.0.borrow_mut()[i]
            .waker
            .take()
            .expect("attempt {i} has a waker")
    }

    fn polls(&self, i: usize) -> usize {
        self.0.borrow()[i].polls
    }
}

/// What the observer saw, as `(kind, index)`; `"failed"` carries the error in `index`.
type Seen = Rc<RefCell<Vec<(&'static str, usize)>>>;

fn observer(seen: &Seen) -> impl FnMut(staggered::Event<'_, usize>) {
    let seen = seen.clone();
    move |event| {
        let entry = match event {
            staggered::Event::Started { index } => ("started", index),
            staggered::Event::Failed { error, .. } => ("failed", *error),
            staggered::Event::Won { index } => ("won", index),
            staggered::Event::Cancelled { index } => ("cancelled", index),
        };
        seen.borrow_mut().push(entry);
    }
}

/// The two races over `N` gated attempts, all started at once (a zero delay); each `run`
/// polls its race until every attempt is pending, calls `tie` (which sets results and fires
/// wakers), then polls once more and returns the winner, the attempts' fates and the events
/// after the starts.
type TieRun = (
    Option<(usize, usize)>,
    Vec<Attempt<usize>>,
    Vec<(&'static str, usize)>,
);

fn tie_in_slab<const N: usize>(tie: impl FnOnce(&Gates)) -> TieRun {
    let gates = Gates::new(N);
    let seen = Seen::default();
    let g = gates.clone();
    let race = staggered::Staggered::new((0..N).map(move |i| {
        let g = g.clone();
        move || g.attempt(i)
    }))
    .delay(Duration::ZERO)
    .on_event(observer(&seen))
    .race(NoTimer);
    let mut race = pin!(race);
    let outcome = drive_tie(race.as_mut(), &gates, N, tie);
    let events = seen.borrow()[N..].to_vec();
    (outcome.winner, outcome.attempts, events)
}

fn tie_in_array<const N: usize>(tie: impl FnOnce(&Gates)) -> TieRun {
    let gates = Gates::new(N);
    let seen = Seen::default();
    let attempts: [_; N] = std::array::from_fn(|i| {
        let g = gates.clone();
        move || g.attempt(i)
    });
    let race = staggered::Staggered::new(attempts)
        .delay(Duration::ZERO)
        .on_event(observer(&seen))
        .race_array(NoTimer);
    let mut race = pin!(race);
    let outcome = drive_tie(race.as_mut(), &gates, N, tie);
    let events = seen.borrow()[N..].to_vec();
    (outcome.winner, outcome.attempts.to_vec(), events)
}

fn drive_tie<F: Future>(
    mut race: std::pin::Pin<&mut F>,
    gates: &Gates,
    n: usize,
    tie: impl FnOnce(&Gates),
) -> F::Output {
    let (_, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..4 {
        assert!(race.as_mut().poll(&mut cx).is_pending());
    }
    assert!((0..n).all(|i| gates.polls(i) > 0), "every attempt started");
    tie(gates);
    match race.as_mut().poll(&mut cx) {
        Poll::Ready(outcome) => outcome,
        Poll::Pending => panic!("the tie must end the race in one poll"),
    }
}

/// Both races, same tie, same result.
fn tie_in_both<const N: usize>(tie: impl Fn(&Gates)) -> TieRun {
    let slab = tie_in_slab::<N>(&tie);
    let array = tie_in_array::<N>(&tie);
    assert_eq!(slab, array, "the two races break the tie alike");
    slab
}

#[test]
fn a_tie_goes_to_the_earliest_started_ok_whatever_the_wake_order() {
    // Four attempts complete in one wake-up, their wakers fired last started first: the two
    // failures are handled, then attempt 2 wins, and attempt 3's `Ok` is never seen.
    let (winner, attempts, events) = tie_in_both::<4>(|gates| {
        for (i, result) in [Err(0), Err(1), Ok(2), Ok(3)].into_iter().enumerate() {
            gates.finish(i, result);
        }
        for i in (0..4).rev() {
            gates.waker(i).wake();
        }
    });
    assert_eq!(winner, Some((2, 2)));
    assert_eq!(attempts, [Failed(0), Failed(1), Won, Cancelled]);
    assert_eq!(
        events,
        [("failed", 0), ("failed", 1), ("won", 2), ("cancelled", 3)]
    );
}

#[test]
fn an_earlier_failure_and_a_later_success_in_one_wake_up() {
    // The success's waker fires first; the failure is still handled, and reported.
    let (winner, attempts, events) = tie_in_both::<2>(|gates| {
        gates.finish(0, Err(0));
        gates.finish(1, Ok(1));
        gates.waker(1).wake();
        gates.waker(0).wake();
    });
    assert_eq!(winner, Some((1, 1)));
    assert_eq!(attempts, [Failed(0), Won]);
    assert_eq!(events, [("failed", 0), ("won", 1)]);
}

#[test]
fn a_tie_woken_from_other_threads_goes_to_the_earliest_started_ok() {
    // The wakers fire from two threads, the later attempt's strictly first.
    let (winner, attempts, _) = tie_in_both::<3>(|gates| {
        gates.finish(0, Ok(0));
        gates.finish(2, Ok(2));
        let (late, early) = (gates.waker(2), gates.waker(0));
        std::thread::spawn(move || late.wake()).join().unwrap();
        std::thread::spawn(move || early.wake()).join().unwrap();
    });
    assert_eq!(winner, Some((0, 0)));
    assert_eq!(attempts, [Won, Cancelled, Cancelled]);
}

#[test]
fn failures_in_one_wake_up_are_reported_in_start_order() {
    let (winner, attempts, events) = tie_in_both::<3>(|gates| {
        for i in 0..3 {
            gates.finish(i, Err(i));
        }
        for i in [2, 0, 1] {
            gates.waker(i).wake();
        }
    });
    assert_eq!(winner, None);
    assert_eq!(attempts, [Failed(0), Failed(1), Failed(2)]);
    assert_eq!(events, [("failed", 0), ("failed", 1), ("failed", 2)]);
}

/// A tie with the sleep: at 200 ms the sleep fires (attempt 2 is due) and attempts 1 and 0
/// complete, woken in that order, after the sleep. Attempt 0 wins; attempt 2 never starts.
fn tie_with_the_sleep(array: bool) {
    let clock = ManualClock::new();
    let gates = Gates::new(3);
    let seen = Seen::default();
    let attempts: [_; 3] = std::array::from_fn(|i| {
        let g = gates.clone();
        move || g.attempt(i)
    });
    let builder = staggered::Staggered::new(attempts)
        .delay(ms(100))
        .on_event(observer(&seen));
    let tie = |clock: &ManualClock| {
        assert_eq!(gates.polls(2), 0);
        clock.advance_to(ms(200)); // the sleep's waker fires first
        gates.finish(0, Ok(0));
        gates.finish(1, Ok(1));
        gates.waker(1).wake();
        gates.waker(0).wake();
    };
    // Polls the race at 0 and 100 ms (attempts 0 and 1 start), then through the tie.
    fn through_the_tie<F: Future>(
        mut race: std::pin::Pin<&mut F>,
        clock: &ManualClock,
        tie: impl FnOnce(&ManualClock),
    ) -> F::Output {
        let (_, waker) = CountWaker::new();
        let mut cx = Context::from_waker(&waker);
        for at in [0, 100] {
            clock.advance_to(ms(at));
            assert!(race.as_mut().poll(&mut cx).is_pending());
        }
        tie(clock);
        let Poll::Ready(outcome) = race.as_mut().poll(&mut cx) else {
            panic!("the tie ends the race")
        };
        outcome
    }
    let (winner, fates) = if array {
        let outcome = through_the_tie(pin!(builder.race_array(clock.clone())), &clock, tie);
        (outcome.winner, outcome.attempts.to_vec())
    } else {
        let outcome = through_the_tie(pin!(builder.race(clock.clone())), &clock, tie);
        (outcome.winner, outcome.attempts)
    };
    assert_eq!(winner, Some((0, 0)));
    assert_eq!(fates, [Won, Cancelled], "attempt 2 never starts");
    assert_eq!(gates.polls(2), 0);
    assert_eq!(
        seen.borrow()[..],
        [("started", 0), ("started", 1), ("won", 0), ("cancelled", 1)]
    );
}

#[test]
fn a_tie_with_the_sleep_goes_to_the_earliest_started_attempt() {
    tie_with_the_sleep(false);
    tie_with_the_sleep(true);
}

// ---------------------------------------------------------------------------------------------
// 6, 7. All fail: the race ends with the last failure, every error in start order.
// ---------------------------------------------------------------------------------------------

#[test]
fn all_fail_returns_when_the_last_running_attempt_fails() {
    let (outcome, trace, clock) = run(&[Act::Err(900), Act::Err(10), Act::Err(300)], Some(ms(100)));
    assert_eq!(trace.start_times(), [ms(0), ms(100), ms(110)]);
    assert_eq!(clock.now(), ms(900));
    assert_eq!(outcome.attempts, [Failed(0), Failed(1), Failed(2)]);
    let err: AllFailed<usize> = outcome.into_result().unwrap_err();
    assert_eq!(err.clone().into_errors(), [0, 1, 2]);
    assert_eq!(
        err.to_string(),
        "all 3 attempts failed: [0] 0; [1] 1; [2] 2"
    );
    let as_error: &dyn std::error::Error = &err;
    assert!(as_error.source().is_none());
}

#[test]
fn attempts_entries_belong_to_iterator_positions() {
    let (outcome, _, _) = run(
        &[Act::Err(5), Act::Hang, Act::Err(1), Act::Ok(3)],
        Some(ms(2)),
    );
    // Starts: 0 at 0, 1 at 2, 2 at 4 (fails at 5 -> 3 starts at 5), 3 wins at 8.
    assert_eq!(outcome.attempts, [Failed(0), Cancelled, Failed(2), Won]);
    assert_eq!(outcome.winner, Some((3, 3)));
    assert_eq!(outcome.winner_index(), Some(3));
    assert_eq!(outcome.errors().copied().collect::<Vec<_>>(), [0, 2]);
}

// ---------------------------------------------------------------------------------------------
// 8. An attempt ready on its first poll is handled within the same poll that started it.
// ---------------------------------------------------------------------------------------------

#[test]
fn eager_attempts_are_handled_in_the_poll_that_starts_them() {
    let race = staggered_race(
        [
            || std::future::ready(Err::<u8, _>("a")),
            || std::future::ready(Err("b")),
            || std::future::ready(Ok(3)),
        ],
        None,
        NoTimer,
    );
    let outcome = race.now_or_never().expect("ready in one poll");
    assert_eq!(outcome.winner, Some((2, 3)));
    assert_eq!(outcome.attempts, [Failed("a"), Failed("b"), Won]);
}

// ---------------------------------------------------------------------------------------------
// 9, 10. Futures are dropped as soon as they complete; dropping the race drops everything.
// ---------------------------------------------------------------------------------------------

#[test]
fn an_attempts_future_is_dropped_as_soon_as_it_completes() {
    let (_, trace, _) = run(&[Act::Err(30), Act::Err(70), Act::Ok(500)], Some(ms(1000)));
    assert_eq!(trace.drop_time(0), Some(ms(30)));
    assert_eq!(trace.drop_time(1), Some(ms(100)));
    assert_eq!(trace.drop_time(2), Some(ms(600)));
}

#[test]
fn dropping_the_race_drops_every_attempt_and_the_sleep_at_once() {
    let clock = ManualClock::new();
    let trace = Rc::new(RefCell::new(support::Trace::default()));
    let calls = Rc::new(Cell::new(0));
    let race = staggered_race(
        (0..10).map(|i| {
            let (clock, trace, calls) = (clock.clone(), trace.clone(), calls.clone());
            move || {
                calls.set(calls.get() + 1);
                trace.borrow_mut().starts.push((i, clock.now()));
                support::scripted(i, Act::Hang, &clock, &trace)
            }
        }),
        Some(ms(100)),
        clock.clone(),
    );
    {
        let mut race = Box::pin(race);
        let (_, waker) = CountWaker::new();
        let mut cx = Context::from_waker(&waker);
        assert!(race.as_mut().poll(&mut cx).is_pending());
        clock.advance(ms(100));
        assert!(race.as_mut().poll(&mut cx).is_pending());
        clock.advance(ms(100));
        assert!(race.as_mut().poll(&mut cx).is_pending());
        assert_eq!(calls.get(), 3);
        assert_eq!(clock.live_sleeps(), 1);
        clock.advance(ms(50));
        drop(race);
    }
    assert_eq!(
        clock.live_sleeps(),
        0,
        "the pending sleep is dropped with the race"
    );
    let trace = trace.borrow();
    assert_eq!(trace.drops.len(), 3);
    for i in 0..3 {
        assert_eq!(trace.drop_time(i), Some(ms(250)));
    }
    clock.advance(ms(10_000));
    assert_eq!(calls.get(), 3, "no closure is called after the drop");
}

#[test]
fn each_attempt_is_dropped_exactly_once() {
    let with_hangs = [
        Act::Err(3),
        Act::Hang,
        Act::Err(20),
        Act::Ok(40),
        Act::Hang,
        Act::Ok(1),
        Act::Err(0),
    ];
    // Sequential races cannot get past a hanging attempt.
    let without_hangs = [
        Act::Err(3),
        Act::Err(0),
        Act::Err(20),
        Act::Ok(40),
        Act::Ok(1),
    ];
    for (acts, delay) in [
        (&without_hangs[..], None),
        (&with_hangs[..], Some(ms(0))),
        (&with_hangs[..], Some(ms(7))),
    ] {
        let (_, trace, _) = run(acts, delay);
        let mut dropped: Vec<usize> = trace.drops.iter().map(|&(i, _)| i).collect();
        dropped.sort_unstable();
        let started: Vec<usize> = trace.starts.iter().map(|&(i, _)| i).collect();
        assert_eq!(dropped, started, "delay {delay:?}");
    }
}

#[test]
fn slots_of_finished_attempts_are_reused() {
    // Many attempts fail one after another: the race must not hold memory per finished one.
    // (Exact allocation counts are asserted in tests/allocations.rs.)
    let race = staggered_race(
        (0..MANY).map(|i| move || std::future::ready(if i + 1 == MANY { Ok(i) } else { Err(i) })),
        None,
        NoTimer,
    );
    let outcome = futures::executor::block_on(race);
    assert_eq!(outcome.winner, Some((MANY - 1, MANY - 1)));
    assert_eq!(outcome.attempts.len(), MANY);
}

// ---------------------------------------------------------------------------------------------
// The engine: precise wake-ups, co-operation, threads.
// ---------------------------------------------------------------------------------------------

/// A future that stays pending, counts its polls and keeps its latest waker.
struct Parked {
    polls: Rc<Cell<usize>>,
    waker: Rc<RefCell<Option<std::task::Waker>>>,
}

impl Future for Parked {
    type Output = Result<(), ()>;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls.set(self.polls.get() + 1);
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn exactly_one_attempt_poll_per_wake() {
    let polls: Vec<Rc<Cell<usize>>> = (0..PENDING).map(|_| Rc::default()).collect();
    let wakers: Vec<Rc<RefCell<Option<std::task::Waker>>>> =
        (0..PENDING).map(|_| Rc::default()).collect();
    let race = staggered_race(
        (0..PENDING).map(|i| {
            let (polls, waker) = (polls[i].clone(), wakers[i].clone());
            move || Parked { polls, waker }
        }),
        Some(Duration::ZERO),
        NoTimer,
    );
    let mut race = pin!(race);
    let (parent, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    // Start everything: the budget spreads the starts over several polls.
    let mut race_polls = 0;
    while polls.iter().any(|p| p.get() == 0) {
        assert!(race.as_mut().poll(&mut cx).is_pending());
        race_polls += 1;
    }
    assert!(race_polls > 1, "one poll must not start {PENDING} attempts");
    // The first 8 ran in task mode, polled with the task's waker; as the ninth started, the
    // race made its wakers, and each of the 8 was polled once more, with its own. Every
    // other attempt once, with its own from the start.
    assert!(polls[..TASK_MODE].iter().all(|p| p.get() == 2));
    assert!(polls[TASK_MODE..].iter().all(|p| p.get() == 1));
    assert!(race.as_mut().poll(&mut cx).is_pending());
    let total = |polls: &[Rc<Cell<usize>>]| polls.iter().map(|p| p.get()).sum::<usize>();
    assert_eq!(
        total(&polls),
        PENDING + TASK_MODE,
        "an idle poll polls nothing"
    );

    let before = parent.count();
    for (round, &i) in [PENDING / 2, 0, PENDING - 1, PENDING / 2]
        .iter()
        .enumerate()
    {
        wakers[i].borrow().as_ref().unwrap().wake_by_ref();
        assert_eq!(
            parent.count(),
            before + round + 1,
            "the wake reaches the task"
        );
        assert!(race.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            total(&polls),
            PENDING + TASK_MODE + round + 1,
            "round {round}"
        );
    }
    assert_eq!(polls[PENDING / 2].get(), 3);
    assert_eq!(polls[0].get(), 3);
    assert_eq!(polls[PENDING - 1].get(), 2);

    // Several wakes of one attempt before the race is polled make one poll.
    for _ in 0..5 {
        wakers[1].borrow().as_ref().unwrap().wake_by_ref();
    }
    assert!(race.as_mut().poll(&mut cx).is_pending());
    assert_eq!(polls[1].get(), 3);
}

/// In task mode (at most 8 attempts running), a wake-up of any attempt wakes the task, and
/// the poll that follows polls every attempt that was running when it began, once, in start
/// order; an attempt started in a poll is polled then, and not again in that poll.
#[test]
fn task_mode_polls_every_running_attempt_once_per_poll() {
    let n = TASK_MODE;
    let polls: Vec<Rc<Cell<usize>>> = (0..n).map(|_| Rc::default()).collect();
    let wakers: Vec<Rc<RefCell<Option<std::task::Waker>>>> =
        (0..n).map(|_| Rc::default()).collect();
    let race = staggered_race(
        (0..n).map(|i| {
            let (polls, waker) = (polls[i].clone(), wakers[i].clone());
            move || Parked { polls, waker }
        }),
        Some(Duration::ZERO),
        NoTimer,
    );
    let mut race = pin!(race);
    let (parent, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    assert!(race.as_mut().poll(&mut cx).is_pending());
    let counts = |polls: &[Rc<Cell<usize>>]| polls.iter().map(|p| p.get()).collect::<Vec<_>>();
    assert_eq!(
        counts(&polls),
        [1; TASK_MODE],
        "each polled once, as it started"
    );
    // Every attempt has the task's waker. By data pointer, not `will_wake` (which miri may
    // answer wrong); `Waker::data` is Rust 1.83, above the library's MSRV; the tests run on
    // stable.
    for w in &wakers {
        #[allow(clippy::incompatible_msrv)]
        let same = w.borrow().as_ref().unwrap().data() == waker.data();
        assert!(same);
    }
    wakers[3].borrow().as_ref().unwrap().wake_by_ref();
    assert_eq!(parent.count(), 1);
    assert!(race.as_mut().poll(&mut cx).is_pending());
    assert_eq!(
        counts(&polls),
        [2; TASK_MODE],
        "one round of every running attempt"
    );
}

#[test]
fn an_endless_iterator_with_zero_delay_does_not_hang() {
    let started = Cell::new(0usize);
    let race = staggered_race(
        std::iter::repeat(()).map(|()| {
            started.set(started.get() + 1);
            || std::future::pending::<Result<(), ()>>()
        }),
        Some(Duration::ZERO),
        NoTimer,
    );
    assert_yields_with_progress(race, &started);
}

#[test]
fn endless_immediate_failures_do_not_hang() {
    let started = Cell::new(0usize);
    let race = staggered_race(
        std::iter::repeat(()).map(|()| {
            started.set(started.get() + 1);
            || std::future::ready(Err::<(), ()>(()))
        }),
        None,
        NoTimer,
    );
    assert_yields_with_progress(race, &started);
}

#[test]
fn an_attempt_that_wakes_itself_on_every_poll_does_not_hang() {
    let polls = Cell::new(0usize);
    let race = staggered_race(
        [|| {
            std::future::poll_fn(|cx| {
                polls.set(polls.get() + 1);
                cx.waker().wake_by_ref();
                Poll::<Result<(), ()>>::Pending
            })
        }],
        None,
        NoTimer,
    );
    assert_yields_with_progress(race, &polls);
}

/// Polls `race` a few times: every poll must return `Pending` having woken the task (so the
/// executor gets control back and will poll again), and must make bounded, non-zero progress.
fn assert_yields_with_progress<F: Future>(race: F, progress: &Cell<usize>) {
    let mut race = pin!(race);
    let (parent, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    for round in 0..5 {
        let (wakes, before) = (parent.count(), progress.get());
        assert!(race.as_mut().poll(&mut cx).is_pending());
        assert!(
            parent.count() > wakes,
            "round {round}: the race must wake itself"
        );
        let done = progress.get() - before;
        assert!(done > 0, "round {round}: no progress");
        assert!(
            done <= 256,
            "round {round}: {done} units of work in one poll"
        );
    }
}

#[test]
fn many_attempts_that_fail_at_once() {
    let race = staggered_race(
        (0..MANY).map(|i| move || std::future::ready(Err::<(), usize>(i))),
        None,
        NoTimer,
    );
    let outcome = futures::executor::block_on(race);
    assert_eq!(outcome.winner, None);
    assert_eq!(outcome.attempts.len(), MANY);
    assert!(outcome
        .attempts
        .iter()
        .enumerate()
        .all(|(i, a)| *a == Failed(i)));
}

#[test]
fn wakes_from_other_threads() {
    // Every attempt waits on a channel fed by its own thread, which answers in reverse start
    // order; only the last one succeeds.
    let n = if cfg!(miri) { 4 } else { 32 };
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| futures::channel::oneshot::channel::<Result<usize, usize>>())
        .unzip();
    let race = staggered_race(
        receivers
            .into_iter()
            .map(|rx| move || async move { rx.await.unwrap() }),
        Some(Duration::ZERO),
        NoTimer,
    );
    let mut race = pin!(race);
    // Start them all.
    let (_, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    assert!(race.as_mut().poll(&mut cx).is_pending());
    let threads: Vec<_> = senders
        .into_iter()
        .enumerate()
        .rev()
        .map(|(i, tx)| {
            std::thread::spawn(move || {
                let _ = tx.send(if i == 0 { Ok(i) } else { Err(i) });
            })
        })
        .collect();
    let outcome = futures::executor::block_on(race);
    threads.into_iter().for_each(|t| t.join().unwrap());
    // Attempt 0 may win before every error arrives; either way the books balance.
    assert_eq!(outcome.winner, Some((0, 0)));
    assert_eq!(outcome.attempts.len(), n);
    for (i, a) in outcome.attempts.iter().enumerate().skip(1) {
        assert!(*a == Failed(i) || *a == Cancelled, "attempt {i}: {a:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bounds: borrowing, !Unpin, !Send, Send.
// ---------------------------------------------------------------------------------------------

/// On each storage a race can have: inline slots (`staggered_race` on a source that tells its
/// size, and `staggered_race_array`) and the slab (a source that tells nothing). Under miri
/// this also checks that no storage reads a pending future in a way that invalidates the
/// borrow it holds of itself (the inline slots once did, when the scheduler looked at the
/// storage through a shared reference).
#[test]
fn attempts_may_borrow_and_need_not_be_unpin_or_send() {
    let names = ["a".to_string(), "b".to_string()];
    // Not Send.
    let local = Rc::new(5usize);
    // A macro, since a closure that returns these closures cannot name their borrow's lifetime.
    macro_rules! attempt {
        () => {
            |name: &String| {
                let local = local.clone();
                move || async move {
                    // A borrow of the caller's string, and one of the future's own state,
                    // both held across an await: !Unpin, !Send, and a future that borrows
                    // from itself.
                    let borrowed: &str = name;
                    let own = [*local; 2];
                    let held: &[usize; 2] = &own;
                    support::yield_now().await;
                    if borrowed == "a" {
                        Err(held[0])
                    } else {
                        Ok(borrowed.len() + held[1])
                    }
                }
            }
        };
    }
    let inline = staggered_race(names.iter().map(attempt!()), None, NoTimer);
    assert_eq!(futures::executor::block_on(inline).winner, Some((1, 6)));
    let mut unsized_ = names.iter().map(attempt!());
    let slab = staggered_race(std::iter::from_fn(|| unsized_.next()), None, NoTimer);
    assert_eq!(futures::executor::block_on(slab).winner, Some((1, 6)));
    let mut both = names.iter().map(attempt!());
    let pair = [both.next().unwrap(), both.next().unwrap()];
    let array = staggered::staggered_race_array(pair, Some(Duration::ZERO), NoTimer);
    assert_eq!(futures::executor::block_on(array).winner, Some((1, 6)));
}

/// Attempts that borrow from their own future (a local held by reference across an await)
/// through every path that finds a slot by key or walks the slots: a cap that cancels the
/// oldest (the walk that finds it), ties taken in start order (the sort that reads each
/// woken slot's start index), a win that cancels the rest. Under miri this checks that none
/// of them reads a slot in a way that invalidates the future's borrow of itself.
#[test]
fn self_borrowing_attempts_through_the_cap_the_tie_sort_and_a_win() {
    use staggered::Staggered;
    // On the inline slots (a source that tells its size) and on the slab (one that does not).
    for sized in [true, false] {
        let clock = ManualClock::new();
        let make = |i: u32| {
            let clock = clock.clone();
            move || async move {
                let local = [i; 4];
                // A borrow of the future's own state, held across the awaits.
                let borrowed: &[u32; 4] = &local;
                // Attempts 2 and 3 (started at 2 and 3 ms) both finish at 40 ms: a tie.
                clock.sleep(ms(40 - u64::from(i))).await;
                support::yield_now().await;
                if borrowed[3] >= 2 {
                    Ok(borrowed.iter().sum::<u32>())
                } else {
                    Err(borrowed[0])
                }
            }
        };
        let mut count = 0..4u32;
        let attempts: Box<dyn Iterator<Item = _>> = if sized {
            Box::new((0..4u32).map(make))
        } else {
            Box::new(std::iter::from_fn(move || count.next().map(make)))
        };
        assert_eq!(attempts.size_hint().1, if sized { Some(4) } else { None });
        let race = Staggered::new(attempts)
            .delay(ms(1))
            .max_running(2)
            .cancel_oldest_when_full()
            .race(clock.clone());
        let outcome = clock.block_on(race);
        // 0 and 1 are cancelled by the cap when 2 and 3 start; the tie goes to 2, started
        // first.
        assert_eq!(outcome.winner, Some((2, 8)), "sized: {sized}");
        assert_eq!(outcome.attempts, [Cancelled, Cancelled, Won, Cancelled]);
    }
}

#[test]
fn the_race_is_send_when_its_parts_are() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let race = assert_send(staggered_race(
        (0..3u8).map(|i| {
            move || async move {
                if i < 2 {
                    Err(i)
                } else {
                    Ok(i)
                }
            }
        }),
        Some(ms(5)),
        ManualClock::new(),
    ));
    let handle = std::thread::spawn(move || futures::executor::block_on(race));
    assert_eq!(handle.join().unwrap().winner, Some((2, 2)));
}

/// `Send` and `Sync` whenever the parts are, on each storage: inline slots (a sized source,
/// and the array race) and the slab (a source that tells nothing). The array race, which
/// holds no wakers, is `UnwindSafe` and `RefUnwindSafe` too (the slab race never was: its
/// wakers live in cells). The inline slots sit in an `UnsafeCell`, which is neither `Sync`
/// nor `RefUnwindSafe` by itself.
#[test]
fn the_race_has_the_auto_traits_of_its_parts_on_every_storage() {
    use std::panic::{RefUnwindSafe, UnwindSafe};
    fn assert_all<T: Send + Sync>(t: T) -> T {
        t
    }
    fn assert_unwind_safe<T: UnwindSafe + RefUnwindSafe>(t: T) -> T {
        t
    }
    let make = |i: u8| {
        move || async move {
            if i < 2 {
                Err(i)
            } else {
                Ok(i)
            }
        }
    };
    let inline = assert_all(staggered_race((0..3u8).map(make), None, NoTimer));
    let mut count = 0..3u8;
    let slab = assert_all(staggered_race(
        std::iter::from_fn(move || count.next().map(make)),
        None,
        NoTimer,
    ));
    let array = assert_unwind_safe(assert_all(staggered::staggered_race_array(
        [make(0), make(1), make(2)],
        None,
        NoTimer,
    )));
    assert_eq!(futures::executor::block_on(inline).winner, Some((2, 2)));
    assert_eq!(futures::executor::block_on(slab).winner, Some((2, 2)));
    assert_eq!(futures::executor::block_on(array).winner, Some((2, 2)));
}

// ---------------------------------------------------------------------------------------------
// Fused: a clear panic after completion.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_race_is_fused() {
    use futures::future::FusedFuture;
    let mut race = pin!(staggered_race([|| async { Ok::<_, ()>(1) }], None, NoTimer));
    assert!(!race.is_terminated());
    assert!(race.as_mut().now_or_never().is_some());
    assert!(race.is_terminated());
}

#[test]
#[should_panic(expected = "`StaggeredRace` polled after it completed")]
fn polling_after_completion_panics_clearly() {
    let mut race = pin!(staggered_race([|| async { Ok::<_, ()>(1) }], None, NoTimer));
    let _ = race.as_mut().now_or_never();
    let _ = race.as_mut().now_or_never();
}

#[test]
fn outcome_and_attempt_helpers() {
    let outcome: Outcome<&str, &str> = Outcome {
        winner: Some((1, "ok")),
        attempts: vec![Failed("e"), Won, Cancelled],
        timed_out: false,
    };
    assert_eq!(outcome.clone().into_result(), Ok((1, "ok")));
    assert!(outcome.attempts[0].is_failed() && outcome.attempts[1].is_won());
    assert_eq!(outcome.attempts[0].error(), Some(&"e"));
    assert_eq!(outcome.attempts[2].into_error(), None);
    let one = AllFailed::new(vec!["refused"]);
    assert_eq!(one.to_string(), "the only attempt failed: refused");
    assert_eq!(one.into_iter().collect::<Vec<_>>(), ["refused"]);
}

#[test]
fn an_endless_delay_leaves_the_starts_to_failures() {
    let (outcome, trace, clock) = run(
        &[Act::Err(10), Act::Err(20), Act::Ok(5)],
        Some(Duration::MAX),
    );
    assert_eq!(outcome.winner, Some((2, 2)));
    assert_eq!(trace.start_times(), [ms(0), ms(10), ms(30)]);
    assert_eq!(clock.now(), ms(35));
}

#[test]
fn an_attempt_that_wakes_itself_and_finishes_does_not_poll_its_successor() {
    // Attempt 0 wakes itself, then fails in the same poll; attempt 1 starts at once, and must
    // not be polled again by attempt 0's leftover wake. On each storage a small race can
    // have: inline slots (`staggered_race` on a source that tells its size, and
    // `staggered_race_array`) and the slab in task mode (a source that tells nothing).
    for storage in ["inline", "slab", "array"] {
        let polls = Rc::new(Cell::new(0));
        let parked = Parked {
            polls: polls.clone(),
            waker: Rc::default(),
        };
        let first = || {
            std::future::poll_fn(|cx| {
                cx.waker().wake_by_ref();
                Poll::Ready(Err(()))
            })
            .boxed_local()
        };
        let second = move || parked.boxed_local();
        let attempts: [Box<dyn FnOnce() -> _>; 2] = [Box::new(first), Box::new(second)];
        let mut race: std::pin::Pin<Box<dyn Future<Output = Option<usize>>>> = match storage {
            "inline" => Box::pin(staggered_race(attempts, None, NoTimer).map(|o| o.winner_index())),
            "slab" => {
                let mut attempts = attempts.into_iter();
                let unsized_ = std::iter::from_fn(move || attempts.next());
                Box::pin(staggered_race(unsized_, None, NoTimer).map(|o| o.winner_index()))
            }
            _ => Box::pin(
                staggered::staggered_race_array(attempts, None, NoTimer).map(|o| o.winner_index()),
            ),
        };
        let (_, waker) = CountWaker::new();
        let mut cx = Context::from_waker(&waker);
        assert!(race.as_mut().poll(&mut cx).is_pending());
        // Polled once, as it started: not again in that poll's round.
        assert_eq!(polls.get(), 1, "{storage}");
        // Attempt 0's wake was the task's: the next poll polls attempt 1 once, a spurious
        // poll.
        assert!(race.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.get(), 2, "{storage}");
    }
}

/// A `size_hint` is trusted for room only up to the 4 inline slots: a source that promises
/// fewer than it yields but stays within 4, or promises more than 4 (the slab) and yields
/// even more, runs as usual and reports every attempt.
#[test]
fn a_source_that_breaks_its_size_hint_within_the_inline_slots_or_beyond_them_runs() {
    struct Liar {
        next: u32,
        yields: u32,
        promise: usize,
    }
    impl Iterator for Liar {
        type Item = Box<dyn FnOnce() -> std::future::Ready<Result<(), u32>>>;
        fn next(&mut self) -> Option<Self::Item> {
            let i = self.next;
            self.next += 1;
            (i < self.yields).then(|| Box::new(move || std::future::ready(Err(i))) as Self::Item)
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (0, Some(self.promise))
        }
    }
    for (yields, promise) in [(4, 1), (3, 0), (4, 4), (9, 5)] {
        let liar = Liar {
            next: 0,
            yields,
            promise,
        };
        let outcome = futures::executor::block_on(staggered_race(liar, None, NoTimer));
        assert_eq!(outcome.winner, None, "{yields} for a promise of {promise}");
        let errors: Vec<u32> = (0..yields).collect();
        assert_eq!(
            outcome.attempts,
            errors.into_iter().map(Attempt::Failed).collect::<Vec<_>>(),
            "{yields} for a promise of {promise}"
        );
    }
}

/// An iterator whose `size_hint` promises fewer attempts than it yields breaks the
/// `Iterator` contract: a race that trusted it to keep its attempts inline panics with a
/// message that says so when it starts the one with no room (never undefined behaviour), and
/// then panics on any poll. A promise of more than 4 is never trusted for room.
#[test]
fn a_source_that_yields_more_than_its_size_hint_promised_panics_clearly() {
    struct Liar(u32);
    impl Iterator for Liar {
        type Item = Box<dyn FnOnce() -> std::future::Ready<Result<(), u32>>>;
        fn next(&mut self) -> Option<Self::Item> {
            self.0 += 1;
            let i = self.0;
            (i <= 6).then(|| Box::new(move || std::future::ready(Err(i))) as Self::Item)
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (0, Some(1))
        }
    }
    let mut race = Box::pin(staggered_race(Liar(0), None, NoTimer));
    let (_, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = race.as_mut().poll(&mut cx);
    }))
    .expect_err("the fifth attempt has no room");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(
        message.contains("broken `Iterator::size_hint`"),
        "{message}"
    );
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = race.as_mut().poll(&mut cx);
    }))
    .expect_err("a race whose poll panicked panics when polled again");
    let again = again.downcast_ref::<String>().expect("a formatted message");
    assert!(again.contains("after a panic"), "{again}");
}

/// The same with wakers of the race's own (8 hanging attempts first, a cap of 9 running so
/// that attempt 9 starts on attempt 8's failure): attempt 8's leftover wake polls nothing.
#[test]
fn a_self_waking_attempt_that_finishes_does_not_poll_its_successor_through_its_waker() {
    let polls = Rc::new(Cell::new(0));
    let parked = Parked {
        polls: polls.clone(),
        waker: Rc::default(),
    };
    let mut attempts: Vec<Box<dyn FnOnce() -> _>> = (0..TASK_MODE)
        .map(|_| Box::new(|| std::future::pending().boxed_local()) as Box<dyn FnOnce() -> _>)
        .collect();
    attempts.push(Box::new(|| {
        std::future::poll_fn(|cx| {
            cx.waker().wake_by_ref();
            Poll::Ready(Err(()))
        })
        .boxed_local()
    }));
    attempts.push(Box::new(move || parked.boxed_local()));
    let mut race = pin!(staggered::Staggered::new(attempts)
        .all_at_once()
        .max_running(TASK_MODE + 1)
        .race(NoTimer));
    let (_, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    assert!(race.as_mut().poll(&mut cx).is_pending());
    assert_eq!(polls.get(), 1);
    assert!(race.as_mut().poll(&mut cx).is_pending());
    assert_eq!(polls.get(), 1, "attempt 9 was polled by attempt 8's wake");
}

// ---------------------------------------------------------------------------------------------
// ManualClock::block_on and wake-ups from other threads
// ---------------------------------------------------------------------------------------------

/// A race whose winner is completed by another thread, 50 ms of real time later, with no sleep
/// left to jump to: `block_on` waits for the wake-up instead of calling the race stuck.
#[test]
#[cfg_attr(miri, ignore = "real time")]
fn manual_clock_block_on_waits_for_a_wake_from_another_thread() {
    let clock = ManualClock::new();
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.send(7).unwrap();
    });
    let mut rx = Some(rx);
    let race = staggered_race(
        [move || async move { rx.take().unwrap().await.map_err(|_| "sender dropped") }],
        None,
        NoTimer,
    );
    let outcome = clock.block_on(race);
    thread.join().unwrap();
    assert_eq!(outcome.winner, Some((0, 7)));
    assert_eq!(clock.now(), Duration::ZERO);
}

/// A future that nothing will ever wake is still called stuck, after `STUCK_AFTER`.
#[test]
#[cfg_attr(miri, ignore = "real time")]
#[should_panic(expected = "the future is stuck")]
fn manual_clock_block_on_still_reports_a_stuck_future() {
    ManualClock::new().block_on(std::future::pending::<()>());
}

// ---------------------------------------------------------------------------------------------
// A bounded message (issue 23): every error stays in the value, the message prints a few.
// ---------------------------------------------------------------------------------------------

/// `n` attempts that fail one after another, each with an error as long as a real one.
fn refusals(n: usize) -> AllFailed<String> {
    let attempts = (0..n).map(|i| {
        move || async move {
            Err::<(), _>(format!(
                "[2001:db8::{i:x}]:443: Connection refused (os error 111)"
            ))
        }
    });
    // The race yields after a bounded amount of work per poll: `block_on` polls it again.
    futures::executor::block_on(staggered_race(attempts, None, NoTimer))
        .into_result()
        .unwrap_err()
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a message of 1,000 entries, formatted: minutes under miri, and no unsafe code of ours"
)]
fn a_thousand_failures_make_a_bounded_message() {
    let err = refusals(1000);
    let message = err.to_string();
    assert!(message.len() < 600, "{} bytes: {message}", message.len());
    assert!(
        message.starts_with(
            "all 1000 attempts failed: [0] [2001:db8::0]:443: Connection refused (os error 111); \
             [1] [2001:db8::1]:443: "
        ),
        "{message}"
    );
    assert!(message.contains("[5] [2001:db8::5]:443"), "{message}");
    assert!(!message.contains("[6] "), "{message}");
    assert!(
        message.ends_with(
            "; ... (993 more) ...; [999] [2001:db8::3e7]:443: Connection refused (os error 111)"
        ),
        "{message}"
    );
    // The value keeps every error, and `{:#}` prints them all.
    assert_eq!(err.errors().len(), 1000);
    let full = format!("{err:#}");
    assert!(full.len() > 50_000, "{}", full.len());
    // (One pass over the entries: a search of the whole text per entry is too slow under miri.)
    let entries: Vec<&str> = full
        .trim_start_matches("all 1000 attempts failed: ")
        .split("; ")
        .collect();
    assert_eq!(entries.len(), 1000);
    for (i, entry) in entries.iter().enumerate() {
        assert!(
            entry.starts_with(&format!("[{i}] [2001:db8::{i:x}]:443: ")),
            "{entry}"
        );
    }
}

#[test]
fn up_to_eight_failures_print_whole() {
    let eight = refusals(8).to_string();
    assert!(eight.starts_with("all 8 attempts failed: [0] "), "{eight}");
    assert!(
        (0..8).all(|i| eight.contains(&format!("[{i}] [2001:db8::{i:x}]:443"))),
        "{eight}"
    );
    assert!(!eight.contains("more"), "{eight}");
    assert_eq!(eight, format!("{:#}", refusals(8)));
    // Nine is the first length cut short: two left out.
    let nine = refusals(9).to_string();
    assert!(
        nine.contains(
            "[5] [2001:db8::5]:443: Connection refused (os error 111); ... (2 more) ...; [8] "
        ),
        "{nine}"
    );
}

#[test]
fn the_array_race_bounds_its_message_by_the_same_rule() {
    let attempts: [_; 12] = core::array::from_fn(|i| move || async move { Err::<(), _>(i * 10) });
    let err = staggered::staggered_race_array(attempts, None, NoTimer)
        .now_or_never()
        .expect("no attempt waits")
        .into_result()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "all 12 attempts failed: [0] 0; [1] 10; [2] 20; [3] 30; [4] 40; [5] 50; ... (5 more) ...; [11] 110"
    );
    assert_eq!(err.errors().len(), 12);
    assert_eq!(format!("{err:#}").matches("; ").count(), 11);
}
