//! The race's sources, compiled on their own for loom (see Cargo.toml), and the loom models
//! (`models.rs`).
#![no_std]
#![allow(dead_code)]

extern crate alloc;
extern crate std;

#[path = "../src/attempt.rs"]
mod attempt;
#[path = "../src/builder.rs"]
pub mod builder;
#[path = "../src/error_list.rs"]
mod error_list;
#[path = "../src/geometry.rs"]
mod geometry;
#[path = "../src/outcome.rs"]
mod outcome;
#[path = "../src/policy/mod.rs"]
mod policy;
#[path = "../src/race/mod.rs"]
mod race;
#[path = "../src/storage/mod.rs"]
mod storage;
#[path = "../src/sync.rs"]
mod sync;
#[path = "../src/timer/mod.rs"]
pub mod timer;
#[path = "../src/waker.rs"]
mod waker;

#[cfg(all(test, loom))]
mod models;

pub use outcome::{AllFailed, ArrayAllFailed, ArrayOutcome, Attempt, Outcome};
pub use attempt::AttemptFn;
pub use race::{staggered_race, staggered_race_array, StaggeredRace, StaggeredRaceArray};
pub use builder::{Event, Staggered};
pub use timer::Timer;
