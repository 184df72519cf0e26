//! [`Timer`] for embassy, through `embassy-time`. Works without `std`.

use core::pin::Pin;
use core::time::Duration;

use embassy_time::{Instant, TICK_HZ};

use super::Timer;

/// Sleeps on embassy's time driver: an [`embassy_time::Timer`]. It is re-armed by replacing it
/// with a new `embassy_time::Timer`, which is cheap: the timer is a deadline and a flag, and
/// it registers with the driver's queue only when polled.
///
/// Needs the feature `embassy-time`, and a time driver linked into the program (your HAL's, or
/// embassy-time's `std` or `mock-driver` feature on a host). It builds without `std`.
///
/// # Embassy's timer queue
///
/// The race polls its sleep, and each attempt, with wakers of its own (that is how it polls
/// only the attempts that were woken). Embassy's default *integrated* timer queue accepts only
/// the wakers of embassy-executor tasks, and panics on any other with "Found waker not created
/// by the Embassy executor". So a program that races with `EmbassyTimer`, or whose attempts
/// await `embassy_time` timers, needs embassy-time's *generic* queue: enable one of its
/// `generic-queue-N` features (`N` = how many timers may be pending at once), as for any
/// combinator with wakers of its own. A [`Timer`] of your own over a tick source (as in the
/// crate's `examples/firmware`) does not go through embassy's queue at all.
///
/// Durations are rounded up to whole ticks of [`embassy_time::TICK_HZ`], so a sleep never ends
/// early. One too long to represent never ends.
///
/// # Example
///
/// On a host, with embassy-time's `std` driver and a generic queue, under
/// `futures::executor::block_on`; on a microcontroller the same race runs in an
/// `#[embassy_executor::task]` (the crate's `tests/runtime_embassy.rs` runs it on
/// embassy-executor).
///
/// ```
/// use core::time::Duration;
/// use staggered::{staggered_race, timer::EmbassyTimer};
///
/// // The first way hangs; the second starts 20 ms later and works.
/// let race = staggered_race(
///     [false, true].map(|works| move || async move {
///         if works { Ok("link up") } else { core::future::pending::<Result<_, ()>>().await }
///     }),
///     Some(Duration::from_millis(20)),
///     EmbassyTimer,
/// );
/// let started = embassy_time::Instant::now();
/// let outcome = futures::executor::block_on(race);
/// assert_eq!(outcome.winner, Some((1, "link up")));
/// assert!(started.elapsed() >= embassy_time::Duration::from_millis(20));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EmbassyTimer;

/// The instant `duration` from now on embassy's clock, rounded up to a whole tick, or
/// [`Instant::MAX`] (never) if that is past the end of the clock.
fn deadline(duration: Duration) -> Instant {
    let nanos = duration.as_nanos();
    // `as_nanos` is below 2^94 and `TICK_HZ` below 2^64, but saturate anyway.
    let ticks = nanos
        .saturating_mul(u128::from(TICK_HZ))
        .div_ceil(1_000_000_000);
    let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
    Instant::now()
        .checked_add(embassy_time::Duration::from_ticks(ticks))
        .unwrap_or(Instant::MAX)
}

impl Timer for EmbassyTimer {
    type Sleep = embassy_time::Timer;

    fn sleep(&self, duration: Duration) -> embassy_time::Timer {
        embassy_time::Timer::at(deadline(duration))
    }

    fn reset(&self, sleep: Pin<&mut embassy_time::Timer>, duration: Duration) {
        // `embassy_time::Timer` is `Unpin` and has no way to move its deadline: replace it.
        *Pin::into_inner(sleep) = self.sleep(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks() {
        let tick_ns = 1_000_000_000 / TICK_HZ;
        let base = Instant::now();
        let at = deadline(Duration::from_nanos(1));
        // One nanosecond is at least one tick, never zero.
        assert!(at.as_ticks() > base.as_ticks());
        let at = deadline(Duration::from_nanos(3 * tick_ns));
        assert!(at.as_ticks() >= base.as_ticks() + 3);
    }

    #[test]
    fn an_unrepresentable_deadline_never_ends() {
        assert_eq!(deadline(Duration::MAX), Instant::MAX);
        assert_eq!(deadline(Duration::from_secs(u64::MAX / 2)), Instant::MAX);
    }
}
