//! Exact allocation counts of a race (issue 5), with a counting global allocator.
//!
//! Targets:
//! - a race with N attempts makes at most `2 * ceil(log2 N) + 4` allocations, whether its
//!   attempts fail one after another or are all pending at once;
//! - a wake-up and a poll of a running race make none;
//! - `staggered_race_array` makes none at all, from creation to the end.
//!
//! The counts are also checked exactly against [`model`], which spells out where each
//! allocation comes from, so that any change to the allocation strategy shows up here.
//!
//! Counting is per thread, so tests running in parallel do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use staggered::{staggered_race, staggered_race_array, timer::NoTimer, Attempt, Timer};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

fn bump(bytes: usize) {
    // `try_with`: never panic inside the allocator, even while the thread is being torn down.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|c| c.set(c.get() + bytes));
}

// SAFETY: every call is forwarded unchanged to `System`; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(layout.size());
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while `f` runs.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCS.with(Cell::get);
    let r = f();
    (r, ALLOCS.with(Cell::get) - before)
}

/// Bytes allocated (or reallocated to) on this thread while `f` runs.
fn bytes_allocated<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = BYTES.with(Cell::get);
    let r = f();
    (r, BYTES.with(Cell::get) - before)
}

const NS: [usize; 8] = [1, 4, 5, 8, 9, 10, 1_000, 10_000];

/// Most attempts a race keeps inline, in the race itself, when its source promises no more.
const SMALL: usize = 4;

/// The target: `2 * ceil(log2 n) + 4`.
fn bound(n: usize) -> usize {
    2 * n.next_power_of_two().trailing_zeros() as usize + 4
}

/// The allocations the current strategy makes for a race that starts `started` attempts
/// from an exact-size iterator, at most `running` of them at once:
/// - for at most [`SMALL`] attempts, none but `Outcome::attempts`: the slots are inline;
/// - else, per chunk of slots (8, 16, 32, … slots), one slot vector;
/// - only once more than 8 attempts run at once (the race leaves *task mode*, where the
///   attempts are polled with the task's waker): one `Arc<Shared>` (the ready queue and the
///   parent's waker), and per chunk one `Arc<[Cell]>` of wakers;
/// - from the second chunk on, the `Vec` of chunks: reserved for 8, then doubled;
/// - `Outcome::attempts`: reserved from the iterator's size hint, capped at 4096, then grown
///   by doubling.
fn model(started: usize, running: usize) -> usize {
    if started <= SMALL {
        return 1;
    }
    let mut chunks = 0;
    let mut capacity = 0;
    while capacity < running {
        capacity += 8 << chunks;
        chunks += 1;
    }
    let mut chunk_list = 0;
    if chunks > 1 {
        let (mut cap, extra) = (8, chunks - 1);
        chunk_list = 1;
        while cap < extra {
            cap *= 2;
            chunk_list += 1;
        }
    }
    let mut outcome = 1;
    let mut cap = started.min(4096);
    while cap < started {
        cap *= 2;
        outcome += 1;
    }
    let wakers = if running > 8 { 1 + chunks } else { 0 };
    chunks + wakers + chunk_list + outcome
}

// ---------------------------------------------------------------------------------------------
// A non-allocating test harness

/// The waker of the test's executor: a flag.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Executor {
    flag: Arc<Flag>,
    waker: Waker,
}

impl Executor {
    fn new() -> Self {
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(Arc::clone(&flag));
        Executor { flag, waker }
    }

    /// Polls until the future is pending and has not woken itself.
    fn poll_idle<F: Future>(&self, mut fut: Pin<&mut F>) -> Option<F::Output> {
        let mut cx = Context::from_waker(&self.waker);
        loop {
            self.flag.0.store(false, Ordering::SeqCst);
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return Some(out);
            }
            if !self.flag.0.load(Ordering::SeqCst) {
                return None;
            }
        }
    }

    fn woken(&self) -> bool {
        self.flag.0.load(Ordering::SeqCst)
    }
}

/// Attempts that wait for the test: each keeps the waker it was polled with (cloned once, on
/// its first poll) and completes with the result the test gives it. All storage is made up
/// front, so polling and waking a gate allocates nothing.
struct Board {
    wakers: RefCell<Vec<Option<Waker>>>,
    results: RefCell<Vec<Option<Result<u32, u32>>>>,
}

impl Board {
    fn new(n: usize) -> Self {
        Board {
            wakers: RefCell::new(vec![None; n]),
            results: RefCell::new(vec![None; n]),
        }
    }

