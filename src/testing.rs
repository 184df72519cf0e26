//! Deterministic, virtual-time testing: [`ManualClock`]; and [`check_timer`], a conformance
//! check for a [`Timer`] of your own.
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

use std::boxed::Box;
use std::collections::BTreeMap;
use std::format;
use std::future::Future;
use std::pin::Pin;
use std::string::String;
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

// ---------------------------------------------------------------------------------------------
// A conformance check for a `Timer`.

/// Checks that `timer` keeps the contract of [`Timer`], on a host, and says why when it does
/// not: the check for a timer of your own (firmware's, a custom executor's) before it drives
/// a race.
///
/// It makes sleeps, polls them by hand with wakers of its own, lets time pass with `wait`,
/// and watches which wakers are woken and when each sleep completes. It fails with a
/// [`TimerCheckError`] whose [`kind`](TimerCheckError::kind) and message say what was wrong:
///
/// | the timer... | kind |
/// |---|---|
/// | completes a sleep before its duration has passed | [`FiredEarly`](TimerCheckFailure::FiredEarly) |
/// | does not wake a due sleep's waker, or not within the patience below | [`NotWoken`](TimerCheckFailure::NotWoken) |
/// | wakes a waker a sleep was polled with before, not the last one | [`StaleWaker`](TimerCheckFailure::StaleWaker) |
/// | keeps one deadline per waker and loses the earlier of two sleeps polled with the same waker (the array race's attempts share the task's waker) | [`EarliestDeadlineLost`](TimerCheckFailure::EarliestDeadlineLost) |
/// | loses a [`reset`](Timer::reset) (to an earlier or a later deadline, or of a sleep that had completed: the race re-arms the sleep it last waited on) | [`ResetLost`](TimerCheckFailure::ResetLost) |
/// | panics, overflows or completes at once on a huge duration, up to [`Duration::MAX`] | [`HugeDuration`](TimerCheckFailure::HugeDuration) |
/// | panics on an ordinary call | [`Panicked`](TimerCheckFailure::Panicked) |
///
/// # Time
///
/// `wait(d)` returns a future that completes once `d` has passed on the timer's clock, and
/// drives that clock meanwhile. It is how one function serves both kinds of timer:
///
/// - a virtual clock (a tick count you advance, a [`ManualClock`], tokio's paused clock):
///   `wait` advances it, by exactly `d`; the check then takes no real time;
/// - a real clock (tokio, async-io, futures-timer, embassy on `std`): `wait` is the runtime's
///   own sleep, and the check runs inside that runtime (`block_on`) so that its timers are
///   driven.
///
/// `unit` is the time scale: the short sleeps last 2 units, and time passes a unit at a time
/// (use a multiple of your timer's tick); a passing timer takes about 25 units (half a second
/// with a `unit` of 20 ms). A sleep that is not woken within
/// [`PATIENCE_UNITS`] units after its deadline counts as not woken; a sleep that completes
/// before its duration has passed fails, unless the real time since it was made (measured with
/// [`std::time::Instant`]) had reached its duration: so a busy machine that oversleeps makes
/// the check no stricter, and a virtual clock is checked exactly. The long sleeps last a day:
/// they never complete during the check.
///
/// The check returns an error rather than panicking, so that a test can show it or match on
/// its kind; `check_timer(..).await.unwrap()` panics with the message. A panic inside the
/// timer is caught and reported as an error.
///
/// # Panics
///
/// If `unit` is zero. (A panic of the timer's is caught and reported, as above.)
///
/// # `NoTimer`
///
/// [`NoTimer`](crate::timer::NoTimer) fails the check with
/// [`Panicked`](TimerCheckFailure::Panicked) at its first sleep: it cannot sleep, by design
/// (it is the timer of races that never wait), and the check is for timers that sleep.
///
/// # Example
///
/// A [`ManualClock`] passes, in virtual time:
///
/// ```
/// use std::time::Duration;
/// use staggered::testing::{check_timer, ManualClock};
///
/// let clock = ManualClock::new();
/// let result = clock.block_on(check_timer(&clock, Duration::from_millis(10), |d| clock.sleep(d)));
/// assert_eq!(result, Ok(()));
/// ```
///
/// So does tokio's timer, in real time, inside its runtime:
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// use std::time::Duration;
/// use staggered::{testing::check_timer, timer::TokioTimer};
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// rt.block_on(check_timer(&TokioTimer, Duration::from_millis(10), tokio::time::sleep)).unwrap();
/// # }
/// ```
///
/// And a timer that forgets resets does not:
///
/// ```
/// use std::{pin::Pin, time::Duration};
/// use staggered::testing::{check_timer, ManualClock, ManualSleep, TimerCheckFailure};
/// use staggered::Timer;
///
/// struct Forgetful(ManualClock);
///
/// impl Timer for Forgetful {
///     type Sleep = ManualSleep;
///     fn sleep(&self, duration: Duration) -> ManualSleep {
///         self.0.sleep(duration)
///     }
///     fn reset(&self, _: Pin<&mut ManualSleep>, _: Duration) {} // wrong: keeps the old deadline
/// }
///
/// let clock = ManualClock::new();
/// let timer = Forgetful(clock.clone());
/// let err = clock
///     .block_on(check_timer(&timer, Duration::from_millis(10), |d| clock.sleep(d)))
///     .unwrap_err();
/// assert_eq!(err.kind(), TimerCheckFailure::ResetLost);
/// println!("{err}");
/// ```
pub async fn check_timer<T, W, F>(timer: &T, unit: Duration, wait: W) -> Result<(), TimerCheckError>
where
    T: Timer,
    W: FnMut(Duration) -> F,
    F: Future<Output = ()>,
{
    assert!(!unit.is_zero(), "check_timer: the unit must not be zero");
    let mut check = Check {
        timer,
        unit,
        wait,
        waited: Duration::ZERO,
    };
    check.fires().await?;
    check.wakes_the_last_waker().await?;
    check.keeps_the_earliest_deadline_per_waker(false).await?;
    check.keeps_the_earliest_deadline_per_waker(true).await?;
    check.reset_earlier().await?;
    check.reset_later().await?;
    check.reset_after_completion().await?;
    // Last: a reset to `Duration::MAX` that ended the sleep is an overflow, not a lost reset.
    check.huge_durations().await?;
    Ok(())
}

