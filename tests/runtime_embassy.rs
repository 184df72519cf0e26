//! The runtime suite on embassy-executor's `std` platform, with `EmbassyTimer` over
//! embassy-time's `std` driver (a real clock). Embassy has no TCP on a host without a network
//! driver, so the TCP connect runs on async-io's reactor, which drives itself.

mod runtimes;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use embassy_executor::raw::TaskStorage;
use embassy_executor::Executor;
use runtimes::{BoxFuture, Harness};
use staggered::timer::EmbassyTimer;

struct Embassy;

impl Harness for Embassy {
    type Timer = EmbassyTimer;

    fn timer() -> EmbassyTimer {
        EmbassyTimer
    }

    /// Spawns `fut` as the only task of a new executor on this thread, and runs the executor
    /// until the task is done. The executor and the task's storage must be `'static`, so they
    /// are leaked: a few hundred bytes per test.
    fn block_on<F: Future + 'static>(fut: F) -> F::Output {
        let output = Rc::new(RefCell::new(None));
        let slot = output.clone();
        let task = async move {
            let value = fut.await;
            *slot.borrow_mut() = Some(value);
        };
        let storage = Box::leak(Box::new(TaskStorage::new()));
        let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
        executor.run_until(
            |spawner| spawner.spawn(storage.spawn(|| task).unwrap()),
            || output.borrow().is_some(),
        );
        let value = output.borrow_mut().take();
        value.unwrap()
    }

    fn now() -> Duration {
        Duration::from_micros(embassy_time::Instant::now().as_micros())
    }

    fn event(after: Duration) -> BoxFuture<()> {
        let ticks = embassy_time::Duration::from_micros(after.as_micros() as u64);
        Box::pin(embassy_time::Timer::after(ticks))
    }
}

runtimes::scenarios!(Embassy);
