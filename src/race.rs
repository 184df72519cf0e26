//! The race state machine, [`Core`], and the two races that run it: [`staggered_race`]
//! ([`StaggeredRace`], over a slab) and [`staggered_race_array`] ([`StaggeredRaceArray`], no
//! heap). [`Staggered`](crate::Staggered) builds either with every option.
//!
//! # Shape
//!
//! The race is a few flags ([`Flags`] and the `Phase`) over parts that each do one job:
//!
//! - the *source* of attempts, a [`SourceDriver`]: an iterator or a stream, read only in
//!   `State::start_next` (a pending stream is one more way for a due start to wait);
//! - the *storage* of running attempts, a [`Storage`]: the slab or the inline array (see
//!   `storage/`), used through `insert`, `poll`, `remove`, `for_each` and the rounds of
//!   wake-ups;
//! - the *record* of what became of each attempt, a [`Record`]: a `Vec` or an `ArrayVec`;
//! - the *timer*: one sleep for the next start, armed in `State::arm`, polled in
//!   `State::poll_sleep`; and, with a deadline, the deadline's sleep, polled at the start of
//!   every poll (`Limits::poll_deadline`);
//! - the *policies*, each a type parameter whose default compiles to what the plain race
//!   always did: the [`Delay`] (asked once per start), the [`Limits`] (the cap, checked in
//!   `State::can_start`, and the deadline) and the observer ([`Observe`]).
//!
//! `State::drive` is the whole scheduler: in rounds, handle what was woken, in wake order, and
//! between rounds start the next attempt if one is due and can be made, within a budget (the
//! "Fairness and co-operation" section of [`staggered_race`]). Every start, failure, win and
//! cancellation happens at one place each, and reports its event there: `start_next`, the two
//! arms of `poll_attempt`, `State::cancel_oldest`, `State::cancel_all` (a win or the
//! deadline) and `Core`'s drop (the race dropped while running).

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use arrayvec::ArrayVec;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use crate::builder::{
    Delay, Event, Fixed, IterDriver, Limits, NoEvents, NoLimits, Observe, Source, SourceDriver,
};
#[cfg(feature = "alloc")]
use crate::outcome::Outcome;
use crate::outcome::{ArrayOutcome, Attempt};
#[cfg(feature = "alloc")]
use crate::storage::Slab;
use crate::storage::{Inline, Storage, Woken};
use crate::timer::Timer;

/// Most units of work one `poll` of the race does before it yields. A unit is one attempt
/// started, one attempt polled, or one poll of the sleep.
pub(crate) const BUDGET: u32 = 128;
/// After this many attempts woke themselves during their own poll, the race yields: they are
/// asking the executor to run something else (as `FuturesUnordered` does).
pub(crate) const YIELD_AFTER_SELF_WAKES: u32 = 2;
/// Most `Outcome::attempts` entries reserved up front from the iterator's upper size bound.
#[cfg(feature = "alloc")]
const RESERVE_LIMIT: usize = 4096;
/// Most bytes of `Outcome::attempts` reserved up front.
#[cfg(feature = "alloc")]
const RESERVE_BYTES: usize = 64 * 1024;

mod sealed {
    pub trait Sealed {}
}

/// A factory for one attempt: called once, when the attempt starts, it returns the attempt's
/// future.
///
/// Implemented for every `FnOnce() -> Fut` where `Fut: Future<Output = Result<T, E>>`; it only
/// exists to name `Fut`, `T` and `E` in [`StaggeredRace`]'s `Future` implementation. You never
/// implement it yourself.
///
/// ```
/// use staggered::AttemptFn;
///
/// fn start<A: AttemptFn>(attempt: A) -> A::Future {
///     attempt.start()
/// }
/// let attempt = || async { Ok::<u8, ()>(7) };
/// assert_eq!(futures::executor::block_on(start(attempt)), Ok(7));
/// ```
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[`StaggeredRace`]: crate#features"
)]
pub trait AttemptFn: sealed::Sealed {
    /// The attempt's success value.
    type Ok;
    /// The attempt's error.
    type Error;
    /// The attempt's future.
    type Future: Future<Output = Result<Self::Ok, Self::Error>>;

    /// Starts the attempt.
    fn start(self) -> Self::Future;
}

impl<F, Fut, T, E> sealed::Sealed for F
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
}

impl<F, Fut, T, E> AttemptFn for F
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Ok = T;
    type Error = E;
    type Future = Fut;

    fn start(self) -> Fut {
        self()
    }
}

type OkOf<S> = <<S as SourceDriver>::Item as AttemptFn>::Ok;
type ErrorOf<S> = <<S as SourceDriver>::Item as AttemptFn>::Error;
type FutureOf<S> = <<S as SourceDriver>::Item as AttemptFn>::Future;

