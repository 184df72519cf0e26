//! `cargo bench --bench peers`: `staggered` against every peer, in one run, on the same work.
//!
//! Scenarios (issue 5):
//! - `lifecycle`: N attempts that each fail at once, then one that wins; ns per attempt (the
//!   race's whole life, from creation to drop, divided by its N + 1 attempts).
//! - `wake`: N attempts pending at once (zero delay); each round wakes one at random and polls
//!   the race until it is pending again; ns per wake.
//! - `fallthrough`: N = 2..16 attempts 250 ms apart in virtual time, all hanging but the last,
//!   which wins; ns per race. The clock ([`VirtualClock`]) moves on only when the race is idle,
//!   to the next deadline, as tokio's paused clock does (`joinset` runs on that one): every
//!   sleep fires at its own instant, so the peers that start everything at once behind sleeps
//!   of `i` delays run the same schedule as the staggered races, one trip per delay.
//! - `stale`: N attempts that fail at once, each leaving a clone of its waker behind for the
//!   whole race, then N that fail at once, each keeping its waker until the next one has run,
//!   then one that wins; ns per attempt. A slot whose waker may still wake it cannot take a
//!   new attempt, so this is the cost of finding reusable slots among N set aside.
//!
//! `staggered_array` (issue 10) is `staggered_race_array`, the race with no heap, on the rows
//! whose N it can take at compile time: lifecycle N = 1 and 10, wake N = 1, 10 and 100, and
//! every fall-through N. It polls every running attempt on each poll of the race, so its wake
//! cost grows with N by design.
//!
//! Plus allocation counts (a counting global allocator) and bytes of overhead per running
//! attempt. Figures are medians of samples interleaved across implementations. Output: a
//! table on stdout, `target/peers.json`, `target/peers-alloc.json` and `target/peers-wake.svg`.
//!
//! `PEERS_QUICK=1` cuts samples and sample length so the whole run takes well under two
//! minutes (for CI); the figures are then rougher.

mod common;
mod impls;

use std::fmt::Write as _;
use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{
    board_clear, board_registered, board_reset, board_wake, count_read, count_start, count_stop,
    Counts, NeverTimer, Rng, Spin, VirtualClock, Work,
};
use futures::future::select_ok;
use futures_concurrency::future::RaceOk;
use impls::{floor_race, futures_unordered_race, joinset_race};
use staggered::testing::check_timer;
use staggered::timer::TokioTimer;
use staggered::{staggered_race, staggered_race_array, Timer};
use tokio::runtime::Runtime;

#[global_allocator]
static ALLOC: common::Counting = common::Counting;

const DELAY: Duration = Duration::from_millis(250);

const STAGGERED: &str = "staggered";
const STAGGERED_ARRAY: &str = "staggered_array";
const FUTURES_UNORDERED: &str = "futures_unordered";
const SELECT_OK: &str = "select_ok";
const RACE_OK: &str = "race_ok";
const JOINSET: &str = "joinset";
const CPYTHON: &str = "cpython";
const FLOOR: &str = "floor";
/// Order of rows and of the plot's legend.
const IMPLS: [&str; 8] = [
    STAGGERED,
    STAGGERED_ARRAY,
    FLOOR,
    FUTURES_UNORDERED,
    SELECT_OK,
    RACE_OK,
    JOINSET,
    CPYTHON,
];

const LIFECYCLE_N: [usize; 4] = [1, 10, 1_000, 100_000];
const WAKE_N: [usize; 5] = [1, 10, 100, 1_000, 10_000];
const FALLTHROUGH_N: [usize; 4] = [2, 4, 8, 16];
const STALE_N: [usize; 2] = [100, 1_000];

// ---------------------------------------------------------------------------------------------
// Measurement

struct Config {
    quick: bool,
    /// A sample runs at least this long (iterations are doubled until it does).
    sample: Duration,
    /// Samples per implementation.
    samples: usize,
    /// No more samples for an implementation once it has spent this long (at least 3 are
    /// taken unless a single one takes longer than the budget).
    budget: Duration,
}

/// One timed or counted run of `iters` iterations.
#[derive(Default)]
struct Sample {
    elapsed: Duration,
    /// Counted while the race was being set up (the wake scenario: N attempts started).
    setup: Counts,
    /// Allocations counted during the `iters` iterations.
    allocs: usize,
}

type Runner<'a> = Box<dyn FnMut(u64, bool) -> Sample + 'a>;

struct Case<'a> {
    imp: &'static str,
    run: Runner<'a>,
    /// The race's own size in bytes, for a race that keeps its attempts inline rather than on
    /// the heap (`staggered_array`): its bytes per attempt come from this, not from the heap.
    inline_size: Option<usize>,
}

fn case<'a>(imp: &'static str, run: impl FnMut(u64, bool) -> Sample + 'a) -> Case<'a> {
    Case {
        imp,
        run: Box::new(run),
        inline_size: None,
    }
}

/// A case whose race keeps its attempts inline, in a future of `size` bytes.
fn inline_case<'a>(
    imp: &'static str,
    size: usize,
    run: impl FnMut(u64, bool) -> Sample + 'a,
) -> Case<'a> {
    Case {
        inline_size: Some(size),
        ..case(imp, run)
    }
}

/// A measured figure.
struct Figure {
    scenario: &'static str,
    n: usize,
    imp: &'static str,
    ns_per_op: f64,
    samples: usize,
}

/// Allocation and memory figures of one implementation on one scenario and N.
struct AllocFigure {
    scenario: &'static str,
    n: usize,
    imp: &'static str,
    /// Allocations per iteration (a race, or a wake round).
    allocs_per_op: f64,
    /// Allocations to set the race up (wake: N attempts started); `None` elsewhere.
    setup_allocs: Option<usize>,
    /// Bytes allocated per running attempt beyond its future's size (wake only); for a race
    /// with no heap (`staggered_array`), its own size per attempt beyond the future's.
    overhead_bytes: Option<f64>,
}

