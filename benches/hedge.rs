//! Hedged requests, head to head: no hedging, tower 0.5's `hedge`, and `staggered::hedge`, on
//! one synthetic service in tokio's paused clock (virtual time: every run gives the same
//! figures, whatever the machine's load).
//!
//! The service: each call draws its own latency, independently (a hedge is a fresh draw):
//! 1 to 3 ms mostly, 40 to 80 ms for 5% of calls, 200 to 400 ms for 1%, and 2% fail fast
//! (in 1 ms; a retry draws again and usually succeeds). 10,000 requests per strategy, one
//! after another:
//!
//! - `none`: the service alone;
//! - `tower`: `tower::hedge::Hedge` at p95, one hedge (min 100 data points, 10 s period);
//! - `staggered`: `staggered::hedge::Hedge` at p95 (`Percentile`: min 100 samples, window
//!   1,000), one hedge, first success wins;
//! - `staggered-2-budget`: the same with two hedges and a `Budget` of 10%.
//!
//! Then the cost of `Percentile::record` under contention: threads recording into one
//! `Percentile` at once, against tower's way (one `Mutex<Histogram>`).
//!
//! Prints a table; writes `target/hedge.json` (one row per strategy) and
//! `target/hedge-latency.svg` (the latency distributions; the README shows a copy from
//! docs/). `HEDGE_QUICK=1` shortens the contention part only (the strategies always run
//! their 10,000 requests: in virtual time they take well under a second each).
//!
//! `cargo bench --bench hedge`

use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use staggered::hedge::{Budget, Hedge, Percentile};
use staggered::timer::TokioTimer;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
const REQUESTS: u64 = 10_000;
const STRATEGIES: [&str; 4] = ["none", "tower", "staggered", "staggered-2-budget"];

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The `n`-th call's latency and whether it fails.
fn draw(n: u64) -> (Duration, bool) {
    let x = mix(n);
    let bucket = x % 10_000;
    let r = (x >> 20) % 1_000_000;
    let us = |lo: u64, hi: u64| Duration::from_micros(lo + r * (hi - lo) / 1_000_000);
    match bucket {
        0..=199 => (Duration::from_millis(1), true), // 2%: fail fast
        200..=299 => (us(200_000, 400_000), false),  // 1%: 200-400 ms
        300..=799 => (us(40_000, 80_000), false),    // 5%: 40-80 ms
        _ => (us(1_000, 3_000), false),              // the rest: 1-3 ms
    }
}

/// The synthetic service: every call takes the next draw.
#[derive(Clone)]
struct Synthetic {
    calls: Arc<AtomicU64>,
}

impl Service<u64> for Synthetic {
    type Response = u64;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<u64, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u64) -> Self::Future {
        let (latency, fails) = draw(self.calls.fetch_add(1, Ordering::Relaxed));
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            if fails {
                Err("unavailable".into())
            } else {
                Ok(request)
            }
        })
    }
}

#[derive(Clone)]
struct TowerPolicy;

impl tower::hedge::Policy<u64> for TowerPolicy {
    fn clone_request(&self, request: &u64) -> Option<u64> {
        Some(*request)
    }
    fn can_retry(&self, _: &u64) -> bool {
        true
    }
}

struct Row {
    strategy: &'static str,
    latencies: Vec<Duration>, // sorted
    extra_pct: f64,
    error_pct: f64,
}

impl Row {
    fn q(&self, q: f64) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i].as_secs_f64() * 1e3
    }
    fn max(&self) -> f64 {
        self.latencies.last().unwrap().as_secs_f64() * 1e3
    }
}

async fn ready<S: Service<u64>>(service: &mut S) -> Result<(), S::Error> {
    std::future::poll_fn(|cx| service.poll_ready(cx)).await
}

