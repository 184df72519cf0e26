//! [`Staggered`], the builder of a race with every option, and the types it is generic over.
//!
//! [`staggered_race`][crate::staggered_race] is the builder with only a fixed delay set:
//! `Staggered::new(attempts).delay(d).race(timer)` for `Some(d)`, `.sequential()` for
//! `None`. Everything else is opt-in, and what is not configured costs nothing: the default
//! type parameters ([`Fixed`], [`NoEvents`]) compile to the code `staggered_race` always had.
//!
//! - where attempts come from: [`Source`] (an iterator) or [`FromStream`] (a stream);
//! - when the next starts: [`Delay`], [`Fixed`] or [`DelayFn`];
//! - how far it may go: [`Limits`], [`NoLimits`] or [`Limited`] (a cap and a deadline);
//! - who hears about it: [`Observe`], [`NoEvents`] or [`OnEvent`], with [`Event`].
//!
//! ```
//! use std::time::Duration;
//! use staggered::{testing::ManualClock, Attempt, Staggered};
//!
//! let clock = ManualClock::new();
//! let outcome = clock.block_on(
//!     Staggered::new(["hang", "hang", "up"].map(|plan| move || async move {
//!         if plan == "up" { Ok(plan) } else { std::future::pending::<Result<_, ()>>().await }
//!     }))
//!     .delay(Duration::from_millis(100))
//!     .max_running(2)
//!     .cancel_oldest_when_full()
//!     .race(clock.clone()),
//! );
//! // At 200 ms the third start needs room: the first attempt is cancelled for it.
//! assert_eq!(outcome.attempts, [Attempt::Cancelled, Attempt::Cancelled, Attempt::Won]);
//! assert_eq!(clock.now(), Duration::from_millis(200));
//! ```
#![cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[crate::staggered_race]: crate#features"
)]

use core::time::Duration;

use crate::attempt::AttemptFn;
#[cfg(feature = "alloc")]
use crate::race::StaggeredRace;
use crate::race::StaggeredRaceArray;
use crate::Timer;

// The policies live below the race, in `crate::policy`; their public path is here.
pub use crate::policy::{Delay, DelayFn, Fixed};
pub use crate::policy::{Event, NoEvents, Observe, OnEvent};
pub use crate::policy::{FromStream, Source};
#[doc(hidden)]
pub use crate::policy::{IterDriver, SourceDriver};
pub use crate::policy::{Limited, Limits, NoLimits};