#[cfg(feature = "alloc")]
/// Runs attempts with staggered start times and keeps the first that succeeds.
///
/// This is CPython's `asyncio.staggered.staggered_race`, as a hand-written future:
///
/// - The first attempt starts on the first poll. Nothing happens before that.
/// - Attempt `i + 1` starts as soon as attempt `i` fails, or `delay` after attempt `i`
///   started, whichever comes first. Only the immediately preceding attempt's failure counts.
/// - `delay: None` runs the attempts one after another and never calls the timer.
///   `Some(Duration::ZERO)` starts them all at once (as CPython and Trio do), also without the
///   timer.
/// - The first `Ok` wins. Every other running attempt is dropped before the race returns, and
///   the iterator is not advanced again.
/// - If none wins, the race completes when the last attempt fails, with every error in start
///   order. An empty iterator completes at once.
///
/// After its start, an attempt is polled only when its own waker is woken (with one exception,
/// below: "Wakers only when needed"), and one poll of the race does a bounded amount of work,
/// so endless iterators and attempts that wake themselves cannot hang the executor.
///
/// # Fairness and co-operation
///
/// A poll of the race works in *rounds*. A round takes every wake-up that has arrived (of
/// attempts and of the delay's sleep) and handles them in the order they arrived, polling each
/// woken attempt once; wake-ups that arrive meanwhile wait for the next round. A start that is
/// due (the delay passed, or the newest attempt failed) is made between two rounds, before the
/// next round begins. Hence:
///
/// - **A due start is never held back by busy attempts.** It waits only for the round under
///   way and the round of the wake-up that made it due, never for the wake-ups that running
///   attempts keep making after, whatever they do: wake themselves, wake each other, or get
///   woken from other threads without pause. A round holds each running attempt (and the
///   sleep) at most once, and 128 wake-ups are handled per poll, so with `n` attempts running
///   the start is made within `ceil((2n + 1) / 128) + 1` polls of the race after that
///   wake-up: at most **two polls** while fewer than 64 attempts run.
/// - **Ties go to the attempts.** An attempt whose completion arrives in the same round as the
///   sleep's wake-up is handled first, so a win at that instant starts nothing.
/// - **Bounded work per poll.** A poll does at most 128 units of work (a start, a poll of an
///   attempt or of the sleep), and one more start if one is due when the budget runs out; a
///   round too large for what is left goes on, where it was, in the next poll. Once two
///   attempts woke themselves while polled, the poll ends at the end of the round, after the
///   due start. With work left the race wakes its task and returns `Pending`, so the executor
///   runs other tasks (this also keeps one poll within tokio's co-operative budget). Starts
///   that come due one after another (a zero delay) take at most half the budget while
///   wake-ups wait, so neither can starve the other. The one exception is the poll that
///   sees the [deadline](crate::Staggered::deadline) pass, the race's last: it takes in
///   every wake-up that had arrived, whatever their number, so that no outcome that had
///   arrived is lost.
/// - **Precise wake-ups.** Each wake-up of an attempt polls that attempt once, and no other.
/// - **Wakers only when needed.** The race makes its wakers (one allocation for the queue, one
///   per chunk of slots) when the first attempt stays pending. Until then attempts are polled
///   with the task's own waker; that first pending attempt is then polled once more, in the
///   next round, with its own waker (a future answers to the waker of its latest poll). So a
///   race whose attempts all finish on their first poll allocates only its slots and its
///   outcome: two allocations.
///
/// # Differences from asyncio
///
/// - **Cancellation is drop.** A losing attempt is dropped, which runs its destructors at once;
///   it gets no chance to run `except CancelledError` code, and there is no error value for it:
///   its entry is [`Attempt::Cancelled`]. Dropping the race itself drops every running attempt
///   and the pending sleep on the spot, where asyncio cancels the tasks and waits for them.
/// - **No tasks.** Attempts are polled inside the race's own `poll`, on the caller's task;
///   nothing is spawned. So attempts may borrow from the caller and need not be `Send` or
///   `'static`.
/// - **Eager starts.** A started attempt is polled at once, in the same `poll`, like asyncio's
///   eager tasks (gh-124309): one that is ready on its first poll is handled immediately.
/// - **Ties.** When the sleep fires at the same instant as an attempt completes, the attempt is
///   handled first, so no attempt is started only to be dropped.
///
/// # Panics
///
/// A panic in an attempt, a closure, the iterator or the timer reaches the caller of `poll`.
///
/// [`NoTimer`](crate::timer::NoTimer) cannot sleep: with it, a `delay` other than `None` or
/// zero panics (clearly worded) as soon as the race arms its first sleep, that is, once an
/// attempt is running and the next one is due later. The delay is a run-time value, so the
/// types cannot rule this out; give such a race a real [`Timer`].
///
/// ```should_panic
/// use std::time::Duration;
/// use staggered::{staggered_race, timer::NoTimer};
///
/// let race = staggered_race(
///     [|| std::future::pending::<Result<(), ()>>()],
///     Some(Duration::from_millis(250)),
///     NoTimer, // panics: "NoTimer cannot sleep (asked for 250ms) ..."
/// );
/// futures::executor::block_on(race);
/// ```
///
/// # Example
///
/// ```
/// use staggered::{staggered_race, timer::NoTimer};
///
/// let hosts = ["primary", "backup", "last-resort"];
/// let race = staggered_race(
///     hosts.iter().map(|host| move || async move {
///         if *host == "primary" { Err("unreachable") } else { Ok(*host) }
///     }),
///     None, // one after another
///     NoTimer,
/// );
/// let outcome = futures::executor::block_on(race);
/// assert_eq!(outcome.winner, Some((1, "backup")));
/// assert_eq!(outcome.into_result().unwrap(), (1, "backup"));
/// ```
pub fn staggered_race<I, F, Fut, T, E, Tm>(
    attempts: I,
    delay: Option<Duration>,
    timer: Tm,
) -> StaggeredRace<I::IntoIter, Tm>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    Tm: Timer,
{
    StaggeredRace::from_parts(
        attempts.into_iter().into_driver(),
        Fixed(delay),
        NoLimits,
        NoEvents,
        timer,
    )
}

