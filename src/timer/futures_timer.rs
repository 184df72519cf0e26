//! [`Timer`] for any executor, through `futures-timer`.

use core::pin::Pin;
use core::time::Duration;

use super::Timer;

/// Sleeps on `futures-timer`'s helper thread: a [`futures_timer::Delay`], re-armed in place
/// with [`futures_timer::Delay::reset`]. Runtime-independent, so it suits
/// `futures::executor::block_on` and other executors without a timer of their own.
///
/// Needs the feature `futures-timer`.
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
/// use staggered::{staggered_race, timer::FuturesTimer};
///
/// let start = Instant::now();
/// let race = staggered_race(
///     [false, true].map(|works| move || async move {
///         if works { Ok("up") } else { std::future::pending::<Result<_, ()>>().await }
///     }),
///     Some(Duration::from_millis(20)),
///     FuturesTimer,
/// );
/// let outcome = futures::executor::block_on(race);
/// assert_eq!(outcome.winner, Some((1, "up")));
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FuturesTimer;

impl Timer for FuturesTimer {
    type Sleep = futures_timer::Delay;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        futures_timer::Delay::new(duration)
    }

    fn reset(&self, mut sleep: Pin<&mut Self::Sleep>, duration: Duration) {
        sleep.reset(duration)
    }
}
