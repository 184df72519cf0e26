//! Load: a million attempts in one race, ten thousand pending at once, and wake-ups from 8
//! threads at the same time on a multi-thread tokio runtime. Each must end with the right
//! winner and every attempt accounted for, and memory must not grow with finished attempts.
//!
//! Memory is measured with a counting global allocator that keeps per-thread live and peak
//! byte counts, so tests running in parallel on other threads do not disturb the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use staggered::{staggered_race, timer::NoTimer, Attempt};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: forwards to the system allocator unchanged; the counters are plain thread-locals
// with no destructor, so touching them never allocates or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a fresh allocation followed by the release of the old one, which is the
        // worst case for the peak.
        add(new_size as isize);
        add(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Resets this thread's peak to its current live bytes.
fn reset_peak() {
    PEAK.with(|p| p.set(live()));
}

fn peak() -> isize {
    PEAK.with(Cell::get)
}

/// A million in release-like settings; cut under miri.
const MILLION: usize = if cfg!(miri) { 2_000 } else { 1_000_000 };
const TEN_THOUSAND: usize = if cfg!(miri) { 200 } else { 10_000 };

/// An attempt with a kilobyte of state that yields once (waking itself), then fails, except
/// the one at `winner`, which succeeds. If finished attempts were kept, a million of them
/// would hold a gigabyte.
struct Heavy {
    index: usize,
    winner: usize,
    polled: bool,
    state: [u8; 1024],
    drops: Arc<AtomicUsize>,
}

impl Future for Heavy {
    type Output = Result<usize, u8>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.polled {
            self.polled = true;
            let at = self.index % 1024;
            self.state[at] = 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        assert_eq!(
            self.state[self.index % 1024],
            1,
            "the attempt's state stayed put"
        );
        if self.index == self.winner {
            Poll::Ready(Ok(self.index))
        } else {
            Poll::Ready(Err(0))
        }
    }
}

impl Drop for Heavy {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_million_attempts_fail_one_after_another_in_bounded_memory() {
    let n = MILLION;
    let winner = n - 1;
    let drops = Arc::new(AtomicUsize::new(0));
    let closures = Arc::new(AtomicUsize::new(0));
    // `block_on` allocates a thread-local notifier on first use: not the race's.
    futures::executor::block_on(async {});
    let base = live();
    reset_peak();
    let race = staggered_race(
        (0..n).map(|index| {
            let drops = Arc::clone(&drops);
            let closures = Arc::clone(&closures);
            move || {
                closures.fetch_add(1, Ordering::Relaxed);
                Heavy {
                    index,
                    winner,
                    polled: false,
                    state: [0; 1024],
                    drops,
                }
            }
        }),
        None, // one after another
        NoTimer,
    );
    let outcome = futures::executor::block_on(race);
    let peak = peak() - base;
    assert_eq!(outcome.winner, Some((winner, winner)));
    assert_eq!(outcome.attempts.len(), n);
    assert!(outcome.attempts[..n - 1]
        .iter()
        .all(|a| *a == Attempt::Failed(0)));
    assert_eq!(outcome.attempts[n - 1], Attempt::Won);
    assert_eq!(closures.load(Ordering::Relaxed), n);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        n,
        "every attempt dropped once"
    );
    // The outcome holds one byte-sized entry per attempt (`Attempt<u8>`), grown by doubling;
    // the futures must not add up: one slab chunk of kilobyte slots, and nothing more.
    let entries = (n * std::mem::size_of::<Attempt<u8>>()) as isize;
    let budget = 3 * entries + 64 * 1024;
    drop(outcome);
    // Measured before printing: the test harness's output capture allocates on this thread.
    let left = live() - base;
    println!(
        "{n} attempts: peak {peak} bytes above the start ({entries} for the outcome), \
         budget {budget}"
    );
    assert!(
        peak <= budget,
        "memory grew with finished attempts: peak {peak} > {budget}"
    );
    assert_eq!(left, 0, "the race freed everything it allocated");
}

/// An attempt that waits for a value sent from another thread.
fn remote_attempt(
    rx: tokio::sync::oneshot::Receiver<Result<usize, usize>>,
    drops: Arc<AtomicUsize>,
) -> impl Future<Output = Result<usize, usize>> {
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let guard = Guard(drops);
    async move {
        let _guard = guard;
        rx.await.expect("sender kept")
    }
}

#[test]
fn ten_thousand_pending_at_once_woken_from_8_threads_on_tokio() {
    let n = TEN_THOUSAND;
    let winner = n / 2 + 7;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::with_capacity(n);
    let mut receivers = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel();
        senders.push(Some(tx));
        receivers.push(rx);
    }
    let started = Arc::new(AtomicUsize::new(0));
    let race = {
        let drops = Arc::clone(&drops);
        let started = Arc::clone(&started);
        staggered_race(
            receivers.into_iter().map(move |rx| {
                let drops = Arc::clone(&drops);
                let started = Arc::clone(&started);
                move || {
                    started.fetch_add(1, Ordering::Relaxed);
                    remote_attempt(rx, drops)
                }
            }),
            Some(Duration::ZERO), // all at once
            NoTimer,
        )
    };
    let handle = rt.spawn(race);
    // Wait until every attempt is pending.
    while started.load(Ordering::Relaxed) < n {
        std::thread::yield_now();
    }
    // 8 threads fail every attempt but the winner, all at the same time.
    let winner_tx = senders[winner].take().unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let chunks: Vec<Vec<(usize, tokio::sync::oneshot::Sender<_>)>> = {
        let mut chunks: Vec<Vec<_>> = (0..8).map(|_| Vec::new()).collect();
        for (i, tx) in senders.into_iter().enumerate() {
            if let Some(tx) = tx {
                chunks[i % 8].push((i, tx));
            }
        }
        chunks
    };
    std::thread::scope(|s| {
        for chunk in chunks {
            let barrier = Arc::clone(&barrier);
            s.spawn(move || {
                barrier.wait();
                for (i, tx) in chunk {
                    tx.send(Err(i)).unwrap();
                }
            });
        }
    });
    // Every failure was sent (and its wake queued) before the winner's.
    assert!(!winner_tx.is_closed());
    winner_tx.send(Ok(winner)).unwrap();
    let outcome = rt.block_on(handle).unwrap();
    assert_eq!(outcome.winner, Some((winner, winner)));
    assert_eq!(outcome.attempts.len(), n);
    // Every failure was woken before the winner: in an earlier round, or in the winner's,
    // which goes in start order. So each attempt started before the winner failed, and each
    // started after it failed (an earlier round) or was cancelled (the winner's round).
    for (i, a) in outcome.attempts.iter().enumerate() {
        match i.cmp(&winner) {
            std::cmp::Ordering::Less => assert_eq!(*a, Attempt::Failed(i), "attempt {i}"),
            std::cmp::Ordering::Equal => assert_eq!(*a, Attempt::Won),
            std::cmp::Ordering::Greater => assert!(
                matches!(a, Attempt::Cancelled) || *a == Attempt::Failed(i),
                "attempt {i}: {a:?}"
            ),
        }
    }
    assert_eq!(
        drops.load(Ordering::Relaxed),
        n,
        "every attempt dropped once"
    );
}