/// How many units after its deadline [`check_timer`] waits for a sleep's wake-up before it
/// calls the timer wrong: 50 (half a second with a `unit` of 10 ms).
pub const PATIENCE_UNITS: u32 = 50;

/// The duration of [`check_timer`]'s long sleeps: they must not complete during the check.
const LONG: Duration = Duration::from_secs(86_400);

/// What was wrong with a timer, by [`check_timer`].
///
/// ```
/// use staggered::testing::TimerCheckFailure;
///
/// let kind = TimerCheckFailure::ResetLost;
/// assert_ne!(kind, TimerCheckFailure::FiredEarly);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimerCheckFailure {
    /// A sleep completed before its duration had passed.
    FiredEarly,
    /// A due sleep's waker was not woken (within [`PATIENCE_UNITS`] units of its deadline).
    NotWoken,
    /// A sleep polled with one waker, then another, woke the first and not the last.
    StaleWaker,
    /// Two sleeps polled with the same waker: the waker was not woken at the earlier deadline.
    EarliestDeadlineLost,
    /// A [`reset`](Timer::reset) was lost: the sleep kept its old deadline, or stayed
    /// complete.
    ResetLost,
    /// A huge duration (up to [`Duration::MAX`]) made the timer panic, or a sleep complete.
    HugeDuration,
    /// The timer panicked on an ordinary call.
    Panicked,
}

/// Why a timer failed [`check_timer`]: a [`kind`](Self::kind) to match on, and a message
/// (its `Display`, and its `Debug`, so that `unwrap` shows it) that says what the check did
/// and what it saw.
///
/// ```
/// use std::time::Duration;
/// use staggered::testing::{check_timer, TimerCheckFailure};
/// use staggered::timer::NoTimer;
///
/// let err = futures::executor::block_on(check_timer(&NoTimer, Duration::from_millis(1), |_| async {}))
///     .unwrap_err();
/// assert_eq!(err.kind(), TimerCheckFailure::Panicked);
/// assert!(err.to_string().contains("cannot sleep"), "{err}");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TimerCheckError {
    kind: TimerCheckFailure,
    message: String,
}

impl TimerCheckError {
    /// What was wrong.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use staggered::testing::{check_timer, TimerCheckFailure};
    /// # let err = futures::executor::block_on(check_timer(&staggered::timer::NoTimer, Duration::from_millis(1), |_| async {})).unwrap_err();
    /// assert_eq!(err.kind(), TimerCheckFailure::Panicked);
    /// ```
    pub fn kind(&self) -> TimerCheckFailure {
        self.kind
    }

    fn new(kind: TimerCheckFailure, message: String) -> Self {
        TimerCheckError { kind, message }
    }
}

