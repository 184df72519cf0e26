//! Panic and drop safety: an attempt that panics in `poll`, a closure that panics, an attempt
//! whose `Drop` panics, a timer that panics, an iterator whose `next` panics.
//!
//! In every case the panic reaches the caller, every attempt that was made is dropped exactly
//! once (counted), polling the race again panics with a clear message, and (run under miri,
//! see `.ci/steps/50-miri.sh`) nothing is undefined behaviour or leaked. Wakers kept past the
//! end of the race are harmless and freed with their last clone. Each case runs on both of
//! `staggered_race`'s storages: inline slots (a source of at most 4 that tells its size) and
//! the slab.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::FutureExt;
use futures_core::FusedFuture;
use staggered::{staggered_race, testing::ManualClock, timer::NoTimer, Attempt, Staggered, Timer};

/// What happened to each attempt.
#[derive(Default)]
struct Log {
    /// Per attempt: closure called, polls, drops.
    made: Vec<bool>,
    polls: Vec<u32>,
    drops: Vec<u32>,
    /// The waker of each attempt's last poll.
    wakers: Vec<Option<Waker>>,
}

type Shared = Rc<RefCell<Log>>;

fn log(n: usize) -> Shared {
    Rc::new(RefCell::new(Log {
        made: vec![false; n],
        polls: vec![0; n],
        drops: vec![0; n],
        wakers: vec![None; n],
    }))
}

/// What a probe attempt does on each poll.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Act {
    Hang,
    Win,
    Fail,
    Panic,
}

/// An attempt that follows a list of acts (the last one repeats), counts its polls and drops,
/// keeps its waker, and may panic in `Drop`.
struct Probe {
    log: Shared,
    index: usize,
    acts: Vec<Act>,
    panic_on_drop: bool,
}

impl Future for Probe {
    type Output = Result<usize, usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let n = {
            let mut log = self.log.borrow_mut();
            log.polls[self.index] += 1;
            log.wakers[self.index] = Some(cx.waker().clone());
            log.polls[self.index] as usize
        };
        match self.acts[(n - 1).min(self.acts.len() - 1)] {
            Act::Hang => Poll::Pending,
            Act::Win => Poll::Ready(Ok(self.index)),
            Act::Fail => Poll::Ready(Err(self.index)),
            Act::Panic => panic!("attempt {} panics in poll", self.index),
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.log.borrow_mut().drops[self.index] += 1;
        if self.panic_on_drop {
            panic!("attempt {} panics in drop", self.index);
        }
    }
}

/// Closures for probes with these acts; the one at `panic_in_closure` panics when called.
fn probes(
    log: &Shared,
    plans: Vec<Vec<Act>>,
    panic_on_drop: Option<usize>,
    panic_in_closure: Option<usize>,
) -> impl Iterator<Item = impl FnOnce() -> Probe> {
    let log = Rc::clone(log);
    let sized = SIZED.with(Cell::get);
    let attempts = plans.into_iter().enumerate().map(move |(index, acts)| {
        let log = Rc::clone(&log);
        move || {
            log.borrow_mut().made[index] = true;
            if panic_in_closure == Some(index) {
                panic!("closure {index} panics");
            }
            Probe {
                log,
                index,
                acts,
                panic_on_drop: panic_on_drop == Some(index),
            }
        }
    });
    Hint {
        inner: attempts,
        sized,
    }
}

thread_local! {
    /// Whether `probes` tells its size: a race of at most 4 then keeps its attempts inline,
    /// and one of more, or of a source that tells nothing, in the slab.
    static SIZED: Cell<bool> = const { Cell::new(true) };
}

/// Runs a test on both storages: inline slots (a source that tells its size) and the slab.
fn on_both_storages(test: impl Fn()) {
    for sized in [true, false] {
        eprintln!("on the {} storage", if sized { "inline" } else { "slab" });
        SIZED.with(|s| s.set(sized));
        test();
    }
}