#[test]
fn ten_thousand_pending_racing_winner_on_tokio() {
    // The same, but the winner's value is sent while the 8 threads are failing the others:
    // any split of Failed and Cancelled is right, as long as each attempt is accounted for.
    let n = TEN_THOUSAND;
    let winner = 3 * n / 4;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..n).map(|_| tokio::sync::oneshot::channel()).unzip();
    let race = {
        let drops = Arc::clone(&drops);
        staggered_race(
            receivers.into_iter().map(move |rx| {
                let drops = Arc::clone(&drops);
                move || remote_attempt(rx, drops)
            }),
            Some(Duration::ZERO),
            NoTimer,
        )
    };
    let handle = rt.spawn(race);
    let barrier = Arc::new(Barrier::new(8));
    let mut chunks: Vec<Vec<_>> = (0..8).map(|_| Vec::new()).collect();
    for (i, tx) in senders.into_iter().enumerate() {
        chunks[i % 8].push((i, tx));
    }
    std::thread::scope(|s| {
        for chunk in chunks {
            let barrier = Arc::clone(&barrier);
            s.spawn(move || {
                barrier.wait();
                for (i, tx) in chunk {
                    // The race may be over already: a closed channel is fine.
                    let _ = tx.send(if i == winner { Ok(i) } else { Err(i) });
                }
            });
        }
    });
    let outcome = rt.block_on(handle).unwrap();
    // The winner is the only `Ok`, whenever it arrived. If it arrived before the race had
    // started every attempt, the later ones never started: every started attempt has an
    // entry, and every entry is consistent.
    assert_eq!(outcome.winner, Some((winner, winner)));
    let (mut failed, mut cancelled) = (0, 0);
    for (i, a) in outcome.attempts.iter().enumerate() {
        match a {
            Attempt::Won => assert_eq!(i, winner),
            Attempt::Failed(e) => {
                assert_eq!(*e, i);
                failed += 1;
            }
            Attempt::Cancelled => cancelled += 1,
        }
    }
    let started = outcome.attempts.len();
    assert_eq!(failed + cancelled + 1, started);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        started,
        "every started attempt dropped once"
    );
    println!("{n} attempts: {started} started, {failed} failed, {cancelled} cancelled");
}

/// An attempt that hands a clone of its waker out, then hangs.
struct KeepsWaker(Arc<std::sync::Mutex<Vec<Waker>>>);

impl Future for KeepsWaker {
    type Output = Result<(), ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.lock().unwrap().push(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn a_kept_waker_frees_its_memory_with_the_last_clone() {
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    let base = live();
    {
        let kept = Arc::clone(&kept);
        let race = staggered_race(
            (0..20).map(move |_| {
                let kept = Arc::clone(&kept);
                move || KeepsWaker(kept)
            }),
            Some(Duration::ZERO),
            NoTimer,
        );
        let mut race = std::pin::pin!(race);
        let waker = futures::task::noop_waker();
        assert!(race
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    // The race is gone; the kept wakers still hold its waker chunks.
    let mut wakers: Vec<Waker> = std::mem::take(&mut *kept.lock().unwrap());
    // Attempts 0 to 7 ran in task mode, polled with the task's waker (the noop waker here);
    // as the ninth started, the race made its wakers, and each of the 8 was polled once
    // more, with its own: 28 wakers, the first 8 of them the task's.
    assert_eq!(wakers.len(), 28);
    drop(wakers.drain(..8));
    let held = live() - base;
    assert!(held > 0, "the kept wakers hold memory");
    // Waking them does nothing harmful, and allocates nothing.
    for w in &wakers {
        w.wake_by_ref();
    }
    assert_eq!(live() - base, held);
    // Dropping all but one keeps the chunks; dropping the last frees them.
    let last = wakers.pop().unwrap();
    let first_chunk_waker = wakers.remove(0);
    drop(wakers);
    assert!(live() - base > 0);
    drop(first_chunk_waker);
    last.wake();
    // `Vec` buffers of this test are gone too: back to where we started.
    assert_eq!(live(), base, "memory freed with the last waker clone");
}
