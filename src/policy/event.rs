//! What a race reports as it runs: [`Event`], and the observer that receives them
//! ([`NoEvents`] or [`OnEvent`]).

use core::fmt;

mod sealed {
    pub trait Sealed {}
}

/// One step of a race, reported to the callback set with
/// [`Staggered::on_event`](crate::Staggered::on_event) as it happens.
///
/// Each started attempt gets exactly one `Started`, then exactly one of `Failed`, `Won` or
/// `Cancelled`. `index` is the attempt's index in the source, as in
/// [`Outcome::attempts`][crate::Outcome::attempts] (or [`ArrayOutcome::attempts`](crate::ArrayOutcome::attempts)).
///
/// ```
/// use staggered::Event;
///
/// fn line(event: Event<'_, &str>) -> String {
///     match event {
///         Event::Started { index } => format!("#{index} started"),
///         Event::Failed { index, error } => format!("#{index} failed: {error}"),
///         Event::Won { index } => format!("#{index} won"),
///         Event::Cancelled { index } => format!("#{index} cancelled"),
///     }
/// }
/// assert_eq!(line(Event::Failed { index: 1, error: &"refused" }), "#1 failed: refused");
/// ```
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[crate::Outcome::attempts]: crate#features"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event<'a, E> {
    /// Attempt `index` started: its closure was called, and its future is about to be polled
    /// for the first time.
    Started {
        /// The attempt's index.
        index: usize,
    },
    /// Attempt `index` returned this error.
    Failed {
        /// The attempt's index.
        index: usize,
        /// Its error (moved into the outcome right after).
        error: &'a E,
    },
    /// Attempt `index` returned `Ok` first: it won.
    Won {
        /// The attempt's index.
        index: usize,
    },
    /// Attempt `index` was dropped while running: another won, the deadline passed, it was
    /// the oldest when a start needed room ([`cancel_oldest_when_full`]), or the race itself
    /// was dropped. Reported once its future has been dropped (a socket it held is closed).
    ///
    /// [`cancel_oldest_when_full`]: crate::Staggered::cancel_oldest_when_full
    Cancelled {
        /// The attempt's index.
        index: usize,
    },
}

/// Where a race sends its [`Event`]s: [`NoEvents`] (the default) or [`OnEvent`]. You never
/// implement it yourself.
///
/// ```
/// use staggered::{builder::{Observe, OnEvent}, Event};
///
/// let mut count = 0;
/// let mut observer = OnEvent(|_: Event<'_, ()>| count += 1);
/// observer.event(Event::Started { index: 0 });
/// drop(observer);
/// assert_eq!(count, 1);
/// ```
pub trait Observe<E>: sealed::Sealed {
    /// `false` if events go nowhere (the race then skips the work of making them).
    #[doc(hidden)]
    const ENABLED: bool = true;
    /// Receives one event.
    fn event(&mut self, event: Event<'_, E>);
}

/// No observer: events are not made at all. The default.
///
/// ```
/// use staggered::{builder::NoEvents, Staggered};
///
/// let _race: Staggered<_, _, NoEvents> = Staggered::new([|| async { Ok::<u8, ()>(1) }]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoEvents;

impl sealed::Sealed for NoEvents {}

impl<E> Observe<E> for NoEvents {
    const ENABLED: bool = false;
    #[inline]
    fn event(&mut self, _: Event<'_, E>) {}
}

/// A callback, `FnMut(Event<'_, E>)`, as the observer: set by
/// [`Staggered::on_event`](crate::Staggered::on_event).
///
/// ```
/// use staggered::{builder::{Observe, OnEvent}, Event};
///
/// let mut seen = Vec::new();
/// let mut observer = OnEvent(|event: Event<'_, &str>| seen.push(format!("{event:?}")));
/// observer.event(Event::Won { index: 2 });
/// drop(observer);
/// assert_eq!(seen, ["Won { index: 2 }"]);
/// ```
#[derive(Clone, Copy)]
pub struct OnEvent<F>(pub F);

impl<F> fmt::Debug for OnEvent<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnEvent(..)")
    }
}

impl<F> sealed::Sealed for OnEvent<F> {}

impl<E, F: FnMut(Event<'_, E>)> Observe<E> for OnEvent<F> {
    #[inline]
    fn event(&mut self, event: Event<'_, E>) {
        (self.0)(event)
    }
}