/// A staggered race with every option: the source of attempts, the delay policy, a cap on
/// attempts running at once, a deadline and an observer of events. [`race`][Self::race]
/// makes the race future.
///
/// | option | default | what it does | CPython `staggered_race` | Trio `open_tcp_stream` | hyper-util `HttpConnector` | tower `hedge` |
/// |---|---|---|---|---|---|---|
/// | [`new`](Self::new) / [`from_stream`](Self::from_stream) | - | attempts from an iterator, or from a stream as they arrive | an iterable (async iterables are a TODO) | the resolved addresses | the addresses, split by family | one request, cloned |
/// | [`delay`](Self::delay), [`sequential`](Self::sequential), [`all_at_once`](Self::all_at_once) | sequential | fixed delay before the next start, unless the newest fails first | `delay` (or `None`) | `happy_eyeballs_delay` (250 ms) | `happy_eyeballs_timeout` (300 ms, one fallback) | - |
/// | [`delay_fn`](Self::delay_fn) | - | the delay after each attempt, computed as it starts | - | - | - | a latency percentile it tracks |
/// | [`max_running`](Self::max_running) | no cap | at most `n` attempts run; a due start waits for room | - | - | 2 (one per family) | 1 extra request |
/// | [`cancel_oldest_when_full`](Self::cancel_oldest_when_full) | wait | a due start cancels the oldest running attempt instead of waiting | - | - | - | - |
/// | [`deadline`](Self::deadline) | none | from the first poll; then everything running is cancelled, and the outcome keeps what happened | wrap in `wait_for` (loses the errors) | `move_on_after` | `connect_timeout` (divided across the addresses) | - |
/// | [`on_event`](Self::on_event) | none | start, failure, win and cancellation, as they happen | - | - | - | - |
///
/// What the race does with the options is in [`race`][Self::race].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use staggered::{testing::ManualClock, Attempt, Event, Staggered};
///
/// let clock = ManualClock::new();
/// let mut log = Vec::new();
/// let outcome = clock.block_on(
///     Staggered::new([Err("refused"), Ok("up")].map(|result| move || async move { result }))
///         .delay(Duration::from_millis(250))
///         .deadline(Duration::from_secs(5))
///         .on_event(|event: Event<'_, &str>| log.push(format!("{event:?}")))
///         .race(clock.clone()),
/// );
/// assert_eq!(outcome.winner, Some((1, "up")));
/// assert_eq!(log, [
///     "Started { index: 0 }", "Failed { index: 0, error: \"refused\" }",
///     "Started { index: 1 }", "Won { index: 1 }",
/// ]);
/// ```
#[cfg_attr(not(feature = "alloc"), doc = "", doc = "[Self::race]: crate#features")]
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.race(timer)`"]
pub struct Staggered<S, D = Fixed, Ev = NoEvents, L = NoLimits> {
    source: S,
    delay: D,
    limits: L,
    events: Ev,
}

impl<I: Iterator> Staggered<I> {
    /// A race over an iterator (anything `IntoIterator`) of attempt closures,
    /// `FnOnce() -> impl Future<Output = Result<T, E>>`, with no option set: one attempt after
    /// another ([`sequential`](Self::sequential)) until one is set.
    ///
    /// ```
    /// use staggered::{timer::NoTimer, Staggered};
    ///
    /// let race = Staggered::new([1, 2].map(|n| move || async move { if n == 2 { Ok(n) } else { Err(n) } }));
    /// assert_eq!(futures::executor::block_on(race.race(NoTimer)).winner, Some((1, 2)));
    /// ```
    pub fn new<A>(attempts: A) -> Self
    where
        A: IntoIterator<IntoIter = I>,
        I::Item: AttemptFn,
    {
        Staggered {
            source: attempts.into_iter(),
            delay: Fixed(None),
            limits: NoLimits,
            events: NoEvents,
        }
    }
}

impl<St: futures_core::Stream> Staggered<FromStream<St>> {
    /// A race over a [`Stream`](futures_core::Stream) of attempt closures: attempts that
    /// arrive over time. The stream is polled only when a start is due, so closures stay lazy
    /// (see [`race`][Self::race] for what a pending or ended stream does).
    ///
    /// ```
    /// use futures::{channel::mpsc, StreamExt};
    /// use staggered::{timer::NoTimer, Staggered};
    ///
    /// let (tx, rx) = mpsc::unbounded();
    /// tx.unbounded_send("a").unwrap();
    /// tx.unbounded_send("b").unwrap();
    /// drop(tx);
    /// let attempts = rx.map(|name| move || async move { if name == "b" { Ok(name) } else { Err(()) } });
    /// let outcome = futures::executor::block_on(Staggered::from_stream(attempts).race(NoTimer));
    /// assert_eq!(outcome.winner, Some((1, "b")));
    /// ```
    #[cfg_attr(not(feature = "alloc"), doc = "", doc = "[Self::race]: crate#features")]
    pub fn from_stream(stream: St) -> Self
    where
        St::Item: AttemptFn,
    {
        Staggered {
            source: FromStream::new(stream),
            delay: Fixed(None),
            limits: NoLimits,
            events: NoEvents,
        }
    }
}

impl<S, D, Ev, L: Limits> Staggered<S, D, Ev, L> {
    fn with_delay<D2>(self, delay: D2) -> Staggered<S, D2, Ev, L> {
        Staggered {
            source: self.source,
            delay,
            limits: self.limits,
            events: self.events,
        }
    }

    fn limited(self, set: impl FnOnce(&mut Limited)) -> Staggered<S, D, Ev, Limited> {
        let mut limits = self.limits.to_limited();
        set(&mut limits);
        Staggered {
            source: self.source,
            delay: self.delay,
            limits,
            events: self.events,
        }
    }

