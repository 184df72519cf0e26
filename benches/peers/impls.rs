//! The peers that have to be written by hand: the do-it-yourself loop (over
//! `FuturesUnordered`, or over a tokio `JoinSet` that spawns each attempt, as a port of
//! asyncio's task-based design would), and the single-purpose two-attempt state machine that
//! stands for the floor.
//!
//! All of them keep the same record as `staggered`: the winner's index and value, and each
//! started attempt's error in start order.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use staggered::Timer;
use tokio::task::JoinSet;

/// What a hand-written race reports: the winner, and one entry per started attempt (its
/// error, or `None` for the winner and the cancelled).
pub type LoopOutcome<T, E> = (Option<(usize, T)>, Vec<Option<E>>);

pin_project_lite::pin_project! {
    /// An attempt's future tagged with its index, so the pool can say which one finished.
    pub struct Tagged<Fut> {
        index: usize,
        #[pin]
        fut: Fut,
    }
}

impl<Fut: Future> Future for Tagged<Fut> {
    type Output = (usize, Fut::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let index = *this.index;
        this.fut.poll(cx).map(|out| (index, out))
    }
}

/// Where the loop keeps the running attempts.
pub trait Pool<Fut: Future> {
    fn push(&mut self, index: usize, fut: Fut);
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, Fut::Output)>>;
}

impl<Fut: Future> Pool<Fut> for FuturesUnordered<Tagged<Fut>> {
    fn push(&mut self, index: usize, fut: Fut) {
        FuturesUnordered::push(self, Tagged { index, fut });
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, Fut::Output)>> {
        self.poll_next_unpin(cx)
    }
}

impl<Fut> Pool<Fut> for JoinSet<(usize, Fut::Output)>
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn push(&mut self, index: usize, fut: Fut) {
        self.spawn(Tagged { index, fut });
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, Fut::Output)>> {
        self.poll_join_next(cx)
            .map(|next| next.map(|joined| joined.expect("an attempt panicked")))
    }
}

/// The usual do-it-yourself staggered race: a loop over a pool of running attempts and one
/// sleep. Same rules as `staggered_race`: the next attempt starts when the newest one fails
/// or when the delay has passed since it started; the first `Ok` wins; dropping the pool
/// cancels the rest.
pub async fn loop_race<I, F, Fut, T, E, Tm, P>(
    attempts: I,
    delay: Option<Duration>,
    timer: Tm,
    mut pool: P,
) -> LoopOutcome<T, E>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    Tm: Timer,
    P: Pool<Fut>,
{
    let mut source = attempts.into_iter();
    let mut errors: Vec<Option<E>> = Vec::new();
    let mut start_due = true;
    let mut exhausted = false;
    let mut sleep = pin!(None::<Tm::Sleep>);
    poll_fn(move |cx| loop {
        if start_due && !exhausted {
            start_due = false;
            match source.next() {
                Some(make) => {
                    pool.push(errors.len(), make());
                    errors.push(None);
                    match delay {
                        None => sleep.set(None),
                        Some(Duration::ZERO) => start_due = true,
                        Some(delay) => sleep.set(Some(timer.sleep(delay))),
                    }
                }
                None => {
                    exhausted = true;
                    sleep.set(None);
                }
            }
            continue;
        }
        match pool.poll_next(cx) {
            Poll::Ready(Some((index, Ok(value)))) => {
                return Poll::Ready((Some((index, value)), std::mem::take(&mut errors)));
            }
            Poll::Ready(Some((index, Err(error)))) => {
                errors[index] = Some(error);
                if index + 1 == errors.len() && !exhausted {
                    start_due = true;
                    sleep.set(None);
                }
                continue;
            }
            Poll::Ready(None) if exhausted => {
                return Poll::Ready((None, std::mem::take(&mut errors)));
            }
            Poll::Ready(None) | Poll::Pending => {}
        }
        if let Some(s) = sleep.as_mut().as_pin_mut() {
            if s.poll(cx).is_ready() {
                sleep.set(None);
                start_due = true;
                continue;
            }
        }
        return Poll::Pending;
    })
    .await
}