/// Runs a fixed array of attempts with staggered start times and keeps the first that
/// succeeds, without any heap: the race for firmware and other code with no allocator
/// (it needs no `alloc` feature).
///
/// The semantics are [`staggered_race`]'s, point for point: when each attempt starts, who
/// wins, what is reported, ties, fairness and the co-operative budget. The differences are
/// in the cost:
///
/// - **Storage.** The `N` attempts' futures live inside the returned future, which is as
///   large as `N` of them plus the outcome's `N` entries; nothing is allocated, and the
///   outcome's list ([`ArrayOutcome::attempts`]) is an [`arrayvec::ArrayVec`].
/// - **Waking.** Without a heap, a waker cannot point into the race (an attempt may keep a
///   waker after the race is gone), so every attempt is polled with the task's own waker. A
///   poll of the race cannot tell which attempt was woken: it polls every running attempt
///   once, in start order, then the sleep. A wake-up costs up to `N` attempt polls, where
///   [`staggered_race`] polls exactly the attempt that was woken. For the small `N` this is
///   made for (the addresses of one host, a few replicas) that is cheaper than any heap.
/// - **Budget.** That round is whole: one poll does it all, whatever `N`, and no poll does
///   two. It counts against the budget of 128 units like the slab race's wake-ups (one per
///   running attempt, one for the sleep), and a round bigger than what is left (`N` of 128 or
///   more) still ends in that poll, with room for the one start that is due. The budget never
///   splits it: a round cut short would have to begin again in the next poll (nothing tells
///   which attempt was woken meanwhile), and at `N` near the budget that never ends.
/// - **Ties.** Attempts that complete in the same poll are handled in start order (the race
///   cannot see the order of their wake-ups), still before the sleep's start.
///
/// ```
/// use std::time::Duration;
/// use staggered::{staggered_race_array, testing::ManualClock, Attempt};
///
/// let clock = ManualClock::new();
/// let race = staggered_race_array(
///     ["hang", "fail", "succeed"].map(|plan| move || async move {
///         match plan {
///             "hang" => std::future::pending().await,
///             "fail" => Err("refused"),
///             _ => Ok("connected"),
///         }
///     }),
///     Some(Duration::from_millis(250)),
///     clock.clone(),
/// );
/// let outcome = clock.block_on(race);
/// assert_eq!(outcome.winner, Some((2, "connected")));
/// assert_eq!(*outcome.attempts, [Attempt::Cancelled, Attempt::Failed("refused"), Attempt::Won]);
/// assert_eq!(clock.now(), Duration::from_millis(250));
/// ```
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[`staggered_race`]: crate#features"
)]
pub fn staggered_race_array<F, Fut, T, E, Tm, const N: usize>(
    attempts: [F; N],
    delay: Option<Duration>,
    timer: Tm,
) -> StaggeredRaceArray<F, Tm, N>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    Tm: Timer,
{
    StaggeredRaceArray::from_parts(
        attempts.into_iter(),
        Fixed(delay),
        NoLimits,
        NoEvents,
        timer,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not polled yet.
    Fresh,
    /// Between polls.
    Running,
    /// Inside `poll`. Seen on entry, it means the previous poll panicked.
    Polling,
    /// Returned `Ready`.
    Done,
}

/// The fields of the race, borrowed for one poll.
struct State<'a, S: SourceDriver, St, R, Tm: Timer, D, Ev, L> {
    source: Pin<&'a mut S>,
    timer: &'a Tm,
    delay: &'a mut D,
    limits: &'a L,
    events: &'a mut Ev,
    sleep: Pin<&'a mut Option<Tm::Sleep>>,
    storage: Pin<&'a mut St>,
    attempts: &'a mut R,
    flags: &'a mut Flags,
}

/// The race's flags.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    /// The next attempt should start now: the newest one failed, or the delay passed.
    start_due: bool,
    /// The source has ended.
    exhausted: bool,
    /// The sleep is counting down to the next start.
    armed: bool,
    /// The source was pending: a due start waits for the next poll (see `State::drive`).
    waiting: bool,
    /// The deadline has passed: nothing more starts.
    expired: bool,
}

/// A race that is over: an attempt won (its index and value), or all failed (`None`).
type Finish<T> = Option<(usize, T)>;

