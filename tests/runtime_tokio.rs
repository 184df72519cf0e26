//! The runtime suite on tokio: current-thread, multi-thread (attempts woken from worker
//! threads), and a paused clock (exact timings). Plus tokio's co-operative budget.

mod runtimes;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use runtimes::{scenarios, BoxFuture, Harness};
use staggered::timer::TokioTimer;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Tokio's clock, which may be paused.
fn tokio_now() -> Duration {
    tokio::time::Instant::now()
        .into_std()
        .saturating_duration_since(origin())
}

fn tokio_connect(addr: SocketAddr) -> BoxFuture<io::Result<SocketAddr>> {
    Box::pin(async move { tokio::net::TcpStream::connect(addr).await?.peer_addr() })
}

/// A current-thread runtime with a real clock.
struct CurrentThread;

impl Harness for CurrentThread {
    type Timer = TokioTimer;

    fn timer() -> TokioTimer {
        TokioTimer
    }

    fn block_on<F: Future + 'static>(fut: F) -> F::Output {
        origin();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(fut)
    }

    fn now() -> Duration {
        tokio_now()
    }

    fn connect(addr: SocketAddr) -> BoxFuture<io::Result<SocketAddr>> {
        tokio_connect(addr)
    }
}

mod current_thread {
    super::scenarios!(super::CurrentThread);

    /// The conformance check on a real clock is not a formality: tokio's timer with its reset
    /// thrown away fails it.
    #[test]
    fn a_tokio_timer_that_loses_its_resets_fails_the_conformance_check() {
        use staggered::testing::{check_timer, TimerCheckFailure};
        use staggered::Timer;
        use std::pin::Pin;
        use std::time::Duration;

        struct Forgetful;
        impl Timer for Forgetful {
            type Sleep = tokio::time::Sleep;
            fn sleep(&self, duration: Duration) -> tokio::time::Sleep {
                tokio::time::sleep(duration)
            }
            fn reset(&self, _: Pin<&mut tokio::time::Sleep>, _: Duration) {}
        }

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let err = rt
            .block_on(check_timer(
                &Forgetful,
                Duration::from_millis(5),
                tokio::time::sleep,
            ))
            .unwrap_err();
        assert_eq!(err.kind(), TimerCheckFailure::ResetLost, "{err}");
        assert!(
            err.to_string()
                .starts_with("a sleep of 1 day reset to 10ms"),
            "{err}"
        );
    }
}

/// A multi-thread runtime. The race is polled on the test's own thread (`block_on` runs it
/// there, not on a worker), and every attempt is woken by a task on a worker thread, so every
/// wake-up crosses threads. The event checks that it does.
struct MultiThread;

impl Harness for MultiThread {
    type Timer = TokioTimer;

    fn timer() -> TokioTimer {
        TokioTimer
    }

    fn block_on<F: Future + 'static>(fut: F) -> F::Output {
        origin();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(fut)
    }

    fn now() -> Duration {
        tokio_now()
    }

    fn event(after: Duration) -> BoxFuture<()> {
        let waiter = std::thread::current().id();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            assert_ne!(
                std::thread::current().id(),
                waiter,
                "woken from the same thread"
            );
            tx.send(()).unwrap();
        });
        Box::pin(async move { rx.await.expect("the waking task failed") })
    }

    fn connect(addr: SocketAddr) -> BoxFuture<io::Result<SocketAddr>> {
        tokio_connect(addr)
    }
}

mod multi_thread {
    super::scenarios!(super::MultiThread);

    /// The race is `Send`: spawned as a task, it may move between workers between polls.
    #[test]
    fn the_race_runs_as_a_spawned_task() {
        use super::*;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let outcome = rt.block_on(async {
            let task = tokio::spawn(staggered::staggered_race(
                (0..3u64).map(|i| {
                    move || async move {
                        if i < 2 {
                            std::future::pending::<()>().await;
                        }
                        // Woken by yet another task.
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        tokio::spawn(async move { tx.send(i).unwrap() });
                        rx.await.map_err(|_| ())
                    }
                }),
                Some(Duration::from_millis(10)),
                TokioTimer,
            ));
            task.await.unwrap()
        });
        assert_eq!(outcome.winner, Some((2, 2)));
    }
}

/// A current-thread runtime with a paused clock: the clock jumps to the next timer whenever the
/// runtime is idle, so every timing is exact.
struct Paused;

impl Harness for Paused {
    type Timer = TokioTimer;
    const EXACT: bool = true;

    fn timer() -> TokioTimer {
        TokioTimer
    }

    fn block_on<F: Future + 'static>(fut: F) -> F::Output {
        origin();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(fut)
    }

    fn now() -> Duration {
        tokio_now()
    }

    fn connect(addr: SocketAddr) -> BoxFuture<io::Result<SocketAddr>> {
        tokio_connect(addr)
    }
}

mod paused {
    super::scenarios!(super::Paused);
}

/// Tokio's co-operative budget, opted into with `tokio::task::coop::cooperative`.
mod coop {
    use std::cell::Cell;
    use std::rc::Rc;

    use staggered::{staggered_race, timer::TokioTimer};

    /// Runs races whose attempts fail at once, back to back, in one task, while another
    /// task waits to run. Returns how many races finished before the other task ran.
    async fn races_before_the_other_task_runs(cooperate: bool) -> usize {
        let ran = Rc::new(Cell::new(false));
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let flag = ran.clone();
                tokio::task::spawn_local(async move { flag.set(true) });
                let mut finished = 0;
                while !ran.get() && finished < 10_000 {
                    let race = staggered_race(
                        (0..3).map(|_| || async { Err::<(), _>("refused") }),
                        None,
                        TokioTimer,
                    );
                    let outcome = if cooperate {
                        tokio::task::coop::cooperative(race).await
                    } else {
                        race.await
                    };
                    assert_eq!(outcome.attempts.len(), 3);
                    finished += 1;
                }
                finished
            })
            .await
    }

    /// Alone, a race that never waits never yields to tokio: the loop starves the other task.
    /// Wrapped in `cooperative`, each race spends a unit of the task's budget, and tokio makes
    /// the task yield when it runs out.
    #[test]
    fn cooperative_races_yield_when_the_budget_runs_out() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let alone = rt.block_on(races_before_the_other_task_runs(false));
        assert_eq!(alone, 10_000, "without coop, the loop never yields");
        let cooperative = rt.block_on(races_before_the_other_task_runs(true));
        // Tokio's budget is 128 units: the race that found it spent yields, and finishes on
        // the next poll, after the other task ran.
        assert!(
            (1..=129).contains(&cooperative),
            "with coop, the task yields within one budget (128), not after {cooperative} races"
        );
    }
}
