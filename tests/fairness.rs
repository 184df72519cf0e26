//! Fairness: a start that is due is never held back by busy attempts.
//!
//! The contract: attempt `i + 1` starts at `min(start of i + delay, the moment i fails)`,
//! whatever the running attempts do. Each test below makes the running attempts as busy as a
//! hostile user can (waking themselves on every poll, waking each other on every poll, woken
//! from another thread without pause, working for a while on every poll) and checks that the
//! due start comes within the documented bound: the poll of the race that handles the wake
//! making it due, or the next one when that wake arrived during a poll.

mod support;

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use staggered::testing::ManualClock;
use staggered::timer::{FuturesTimer, NoTimer, TokioTimer};
use staggered::{staggered_race, Attempt, Outcome, Timer};
use support::{ms, CountWaker};

/// The documented bound: polls of the race, after the wake that made a start due, while
/// fewer than 64 attempts run.
const BOUND: usize = 2;

/// The documented bound with `running` attempts running: the round under way and the round of
/// the wake-up, each at most `running + 1` wake-ups, 128 handled per poll.
fn bound_with(running: usize) -> usize {
    (2 * running + 1).div_ceil(128) + 1
}

/// What an attempt in these tests resolves to.
type Res = Result<&'static str, &'static str>;
type BoxAttempt<'a> = Box<dyn FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Res> + 'a>> + 'a>;

