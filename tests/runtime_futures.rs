//! The runtime suite on `futures::executor::block_on`, with `FuturesTimer`. This executor has
//! no I/O of its own: the TCP connect runs on async-io's reactor, which drives itself.

mod runtimes;

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use runtimes::{BoxFuture, Harness};
use staggered::timer::FuturesTimer;

struct BlockOn;

impl Harness for BlockOn {
    type Timer = FuturesTimer;

    fn timer() -> FuturesTimer {
        FuturesTimer
    }

    fn block_on<F: Future + 'static>(fut: F) -> F::Output {
        futures::executor::block_on(fut)
    }

    fn now() -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }

    fn event(after: Duration) -> BoxFuture<()> {
        Box::pin(futures_timer::Delay::new(after))
    }
}

runtimes::scenarios!(BlockOn);