struct Report {
    figures: Vec<Figure>,
    allocs: Vec<AllocFigure>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Times every case of one scenario and N: calibrates each, then takes samples round-robin
/// across the cases (so drift on a noisy machine hits them all alike), then counts
/// allocations once per case.
fn measure(
    cfg: &Config,
    report: &mut Report,
    scenario: &'static str,
    n: usize,
    ops_per_iter: f64,
    future_size: usize,
    mut cases: Vec<Case<'_>>,
) {
    let t0 = Instant::now();
    // Calibrate.
    let mut iters: Vec<u64> = Vec::new();
    let mut spent: Vec<Duration> = Vec::new();
    let mut per_op: Vec<Vec<f64>> = Vec::new();
    for c in &mut cases {
        let mut k = 1u64;
        let mut used = Duration::ZERO;
        loop {
            let s = (c.run)(k, false);
            used += s.elapsed;
            if s.elapsed >= cfg.sample || used >= cfg.budget {
                // Long enough: keep it as the first sample.
                per_op.push(vec![
                    s.elapsed.as_nanos() as f64 / (k as f64 * ops_per_iter),
                ]);
                break;
            }
            let scale = if s.elapsed.is_zero() {
                16.0
            } else {
                (cfg.sample.as_secs_f64() / s.elapsed.as_secs_f64() * 1.2).clamp(1.5, 16.0)
            };
            k = ((k as f64) * scale).ceil() as u64;
        }
        iters.push(k);
        spent.push(used);
    }
    // Samples, interleaved.
    for _ in 1..cfg.samples {
        for (i, c) in cases.iter_mut().enumerate() {
            if per_op[i].len() >= 3 && spent[i] >= cfg.budget {
                continue;
            }
            if spent[i] >= cfg.budget * 2 {
                continue;
            }
            let s = (c.run)(iters[i], false);
            spent[i] += s.elapsed;
            per_op[i].push(s.elapsed.as_nanos() as f64 / (iters[i] as f64 * ops_per_iter));
        }
    }
    // Allocations: one counted run per case.
    for c in &mut cases {
        let k = if scenario == "wake" { 64 } else { 4 };
        let s = (c.run)(k, true);
        report.allocs.push(AllocFigure {
            scenario,
            n,
            imp: c.imp,
            allocs_per_op: s.allocs as f64 / k as f64,
            setup_allocs: (scenario == "wake").then_some(s.setup.allocs),
            overhead_bytes: (scenario == "wake").then(|| {
                let bytes = c.inline_size.unwrap_or(0) as f64 + s.setup.live_bytes as f64;
                bytes / n as f64 - future_size as f64
            }),
        });
    }
    for (i, c) in cases.iter().enumerate() {
        let samples = per_op[i].len();
        report.figures.push(Figure {
            scenario,
            n,
            imp: c.imp,
            ns_per_op: median(&mut per_op[i]),
            samples,
        });
    }
    eprintln!(
        "  {scenario:<11} N={n:<6} {} implementations in {:.1}s",
        cases.len(),
        t0.elapsed().as_secs_f64()
    );
}

/// Runs `iters` races made by `make` on the spin executor, counting allocations if asked.
fn spin_races<F: Future>(iters: u64, count: bool, mut make: impl FnMut() -> F) -> Sample
where
    F::Output: Check,
{
    let spin = Spin::new();
    timed(iters, count, || spin.block_on(make()))
}

/// [`spin_races`] for races on a [`VirtualClock`]: the executor moves the clock on whenever
/// the race is idle.
fn spin_clock_races<F: Future>(
    iters: u64,
    count: bool,
    clock: &VirtualClock,
    mut make: impl FnMut() -> F,
) -> Sample
where
    F::Output: Check,
{
    let spin = Spin::new();
    timed(iters, count, || spin.block_on_clock(make(), clock))
}

/// Times `iters` runs of `race` (each one race, run to its end), counting allocations if asked.
fn timed<O: Check>(iters: u64, count: bool, mut race: impl FnMut() -> O) -> Sample {
    if count {
        count_start();
    }
    let t = Instant::now();
    for _ in 0..iters {
        black_box(race()).check();
    }
    let elapsed = t.elapsed();
    let allocs = if count { count_stop().allocs } else { 0 };
    Sample {
        elapsed,
        allocs,
        ..Sample::default()
    }
}

/// The same on a tokio current-thread runtime.
fn tokio_races<F: Future>(
    rt: &Runtime,
    iters: u64,
    count: bool,
    mut make: impl FnMut() -> F,
) -> Sample
where
    F::Output: Check,
{
    let sample = rt.block_on(async {
        if count {
            count_start();
        }
        let t = Instant::now();
        for _ in 0..iters {
            black_box(make().await).check();
        }
        let elapsed = t.elapsed();
        let allocs = if count { count_stop().allocs } else { 0 };
        Sample {
            elapsed,
            allocs,
            ..Sample::default()
        }
    });
    settle(rt);
    sample
}

/// Lets the runtime finish cancelling aborted tasks, so the next sample does not pay for them.
fn settle(rt: &Runtime) {
    rt.block_on(async {
        while rt.metrics().num_alive_tasks() > 0 {
            tokio::task::yield_now().await;
        }
    });
}

/// Each race's result is checked (cheaply) so that no implementation skips work.
trait Check {
    fn check(self);
}

/// Which attempt should win: set by each scenario before it runs.
static EXPECTED_WINNER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn expect_winner(i: usize) {
    EXPECTED_WINNER.store(i as u32, std::sync::atomic::Ordering::Relaxed);
}

fn expected() -> u32 {
    EXPECTED_WINNER.load(std::sync::atomic::Ordering::Relaxed)
}

impl<E> Check for staggered::Outcome<u32, E> {
    fn check(self) {
        assert_eq!(self.winner.map(|w| w.1), Some(expected()));
    }
}
impl<E, const N: usize> Check for staggered::ArrayOutcome<u32, E, N> {
    fn check(self) {
        assert_eq!(self.winner.map(|w| w.1), Some(expected()));
    }
}
impl<E> Check for impls::LoopOutcome<u32, E> {
    fn check(self) {
        assert_eq!(self.0.map(|w| w.1), Some(expected()));
    }
}
impl<E> Check for impls::FloorOutcome<u32, E> {
    fn check(self) {
        assert_eq!(self.0.map(|w| w.1), Some(expected()));
    }
}
impl<R, E> Check for Result<(u32, R), E> {
    fn check(self) {
        assert_eq!(self.ok().map(|w| w.0), Some(expected()));
    }
}
impl<E> Check for Result<u32, futures_concurrency::vec::AggregateError<E>> {
    fn check(self) {
        assert_eq!(self.ok(), Some(expected()));
    }
}

fn size_of_future<F: FnOnce() -> Fut, Fut>(_: &F) -> usize {
    std::mem::size_of::<Fut>()
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: stale wakers

/// Where the `stale` attempts leave their wakers.
#[derive(Default)]
struct Kept {
    /// Held for the whole race.
    held: std::cell::RefCell<Vec<std::task::Waker>>,
    /// Held until the next attempt runs.
    last: std::cell::RefCell<Option<std::task::Waker>>,
}

/// One `stale` attempt: on its first poll it leaves its waker in `Kept` and settles.
struct KeepWaker<'a> {
    i: usize,
    n: usize,
    kept: &'a Kept,
}

impl Future for KeepWaker<'_> {
    type Output = Result<u32, u32>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let (i, n) = (self.i, self.n);
        let waker = cx.waker().clone();
        if i < n {
            self.kept.held.borrow_mut().push(waker);
        } else {
            *self.kept.last.borrow_mut() = Some(waker);
        }
        Poll::Ready(if i < 2 * n {
            Err(i as u32)
        } else {
            Ok(i as u32)
        })
    }
}