fn boxed<'a, F: Future<Output = Res> + 'a>(f: impl FnOnce() -> F + 'a) -> BoxAttempt<'a> {
    Box::new(move || Box::pin(f()))
}

/// Pending forever, waking itself on every poll (what a `yield_now` loop does).
fn self_waking() -> impl Future<Output = Res> {
    poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Polls `race` up to `max` times with a task waker that counts its wakes; returns the
/// outcome and the number of polls it took, or `None` if it was still pending.
fn poll_up_to<F: Future>(
    mut race: std::pin::Pin<&mut F>,
    max: usize,
) -> Option<(F::Output, usize)> {
    let (_count, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    for polls in 1..=max {
        if let Poll::Ready(out) = race.as_mut().poll(&mut cx) {
            return Some((out, polls));
        }
    }
    None
}

#[test]
fn a_self_waking_attempt_does_not_hold_back_a_zero_delay_start() {
    let attempts: Vec<BoxAttempt<'_>> = vec![boxed(self_waking), boxed(|| async { Ok("second") })];
    let race = pin!(staggered_race(attempts, Some(Duration::ZERO), NoTimer));
    let (outcome, polls) =
        poll_up_to(race, BOUND).expect("attempt 1 starts and wins within the bound");
    assert_eq!(outcome.winner, Some((1, "second")));
    assert_eq!(outcome.attempts, [Attempt::Cancelled, Attempt::Won]);
    assert!(polls <= BOUND);
}

#[test]
fn a_self_waking_attempt_does_not_hold_back_a_timed_start() {
    let clock = ManualClock::new();
    let attempts: Vec<BoxAttempt<'_>> = vec![boxed(self_waking), boxed(|| async { Ok("second") })];
    let mut race = pin!(staggered_race(attempts, Some(ms(250)), clock.clone()));
    // The first attempt runs, busy, for a while: the race yields every time, nothing is due.
    assert!(poll_up_to(race.as_mut(), 100).is_none());
    clock.advance(ms(249));
    assert!(poll_up_to(race.as_mut(), 100).is_none());
    // The delay passes (and then much more): attempt 1 starts within the bound.
    clock.advance(ms(1));
    clock.advance(Duration::from_secs(10));
    let (outcome, _) = poll_up_to(race, BOUND).expect("attempt 1 starts within the bound");
    assert_eq!(outcome.winner, Some((1, "second")));
    assert_eq!(outcome.attempts, [Attempt::Cancelled, Attempt::Won]);
}

/// A failure of the newest attempt starts the next one within the bound, even while an older
/// attempt is busy.
#[test]
fn a_self_waking_attempt_does_not_hold_back_a_start_after_a_failure() {
    let clock = ManualClock::new();
    let attempts: Vec<BoxAttempt<'_>> = vec![
        boxed(self_waking),
        boxed(|| async { Err("refused") }),
        boxed(|| async { Ok("third") }),
    ];
    let mut race = pin!(staggered_race(attempts, Some(ms(250)), clock.clone()));
    assert!(poll_up_to(race.as_mut(), 10).is_none());
    clock.advance(ms(250));
    // Attempt 1 starts and fails at once; attempt 2 starts right after it, at 250 ms.
    let (outcome, _) = poll_up_to(race, BOUND).expect("attempts 1 and 2 start within the bound");
    assert_eq!(outcome.winner, Some((2, "third")));
    assert_eq!(
        outcome.attempts,
        [Attempt::Cancelled, Attempt::Failed("refused"), Attempt::Won]
    );
    assert_eq!(clock.now(), ms(250));
}

/// Two attempts that wake each other on every poll, and never themselves, and the due start
/// must still come. In task mode (up to 8 attempts running) each poll of the race is one round
/// of every running attempt; with `fillers` hanging attempts started before them, more than 8
/// run and the race has wakers of its own: the pair wakes each other's cells, the budget runs
/// out on every poll.
fn ping_pong_race(fillers: usize) {
    let clock = ManualClock::new();
    let wakers: Rc<RefCell<[Option<Waker>; 2]>> = Rc::default();
    let polls = Rc::new(RefCell::new([0u64; 2]));
    let ping_pong = |me: usize| {
        let wakers = Rc::clone(&wakers);
        let polls = Rc::clone(&polls);
        move || {
            poll_fn(move |cx| {
                polls.borrow_mut()[me] += 1;
                let mut wakers = wakers.borrow_mut();
                wakers[me] = Some(cx.waker().clone());
                if let Some(other) = &wakers[1 - me] {
                    other.wake_by_ref();
                }
                Poll::<Res>::Pending
            })
        }
    };
    let mut attempts: Vec<BoxAttempt<'_>> = (0..fillers)
        .map(|_| boxed(std::future::pending::<Res>))
        .collect();
    attempts.push(boxed(ping_pong(0)));
    attempts.push(boxed(ping_pong(1)));
    attempts.push(boxed(|| async { Ok("third") }));
    let mut race = pin!(staggered_race(attempts, Some(ms(100)), clock.clone()));
    assert!(poll_up_to(race.as_mut(), 1).is_none());
    for _ in 0..fillers {
        clock.advance(ms(100));
        assert!(poll_up_to(race.as_mut(), BOUND).is_none());
    }
    assert!(polls.borrow()[0] > 0, "the first of the pair started");
    clock.advance(ms(100));
    // Attempt `fillers + 1` starts within the bound, and from then on they wake each other.
    assert!(poll_up_to(race.as_mut(), BOUND).is_none());
    assert!(polls.borrow()[1] > 0, "the second of the pair started");
    assert!(poll_up_to(race.as_mut(), 20).is_none());
    let before = *polls.borrow();
    // Each poll of the race polls each of them at least once: in task mode once (a round of
    // every attempt), with wakers as often as the budget allows.
    let least = if fillers + 2 > 8 { 100 } else { 20 };
    assert!(
        before[0] >= least && before[1] >= least,
        "they keep each other busy: {before:?}"
    );
    clock.advance(ms(100));
    let (outcome, _) = poll_up_to(race, BOUND).expect("the last attempt starts within the bound");
    assert_eq!(outcome.winner, Some((fillers + 2, "third")));
    let mut want = vec![Attempt::Cancelled; fillers + 2];
    want.push(Attempt::Won);
    assert_eq!(outcome.attempts, want);
}

#[test]
fn attempts_waking_each_other_do_not_hold_back_a_start() {
    ping_pong_race(0);
}

#[test]
fn attempts_waking_each_other_through_their_own_wakers_do_not_hold_back_a_start() {
    ping_pong_race(7);
}

/// An attempt that is woken from another thread without pause: every one of its polls sees a
/// wake from the other thread before it returns, so it is always queued again.
#[test]
fn an_attempt_woken_from_another_thread_without_pause_does_not_hold_back_a_start() {
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let wakes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let waker_thread = {
        let (slot, wakes, stop) = (Arc::clone(&slot), Arc::clone(&wakes), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(w) = slot.lock().unwrap().as_ref() {
                    w.wake_by_ref();
                    wakes.fetch_add(1, Ordering::SeqCst);
                }
                std::hint::spin_loop();
            }
        })
    };
    let started = Instant::now();
    let hammered = {
        let (slot, wakes) = (Arc::clone(&slot), Arc::clone(&wakes));
        move || {
            poll_fn(move |cx| {
                *slot.lock().unwrap() = Some(cx.waker().clone());
                // Give up after a long time, so that a regression fails instead of hanging.
                if started.elapsed() > Duration::from_secs(5) {
                    return Poll::Ready(Err("gave up"));
                }
                // Return only once the other thread has woken this waker again.
                let seen = wakes.load(Ordering::SeqCst);
                while wakes.load(Ordering::SeqCst) < seen + 2 {
                    std::hint::spin_loop();
                }
                Poll::Pending
            })
        }
    };
    let attempts: Vec<BoxAttempt<'_>> = vec![boxed(hammered), boxed(|| async { Ok("second") })];
    let outcome = futures::executor::block_on(staggered_race(attempts, Some(ms(50)), FuturesTimer));
    stop.store(true, Ordering::Relaxed);
    waker_thread.join().unwrap();
    assert_eq!(outcome.winner, Some((1, "second")));
    assert_eq!(
        outcome.attempts,
        [Attempt::Cancelled, Attempt::Won],
        "attempt 1 started after the delay, not after attempt 0 gave up"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

type RaceFuture = std::pin::Pin<Box<dyn Future<Output = Outcome<&'static str, &'static str>>>>;

/// An attempt that works 1 ms per poll and yields, for a whole second, then fails: the next
/// attempt starts when the 50 ms delay passes, not when the busy one fails.
fn a_working_attempt_does_not_hold_back_a_start<Tm: Timer + 'static>(
    timer: Tm,
    block_on: impl FnOnce(RaceFuture) -> Outcome<&'static str, &'static str>,
) {
    let began = Instant::now();
    let working = move || async move {
        while began.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(1));
            support::yield_now().await;
        }
        Err("worked for a second")
    };
    let attempts: Vec<BoxAttempt<'static>> = vec![boxed(working), boxed(|| async { Ok("second") })];
    let outcome = block_on(Box::pin(staggered_race(attempts, Some(ms(50)), timer)));
    assert_eq!(outcome.winner, Some((1, "second")));
    assert_eq!(
        outcome.attempts,
        [Attempt::Cancelled, Attempt::Won],
        "attempt 1 started after the delay, not after attempt 0's second of work"
    );
    assert!(began.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_working_attempt_does_not_hold_back_a_start_on_futures_block_on() {
    a_working_attempt_does_not_hold_back_a_start(FuturesTimer, futures::executor::block_on);
}

#[test]
fn a_working_attempt_does_not_hold_back_a_start_on_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    a_working_attempt_does_not_hold_back_a_start(TokioTimer, |f| rt.block_on(f));
}