/// An iterator that tells its size, or hides it.
struct Hint<I> {
    inner: I,
    sized: bool,
}

impl<I: Iterator> Iterator for Hint<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.inner.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.sized {
            self.inner.size_hint()
        } else {
            (0, None)
        }
    }
}

/// Every attempt that was made was dropped exactly once; none was made twice.
#[track_caller]
fn assert_each_made_attempt_dropped_once(log: &Shared) {
    let log = log.borrow();
    for (i, (&made, &drops)) in log.made.iter().zip(&log.drops).enumerate() {
        let expected = u32::from(made);
        assert_eq!(
            drops, expected,
            "attempt {i}: made {made}, dropped {drops} times"
        );
    }
}

fn noop_waker() -> Waker {
    futures::task::noop_waker()
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    fut.poll_unpin(&mut Context::from_waker(&noop_waker()))
}

/// Polls `fut` and returns the panic message it raised.
#[track_caller]
fn poll_panic<F: Future + Unpin>(fut: &mut F) -> String {
    let err = catch_unwind(AssertUnwindSafe(|| poll_once(fut)))
        .err()
        .expect("the poll should have panicked");
    message(&*err)
}

fn message(err: &(dyn std::any::Any + Send)) -> String {
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

const AFTER_PANIC: &str = "polled after a panic";
const AFTER_DONE: &str = "polled after it completed";

use Act::*;

#[test]
fn attempt_panics_on_its_first_poll() {
    on_both_storages(|| {
        let log = log(3);
        let plans = vec![vec![Hang], vec![Panic], vec![Win]];
        let mut race = Box::pin(staggered_race(
            probes(&log, plans, None, None),
            Some(Duration::ZERO),
            NoTimer,
        ));
        let msg = poll_panic(&mut race);
        assert_eq!(msg, "attempt 1 panics in poll");
        assert!(race.is_terminated());
        assert!(poll_panic(&mut race).contains(AFTER_PANIC));
        assert_eq!(log.borrow().made, [true, true, false]);
        drop(race);
        assert_each_made_attempt_dropped_once(&log);
    });
}

/// Hanging attempts to start before the ones a test is about: with `TASK_MODE` of them,
/// more than 8 attempts run and the race has wakers of its own (it leaves task mode as the
/// ninth starts, which is then polled with its own waker from its first poll).
const TASK_MODE: usize = 8;

fn with_fillers(fillers: usize, plans: Vec<Vec<Act>>) -> Vec<Vec<Act>> {
    let mut all = vec![vec![Hang]; fillers];
    all.extend(plans);
    all
}

#[test]
fn attempt_panics_on_a_later_poll() {
    // In task mode (no fillers) and with wakers of the race's own (fillers): attempt `k` is
    // polled once as it starts, and panics on its second poll, after a wake.
    for fillers in [0, TASK_MODE] {
        let k = fillers;
        let log = log(fillers + 2);
        let plans = with_fillers(fillers, vec![vec![Hang, Panic], vec![Hang]]);
        let mut race = Box::pin(staggered_race(
            probes(&log, plans, None, None),
            Some(Duration::ZERO),
            NoTimer,
        ));
        assert!(poll_once(&mut race).is_pending());
        assert_eq!(log.borrow().polls[k], 1, "{fillers} fillers");
        let waker = log.borrow().wakers[k].clone().unwrap();
        waker.wake();
        assert_eq!(poll_panic(&mut race), format!("attempt {k} panics in poll"));
        assert!(poll_panic(&mut race).contains(AFTER_PANIC));
        drop(race);
        assert_each_made_attempt_dropped_once(&log);
        // The attempts' wakers outlive the race harmlessly.
        let wakers: Vec<Waker> = log
            .borrow_mut()
            .wakers
            .iter_mut()
            .flat_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }
}

#[test]
fn closure_panics_when_called() {
    on_both_storages(|| {
        let log = log(3);
        let plans = vec![vec![Hang], vec![Hang], vec![Win]];
        let mut race = Box::pin(staggered_race(
            probes(&log, plans, None, Some(1)),
            Some(Duration::ZERO),
            NoTimer,
        ));
        assert_eq!(poll_panic(&mut race), "closure 1 panics");
        assert!(poll_panic(&mut race).contains(AFTER_PANIC));
        drop(race);
        // Attempt 1's closure was called but made no future: only attempt 0 exists.
        let log = log.borrow();
        assert_eq!(log.made, [true, true, false]);
        assert_eq!(log.drops, [1, 0, 0]);
    });
}

#[test]
fn drop_panics_when_a_loser_is_cancelled() {
    on_both_storages(|| {
        let log = log(4);
        // 0 and 2 hang, 1 fails, 3 wins at once; dropping 2 panics.
        let plans = vec![vec![Hang], vec![Hang, Fail], vec![Hang], vec![Win]];
        let mut race = Box::pin(staggered_race(
            probes(&log, plans, Some(2), None),
            Some(Duration::ZERO),
            NoTimer,
        ));
        assert_eq!(poll_panic(&mut race), "attempt 2 panics in drop");
        assert!(race.is_terminated());
        assert!(poll_panic(&mut race).contains(AFTER_PANIC));
        drop(race);
        assert_each_made_attempt_dropped_once(&log);
    });
}

#[test]
fn drop_panics_when_a_failed_attempt_is_dropped() {
    on_both_storages(|| {
        let log = log(3);
        let plans = vec![vec![Hang], vec![Fail], vec![Win]];
        let mut race = Box::pin(staggered_race(
            probes(&log, plans, Some(1), None),
            Some(Duration::ZERO),
            NoTimer,
        ));
        assert_eq!(poll_panic(&mut race), "attempt 1 panics in drop");
        assert!(poll_panic(&mut race).contains(AFTER_PANIC));
        drop(race);
        assert_eq!(log.borrow().made, [true, true, false]);
        assert_each_made_attempt_dropped_once(&log);
    });
}

#[test]
fn drop_panics_when_the_race_is_dropped() {
    on_both_storages(|| {
        let log = log(3);
        let plans = vec![vec![Hang], vec![Hang], vec![Hang]];
        let mut race = Box::pin(staggered_race(
            probes(&log, plans, Some(1), None),
            Some(Duration::ZERO),
            NoTimer,
        ));
        assert!(poll_once(&mut race).is_pending());
        let err = catch_unwind(AssertUnwindSafe(|| drop(race))).unwrap_err();
        assert_eq!(message(&*err), "attempt 1 panics in drop");
        // The other attempts were still dropped, each once.
        assert_each_made_attempt_dropped_once(&log);
        assert_eq!(log.borrow().made, [true, true, true]);
    });
}

/// A timer that panics in `sleep`, in its sleep's `poll`, or in `reset`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TimerPanic {
    Sleep,
    Poll,
    Reset,
}