impl std::fmt::Display for TimerCheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::fmt::Debug for TimerCheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for TimerCheckError {}

/// A waker of the check's own: counts its wake-ups.
#[derive(Default)]
struct Probe {
    wakes: std::sync::atomic::AtomicUsize,
}

impl Probe {
    fn new() -> (Arc<Probe>, Waker) {
        let probe = Arc::new(Probe::default());
        let waker = Waker::from(Arc::clone(&probe));
        (probe, waker)
    }

    /// Whether it was woken since the last call.
    fn take(&self) -> bool {
        self.wakes.swap(0, Ordering::SeqCst) > 0
    }

    fn woken(&self) -> bool {
        self.wakes.load(Ordering::SeqCst) > 0
    }
}

impl Wake for Probe {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A point in the check's time: the time waited so far, and the real time.
#[derive(Clone, Copy)]
struct Mark {
    waited: Duration,
    real: std::time::Instant,
}

/// A sleep being watched: when it was armed, for how long, and how to name it.
struct Armed<'a> {
    mark: Mark,
    d: Duration,
    what: &'a str,
}

/// What became of a sleep the check watched until its deadline and past.
enum Seen {
    /// Completed after its duration.
    Fired,
    /// Completed this long after it was armed, before its duration.
    Early(Duration),
    /// Not woken within the patience; `true` if it was nonetheless ready when polled.
    NotWoken(bool),
}

struct Check<'t, T, W> {
    timer: &'t T,
    unit: Duration,
    wait: W,
    /// The time `wait` was asked to let pass, in all.
    waited: Duration,
}

/// The message of a panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)")
}

type Sleep<T> = Pin<Box<<T as Timer>::Sleep>>;

