//! The limits of a race: a cap on attempts running at once, and a deadline. [`NoLimits`] (the
//! default) compiles to no check and no field at all; [`Limited`] holds what was set.

use core::future::Future;
use core::pin::Pin;
use core::task::Context;
use core::time::Duration;

use crate::Timer;

mod sealed {
    pub trait Sealed {}
}

/// A race's cap and deadline: [`NoLimits`] or [`Limited`]. You never implement it; the
/// builder's [`max_running`](crate::Staggered::max_running),
/// [`cancel_oldest_when_full`](crate::Staggered::cancel_oldest_when_full) and
/// [`deadline`](crate::Staggered::deadline) switch a race to [`Limited`].
///
/// ```
/// use std::time::Duration;
/// use staggered::{builder::Limited, Staggered};
///
/// let race: Staggered<_, _, _, Limited> =
///     Staggered::new([|| async { Ok::<u8, ()>(1) }]).deadline(Duration::from_secs(1));
/// # let _ = race;
/// ```
pub trait Limits: sealed::Sealed + core::fmt::Debug {
    /// Where the deadline's sleep lives: nothing for [`NoLimits`].
    #[doc(hidden)]
    type Slot<Sl>;
    /// A deadline may end the race.
    #[doc(hidden)]
    const CAN_EXPIRE: bool;
    #[doc(hidden)]
    fn empty_slot<Sl>() -> Self::Slot<Sl>;
    /// The limits as values, for the builder.
    #[doc(hidden)]
    fn to_limited(&self) -> Limited;
    /// With `running` attempts running, a start may be made (perhaps after cancelling the
    /// oldest).
    #[doc(hidden)]
    fn may_start(&self, running: usize) -> bool;
    /// With `running` attempts running, a start must first cancel the oldest.
    #[doc(hidden)]
    fn must_cancel_oldest(&self, running: usize) -> bool;
    /// Drops the deadline's sleep, if there is one (the race is over).
    #[doc(hidden)]
    fn clear_slot<Sl>(slot: Pin<&mut Self::Slot<Sl>>);
    /// Makes the deadline's sleep on the first poll, polls it, and drops it once it has
    /// fired; `true` once the deadline has passed.
    #[doc(hidden)]
    fn poll_deadline<Tm: Timer>(
        &self,
        slot: Pin<&mut Self::Slot<Tm::Sleep>>,
        timer: &Tm,
        fresh: bool,
        cx: &mut Context<'_>,
    ) -> bool;
}

/// No cap and no deadline: the default, and [`staggered_race`][crate::staggered_race]'s.
///
/// ```
/// use staggered::{builder::NoLimits, Staggered};
///
/// let _race: Staggered<_, _, _, NoLimits> = Staggered::new([|| async { Ok::<u8, ()>(1) }]);
/// ```
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[crate::staggered_race]: crate#features"
)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoLimits;

impl sealed::Sealed for NoLimits {}

impl Limits for NoLimits {
    type Slot<Sl> = ();
    const CAN_EXPIRE: bool = false;
    #[inline]
    fn empty_slot<Sl>() {}
    fn to_limited(&self) -> Limited {
        Limited {
            max_running: usize::MAX,
            cancel_oldest: false,
            deadline: None,
        }
    }
    #[inline]
    fn clear_slot<Sl>(_: Pin<&mut ()>) {}
    #[inline]
    fn may_start(&self, _: usize) -> bool {
        true
    }
    #[inline]
    fn must_cancel_oldest(&self, _: usize) -> bool {
        false
    }
    #[inline]
    fn poll_deadline<Tm: Timer>(
        &self,
        _: Pin<&mut ()>,
        _: &Tm,
        _: bool,
        _: &mut Context<'_>,
    ) -> bool {
        false
    }
}

/// A cap on attempts running at once, what a start at the cap does, and a deadline, as set
/// on the builder.
///
/// ```
/// use std::time::Duration;
/// use staggered::{builder::Limited, Staggered};
///
/// let _race: Staggered<_, _, _, Limited> =
///     Staggered::new([|| async { Ok::<u8, ()>(1) }]).max_running(2).cancel_oldest_when_full();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limited {
    /// Most attempts running at once; `usize::MAX` for no cap.
    pub(crate) max_running: usize,
    /// At the cap, a due start cancels the oldest running attempt.
    pub(crate) cancel_oldest: bool,
    /// From the first poll: then every running attempt is cancelled.
    pub(crate) deadline: Option<Duration>,
}

impl sealed::Sealed for Limited {}

impl Limits for Limited {
    type Slot<Sl> = Option<Sl>;
    const CAN_EXPIRE: bool = true;
    fn empty_slot<Sl>() -> Option<Sl> {
        None
    }
    fn to_limited(&self) -> Limited {
        *self
    }
    fn clear_slot<Sl>(mut slot: Pin<&mut Option<Sl>>) {
        slot.set(None);
    }
    #[inline]
    fn may_start(&self, running: usize) -> bool {
        running < self.max_running || self.cancel_oldest
    }
    #[inline]
    fn must_cancel_oldest(&self, running: usize) -> bool {
        running >= self.max_running
    }
    fn poll_deadline<Tm: Timer>(
        &self,
        mut slot: Pin<&mut Option<Tm::Sleep>>,
        timer: &Tm,
        fresh: bool,
        cx: &mut Context<'_>,
    ) -> bool {
        let Some(limit) = self.deadline else {
            return false;
        };
        if fresh {
            if limit.is_zero() {
                return true;
            }
            slot.set(Some(timer.sleep(limit)));
        }
        let expired = slot
            .as_mut()
            .as_pin_mut()
            .map_or(true, |sleep| sleep.poll(cx).is_ready());
        if expired {
            slot.set(None);
        }
        expired
    }
}
