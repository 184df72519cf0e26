//! Hedged requests ("The Tail at Scale"; tower's `hedge`) with `staggered`: three replicas on
//! loopback with a heavy latency tail, 1,000 requests without hedging and 1,000 with, and the
//! tail latency of each.
//!
//! A hedged request goes to one replica; if it has not answered by the 95th percentile of
//! recent latencies, a second replica gets the same request, and the first answer wins (the
//! other is dropped, closing its connection). The delay comes from `delay_fn`, and the
//! latencies it is computed from come from `on_event`: the race itself is unchanged.
//!
//! `cargo run --release --example hedge`

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use staggered::timer::TokioTimer;
use staggered::{Event, Staggered};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const REQUESTS: u64 = 1_000;
/// Recent latencies the percentile is taken over.
const WINDOW: usize = 200;
/// The hedge delay until the window has data.
const INITIAL_DELAY: Duration = Duration::from_millis(10);

/// A deterministic latency for `request` at `replica`: 1 to 3 ms mostly, 40 to 80 ms for
/// about one request in 16 (a garbage collection, a slow disk, a noisy neighbour).
fn latency(replica: u64, request: u64) -> Duration {
    let mut x = replica
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(request.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    let micros = if x % 16 == 0 {
        40_000 + x / 16 % 40_000
    } else {
        1_000 + x / 16 % 2_000
    };
    Duration::from_micros(micros)
}

/// A replica: reads a request id per line and answers it after its latency.
async fn replica(id: u64) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let request: u64 = line.trim().parse().unwrap_or(0);
                    tokio::time::sleep(latency(id, request)).await;
                    if write
                        .write_all(format!("{line} from {id}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// One request to one replica, on a connection of its own (dropping it cancels the request).
async fn ask(addr: SocketAddr, request: u64) -> std::io::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{request}\n").as_bytes()).await?;
    let mut answer = String::new();
    BufReader::new(read).read_line(&mut answer).await?;
    Ok(answer)
}

/// The `q`-th quantile of `sorted`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn report(name: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<10} p50 {:>6.2} ms   p95 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        ms(quantile(&latencies, 0.50)),
        ms(quantile(&latencies, 0.95)),
        ms(quantile(&latencies, 0.99)),
        ms(*latencies.last().expect("requests were made")),
    );
}

/// Recent latencies of answered attempts, and the hedge delay taken from them.
#[derive(Default)]
struct Latencies {
    recent: VecDeque<Duration>,
}

impl Latencies {
    fn record(&mut self, latency: Duration) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(latency);
    }

    /// The 95th percentile of the window: the hedge delay.
    fn p95(&self) -> Duration {
        if self.recent.len() < 20 {
            return INITIAL_DELAY;
        }
        let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
        sorted.sort();
        quantile(&sorted, 0.95)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut replicas = Vec::new();
    for id in 0..3 {
        replicas.push(replica(id).await?);
    }

    // Without hedging: each request to one replica, in turn.
    let mut plain = Vec::new();
    for request in 0..REQUESTS {
        let t0 = Instant::now();
        ask(replicas[(request % 3) as usize], request).await?;
        plain.push(t0.elapsed());
    }

    // Hedged: the same replica first, then the next one after the p95 of recent latencies.
    // Two at a time at most: a hedge is one extra request, never a third.
    let window = Rc::new(RefCell::new(Latencies::default()));
    let mut hedged = Vec::new();
    let mut attempts_made = 0;
    for request in 0..REQUESTS {
        let first = (request % 3) as usize;
        let order: Vec<SocketAddr> = (0..3).map(|k| replicas[(first + k) % 3]).collect();
        let started: Rc<RefCell<Vec<Instant>>> = Rc::default();
        let t0 = Instant::now();
        let outcome = Staggered::new(order.iter().map(|&addr| move || ask(addr, request)))
            .delay_fn({
                let window = window.clone();
                move |_| Some(window.borrow().p95())
            })
            .max_running(2)
            .on_event({
                let (window, started) = (window.clone(), started.clone());
                move |event: Event<'_, std::io::Error>| match event {
                    Event::Started { .. } => started.borrow_mut().push(Instant::now()),
                    Event::Won { index } => {
                        let latency = started.borrow()[index].elapsed();
                        window.borrow_mut().record(latency);
                    }
                    _ => {}
                }
            })
            .race(TokioTimer)
            .await;
        attempts_made += outcome.attempts.len();
        outcome.into_result().map_err(std::io::Error::other)?;
        hedged.push(t0.elapsed());
    }

    println!("{REQUESTS} requests to 3 replicas on loopback (1 in 16 takes 40-80 ms):");
    report("unhedged", plain);
    report("hedged", hedged);
    let extra = attempts_made as u64 - REQUESTS;
    println!(
        "hedging sent {extra} extra requests ({:.1}% more), final hedge delay {:.2} ms",
        extra as f64 * 100.0 / REQUESTS as f64,
        window.borrow().p95().as_secs_f64() * 1e3
    );
    Ok(())
}
