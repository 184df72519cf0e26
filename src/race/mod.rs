//! The race state machine, [`Core`], and the two races that run it: [`staggered_race`]
//! ([`StaggeredRace`], inline for small sources, else over a slab) and
//! [`staggered_race_array`] ([`StaggeredRaceArray`], no heap). [`Staggered`](crate::Staggered)
//! builds either with every option.
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
//! - the *record* of what became of each attempt, a [`Record`]: a `Vec` of the outcome's
//!   entries, or (the array race) each attempt's error, from which the outcome's `ArrayVec`
//!   is built as the race ends (`Record::finish`, which also marks the winner);
//! - the *timer*: one sleep for the next start, armed in `State::arm`, polled in
//!   `State::poll_sleep`; and, with a deadline, the deadline's sleep, polled at the start of
//!   every poll (`Limits::poll_deadline`);
//! - the *policies*, each a type parameter whose default compiles to what the plain race
//!   always did: the [`Delay`] (asked once per start), the [`Limits`] (the cap, checked in
//!   `State::can_start`, and the deadline) and the observer ([`Observe`]).
//!
//! `State::drive` is the whole scheduler: in rounds, handle what was woken, in start order (the
//! earliest-started attempt first, then the sleep), and
//! between rounds start the next attempt if one is due and can be made, within a budget (the
//! "Fairness and co-operation" section of [`staggered_race`]). Every start, failure, win and
//! cancellation happens at one place each, and reports its event there: `start_next`, the two
//! arms of `poll_attempt`, `State::cancel_oldest`, `State::cancel_all` (a win or the
//! deadline) and `Core`'s drop (the race dropped while running).
//!
//! # Files
//!
//! - `race_core.rs`: [`Core`], the fields of a race and its poll, generic over one options
//!   bundle ([`Options`]) instead of a type parameter a part;
//! - `state.rs`: `State`, the race's fields borrowed for one poll, and the scheduler
//!   (`drive`, `expire`, the starts, the attempts' polls and the cancellations);
//! - `record.rs`: [`Record`], where the race writes what became of each attempt, and how it
//!   hands the list over;
//! - `staggered_race.rs`: [`staggered_race`] and [`StaggeredRace`] (inline or slab);
//! - `array_race.rs`: [`staggered_race_array`] and [`StaggeredRaceArray`] (no heap).
//!
//! The policies the race runs ([`Delay`], [`Limits`], [`Observe`], the [`SourceDriver`]s)
//! come from `crate::policy`, below the race; the attempt closures are
//! [`AttemptFn`](crate::AttemptFn)s (`crate::attempt`).
//!
//! [`Core`]: race_core::Core
//! [`Options`]: race_core::Options
//! [`Flags`]: state::Flags
//! [`Record`]: record::Record
//! [`Storage`]: crate::storage::Storage
//! [`Delay`]: crate::policy::Delay
//! [`Limits`]: crate::policy::Limits
//! [`Observe`]: crate::policy::Observe
#![cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[`staggered_race`]: crate#features",
    doc = "[`StaggeredRace`]: crate#features"
)]

mod array_race;
mod race_core;
mod record;
#[cfg(feature = "alloc")]
mod staggered_race;
mod state;

pub use array_race::{staggered_race_array, StaggeredRaceArray};
#[cfg(feature = "alloc")]
pub use staggered_race::{staggered_race, StaggeredRace};

use crate::attempt::AttemptFn;
use crate::policy::SourceDriver;

/// The success value of a source's attempts.
type OkOf<S> = <<S as SourceDriver>::Item as AttemptFn>::Ok;
/// The error of a source's attempts.
type ErrorOf<S> = <<S as SourceDriver>::Item as AttemptFn>::Error;
/// The future of a source's attempts.
type FutureOf<S> = <<S as SourceDriver>::Item as AttemptFn>::Future;

/// A race that is over: an attempt won (its index and value), or all failed (`None`).
type Finish<T> = Option<(usize, T)>;