#[test]
fn a_working_attempt_does_not_hold_back_a_start_on_async_io() {
    // smol's and async-std's `block_on`.
    a_working_attempt_does_not_hold_back_a_start(
        staggered::timer::AsyncIoTimer,
        async_io::block_on,
    );
}

/// Many busy attempts at once (far more than the budget): each due start still comes within
/// the bound, which then counts the wake-ups that came before the sleep's, 128 per poll.
#[test]
fn many_busy_attempts_do_not_hold_back_a_start() {
    let n = if cfg!(miri) { 20 } else { 1_000 };
    let clock = ManualClock::new();
    let started = Rc::new(RefCell::new(0usize));
    let attempts = (0..=n).map(|i| {
        let started = Rc::clone(&started);
        move || -> std::pin::Pin<Box<dyn Future<Output = Res>>> {
            *started.borrow_mut() += 1;
            if i == n {
                Box::pin(async { Ok("last") })
            } else {
                Box::pin(self_waking())
            }
        }
    });
    let mut race = pin!(staggered_race(attempts, Some(ms(1)), clock.clone()));
    assert!(poll_up_to(race.as_mut(), 3).is_none());
    for i in 1..n {
        clock.advance(ms(1));
        // The `i` running attempts keep waking themselves.
        assert!(poll_up_to(race.as_mut(), bound_with(i)).is_none());
        assert_eq!(
            *started.borrow(),
            i + 1,
            "attempt {i} started within the bound"
        );
    }
    clock.advance(ms(1));
    let (outcome, _) = poll_up_to(race, bound_with(n)).expect("the last attempt starts and wins");
    assert_eq!(outcome.winner, Some((n, "last")));
    assert_eq!(outcome.attempts.len(), n + 1);
}

