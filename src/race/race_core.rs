//! [`Core`], the state machine both races run, and [`Options`], the bundle of types it is
//! generic over: one parameter, one bound on each impl.

use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::record::Record;
use super::state::{Flags, State};
use super::{ErrorOf, Finish, FutureOf, OkOf};
use crate::policy::{Delay, Event, Limits, Observe, SourceDriver};
use crate::storage::Storage;
use crate::timer::Timer;

/// The types of one race, as one bundle: the source of attempts, the storage of the running
/// ones, the record of each attempt's fate, the timer and the three policies. Each race future
/// has a carrier type that implements it from its own type parameters
/// ([`RaceOptions`](super::staggered_race::RaceOptions),
/// [`ArrayOptions`](super::array_race::ArrayOptions)), so [`Core`] takes one parameter
/// instead of seven.
///
/// It asks only what the fields need, so that a race future's declaration needs no more
/// bounds than it has; running the race needs [`RunOptions`].
pub(crate) trait Options {
    /// Where the attempts come from.
    type Source: SourceDriver;
    /// Where the running attempts live.
    type Storage: Storage<Fut = FutureOf<Self::Source>>;
    /// What became of each attempt.
    type Record: Record<ErrorOf<Self::Source>>;
    /// The race's timer.
    type Timer: Timer;
    /// When the next attempt starts.
    type Delay;
    /// Who hears about the race.
    type Observe: Observe<ErrorOf<Self::Source>>;
    /// The cap and the deadline.
    type Limits: Limits;
}

/// [`Options`] whose delay is a [`Delay`] policy: what running the race needs.
pub(crate) trait RunOptions: Options<Delay: Delay> {}

impl<O: Options<Delay: Delay>> RunOptions for O {}

/// The timer's sleep.
pub(super) type SleepOf<O> = <<O as Options>::Timer as Timer>::Sleep;
/// How a race ended: its winner (index and value), or `None`.
type WinnerOf<O> = Finish<OkOf<<O as Options>::Source>>;
/// The list of attempts a race's outcome carries.
type ListOf<O> = <<O as Options>::Record as Record<ErrorOf<<O as Options>::Source>>>::Output;
/// Where the deadline's sleep lives.
type SlotOf<O> = <<O as Options>::Limits as Limits>::Slot<SleepOf<O>>;

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

impl Phase {
    /// The race is polled when it must not be: a programmer's error. (Out of line: the
    /// messages' formatting would otherwise cost every poll a few instructions.)
    #[cold]
    #[inline(never)]
    fn misuse(self, name: &str) -> ! {
        match self {
            Phase::Done => panic!("`{name}` polled after it completed"),
            _ => panic!("`{name}` polled after a panic inside an earlier poll"),
        }
    }
}

pin_project_lite::pin_project! {
    /// The state machine both races run: a source of attempts, a storage for the running
    /// ones, a record of each attempt's fate, the timer's sleeps, the delay policy, the
    /// options and the observer.
    pub(crate) struct Core<O>
    where
        O: Options,
    {
        #[pin]
        source: O::Source,
        timer: O::Timer,
        delay: O::Delay,
        limits: O::Limits,
        events: O::Observe,
        #[pin]
        sleep: Option<SleepOf<O>>,
        // The deadline's sleep, made on the first poll (nothing without limits).
        #[pin]
        deadline: SlotOf<O>,
        #[pin]
        storage: O::Storage,
        attempts: O::Record,
        phase: Phase,
        flags: Flags,
    }
    impl<O> PinnedDrop for Core<O>
    where
        O: Options,
    {
        fn drop(this: Pin<&mut Self>) {
            // Dropped while running: the attempts still running are cancelled now. Not after
            // a panic inside a poll (the race is broken), nor while a panic unwinds (a second
            // panic would abort).
            if !O::Observe::ENABLED || this.phase != Phase::Running || panicking() {
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

impl<O: RunOptions> Core<O> {
    #[inline]
    pub(super) fn new(
        source: O::Source,
        delay: O::Delay,
        limits: O::Limits,
        events: O::Observe,
        timer: O::Timer,
        storage: O::Storage,
    ) -> Self {
        Core {
            source,
            timer,
            delay,
            limits,
            events,
            sleep: None,
            deadline: O::Limits::empty_slot(),
            storage,
            attempts: O::Record::default(),
            phase: Phase::Fresh,
            flags: Flags::default(),
        }
    }

    /// Polls the race: the winner (or `None`), the outcome's list and whether the deadline
    /// ended it, once it is over.
    #[inline]
    pub(super) fn poll_race(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        name: &str,
    ) -> Poll<(WinnerOf<O>, ListOf<O>, bool)> {
        let this = self.project();
        let fresh = match *this.phase {
            Phase::Running => false,
            Phase::Fresh => true,
            misused => misused.misuse(name),
        };
        *this.phase = Phase::Polling;
        let flags = this.flags;
        if fresh {
            flags.start_due = true;
        }
        let mut deadline = this.deadline;
        if O::Limits::CAN_EXPIRE && !flags.expired {
            flags.expired = this
                .limits
                .poll_deadline(deadline.as_mut(), this.timer, fresh, cx);
        }
        let mut storage = this.storage;
        storage.as_mut().begin_poll();
        let mut state: State<'_, O> = State {
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
        let winner = if O::Limits::CAN_EXPIRE && state.flags.expired {
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
            && O::Limits::CAN_EXPIRE
            && state.flags.expired
            && (!state.storage.is_empty() || !state.flags.exhausted);
        // Drop every other running attempt and the sleeps before returning.
        state.cancel_all();
        O::Limits::clear_slot(deadline);
        *this.phase = Phase::Done;
        let attempts = state
            .attempts
            .finish(winner.as_ref().map(|(index, _)| *index));
        Poll::Ready((winner, attempts, timed_out))
    }

    pub(super) fn is_terminated(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Polling)
    }

    pub(super) fn debug(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
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
