//! The runtime suite on async-std, with `AsyncIoTimer` and async-std's own sleeps and I/O.

mod runtimes;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use runtimes::{BoxFuture, Harness};
use staggered::timer::AsyncIoTimer;

struct AsyncStd;

impl Harness for AsyncStd {
    type Timer = AsyncIoTimer;

    fn timer() -> AsyncIoTimer {
        AsyncIoTimer
    }

    fn block_on<F: Future + 'static>(fut: F) -> F::Output {
        async_std::task::block_on(fut)
    }

    fn now() -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }

    fn event(after: Duration) -> BoxFuture<()> {
        Box::pin(async_std::task::sleep(after))
    }

    fn connect(addr: SocketAddr) -> BoxFuture<io::Result<SocketAddr>> {
        Box::pin(async move { async_std::net::TcpStream::connect(addr).await?.peer_addr() })
    }
}

runtimes::scenarios!(AsyncStd);