    fn gate(&self, id: usize) -> Gate<'_> {
        Gate { id, board: self }
    }

    /// Wakes gate `id` through its kept waker.
    fn wake(&self, id: usize) {
        self.wakers.borrow()[id]
            .as_ref()
            .expect("the gate was polled")
            .wake_by_ref();
    }

    /// Makes gate `id` complete with `result`, and wakes it.
    fn settle(&self, id: usize, result: Result<u32, u32>) {
        self.results.borrow_mut()[id] = Some(result);
        self.wake(id);
    }

    fn polled(&self) -> usize {
        self.wakers.borrow().iter().filter(|w| w.is_some()).count()
    }
}

struct Gate<'a> {
    id: usize,
    board: &'a Board,
}

impl Future for Gate<'_> {
    type Output = Result<u32, u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.board.results.borrow_mut()[self.id].take() {
            return Poll::Ready(result);
        }
        let mut wakers = self.board.wakers.borrow_mut();
        let slot = &mut wakers[self.id];
        match slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// A timer whose one sleep fires when the test says so. Allocates nothing.
#[derive(Default)]
struct Alarm {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
    sleeps: Cell<usize>,
}

impl Alarm {
    fn fire(&self) {
        self.fired.set(true);
        if let Some(w) = self.waker.borrow().as_ref() {
            w.wake_by_ref();
        }
    }
}

struct AlarmSleep<'a>(&'a Alarm);

impl Future for AlarmSleep<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.fired.get() {
            return Poll::Ready(());
        }
        let mut slot = self.0.waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<'a> Timer for &'a Alarm {
    type Sleep = AlarmSleep<'a>;

    fn sleep(&self, _: Duration) -> AlarmSleep<'a> {
        self.sleeps.set(self.sleeps.get() + 1);
        self.fired.set(false);
        AlarmSleep(self)
    }

    fn reset(&self, _: Pin<&mut AlarmSleep<'a>>, _: Duration) {
        self.fired.set(false);
    }
}

// ---------------------------------------------------------------------------------------------
// Allocations per race

#[test]
fn model_matches_the_documented_strategy() {
    // Up to 4 attempts in all: inline slots, only Outcome's Vec.
    assert_eq!(model(1, 1), 1);
    assert_eq!(model(4, 4), 1);
    // Up to 8 at once, pending or not, in task mode: slots + Outcome's Vec.
    assert_eq!(model(5, 5), 2);
    assert_eq!(model(8, 8), 2);
    assert_eq!(model(1_000, 1), 2);
    // 9 at once: two chunks (8 + 16), Shared, their cells, and the chunk list.
    assert_eq!(model(9, 9), 2 + 3 + 1 + 1);
    // 10 at once: the same.
    assert_eq!(model(10, 10), 1 + 4 + 1 + 1);
    // 10,000 at once: 11 chunks (8 … 8192 slots), a chunk list grown once (8 -> 16), and
    // Outcome's Vec reserved at 4096 then doubled twice.
    assert_eq!(model(10_000, 10_000), 1 + 22 + 2 + 3);
    assert_eq!(bound(1), 4);
    assert_eq!(bound(10), 12);
    assert_eq!(bound(1_000), 24);
    assert_eq!(bound(10_000), 32);
}

/// N attempts that each fail at once, one after another.
#[test]
fn a_race_of_attempts_failing_at_once_allocates_within_the_bound() {
    for n in NS {
        for delay in [None, Some(Duration::ZERO), Some(Duration::from_millis(250))] {
            let exec = Executor::new();
            let ((), allocs) = allocations(|| {
                let race = staggered_race(
                    (0..n as u32).map(|i| move || async move { Err::<(), u32>(i) }),
                    delay,
                    NoTimer, // never asked to sleep: each failure starts the next at once
                );
                let outcome = exec
                    .poll_idle(pin!(race))
                    .expect("every attempt fails at once");
                assert!(outcome.winner.is_none());
                assert_eq!(outcome.attempts.len(), n);
                assert_eq!(outcome.attempts[n - 1], Attempt::Failed(n as u32 - 1));
                drop(outcome);
            });
            eprintln!("failing at once, N = {n}, delay {delay:?}: {allocs} allocations");
            assert!(
                allocs <= bound(n),
                "N = {n}, delay {delay:?}: {allocs} allocations, target {}",
                bound(n)
            );
            // Never more than one attempt runs at once: one chunk.
            assert_eq!(allocs, model(n, 1), "N = {n}, delay {delay:?}");
        }
    }
}

