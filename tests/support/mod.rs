//! Test support shared by the integration tests: scripted attempts that record what happened
//! to them, in the virtual time of a [`ManualClock`].

#![allow(dead_code)]

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use staggered::testing::ManualClock;
use staggered::{staggered_race, Outcome};

/// Milliseconds of virtual time.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What a scripted attempt does once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Succeeds after this many milliseconds, with its own index as the value.
    Ok(u64),
    /// Fails after this many milliseconds, with its own index as the error.
    Err(u64),
    /// Never finishes.
    Hang,
}

/// What happened to the attempts, in virtual time.
#[derive(Debug, Default)]
pub struct Trace {
    /// `(index, time)` each time an attempt's closure was called.
    pub starts: Vec<(usize, Duration)>,
    /// `(index, time)` each time an attempt's future was dropped.
    pub drops: Vec<(usize, Duration)>,
    /// Polls of each attempt's future.
    pub polls: Vec<usize>,
}

impl Trace {
    pub fn start_times(&self) -> Vec<Duration> {
        self.starts.iter().map(|&(_, t)| t).collect()
    }
    pub fn drop_time(&self, index: usize) -> Option<Duration> {
        let mut it = self.drops.iter().filter(|&&(i, _)| i == index);
        let first = it.next().map(|&(_, t)| t);
        assert!(it.next().is_none(), "attempt {index} dropped twice");
        first
    }
}

/// Records the drop of an attempt's future.
pub struct DropProbe {
    index: usize,
    clock: ManualClock,
    trace: Rc<RefCell<Trace>>,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.trace
            .borrow_mut()
            .drops
            .push((self.index, self.clock.now()));
    }
}

/// The future of a scripted attempt.
pub fn scripted(
    index: usize,
    act: Act,
    clock: &ManualClock,
    trace: &Rc<RefCell<Trace>>,
) -> impl Future<Output = Result<usize, usize>> {
    let probe = DropProbe {
        index,
        clock: clock.clone(),
        trace: trace.clone(),
    };
    let clock = clock.clone();
    let trace = trace.clone();
    let body = async move {
        let _probe = probe;
        match act {
            Act::Ok(t) => {
                clock.sleep(ms(t)).await;
                Ok(index)
            }
            Act::Err(t) => {
                clock.sleep(ms(t)).await;
                Err(index)
            }
            Act::Hang => std::future::pending().await,
        }
    };
    CountPolls {
        index,
        trace,
        inner: Box::pin(body),
    }
}

/// Counts polls of the wrapped future in the trace.
pub struct CountPolls<F> {
    index: usize,
    trace: Rc<RefCell<Trace>>,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        {
            let mut trace = self.trace.borrow_mut();
            if trace.polls.len() <= self.index {
                trace.polls.resize(self.index + 1, 0);
            }
            trace.polls[self.index] += 1;
        }
        self.inner.as_mut().poll(cx)
    }
}

/// Runs a scripted race to completion in virtual time.
pub fn run(acts: &[Act], delay: Option<Duration>) -> (Outcome<usize, usize>, Trace, ManualClock) {
    let clock = ManualClock::new();
    let trace = Rc::new(RefCell::new(Trace::default()));
    let race = staggered_race(
        acts.iter().enumerate().map(|(i, &act)| {
            let (clock, trace) = (clock.clone(), trace.clone());
            move || {
                trace.borrow_mut().starts.push((i, clock.now()));
                scripted(i, act, &clock, &trace)
            }
        }),
        delay,
        clock.clone(),
    );
    let outcome = clock.block_on(race);
    drop(outcome.clone()); // Outcome is Clone
    let trace = Rc::try_unwrap(trace)
        .expect("no attempt outlives the race")
        .into_inner();
    (outcome, trace, clock)
}

/// A manual event, like `asyncio.Event`: waiters are woken in the order they waited.
#[derive(Clone, Default)]
pub struct Event(Rc<RefCell<(bool, Vec<Waker>)>>);

impl Event {
    pub fn set(&self) {
        let waiters = {
            let mut inner = self.0.borrow_mut();
            inner.0 = true;
            std::mem::take(&mut inner.1)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut inner = self.0.borrow_mut();
            if inner.0 {
                Poll::Ready(())
            } else {
                inner.1.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// A waker that counts its wakes.
#[derive(Default)]
pub struct CountWaker(pub std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl CountWaker {
    pub fn new() -> (std::sync::Arc<Self>, Waker) {
        let counter = std::sync::Arc::new(Self::default());
        let waker = Waker::from(counter.clone());
        (counter, waker)
    }
    pub fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Yields to the executor once, like `asyncio.sleep(0)`: pending once, having woken itself.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
