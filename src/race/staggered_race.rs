//! [`staggered_race`] and the future it returns, [`StaggeredRace`]: the race over a slab,
//! which polls exactly the attempts that were woken, or, for a source that promises at most
//! [`SMALL`] attempts, over inline slots.

use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use super::race_core::{Core, Options, RunOptions};
use super::{ErrorOf, FutureOf, OkOf};
use crate::attempt::AttemptFn;
use crate::outcome::{Attempt, Outcome};
use crate::policy::{Delay, Fixed, Limits, NoEvents, NoLimits, Observe, Source, SourceDriver};
use crate::storage::{Inline, Slab, Storage};
use crate::timer::Timer;

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
/// After its start, an attempt is polled only when it may have been woken (below: "Small
/// races poll with the task's waker"), and one poll of the race does a bounded amount of
/// work, so endless iterators and attempts that wake themselves cannot hang the executor.
///
/// # Fairness and co-operation
///
/// A poll of the race works in *rounds*. A round takes every wake-up that has arrived (of
/// attempts and of the delay's sleep) and handles them in start order, then the sleep, polling
/// each woken attempt once; wake-ups that arrive meanwhile wait for the next round. A start that is
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
/// - **Ties between attempts go to the one that started first.** Attempts whose completions
///   arrive in the same round are handled in start order, whatever the order their wakers
///   fired in: the earliest-started `Ok` wins, the errors of attempts started before it are
///   reported, and later ones are cancelled.
///   [`staggered_race_array`](crate::staggered_race_array) has the same rule.
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
/// - **Small races poll with the task's waker.** While no more than 8 attempts have run at
///   once, the race has no wakers of its own: attempts are polled with the task's waker, as
///   in [`staggered_race_array`](crate::staggered_race_array), and each poll of the race polls
///   every attempt that was running when the poll began, once, in start order (an attempt
///   started during a poll is polled then, and not again in that poll). Such a race allocates
///   its slots and its outcome: two allocations, however its attempts behave. A race whose
///   source promises at most 4 attempts (`size_hint`, as an array, a `Vec` or a `Range` tell
///   theirs) keeps them inside the race instead, as `staggered_race_array` does: one
///   allocation, its outcome's.
/// - **Precise wake-ups past that.** The start that makes a ninth attempt run at once makes
///   the race's wakers (one allocation for the queue, one per chunk of slots), for good; each
///   running attempt is polled once more, in the next round, with its own waker (a future
///   answers to the waker of its latest poll). From then on each wake-up of an attempt polls
///   that attempt once, and no other, and a kept waker of a finished attempt polls nothing.
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
///   handled first, so no attempt is started only to be dropped. Attempts that complete in the
///   same wake-up are handled in start order; asyncio resumes them in the order their results
///   arrived. Start order makes the winner of a tie the same in both races and independent of
///   which waker happened to fire first.
///
/// # Panics
///
/// A panic in an attempt, a closure, the iterator or the timer reaches the caller of `poll`.
///
/// An iterator whose `size_hint` promised at most 4 attempts and that yields more than 4
/// breaks the `Iterator` contract: the poll that would start the fifth panics, saying so.
/// (One that breaks its promise but yields at most 4 runs as usual.)
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
#[inline]
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

/// Most attempts a source may promise (its upper size bound) for its race to keep them inline,
/// in [`Inline`] slots inside the race, rather than in a [`Slab`]. Under loom, none: the
/// models check the slab's wakers.
///
/// A small race (two to four addresses, a request and a hedge or two) is the common case. The
/// slab would cost it an allocation for its slots and the bookkeeping of a storage that can
/// grow; and a race that never holds more than this many attempts gives up nothing to inline
/// slots, since the slab would run it in task mode, with the same rounds. The price is the
/// race's size (the slots are in it) and `Unpin` (the race is `Unpin` only when its attempts'
/// futures are).
pub(crate) const SMALL: usize = if cfg!(loom) { 0 } else { 4 };

/// The types of a [`StaggeredRace`] on storage `St`, as one [`Options`] bundle for its
/// [`Core`]: never a value, only a type.
pub(super) struct RaceOptions<S, Tm, D, Ev, L, St>(PhantomData<(S, Tm, D, Ev, L, St)>);

impl<S, Tm, D, Ev, L, St> Options for RaceOptions<S, Tm, D, Ev, L, St>
where
    S: Source,
    Tm: Timer,
    Ev: Observe<<S::Item as AttemptFn>::Error>,
    L: Limits,
    St: Storage<Fut = FutureOf<S::Driver>>,
{
    type Source = S::Driver;
    type Storage = St;
    type Record = Vec<Attempt<ErrorOf<S::Driver>>>;
    type Timer = Tm;
    type Delay = D;
    type Observe = Ev;
    type Limits = L;
}

/// The race's [`Core`] on the slab.
type SlabCore<S, Tm, D, Ev, L> =
    Core<RaceOptions<S, Tm, D, Ev, L, Slab<FutureOf<<S as Source>::Driver>>>>;
/// The race's [`Core`] on inline slots.
type InlineCore<S, Tm, D, Ev, L> =
    Core<RaceOptions<S, Tm, D, Ev, L, Inline<FutureOf<<S as Source>::Driver>, SMALL>>>;

