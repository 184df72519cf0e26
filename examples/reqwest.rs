//! reqwest with `staggered::net::ReqwestResolver` (feature `net-reqwest`).
//!
//! reqwest 0.13 cannot take a custom connector: `ClientBuilder::connector_layer` wraps its own
//! connector, and the layer's service must return reqwest's `Conn`, which only reqwest can
//! build. So the race itself cannot be plugged into reqwest (reqwest connects with hyper-util's
//! `HttpConnector`, one lane per address family). What reqwest does take is a resolver,
//! `ClientBuilder::dns_resolver`: `ReqwestResolver` sends one lookup per family, at once, and
//! answers at the first useful answer (RFC 8305 §3: AAAA at once, or A after the 50 ms
//! Resolution Delay), the families in RFC 8305 §4 order, with clear errors for names that do
//! not resolve.
//!
//! For the race as well, use hyper-util's client with `staggered::net::HttpConnector`
//! (feature `net-hyper`): see its docs.
//!
//! Runs on loopback only: a hyper server on 127.0.0.1, reached as `localhost` (from
//! /etc/hosts, no DNS query). `cargo run --example reqwest`.

use std::convert::Infallible;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use staggered::net::{HappyEyeballs, ReqwestResolver, Tokio};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(http::Response::new("hello over reqwest".to_owned()))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    // `ReqwestResolver::new()` has the defaults; `From` a `HappyEyeballs` takes its options
    // (and its resolver, for example `HickoryResolver`).
    let resolver =
        ReqwestResolver::from(HappyEyeballs::new(Tokio).resolve_timeout(Duration::from_secs(5)));
    let client = reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(resolver)
        .build()?;
    let body = client
        .get(format!("http://localhost:{port}/"))
        .send()
        .await?
        .text()
        .await?;
    println!("{body}");
    assert_eq!(body, "hello over reqwest");

    Ok(())
}