/// N attempts that fail at once keeping their wakers, N that fail at once keeping theirs until
/// the next one, then one that wins.
fn stale_attempts<'a>(
    n: usize,
    kept: &'a Kept,
) -> impl Iterator<Item = impl FnOnce() -> KeepWaker<'a>> + 'a {
    (0..2 * n + 1).map(move |i| move || KeepWaker { i, n, kept })
}

fn stale(cfg: &Config, report: &mut Report, n: usize) {
    expect_winner(2 * n);
    let ops = (2 * n + 1) as f64;
    let kept = Kept::default();
    let kept = &kept;
    let cases = vec![
        case(STAGGERED, |k, c| {
            spin_races(k, c, || {
                kept.held.borrow_mut().clear();
                *kept.last.borrow_mut() = None;
                staggered_race(stale_attempts(n, kept), Some(DELAY), NeverTimer)
            })
        }),
        case(FUTURES_UNORDERED, |k, c| {
            spin_races(k, c, || {
                kept.held.borrow_mut().clear();
                *kept.last.borrow_mut() = None;
                futures_unordered_race(stale_attempts(n, kept), Some(DELAY), NeverTimer)
            })
        }),
    ];
    measure(cfg, report, "stale", n, ops, 0, cases);
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: lifecycle

/// N attempts that fail at once, then one that wins.
fn lifecycle_attempts(n: usize) -> impl Iterator<Item = impl FnOnce() -> Work> {
    (0..n + 1).map(move |i| move || Work::settle(if i < n { Err(i as u32) } else { Ok(i as u32) }))
}

/// The same as an array of `M` = N + 1 attempts, for `staggered_race_array`.
fn lifecycle_array<const M: usize>() -> [impl FnOnce() -> Work; M] {
    std::array::from_fn(|i| {
        move || {
            Work::settle(if i + 1 < M {
                Err(i as u32)
            } else {
                Ok(i as u32)
            })
        }
    })
}

/// The `staggered_array` lifecycle case over `M` = N + 1 attempts.
fn lifecycle_array_case<'a, const M: usize>() -> Case<'a> {
    case(STAGGERED_ARRAY, |k, c| {
        spin_races(k, c, || {
            staggered_race_array(lifecycle_array::<M>(), Some(DELAY), NeverTimer)
        })
    })
}

fn lifecycle(cfg: &Config, report: &mut Report, rt: &Runtime, n: usize) {
    expect_winner(n);
    let ops = (n + 1) as f64;
    let mut cases = vec![
        case(STAGGERED, |k, c| {
            spin_races(k, c, || {
                staggered_race(lifecycle_attempts(n), Some(DELAY), NeverTimer)
            })
        }),
        case(FUTURES_UNORDERED, |k, c| {
            spin_races(k, c, || {
                futures_unordered_race(lifecycle_attempts(n), Some(DELAY), NeverTimer)
            })
        }),
        case(SELECT_OK, |k, c| {
            spin_races(k, c, || {
                select_ok(lifecycle_attempts(n).map(|make| Box::pin(make())))
            })
        }),
        case(RACE_OK, |k, c| {
            spin_races(k, c, || {
                lifecycle_attempts(n)
                    .map(|make| make())
                    .collect::<Vec<_>>()
                    .race_ok()
            })
        }),
        case(JOINSET, |k, c| {
            tokio_races(rt, k, c, || {
                joinset_race(lifecycle_attempts(n), Some(DELAY), NeverTimer)
            })
        }),
    ];
    match n {
        1 => cases.insert(1, lifecycle_array_case::<2>()),
        10 => cases.insert(1, lifecycle_array_case::<11>()),
        _ => {}
    }
    if n == 1 {
        cases.insert(
            2,
            case(FLOOR, |k, c| {
                spin_races(k, c, || {
                    let mut a = lifecycle_attempts(1);
                    let (first, second) = (a.next().unwrap(), a.next().unwrap());
                    floor_race(first, second, DELAY, NeverTimer)
                })
            }),
        );
    }
    measure(cfg, report, "lifecycle", n, ops, 0, cases);
}

/// CPython's `asyncio.staggered.staggered_race` on the same lifecycle, timed inside Python.
fn cpython(cfg: &Config, report: &mut Report, n: usize) {
    // Built as a target of tests/extra: the crate root is two levels up.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../benches/cpython_staggered.py"
    );
    let reps = if cfg.quick { 3 } else { 11 };
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(n.to_string())
        .arg(reps.to_string())
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            eprintln!(
                "  cpython: python3 failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        Err(e) => {
            eprintln!("  cpython: cannot run python3 ({e}); skipped");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed = stdout.lines().find_map(|line| {
        let rest = line.strip_prefix("ns_per_op ")?;
        rest.trim().parse::<f64>().ok()
    });
    match parsed {
        Some(ns) => {
            eprintln!(
                "  cpython     N={n:<6} {}",
                stdout.lines().next().unwrap_or("")
            );
            report.figures.push(Figure {
                scenario: "lifecycle",
                n,
                imp: CPYTHON,
                ns_per_op: ns,
                samples: reps,
            });
        }
        None => eprintln!("  cpython: unexpected output: {stdout}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: wake dispatch

/// N attempts that stay pending until woken, and stay pending then.
fn gate_attempts(n: usize) -> impl Iterator<Item = impl FnOnce() -> Work> {
    (0..n).map(|i| move || Work::gate(i))
}

/// Sets up a race over N gates on the spin executor, then times `rounds` wake rounds.
fn spin_wakes<F: Future>(n: usize, rounds: u64, count: bool, make: impl FnOnce() -> F) -> Sample {
    let spin = Spin::new();
    let mut rng = Rng::new(0x5eed ^ n as u64);
    board_reset(n);
    if count {
        count_start();
    }
    let sample = {
        let mut race = pin!(make());
        assert!(
            spin.poll_idle(race.as_mut()).is_none(),
            "a wake race completed"
        );
        let setup = count_read();
        assert_eq!(board_registered(), n, "every attempt is running");
        let t = Instant::now();
        for _ in 0..rounds {
            board_wake(rng.below(n));
            if spin.poll_idle(race.as_mut()).is_some() {
                panic!("a wake race completed");
            }
        }
        let elapsed = t.elapsed();
        let allocs = count_read().allocs - setup.allocs;
        if count {
            count_stop();
        }
        Sample {
            elapsed,
            setup,
            allocs,
        }
    }; // The race is dropped here, before the wakers its attempts kept.
    board_clear();
    sample
}

/// The same for the `JoinSet` race, on a tokio current-thread runtime: each round wakes a
/// gate, lets the runtime run the woken task, and polls the race once.
fn tokio_wakes<F: Future>(
    rt: &Runtime,
    n: usize,
    rounds: u64,
    count: bool,
    make: impl FnOnce() -> F,
) -> Sample {
    let mut rng = Rng::new(0x5eed ^ n as u64);
    board_reset(n);
    let sample = rt.block_on(async {
        if count {
            count_start();
        }
        let mut race = pin!(make());
        assert!(!poll_once(race.as_mut()).await, "a wake race completed");
        while board_registered() < n {
            tokio::task::yield_now().await;
        }
        let setup = count_read();
        let t = Instant::now();
        for _ in 0..rounds {
            board_wake(rng.below(n));
            tokio::task::yield_now().await;
            assert!(!poll_once(race.as_mut()).await, "a wake race completed");
        }
        let elapsed = t.elapsed();
        let allocs = count_read().allocs - setup.allocs;
        if count {
            count_stop();
        }
        Sample {
            elapsed,
            setup,
            allocs,
        }
    });
    settle(rt);
    board_clear();
    sample
}

/// Polls a future once; `true` if it completed.
async fn poll_once<F: Future>(mut fut: std::pin::Pin<&mut F>) -> bool {
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await
}

/// The same as an array, for `staggered_race_array`.
fn gate_array<const N: usize>() -> [impl FnOnce() -> Work; N] {
    std::array::from_fn(|i| move || Work::gate(i))
}

/// The `staggered_array` wake case over `N` gates.
fn wake_array_case<'a, const N: usize>() -> Case<'a> {
    let zero = Some(Duration::ZERO);
    let size = std::mem::size_of_val(&staggered_race_array(gate_array::<N>(), zero, NeverTimer));
    inline_case(STAGGERED_ARRAY, size, move |k, c| {
        spin_wakes(N, k, c, || {
            staggered_race_array(gate_array::<N>(), zero, NeverTimer)
        })
    })
}

fn wake(cfg: &Config, report: &mut Report, rt: &Runtime, n: usize) {
    let zero = Some(Duration::ZERO);
    let future_size = size_of_future(&gate_attempts(1).next().unwrap());
    let mut cases = vec![
        case(STAGGERED, |k, c| {
            spin_wakes(n, k, c, || {
                staggered_race(gate_attempts(n), zero, NeverTimer)
            })
        }),
        case(FUTURES_UNORDERED, |k, c| {
            spin_wakes(n, k, c, || {
                futures_unordered_race(gate_attempts(n), zero, NeverTimer)
            })
        }),
        case(SELECT_OK, |k, c| {
            spin_wakes(n, k, c, || {
                select_ok(gate_attempts(n).map(|make| Box::pin(make())))
            })
        }),
        case(RACE_OK, |k, c| {
            spin_wakes(n, k, c, || {
                gate_attempts(n)
                    .map(|make| make())
                    .collect::<Vec<_>>()
                    .race_ok()
            })
        }),
        case(JOINSET, |k, c| {
            tokio_wakes(rt, n, k, c, || {
                joinset_race(gate_attempts(n), zero, NeverTimer)
            })
        }),
    ];
    match n {
        1 => cases.insert(1, wake_array_case::<1>()),
        10 => cases.insert(1, wake_array_case::<10>()),
        100 => cases.insert(1, wake_array_case::<100>()),
        _ => {}
    }
    measure(cfg, report, "wake", n, 1.0, future_size, cases);
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: staggered fall-through

/// N attempts; all hang except the last, which wins at once.
fn fallthrough_attempts(n: usize) -> impl Iterator<Item = impl FnOnce() -> Work> {
    (0..n).map(move |i| {
        move || {
            if i + 1 < n {
                Work::hang()
            } else {
                Work::settle(Ok(i as u32))
            }
        }
    })
}

/// For the peers that start everything at once: attempt `i` waits `i` delays first. With no
/// failures (this scenario has none) that is the same schedule: on the [`VirtualClock`], sleep
/// `i` fires at its own instant, as the staggered race's `i`-th delay does.
fn delayed_starts(
    n: usize,
    timer: &VirtualClock,
) -> impl Iterator<Item = impl Future<Output = Result<u32, u32>>> + '_ {
    fallthrough_attempts(n).enumerate().map(move |(i, make)| {
        let sleep = timer.sleep(DELAY * i as u32);
        async move {
            sleep.await;
            make().await
        }
    })
}

/// The same as an array of `N` attempts, for `staggered_race_array`.
fn fallthrough_array<const N: usize>() -> [impl FnOnce() -> Work; N] {
    std::array::from_fn(|i| {
        move || {
            if i + 1 < N {
                Work::hang()
            } else {
                Work::settle(Ok(i as u32))
            }
        }
    })
}

/// The `staggered_array` fall-through case over `N` attempts; checks the schedule once.
fn fallthrough_array_case<const N: usize>(timer: &VirtualClock) -> Case<'_> {
    let before = timer.now();
    let outcome = Spin::new().block_on_clock(
        staggered_race_array(fallthrough_array::<N>(), Some(DELAY), timer.clone()),
        timer,
    );
    assert_eq!(outcome.winner, Some((N - 1, N as u32 - 1)));
    assert_eq!(timer.now() - before, DELAY * (N as u32 - 1));
    case(STAGGERED_ARRAY, move |k, c| {
        spin_clock_races(k, c, timer, || {
            staggered_race_array(fallthrough_array::<N>(), Some(DELAY), timer.clone())
        })
    })
}

fn fallthrough(cfg: &Config, report: &mut Report, paused: &Runtime, n: usize) {
    expect_winner(n - 1);
    let timer = VirtualClock::default();
    let t = &timer;
    // The clock keeps the `Timer` contract (the latest waker, resets, `Duration::MAX`, ...).
    let unit = Duration::from_millis(10);
    Spin::new()
        .block_on_clock(check_timer(t, unit, |d| t.sleep(d)), t)
        .expect("the bench's virtual clock keeps the Timer contract");
    let mut cases = vec![
        case(STAGGERED, |k, c| {
            spin_clock_races(k, c, t, || {
                staggered_race(fallthrough_attempts(n), Some(DELAY), t.clone())
            })
        }),
        case(FUTURES_UNORDERED, |k, c| {
            spin_clock_races(k, c, t, || {
                futures_unordered_race(fallthrough_attempts(n), Some(DELAY), t.clone())
            })
        }),
        case(SELECT_OK, |k, c| {
            spin_clock_races(k, c, t, || select_ok(delayed_starts(n, t).map(Box::pin)))
        }),
        case(RACE_OK, |k, c| {
            spin_clock_races(k, c, t, || {
                delayed_starts(n, t).collect::<Vec<_>>().race_ok()
            })
        }),
        case(JOINSET, |k, c| {
            // On tokio's own paused clock, which moves on the same way when the runtime is
            // idle (the virtual clock needs the executor's help, which tokio's cannot give).
            tokio_races(paused, k, c, || {
                joinset_race(fallthrough_attempts(n), Some(DELAY), TokioTimer)
            })
        }),
    ];
    match n {
        2 => cases.insert(1, fallthrough_array_case::<2>(t)),
        4 => cases.insert(1, fallthrough_array_case::<4>(t)),
        8 => cases.insert(1, fallthrough_array_case::<8>(t)),
        16 => cases.insert(1, fallthrough_array_case::<16>(t)),
        _ => {}
    }
    if n == 2 {
        cases.insert(
            2,
            case(FLOOR, |k, c| {
                spin_clock_races(k, c, t, || {
                    let mut a = fallthrough_attempts(2);
                    let (first, second) = (a.next().unwrap(), a.next().unwrap());
                    floor_race(first, second, DELAY, t.clone())
                })
            }),
        );
    }
    // Check the schedule once: the winner starts (n - 1) delays in, one delay per move of
    // the clock, for the staggered race and for the peers behind their sleeps alike.
    let (before, moves) = (timer.now(), timer.moves());
    let spin = Spin::new();
    let outcome = spin.block_on_clock(
        staggered_race(fallthrough_attempts(n), Some(DELAY), timer.clone()),
        &timer,
    );
    assert_eq!(outcome.winner, Some((n - 1, n as u32 - 1)));
    assert_eq!(timer.now() - before, DELAY * (n as u32 - 1));
    assert_eq!(timer.moves() - moves, n as u64 - 1);
    let (before, moves) = (timer.now(), timer.moves());
    let won = spin.block_on_clock(select_ok(delayed_starts(n, t).map(Box::pin)), &timer);
    assert_eq!(won.ok().map(|(v, _)| v), Some(n as u32 - 1));
    assert_eq!(timer.now() - before, DELAY * (n as u32 - 1));
    assert_eq!(timer.moves() - moves, n as u64 - 1);
    measure(cfg, report, "fallthrough", n, 1.0, 0, cases);
}

// ---------------------------------------------------------------------------------------------
// Output

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")))
}

fn figure(report: &Report, scenario: &str, n: usize, imp: &str) -> Option<f64> {
    report
        .figures
        .iter()
        .find(|f| f.scenario == scenario && f.n == n && f.imp == imp)
        .map(|f| f.ns_per_op)
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 100_000.0 {
        format!("{:.0}", ns)
    } else if ns >= 100.0 {
        format!("{:.1}", ns)
    } else {
        format!("{:.2}", ns)
    }
}

fn print_table(report: &Report) {
    println!();
    println!("| scenario    |      N | implementation    |       ns/op | vs staggered | samples |");
    println!("|-------------|-------:|-------------------|------------:|-------------:|--------:|");
    let scenarios = [
        ("lifecycle", &LIFECYCLE_N[..]),
        ("wake", &WAKE_N[..]),
        ("fallthrough", &FALLTHROUGH_N[..]),
        ("stale", &STALE_N[..]),
    ];
    for (scenario, ns) in scenarios {
        for &n in ns {
            let base = figure(report, scenario, n, STAGGERED);
            for imp in IMPLS {
                let Some(f) = report
                    .figures
                    .iter()
                    .find(|f| f.scenario == scenario && f.n == n && f.imp == imp)
                else {
                    continue;
                };
                let ratio = base.map_or(String::from("-"), |b| format!("{:.2}x", f.ns_per_op / b));
                println!(
                    "| {:<11} | {:>6} | {:<17} | {:>11} | {:>12} | {:>7} |",
                    scenario,
                    n,
                    imp,
                    fmt_ns(f.ns_per_op),
                    ratio,
                    f.samples
                );
            }
        }
    }
    println!();
    println!("ns/op: lifecycle = per attempt (race time / (N + 1)); wake = per wake round;");
    println!("fallthrough = per race; stale = per attempt (race time / (2N + 1)). Medians; the");
    println!("ratio is to `staggered` in the same run.");
    println!();
    println!(
        "| scenario    |      N | implementation    | allocs/op | setup allocs | bytes/attempt |"
    );
    println!(
        "|-------------|-------:|-------------------|----------:|-------------:|--------------:|"
    );
    for a in &report.allocs {
        println!(
            "| {:<11} | {:>6} | {:<17} | {:>9} | {:>12} | {:>13} |",
            a.scenario,
            a.n,
            a.imp,
            format!("{:.2}", a.allocs_per_op),
            a.setup_allocs.map_or(String::from("-"), |s| s.to_string()),
            a.overhead_bytes
                .map_or(String::from("-"), |b| format!("{b:.1}")),
        );
    }
    println!();
    println!("allocs/op: per race (lifecycle, fallthrough) or per wake round (wake).");
    println!(
        "setup allocs: to start the N attempts of a wake race. bytes/attempt: bytes allocated"
    );
    println!("per running attempt (N pending) beyond the attempt future's own size; for");
    println!("staggered_array, which allocates nothing, its own size per attempt beyond it.");
}

fn alloc_figure<'a>(
    report: &'a Report,
    scenario: &str,
    n: usize,
    imp: &str,
) -> Option<&'a AllocFigure> {
    report
        .allocs
        .iter()
        .find(|a| a.scenario == scenario && a.n == n && a.imp == imp)
}

