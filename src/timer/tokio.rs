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
///
/// # Example
///
/// A paused clock makes the timings exact, and the test instant:
///
/// ```
/// use std::time::Duration;
/// use staggered::{staggered_race, timer::TokioTimer};
/// use tokio::time::{sleep, Instant};
///
/// #[tokio::main(flavor = "current_thread", start_paused = true)]
/// async fn main() {
///     let start = Instant::now();
///     // Attempt `i` answers after `takes[i]`; the first, slow one loses to the second.
///     let takes = [Duration::from_secs(5), Duration::from_millis(100)];
///     let race = staggered_race(
///         takes.map(|t| move || async move {
///             sleep(t).await;
///             Ok::<_, ()>(t)
///         }),
///         Some(Duration::from_millis(250)),
///         TokioTimer,
///     );
///     let (index, _) = race.await.into_result().unwrap();
///     assert_eq!(index, 1);
///     assert_eq!(start.elapsed(), Duration::from_millis(350));
/// }
/// ```
///
/// # Tokio's co-operative budget
///
/// The race bounds the work of each of its polls by itself. To make it also spend the budget
/// of the tokio task that runs it, so that a loop of races that are always ready still lets
/// other tasks run, opt in with tokio's own wrapper (tokio 1.47 or later, feature `rt`):
/// `tokio::task::coop::cooperative(race)` spends one unit per race, and wrapping each
/// attempt (`move || cooperative(attempt())`) spends one per attempt poll. This crate adds no
/// wrapper of its own: tokio's is one line, and one here would tie every `tokio` user to
/// tokio's `rt` feature and to 1.47.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use staggered::{staggered_race, timer::TokioTimer};
/// use tokio::task::coop::cooperative;
///
/// for _ in 0..1_000 {
///     let race = staggered_race([|| async { Err::<(), _>("refused") }], None, TokioTimer);
///     // Yields to the scheduler whenever this task's budget runs out.
///     let outcome = cooperative(race).await;
///     assert!(outcome.winner.is_none());
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TokioTimer;

/// About 30 years: the longest sleep tokio arms (`tokio::time::sleep` caps its argument at
/// this too), short enough that no platform's `Instant` overflows.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl Timer for TokioTimer {
    type Sleep = ::tokio::time::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        ::tokio::time::sleep(duration)
    }

    fn reset(&self, sleep: Pin<&mut Self::Sleep>, duration: Duration) {
        // Capped as `tokio::time::sleep` caps it, so that a huge duration (`Duration::MAX`)
        // means "not for decades" instead of overflowing the `Instant`.
        sleep.reset(::tokio::time::Instant::now() + duration.min(FAR_FUTURE))
    }
}
