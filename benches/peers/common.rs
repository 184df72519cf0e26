//! What every implementation shares: the counting allocator, the timers, the attempts that wait
//! to be woken, and a minimal executor.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Counting allocator

/// The system allocator, counting allocations (and live bytes) while [`count`] runs. When not
/// counting, the only cost is one relaxed load, so timings are not skewed.
pub struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A reading of the counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub allocs: usize,
    pub live_bytes: isize,
}

/// Starts counting from zero. Single-threaded use only (the bench runs on one thread).
pub fn count_start() {
    ALLOCS.store(0, Ordering::Relaxed);
    LIVE.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
}

/// What was counted since [`count_start`] (counting goes on).
pub fn count_read() -> Counts {
    Counts {
        allocs: ALLOCS.load(Ordering::Relaxed),
        live_bytes: LIVE.load(Ordering::Relaxed),
    }
}

/// Stops counting and returns what was counted.
pub fn count_stop() -> Counts {
    COUNTING.store(false, Ordering::SeqCst);
    count_read()
}

// ---------------------------------------------------------------------------------------------
// Timers

/// A timer whose sleeps never fire and never register a waker: for scenarios whose attempts
/// settle at once, so the delay never matters and the timer costs nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NeverTimer;

impl staggered::Timer for NeverTimer {
    type Sleep = std::future::Pending<()>;

    fn sleep(&self, _: Duration) -> Self::Sleep {
        std::future::pending()
    }

    fn reset(&self, _: Pin<&mut Self::Sleep>, _: Duration) {}
}

/// A virtual clock, advanced the way tokio's paused clock is: a sleep that is not due yet
/// registers its waker, and when the executor has nothing left to run
/// ([`Spin::block_on_clock`]) the clock jumps to the earliest deadline a sleep waits for and
/// wakes the sleeps due then. So each sleep fires at its own instant, in deadline order, one
/// trip through the executor per distinct deadline, like a real timer, and no real time
/// passes. A sleep wakes the waker of its latest poll, as `staggered::Timer` asks.
///
/// The waiting sleeps are kept in deadline order, so registering a sleep whose deadline is
/// the latest (the usual case: the peers' sleeps register in deadline order), and firing the
/// earliest, cost the same whatever else waits, as a timer wheel's would; nobody pays more
/// for having more sleeps.
///
/// `staggered::testing::ManualClock` moves the same way, but it is shared across threads
/// behind a lock, counts what the race asks of it, and runs its own executor; this one is
/// single-threaded and keeps [`Spin`], so the clock's own cost stays small beside the races'.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock {
    inner: Rc<RefCell<Clock>>,
}

#[derive(Debug, Default)]
struct Clock {
    /// Nanoseconds since the clock was made.
    now: u64,
    /// The next sleep's id.
    next_id: u64,
    /// The sleeps that wait, each once, in `(deadline, id)` order: deadline, id, waker. Every
    /// deadline is later than `now` (`advance` takes out those it reaches).
    waiting: VecDeque<(u64, u64, Waker)>,
    /// How many times the clock has moved.
    moves: u64,
}

impl Clock {
    /// The deadline `duration` from now (saturating: `Duration::MAX` never fires).
    fn deadline(&self, duration: Duration) -> u64 {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.now.saturating_add(nanos)
    }

    /// Takes sleep `id`'s entry out, if it waits.
    fn unregister(&mut self, id: u64) {
        if let Some(at) = self.waiting.iter().position(|w| w.1 == id) {
            self.waiting.remove(at);
        }
    }
}

impl VirtualClock {
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.inner.borrow().now)
    }

    /// How many times [`advance`](Self::advance) has moved the clock: one per trip through
    /// the executor that a deadline cost.
    pub fn moves(&self) -> u64 {
        self.inner.borrow().moves
    }

    /// Jumps to the earliest deadline a sleep waits for and wakes every sleep due then;
    /// `false` if no sleep waits.
    pub fn advance(&self) -> bool {
        let mut clock = self.inner.borrow_mut();
        let Some(&(next, ..)) = clock.waiting.front() else {
            return false;
        };
        clock.now = next;
        clock.moves += 1;
        // Woken as they are taken out (no waker here polls anything as it wakes).
        while clock.waiting.front().is_some_and(|w| w.0 <= next) {
            let (.., waker) = clock.waiting.pop_front().expect("checked above");
            waker.wake();
        }
        true
    }
}

pub struct VirtualSleep {
    clock: Rc<RefCell<Clock>>,
    deadline: u64,
    id: u64,
    /// The waker its entry in the clock's list holds, while it waits there (until the clock
    /// reaches `deadline`, or a reset or drop takes it out).
    registered: Option<Waker>,
}

impl Future for VirtualSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut clock = this.clock.borrow_mut();
        if clock.now >= this.deadline {
            // (`advance` took the entry out as it reached the deadline.)
            this.registered = None;
            return Poll::Ready(());
        }
        match &this.registered {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(_) => {
                // Polled with another waker: the entry wakes that one from now on.
                let waker = cx.waker().clone();
                let id = this.id;
                let entry = clock.waiting.iter_mut().find(|w| w.1 == id);
                entry.expect("a registered sleep that is not due waits").2 = waker.clone();
                this.registered = Some(waker);
            }
            None => {
                let waker = cx.waker().clone();
                let key = (this.deadline, this.id);
                // In order; usually at the back, found at the first look.
                let at = clock
                    .waiting
                    .iter()
                    .rposition(|w| (w.0, w.1) <= key)
                    .map_or(0, |at| at + 1);
                clock.waiting.insert(at, (key.0, key.1, waker.clone()));
                this.registered = Some(waker);
            }
        }
        Poll::Pending
    }
}