/// The allocation bound per race of issue 10 for a race of `attempts` attempts:
/// 2 * ceil(log2 attempts) + 4.
fn alloc_bound(attempts: usize) -> f64 {
    let log2 = attempts.next_power_of_two().trailing_zeros();
    (2 * log2 + 4) as f64
}

fn print_targets(report: &Report) {
    println!();
    println!("Targets (issue 20; allocations: issue 10):");
    let f = |s, n, i| figure(report, s, n, i);
    let a = |s, n, i| alloc_figure(report, s, n, i);

    // Two attempts: the general race and the array race against the floor.
    for (imp, max_ratio, max_allocs) in [(STAGGERED, 3.0, 2.0), (STAGGERED_ARRAY, 1.2, 0.0)] {
        if let (Some(v), Some(floor)) = (f("lifecycle", 1, imp), f("lifecycle", 1, FLOOR)) {
            let r = v / floor;
            println!(
                "  lifecycle N=1: {imp} / floor = {r:.2}x ({} / {} ns) (target <= {max_ratio}x): {}",
                fmt_ns(v),
                fmt_ns(floor),
                verdict(r <= max_ratio)
            );
        }
        if let Some(al) = a("lifecycle", 1, imp) {
            println!(
                "  lifecycle N=1: {imp} allocations per race = {:.2} (target <= {max_allocs}): {}",
                al.allocs_per_op,
                verdict(al.allocs_per_op <= max_allocs)
            );
        }
    }

    // Small N, against the faster of select_ok and race_ok: for each race, its target.
    let small = FALLTHROUGH_N
        .iter()
        .map(|&n| ("fallthrough", n, 1.0, 0.8))
        .chain([("wake", 1, 1.5, 1.2), ("wake", 10, 1.0, f64::NAN)]);
    for (scenario, n, slab_max, array_max) in small {
        let (Some(sel), Some(race)) = (f(scenario, n, SELECT_OK), f(scenario, n, RACE_OK)) else {
            continue;
        };
        let (peer, best) = if sel <= race {
            (SELECT_OK, sel)
        } else {
            (RACE_OK, race)
        };
        for (imp, max) in [(STAGGERED, slab_max), (STAGGERED_ARRAY, array_max)] {
            let Some(v) = f(scenario, n, imp).filter(|_| !max.is_nan()) else {
                continue;
            };
            println!(
                "  {scenario} N={n}: {imp} / faster of select_ok, race_ok ({peer}) = {:.2}x ({} / {} ns) (target <= {max}x): {}",
                v / best,
                fmt_ns(v),
                fmt_ns(best),
                verdict(v / best <= max)
            );
        }
    }

    // Big N against futures_unordered.
    for n in WAKE_N.iter().copied().filter(|&n| n >= 100) {
        if let (Some(s), Some(fu)) = (f("wake", n, STAGGERED), f("wake", n, FUTURES_UNORDERED)) {
            let r = s / fu;
            println!(
                "  wake N={n}: staggered / futures_unordered = {r:.2}x ({} / {} ns) (target <= 1x): {}",
                fmt_ns(s),
                fmt_ns(fu),
                verdict(r <= 1.0)
            );
        }
    }

    // N >= 100.
    if let (Some(hi), Some(lo)) = (f("wake", 10_000, STAGGERED), f("wake", 10, STAGGERED)) {
        let r = hi / lo;
        println!(
            "  wake flat in N: staggered N=10000 / N=10 = {r:.2}x ({} / {} ns) (target <= 1.5x): {}",
            fmt_ns(hi),
            fmt_ns(lo),
            verdict(r <= 1.5)
        );
    }
    for n in LIFECYCLE_N.iter().copied().filter(|&n| n >= 1_000) {
        if let (Some(s), Some(fu)) = (
            f("lifecycle", n, STAGGERED),
            f("lifecycle", n, FUTURES_UNORDERED),
        ) {
            let r = s / fu;
            println!(
                "  lifecycle N={n}: staggered / futures_unordered = {r:.2}x ({} / {} ns) (target <= 0.5x): {}",
                fmt_ns(s),
                fmt_ns(fu),
                verdict(r <= 0.5)
            );
        }
    }
    // Allocations per race, against 2 * ceil(log2 attempts) + 4: lifecycle races N + 1
    // attempts, stale 2N + 1, wake N (the allocations to set its race up).
    let per_race = LIFECYCLE_N
        .iter()
        .filter(|&&n| n >= 100)
        .map(|&n| ("lifecycle", n, n + 1))
        .chain(STALE_N.iter().map(|&n| ("stale", n, 2 * n + 1)));
    for (scenario, n, attempts) in per_race {
        if let Some(al) = a(scenario, n, STAGGERED) {
            let bound = alloc_bound(attempts);
            println!(
                "  {scenario} N={n}: staggered allocations per race = {:.2} (target <= 2*ceil(log2 {attempts})+4 = {bound}): {}",
                al.allocs_per_op,
                verdict(al.allocs_per_op <= bound)
            );
        }
    }
    for n in WAKE_N.iter().copied().filter(|&n| n >= 100) {
        let Some(al) = a("wake", n, STAGGERED) else {
            continue;
        };
        let setup = al.setup_allocs.unwrap_or(0) as f64;
        let bound = alloc_bound(n);
        println!(
            "  wake N={n}: staggered allocations per race = {setup} (target <= 2*ceil(log2 {n})+4 = {bound}), per wake = {:.2} (target 0): {}",
            al.allocs_per_op,
            verdict(setup <= bound && al.allocs_per_op == 0.0)
        );
    }

    // Issue 9's stale wakers.
    if let (Some(hi), Some(lo)) = (f("stale", 1_000, STAGGERED), f("stale", 100, STAGGERED)) {
        let r = hi / lo;
        println!(
            "  stale wakers, cost per attempt flat in N: staggered N=1000 / N=100 = {r:.2}x ({} / {} ns) (target <= 1.5x): {}",
            fmt_ns(hi),
            fmt_ns(lo),
            verdict(r <= 1.5)
        );
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn write_json(report: &Report, dir: &std::path::Path) -> std::io::Result<()> {
    let mut s = String::from("[\n");
    for (i, f) in report.figures.iter().enumerate() {
        let sep = if i + 1 < report.figures.len() {
            ","
        } else {
            ""
        };
        writeln!(
            s,
            "  {{\"scenario\": \"{}\", \"n\": {}, \"implementation\": \"{}\", \"ns_per_op\": {:.3}}}{sep}",
            f.scenario, f.n, f.imp, f.ns_per_op
        )
        .unwrap();
    }
    s.push_str("]\n");
    std::fs::write(dir.join("peers.json"), s)?;

    let mut s = String::from("[\n");
    for (i, a) in report.allocs.iter().enumerate() {
        let sep = if i + 1 < report.allocs.len() { "," } else { "" };
        let opt = |v: Option<String>| v.unwrap_or_else(|| String::from("null"));
        writeln!(
            s,
            "  {{\"scenario\": \"{}\", \"n\": {}, \"implementation\": \"{}\", \"allocs_per_op\": {:.3}, \"setup_allocs\": {}, \"overhead_bytes_per_attempt\": {}}}{sep}",
            a.scenario,
            a.n,
            a.imp,
            a.allocs_per_op,
            opt(a.setup_allocs.map(|v| v.to_string())),
            opt(a.overhead_bytes.map(|v| format!("{v:.1}"))),
        )
        .unwrap();
    }
    s.push_str("]\n");
    std::fs::write(dir.join("peers-alloc.json"), s)
}

/// A log-log line plot of wake cost against N, one line per implementation, written by hand.
fn wake_svg(report: &Report, title_note: &str) -> String {
    let (w, h) = (720.0_f64, 460.0_f64);
    let (left, right, top, bottom) = (80.0, 170.0, 40.0, 60.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let colors = [
        (STAGGERED, "#d62728"),
        (STAGGERED_ARRAY, "#8c564b"),
        (FUTURES_UNORDERED, "#1f77b4"),
        (SELECT_OK, "#2ca02c"),
        (RACE_OK, "#9467bd"),
        (JOINSET, "#ff7f0e"),
    ];
    type Line<'a> = (&'a str, &'a str, Vec<(f64, f64)>);
    let points: Vec<Line<'_>> = colors
        .iter()
        .map(|&(imp, color)| {
            let pts = WAKE_N
                .iter()
                .filter_map(|&n| figure(report, "wake", n, imp).map(|v| (n as f64, v)))
                .collect();
            (imp, color, pts)
        })
        .collect();
    let all: Vec<f64> = points
        .iter()
        .flat_map(|p| p.2.iter().map(|q| q.1))
        .collect();
    let ymin = all.iter().copied().fold(f64::INFINITY, f64::min).max(0.1);
    let ymax = all.iter().copied().fold(0.0, f64::max).max(ymin * 10.0);
    let (ly0, ly1) = (ymin.log10().floor(), ymax.log10().ceil());
    let (lx0, lx1) = (0.0, (*WAKE_N.last().unwrap() as f64).log10());
    let x = |n: f64| left + (n.log10() - lx0) / (lx1 - lx0) * pw;
    let y = |v: f64| top + ph - (v.log10() - ly0) / (ly1 - ly0) * ph;

    let mut s = String::new();
    writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    )
    .unwrap();
    writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#).unwrap();
    writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">Wake dispatch: cost per wake vs attempts pending (log-log)</text>"#,
        left + pw / 2.0
    )
    .unwrap();
    // Grid and axes.
    let mut d = ly0;
    while d <= ly1 + 1e-9 {
        let yy = y(10f64.powf(d));
        writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + pw,
            left - 6.0,
            yy + 4.0,
            fmt_pow10(d)
        )
        .unwrap();
        d += 1.0;
    }
    for &n in &WAKE_N {
        let xx = x(n as f64);
        writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{n}</text>"##,
            top + ph,
            top + ph + 18.0
        )
        .unwrap();
    }
    writeln!(
        s,
        r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    )
    .unwrap();
    writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">N (attempts pending at once)</text>"#,
        left + pw / 2.0,
        h - 22.0
    )
    .unwrap();
    writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">ns per wake (median)</text>"#,
        top + ph / 2.0,
        top + ph / 2.0
    )
    .unwrap();
    writeln!(
        s,
        r##"<text x="{left}" y="{:.1}" font-size="10" fill="#666">{title_note}</text>"##,
        h - 6.0
    )
    .unwrap();
    // Lines and legend.
    for (i, (imp, color, pts)) in points.iter().enumerate() {
        if pts.is_empty() {
            continue;
        }
        let path: Vec<String> = pts
            .iter()
            .map(|&(n, v)| format!("{:.1},{:.1}", x(n), y(v)))
            .collect();
        let width = if *imp == STAGGERED { 3 } else { 2 };
        writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="{width}"/>"#,
            path.join(" ")
        )
        .unwrap();
        for &(n, v) in pts {
            writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{imp} N={n}: {} ns</title></circle>"#,
                x(n),
                y(v),
                fmt_ns(v)
            )
            .unwrap();
        }
        let ly = top + 14.0 + i as f64 * 20.0;
        let lx = left + pw + 14.0;
        writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="{width}"/><circle cx="{}" cy="{ly}" r="3.5" fill="{color}"/><text x="{}" y="{}">{imp}</text>"#,
            lx + 24.0,
            lx + 12.0,
            lx + 30.0,
            ly + 4.0
        )
        .unwrap();
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_pow10(d: f64) -> String {
    let v = 10f64.powf(d);
    if v >= 1_000_000.0 {
        format!("{}M", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("{}k", v / 1_000.0)
    } else {
        format!("{v}")
    }
}

// ---------------------------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; a filter is not supported (the comparison is the point).
    let quick = std::env::var_os("PEERS_QUICK").is_some_and(|v| v != "0" && !v.is_empty());
    let cfg = if quick {
        Config {
            quick,
            sample: Duration::from_millis(2),
            samples: 5,
            budget: Duration::from_millis(400),
        }
    } else {
        Config {
            quick,
            sample: Duration::from_millis(20),
            samples: 21,
            budget: Duration::from_secs(4),
        }
    };
    let started = Instant::now();
    eprintln!(
        "peers: {} mode ({} samples of >= {:?} per implementation)",
        if quick { "quick" } else { "full" },
        cfg.samples,
        cfg.sample
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    // For the fall-through's `joinset`: a clock that jumps to the next timer when idle.
    let paused = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime");
    let mut report = Report {
        figures: Vec::new(),
        allocs: Vec::new(),
    };
    for n in LIFECYCLE_N {
        lifecycle(&cfg, &mut report, &rt, n);
        if n == 1_000 {
            cpython(&cfg, &mut report, n);
        }
    }
    for n in WAKE_N {
        wake(&cfg, &mut report, &rt, n);
    }
    for n in FALLTHROUGH_N {
        fallthrough(&cfg, &mut report, &paused, n);
    }
    for n in STALE_N {
        stale(&cfg, &mut report, n);
    }

    print_table(&report);
    print_targets(&report);

    let dir = target_dir();
    std::fs::create_dir_all(&dir).expect("create the target directory");
    write_json(&report, &dir).expect("write target/peers.json");
    let note = format!(
        "cargo bench --bench peers{}; medians; {} cores",
        if quick { " (PEERS_QUICK=1)" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    std::fs::write(dir.join("peers-wake.svg"), wake_svg(&report, &note))
        .expect("write target/peers-wake.svg");
    println!();
    println!(
        "wrote {}, {} and {} in {:.1}s",
        dir.join("peers.json").display(),
        dir.join("peers-alloc.json").display(),
        dir.join("peers-wake.svg").display(),
        started.elapsed().as_secs_f64()
    );
}