impl<S, St, R, Tm, D, Ev, L> State<'_, S, St, R, Tm, D, Ev, L>
where
    S: SourceDriver,
    St: Storage<Fut = FutureOf<S>>,
    R: Record<ErrorOf<S>>,
    Tm: Timer,
    D: Delay,
    Ev: Observe<ErrorOf<S>>,
    L: Limits,
{
    /// A start is due and can be made now: the source is not known to be pending, and the
    /// cap leaves room (or the oldest may be cancelled). (Once the deadline has passed, the
    /// race runs `expire`, never `drive`: nothing starts.)
    fn can_start(&self) -> bool {
        let f = &*self.flags;
        // (The constant folds away the check a race without a stream never needs.)
        let waiting = S::CAN_PEND && f.waiting;
        f.start_due && !f.exhausted && !waiting && self.limits.may_start(self.storage.len())
    }

    /// Runs until the race is over, the budget is spent, or nothing is left to do now.
    ///
    /// The work goes in *rounds*: a round takes everything woken so far (attempts and the
    /// sleep) and handles it in wake order; what is woken meanwhile waits for the next round.
    /// A start that is due is made between two rounds, before the next round begins. So a
    /// completion woken together with the sleep is handled before the start the sleep makes
    /// due (the tie rule), and a due start waits only for the wake-ups that had arrived before
    /// it, never for those that busy attempts keep making after. The budget ends a poll
    /// anywhere in a round of the slab (the rest goes on in the next poll, where it was), and
    /// never inside a round of the inline storage, which must be whole
    /// ([`Storage::WHOLE_ROUNDS`]); the self-wake rule ends a poll only between rounds, after
    /// the due start. Runs only before the deadline (after it, `expire`).
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<Finish<OkOf<S>>> {
        let mut budget = BUDGET;
        let mut self_wakes = 0;
        if S::CAN_PEND && self.flags.waiting {
            // The stream was pending, and this poll may be its wake-up: what was woken with
            // it goes first, then the stream is asked again. So a completion at the instant
            // an item arrives is handled before the start the item makes possible (as with
            // the sleep), and a win then starts nothing.
            self.storage.as_mut().take_round();
            self.flags.waiting = false;
        }
        loop {
            if self.storage.in_round() {
                if budget == 0 && !St::WHOLE_ROUNDS {
                    // The rest of this round goes first in the next poll.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                // (A whole round may overdraw the budget: then only the due start follows.)
                budget = budget.saturating_sub(1);
                if let Some(finish) = self.handle_next(cx, &mut self_wakes) {
                    return Poll::Ready(finish);
                }
                continue;
            }

            // Between rounds: the due start first, always. More starts that come due one
            // after another (a zero delay, or attempts failing on their first poll) follow
            // while more than half the budget is left, so that neither starts nor rounds can
            // starve the other.
            let mut first = true;
            while self.can_start() && (first || budget > BUDGET / 2) {
                first = false;
                budget = budget.saturating_sub(1);
                if let Some(finish) = self.start_next(cx, &mut self_wakes) {
                    return Poll::Ready(finish);
                }
            }
            if !self.flags.armed && self.sleep.is_some() && !self.can_start() {
                // A sleep nothing waits for (its attempt failed while the start it made due
                // waits, or the next attempt has no delay) would only wake the task for
                // nothing: drop it. (A plain race re-arms or drops its sleep as it starts
                // the next attempt, so it gets here only past its budget.)
                self.sleep.set(None);
            }
            if budget == 0 || self_wakes >= YIELD_AFTER_SELF_WAKES {
                if self.storage.has_woken() || self.can_start() {
                    // Work is left: let the executor run other tasks, then come back.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            } else if self.storage.as_mut().take_round() || self.can_start() {
                continue;
            }

            if self.storage.is_empty() && self.flags.exhausted {
                return Poll::Ready(None);
            }
            // Idle. Register, then look once more: a wake that raced with the registration
            // is either seen now or wakes the new waker.
            self.storage.register(cx.waker());
            if !self.storage.has_woken() {
                return Poll::Pending;
            }
        }
    }

    /// Handles the next entry of the round under way: polls the attempt or the sleep.
    fn handle_next(
        &mut self,
        cx: &mut Context<'_>,
        self_wakes: &mut u32,
    ) -> Option<Finish<OkOf<S>>> {
        match self.storage.as_mut().pop_round()? {
            Woken::Timer => {
                self.poll_sleep(cx);
                None
            }
            Woken::Attempt(key) => self.poll_attempt(key, cx, self_wakes),
        }
    }

    /// The poll that sees the deadline pass, and the race's last: takes in every wake-up that
    /// had arrived, whatever the budget (the round a budget cut short, then one round of
    /// everything woken since), so that no completion that had arrived is lost. The rounds
    /// are bounded (each holds a running attempt at most once), and nothing starts. Then, if
    /// nothing runs and a start is due (a failure made it so), the source is asked once
    /// whether anything was left to start: the race is all-failed if not, timed out if so
    /// (an attempt it yields is dropped, never started).
    fn expire(&mut self, cx: &mut Context<'_>) -> Finish<OkOf<S>> {
        let mut self_wakes = 0;
        let rounds = if self.storage.in_round() { 2 } else { 1 };
        for _ in 0..rounds {
            if !self.storage.in_round() && !self.storage.as_mut().take_round() {
                break;
            }
            while self.storage.in_round() {
                if let Some(finish) = self.handle_next(cx, &mut self_wakes) {
                    return finish;
                }
            }
        }
        let f = &*self.flags;
        if self.storage.is_empty() && f.start_due && !f.exhausted {
            if let Poll::Ready(None) = self.source.as_mut().poll_next(cx) {
                self.flags.exhausted = true;
            }
        }
        None
    }

    /// Starts the next attempt, if the source has one now, and polls it at once.
    fn start_next(
        &mut self,
        cx: &mut Context<'_>,
        self_wakes: &mut u32,
    ) -> Option<Finish<OkOf<S>>> {
        let make = match self.source.as_mut().poll_next(cx) {
            Poll::Ready(Some(make)) => make,
            Poll::Ready(None) => {
                self.flags.start_due = false;
                self.flags.exhausted = true;
                self.flags.armed = false;
                // No start will ever need the sleep again.
                self.sleep.set(None);
                return None;
            }
            Poll::Pending => {
                // The start stays due; the source's wake-up brings the race back.
                self.flags.waiting = true;
                return None;
            }
        };
        self.flags.start_due = false;
        if self.limits.must_cancel_oldest(self.storage.len()) {
            // `can_start` let this through at the cap only to cancel the oldest.
            self.cancel_oldest();
        }
        let index = self.attempts.len();
        if index == 0 {
            self.attempts.reserve(self.source.upper_bound());
        }
        let fut = make.start();
        self.attempts.push(Attempt::Cancelled);
        let key = self.storage.as_mut().insert(index, fut);
        // Until the next start, this is the newest attempt: its failure starts the next one.
        self.flags.armed = false;
        if Ev::ENABLED {
            self.events.event(Event::Started { index });
        }
        // The policy is asked as the attempt starts; a fixed delay, which no one can watch
        // being asked, only when it is needed (it costs nothing to carry across the poll).
        let asked = if D::FIXED {
            None
        } else {
            Some(self.delay.after(index))
        };
        if let Some(finish) = self.poll_attempt(key, cx, self_wakes) {
            return Some(finish);
        }
        if !self.flags.start_due {
            // Still running (a failure would have made the next start due): schedule it.
            match asked.unwrap_or_else(|| self.delay.after(index)) {
                None => {}
                Some(Duration::ZERO) => self.flags.start_due = true,
                Some(delay) => self.arm(delay, cx),
            }
        }
        None
    }

    /// Cancels the running attempt that started first, to make room under the cap.
    fn cancel_oldest(&mut self) {
        let mut oldest: Option<(u32, usize)> = None;
        self.storage.for_each(|key, index| {
            if oldest.map_or(true, |(_, i)| index < i) {
                oldest = Some((key, index));
            }
        });
        if let Some((key, index)) = oldest {
            self.storage.as_mut().remove(key);
            if Ev::ENABLED {
                self.events.event(Event::Cancelled { index });
            }
        }
    }

    /// Sets the sleep to fire `delay` from now, and polls it once so it registers its waker.
    fn arm(&mut self, delay: Duration, cx: &mut Context<'_>) {
        match self.sleep.as_mut().as_pin_mut() {
            Some(sleep) => self.timer.reset(sleep, delay),
            None => self.sleep.set(Some(self.timer.sleep(delay))),
        }
        self.flags.armed = true;
        self.poll_sleep(cx);
    }

    /// Polls the sleep, if it is counting down; when it fires, the next start is due.
    fn poll_sleep(&mut self, cx: &mut Context<'_>) {
        if !self.flags.armed {
            return; // A stale wake from a sleep that no longer matters.
        }
        let Some(sleep) = self.sleep.as_mut().as_pin_mut() else {
            return;
        };
        if self
            .storage
            .as_mut()
            .poll_timer(cx, |cx| sleep.poll(cx))
            .is_ready()
        {
            self.flags.armed = false;
            self.flags.start_due = true;
        }
    }

    /// Polls the attempt in slot `key` and handles its result.
    fn poll_attempt(
        &mut self,
        key: u32,
        cx: &mut Context<'_>,
        self_wakes: &mut u32,
    ) -> Option<Finish<OkOf<S>>> {
        let polled = self.storage.as_mut().poll(key, cx)?;
        match polled.poll {
            Poll::Pending => {
                if polled.woke_itself {
                    *self_wakes += 1;
                }
                None
            }
            Poll::Ready(result) => {
                // The future is done: drop it now, not when the race ends.
                self.storage.as_mut().remove(key);
                let index = polled.index;
                match result {
                    Ok(value) => {
                        self.attempts.set(index, Attempt::Won);
                        if Ev::ENABLED {
                            self.events.event(Event::Won { index });
                        }
                        Some(Some((index, value)))
                    }
                    Err(error) => {
                        if Ev::ENABLED {
                            self.events.event(Event::Failed {
                                index,
                                error: &error,
                            });
                        }
                        self.attempts.set(index, Attempt::Failed(error));
                        if index + 1 == self.attempts.len() && !self.flags.exhausted {
                            // The newest attempt failed: start the next one now.
                            self.flags.start_due = true;
                            self.flags.armed = false;
                        }
                        None
                    }
                }
            }
        }
    }

    /// Cancels every running attempt (reporting each once it is dropped, in the order they
    /// are dropped) and drops the sleep.
    fn cancel_all(&mut self) {
        if Ev::ENABLED {
            let events = &mut *self.events;
            self.storage
                .as_mut()
                .clear_with(|index| events.event(Event::Cancelled { index }));
        } else {
            self.storage.as_mut().clear();
        }
        self.sleep.set(None);
    }
}

/// Where a race writes what became of each attempt: a `Vec` for [`StaggeredRace`], a
/// fixed-capacity `ArrayVec` for [`StaggeredRaceArray`].
pub(crate) trait Record<E>: Default {
    /// Room for the attempts of a source that says it has at most `upper` more.
    fn reserve(&mut self, upper: Option<usize>);
    fn push(&mut self, attempt: Attempt<E>);
    fn set(&mut self, index: usize, attempt: Attempt<E>);
    fn len(&self) -> usize;
}

#[cfg(feature = "alloc")]
impl<E> Record<E> for Vec<Attempt<E>> {
    fn reserve(&mut self, upper: Option<usize>) {
        // Reserve for what the iterator says it holds at most, when it says so (arrays,
        // `Vec`s, ranges, maps of them): at most `RESERVE_LIMIT` entries and `RESERVE_BYTES`
        // bytes. An endless or unknown iterator reserves nothing ahead: its entries grow by
        // doubling, so a race won early stays small.
        if let Some(upper) = upper {
            let entry = mem::size_of::<Attempt<E>>().max(1);
            let limit = RESERVE_LIMIT.min(RESERVE_BYTES / entry).max(1);
            self.reserve_exact(upper.saturating_add(1).min(limit));
        }
    }
    fn push(&mut self, attempt: Attempt<E>) {
        Vec::push(self, attempt)
    }
    fn set(&mut self, index: usize, attempt: Attempt<E>) {
        self[index] = attempt;
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

impl<E, const N: usize> Record<E> for ArrayVec<Attempt<E>, N> {
    fn reserve(&mut self, _: Option<usize>) {}
    fn push(&mut self, attempt: Attempt<E>) {
        // The source is an array of `N`: never more than `N` starts.
        ArrayVec::push(self, attempt)
    }
    fn set(&mut self, index: usize, attempt: Attempt<E>) {
        self[index] = attempt;
    }
    fn len(&self) -> usize {
        ArrayVec::len(self)
    }
}

pin_project_lite::pin_project! {
    /// The state machine both races run: a source of attempts, a storage for the running
    /// ones, a record of each attempt's fate, the timer's sleeps, the delay policy, the
    /// options and the observer.
    pub(crate) struct Core<S, St, R, Tm, D, Ev, L>
    where
        S: SourceDriver,
        St: Storage,
        Tm: Timer,
        Ev: Observe<ErrorOf<S>>,
        L: Limits,
    {
        #[pin]
        source: S,
        timer: Tm,
        delay: D,
        limits: L,
        events: Ev,
        #[pin]
        sleep: Option<Tm::Sleep>,
        // The deadline's sleep, made on the first poll (nothing without limits).
        #[pin]
        deadline: L::Slot<Tm::Sleep>,
        #[pin]
        storage: St,
        attempts: R,
        phase: Phase,
        flags: Flags,
    }
    impl<S, St, R, Tm, D, Ev, L> PinnedDrop for Core<S, St, R, Tm, D, Ev, L>
    where
        S: SourceDriver,
        St: Storage,
        Tm: Timer,
        Ev: Observe<ErrorOf<S>>,
        L: Limits,
    {
        fn drop(this: Pin<&mut Self>) {
            // Dropped while running: the attempts still running are cancelled now. Not after
            // a panic inside a poll (the race is broken), nor while a panic unwinds (a second
            // panic would abort).
            if !Ev::ENABLED || this.phase != Phase::Running || panicking() {
                return;
            }
            let this = this.project();
            let events = this.events;
            this.storage
                .clear_with(|index| events.event(Event::Cancelled { index }));
        }
    }
}

/// `true` while a panic unwinds (always `false` without `std`, which cannot tell).
fn panicking() -> bool {
    #[cfg(feature = "std")]
    return std::thread::panicking();
    #[cfg(not(feature = "std"))]
    return false;
}

impl<S, St, R, Tm, D, Ev, L> Core<S, St, R, Tm, D, Ev, L>
where
    S: SourceDriver,
    St: Storage<Fut = FutureOf<S>>,
    R: Record<ErrorOf<S>>,
    Tm: Timer,
    D: Delay,
    Ev: Observe<ErrorOf<S>>,
    L: Limits,
{
    fn new(source: S, delay: D, limits: L, events: Ev, timer: Tm, storage: St) -> Self {
        Core {
            source,
            timer,
            delay,
            limits,
            events,
            sleep: None,
            deadline: L::empty_slot(),
            storage,
            attempts: R::default(),
            phase: Phase::Fresh,
            flags: Flags::default(),
        }
    }

    /// Polls the race: the winner (or `None`), the record and whether the deadline ended it,
    /// once it is over.
    fn poll_race(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        name: &str,
    ) -> Poll<(Finish<OkOf<S>>, R, bool)> {
        let this = self.project();
        let fresh = match *this.phase {
            Phase::Done => panic!("`{name}` polled after it completed"),
            Phase::Polling => {
                panic!("`{name}` polled after a panic inside an earlier poll")
            }
            Phase::Fresh => true,
            Phase::Running => false,
        };
        *this.phase = Phase::Polling;
        let flags = this.flags;
        if fresh {
            flags.start_due = true;
        }
        let mut deadline = this.deadline;
        if L::CAN_EXPIRE && !flags.expired {
            flags.expired = this
                .limits
                .poll_deadline(deadline.as_mut(), this.timer, fresh, cx);
        }
        let mut storage = this.storage;
        storage.as_mut().begin_poll();
        let mut state = State {
            source: this.source,
            timer: this.timer,
            delay: this.delay,
            limits: this.limits,
            events: this.events,
            sleep: this.sleep,
            storage,
            attempts: this.attempts,
            flags,
        };
        let winner = if L::CAN_EXPIRE && state.flags.expired {
            // The deadline passed: take in what had arrived, then end.
            state.expire(cx)
        } else {
            match state.drive(cx) {
                Poll::Ready(winner) => winner,
                Poll::Pending => {
                    *this.phase = Phase::Running;
                    return Poll::Pending;
                }
            }
        };
        // Cut short by the deadline: no winner, and something was running or left to start.
        let timed_out = winner.is_none()
            && L::CAN_EXPIRE
            && state.flags.expired
            && (!state.storage.is_empty() || !state.flags.exhausted);
        // Drop every other running attempt and the sleeps before returning.
        state.cancel_all();
        L::clear_slot(deadline);
        *this.phase = Phase::Done;
        Poll::Ready((winner, mem::take(state.attempts), timed_out))
    }

    fn is_terminated(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Polling)
    }

    fn debug(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        f.debug_struct(name)
            .field("limits", &self.limits)
            .field("started", &self.attempts.len())
            .field("running", &self.storage.len())
            .field("exhausted", &self.flags.exhausted)
            .field("timed_out", &self.flags.expired)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "alloc")]
type SlabCore<S, Tm, D, Ev, L> = Core<
    <S as Source>::Driver,
    Slab<FutureOf<<S as Source>::Driver>>,
    Vec<Attempt<ErrorOf<<S as Source>::Driver>>>,
    Tm,
    D,
    Ev,
    L,
>;

#[cfg(feature = "alloc")]
pin_project_lite::pin_project! {
    /// The future returned by [`staggered_race`] and by
    /// [`Staggered::race`](crate::Staggered::race). It resolves to an [`Outcome`].
    ///
    /// `S` is the source of attempts (an iterator, or a [`FromStream`](crate::builder::FromStream)),
    /// `D` the delay policy and `Ev` the observer; the defaults are what
    /// [`staggered_race`] uses.
    ///
    /// It is `Send` when the source, the attempts' futures and values, the timer and its
    /// sleep, the delay policy and the observer are, and it is `Unpin` when the timer's
    /// sleep (and a stream source) is.
    ///
    /// # Panics
    ///
    /// Polling it again after it returned `Ready`, or after a poll panicked (because an
    /// attempt, a closure, the source, the timer, the delay policy or the observer panicked),
    /// panics with a message that says so.
    /// [`FusedFuture::is_terminated`](futures_core::FusedFuture::is_terminated) tells whether
    /// it may still be polled.
    ///
    /// # Example
    ///
    /// It is a plain future: await it, poll it by hand, or keep it in a struct.
    ///
    /// ```
    /// use futures::{future::FusedFuture, FutureExt};
    /// use staggered::{staggered_race, timer::NoTimer};
    ///
    /// let mut race = staggered_race([|| async { Ok::<_, ()>("up") }], None, NoTimer);
    /// assert!(!race.is_terminated());
    /// let outcome = (&mut race).now_or_never().expect("ready on its first poll");
    /// assert_eq!(outcome.winner, Some((0, "up")));
    /// assert!(race.is_terminated()); // polling it again would panic
    /// ```
    #[must_use = "a race does nothing unless polled"]
    pub struct StaggeredRace<S, Tm, D = Fixed, Ev = NoEvents, L = NoLimits>
    where
        S: Source,
        Tm: Timer,
        Ev: Observe<<S::Item as AttemptFn>::Error>,
        L: Limits,
    {
        #[pin]
        core: SlabCore<S, Tm, D, Ev, L>,
    }
}

#[cfg(feature = "alloc")]
impl<S, Tm, D, Ev, L> StaggeredRace<S, Tm, D, Ev, L>
where
    S: Source,
    Tm: Timer,
    D: Delay,
    Ev: Observe<<S::Item as AttemptFn>::Error>,
    L: Limits,
{
    pub(crate) fn from_parts(
        source: S::Driver,
        delay: D,
        limits: L,
        events: Ev,
        timer: Tm,
    ) -> Self {
        StaggeredRace {
            core: Core::new(source, delay, limits, events, timer, Slab::new()),
        }
    }
}

#[cfg(feature = "alloc")]
impl<S, Tm, D, Ev, L> Future for StaggeredRace<S, Tm, D, Ev, L>
where
    S: Source,
    Tm: Timer,
    D: Delay,
    Ev: Observe<<S::Item as AttemptFn>::Error>,
    L: Limits,
{
    type Output = Outcome<<S::Item as AttemptFn>::Ok, <S::Item as AttemptFn>::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .core
            .poll_race(cx, "StaggeredRace")
            .map(|(winner, attempts, timed_out)| Outcome {
                winner,
                attempts,
                timed_out,
            })
    }
}

#[cfg(feature = "alloc")]
impl<S, Tm, D, Ev, L> futures_core::FusedFuture for StaggeredRace<S, Tm, D, Ev, L>
where
    S: Source,
    Tm: Timer,
    D: Delay,
    Ev: Observe<<S::Item as AttemptFn>::Error>,
    L: Limits,
{
    fn is_terminated(&self) -> bool {
        self.core.is_terminated()
    }
}

#[cfg(feature = "alloc")]
impl<S, Tm, D, Ev, L> fmt::Debug for StaggeredRace<S, Tm, D, Ev, L>
where
    S: Source,
    Tm: Timer,
    D: Delay,
    Ev: Observe<<S::Item as AttemptFn>::Error>,
    L: Limits,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.debug(f, "StaggeredRace")
    }
}

