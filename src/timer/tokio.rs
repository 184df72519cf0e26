//! [`Timer`] for the tokio runtime.

use core::pin::Pin;
use core::time::Duration;

use super::Timer;

/// Sleeps on tokio's timer: [`tokio::time::sleep`], re-armed in place with
/// [`tokio::time::Sleep::reset`].
///
/// It follows tokio's clock, so under a paused clock (`#[tokio::test(start_paused = true)]`,
/// or `tokio::time::pause` with tokio's `test-util` feature) the race runs in virtual time and
/// its timings are exact.
///
/// Needs the feature `tokio`, and a tokio runtime with the time driver enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TokioTimer;

impl Timer for TokioTimer {
    type Sleep = ::tokio::time::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        ::tokio::time::sleep(duration)
    }

    fn reset(&self, sleep: Pin<&mut Self::Sleep>, duration: Duration) {
        sleep.reset(::tokio::time::Instant::now() + duration)
    }
}