/// The do-it-yourself loop over `FuturesUnordered`.
pub fn futures_unordered_race<I, F, Fut, T, E, Tm>(
    attempts: I,
    delay: Option<Duration>,
    timer: Tm,
) -> impl Future<Output = LoopOutcome<T, E>>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    Tm: Timer,
{
    loop_race(attempts, delay, timer, FuturesUnordered::new())
}

/// The same loop, spawning each attempt into a tokio `JoinSet` (call it inside a runtime).
pub fn joinset_race<I, F, Fut, T, E, Tm>(
    attempts: I,
    delay: Option<Duration>,
    timer: Tm,
) -> impl Future<Output = LoopOutcome<T, E>>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    Tm: Timer,
{
    loop_race(attempts, delay, timer, JoinSet::new())
}

pin_project_lite::pin_project! {
    /// The floor: a hand-written state machine that races exactly two attempts with a staggered
    /// start, and does nothing else. No allocation, no per-attempt waker, no queue.
    pub struct Floor2<F, Fut, E, Tm: Timer> {
        make: [Option<F>; 2],
        #[pin]
        a: Option<Fut>,
        #[pin]
        b: Option<Fut>,
        #[pin]
        sleep: Option<Tm::Sleep>,
        timer: Tm,
        delay: Duration,
        errors: [Option<E>; 2],
    }
}

/// What the floor reports: the winner, and each attempt's error.
pub type FloorOutcome<T, E> = (Option<(usize, T)>, [Option<E>; 2]);

pub fn floor_race<F, Fut, T, E, Tm>(
    first: F,
    second: F,
    delay: Duration,
    timer: Tm,
) -> Floor2<F, Fut, E, Tm>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    Tm: Timer,
{
    Floor2 {
        make: [Some(first), Some(second)],
        a: None,
        b: None,
        sleep: None,
        timer,
        delay,
        errors: [None, None],
    }
}

impl<F, Fut, T, E, Tm> Future for Floor2<F, Fut, E, Tm>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    Tm: Timer,
{
    type Output = FloorOutcome<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(make) = this.make[0].take() {
            this.a.set(Some(make()));
        }
        if let Some(a) = this.a.as_mut().as_pin_mut() {
            match a.poll(cx) {
                Poll::Ready(Ok(value)) => {
                    this.a.set(None);
                    this.b.set(None);
                    this.sleep.set(None);
                    return Poll::Ready((Some((0, value)), std::mem::take(this.errors)));
                }
                Poll::Ready(Err(error)) => {
                    this.a.set(None);
                    this.errors[0] = Some(error);
                    if let Some(make) = this.make[1].take() {
                        this.sleep.set(None);
                        this.b.set(Some(make()));
                    }
                }
                Poll::Pending => {
                    if this.make[1].is_some() {
                        if this.sleep.is_none() {
                            this.sleep.set(Some(this.timer.sleep(*this.delay)));
                        }
                        let sleep = this.sleep.as_mut().as_pin_mut().expect("set above");
                        if sleep.poll(cx).is_ready() {
                            this.sleep.set(None);
                            let make = this.make[1].take().expect("checked above");
                            this.b.set(Some(make()));
                        }
                    }
                }
            }
        }
        if let Some(b) = this.b.as_mut().as_pin_mut() {
            match b.poll(cx) {
                Poll::Ready(Ok(value)) => {
                    this.a.set(None);
                    this.b.set(None);
                    return Poll::Ready((Some((1, value)), std::mem::take(this.errors)));
                }
                Poll::Ready(Err(error)) => {
                    this.b.set(None);
                    this.errors[1] = Some(error);
                }
                Poll::Pending => {}
            }
        }
        if this.a.is_none() && this.b.is_none() && this.make[1].is_none() {
            return Poll::Ready((None, std::mem::take(this.errors)));
        }
        Poll::Pending
    }
}