type ArrayCore<F, Tm, const N: usize, D, Ev, L> = Core<
    IterDriver<core::array::IntoIter<F, N>>,
    Inline<<F as AttemptFn>::Future, N>,
    ArrayVec<Attempt<<F as AttemptFn>::Error>, N>,
    Tm,
    D,
    Ev,
    L,
>;

/// The future returned by [`staggered_race_array`] and by
/// [`Staggered::race_array`](crate::Staggered::race_array). It resolves to an
/// [`ArrayOutcome`].
///
/// No heap: the attempts' futures and the outcome's entries live inside it. It is `Send` when
/// the closures, their futures and values, the timer and its sleep, the delay policy and the
/// observer are, and `Unpin` when the futures and the sleep are.
///
/// # Panics
///
/// As [`StaggeredRace`]: polling it after it returned `Ready`, or after a poll panicked.
///
/// ```
/// use futures::{future::FusedFuture, FutureExt};
/// use staggered::{staggered_race_array, timer::NoTimer};
///
/// // It holds the attempts' futures (async blocks are not `Unpin`): pin it to poll it by hand.
/// let mut race = std::pin::pin!(staggered_race_array([|| async { Ok::<_, ()>("up") }], None, NoTimer));
/// assert!(!race.is_terminated());
/// let outcome = race.as_mut().now_or_never().expect("ready on its first poll");
/// assert_eq!(outcome.winner, Some((0, "up")));
/// assert!(race.is_terminated());
/// ```
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[`StaggeredRace`]: crate#features"
)]
#[must_use = "a race does nothing unless polled"]
pub struct StaggeredRaceArray<F, Tm, const N: usize, D = Fixed, Ev = NoEvents, L = NoLimits>
where
    F: AttemptFn,
    Tm: Timer,
    Ev: Observe<F::Error>,
    L: Limits,
{
    core: ArrayCore<F, Tm, N, D, Ev, L>,
}