impl<T, W, F> Check<'_, T, W>
where
    T: Timer,
    W: FnMut(Duration) -> F,
    F: Future<Output = ()>,
{
    fn mark(&self) -> Mark {
        Mark {
            waited: self.waited,
            real: std::time::Instant::now(),
        }
    }

    /// The time waited since `mark`.
    fn since(&self, mark: Mark) -> Duration {
        self.waited - mark.waited
    }

    /// Lets `d` pass.
    async fn pass(&mut self, d: Duration) {
        (self.wait)(d).await;
        self.waited += d;
    }

    /// Runs `call`, turning a panic into an error of `kind` that names `what`.
    fn guard<R>(
        kind: TimerCheckFailure,
        what: impl FnOnce() -> String,
        call: impl FnOnce() -> R,
    ) -> Result<R, TimerCheckError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|payload| {
            TimerCheckError::new(
                kind,
                format!(
                    "the timer panicked on {}: {}",
                    what(),
                    panic_message(&*payload)
                ),
            )
        })
    }

    fn sleep(&self, d: Duration, kind: TimerCheckFailure) -> Result<Sleep<T>, TimerCheckError> {
        let timer = self.timer;
        Self::guard(
            kind,
            || format!("sleep({d:?})"),
            || Box::pin(timer.sleep(d)),
        )
    }

    fn reset(
        &self,
        sleep: &mut Sleep<T>,
        d: Duration,
        kind: TimerCheckFailure,
    ) -> Result<(), TimerCheckError> {
        let timer = self.timer;
        Self::guard(
            kind,
            || format!("reset(.., {d:?})"),
            || timer.reset(sleep.as_mut(), d),
        )
    }

    fn poll(
        sleep: &mut Sleep<T>,
        waker: &Waker,
        kind: TimerCheckFailure,
        what: &str,
    ) -> Result<bool, TimerCheckError> {
        Self::guard(
            kind,
            || format!("a poll of {what}"),
            || {
                sleep
                    .as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_ready()
            },
        )
    }

    /// Whether a sleep of `d` armed at `mark` that completed now did so early.
    fn early(&self, mark: Mark, d: Duration) -> Option<Duration> {
        let waited = self.since(mark);
        (waited < d && mark.real.elapsed() < d).then_some(waited)
    }

    /// Polls `sleep` (armed at `mark` for `d`) at once if `poll_first`, and then whenever
    /// `probe` is woken, letting a unit pass at a time, until it completes or the patience
    /// after its deadline runs out.
    async fn watch(
        &mut self,
        sleep: &mut Sleep<T>,
        probe: &Probe,
        waker: &Waker,
        armed: Armed<'_>,
        poll_first: bool,
    ) -> Result<Seen, TimerCheckError> {
        let Armed { mark, d, what } = armed;
        let give_up = d.saturating_add(self.unit.saturating_mul(PATIENCE_UNITS));
        let mut first = poll_first;
        loop {
            let woken = probe.take() | std::mem::take(&mut first);
            if woken && Self::poll(sleep, waker, TimerCheckFailure::Panicked, what)? {
                return Ok(match self.early(mark, d) {
                    Some(after) => Seen::Early(after),
                    None => Seen::Fired,
                });
            }
            if self.since(mark) >= give_up {
                let ready = Self::poll(sleep, waker, TimerCheckFailure::Panicked, what)?;
                return Ok(Seen::NotWoken(ready));
            }
            self.pass(self.unit).await;
        }
    }

    fn fired_early(&self, what: &str, d: Duration, after: Duration) -> TimerCheckError {
        TimerCheckError::new(
            TimerCheckFailure::FiredEarly,
            format!(
                "{what} completed {after:?} after it was armed for {d:?}: before its duration had \
                 passed (a sleep may end late, never early)"
            ),
        )
    }

    fn not_woken(&self, what: &str, d: Duration, ready: bool) -> TimerCheckError {
        let patience = self.unit.saturating_mul(PATIENCE_UNITS);
        let ready = if ready {
            "; it was ready when polled, so it completed without waking the waker it was \
             polled with"
        } else {
            ""
        };
        TimerCheckError::new(
            TimerCheckFailure::NotWoken,
            format!(
                "{what} (armed for {d:?}) did not wake its waker within {patience:?} after its \
                 deadline{ready}"
            ),
        )
    }

    /// A short sleep is pending at first and halfway, and wakes its waker once due; a zero
    /// sleep completes.
    async fn fires(&mut self) -> Result<(), TimerCheckError> {
        use TimerCheckFailure::Panicked;
        let d = self.unit.saturating_mul(2);
        let what = format!("a sleep of {d:?}");
        let (probe, waker) = Probe::new();
        let mark = self.mark();
        let mut sleep = self.sleep(d, Panicked)?;
        match self
            .watch(
                &mut sleep,
                &probe,
                &waker,
                Armed {
                    mark,
                    d,
                    what: &what,
                },
                true,
            )
            .await?
        {
            Seen::Fired => {}
            Seen::Early(after) => return Err(self.fired_early(&what, d, after)),
            Seen::NotWoken(ready) => return Err(self.not_woken(&what, d, ready)),
        }
        drop(self.completed_zero_sleep(&probe, &waker).await?);
        Ok(())
    }

    /// A sleep of `Duration::ZERO`, polled with `waker` until it completes.
    async fn completed_zero_sleep(
        &mut self,
        probe: &Probe,
        waker: &Waker,
    ) -> Result<Sleep<T>, TimerCheckError> {
        let what = "a sleep of Duration::ZERO";
        let mark = self.mark();
        let mut zero = self.sleep(Duration::ZERO, TimerCheckFailure::Panicked)?;
        match self
            .watch(
                &mut zero,
                probe,
                waker,
                Armed {
                    mark,
                    d: Duration::ZERO,
                    what,
                },
                true,
            )
            .await?
        {
            Seen::NotWoken(ready) => Err(self.not_woken(what, Duration::ZERO, ready)),
            _ => Ok(zero),
        }
    }

    /// Sleeps of huge durations, up to `Duration::MAX`, and a reset to `Duration::MAX`: no
    /// panic, and nothing completes.
    async fn huge_durations(&mut self) -> Result<(), TimerCheckError> {
        use TimerCheckFailure::HugeDuration;
        let huge = [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_secs(u64::MAX / 1000),
            Duration::from_millis(u64::MAX),
            Duration::from_micros(u64::MAX),
            Duration::from_nanos(u64::MAX),
        ];
        let (_probe, waker) = Probe::new();
        let mark = self.mark();
        let mut sleeps = Vec::with_capacity(huge.len() + 1);
        for d in huge {
            sleeps.push((d, self.sleep(d, HugeDuration)?, "sleep"));
        }
        let mut reset = self.sleep(self.unit.saturating_mul(2), TimerCheckFailure::Panicked)?;
        let _ = Self::poll(&mut reset, &waker, TimerCheckFailure::Panicked, "a sleep")?;
        self.reset(&mut reset, Duration::MAX, HugeDuration)?;
        sleeps.push((Duration::MAX, reset, "a sleep reset to"));
        for round in 0..2 {
            for (d, sleep, how) in &mut sleeps {
                let what = format!("{how} {d:?}");
                if Self::poll(sleep, &waker, HugeDuration, &what)? {
                    let after = self.since(mark);
                    return Err(TimerCheckError::new(
                        HugeDuration,
                        format!(
                            "{what} completed {after:?} after it was armed: a huge duration \
                             must saturate (never end, or end in decades), not overflow"
                        ),
                    ));
                }
            }
            if round == 0 {
                // Past the reset sleep's first deadline.
                self.pass(self.unit.saturating_mul(3)).await;
            }
        }
        Ok(())
    }

    /// A sleep polled with one waker, then another, wakes the last.
    async fn wakes_the_last_waker(&mut self) -> Result<(), TimerCheckError> {
        use TimerCheckFailure::Panicked;
        let d = self.unit.saturating_mul(2);
        let what = format!("a sleep of {d:?} polled with waker A, then waker B,");
        let (first, first_waker) = Probe::new();
        let (last, last_waker) = Probe::new();
        let mark = self.mark();
        let mut sleep = self.sleep(d, Panicked)?;
        // (A completed sleep is not polled again.)
        let ready = Self::poll(&mut sleep, &first_waker, Panicked, &what)?
            || Self::poll(&mut sleep, &last_waker, Panicked, &what)?;
        if ready {
            if let Some(after) = self.early(mark, d) {
                return Err(self.fired_early(&what, d, after));
            }
            return Ok(());
        }
        match self
            .watch(
                &mut sleep,
                &last,
                &last_waker,
                Armed {
                    mark,
                    d,
                    what: &what,
                },
                false,
            )
            .await?
        {
            Seen::Fired => Ok(()),
            Seen::Early(after) => Err(self.fired_early(&what, d, after)),
            Seen::NotWoken(_) if first.woken() => Err(TimerCheckError::new(
                TimerCheckFailure::StaleWaker,
                format!(
                    "{what} woke A, not B: a sleep must wake the waker of its last poll (an \
                     executor may move a task, and the race polls its sleep from whichever \
                     waker polled it last)"
                ),
            )),
            Seen::NotWoken(ready) => Err(self.not_woken(&what, d, ready)),
        }
    }

    /// Two sleeps polled with the same waker, the short one first or second: the waker is
    /// woken at the short one's deadline.
    async fn keeps_the_earliest_deadline_per_waker(
        &mut self,
        long_first: bool,
    ) -> Result<(), TimerCheckError> {
        use TimerCheckFailure::Panicked;
        let d = self.unit.saturating_mul(2);
        let order = if long_first {
            "one of 1 day, then one of"
        } else {
            "one of"
        };
        let then = if long_first {
            ""
        } else {
            ", then one of 1 day"
        };
        let what = format!("two sleeps polled with the same waker ({order} {d:?}{then}):");
        let (probe, waker) = Probe::new();
        let mark = self.mark();
        let mut long = self.sleep(LONG, Panicked)?;
        let mut short = self.sleep(d, Panicked)?;
        let (mut early, mut long_done) = (false, false);
        if long_first {
            long_done |= Self::poll(&mut long, &waker, Panicked, &what)?;
            early |= Self::poll(&mut short, &waker, Panicked, &what)?;
        } else {
            early |= Self::poll(&mut short, &waker, Panicked, &what)?;
            long_done |= Self::poll(&mut long, &waker, Panicked, &what)?;
        }
        if long_done {
            return Err(self.fired_early(
                &format!("{what} the one of 1 day"),
                LONG,
                Duration::ZERO,
            ));
        }
        if early {
            if let Some(after) = self.early(mark, d) {
                return Err(self.fired_early(&format!("{what} the short one"), d, after));
            }
            return Ok(());
        }
        // Not polled again first: the long sleep must stay the last to register the waker.
        let seen = self
            .watch(
                &mut short,
                &probe,
                &waker,
                Armed {
                    mark,
                    d,
                    what: &what,
                },
                false,
            )
            .await?;
        if Self::poll(&mut long, &waker, Panicked, &what)? {
            let after = self.since(mark);
            return Err(self.fired_early(&format!("{what} the one of 1 day"), LONG, after));
        }
        match seen {
            Seen::Fired => Ok(()),
            Seen::Early(after) => Err(self.fired_early(&format!("{what} the short one"), d, after)),
            Seen::NotWoken(_) => Err(TimerCheckError::new(
                TimerCheckFailure::EarliestDeadlineLost,
                format!(
                    "{what} the waker was not woken at the earlier deadline ({d:?}): a timer \
                     that keeps one deadline per waker must keep the earliest (the array \
                     race's attempts share the task's waker)"
                ),
            )),
        }
    }

    /// A long sleep reset to a short duration wakes at the new deadline.
    async fn reset_earlier(&mut self) -> Result<(), TimerCheckError> {
        use TimerCheckFailure::Panicked;
        let d = self.unit.saturating_mul(2);
        let what = format!("a sleep of 1 day reset to {d:?}");
        let (probe, waker) = Probe::new();
        let mut sleep = self.sleep(LONG, Panicked)?;
        if Self::poll(&mut sleep, &waker, Panicked, "a sleep of 1 day")? {
            return Err(self.fired_early("a sleep of 1 day", LONG, Duration::ZERO));
        }
        self.pass(self.unit).await;
        let mark = self.mark();
        self.reset(&mut sleep, d, Panicked)?;
        let seen = self
            .watch(
                &mut sleep,
                &probe,
                &waker,
                Armed {
                    mark,
                    d,
                    what: &what,
                },
                true,
            )
            .await?;
        match seen {
            Seen::Fired => Ok(()),
            Seen::Early(after) => Err(self.fired_early(&what, d, after)),
            Seen::NotWoken(ready) => Err(TimerCheckError::new(
                TimerCheckFailure::ResetLost,
                format!(
                    "{what} did not wake its waker within {:?} after the new deadline{}: the \
                     reset was lost (reset must re-arm the sleep in place)",
                    self.unit.saturating_mul(PATIENCE_UNITS),
                    if ready {
                        " (though it was ready when polled)"
                    } else {
                        ""
                    },
                ),
            )),
        }
    }

    /// A sleep that has completed, reset, is pending again and completes at its new deadline.
    async fn reset_after_completion(&mut self) -> Result<(), TimerCheckError> {
        use TimerCheckFailure::Panicked;
        let d = self.unit.saturating_mul(2);
        let what = format!("a sleep that had completed, reset to {d:?},");
        let (probe, waker) = Probe::new();
        let mut sleep = self.completed_zero_sleep(&probe, &waker).await?;
        let mark = self.mark();
        self.reset(&mut sleep, d, Panicked)?;
        let seen = self
            .watch(
                &mut sleep,
                &probe,
                &waker,
                Armed {
                    mark,
                    d,
                    what: &what,
                },
                true,
            )
            .await?;
        let lost = |how: &str| {
            TimerCheckError::new(
                TimerCheckFailure::ResetLost,
                format!(
                    "{what} {how}: the reset was lost (reset must re-arm a sleep whether or not \
                     it has completed: the race re-arms the sleep it last waited on)"
                ),
            )
        };
        match seen {
            Seen::Fired => Ok(()),
            Seen::Early(after) if after.is_zero() => Err(lost("was still complete")),
            Seen::Early(after) => Err(self.fired_early(&what, d, after)),
            Seen::NotWoken(_) => Err(lost(&format!(
                "did not wake its waker within {:?} after the new deadline",
                self.unit.saturating_mul(PATIENCE_UNITS)
            ))),
        }
    }

    /// A short sleep reset to a long duration does not complete at its old deadline.
    async fn reset_later(&mut self) -> Result<(), TimerCheckError> {
        use TimerCheckFailure::Panicked;
        let d = self.unit.saturating_mul(2);
        let what = format!("a sleep of {d:?} reset to 1 day");
        let (probe, waker) = Probe::new();
        let mut sleep = self.sleep(d, Panicked)?;
        let mark = self.mark();
        if Self::poll(&mut sleep, &waker, Panicked, "a sleep")? && self.early(mark, d).is_some() {
            return Err(self.fired_early(&format!("a sleep of {d:?}"), d, Duration::ZERO));
        }
        self.reset(&mut sleep, LONG, Panicked)?;
        let mark = self.mark();
        // Past the old deadline, polling on every wake-up and once at the end.
        let mut ready = false;
        for _ in 0..4 {
            self.pass(self.unit).await;
            ready = probe.take() && Self::poll(&mut sleep, &waker, Panicked, &what)?;
            if ready {
                break;
            }
        }
        if ready || Self::poll(&mut sleep, &waker, Panicked, &what)? {
            let after = self.since(mark);
            return Err(TimerCheckError::new(
                TimerCheckFailure::ResetLost,
                format!(
                    "{what} completed {after:?} after the reset, at its old deadline: the reset \
                     was lost (reset must re-arm the sleep in place)"
                ),
            ));
        }
        Ok(())
    }
}
