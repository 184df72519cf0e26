//! [`AttemptFn`]: what a race starts, one attempt closure at a time. Below both the policies
//! (a [`Source`](crate::builder::Source) yields attempt closures) and the race.

use core::future::Future;

// For the docs' links.
#[cfg(all(doc, feature = "alloc"))]
use crate::StaggeredRace;

mod sealed {
    pub trait Sealed {}
}

/// A factory for one attempt: called once, when the attempt starts, it returns the attempt's
/// future.
///
/// Implemented for every `FnOnce() -> Fut` where `Fut: Future<Output = Result<T, E>>`; it only
/// exists to name `Fut`, `T` and `E` in [`StaggeredRace`]'s `Future` implementation. You never
/// implement it yourself.
///
/// ```
/// use staggered::AttemptFn;
///
/// fn start<A: AttemptFn>(attempt: A) -> A::Future {
///     attempt.start()
/// }
/// let attempt = || async { Ok::<u8, ()>(7) };
/// assert_eq!(futures::executor::block_on(start(attempt)), Ok(7));
/// ```
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[`StaggeredRace`]: crate#features"
)]
pub trait AttemptFn: sealed::Sealed {
    /// The attempt's success value.
    type Ok;
    /// The attempt's error.
    type Error;
    /// The attempt's future.
    type Future: Future<Output = Result<Self::Ok, Self::Error>>;

    /// Starts the attempt.
    fn start(self) -> Self::Future;
}

impl<F, Fut, T, E> sealed::Sealed for F
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
}

impl<F, Fut, T, E> AttemptFn for F
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Ok = T;
    type Error = E;
    type Future = Fut;

    fn start(self) -> Fut {
        self()
    }
}
