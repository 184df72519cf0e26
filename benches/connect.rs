//! Time to connect when the first address hangs: `cargo bench --bench connect`.
//!
//! Compares, over loopback only:
//! - `staggered::net::HappyEyeballs` on tokio (attempt delay 250 ms, the RFC 8305 default);
//! - sequential `tokio::net::TcpStream::connect` over the same list (as `connect(&addrs[..])`
//!   does), stopped at a 3 s cap: without it, a black-holed address costs the OS's connect
//!   timeout, about 2 minutes on Linux;
//! - hyper-util's `HttpConnector` with its Happy Eyeballs on (fallback delay 300 ms, its
//!   default), fed the same list by a fixed resolver, with the same cap.
//!
//! A black hole is a listener with backlog 0 whose accept queue is full, so SYNs to it are
//! dropped. `-- --quick` runs each case once instead of 5 times (for CI).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use staggered::net::{HappyEyeballs, Tokio};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tower_service::Service;

const CAP: Duration = Duration::from_secs(3);

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 1 } else { 5 };

    let hole4 = BlackHole::new("127.0.0.1:0").await?;
    let good4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let refused4 = TcpSocket::new_v4()?;
    refused4.bind((Ipv4Addr::LOCALHOST, 0).into())?;
    let hole6 = match TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).await {
        Ok(_) => Some(BlackHole::new("[::1]:0").await?),
        Err(e) => {
            println!("no IPv6 loopback ({e}): skipping the mixed-family case");
            None
        }
    };

    let mut cases = vec![
        (
            "black hole, good (both IPv4)",
            vec![hole4.addr, good4.local_addr()?],
        ),
        (
            "refused, good (both IPv4)",
            vec![refused4.local_addr()?, good4.local_addr()?],
        ),
    ];
    if let Some(hole6) = &hole6 {
        cases.insert(
            1,
            (
                "black hole [::1], good 127.0.0.1",
                vec![hole6.addr, good4.local_addr()?],
            ),
        );
    }

    println!(
        "time to connect over loopback: median of {runs} run{} (min-max); \"cap\" means no connection within {} s",
        if runs == 1 { "" } else { "s" },
        CAP.as_secs()
    );
    println!();
    println!(
        "| {:<34} | {:<26} | {:<26} | {:<26} |",
        "addresses, in order", "staggered::net", "sequential connect", "hyper-util HttpConnector"
    );
    println!("|{:-<36}|{:-<28}|{:-<28}|{:-<28}|", "", "", "", "");
    for (name, addrs) in &cases {
        let staggered = measure(runs, || async {
            HappyEyeballs::new(Tokio)
                .connect(addrs.iter().copied())
                .await
                .map_err(io::Error::from)
        })
        .await;
        let sequential = measure(runs, || TcpStream::connect(&addrs[..])).await;
        let hyper = measure(runs, || async {
            let mut connector = HttpConnector::new_with_resolver(Fixed(Arc::new(addrs.clone())));
            connector.set_happy_eyeballs_timeout(Some(Duration::from_millis(300)));
            let uri: http::Uri = "http://bench.invalid/".parse().unwrap();
            connector.call(uri).await.map_err(io::Error::other)
        })
        .await;
        println!("| {name:<34} | {staggered:<26} | {sequential:<26} | {hyper:<26} |");
    }
    println!();
    println!("staggered::net: attempt delay 250 ms (RFC 8305 default). hyper-util: fallback delay 300 ms (its default), no connect timeout.");
    Ok(())
}

/// Runs `connect` `runs` times, each capped at `CAP`, and formats the median and range.
async fn measure<F, Fut, T>(runs: usize, mut connect: F) -> String
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut times = Vec::new();
    let mut capped = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        match tokio::time::timeout(CAP, connect()).await {
            Ok(Ok(_stream)) => times.push(t0.elapsed()),
            Ok(Err(e)) => return format!("error: {e}"),
            Err(_) => capped += 1,
        }
    }
    if capped == runs {
        return format!(">= {} ms (cap)", CAP.as_millis());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(times[times.len() / 2]);
    let mut out = format!("{median:.2} ms");
    if times.len() > 1 {
        out += &format!(" ({:.2}-{:.2})", ms(times[0]), ms(times[times.len() - 1]));
    }
    if capped > 0 {
        out += &format!(", {capped} capped");
    }
    out
}

/// A listener whose accept queue is full: connects to it hang.
struct BlackHole {
    addr: SocketAddr,
    _listener: TcpListener,
    _queued: Vec<TcpStream>,
}

impl BlackHole {
    async fn new(bind: &str) -> io::Result<BlackHole> {
        let bind: SocketAddr = bind.parse().unwrap();
        let socket = if bind.is_ipv6() {
            TcpSocket::new_v6()?
        } else {
            TcpSocket::new_v4()?
        };
        socket.bind(bind)?;
        let listener = socket.listen(0)?;
        let addr = listener.local_addr()?;
        let mut queued = Vec::new();
        while let Ok(stream) =
            tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(addr)).await
        {
            queued.push(stream?);
            if queued.len() > 64 {
                return Err(io::Error::other("the accept queue never filled up"));
            }
        }
        Ok(BlackHole {
            addr,
            _listener: listener,
            _queued: queued,
        })
    }
}

/// A resolver for hyper-util that always answers with the same list.
#[derive(Clone)]
struct Fixed(Arc<Vec<SocketAddr>>);

impl Service<Name> for Fixed {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<Self::Response>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        std::future::ready(Ok(Vec::clone(&self.0).into_iter()))
    }
}
