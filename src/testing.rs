//! Deterministic, virtual-time testing: [`ManualClock`].
//!
//! Needs the feature `testing`.
//!
//! # Example
//!
//! A test of your own code's race, in virtual time: it takes no real time, and the timings are
//! exact.
//!
//! ```
//! use std::time::Duration;
//! use futures::future::Either;
//! use staggered::{staggered_race, testing::ManualClock};
//!
//! let clock = ManualClock::new();
//! let ms = Duration::from_millis;
//! // Two attempts that never answer: the race gives up on neither, so bound it.
//! let race = staggered_race(
//!     [(); 2].map(|()| || std::future::pending::<Result<(), ()>>()),
//!     Some(ms(250)),
//!     clock.clone(),
//! );
//! let deadline = clock.sleep(ms(1000));
//! let first = clock.block_on(async {
//!     futures::pin_mut!(race, deadline);
//!     match futures::future::select(race, deadline).await {
//!         Either::Left(_) => "the race",
//!         Either::Right(_) => "the deadline",
//!     }
//! });
//! assert_eq!(first, "the deadline");
//! assert_eq!(clock.now(), ms(1000)); // exactly, at once
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use std::vec::Vec;

use crate::Timer;

/// A [`Timer`] over a virtual clock that moves only when told to.
///
/// Time starts at zero. [`advance`](ManualClock::advance) moves it forward and wakes every
/// sleep that is due; [`block_on`](ManualClock::block_on) runs a future to completion, jumping
/// straight to the next deadline whenever the future is idle, so timings in tests are exact
/// and tests take no real time. Clones share one clock.
///
/// It also counts what the race asked of it, for tests of the race itself:
/// [`sleeps_created`](ManualClock::sleeps_created), [`resets`](ManualClock::resets) and
/// [`live_sleeps`](ManualClock::live_sleeps).
///
/// ```
/// use std::time::Duration;
/// use staggered::{staggered_race, testing::ManualClock};
///
/// let clock = ManualClock::new();
/// let ms = Duration::from_millis;
/// // Each attempt takes this long, then succeeds if its flag says so.
/// let plan = [(ms(1000), true), (ms(100), true), (ms(100), true)];
/// let race = staggered_race(
///     plan.iter().map(|&(takes, ok)| {
///         let clock = clock.clone();
///         move || async move {
///             clock.sleep(takes).await;
///             if ok { Ok(clock.now()) } else { Err(()) }
///         }
///     }),
///     Some(ms(250)),
///     clock.clone(),
/// );
/// let outcome = clock.block_on(race);
/// // Attempt 1 started at 250 ms and finished 100 ms later; attempt 2 never started.
/// assert_eq!(outcome.winner, Some((1, ms(350))));
/// assert_eq!(outcome.attempts.len(), 2);
/// assert_eq!(clock.now(), ms(350));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    inner: Arc<Mutex<ClockState>>,
}