    /// The next attempt starts `delay` after the newest one started, or when it fails,
    /// whichever is first. `Duration::ZERO` is [`all_at_once`](Self::all_at_once).
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::{testing::ManualClock, Staggered};
    ///
    /// let clock = ManualClock::new();
    /// let slow = |ms: u64, clock: ManualClock| move || async move { clock.sleep(Duration::from_millis(ms)).await; Ok::<_, ()>(ms) };
    /// let race = Staggered::new([slow(1000, clock.clone()), slow(10, clock.clone())])
    ///     .delay(Duration::from_millis(250))
    ///     .race(clock.clone());
    /// assert_eq!(clock.block_on(race).winner, Some((1, 10))); // at 260 ms
    /// assert_eq!(clock.now(), Duration::from_millis(260));
    /// ```
    pub fn delay(self, delay: Duration) -> Staggered<S, Fixed, Ev, L> {
        self.with_delay(Fixed(Some(delay)))
    }

    /// Only a failure starts the next attempt: one after another. The default. The race
    /// never sleeps.
    ///
    /// ```
    /// use staggered::{timer::NoTimer, Staggered};
    ///
    /// let race = Staggered::new([|| async { Ok::<_, ()>(1) }]).sequential().race(NoTimer);
    /// assert_eq!(futures::executor::block_on(race).winner, Some((0, 1)));
    /// ```
    pub fn sequential(self) -> Staggered<S, Fixed, Ev, L> {
        self.with_delay(Fixed(None))
    }

    /// Every attempt starts at once (a zero delay; with a cap, as fast as room allows). The
    /// race never sleeps.
    ///
    /// ```
    /// use staggered::{timer::NoTimer, Attempt, Staggered};
    ///
    /// let race = Staggered::new([None, Some(1)].map(|plan| move || async move {
    ///     match plan { Some(n) => Ok::<_, ()>(n), None => std::future::pending().await }
    /// }))
    /// .all_at_once()
    /// .race(NoTimer);
    /// assert_eq!(futures::executor::block_on(race).attempts, [Attempt::Cancelled, Attempt::Won]);
    /// ```
    pub fn all_at_once(self) -> Staggered<S, Fixed, Ev, L> {
        self.with_delay(Fixed(Some(Duration::ZERO)))
    }

    /// The delay after attempt `index` starts, computed by `delay(index)` as it starts (once
    /// per started attempt, inside the race's poll): `Some(d)` starts the next `d` later
    /// unless `index` fails first, `Some(Duration::ZERO)` starts it at once, `None` waits for
    /// the failure. For delays that grow per attempt, or follow observed latency (hedging).
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::{testing::ManualClock, Staggered};
    ///
    /// let clock = ManualClock::new();
    /// let hang = || std::future::pending::<Result<(), ()>>();
    /// let race = Staggered::new([hang, hang, hang])
    ///     .delay_fn(|index| Some(Duration::from_millis(100) * (index as u32 + 1))) // 100, 200 ms
    ///     .deadline(Duration::from_secs(1))
    ///     .race(clock.clone());
    /// let outcome = clock.block_on(race);
    /// assert!(outcome.timed_out);
    /// assert_eq!(outcome.attempts.len(), 3); // started at 0, 100 and 300 ms
    /// ```
    pub fn delay_fn<F>(self, delay: F) -> Staggered<S, DelayFn<F>, Ev, L>
    where
        F: FnMut(usize) -> Option<Duration>,
    {
        self.with_delay(DelayFn(delay))
    }

