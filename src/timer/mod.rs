//! The [`Timer`] trait, and one adapter per runtime.
//!
//! The race needs exactly one thing from a runtime: a future that completes after a
//! [`Duration`]. [`Timer`] is that, plus an optional way to re-arm a live sleep in place. Each
//! runtime adapter lives in its own file and behind its own feature, so a build pays only for
//! the runtimes it enables.
//!
//! # Runtime support
//!
//! | runtime | feature | timer type | tested by |
//! |---|---|---|---|
//! | tokio (current-thread, multi-thread, paused clock) | `tokio` | [`TokioTimer`] | `tests/runtime_tokio.rs` |
//! | smol | `async-io` | [`AsyncIoTimer`] | `tests/runtime_smol.rs` |
//! | async-std | `async-io` | [`AsyncIoTimer`] | `tests/runtime_async_std.rs` |
//! | `futures::executor::block_on`, or any executor | `futures-timer` | [`FuturesTimer`] | `tests/runtime_futures.rs` |
//! | embassy (any platform, `no_std`) | `embassy-time` | [`EmbassyTimer`] | `tests/runtime_embassy.rs` (embassy-executor on `std`) |
//! | bare metal, custom executors | none | your own [`Timer`] | `examples/firmware` (built for `thumbv7em-none-eabihf`, run on QEMU's Cortex-M4 `mps2-an386`) |
//! | none: `delay` of `None` or zero | none | [`NoTimer`] | the unit and semantics tests |
//!
//! Every `tests/runtime_*.rs` runs the same scenarios (from `tests/runtimes/mod.rs`): a
//! fall-through where the third attempt wins, a failure that starts the next attempt early, a
//! `Duration::MAX` delay (only failures start attempts), all attempts failing, the race dropped
//! mid-way, and a loopback TCP connect that wins. Each timer type's page has an example that
//! runs.
//!
//! A feature adds its runtime's crate and nothing else: a build without it does not compile or
//! link that runtime (`.ci/steps/60-features.sh` checks this with `cargo tree`).
//!
//! # Example
//!
//! The timer is the race's third argument; the rest of the race is the same on every runtime.
//!
//! ```
//! use std::time::Duration;
//! use staggered::{staggered_race, Timer};
//! # #[cfg(feature = "futures-timer")] // the example runs with the feature on
//! use staggered::timer::FuturesTimer;
//!
//! // Any `Timer` will do: this function works on every runtime.
//! async fn first_answer(timer: impl Timer) -> Option<usize> {
//!     let waits = [Duration::from_secs(60), Duration::ZERO];
//!     staggered_race(
//!         waits.map(|wait| move || async move {
//!             if wait.is_zero() { Ok(()) } else { std::future::pending::<Result<(), ()>>().await }
//!         }),
//!         Some(Duration::from_millis(10)),
//!         timer,
//!     )
//!     .await
//!     .winner_index()
//! }
//!
//! # #[cfg(feature = "futures-timer")]
//! assert_eq!(futures::executor::block_on(first_answer(FuturesTimer)), Some(1));
//! ```
#![cfg_attr(
    not(feature = "tokio"),
    doc = "",
    doc = "[`TokioTimer`]: crate#features"
)]
#![cfg_attr(
    not(feature = "async-io"),
    doc = "",
    doc = "[`AsyncIoTimer`]: crate#features"
)]
#![cfg_attr(
    not(feature = "futures-timer"),
    doc = "",
    doc = "[`FuturesTimer`]: crate#features"
)]
#![cfg_attr(
    not(feature = "embassy-time"),
    doc = "",
    doc = "[`EmbassyTimer`]: crate#features"
)]

use core::future::Future;
use core::pin::Pin;
use core::time::Duration;

#[cfg(feature = "async-io")]
mod async_io;
#[cfg(feature = "embassy-time")]
mod embassy;
#[cfg(feature = "futures-timer")]
mod futures_timer;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "async-io")]
pub use self::async_io::{AsyncIoSleep, AsyncIoTimer};
#[cfg(feature = "embassy-time")]
pub use self::embassy::EmbassyTimer;
#[cfg(feature = "futures-timer")]
pub use self::futures_timer::FuturesTimer;
#[cfg(feature = "tokio")]
pub use self::tokio::TokioTimer;

/// A source of sleeps: the only thing [`staggered_race`][crate::staggered_race] needs from a
/// runtime.
///
/// The race keeps at most one sleep alive at a time. It creates it with [`sleep`](Timer::sleep)
/// when the first delayed start is armed, and re-arms it with [`reset`](Timer::reset) for every
/// later start.
///
/// # Writing your own
///
/// Firmware and custom executors implement this over whatever tick source they have:
///
/// ```
/// use core::{future::Future, pin::Pin, task::{Context, Poll}, time::Duration};
///
/// /// A timer whose sleeps are already over: every staggered start happens at once.
/// struct Instant;
/// struct Elapsed;
///
/// impl Future for Elapsed {
///     type Output = ();
///     fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
///         Poll::Ready(())
///     }
/// }
///
/// impl staggered::Timer for Instant {
///     type Sleep = Elapsed;
///     fn sleep(&self, _: Duration) -> Elapsed {
///         Elapsed
///     }
/// }
/// ```
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[crate::staggered_race]: crate#features"
)]
pub trait Timer {
    /// The future returned by [`sleep`](Timer::sleep). It completes once the duration has
    /// passed.
    type Sleep: Future<Output = ()>;

    /// Returns a future that completes `duration` from now.
    fn sleep(&self, duration: Duration) -> Self::Sleep;

    /// Re-arm a live sleep to fire `duration` from now. The default replaces it; adapters
    /// whose runtime can re-arm in place override this.
    fn reset(&self, mut sleep: Pin<&mut Self::Sleep>, duration: Duration) {
        sleep.set(self.sleep(duration))
    }
}

impl<T: Timer + ?Sized> Timer for &T {
    type Sleep = T::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (**self).sleep(duration)
    }

    fn reset(&self, sleep: Pin<&mut Self::Sleep>, duration: Duration) {
        (**self).reset(sleep, duration)
    }
}

/// A timer for races that never wait: `delay` of `None` (one attempt after another) or
/// `Some(Duration::ZERO)` (all at once). The race never calls a timer in those cases.
///
/// # Panics
///
/// [`sleep`](Timer::sleep) panics: a race with a non-zero delay needs a real timer, and using
/// `NoTimer` there is a programming error. (The delay is a run-time value, so the types cannot
/// rule it out.)
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use staggered::{staggered_race, timer::NoTimer};
///
/// let attempts = || [1, 2, 3].map(|n| move || async move { if n < 3 { Err(n) } else { Ok(n) } });
/// let block_on = futures::executor::block_on;
/// // One after another: each failure starts the next.
/// assert_eq!(block_on(staggered_race(attempts(), None, NoTimer)).winner, Some((2, 3)));
/// // All at once.
/// assert_eq!(block_on(staggered_race(attempts(), Some(Duration::ZERO), NoTimer)).winner, Some((2, 3)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoTimer;

impl Timer for NoTimer {
    type Sleep = core::future::Pending<()>;

    #[track_caller]
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        panic!(
            "staggered::timer::NoTimer cannot sleep (asked for {duration:?}): a race with a \
             non-zero delay needs a real Timer"
        )
    }
}
