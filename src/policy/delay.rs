//! When the next attempt starts: a [`Delay`] policy, fixed ([`Fixed`]) or computed per attempt
//! ([`DelayFn`]).

use core::fmt;
use core::time::Duration;

mod sealed {
    pub trait Sealed {}
}

/// How long after attempt `index` starts the next one starts (if `index` has not failed by
/// then). `None`: only its failure starts the next; `Some(Duration::ZERO)`: the next starts at
/// once.
///
/// Implemented by [`Fixed`] (set by [`Staggered::delay`](crate::Staggered::delay),
/// [`sequential`](crate::Staggered::sequential) and
/// [`all_at_once`](crate::Staggered::all_at_once)) and by [`DelayFn`] (set by
/// [`Staggered::delay_fn`](crate::Staggered::delay_fn)); you never implement it yourself.
///
/// ```
/// use std::time::Duration;
/// use staggered::builder::{Delay, Fixed};
///
/// let mut fixed = Fixed(Some(Duration::from_millis(250)));
/// assert_eq!(fixed.after(3), Some(Duration::from_millis(250)));
/// ```
pub trait Delay: sealed::Sealed {
    /// The same answer for every index, with no side effect: the race may ask only when it
    /// needs the answer.
    #[doc(hidden)]
    const FIXED: bool = false;

    /// The delay after attempt `index` starts. The race calls it once per started attempt,
    /// as the attempt starts, inside its `poll`.
    fn after(&mut self, index: usize) -> Option<Duration>;
}

/// The same delay after every attempt: [`staggered_race`][crate::staggered_race]'s `delay`.
///
/// ```
/// use staggered::{builder::Fixed, Staggered};
///
/// let race: Staggered<_, Fixed> = Staggered::new([|| async { Ok::<u8, ()>(1) }]).sequential();
/// # let _ = race;
/// ```
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[crate::staggered_race]: crate#features"
)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fixed(pub Option<Duration>);

impl sealed::Sealed for Fixed {}

impl Delay for Fixed {
    const FIXED: bool = true;
    #[inline]
    fn after(&mut self, _: usize) -> Option<Duration> {
        self.0
    }
}

/// A delay computed for each attempt by a closure, `FnMut(usize) -> Option<Duration>`: set by
/// [`Staggered::delay_fn`](crate::Staggered::delay_fn).
///
/// ```
/// use std::time::Duration;
/// use staggered::builder::{Delay, DelayFn};
///
/// // A delay that doubles: 100 ms after the first attempt, 200 ms after the second, ...
/// let mut growing = DelayFn(|index: usize| Some(Duration::from_millis(100) * 2u32.pow(index as u32)));
/// assert_eq!(growing.after(2), Some(Duration::from_millis(400)));
/// ```
#[derive(Clone, Copy)]
pub struct DelayFn<F>(pub F);

impl<F> fmt::Debug for DelayFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DelayFn(..)")
    }
}

impl<F: FnMut(usize) -> Option<Duration>> sealed::Sealed for DelayFn<F> {}

impl<F: FnMut(usize) -> Option<Duration>> Delay for DelayFn<F> {
    #[inline]
    fn after(&mut self, index: usize) -> Option<Duration> {
        (self.0)(index)
    }
}
