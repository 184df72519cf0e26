//! The policies a race is generic over: where its attempts come from ([`Source`]), when the
//! next starts ([`Delay`]), how far it may go ([`Limits`]) and who hears about it
//! ([`Observe`], with [`Event`]).
//!
//! This module sits below the race and the builder and imports neither: the race
//! (`crate::race`) runs the policies, and [`Staggered`](crate::Staggered) sets them;
//! [`builder`](crate::builder) re-exports every item here under its public path.

mod delay;
mod event;
mod limits;
mod source;

pub use delay::{Delay, DelayFn, Fixed};
pub use event::{Event, NoEvents, Observe, OnEvent};
pub use limits::{Limited, Limits, NoLimits};
pub use source::{FromStream, IterDriver, Source, SourceDriver};