impl Drop for VirtualSleep {
    fn drop(&mut self) {
        if self.registered.take().is_some() {
            self.clock.borrow_mut().unregister(self.id);
        }
    }
}

impl staggered::Timer for VirtualClock {
    type Sleep = VirtualSleep;

    fn sleep(&self, duration: Duration) -> VirtualSleep {
        let mut clock = self.inner.borrow_mut();
        clock.next_id += 1;
        VirtualSleep {
            clock: Rc::clone(&self.inner),
            deadline: clock.deadline(duration),
            id: clock.next_id,
            registered: None,
        }
    }

    fn reset(&self, sleep: Pin<&mut VirtualSleep>, duration: Duration) {
        // `VirtualSleep` is `Unpin`.
        let sleep = Pin::into_inner(sleep);
        let mut clock = self.inner.borrow_mut();
        if sleep.registered.take().is_some() {
            clock.unregister(sleep.id);
        }
        sleep.deadline = clock.deadline(duration);
    }
}

// ---------------------------------------------------------------------------------------------
// Attempts that wait to be woken (the wake scenario)

thread_local! {
    /// Each gate's waker, cloned on its first poll and kept: the bench wakes gate `i` with
    /// `wake_by_ref` on it, as a socket's readiness would.
    static BOARD: RefCell<Vec<Option<Waker>>> = const { RefCell::new(Vec::new()) };
}

/// The attempt future every implementation races, so they all do the same work. Like an
/// `async` block it is not `Unpin` (peers that need `Unpin` must box it), and it is
/// `Send + 'static` (a gate's state lives in a thread-local), so a `JoinSet` on a
/// current-thread runtime can spawn it.
pub struct Work {
    plan: Plan,
    _pinned: PhantomPinned,
}

enum Plan {
    /// Completes on its first poll with this result.
    Settle(Option<Result<u32, u32>>),
    /// Never completes; keeps the waker it was polled with so the bench can wake it, as a
    /// socket's readiness would.
    Gate(usize),
    /// Never completes, and never asks to be woken.
    Hang,
}

impl Work {
    pub fn settle(result: Result<u32, u32>) -> Self {
        Work {
            plan: Plan::Settle(Some(result)),
            _pinned: PhantomPinned,
        }
    }

    pub fn gate(id: usize) -> Self {
        Work {
            plan: Plan::Gate(id),
            _pinned: PhantomPinned,
        }
    }

    pub fn hang() -> Self {
        Work {
            plan: Plan::Hang,
            _pinned: PhantomPinned,
        }
    }
}

impl Future for Work {
    type Output = Result<u32, u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: nothing is moved out of the pinned value; `plan` is not structurally pinned.
        let plan = unsafe { &mut self.get_unchecked_mut().plan };
        match plan {
            Plan::Settle(result) => Poll::Ready(result.take().expect("polled after completion")),
            Plan::Gate(id) => {
                BOARD.with_borrow_mut(|board| {
                    let slot = &mut board[*id];
                    match slot {
                        Some(waker) if waker.will_wake(cx.waker()) => {}
                        _ => *slot = Some(cx.waker().clone()),
                    }
                });
                Poll::Pending
            }
            Plan::Hang => Poll::Pending,
        }
    }
}

/// Makes room for `n` gates, with no waker yet.
pub fn board_reset(n: usize) {
    BOARD.with_borrow_mut(|board| {
        board.clear();
        board.resize(n, None);
    });
}

/// Drops every kept waker.
pub fn board_clear() {
    BOARD.with_borrow_mut(|board| board.iter_mut().for_each(|w| *w = None));
}

/// How many gates have been polled at least once.
pub fn board_registered() -> usize {
    BOARD.with_borrow(|board| board.iter().filter(|w| w.is_some()).count())
}

/// Wakes gate `i`.
pub fn board_wake(i: usize) {
    BOARD.with_borrow(|board| {
        board[i]
            .as_ref()
            .expect("gate polled before it is woken")
            .wake_by_ref()
    });
}

// ---------------------------------------------------------------------------------------------
// Executor

/// The waker of [`Spin`]: sets a flag.
#[derive(Default)]
pub struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A minimal single-threaded executor, the same for every implementation that needs no
/// runtime: poll, and poll again while the future woke itself.
pub struct Spin {
    flag: Arc<Flag>,
    waker: Waker,
}

impl Spin {
    pub fn new() -> Self {
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(Arc::clone(&flag));
        Spin { flag, waker }
    }

    /// Polls until the future is pending and has not woken itself; `Some` if it completed.
    pub fn poll_idle<F: Future + ?Sized>(&self, mut fut: Pin<&mut F>) -> Option<F::Output> {
        let mut cx = Context::from_waker(&self.waker);
        loop {
            self.flag.0.store(false, Ordering::Relaxed);
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return Some(out);
            }
            if !self.flag.0.load(Ordering::Relaxed) {
                return None;
            }
        }
    }

    /// Runs a future that never waits on anything outside itself.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let fut = pin!(fut);
        self.poll_idle(fut)
            .expect("the future is stuck: pending and not woken")
    }

    /// Runs a future that waits only on `clock`'s sleeps: whenever it is idle, the clock jumps
    /// to the next deadline.
    pub fn block_on_clock<F: Future>(&self, fut: F, clock: &VirtualClock) -> F::Output {
        let mut fut = pin!(fut);
        loop {
            if let Some(out) = self.poll_idle(fut.as_mut()) {
                return out;
            }
            assert!(
                clock.advance(),
                "the future is stuck: pending, and no sleep waits"
            );
        }
    }
}

/// A small, fixed-seed random number generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n
    }
}
