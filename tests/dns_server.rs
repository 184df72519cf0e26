//! The in-process DNS server of `tests/support/dns.rs`, checked through hickory's resolver:
//! the answers it gives, what the resolver makes of each [`Answer`], that a delayed answer
//! delays no other one, and the query log.
//!
//! Timings use real clocks on loopback: they assert exact lower bounds and generous upper ones.

#[path = "support/dns.rs"]
mod dns;

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use dns::{Answer, DnsServer, Family};
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::Resolver;

const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
const V6_2: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The addresses of a lookup's answer, in order.
fn addrs(lookup: &hickory_resolver::lookup::Lookup) -> Vec<IpAddr> {
    lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

/// The response code of a "no records" error (NXDOMAIN, or NOERROR with no answer).
fn no_records_code(error: &NetError) -> Option<ResponseCode> {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => Some(no_records.response_code),
        _ => None,
    }
}

/// Runs `future`, returning its output and how long it took.
async fn timed<F: Future>(future: F) -> (F::Output, Duration) {
    let start = Instant::now();
    let output = future.await;
    (output, start.elapsed())
}

#[tokio::test]
async fn answers_aaaa_and_a_with_the_set_addresses() -> io::Result<()> {
    let dns = DnsServer::start().await?;
    dns.answer(
        "host.test",
        Family::V6,
        Duration::ZERO,
        Answer::Addrs(vec![V6, V6_2]),
    );
    dns.answer(
        "HOST.test.",
        Family::V4,
        Duration::ZERO,
        Answer::Addrs(vec![V4]),
    );
    let resolver = dns.resolver()?;

    let v6 = resolver
        .ipv6_lookup("host.test.")
        .await
        .map_err(io::Error::other)?;
    assert_eq!(addrs(&v6), [V6, V6_2]);
    // Without the final dot too: no search domain is tried.
    let v4 = resolver
        .ipv4_lookup("host.test")
        .await
        .map_err(io::Error::other)?;
    assert_eq!(addrs(&v4), [V4]);
    // Each lookup went to the server: nothing was cached.
    let again = resolver
        .ipv4_lookup("host.test")
        .await
        .map_err(io::Error::other)?;
    assert_eq!(addrs(&again), [V4]);
    assert_eq!(dns.queries().len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_delayed_aaaa_does_not_delay_the_a() -> io::Result<()> {
    let dns = DnsServer::start().await?;
    dns.answer("slow6.test", Family::V6, ms(200), Answer::Addrs(vec![V6]));
    dns.answer(
        "slow6.test",
        Family::V4,
        Duration::ZERO,
        Answer::Addrs(vec![V4]),
    );
    let resolver = dns.resolver()?;

    let ((v6, v6_time), (v4, v4_time)) = tokio::join!(
        timed(resolver.ipv6_lookup("slow6.test.")),
        timed(resolver.ipv4_lookup("slow6.test.")),
    );
    assert_eq!(addrs(&v4.map_err(io::Error::other)?), [V4]);
    assert_eq!(addrs(&v6.map_err(io::Error::other)?), [V6]);
    assert!(v4_time < ms(100), "A took {v4_time:?}");
    assert!(v6_time >= ms(200), "AAAA took {v6_time:?}");
    assert!(v6_time < ms(300), "AAAA took {v6_time:?}");
    Ok(())
}

/// The same over TCP, where hickory-server handles one connection's requests one after the
/// other: the helper's spawned replies keep the A from waiting behind the AAAA there too.
#[tokio::test]
async fn a_delayed_aaaa_does_not_delay_the_a_over_tcp() -> io::Result<()> {
    let dns = DnsServer::start().await?;
    dns.answer("slow6.test", Family::V6, ms(200), Answer::Addrs(vec![V6]));
    dns.answer(
        "slow6.test",
        Family::V4,
        Duration::ZERO,
        Answer::Addrs(vec![V4]),
    );
    let mut name_server = NameServerConfig::tcp(dns.addr().ip());
    name_server.connections[0].port = dns.addr().port();
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    let resolver = Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![name_server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .map_err(io::Error::other)?;
    // Open the connection first, so both queries share it.
    let _ = resolver.ipv4_lookup("slow6.test.").await;

    let ((v6, v6_time), (v4, v4_time)) = tokio::join!(
        timed(resolver.ipv6_lookup("slow6.test.")),
        timed(resolver.ipv4_lookup("slow6.test.")),
    );
    assert_eq!(addrs(&v4.map_err(io::Error::other)?), [V4]);
    assert_eq!(addrs(&v6.map_err(io::Error::other)?), [V6]);
    assert!(v4_time < ms(100), "A took {v4_time:?}");
    assert!(v6_time >= ms(200), "AAAA took {v6_time:?}");
    Ok(())
}

#[tokio::test]
async fn nxdomain_servfail_and_empty_as_the_resolver_reports_them() -> io::Result<()> {
    let dns = DnsServer::start().await?;
    dns.answer("nx.test", Family::V6, Duration::ZERO, Answer::NxDomain);
    dns.answer("fail.test", Family::V6, Duration::ZERO, Answer::ServFail);
    dns.answer("empty.test", Family::V6, Duration::ZERO, Answer::Empty);
    dns.answer(
        "v6only.test",
        Family::V6,
        Duration::ZERO,
        Answer::Addrs(vec![V6]),
    );
    let resolver = dns.resolver()?;
    let error = |result: Result<_, NetError>| match result {
        Ok(lookup) => panic!("expected an error, got {lookup:?}"),
        Err(error) => error,
    };

    // NXDOMAIN: "no records found", with the response code NXDomain.
    let nx = error(resolver.ipv6_lookup("nx.test.").await);
    assert_eq!(no_records_code(&nx), Some(ResponseCode::NXDomain), "{nx:?}");
    // SERVFAIL: an error response code, sent once (no retry).
    let fail = error(resolver.ipv6_lookup("fail.test.").await);
    assert!(
        matches!(
            fail,
            NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail))
        ),
        "{fail:?}"
    );
    assert_eq!(
        fail.to_string(),
        "DNS error: error response: Server Failure"
    );
    // Empty: "no records found" too, with the response code NoError.
    let empty = error(resolver.ipv6_lookup("empty.test.").await);
    assert_eq!(
        no_records_code(&empty),
        Some(ResponseCode::NoError),
        "{empty:?}"
    );
    // A name set for AAAA only is Empty for A; a name never set is NXDOMAIN.
    let v4 = error(resolver.ipv4_lookup("v6only.test.").await);
    assert_eq!(no_records_code(&v4), Some(ResponseCode::NoError), "{v4:?}");
    let unknown = error(resolver.ipv4_lookup("unknown.test.").await);
    assert_eq!(
        no_records_code(&unknown),
        Some(ResponseCode::NXDomain),
        "{unknown:?}"
    );

    // One query each: the resolver neither retried nor cached.
    assert_eq!(dns.queries().len(), 5, "{:?}", dns.queries());
    Ok(())
}

#[tokio::test]
async fn no_answer_never_finishes() -> io::Result<()> {
    let dns = DnsServer::start().await?;
    dns.answer("silent.test", Family::V6, Duration::ZERO, Answer::NoAnswer);
    dns.answer(
        "silent.test",
        Family::V4,
        Duration::ZERO,
        Answer::Addrs(vec![V4]),
    );
    let resolver = dns.resolver()?;

    let lookup = tokio::time::timeout(ms(500), resolver.ipv6_lookup("silent.test.")).await;
    assert!(lookup.is_err(), "the lookup finished: {lookup:?}");
    // The server still answers the other family.
    let v4 = resolver
        .ipv4_lookup("silent.test.")
        .await
        .map_err(io::Error::other)?;
    assert_eq!(addrs(&v4), [V4]);
    Ok(())
}

#[tokio::test]
async fn logs_the_queries_sent_at_once() -> io::Result<()> {
    let dns = DnsServer::start().await?;
    dns.answer("both.test", Family::V6, ms(50), Answer::Addrs(vec![V6]));
    dns.answer("both.test", Family::V4, ms(50), Answer::Addrs(vec![V4]));
    let resolver = dns.resolver()?;

    let (v6, v4) = tokio::join!(
        resolver.ipv6_lookup("Both.Test"),
        resolver.ipv4_lookup("both.test.")
    );
    v6.map_err(io::Error::other)?;
    v4.map_err(io::Error::other)?;

    let mut queries = dns.queries();
    assert_eq!(queries.len(), 2, "{queries:?}");
    // Both were sent before either was answered.
    let gap = queries[1].0 - queries[0].0;
    assert!(gap < ms(50), "{queries:?}");
    queries.sort_by_key(|query| query.2);
    let logged: Vec<_> = queries
        .iter()
        .map(|(_, name, kind)| (name.as_str(), *kind))
        .collect();
    assert_eq!(logged, [("both.test.", "A"), ("both.test.", "AAAA")]);
    Ok(())
}