    /// At most `n` attempts run at once. A start that comes due while `n` run waits until one
    /// of them finishes (or, with [`cancel_oldest_when_full`](Self::cancel_oldest_when_full),
    /// cancels the oldest), then happens at once. The delay after each attempt still counts
    /// from its own start.
    ///
    /// # Panics
    ///
    /// If `n` is 0: a race that may run nothing would never end.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::{testing::ManualClock, Attempt, Staggered};
    ///
    /// let clock = ManualClock::new();
    /// let after = |ms: u64, result: Result<u8, u8>, clock: ManualClock| move || async move {
    ///     clock.sleep(Duration::from_millis(ms)).await;
    ///     result
    /// };
    /// let race = Staggered::new([
    ///     after(500, Err(0), clock.clone()),
    ///     after(500, Err(1), clock.clone()),
    ///     after(10, Ok(2), clock.clone()),
    /// ])
    /// .all_at_once()
    /// .max_running(2)
    /// .race(clock.clone());
    /// let outcome = clock.block_on(race);
    /// // The third waited for room: it started at 500 ms and won at 510.
    /// assert_eq!(outcome.winner, Some((2, 2)));
    /// assert_eq!(clock.now(), Duration::from_millis(510));
    /// ```
    #[track_caller]
    pub fn max_running(self, n: usize) -> Staggered<S, D, Ev, Limited> {
        assert!(
            n >= 1,
            "staggered: max_running(0) would never run an attempt"
        );
        self.limited(|limits| limits.max_running = n)
    }

    /// With a cap ([`max_running`](Self::max_running)), a start that comes due while the cap
    /// is reached cancels the oldest running attempt (reported [`Attempt::Cancelled`](crate::Attempt::Cancelled)
    /// and [`Event::Cancelled`]) and starts at once, instead of waiting for room. The oldest
    /// is cancelled only once the next attempt is in hand (a stream may still be pending).
    /// Without a cap it changes nothing. This keeps black holes from filling the window.
    ///
    /// An example is on the [module](self).
    pub fn cancel_oldest_when_full(self) -> Staggered<S, D, Ev, Limited> {
        self.limited(|limits| limits.cancel_oldest = true)
    }

    /// The race ends `limit` after its first poll if nobody has won by then: every running
    /// attempt is cancelled, nothing more starts, and the race returns its outcome with
    /// [`timed_out`][crate::Outcome::timed_out] set and every error it had collected.
    ///
    /// An attempt whose success arrived by the poll that sees the deadline pass still wins
    /// (ties go to the attempts): that poll takes in every completion that had arrived,
    /// however many (the budget of a poll does not cut it short), before it cancels the rest.
    /// A race whose attempts have all failed by then, with nothing left to start, ends as
    /// all-failed: when nothing runs and a start is due (the newest attempt failed), that
    /// poll asks the source once more whether anything is left. If something is, the race
    /// is timed out and what the source gave is dropped, never started; a stream that is
    /// still pending counts as something left. `Duration::ZERO` ends the race on its first
    /// poll, before anything starts (so the source is asked once: an empty one ends as
    /// all-failed with no attempts, as without a deadline). The deadline needs a real
    /// [`Timer`] (not
    /// [`NoTimer`](crate::timer::NoTimer), unless it is zero); every poll of the race polls
    /// its sleep once.
    ///
    /// An example is on [`delay_fn`](Self::delay_fn).
    #[cfg_attr(
        not(feature = "alloc"),
        doc = "",
        doc = "[crate::Outcome::timed_out]: crate::ArrayOutcome::timed_out"
    )]
    pub fn deadline(self, limit: Duration) -> Staggered<S, D, Ev, Limited> {
        self.limited(|limits| limits.deadline = Some(limit))
    }
}

