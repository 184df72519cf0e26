//! Where a race's attempts come from: an [`Iterator`] (the default) or a [`Stream`], through
//! [`Source`].

use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::Stream;

use crate::attempt::AttemptFn;

mod sealed {
    pub trait Sealed {}
}

/// A source of attempts: any [`Iterator`] of attempt closures, or a [`Stream`] of them
/// wrapped in [`FromStream`] (by [`Staggered::from_stream`](crate::Staggered::from_stream)).
///
/// You never implement it; it only names what a race reads its attempts from.
///
/// ```
/// use staggered::{builder::FromStream, Staggered};
///
/// // An iterator is a source as it is; a stream is one inside `FromStream`.
/// let _from_iter = Staggered::new([|| async { Ok::<u8, ()>(1) }]);
/// let stream = futures::stream::iter([|| async { Ok::<u8, ()>(1) }]);
/// let _from_stream: Staggered<FromStream<_>> = Staggered::from_stream(stream);
/// ```
pub trait Source: sealed::Sealed {
    /// The attempt closures it yields.
    type Item: AttemptFn;
    /// How the race polls it (an implementation detail).
    #[doc(hidden)]
    type Driver: SourceDriver<Item = Self::Item>;
    /// Makes the driver (an implementation detail).
    #[doc(hidden)]
    fn into_driver(self) -> Self::Driver;
}

/// The race's view of a source: polled for the next attempt only when a start is due.
#[doc(hidden)]
pub trait SourceDriver {
    type Item: AttemptFn;
    /// `poll_next` may return `Pending`.
    const CAN_PEND: bool;
    /// The next attempt; `Pending` registers `cx`'s waker for when one comes.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>>;
    /// At most how many attempts are left, if the source knows.
    fn upper_bound(&self) -> Option<usize>;
}

impl<I> sealed::Sealed for I
where
    I: Iterator,
    I::Item: AttemptFn,
{
}

impl<I> Source for I
where
    I: Iterator,
    I::Item: AttemptFn,
{
    type Item = I::Item;
    type Driver = IterDriver<I>;
    fn into_driver(self) -> IterDriver<I> {
        IterDriver(self)
    }
}

/// An iterator as a source. The iterator is never pinned: `IterDriver` is `Unpin` whatever
/// `I` is, so the race needs no `Unpin` from it.
#[doc(hidden)]
#[derive(Debug)]
pub struct IterDriver<I>(I);

impl<I> Unpin for IterDriver<I> {}

impl<I> SourceDriver for IterDriver<I>
where
    I: Iterator,
    I::Item: AttemptFn,
{
    type Item = I::Item;
    const CAN_PEND: bool = false;
    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.get_mut().0.next())
    }
    fn upper_bound(&self) -> Option<usize> {
        self.0.size_hint().1
    }
}

pin_project_lite::pin_project! {
    /// A [`Stream`] of attempt closures as a race's source: attempts that arrive over time
    /// (the answers of a DNS lookup, replicas a discovery client learns of). Made by
    /// [`Staggered::from_stream`](crate::Staggered::from_stream).
    ///
    /// The race polls the stream only when a start is due, with the task's waker, so closures
    /// stay lazy: nothing is pulled before it would start. The stream need not be `Unpin`.
    ///
    /// ```
    /// use staggered::{timer::NoTimer, Staggered};
    ///
    /// let stream = futures::stream::iter(["a", "b"].map(|name| move || async move {
    ///     if name == "b" { Ok(name) } else { Err("down") }
    /// }));
    /// let outcome = futures::executor::block_on(Staggered::from_stream(stream).race(NoTimer));
    /// assert_eq!(outcome.winner, Some((1, "b")));
    /// ```
    #[derive(Debug)]
    pub struct FromStream<S> {
        #[pin]
        stream: S,
    }
}

impl<S> FromStream<S> {
    pub(crate) fn new(stream: S) -> Self {
        FromStream { stream }
    }
}

impl<S> sealed::Sealed for FromStream<S>
where
    S: Stream,
    S::Item: AttemptFn,
{
}

impl<S> Source for FromStream<S>
where
    S: Stream,
    S::Item: AttemptFn,
{
    type Item = S::Item;
    type Driver = Self;
    fn into_driver(self) -> Self {
        self
    }
}

impl<S> SourceDriver for FromStream<S>
where
    S: Stream,
    S::Item: AttemptFn,
{
    type Item = S::Item;
    const CAN_PEND: bool = true;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.project().stream.poll_next(cx)
    }
    fn upper_bound(&self) -> Option<usize> {
        self.stream.size_hint().1
    }
}