#[derive(Default)]
struct ClockState {
    now: Duration,
    next_id: u64,
    /// Live sleeps: deadline and the waker of their last poll.
    sleeps: BTreeMap<u64, (Duration, Option<Waker>)>,
    created: usize,
    resets: usize,
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("ManualClock")
            .field("now", &state.now)
            .field("live_sleeps", &state.sleeps.len())
            .finish()
    }
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, ClockState> {
        // A panic elsewhere while the lock was held leaves the state consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The virtual time since the clock was made.
    pub fn now(&self) -> Duration {
        self.lock().now
    }

    /// Moves time forward by `by` and wakes every sleep that is then due.
    pub fn advance(&self, by: Duration) {
        let to = self.now().saturating_add(by);
        self.advance_to(to);
    }

    /// Moves time forward to `to` (never backward) and wakes every sleep that is then due.
    pub fn advance_to(&self, to: Duration) {
        let wakers: Vec<Waker> = {
            let mut state = self.lock();
            state.now = state.now.max(to);
            let now = state.now;
            state
                .sleeps
                .values_mut()
                .filter(|(deadline, _)| *deadline <= now)
                .filter_map(|(_, waker)| waker.take())
                .collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The earliest deadline of a live sleep that is still in the future.
    pub fn next_deadline(&self) -> Option<Duration> {
        let state = self.lock();
        state
            .sleeps
            .values()
            .map(|(deadline, _)| *deadline)
            .filter(|deadline| *deadline > state.now)
            .min()
    }

    /// How many sleeps [`Timer::sleep`] has made.
    pub fn sleeps_created(&self) -> usize {
        self.lock().created
    }

    /// How many times [`Timer::reset`] re-armed a sleep.
    pub fn resets(&self) -> usize {
        self.lock().resets
    }

    /// How many sleeps exist right now.
    pub fn live_sleeps(&self) -> usize {
        self.lock().sleeps.len()
    }

    /// A sleep of `duration` from now (the same as [`Timer::sleep`]).
    pub fn sleep(&self, duration: Duration) -> ManualSleep {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.created += 1;
        let deadline = state.now.saturating_add(duration);
        state.sleeps.insert(id, (deadline, None));
        ManualSleep {
            clock: self.clone(),
            id,
        }
    }

    /// Runs `fut` to completion on this thread in virtual time.
    ///
    /// Whenever the future is pending and nothing has woken it, the clock jumps to the next
    /// deadline of a live sleep. Virtual time moves only then, so a future that keeps waking
    /// itself holds the clock still, and one that waits for another thread sees the clock jump
    /// past its sleeps while it waits (wake-ups from other threads are for futures that have no
    /// sleep left to wait for).
    ///
    /// When the future is pending, nothing has woken it and no sleep is left, it may still be
    /// waiting for a wake-up from another thread (a channel a thread completes, say): the
    /// calling thread parks for up to [`STUCK_AFTER`](Self::STUCK_AFTER) of real time, and
    /// polls again as soon as the future is woken.
    ///
    /// # Panics
    ///
    /// If the future is pending, nothing woke it, no sleep is left to wait for, and no wake-up
    /// came within [`STUCK_AFTER`](Self::STUCK_AFTER): it would never complete.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::testing::ManualClock;
    ///
    /// // A wake-up from another thread, 50 ms of real time from now.
    /// let (tx, rx) = futures::channel::oneshot::channel();
    /// let thread = std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_millis(50));
    ///     tx.send("done").unwrap();
    /// });
    /// let clock = ManualClock::new();
    /// assert_eq!(clock.block_on(rx), Ok("done"));
    /// thread.join().unwrap();
    /// ```
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(false),
            thread: std::thread::current(),
        });
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        loop {
            flag.woken.store(false, Ordering::SeqCst);
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            if flag.woken.load(Ordering::SeqCst) {
                continue;
            }
            if let Some(deadline) = self.next_deadline() {
                self.advance_to(deadline);
                continue;
            }
            // Nothing to advance to: wait for a wake-up from another thread, for a while.
            let parked = std::time::Instant::now();
            while !flag.woken.load(Ordering::SeqCst) {
                let waited = parked.elapsed();
                if waited >= Self::STUCK_AFTER {
                    panic!(
                        "ManualClock::block_on: the future is stuck at {:?}: pending, not woken \
                         (not even from another thread, for {:?}), and no sleep is left to \
                         wait for",
                        self.now(),
                        Self::STUCK_AFTER
                    );
                }
                std::thread::park_timeout(Self::STUCK_AFTER - waited);
            }
        }
    }

    /// How long [`block_on`](Self::block_on) waits, in real time, for a wake-up from another
    /// thread before it calls the future stuck: 2 seconds.
    pub const STUCK_AFTER: Duration = Duration::from_secs(2);
}

/// The task waker of [`ManualClock::block_on`]: a flag, and the thread to unpark.
struct Flag {
    woken: AtomicBool,
    thread: std::thread::Thread,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// The sleep of a [`ManualClock`]: ready once the clock reaches its deadline.
///
/// ```
/// use std::time::Duration;
/// use staggered::testing::ManualClock;
///
/// let clock = ManualClock::new();
/// let sleep = clock.sleep(Duration::from_secs(3));
/// assert_eq!(sleep.deadline(), Duration::from_secs(3));
/// clock.block_on(sleep); // jumps straight to the deadline
/// assert_eq!(clock.now(), Duration::from_secs(3));
/// ```
#[derive(Debug)]
pub struct ManualSleep {
    clock: ManualClock,
    id: u64,
}

impl ManualSleep {
    /// The virtual time at which this sleep completes.
    pub fn deadline(&self) -> Duration {
        self.clock.lock().sleeps[&self.id].0
    }
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.clock.lock();
        let now = state.now;
        let entry = state
            .sleeps
            .get_mut(&self.id)
            .expect("a live sleep is registered");
        if entry.0 <= now {
            Poll::Ready(())
        } else {
            entry.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        self.clock.lock().sleeps.remove(&self.id);
    }
}

impl Timer for ManualClock {
    type Sleep = ManualSleep;

    fn sleep(&self, duration: Duration) -> ManualSleep {
        ManualClock::sleep(self, duration)
    }

    /// Re-arms in place: the same sleep gets a new deadline.
    fn reset(&self, sleep: Pin<&mut ManualSleep>, duration: Duration) {
        let mut state = self.lock();
        state.resets += 1;
        let deadline = state.now.saturating_add(duration);
        if let Some(entry) = state.sleeps.get_mut(&sleep.id) {
            entry.0 = deadline;
        }
    }
}