/// N attempts pending at once (zero delay); then one wins.
#[test]
fn a_race_of_attempts_pending_at_once_allocates_within_the_bound() {
    for n in NS {
        let board = Board::new(n);
        let exec = Executor::new();
        let (winner, allocs) = allocations(|| {
            let race = staggered_race(
                (0..n).map(|i| {
                    let board = &board;
                    move || board.gate(i)
                }),
                Some(Duration::ZERO),
                NoTimer,
            );
            let mut race = pin!(race);
            assert!(exec.poll_idle(race.as_mut()).is_none());
            assert_eq!(board.polled(), n, "every attempt is running");
            board.settle(n / 2, Ok(7));
            let outcome = exec.poll_idle(race.as_mut()).expect("the race is won");
            assert_eq!(outcome.attempts.len(), n);
            outcome.winner
        });
        assert_eq!(winner, Some((n / 2, 7)));
        eprintln!("pending at once, N = {n}: {allocs} allocations");
        assert!(
            allocs <= bound(n),
            "N = {n}: {allocs} allocations, target {}",
            bound(n)
        );
        assert_eq!(allocs, model(n, n), "N = {n}");
    }
}

// ---------------------------------------------------------------------------------------------
// Steady state: no allocation per wake, per poll, per start into a free slot

#[test]
fn wakes_and_polls_of_a_running_race_allocate_nothing() {
    for n in NS {
        let board = Board::new(n);
        let exec = Executor::new();
        let race = staggered_race(
            (0..n).map(|i| {
                let board = &board;
                move || board.gate(i)
            }),
            Some(Duration::ZERO),
            NoTimer,
        );
        let mut race = pin!(race);
        assert!(exec.poll_idle(race.as_mut()).is_none());
        assert_eq!(board.polled(), n);
        let mut cx = Context::from_waker(&exec.waker);

        let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ n as u64;
        let rounds = 2_000;
        let ((), allocs) = allocations(|| {
            for round in 0..rounds {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let id = (seed % n as u64) as usize;
                exec.flag.0.store(false, Ordering::SeqCst);
                board.wake(id);
                assert!(exec.woken(), "a wake reaches the race's task");
                exec.flag.0.store(false, Ordering::SeqCst);
                assert!(race.as_mut().poll(&mut cx).is_pending());
                assert!(!exec.woken(), "one poll handles the wake");
                if round % 4 == 0 {
                    // A poll with nothing woken, and a wake of an attempt twice over.
                    assert!(race.as_mut().poll(&mut cx).is_pending());
                    board.wake(id);
                    board.wake(id);
                    assert!(race.as_mut().poll(&mut cx).is_pending());
                }
            }
        });
        eprintln!("steady state, N = {n}: {allocs} allocations in {rounds} wake rounds");
        assert_eq!(allocs, 0, "N = {n}: allocations per wake and poll");
    }
}

#[test]
fn timer_wakes_and_starts_into_free_slots_allocate_nothing() {
    // Six attempts 250 ms apart, all pending: they fit the first chunk of slots, so once the
    // race runs, each timer wake (which starts the next attempt) allocates nothing.
    let alarm = Alarm::default();
    let board = Board::new(6);
    let exec = Executor::new();
    let race = staggered_race(
        (0..6).map(|i| {
            let board = &board;
            move || board.gate(i)
        }),
        Some(Duration::from_millis(250)),
        &alarm,
    );
    let mut race = pin!(race);
    assert!(exec.poll_idle(race.as_mut()).is_none());
    assert_eq!(board.polled(), 1);
    let ((), allocs) = allocations(|| {
        for started in 2..=6 {
            alarm.fire();
            assert!(exec.poll_idle(race.as_mut()).is_none());
            assert_eq!(board.polled(), started);
            // And the attempts' own wakes, between timer wakes.
            board.wake(started - 1);
            assert!(exec.poll_idle(race.as_mut()).is_none());
        }
    });
    assert_eq!(alarm.sleeps.get(), 1, "one sleep, re-armed in place");
    eprintln!("timer wakes and starts: {allocs} allocations");
    assert_eq!(allocs, 0);
    board.settle(5, Ok(1));
    let outcome = exec.poll_idle(race.as_mut()).expect("the race is won");
    assert_eq!(outcome.winner, Some((5, 1)));
}

/// An endless iterator says it has `usize::MAX` items: the race must not reserve for them.
/// With a 1 KiB error and attempt 0 winning at once, the race allocates a few KiB, not MBs.
#[test]
fn an_endless_iterator_won_at_once_reserves_little() {
    type BigError = [u8; 1024];
    let exec = Executor::new();
    let (outcome, bytes) = bytes_allocated(|| {
        let race = staggered_race(
            (0u64..).map(|i| {
                move || async move {
                    if i == 0 {
                        Ok(i)
                    } else {
                        Err([0u8; 1024])
                    }
                }
            }),
            Some(Duration::from_millis(250)),
            NoTimer, // attempt 0 wins on its first poll: no sleep
        );
        exec.poll_idle(pin!(race)).expect("attempt 0 wins at once")
    });
    let _: &[Attempt<BigError>] = &outcome.attempts;
    assert_eq!(outcome.winner, Some((0, 0)));
    eprintln!("endless iterator, won at once, 1 KiB errors: {bytes} bytes allocated");
    // The slot chunk, the wakers, the queue, and `Outcome::attempts` grown as usual (4 entries
    // of just over 1 KiB): under 16 KiB. Reserving for the size hint would be 4 MiB.
    assert!(bytes < 16 * 1024, "{bytes} bytes");
}

