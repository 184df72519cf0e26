//! Model checks with loom: the ready queue and the wakers (`src/waker.rs`), and both races,
//! against wakes from several threads racing with the consumer's pops and polls, and with the
//! race's drop. A lost wake-up is a deadlock loom reports; a reference count given back twice
//! or never is a loom failure.
//!
//! `cd loom && RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release loom_`

use crate::sync::Ordering;
use crate::waker::{borrowed_waker, Batch, Shared, WakerChunk};
use core::task::Waker;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use loom::sync::atomic::AtomicUsize;
use loom::sync::{Mutex, Notify};
use loom::thread;
use std::sync::Arc as StdArc;
use std::task::Wake;

/// The task that polls the race: woken through a loom `Notify`, so that a lost wake-up
/// is a deadlock loom reports.
struct Parent(Notify);

impl Wake for Parent {
    fn wake(self: StdArc<Self>) {
        self.0.notify();
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.notify();
    }
}

/// An owned waker for cell `pos` of `chunk`.
fn owned_waker(chunk: &WakerChunk, pos: usize) -> Waker {
    // SAFETY: `chunk` outlives the borrowed waker, which is cloned at once (taking a count
    // of its own) and never dropped.
    let borrowed = unsafe { borrowed_waker(chunk.cell(pos)) };
    (*borrowed).clone()
}

/// Pops until `done` says so, registering and sleeping on the parent when idle, as the
/// race does. Returns how many times each key was popped.
fn consume(
    shared: &Shared,
    batch: &mut Batch,
    parent: &StdArc<Parent>,
    keys: usize,
    mut done: impl FnMut(&[u32]) -> bool,
) -> Vec<u32> {
    let waker = Waker::from(StdArc::clone(parent));
    let mut seen = alloc::vec![0u32; keys];
    loop {
        // SAFETY: every chunk whose cells can be queued is alive for the whole test.
        while let Some(key) = unsafe { batch.pop(shared) } {
            seen[key as usize] += 1;
            if done(&seen) {
                return seen;
            }
        }
        shared.register(&waker);
        if !shared.has_woken() {
            parent.0.wait();
        }
    }
}

#[test]
fn loom_wakes_from_two_threads_are_neither_lost_nor_doubled() {
    loom::model(|| {
        let shared = Shared::new();
        let chunk = WakerChunk::new(&shared, 0);
        let parent = StdArc::new(Parent(Notify::new()));
        let (w0, w1) = (owned_waker(&chunk, 0), owned_waker(&chunk, 1));
        let t0 = thread::spawn(move || w0.wake());
        let t1 = thread::spawn(move || {
            w1.wake_by_ref();
            drop(w1);
        });
        let mut batch = Batch::new();
        let seen = consume(&shared, &mut batch, &parent, 2, |s| {
            s.iter().all(|&n| n > 0)
        });
        t0.join().unwrap();
        t1.join().unwrap();
        // SAFETY: as in `consume`.
        let rest = unsafe { batch.pop(&shared) };
        assert_eq!((seen.as_slice(), rest), (&[1, 1][..], None));
        shared.unregister();
    });
}

#[test]
fn loom_a_wake_during_the_poll_queues_the_cell_again() {
    // The waker thread publishes a value (relaxed) and wakes, twice. The consumer reads the
    // value after each pop, as an attempt's poll would. If the second wake were lost (for
    // example coalesced into an entry the consumer had already taken), the consumer would
    // wait forever for the value 2: loom reports the deadlock.
    loom::model(|| {
        let shared = Shared::new();
        let chunk = WakerChunk::new(&shared, 0);
        let parent = StdArc::new(Parent(Notify::new()));
        let value = StdArc::new(AtomicUsize::new(0));
        let waker = owned_waker(&chunk, 0);
        let t = {
            let value = StdArc::clone(&value);
            thread::spawn(move || {
                for v in 1..=2 {
                    value.store(v, Ordering::Relaxed);
                    waker.wake_by_ref();
                }
            })
        };
        let mut batch = Batch::new();
        let seen = consume(&shared, &mut batch, &parent, 1, |_| {
            value.load(Ordering::Relaxed) == 2
        });
        assert!(seen[0] <= 2, "at most one poll per wake: {seen:?}");
        t.join().unwrap();
        shared.unregister();
    });
}

#[test]
fn loom_wakers_outliving_the_race_are_harmless() {
    // Another thread wakes, clones and drops a kept waker while the race pops once and is
    // dropped. Loom checks that every reference count is given back exactly once (no leak,
    // no use after the last count) whatever the interleaving.
    loom::model(|| {
        let shared = Shared::new();
        let chunk = WakerChunk::new(&shared, 0);
        let parent = StdArc::new(Parent(Notify::new()));
        shared.register(&Waker::from(StdArc::clone(&parent)));
        let kept = owned_waker(&chunk, 0);
        let t = thread::spawn(move || {
            let clone = kept.clone();
            kept.wake();
            clone.wake_by_ref();
        });
        let mut batch = Batch::new();
        // SAFETY: the chunk is alive until after this pop.
        let popped = unsafe { batch.pop(&shared) };
        assert!(matches!(popped, None | Some(0)));
        // Drop the race (as `Slab::drop` does): the consumer's side goes first, the wakers
        // may still be in use. The batch holds no counts.
        shared.unregister();
        let _ = batch;
        drop(chunk);
        drop(shared);
        t.join().unwrap();
    });
}