struct PanickyTimer {
    clock: ManualClock,
    when: TimerPanic,
}

struct PanickySleep {
    inner: staggered::testing::ManualSleep,
    panic: bool,
}

impl Future for PanickySleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.panic {
            panic!("sleep panics in poll");
        }
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl Timer for PanickyTimer {
    type Sleep = PanickySleep;

    fn sleep(&self, duration: Duration) -> PanickySleep {
        if self.when == TimerPanic::Sleep {
            panic!("timer panics in sleep");
        }
        PanickySleep {
            inner: self.clock.sleep(duration),
            panic: self.when == TimerPanic::Poll,
        }
    }

    fn reset(&self, _: Pin<&mut PanickySleep>, _: Duration) {
        assert!(self.when != TimerPanic::Reset, "timer panics in reset");
    }
}

#[test]
fn timer_panics() {
    on_both_storages(|| {
        for (when, expected) in [
            (TimerPanic::Sleep, "timer panics in sleep"),
            (TimerPanic::Poll, "sleep panics in poll"),
            (TimerPanic::Reset, "timer panics in reset"),
        ] {
            let log = log(3);
            let plans = vec![vec![Hang], vec![Hang], vec![Win]];
            let clock = ManualClock::new();
            let timer = PanickyTimer {
                clock: clock.clone(),
                when,
            };
            let mut race = Box::pin(staggered_race(
                probes(&log, plans, None, None),
                Some(Duration::from_millis(10)),
                timer,
            ));
            if when == TimerPanic::Reset {
                // The first sleep is made, the second start re-arms it.
                assert!(poll_once(&mut race).is_pending());
                clock.advance(Duration::from_millis(10));
            }
            assert_eq!(poll_panic(&mut race), expected, "{when:?}");
            assert!(poll_panic(&mut race).contains(AFTER_PANIC));
            drop(race);
            assert_each_made_attempt_dropped_once(&log);
            assert_eq!(
                clock.live_sleeps(),
                0,
                "{when:?}: a sleep outlived the race"
            );
        }
    });
}