async fn run(strategy: &'static str) -> Row {
    let calls = Arc::new(AtomicU64::new(0));
    let service = Synthetic {
        calls: calls.clone(),
    };
    let mut latencies = Vec::with_capacity(REQUESTS as usize);
    let mut errors = 0u64;
    let mut tower_hedge = tower::hedge::Hedge::new::<u64>(
        service.clone(),
        TowerPolicy,
        100,
        0.95,
        Duration::from_secs(10),
    );
    let percentile = || Percentile::new(0.95).min_samples(100).window(1000);
    let one = Hedge::percentile(percentile());
    let two = Hedge::percentile(percentile())
        .max_hedges(2)
        .budget(Budget::new(0.10));
    for request in 0..REQUESTS {
        let t0 = tokio::time::Instant::now();
        let ok = match strategy {
            "none" => {
                let mut s = service.clone();
                ready(&mut s).await.unwrap();
                s.call(request).await.is_ok()
            }
            "tower" => {
                ready(&mut tower_hedge).await.unwrap();
                tower_hedge.call(request).await.is_ok()
            }
            "staggered" | "staggered-2-budget" => {
                let hedge = if strategy == "staggered" { &one } else { &two };
                let outcome = hedge
                    .call(TokioTimer, || {
                        let mut s = service.clone();
                        async move {
                            ready(&mut s).await?;
                            s.call(request).await
                        }
                    })
                    .await;
                outcome.winner.is_some()
            }
            _ => unreachable!(),
        };
        latencies.push(t0.elapsed());
        if !ok {
            errors += 1;
        }
    }
    latencies.sort();
    let made = calls.load(Ordering::Relaxed);
    Row {
        strategy,
        latencies,
        extra_pct: (made - REQUESTS) as f64 * 100.0 / REQUESTS as f64,
        error_pct: errors as f64 * 100.0 / REQUESTS as f64,
    }
}

/// Nanoseconds per record with `threads` threads recording `per_thread` latencies each at
/// once: (wall time × threads) / records, the cost each record pays.
fn contention(threads: usize, per_thread: u64, tower_way: bool) -> f64 {
    let percentile = Percentile::new(0.95);
    let histo = Arc::new(Mutex::new(hdrhistogram::Histogram::<u64>::new(3).unwrap()));
    let start = Arc::new(std::sync::Barrier::new(threads));
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (percentile, histo, start) = (percentile.clone(), histo.clone(), start.clone());
            scope.spawn(move || {
                start.wait();
                for i in 0..per_thread {
                    let micros = 1_000 + mix(i ^ (t as u64) << 40) % 3_000;
                    if tower_way {
                        histo.lock().unwrap().record(micros / 1000).unwrap();
                    } else {
                        percentile.record(Duration::from_micros(micros));
                    }
                }
            });
        }
    });
    t0.elapsed().as_nanos() as f64 * threads as f64 / (threads as u64 * per_thread) as f64
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")))
}