pin_project_lite::pin_project! {
    /// The race on whichever storage it was made with; it never changes (a pinned attempt
    /// cannot move). Each is a state machine of its own, so the choice costs one branch per
    /// poll, not one per step.
    #[project = CoreProj]
    enum Either<S, Tm, D, Ev, L>
    where
        S: Source,
        Tm: Timer,
        Ev: Observe<<S::Item as AttemptFn>::Error>,
        L: Limits,
    {
        Inline { #[pin] core: InlineCore<S, Tm, D, Ev, L> },
        Slab { #[pin] core: SlabCore<S, Tm, D, Ev, L> },
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`staggered_race`] and by
    /// [`Staggered::race`](crate::Staggered::race). It resolves to an [`Outcome`].
    ///
    /// `S` is the source of attempts (an iterator, or a [`FromStream`](crate::builder::FromStream)),
    /// `D` the delay policy and `Ev` the observer; the defaults are what
    /// [`staggered_race`] uses.
    ///
    /// It is `Send` when the source, the attempts' futures and values, the timer and its
    /// sleep, the delay policy and the observer are, and it is `Unpin` when the attempts'
    /// futures and the timer's sleep (and a stream source) are. A race whose source promises
    /// at most 4 attempts (its `size_hint`) keeps them inside itself, with no allocation for
    /// them, as [`staggered_race_array`](crate::staggered_race_array) does; a bigger or
    /// unknown one keeps them in a slab on the heap.
    ///
    /// # Panics
    ///
    /// Polling it again after it returned `Ready`, or after a poll panicked (because an
    /// attempt, a closure, the source, the timer, the delay policy or the observer panicked),
    /// panics with a message that says so.
    ///
    /// A source that promised at most 4 attempts (its `size_hint`) and yields more than 4,
    /// which breaks the `Iterator` contract, makes the poll that would start the fifth panic
    /// with a message that says so. (One that breaks its promise but yields at most 4 runs as
    /// usual.)
    ///
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
    /// // Async blocks are not `Unpin`, so neither is this race: pin it to poll it by hand.
    /// let mut race = Box::pin(staggered_race([|| async { Ok::<_, ()>("up") }], None, NoTimer));
    /// assert!(!race.is_terminated());
    /// let outcome = race.as_mut().now_or_never().expect("ready on its first poll");
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
        core: Either<S, Tm, D, Ev, L>,
    }
}

impl<S, Tm, D, Ev, L> StaggeredRace<S, Tm, D, Ev, L>
where
    S: Source,
    Tm: Timer,
    D: Delay,
    Ev: Observe<<S::Item as AttemptFn>::Error>,
    L: Limits,
{
    #[inline]
    pub(crate) fn from_parts(
        source: S::Driver,
        delay: D,
        limits: L,
        events: Ev,
        timer: Tm,
    ) -> Self {
        let core = match source.upper_bound() {
            Some(upper) if SMALL > 0 && upper <= SMALL => Either::Inline {
                core: Core::new(source, delay, limits, events, timer, Inline::new()),
            },
            _ => Either::Slab {
                core: Core::new(source, delay, limits, events, timer, Slab::new()),
            },
        };
        StaggeredRace { core }
    }
}

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
        match self.project().core.project() {
            CoreProj::Inline { core } => poll_core(core, cx),
            CoreProj::Slab { core } => poll_core(core, cx),
        }
    }
}

/// What a race of attempts from `S` resolves to.
type OutcomeOf<S> = Outcome<OkOf<S>, ErrorOf<S>>;

/// One poll of either core, each a function of its own: inlined into one `poll`, the two
/// state machines would share its registers (`cargo bench --bench instructions`: a slab
/// race's fall-through at N = 8 cost 4% more that way).
#[inline(never)]
fn poll_core<O>(core: Pin<&mut Core<O>>, cx: &mut Context<'_>) -> Poll<OutcomeOf<O::Source>>
where
    O: RunOptions<Record = Vec<Attempt<ErrorOf<<O as Options>::Source>>>>,
{
    core.poll_race(cx, "StaggeredRace")
        .map(|(winner, attempts, timed_out)| Outcome {
            winner,
            attempts,
            timed_out,
        })
}

impl<S, Tm, D, Ev, L> futures_core::FusedFuture for StaggeredRace<S, Tm, D, Ev, L>
where
    S: Source,
    Tm: Timer,
    D: Delay,
    Ev: Observe<<S::Item as AttemptFn>::Error>,
    L: Limits,
{
    fn is_terminated(&self) -> bool {
        match &self.core {
            Either::Inline { core } => core.is_terminated(),
            Either::Slab { core } => core.is_terminated(),
        }
    }
}

impl<S, Tm, D, Ev, L> fmt::Debug for StaggeredRace<S, Tm, D, Ev, L>
where
    S: Source,
    Tm: Timer,
    D: Delay,
    Ev: Observe<<S::Item as AttemptFn>::Error>,
    L: Limits,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.core {
            Either::Inline { core } => core.debug(f, "StaggeredRace"),
            Either::Slab { core } => core.debug(f, "StaggeredRace"),
        }
    }
}