// ---------------------------------------------------------------------------------------------
// The same bound for every source and policy of the builder
// ---------------------------------------------------------------------------------------------

/// A stream item that arrives while busy attempts keep the race woken starts within the
/// bound of the poll that sees it.
#[test]
fn busy_attempts_do_not_hold_back_a_start_a_stream_makes_possible() {
    let (tx, rx) = futures::channel::mpsc::unbounded::<BoxAttempt<'static>>();
    tx.unbounded_send(boxed(self_waking)).unwrap();
    tx.unbounded_send(boxed(self_waking)).unwrap();
    let mut race = pin!(staggered::Staggered::from_stream(rx)
        .all_at_once()
        .race(NoTimer));
    // Two busy attempts run; the start of a third waits for the stream.
    assert!(poll_up_to(race.as_mut(), 50).is_none());
    tx.unbounded_send(boxed(|| async { Ok("late") })).unwrap();
    let (outcome, _) = poll_up_to(race, BOUND).expect("the late attempt starts within the bound");
    assert_eq!(outcome.winner, Some((2, "late")));
}

/// Room that a failure frees under the cap is used within the bound, while the other running
/// attempts wake themselves on every poll.
#[test]
fn busy_attempts_do_not_hold_back_a_start_the_cap_was_holding() {
    let clock = ManualClock::new();
    let fail_at = {
        let clock = clock.clone();
        move || async move {
            clock.sleep(ms(500)).await;
            Err("refused")
        }
    };
    let attempts: Vec<BoxAttempt<'_>> = vec![
        boxed(self_waking),
        boxed(fail_at),
        boxed(|| async { Ok("third") }),
    ];
    let mut race = pin!(staggered::Staggered::new(attempts)
        .delay(ms(100))
        .max_running(2)
        .race(clock.clone()));
    assert!(poll_up_to(race.as_mut(), 20).is_none());
    clock.advance(ms(100)); // attempt 1 starts
    assert!(poll_up_to(race.as_mut(), 20).is_none());
    clock.advance(ms(100)); // the third is due, but the cap is full
    assert!(poll_up_to(race.as_mut(), 50).is_none());
    clock.advance(ms(400)); // attempt 1 (started at 100 ms) fails at 600 ms: room
    let (outcome, _) = poll_up_to(race, BOUND).expect("the third starts within the bound");
    assert_eq!(outcome.winner, Some((2, "third")));
    assert_eq!(
        outcome.attempts,
        [Attempt::Cancelled, Attempt::Failed("refused"), Attempt::Won]
    );
}

/// With cancel-oldest, the due start comes within the bound too, and the busy attempt it
/// cancels is dropped.
#[test]
fn cancel_oldest_starts_within_the_bound_despite_busy_attempts() {
    let clock = ManualClock::new();
    let attempts: Vec<BoxAttempt<'_>> = vec![
        boxed(self_waking),
        boxed(self_waking),
        boxed(|| async { Ok("third") }),
    ];
    let mut race = pin!(staggered::Staggered::new(attempts)
        .delay(ms(100))
        .max_running(2)
        .cancel_oldest_when_full()
        .race(clock.clone()));
    assert!(poll_up_to(race.as_mut(), 20).is_none());
    clock.advance(ms(100));
    assert!(poll_up_to(race.as_mut(), 20).is_none());
    clock.advance(ms(100));
    let (outcome, _) = poll_up_to(race, BOUND).expect("the third starts within the bound");
    assert_eq!(outcome.winner, Some((2, "third")));
}