/// An iterator of probes whose `next` panics at item `at`.
struct PanickyIter<I> {
    inner: I,
    at: usize,
    calls: usize,
}

impl<I: Iterator> Iterator for PanickyIter<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.calls += 1;
        if self.calls - 1 == self.at {
            panic!("next panics at {}", self.at);
        }
        self.inner.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

#[test]
fn iterator_next_panics() {
    on_both_storages(|| {
        for at in [0, 2] {
            let log = log(4);
            let plans = vec![vec![Hang], vec![Fail], vec![Win], vec![Win]];
            let iter = PanickyIter {
                inner: probes(&log, plans, None, None),
                at,
                calls: 0,
            };
            let mut race = Box::pin(staggered_race(iter, Some(Duration::ZERO), NoTimer));
            assert_eq!(poll_panic(&mut race), format!("next panics at {at}"));
            assert!(poll_panic(&mut race).contains(AFTER_PANIC));
            drop(race);
            assert_eq!(log.borrow().made.iter().filter(|m| **m).count(), at);
            assert_each_made_attempt_dropped_once(&log);
        }
    });
}

#[test]
fn polling_after_completion_panics_clearly() {
    on_both_storages(|| {
        let log = log(2);
        let plans = vec![vec![Fail], vec![Win]];
        let mut race = Box::pin(staggered_race(
            probes(&log, plans, None, None),
            None,
            NoTimer,
        ));
        let Poll::Ready(outcome) = poll_once(&mut race) else {
            panic!("ready at once")
        };
        assert_eq!(outcome.winner, Some((1, 1)));
        assert_eq!(outcome.attempts, [Attempt::Failed(0), Attempt::Won]);
        assert!(race.is_terminated());
        assert!(poll_panic(&mut race).contains(AFTER_DONE));
        assert!(poll_panic(&mut race).contains(AFTER_DONE));
        drop(race);
        assert_each_made_attempt_dropped_once(&log);
    });
}

