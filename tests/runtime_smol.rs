//! The runtime suite on smol, with `AsyncIoTimer` and smol's own I/O.

mod runtimes;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use runtimes::{BoxFuture, Harness};
use staggered::timer::AsyncIoTimer;

struct Smol;

impl Harness for Smol {
    type Timer = AsyncIoTimer;

    fn timer() -> AsyncIoTimer {
        AsyncIoTimer
    }

    fn block_on<F: Future + 'static>(fut: F) -> F::Output {
        // A local executor, so the scenario's future need not be `Send`.
        let ex = smol::LocalExecutor::new();
        smol::block_on(ex.run(fut))
    }

    fn now() -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }

    fn event(after: Duration) -> BoxFuture<()> {
        Box::pin(async move {
            smol::Timer::after(after).await;
        })
    }

    fn connect(addr: SocketAddr) -> BoxFuture<io::Result<SocketAddr>> {
        Box::pin(async move { smol::net::TcpStream::connect(addr).await?.peer_addr() })
    }
}

runtimes::scenarios!(Smol);