/// Counts attempt polls and wakes, for "no double poll": polls never exceed the starts
/// plus the wakes. (Counted in total. That a late wake of a finished attempt never polls
/// the attempt that took over its slot is checked per attempt by
/// `stale_waker_does_not_poll_the_next_attempt` in tests/panic_safety.rs and by the
/// reference-model driver.)
#[derive(Default)]
struct Counts {
    polls: AtomicUsize,
    wakes: AtomicUsize,
}

/// An attempt completed from another thread: the result, then a wake, as a channel would.
struct Signal {
    result: Mutex<Option<Result<u32, u32>>>,
    waker: Mutex<Option<Waker>>,
    counts: StdArc<Counts>,
}

impl Signal {
    fn new(counts: &StdArc<Counts>) -> StdArc<Self> {
        StdArc::new(Signal {
            result: Mutex::new(None),
            waker: Mutex::new(None),
            counts: StdArc::clone(counts),
        })
    }

    fn complete(&self, result: Result<u32, u32>) {
        *self.result.lock().unwrap() = Some(result);
        let waker = self.waker.lock().unwrap().take();
        if let Some(waker) = waker {
            self.counts.wakes.fetch_add(1, Ordering::SeqCst);
            waker.wake();
        }
    }
}

/// Waits for its signal.
struct Wait(StdArc<Signal>);

impl Future for Wait {
    type Output = Result<u32, u32>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.counts.polls.fetch_add(1, Ordering::SeqCst);
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        match self.0.result.lock().unwrap().take() {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}

/// What a race of two attempts resolved to: the winner and each attempt's fate.
type Resolved = (Option<(usize, u32)>, Vec<crate::Attempt<u32>>);

/// Two attempts started at once; one thread fails the first while another makes the second
/// win. `race` runs a race over the two signals to its end. The race must finish (no lost
/// wake-up) with the only possible outcome. Returns the attempt polls and wakes counted.
fn two_attempts_from_other_threads(
    race: impl FnOnce([StdArc<Signal>; 2]) -> Resolved,
) -> (usize, usize) {
    let counts = StdArc::new(Counts::default());
    let signals = [Signal::new(&counts), Signal::new(&counts)];
    let [s0, s1] = signals.clone();
    let t0 = thread::spawn(move || s0.complete(Err(0)));
    let t1 = thread::spawn(move || s1.complete(Ok(1)));
    let (winner, attempts) = race(signals);
    t0.join().unwrap();
    t1.join().unwrap();
    assert_eq!(winner, Some((1, 1)));
    assert!(matches!(
        attempts[0],
        crate::Attempt::Failed(0) | crate::Attempt::Cancelled
    ));
    assert_eq!(attempts[1], crate::Attempt::Won);
    (
        counts.polls.load(Ordering::SeqCst),
        counts.wakes.load(Ordering::SeqCst),
    )
}

#[test]
fn loom_race_completes_with_attempts_woken_from_other_threads() {
    // And it polls attempts no more often than they were started or woken.
    loom::model(|| {
        let (polls, wakes) = two_attempts_from_other_threads(|signals| {
            let race = crate::staggered_race(
                signals.map(|s| move || Wait(s)),
                Some(Duration::ZERO),
                crate::timer::NoTimer,
            );
            let outcome = loom::future::block_on(race);
            (outcome.winner, outcome.attempts)
        });
        // The first attempt to stay pending is polled once more, with the race's own waker
        // (its first poll had the task's).
        assert!(
            polls <= 2 + 1 + wakes,
            "{polls} attempt polls for 2 starts and {wakes} wakes"
        );
    });
}

#[test]
fn loom_array_race_completes_with_attempts_woken_from_other_threads() {
    // The same for the race with no heap: its attempts hold the task's own waker.
    loom::model(|| {
        two_attempts_from_other_threads(|signals| {
            let race = crate::staggered_race_array(
                signals.map(|s| move || Wait(s)),
                Some(Duration::ZERO),
                crate::timer::NoTimer,
            );
            let outcome = loom::future::block_on(race);
            (outcome.winner, outcome.attempts.to_vec())
        });
    });
}

#[test]
fn loom_race_dropped_while_an_attempt_is_woken() {
    // The race is polled once and dropped while another thread completes an attempt and
    // wakes it: nothing is polled after the drop, and every count is given back.
    loom::model(|| {
        let signal = Signal::new(&StdArc::new(Counts::default()));
        let mut race = alloc::boxed::Box::pin(crate::staggered_race(
            [StdArc::clone(&signal)].map(|s| move || Wait(s)),
            None,
            crate::timer::NoTimer,
        ));
        let parent = StdArc::new(Parent(Notify::new()));
        let waker = Waker::from(StdArc::clone(&parent));
        assert!(race
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let t = {
            let signal = StdArc::clone(&signal);
            thread::spawn(move || signal.complete(Err(0)))
        };
        drop(race);
        t.join().unwrap();
        // The attempt's kept waker dies with the signal, after the race.
        drop(signal);
    });
}