// ---------------------------------------------------------------------------------------------
// Rounds larger than the budget (issue 18, defect 1)
// ---------------------------------------------------------------------------------------------

/// Starts `N` attempts that never finish (and count their polls) at once in an array race,
/// lets it settle, then gives it one wake-up: returns how many polls of the race that wake-up
/// took before the race went idle (stopped waking itself), and how many attempt polls, or
/// `None` if it was still waking itself after 10,000 polls.
fn array_polls_for_one_wake_up<const N: usize>() -> Option<(usize, usize)> {
    let polls = Rc::new(RefCell::new(0usize));
    let attempts: [_; N] = std::array::from_fn(|_| {
        let polls = Rc::clone(&polls);
        move || {
            poll_fn(move |_| -> Poll<Res> {
                *polls.borrow_mut() += 1;
                Poll::Pending
            })
        }
    });
    let mut race = pin!(staggered::Staggered::new(attempts)
        .all_at_once()
        .race_array(NoTimer));
    let (count, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    // Until every attempt has started and the race stops waking itself.
    let mut settle = 0;
    loop {
        let woken = count.count();
        assert!(race.as_mut().poll(&mut cx).is_pending());
        settle += 1;
        if count.count() == woken {
            break;
        }
        if settle > 10_000 {
            return None;
        }
    }
    assert!(*polls.borrow() >= N, "every attempt started");
    // One wake-up (an attempt's waker is the task's): the executor polls the race until it
    // stops waking itself.
    *polls.borrow_mut() = 0;
    for race_polls in 1..=10_000 {
        let woken = count.count();
        assert!(race.as_mut().poll(&mut cx).is_pending());
        if count.count() == woken {
            return Some((race_polls, *polls.borrow()));
        }
    }
    None
}

/// An array race polls every running attempt once per wake-up, in one poll, whatever `N`:
/// its round is whole. Before the fix, `N = 126` never went idle (each poll finished the
/// round the budget had cut, then began a fresh one the budget cut again), and `N = 127`,
/// `128` and `150` took 129, 65 and 19 polls for one wake-up.
#[test]
fn an_array_race_of_any_size_takes_one_poll_per_wake_up() {
    fn check<const N: usize>() {
        let polls = array_polls_for_one_wake_up::<N>();
        println!("N = {N}: (race polls, attempt polls) for one wake-up: {polls:?}");
        assert_eq!(
            polls,
            Some((1, N)),
            "N = {N}: race polls and attempt polls for one wake-up"
        );
    }
    check::<1>();
    check::<64>();
    check::<125>();
    check::<126>();
    check::<127>();
    check::<128>();
    check::<150>();
    check::<200>();
    check::<300>();
}

/// A start that was due when a poll ran out of budget is made first in the next poll, before
/// that poll's round, even when nothing else is due (a poll that begins with no start due
/// goes straight to its round; this one must not), and more starts follow only while more
/// than half the budget is left. Here attempt 0's wake-up arrives after the start of the
/// next attempt came due, so by the tie rule that attempt starts before attempt 0 is polled
/// and wins. On both races: the array race's one whole round, and the slab's precise
/// wake-ups (hundreds of attempts run at once), from an iterator and from a stream.
#[test]
fn a_start_due_at_a_budget_yield_goes_before_the_next_round() {
    // More than two polls' budgets, so that the source never runs out here.
    const N: usize = 1000;
    let won = Rc::new(AtomicBool::new(false));
    let started = Rc::new(RefCell::new(0usize));
    let kept: Rc<RefCell<Option<Waker>>> = Rc::default();
    let attempt = |i: usize| {
        let (won, started, kept) = (Rc::clone(&won), Rc::clone(&started), Rc::clone(&kept));
        move || {
            *started.borrow_mut() += 1;
            poll_fn(move |cx| -> Poll<Res> {
                if i > 0 {
                    return Poll::Pending;
                }
                if won.load(Ordering::Relaxed) {
                    return Poll::Ready(Ok("first"));
                }
                *kept.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
        }
    };
    // Polls the race twice, waking attempt 0 in between: the winner, and the starts the
    // second poll made.
    let run = |mut race: std::pin::Pin<&mut dyn Future<Output = Option<(usize, &'static str)>>>| {
        won.store(false, Ordering::Relaxed);
        *started.borrow_mut() = 0;
        let (count, waker) = CountWaker::new();
        let mut cx = Context::from_waker(&waker);
        assert!(race.as_mut().poll(&mut cx).is_pending());
        assert_eq!(count.count(), 1, "the first poll ran out of budget");
        let before = *started.borrow();
        // Attempt 0 is woken now, after the due start, with its result ready.
        won.store(true, Ordering::Relaxed);
        let kept = kept.borrow_mut().take();
        kept.expect("attempt 0 was polled").wake();
        let Poll::Ready(winner) = race.as_mut().poll(&mut cx) else {
            panic!("attempt 0 wins in the second poll");
        };
        (winner, *started.borrow() - before)
    };
    let attempts: [_; N] = std::array::from_fn(attempt);
    let array = staggered::staggered_race_array(attempts, Some(Duration::ZERO), NoTimer);
    let array = run(pin!(async { array.await.winner }));
    let slab = staggered_race((0..N).map(attempt), Some(Duration::ZERO), NoTimer);
    let slab = run(pin!(async { slab.await.winner }));
    // A stream that is never pending: nothing waits for it, so its races go as the others.
    let stream = futures::stream::iter((0..N).map(attempt));
    let stream = staggered::Staggered::from_stream(stream)
        .all_at_once()
        .race(NoTimer);
    let stream = run(pin!(async { stream.await.winner }));
    for (race, (winner, starts)) in [("array", array), ("slab", slab), ("stream", stream)] {
        assert_eq!(winner, Some((0, "first")), "{race}");
        // The due start, then more while more than half of the budget of 128 is left: 64
        // starts (a start is a unit), then the round.
        assert_eq!(
            starts, 64,
            "{race}: starts in the second poll, before its round"
        );
    }
}

/// The slab race with more woken attempts than the budget: the round goes on in the next
/// poll, then the race goes idle; each woken attempt is polled exactly once.
#[test]
fn a_slab_race_with_more_woken_than_the_budget_goes_idle() {
    let n = if cfg!(miri) { 140 } else { 300 };
    let polls = Rc::new(RefCell::new(0usize));
    let wakers: Rc<RefCell<Vec<Waker>>> = Rc::default();
    let attempts = (0..n).map(|_| {
        let (polls, wakers) = (Rc::clone(&polls), Rc::clone(&wakers));
        move || {
            poll_fn(move |cx| -> Poll<Res> {
                *polls.borrow_mut() += 1;
                wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            })
        }
    });
    let mut race = pin!(staggered_race(attempts, Some(Duration::ZERO), NoTimer));
    let (count, waker) = CountWaker::new();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..100 {
        let woken = count.count();
        assert!(race.as_mut().poll(&mut cx).is_pending());
        if count.count() == woken {
            break;
        }
    }
    // Wake every attempt at once, with the waker of its latest poll.
    let latest: Vec<Waker> = std::mem::take(&mut *wakers.borrow_mut());
    let latest = &latest[latest.len() - n..];
    *polls.borrow_mut() = 0;
    for w in latest {
        w.wake_by_ref();
    }
    let mut race_polls = 0;
    loop {
        let woken = count.count();
        assert!(race.as_mut().poll(&mut cx).is_pending());
        race_polls += 1;
        if count.count() == woken {
            break;
        }
        assert!(race_polls < 100, "the race keeps waking itself");
    }
    assert_eq!(*polls.borrow(), n, "each woken attempt polled once");
    assert_eq!(race_polls, n.div_ceil(128), "128 wake-ups handled per poll");
}