impl<S: Source, D, Ev, L> Staggered<S, D, Ev, L> {
    /// Calls `observer` with every [`Event`] of the race as it happens: exactly one
    /// [`Started`](Event::Started) per attempt, then exactly one of
    /// [`Failed`](Event::Failed), [`Won`](Event::Won) or [`Cancelled`](Event::Cancelled).
    ///
    /// The callback runs inside the race's `poll` (and in its `drop`, for the attempts
    /// cancelled when the race is dropped while running; not while a panic unwinds). It
    /// should be quick: record, count, log. It must not poll or drop the race (it cannot
    /// reach it) and should not block. A panic in it reaches the caller of `poll` as a panic
    /// in an attempt does, and the race may not be polled again.
    ///
    /// A `Cancelled` event comes right after its attempt's future was dropped. Those of one
    /// ending (a win, the deadline, the race dropped) come after that ending's `Won`, one per
    /// attempt still running, in the order the attempts are dropped, which is not always
    /// their start order.
    ///
    /// An example is on [`Staggered`].
    pub fn on_event<F>(self, observer: F) -> Staggered<S, D, OnEvent<F>, L>
    where
        F: FnMut(Event<'_, <S::Item as AttemptFn>::Error>),
    {
        Staggered {
            source: self.source,
            delay: self.delay,
            limits: self.limits,
            events: OnEvent(observer),
        }
    }
}

impl<S, D, Ev, L> Staggered<S, D, Ev, L>
where
    S: Source,
    D: Delay,
    Ev: Observe<<S::Item as AttemptFn>::Error>,
    L: Limits,
{
    /// The race, on `timer`: a future that resolves to an [`Outcome`](crate::Outcome).
    ///
    /// Everything [`staggered_race`](crate::staggered_race) says holds here (when attempts
    /// start, who wins, what is reported, ties, fairness and the co-operative budget), for
    /// every source and option. What the options add:
    ///
    /// - **A stream source** is polled only when a start is due (with room under the cap).
    ///   A pending stream holds the start until it yields; the start is then made at once.
    ///   The race ends when the stream has ended and nothing runs: if every running attempt
    ///   failed but the stream is still open, the race waits for it. An empty stream ends the
    ///   race at once. While a start waits for it, each poll of the race polls the stream once.
    /// - **The delay policy** is asked once per started attempt, as it starts.
    /// - **The cap** holds a due start until an attempt finishes (or cancels the oldest, when
    ///   asked).
    /// - **The deadline** ends the race `limit` after its first poll: see
    ///   [`deadline`](Self::deadline).
    /// - **Events** as [`on_event`](Self::on_event) says.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::{testing::ManualClock, Attempt, Staggered};
    ///
    /// let clock = ManualClock::new();
    /// let hang = || std::future::pending::<Result<(), &str>>();
    /// let outcome = clock.block_on(
    ///     Staggered::new([hang, hang]).delay(Duration::from_millis(250)).deadline(Duration::from_secs(1)).race(clock.clone()),
    /// );
    /// assert!(outcome.timed_out);
    /// assert_eq!(outcome.attempts, [Attempt::Cancelled, Attempt::Cancelled]);
    /// assert!(outcome.into_result().unwrap_err().timed_out());
    /// assert_eq!(clock.now(), Duration::from_secs(1));
    /// ```
    #[cfg(feature = "alloc")]
    pub fn race<Tm: Timer>(self, timer: Tm) -> StaggeredRace<S, Tm, D, Ev, L> {
        StaggeredRace::from_parts(
            self.source.into_driver(),
            self.delay,
            self.limits,
            self.events,
            timer,
        )
    }
}

impl<F, D, Ev, L, const N: usize> Staggered<core::array::IntoIter<F, N>, D, Ev, L>
where
    F: AttemptFn,
    D: Delay,
    Ev: Observe<F::Error>,
    L: Limits,
{
    /// The race over an array of attempts with no heap, on `timer`: as
    /// [`staggered_race_array`](crate::staggered_race_array), with every option but a stream
    /// source (a stream has no bound the array could hold). Needs no `alloc` feature.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::{testing::ManualClock, Attempt, Staggered};
    ///
    /// let clock = ManualClock::new();
    /// let hang = || std::future::pending::<Result<(), ()>>();
    /// let outcome = clock.block_on(
    ///     Staggered::new([hang; 4]).delay(Duration::from_millis(100)).max_running(2).cancel_oldest_when_full()
    ///         .deadline(Duration::from_millis(250)).race_array(clock.clone()),
    /// );
    /// assert!(outcome.timed_out);
    /// assert_eq!(*outcome.attempts, [Attempt::Cancelled; 3]); // #0 cancelled for #2 at 200 ms
    /// ```
    pub fn race_array<Tm: Timer>(self, timer: Tm) -> StaggeredRaceArray<F, Tm, N, D, Ev, L> {
        StaggeredRaceArray::from_parts(self.source, self.delay, self.limits, self.events, timer)
    }
}