impl<F, Tm, const N: usize, D, Ev, L> StaggeredRaceArray<F, Tm, N, D, Ev, L>
where
    F: AttemptFn,
    Tm: Timer,
    D: Delay,
    Ev: Observe<F::Error>,
    L: Limits,
{
    pub(crate) fn from_parts(
        source: core::array::IntoIter<F, N>,
        delay: D,
        limits: L,
        events: Ev,
        timer: Tm,
    ) -> Self {
        StaggeredRaceArray {
            core: Core::new(
                source.into_driver(),
                delay,
                limits,
                events,
                timer,
                Inline::new(),
            ),
        }
    }
}

impl<F, Tm, const N: usize, D, Ev, L> Future for StaggeredRaceArray<F, Tm, N, D, Ev, L>
where
    F: AttemptFn,
    Tm: Timer,
    D: Delay,
    Ev: Observe<F::Error>,
    L: Limits,
{
    type Output = ArrayOutcome<F::Ok, F::Error, N>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `core` is structurally pinned: it is never moved out of `self`, this type
        // has no `Drop` of its own, and it is `Unpin` only when `core` is (the auto impl).
        let core = unsafe { self.map_unchecked_mut(|race| &mut race.core) };
        core.poll_race(cx, "StaggeredRaceArray")
            .map(|(winner, attempts, timed_out)| ArrayOutcome {
                winner,
                attempts,
                timed_out,
            })
    }
}

impl<F, Tm, const N: usize, D, Ev, L> futures_core::FusedFuture
    for StaggeredRaceArray<F, Tm, N, D, Ev, L>
where
    F: AttemptFn,
    Tm: Timer,
    D: Delay,
    Ev: Observe<F::Error>,
    L: Limits,
{
    fn is_terminated(&self) -> bool {
        self.core.is_terminated()
    }
}

impl<F, Tm, const N: usize, D, Ev, L> fmt::Debug for StaggeredRaceArray<F, Tm, N, D, Ev, L>
where
    F: AttemptFn,
    Tm: Timer,
    D: Delay,
    Ev: Observe<F::Error>,
    L: Limits,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.debug(f, "StaggeredRaceArray")
    }
}