/// A task waker that counts wakes.
#[derive(Default)]
struct Count(std::sync::atomic::AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn wakers_kept_past_the_race_are_harmless() {
    for fillers in [0, TASK_MODE] {
        for finish in [false, true] {
            let n = fillers + 3;
            let log = log(n);
            // Two attempts hang; the third wins at once if `finish`, else hangs too.
            let last = if finish { Win } else { Hang };
            let plans = with_fillers(fillers, vec![vec![Hang], vec![Hang], vec![last]]);
            let count = Arc::new(Count::default());
            let task = Waker::from(Arc::clone(&count));
            let mut race = Box::pin(staggered_race(
                probes(&log, plans, None, None),
                Some(Duration::ZERO),
                NoTimer,
            ));
            let polled = race.as_mut().poll(&mut Context::from_waker(&task));
            assert_eq!(polled.is_ready(), finish);
            drop(race);
            assert_each_made_attempt_dropped_once(&log);
            let kept: Vec<Waker> = log
                .borrow_mut()
                .wakers
                .iter_mut()
                .flat_map(Option::take)
                .collect();
            assert_eq!(kept.len(), n);
            // In task mode every attempt is polled with the task's own waker, and keeps it.
            // With the fillers, the race leaves task mode as the ninth attempt starts: the
            // attempts after that have wakers of the race's own from their first poll, and
            // the fillers get theirs in the next round, unless the race ended first
            // (`finish`): then they keep the task's. Waking the task's wakes the task, as any
            // spurious wake-up may. The race's own wakers never do, once the race is gone.
            // By data pointer, not `will_wake` (which miri may answer wrong). `Waker::data` is
            // Rust 1.83, above the library's MSRV; the tests run on stable.
            #[allow(clippy::incompatible_msrv)]
            let (task_wakers, kept): (Vec<Waker>, Vec<Waker>) =
                kept.into_iter().partition(|w| w.data() == task.data());
            let expected = match (fillers, finish) {
                (0, _) => n,
                (_, true) => fillers,
                (_, false) => 0,
            };
            assert_eq!(task_wakers.len(), expected, "{fillers} fillers, {finish}");
            let before = count.0.load(std::sync::atomic::Ordering::SeqCst);
            // Wake them here, clone them, and wake and drop them on other threads.
            for w in &kept {
                w.wake_by_ref();
                #[allow(clippy::waker_clone_wake)] // an owned clone, consumed by `wake`
                w.clone().wake();
            }
            std::thread::scope(|s| {
                for w in kept {
                    s.spawn(move || {
                        w.wake_by_ref();
                        w.wake();
                    });
                }
            });
            // The race is gone: its task is never woken again.
            assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), before);
        }
    }
}

/// A kept waker of a finished attempt, woken later, must not poll the attempt that took the
/// finished attempt's slot: that slot is set aside until the stale waker is gone.
///
/// (This was a finding of the reference-model driver and loom: with a channel-like attempt
/// completed from another thread, the attempt can see the value and finish before the
/// sender's wake lands, and that wake used to poll the attempt started in the freed slot.)
///
/// Wakers of the race's own exist once more than 8 attempts run: 8 hanging fillers first,
/// then attempt 8, which hangs until woken, then fails; a cap of 9 running holds attempt 9
/// back until that failure. (In task mode every attempt has the task's waker, and a kept one
/// wakes the task, which polls every running attempt once, as the array race does.)
#[test]
fn stale_waker_does_not_poll_the_next_attempt() {
    let log = log(TASK_MODE + 2);
    let plans = with_fillers(TASK_MODE, vec![vec![Hang, Fail], vec![Hang]]);
    let mut race = Box::pin(
        Staggered::new(probes(&log, plans, None, None))
            .all_at_once()
            .max_running(TASK_MODE + 1)
            .race(NoTimer),
    );
    let (first, next) = (TASK_MODE, TASK_MODE + 1);
    assert!(poll_once(&mut race).is_pending());
    assert_eq!(log.borrow().polls[first..], [1, 0]);
    let stale = log.borrow().wakers[first].clone().unwrap();
    stale.wake_by_ref();
    assert!(poll_once(&mut race).is_pending());
    assert_eq!(log.borrow().polls[first..], [2, 1]);
    assert_eq!(log.borrow().drops[first..], [1, 0]);
    // Attempt 8 is gone; waking its kept waker must not poll attempt 9.
    stale.wake();
    assert!(poll_once(&mut race).is_pending());
    assert_eq!(
        log.borrow().polls[first..],
        [2, 1],
        "attempt {next} was polled by attempt {first}'s stale waker"
    );
}
