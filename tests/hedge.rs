//! `staggered::hedge` (issue 19): the percentile against an exact sort, the budget under many
//! threads, the policy's delays driving the race's starts, eligibility, panics in the user's
//! hooks, and the tower layer end to end over a real service on loopback (one that is not
//! ready at first, and a response future dropped while its attempts run).

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use proptest::prelude::*;
use staggered::hedge::{Budget, Hedge, HedgeLayer, Percentile, Win};
use staggered::testing::ManualClock;
use staggered::timer::TokioTimer;
use staggered::{Attempt, Staggered};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tower_layer::Layer;
use tower_service::Service;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A deterministic pseudo-random sequence (splitmix64).
fn random(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed;
    std::iter::repeat_with(move || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

#[test]
fn the_percentile_is_within_one_percent_of_an_exact_sort() {
    for seed in 0..5 {
        // A heavy tail: mostly 1-3 ms, some 40-80 ms, a few 200-400 ms (in microseconds).
        let data: Vec<u64> = random(seed)
            .take(5000)
            .map(|x| match x % 100 {
                0 => 200_000 + x / 100 % 200_000,
                1..=5 => 40_000 + x / 100 % 40_000,
                _ => 1_000 + x / 100 % 2_000,
            })
            .collect();
        let mut sorted = data.clone();
        sorted.sort();
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            let p = Percentile::new(q)
                .window(10_000)
                .min_samples(1)
                .clamp(Duration::ZERO, Duration::MAX);
            for &us in &data {
                p.record(Duration::from_micros(us));
            }
            let exact = sorted[((sorted.len() as f64) * q).ceil() as usize - 1] as f64;
            let got = p.current().unwrap().as_micros() as f64;
            assert!(
                (got - exact).abs() <= exact * 0.01 + 1.0,
                "seed {seed} q {q}: {got} µs against {exact} µs exactly"
            );
            // The cached delay was refreshed at the last record (5000 = a multiple of 2500).
            assert_eq!(p.delay(), p.current().unwrap());
        }
    }
}

#[test]
fn the_percentile_forgets_old_latencies() {
    let p = Percentile::new(0.5).window(100).min_samples(1);
    for _ in 0..300 {
        p.record(ms(100));
    }
    for _ in 0..200 {
        p.record(ms(2));
    }
    // Only the last 100 to 200 latencies count: the 100 ms ones are gone.
    assert_eq!(p.current(), Some(ms(2)));
    assert_eq!(p.delay(), ms(2));
}

#[test]
fn the_percentile_falls_back_and_clamps() {
    let p = Percentile::new(0.9)
        .min_samples(3)
        .fallback(ms(77))
        .clamp(ms(5), ms(20));
    p.record(ms(1));
    p.record(ms(1));
    assert_eq!(p.delay(), ms(77));
    p.record(ms(1));
    assert_eq!(p.delay(), ms(5));
    for _ in 0..500 {
        p.record(ms(500));
    }
    assert_eq!(p.delay(), ms(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_budget_is_never_exceeded_by_more_than_one_under_many_threads() {
    let budget = Budget::new(0.1).window(1_000_000);
    let (deposits, withdrawals) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let (budget, deposits, withdrawals) =
                (budget.clone(), deposits.clone(), withdrawals.clone());
            tokio::spawn(async move {
                for i in 0..5_000 {
                    if (i + t) % 3 != 0 {
                        budget.deposit();
                        deposits.fetch_add(1, Ordering::SeqCst);
                    }
                    // Everyone tries to spend, more often than the budget allows.
                    if budget.try_withdraw() {
                        let w = withdrawals.fetch_add(1, Ordering::SeqCst) + 1;
                        let d = deposits.load(Ordering::SeqCst);
                        assert!(w <= d / 10 + 1, "{w} withdrawals after {d} deposits");
                    }
                    if i % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let (d, w) = (
        deposits.load(Ordering::SeqCst),
        withdrawals.load(Ordering::SeqCst),
    );
    assert!(
        w <= d / 10 + 1 && w + 1 >= d / 10,
        "{w} withdrawals for {d} deposits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hedged_calls_on_many_threads_keep_to_the_budget() {
    let budget = Budget::new(0.1).window(1_000_000);
    let hedge = Arc::new(
        Hedge::fixed(Duration::ZERO)
            .max_hedges(3)
            .budget(budget.clone()),
    );
    let attempts = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (hedge, attempts) = (hedge.clone(), attempts.clone());
            tokio::spawn(async move {
                for _ in 0..500 {
                    let outcome = hedge
                        .call(TokioTimer, || {
                            attempts.fetch_add(1, Ordering::SeqCst);
                            async { Err::<(), _>("down") }
                        })
                        .await;
                    assert!(outcome.winner.is_none());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let extra = attempts.load(Ordering::SeqCst) - 4000;
    assert!(
        (399..=401).contains(&extra),
        "{extra} extra attempts for 4000 calls at 10%"
    );
}

/// Runs a hedged call whose attempts all hang but the last allowed, on a manual clock, and
/// returns when each attempt started.
fn start_times(hedge: &Hedge, hedges: usize) -> Vec<Duration> {
    let clock = ManualClock::new();
    let starts = RefCell::new(Vec::new());
    let outcome = clock.block_on(hedge.call(clock.clone(), || {
        starts.borrow_mut().push(clock.now());
        let last = starts.borrow().len() == hedges + 1;
        async move {
            if !last {
                std::future::pending::<()>().await;
            }
            Ok::<_, ()>(())
        }
    }));
    assert_eq!(outcome.winner_index(), Some(hedges));
    starts.into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// The policy's delay function feeds `Staggered::delay_fn`: attempt `i + 1` starts
    /// `delay_after(i)` after attempt `i`, in `Hedge::call` and in a race of one's own.
    #[test]
    fn a_hedge_policy_drives_the_start_times(delays in proptest::collection::vec(0u64..500, 1..5)) {
        let k = delays.len();
        let table = delays.clone();
        let hedge = Hedge::delay_fn(move |i| Some(ms(table[i]))).max_hedges(k);
        let mut expected = vec![Duration::ZERO];
        for (i, d) in delays.iter().enumerate() {
            prop_assert_eq!(hedge.delay_after(i), Some(ms(*d)));
            expected.push(expected[i] + ms(*d));
        }
        prop_assert_eq!(hedge.delay_after(k), None);
        prop_assert_eq!(start_times(&hedge, k), expected.clone());

        // The same policy in a race built by hand.
        let clock = ManualClock::new();
        let starts = RefCell::new(Vec::new());
        let outcome = clock.block_on(
            Staggered::new((0..=k).map(|i| {
                let (clock, starts) = (&clock, &starts);
                move || {
                    starts.borrow_mut().push(clock.now());
                    async move { if i < k { std::future::pending::<()>().await } Ok::<_, ()>(i) }
                }
            }))
            .delay_fn(|i| hedge.delay_after(i))
            .race(clock.clone()),
        );
        prop_assert_eq!(outcome.winner, Some((k, k)));
        prop_assert_eq!(starts.into_inner(), expected);
    }

    /// With a `Percentile`, the hedge goes at the quantile of what was recorded.
    #[test]
    fn a_percentile_policy_drives_the_start_time(latencies in proptest::collection::vec(1u64..200, 10..60)) {
        let p = Percentile::new(0.9).min_samples(10).window(1000).clamp(Duration::ZERO, Duration::MAX);
        for &l in &latencies {
            p.record(ms(l));
        }
        // Refresh the cached figure: it is exact at the records where one happens.
        let hedge = Hedge::percentile(p.clone());
        let delay = hedge.delay_after(0).unwrap();
        let starts = start_times(&hedge, 1);
        prop_assert_eq!(starts, vec![Duration::ZERO, delay]);
        // The winner's latency (0: it answered at once) went into the percentile.
        prop_assert_eq!(p.records(), latencies.len() as u64 + 1);
    }
}

#[test]
fn a_fast_failure_is_retried_by_the_hedge_and_every_error_is_kept() {
    let clock = ManualClock::new();
    let hedge = Hedge::fixed(ms(100)).max_hedges(2);
    let n = RefCell::new(0);
    let outcome = clock.block_on(hedge.call(clock.clone(), || {
        *n.borrow_mut() += 1;
        let i = *n.borrow();
        let clock = clock.clone();
        async move {
            match i {
                1 => Err("reset"),
                2 => {
                    clock.sleep(ms(10)).await;
                    Ok("second")
                }
                _ => unreachable!(),
            }
        }
    }));
    assert_eq!(outcome.winner, Some((1, "second")));
    assert_eq!(outcome.attempts, [Attempt::Failed("reset"), Attempt::Won]);
    assert_eq!(clock.now(), ms(10)); // the hedge went at once, on the failure
}

#[test]
fn first_completion_returns_the_first_error() {
    let clock = ManualClock::new();
    let hedge = Hedge::fixed(ms(100)).win(Win::FirstCompletion);
    let n = RefCell::new(0);
    let outcome = clock.block_on(hedge.call(clock.clone(), || {
        *n.borrow_mut() += 1;
        async { Err::<(), _>("reset") }
    }));
    assert_eq!(outcome.winner, None);
    assert_eq!(outcome.attempts, [Attempt::Failed("reset")]);
    assert_eq!(*n.borrow(), 1);
}

#[test]
fn only_eligible_requests_are_hedged() {
    let clock = ManualClock::new();
    let hedge = Hedge::fixed(ms(5))
        .max_hedges(2)
        .eligible(|r: &String| r.starts_with("GET"));
    let calls = RefCell::new(0);
    let run = |request: &str| {
        *calls.borrow_mut() = 0;
        let outcome = clock.block_on(hedge.call_for(&request.to_owned(), clock.clone(), || {
            *calls.borrow_mut() += 1;
            async { Err::<(), _>("down") }
        }));
        (outcome.attempts.len(), *calls.borrow())
    };
    assert_eq!(run("POST /"), (1, 1));
    assert_eq!(run("GET /"), (3, 3));
    assert!(hedge.is_eligible(&"GET".to_owned()));
    assert!(!hedge.is_eligible(&"PUT".to_owned()));
    assert!(hedge.is_eligible(&7u8)); // another type: no check applies
}

#[test]
fn a_panic_in_a_hook_reaches_the_caller_and_the_policy_stays_usable() {
    let clock = ManualClock::new();
    let p = Percentile::new(0.5).min_samples(1);
    p.record(ms(3));
    // The delay function panics when asked for the hedge's delay.
    let hedge = Hedge::delay_fn(|_| panic!("delay hook")).max_hedges(1);
    let hang = || std::future::pending::<Result<(), ()>>();
    let err = catch_unwind(AssertUnwindSafe(|| {
        clock.block_on(hedge.call(clock.clone(), hang))
    }))
    .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"delay hook"));
    // The attempt factory panics.
    let hedge = Hedge::percentile(p.clone());
    let err = catch_unwind(AssertUnwindSafe(|| {
        clock.block_on(
            hedge.call(clock.clone(), || -> std::future::Ready<Result<(), ()>> {
                panic!("make")
            }),
        )
    }))
    .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"make"));
    // The eligibility check panics.
    let picky = Hedge::fixed(ms(1)).eligible(|_: &u8| panic!("eligible"));
    assert!(catch_unwind(AssertUnwindSafe(|| picky.is_eligible(&1u8))).is_err());
    // The shared percentile still records and answers.
    let outcome = clock.block_on(hedge.call(clock.clone(), || async { Ok::<_, ()>(1) }));
    assert_eq!(outcome.winner, Some((0, 1)));
    assert_eq!(p.records(), 2);
    assert!(p.current().is_some());
}

// ---------------------------------------------------------------------------------------------
// The tower layer over a real service on loopback.

/// A line server on 127.0.0.1: answers `"{line} ok"`, after `slow` for the requests named in
/// it. Counts connections open right now.
async fn server(slow: &'static [&'static str], open: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        while let Ok((stream, _)) = listener.accept().await {
            let (open, seen) = (open.clone(), seen.clone());
            open.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if let Ok(Some(line)) = lines.next_line().await {
                    // The first request of a name in `slow` hangs for 10 s; its copies answer.
                    let first = seen.lock().unwrap().insert(line.clone());
                    if first && slow.contains(&line.as_str()) {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                            _ = lines.next_line() => {} // the client closed
                        }
                    } else {
                        let _ = write.write_all(format!("{line} ok\n").as_bytes()).await;
                        let _ = lines.next_line().await; // until the client closes
                    }
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    addr
}

/// A client service: one connection per request. Not ready for its first `not_ready` polls
/// (it wakes itself), as a pool that is still connecting.
#[derive(Clone)]
struct LineClient {
    addr: std::net::SocketAddr,
    not_ready: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl Service<String> for LineClient {
    type Response = String;
    type Error = std::io::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<String>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.not_ready.load(Ordering::SeqCst) > 0 {
            self.not_ready.fetch_sub(1, Ordering::SeqCst);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: String) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let addr = self.addr;
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            let (read, mut write) = stream.into_split();
            write.write_all(format!("{request}\n").as_bytes()).await?;
            let mut answer = String::new();
            BufReader::new(read).read_line(&mut answer).await?;
            Ok(answer.trim_end().to_owned())
        })
    }
}

async fn ready<S: Service<R>, R>(service: &mut S) -> Result<(), S::Error> {
    std::future::poll_fn(|cx| service.poll_ready(cx)).await
}

#[tokio::test]
async fn the_layer_hedges_a_real_service_on_loopback() {
    let open = Arc::new(AtomicUsize::new(0));
    let addr = server(&["slow"], open.clone()).await;
    let (not_ready, calls) = (Arc::new(AtomicUsize::new(3)), Arc::new(AtomicUsize::new(0)));
    let client = LineClient {
        addr,
        not_ready: not_ready.clone(),
        calls: calls.clone(),
    };
    let p = Percentile::new(0.95).min_samples(1000).fallback(ms(50));
    let layer = HedgeLayer::new(
        Hedge::percentile(p.clone()).eligible(|r: &String| r != "post"),
        TokioTimer,
    );
    let mut service = layer.layer(client);

    // Not ready at first: poll_ready is the inner service's, pending until it is.
    ready(&mut service).await.unwrap();
    assert_eq!(not_ready.load(Ordering::SeqCst), 0);
    // A fast answer: the primary wins, no hedge.
    assert_eq!(service.call("fast".to_owned()).await.unwrap(), "fast ok");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A slow primary: the hedge, 50 ms later, answers; its latency is recorded.
    ready(&mut service).await.unwrap();
    let t0 = std::time::Instant::now();
    assert_eq!(service.call("slow".to_owned()).await.unwrap(), "slow ok");
    assert!(t0.elapsed() >= ms(50));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(p.records(), 2);
    // A hedge whose service clone is not ready at first waits for it inside its attempt.
    not_ready.store(2, Ordering::SeqCst);
    ready(&mut service).await.unwrap();
    assert_eq!(service.call("slow".to_owned()).await.unwrap(), "slow ok"); // no longer the first: fast
                                                                           // Not eligible: never hedged.
    ready(&mut service).await.unwrap();
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(service.call("post".to_owned()).await.unwrap(), "post ok");
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn a_hedge_whose_service_is_not_ready_does_not_hold_the_primary() {
    let open = Arc::new(AtomicUsize::new(0));
    let addr = server(&["slow2"], open.clone()).await;
    let (not_ready, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = LineClient {
        addr,
        not_ready: not_ready.clone(),
        calls: calls.clone(),
    };
    let layer = HedgeLayer::new(Hedge::fixed(ms(20)), TokioTimer);
    let mut service = layer.layer(client);
    ready(&mut service).await.unwrap();
    // The hedge's clone is never ready (it keeps waking itself): the primary answers anyway.
    not_ready.store(usize::MAX / 2, Ordering::SeqCst);
    assert_eq!(service.call("quick".to_owned()).await.unwrap(), "quick ok");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn dropping_the_response_future_drops_every_attempt() {
    let open = Arc::new(AtomicUsize::new(0));
    let addr = server(&["hang"], open.clone()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let client = LineClient {
        addr,
        not_ready: Arc::new(AtomicUsize::new(0)),
        calls: calls.clone(),
    };
    let layer = HedgeLayer::new(Hedge::fixed(ms(10)).max_hedges(1), TokioTimer);
    let mut service = layer.layer(client);
    ready(&mut service).await.unwrap();
    let mut call = service.call("hang".to_owned());
    // The primary hangs (the first "hang"); the hedge, 10 ms later, answers.
    let waited = tokio::time::timeout(ms(5000), &mut call).await;
    assert!(
        waited.is_ok(),
        "the hedge answers: {:?}",
        waited.as_ref().err()
    );
    // The primary hangs; after the hedge won it was dropped: its connection closes.
    for _ in 0..500 {
        if open.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(ms(10)).await;
    }
    assert_eq!(open.load(Ordering::SeqCst), 0);

    // Now drop a response future while both attempts run (both hang: each is the first
    // request of its name): both connections close.
    let open = Arc::new(AtomicUsize::new(0));
    let addr = server(&["a", "a2"], open.clone()).await;
    let client = LineClient {
        addr,
        not_ready: Arc::new(AtomicUsize::new(0)),
        calls: calls.clone(),
    };
    let layer = HedgeLayer::with_clone(Hedge::fixed(ms(10)), TokioTimer, |_: &String| {
        Some("a2".to_owned())
    });
    let mut service = layer.layer(client);
    ready(&mut service).await.unwrap();
    let before = calls.load(Ordering::SeqCst);
    let mut call = service.call("a".to_owned());
    // `timeout` polls the call before its own sleep, so the hedge (due at 10 ms) is sent by
    // the time the 100 ms pass, however late this task runs.
    assert!(tokio::time::timeout(ms(100), &mut call).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), before + 2);
    for _ in 0..500 {
        if open.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(ms(10)).await;
    }
    assert_eq!(
        open.load(Ordering::SeqCst),
        2,
        "both attempts' connections are open"
    );
    drop(call);
    for _ in 0..500 {
        if open.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(ms(10)).await;
    }
    assert_eq!(
        open.load(Ordering::SeqCst),
        0,
        "the dropped call's connections are closed"
    );
}

#[tokio::test]
async fn a_panic_in_the_clone_hook_reaches_the_caller_and_the_service_stays_usable() {
    let open = Arc::new(AtomicUsize::new(0));
    let addr = server(&[], open).await;
    let client = LineClient {
        addr,
        not_ready: Arc::new(AtomicUsize::new(0)),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let layer = HedgeLayer::with_clone(Hedge::fixed(ms(10)), TokioTimer, |r: &String| {
        if r == "boom" {
            panic!("clone hook")
        }
        Some(r.clone())
    });
    let mut service = layer.layer(client);
    ready(&mut service).await.unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| service.call("boom".to_owned())))
        .err()
        .unwrap();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"clone hook"));
    ready(&mut service).await.unwrap();
    assert_eq!(service.call("fine".to_owned()).await.unwrap(), "fine ok");
}