/// A large known size reserves at most 64 KiB of `Outcome::attempts` up front.
#[test]
fn a_large_known_size_reserves_at_most_64_kib() {
    let exec = Executor::new();
    let (outcome, bytes) = bytes_allocated(|| {
        let race = staggered_race(
            (0u64..1_000_000).map(|i| {
                move || async move {
                    if i == 0 {
                        Ok(i)
                    } else {
                        Err([0u8; 1024])
                    }
                }
            }),
            None,
            NoTimer,
        );
        exec.poll_idle(pin!(race)).expect("attempt 0 wins at once")
    });
    assert_eq!(outcome.winner, Some((0, 0)));
    eprintln!("1,000,000 attempts known, won at once, 1 KiB errors: {bytes} bytes allocated");
    assert!(bytes < 64 * 1024 + 16 * 1024, "{bytes} bytes");
}

// ---------------------------------------------------------------------------------------------
// staggered_race_array: no heap at all

/// A whole array race, from creation to its outcome: timer wakes and starts, the attempts'
/// own wakes, failures, a win and the cancellation of the losers. Not one allocation.
#[test]
fn staggered_race_array_allocates_nothing_at_all() {
    let alarm = Alarm::default();
    let board = Board::new(6);
    let exec = Executor::new();
    let (outcome, allocs) = allocations(|| {
        let race = staggered_race_array(
            core::array::from_fn::<_, 6, _>(|i| {
                let board = &board;
                move || board.gate(i)
            }),
            Some(Duration::from_millis(250)),
            &alarm,
        );
        let mut race = pin!(race);
        assert!(exec.poll_idle(race.as_mut()).is_none());
        for started in 2..=6 {
            alarm.fire();
            assert!(exec.poll_idle(race.as_mut()).is_none());
            assert_eq!(board.polled(), started);
            board.wake(started - 1);
            assert!(exec.poll_idle(race.as_mut()).is_none());
        }
        board.settle(2, Err(7));
        assert!(exec.poll_idle(race.as_mut()).is_none());
        board.settle(4, Ok(1));
        exec.poll_idle(race.as_mut()).expect("the race is won")
    });
    eprintln!("staggered_race_array, 6 attempts: {allocs} allocations");
    assert_eq!(allocs, 0);
    assert_eq!(outcome.winner, Some((4, 1)));
    assert_eq!(
        *outcome.attempts,
        [
            Attempt::Cancelled,
            Attempt::Cancelled,
            Attempt::Failed(7),
            Attempt::Cancelled,
            Attempt::Won,
            Attempt::Cancelled
        ]
    );
}

/// The two attempts of the peers bench's lifecycle at N = 1: the first fails at once, the
/// second wins at once.
fn lifecycle_pair() -> [impl FnOnce() -> std::future::Ready<Result<u32, u32>>; 2] {
    [0u32, 1].map(|i| move || std::future::ready(if i == 0 { Err(i) } else { Ok(i) }))
}

/// The lifecycle at N = 1: `staggered_race` makes one allocation (the outcome's list; its
/// two attempts are inline, as the iterator promises no more than [`SMALL`]), or two from a
/// source that does not tell its size (the slab's slots too); `staggered_race_array` none.
#[test]
fn a_race_of_two_attempts_finishing_at_once_allocates_one() {
    let exec = Executor::new();
    let delay = Some(Duration::from_millis(250));
    let (outcome, allocs) = allocations(|| {
        let race = staggered_race(lifecycle_pair(), delay, NoTimer);
        exec.poll_idle(pin!(race)).expect("won at once")
    });
    eprintln!("lifecycle N = 1: {allocs} allocations");
    assert_eq!(allocs, 1, "inline: the outcome's list only");
    assert_eq!(outcome.winner, Some((1, 1)));
    let (outcome, allocs) = allocations(|| {
        let mut pair = lifecycle_pair().into_iter();
        // `from_fn` tells no size: the race cannot know it is small.
        let race = staggered_race(std::iter::from_fn(move || pair.next()), delay, NoTimer);
        exec.poll_idle(pin!(race)).expect("won at once")
    });
    assert_eq!(
        allocs, 2,
        "unknown size: the slab's slots and the outcome's list"
    );
    assert_eq!(outcome.winner, Some((1, 1)));
    let (outcome, allocs) = allocations(|| {
        let race = staggered_race_array(lifecycle_pair(), delay, NoTimer);
        exec.poll_idle(pin!(race)).expect("won at once")
    });
    assert_eq!(allocs, 0, "staggered_race_array");
    assert_eq!(outcome.winner, Some((1, 1)));
}
