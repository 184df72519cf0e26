//! Hedged requests ("The Tail at Scale"; tower's `hedge`) with `staggered::hedge`: three
//! replicas on loopback with a heavy latency tail, 1,000 requests without hedging and 1,000
//! with, and the tail latency of each.
//!
//! A hedged request goes to one replica; if it has not answered by the 95th percentile of
//! recent latencies, the next replica gets the same request, and the first answer wins (the
//! other is dropped, closing its connection). `Hedge` keeps the percentile itself (it records
//! each winner's latency) and holds the extra requests to a budget of 10%.
//!
//! `cargo run --release --example hedge`

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use staggered::hedge::{Budget, Hedge, Percentile};
use staggered::timer::TokioTimer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const REQUESTS: u64 = 1_000;

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

    // Hedged: the same replica first, then the next ones, each after the p95 of recent
    // latencies (10 ms until 20 are in), two hedges at most, within a 10% budget.
    let p95 = Percentile::new(0.95)
        .min_samples(20)
        .window(200)
        .fallback(Duration::from_millis(10));
    let hedge = Hedge::percentile(p95.clone())
        .max_hedges(2)
        .budget(Budget::new(0.10));
    let mut hedged = Vec::new();
    let mut attempts_made = 0;
    for request in 0..REQUESTS {
        let first = (request % 3) as usize;
        let next = Cell::new(0);
        let t0 = Instant::now();
        let outcome = hedge
            .call(TokioTimer, || {
                let replica = replicas[(first + next.replace(next.get() + 1)) % 3];
                ask(replica, request)
            })
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
        "hedging sent {extra} extra requests ({:.1}% more; budget 10%), final hedge delay {:.2} ms",
        extra as f64 * 100.0 / REQUESTS as f64,
        p95.delay().as_secs_f64() * 1e3
    );
    Ok(())
}
