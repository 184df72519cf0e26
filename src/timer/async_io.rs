//! [`Timer`] for smol and async-std, through `async-io`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use super::Timer;

/// Sleeps on `async-io`'s reactor, the timer under smol and async-std: an
/// [`async_io::Timer`], re-armed in place with [`async_io::Timer::set_after`].
///
/// Needs the feature `async-io`. It works on any executor, since async-io drives its own
/// reactor thread when nothing else does.
///
/// # Example
///
/// Under async-io's own `block_on`, which is smol's (`smol::block_on` re-exports it); on
/// async-std, `async_std::task::block_on`:
///
/// ```
/// use std::time::{Duration, Instant};
/// use staggered::{staggered_race, timer::AsyncIoTimer};
///
/// let start = Instant::now();
/// let race = staggered_race(
///     [false, true].map(|works| move || async move {
///         if works { Ok("up") } else { std::future::pending::<Result<_, ()>>().await }
///     }),
///     Some(Duration::from_millis(20)),
///     AsyncIoTimer,
/// );
/// let outcome = async_io::block_on(race);
/// assert_eq!(outcome.winner, Some((1, "up")));
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AsyncIoTimer;

/// The sleep of [`AsyncIoTimer`]: an [`async_io::Timer`] whose output is `()`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use staggered::{timer::AsyncIoTimer, Timer};
///
/// let start = Instant::now();
/// let sleep = AsyncIoTimer.sleep(Duration::from_millis(5)); // an AsyncIoSleep
/// async_io::block_on(sleep);
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
#[derive(Debug)]
pub struct AsyncIoSleep(async_io::Timer);

impl Future for AsyncIoSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Timer for AsyncIoTimer {
    type Sleep = AsyncIoSleep;

    fn sleep(&self, duration: Duration) -> AsyncIoSleep {
        AsyncIoSleep(async_io::Timer::after(duration))
    }

    fn reset(&self, mut sleep: Pin<&mut AsyncIoSleep>, duration: Duration) {
        sleep.0.set_after(duration)
    }
}
