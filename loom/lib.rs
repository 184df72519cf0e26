//! The race's sources, compiled on their own for loom (see Cargo.toml). The tests are the
//! `loom_tests` module of `../src/waker.rs`.
#![no_std]
#![allow(dead_code)]

extern crate alloc;
extern crate std;

#[path = "../src/outcome.rs"]
mod outcome;
#[path = "../src/race.rs"]
mod race;
#[path = "../src/slab.rs"]
mod slab;
#[path = "../src/sync.rs"]
mod sync;
#[path = "../src/timer/mod.rs"]
pub mod timer;
#[path = "../src/waker.rs"]
mod waker;

pub use outcome::{AllFailed, Attempt, Outcome};
pub use race::{staggered_race, AttemptFn, StaggeredRace};
pub use timer::Timer;
