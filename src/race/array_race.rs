//! [`staggered_race_array`] and the future it returns, [`StaggeredRaceArray`]: the race over
//! a fixed array, with no heap.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use super::race_core::{Core, Options};
use super::record::ArrayRecord;
// For the docs' links.
#[cfg(all(doc, feature = "alloc"))]
use super::{staggered_race, StaggeredRace};
use crate::attempt::AttemptFn;
use crate::outcome::ArrayOutcome;
use crate::policy::{Delay, Fixed, IterDriver, Limits, NoEvents, NoLimits, Observe, Source};
use crate::storage::Inline;
use crate::timer::Timer;

/// Runs a fixed array of attempts with staggered start times and keeps the first that
/// succeeds, without any heap: the race for firmware and other code with no allocator
/// (it needs no `alloc` feature).
///
/// The semantics are [`staggered_race`]'s, point for point: when each attempt starts, who
/// wins, what is reported, ties, fairness and the co-operative budget. The differences are
/// in the cost:
///
/// - **Storage.** The `N` attempts' futures live inside the returned future, which is as
///   large as `N` of them plus room for `N` errors; nothing is allocated, and the
///   outcome's list ([`ArrayOutcome::attempts`]) is an [`arrayvec::ArrayVec`], built as the
///   race ends.
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

/// The types of a [`StaggeredRaceArray`], as one [`Options`] bundle for its [`Core`]: never a
/// value, only a type.
pub(super) struct ArrayOptions<F, Tm, const N: usize, D, Ev, L>(PhantomData<(F, Tm, D, Ev, L)>);

impl<F, Tm, const N: usize, D, Ev, L> Options for ArrayOptions<F, Tm, N, D, Ev, L>
where
    F: AttemptFn,
    Tm: Timer,
    Ev: Observe<F::Error>,
    L: Limits,
{
    type Source = IterDriver<core::array::IntoIter<F, N>>;
    type Storage = Inline<F::Future, N>;
    type Record = ArrayRecord<F::Error, N>;
    type Timer = Tm;
    type Delay = D;
    type Observe = Ev;
    type Limits = L;
}

/// The future returned by [`staggered_race_array`] and by
/// [`Staggered::race_array`](crate::Staggered::race_array). It resolves to an
/// [`ArrayOutcome`].
///
/// No heap: the attempts' futures and their errors live inside it, and the outcome's list is
/// built from them as it ends. It is `Send` when
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
    core: Core<ArrayOptions<F, Tm, N, D, Ev, L>>,
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