fn svg(rows: &[Row]) -> String {
    // Latency (log) against the fraction of requests slower than it (log): the tail.
    let (w, h) = (720.0_f64, 440.0_f64);
    let (left, right, top, bottom) = (70.0, 170.0, 40.0, 60.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let colors = ["#7f7f7f", "#1f77b4", "#d62728", "#2ca02c"];
    let (lx0, lx1) = (0.0_f64, 4.0_f64); // 1 - q from 1e0 to 1e-4
    let (ly0, ly1) = (0.0_f64, 3.0_f64); // 1 ms to 1000 ms
    let x = |tail: f64| left + (-tail.log10() - lx0) / (lx1 - lx0) * pw;
    let y = |ms: f64| top + ph - (ms.max(1.0).log10() - ly0) / (ly1 - ly0) * ph;
    let mut s = String::new();
    writeln!(s, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#).unwrap();
    writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#).unwrap();
    writeln!(s, r#"<text x="{}" y="22" text-anchor="middle" font-size="15">Hedged requests: latency by percentile (10,000 requests, virtual time)</text>"#, left + pw / 2.0).unwrap();
    for d in 0..=3 {
        let yy = y(10f64.powi(d));
        writeln!(s, r##"<line x1="{left}" y1="{yy}" x2="{}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{} ms</text>"##, left + pw, left - 6.0, yy + 4.0, 10u64.pow(d as u32)).unwrap();
    }
    for (d, label) in ["p0", "p90", "p99", "p99.9", "p99.99"].iter().enumerate() {
        let xx = x(10f64.powi(-(d as i32)));
        writeln!(s, r##"<line x1="{xx}" y1="{top}" x2="{xx}" y2="{}" stroke="#ddd"/><text x="{xx}" y="{}" text-anchor="middle">{label}</text>"##, top + ph, top + ph + 18.0).unwrap();
    }
    writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of the tail)</text>"#,
        left + pw / 2.0,
        h - 14.0
    )
    .unwrap();
    for (row, color) in rows.iter().zip(colors) {
        let n = row.latencies.len();
        let mut pts = String::new();
        let mut k = 0.0_f64;
        while k <= 4.0 {
            let tail = 10f64.powf(-k);
            let i = (((1.0 - tail) * (n as f64 - 1.0)).round() as usize).min(n - 1);
            write!(
                pts,
                "{:.1},{:.1} ",
                x(tail),
                y(row.latencies[i].as_secs_f64() * 1e3)
            )
            .unwrap();
            k += 0.05;
        }
        writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>"#
        )
        .unwrap();
    }
    for (i, (row, color)) in rows.iter().zip(colors).enumerate() {
        let yy = top + 20.0 + i as f64 * 22.0;
        writeln!(s, r#"<line x1="{}" y1="{yy}" x2="{}" y2="{yy}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#, w - right + 12.0, w - right + 36.0, w - right + 42.0, yy + 4.0, row.strategy).unwrap();
    }
    s.push_str("</svg>\n");
    s
}

fn main() {
    let quick = std::env::var_os("HEDGE_QUICK").is_some_and(|v| v != "0" && !v.is_empty());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let rows: Vec<Row> = STRATEGIES.iter().map(|&s| rt.block_on(run(s))).collect();

    println!("{REQUESTS} requests per strategy, paused clock (virtual time):");
    println!(
        "{:<20} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "strategy", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "extra %", "error %"
    );
    let mut json = String::from("[\n");
    for (i, r) in rows.iter().enumerate() {
        println!(
            "{:<20} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            r.strategy,
            r.q(0.5),
            r.q(0.95),
            r.q(0.99),
            r.q(0.999),
            r.max(),
            r.extra_pct,
            r.error_pct
        );
        writeln!(
            json,
            r#"  {{"strategy": "{}", "p50_ms": {:.3}, "p95_ms": {:.3}, "p99_ms": {:.3}, "p999_ms": {:.3}, "max_ms": {:.3}, "extra_pct": {:.3}, "error_pct": {:.3}}}{}"#,
            r.strategy, r.q(0.5), r.q(0.95), r.q(0.99), r.q(0.999), r.max(), r.extra_pct, r.error_pct,
            if i + 1 < rows.len() { "," } else { "" }
        )
        .unwrap();
    }
    json.push_str("]\n");

    let per_thread = if quick { 200_000 } else { 2_000_000 };
    println!("\nrecord cost under contention ({per_thread} records per thread, ns per record):");
    for threads in [1, 2, 4, 8] {
        let ours = contention(threads, per_thread, false);
        let tower_way = contention(threads, per_thread, true);
        println!(
            "record {threads} threads: Percentile::record {ours:>6.1} ns   one Mutex<Histogram> (tower's way) {tower_way:>6.1} ns"
        );
    }

    let dir = target_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hedge.json"), json).expect("write target/hedge.json");
    std::fs::write(dir.join("hedge-latency.svg"), svg(&rows)).expect("write the svg");
    println!(
        "\nwrote {} and {}",
        dir.join("hedge.json").display(),
        dir.join("hedge-latency.svg").display()
    );
}
