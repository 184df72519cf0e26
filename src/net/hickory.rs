//! [`HickoryResolver`]: `hickory-resolver` as the resolver of a Happy Eyeballs connect.

use core::fmt;
use core::future::Future;
use std::borrow::ToOwned;
use std::boxed::Box;
use std::format;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::vec::Vec;

use core::time::Duration;
use hickory_resolver::config::ResolverOpts;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::rdata::svcb::{SvcParamKey, SvcParamValue, SVCB};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

use super::address_selection;
use super::resolve::{Family, Resolve};
use super::svcb::HttpsRecord;

/// A DNS-client resolver on [`hickory-resolver`](hickory_resolver) (feature `net-hickory`):
/// a real AAAA query and a real A query, separate, so that the RFC 8305 §3 rules of
/// [`connect_host`](super::HappyEyeballs::connect_host) act on the two answers as they come
/// off the wire.
///
/// Each answer is sorted by RFC 6724 destination address selection, as `getaddrinfo` sorts
/// its own: rules 1, 2, 5, 6, 8, 9 (between IPv6 addresses) and 10, with the source address
/// the OS would use for each destination and RFC 6724's default policy table. The OS is asked
/// once per subnet of the answer (an IPv6 /64, an IPv4 /24, by scope and zone), not once per
/// address; an answer spread over more than 8 subnets is sorted on tokio's blocking pool, so
/// a long answer does not hold the executor's thread. Rules 3, 4 and
/// 7 (deprecated and home addresses, native transport) need what the platform does not tell
/// portably, and are not applied; neither is `/etc/gai.conf`.
///
/// The answers map to [`Resolve`]'s terms as follows:
///
/// - addresses: `Ok` with them, sorted;
/// - NOERROR with no record of the type (NODATA: the name exists, without this family):
///   `Ok` with an empty list;
/// - NXDOMAIN: an [`io::ErrorKind::NotFound`] error;
/// - SERVFAIL, REFUSED and other response codes: an [`io::ErrorKind::Other`] error naming
///   the code;
/// - no answer within hickory's own timeout: an [`io::ErrorKind::TimedOut`] error (the
///   connect's [resolve timeout](super::HappyEyeballs::resolve_timeout) bounds each lookup
///   too, whichever is shorter).
///
/// The resolver is configured the hickory way ([`TokioResolver::builder_tokio`] reads the
/// system's configuration; `builder_with_config` takes name servers of your own) and
/// caches answers by their TTL, unless its options say otherwise. It is cheap to clone.
/// It runs on tokio: its lookups spawn tokio tasks.
///
/// # Example
///
/// A resolver with name servers of its own, in a connector. The connect here is to an address
/// literal, which is not looked up (so the example needs no network); a name would be.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use hickory_resolver::config::{NameServerConfig, ResolverConfig};
/// use hickory_resolver::net::runtime::TokioRuntimeProvider;
/// use hickory_resolver::TokioResolver;
/// use staggered::net::{HappyEyeballs, HickoryResolver, Tokio};
///
/// let servers = vec![NameServerConfig::udp_and_tcp("127.0.0.53".parse()?)];
/// let config = ResolverConfig::from_parts(None, vec![], servers);
/// let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default()).build()?;
/// let connector = HappyEyeballs::new(Tokio).resolver(HickoryResolver::new(resolver));
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let stream = connector.connect_host(&listener.local_addr()?.to_string()).await?;
/// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct HickoryResolver {
    resolver: TokioResolver,
}

impl HickoryResolver {
    /// Wraps a hickory resolver.
    pub fn new(resolver: TokioResolver) -> Self {
        HickoryResolver { resolver }
    }

    /// A hickory resolver with the system's configuration (`/etc/resolv.conf` on Unix, the
    /// registry on Windows), its options [tuned for a connect](Self::tune_for_connect): a
    /// 1 s timeout per query and 4 retries, in place of the 5 s and 2 of hickory and glibc,
    /// unless the system's configuration sets other values.
    ///
    /// This is a change from earlier versions, which kept hickory's 5 s and 2 retries.
    ///
    /// # Errors
    ///
    /// When the configuration cannot be read or the resolver cannot be built.
    pub fn system() -> io::Result<Self> {
        let resolver = TokioResolver::builder_tokio()
            .and_then(|mut builder| {
                Self::tune_for_connect(builder.options_mut());
                builder.build()
            })
            .map_err(|error| io::Error::other(format!("hickory resolver: {error}")))?;
        Ok(Self::new(resolver))
    }

    /// Sets `options`' per-query timeout to [`CONNECT_QUERY_TIMEOUT`](Self::CONNECT_QUERY_TIMEOUT)
    /// (1 s) and its retries to [`CONNECT_QUERY_RETRIES`](Self::CONNECT_QUERY_RETRIES) (4),
    /// if they are hickory's and glibc's defaults (5 s, 2 retries); values set otherwise (by
    /// `options timeout:` or `attempts:` in `/etc/resolv.conf`, or by you) are kept.
    /// [`system`](Self::system) does this; call it on the options of a resolver you build
    /// yourself for the same effect.
    ///
    /// Why: a lost UDP query costs the timeout. Within one try hickory sends the query up to
    /// 3 times, a third of a second apart, so a try fails only when all 3 are lost; with 5 s
    /// tries, that costs 5 s. Measured on loopback with 30% of the queries dropped, 1,000
    /// connects to an IPv4-only name (`dns_loss_tail_by_resolver_settings` in tests/dns.rs):
    ///
    /// | timeout, retries | p50 | p99 | max | over 2 s | over 5 s |
    /// |---|---|---|---|---|---|
    /// | 5 s, 2 (hickory's default) | 51 ms | 5.0 s | 8.2 s | 2.7% | 2.5% |
    /// | 2 s, 2 | 51 ms | 3.0 s | 4.0 s | 3.1% | 0% |
    /// | 2 s, 3 | 21 ms | 2.4 s | 4.0 s | 2.6% | 0% |
    /// | 1 s, 4 (this) | 51 ms | 2.0 s | 5.0 s | 1.3% | 0% |
    ///
    /// The cost: a name server that answers in more than 1 s (a cold recursive lookup over a
    /// slow path) is asked again, once a second, up to 5 times (each try sends up to 3
    /// datagrams); by then the recursive server has usually cached the answer, and a name
    /// that takes longer than 5 s in all fails where hickory's defaults would have waited up
    /// to 15 s. The connect's own [resolve timeout](super::HappyEyeballs::resolve_timeout)
    /// (10 s) is unchanged.
    ///
    /// ```
    /// use hickory_resolver::config::ResolverOpts;
    /// use staggered::net::HickoryResolver;
    ///
    /// let mut options = ResolverOpts::default();
    /// HickoryResolver::tune_for_connect(&mut options);
    /// assert_eq!(options.timeout, HickoryResolver::CONNECT_QUERY_TIMEOUT);
    /// assert_eq!(options.attempts, HickoryResolver::CONNECT_QUERY_RETRIES);
    ///
    /// // A timeout set on purpose stays.
    /// let mut options = ResolverOpts::default();
    /// options.timeout = std::time::Duration::from_secs(3);
    /// HickoryResolver::tune_for_connect(&mut options);
    /// assert_eq!(options.timeout, std::time::Duration::from_secs(3));
    /// ```
    pub fn tune_for_connect(options: &mut ResolverOpts) {
        let defaults = ResolverOpts::default();
        if options.timeout == defaults.timeout {
            options.timeout = Self::CONNECT_QUERY_TIMEOUT;
        }
        if options.attempts == defaults.attempts {
            options.attempts = Self::CONNECT_QUERY_RETRIES;
        }
    }

    /// The per-query timeout of [`tune_for_connect`](Self::tune_for_connect): 1 s.
    pub const CONNECT_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

    /// The retries after a failed or timed-out try of
    /// [`tune_for_connect`](Self::tune_for_connect): 4 (5 tries in all).
    pub const CONNECT_QUERY_RETRIES: usize = 4;

    /// The hickory resolver inside.
    pub fn inner(&self) -> &TokioResolver {
        &self.resolver
    }
}

impl From<TokioResolver> for HickoryResolver {
    fn from(resolver: TokioResolver) -> Self {
        Self::new(resolver)
    }
}

impl fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HickoryResolver").finish_non_exhaustive()
    }
}

impl Resolve for HickoryResolver {
    fn lookup(
        &self,
        host: &str,
        port: u16,
        family: Family,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        let resolver = self.resolver.clone();
        let host = host.to_owned();
        // Boxed: hickory's lookup future is about 0.5 KB, and this one with it 1 KB; in the
        // connect's future it would take that room for the whole connect, twice (AAAA and A).
        // On the heap it is there only while the lookup runs (issue 23, item 5).
        Box::pin(async move {
            let answer = match family {
                Family::V6 => resolver.ipv6_lookup(host.as_str()).await,
                Family::V4 => resolver.ipv4_lookup(host.as_str()).await,
            };
            let lookup = match answer {
                Ok(lookup) => lookup,
                Err(error) => return no_addresses(error),
            };
            let mut addrs: Vec<SocketAddr> = lookup
                .answers()
                .iter()
                .filter_map(|record| record.data.ip_addr())
                .filter(|ip| {
                    matches!(
                        (family, ip),
                        (Family::V6, IpAddr::V6(_)) | (Family::V4, IpAddr::V4(_))
                    )
                })
                .map(|ip| SocketAddr::new(ip, port))
                .collect();
            if address_selection::distinct_routes(&addrs) <= MAX_ROUTES_ON_THE_EXECUTOR {
                address_selection::sort(&mut addrs);
                return Ok(addrs);
            }
            // Many subnets: the route lookups go to tokio's blocking pool, off the executor.
            ::tokio::task::spawn_blocking(move || {
                address_selection::sort(&mut addrs);
                addrs
            })
            .await
            .map_err(|error| io::Error::other(format!("sorting the answer: {error}")))
        })
    }

    /// An HTTPS query (`RecordType::HTTPS`) for `name`: each record decoded into an
    /// [`HttpsRecord`]. NODATA is an empty list; a record whose `mandatory` parameter names a
    /// key this decoder does not know is left out (RFC 9460 §8: the client must ignore it).
    fn lookup_https(
        &self,
        name: &str,
    ) -> impl Future<Output = io::Result<Vec<HttpsRecord>>> + Send {
        let resolver = self.resolver.clone();
        let name = name.to_owned();
        Box::pin(async move {
            let lookup = match resolver.lookup(name.as_str(), RecordType::HTTPS).await {
                Ok(lookup) => lookup,
                Err(error) => return no_addresses(error).map(|_| Vec::new()),
            };
            Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::HTTPS(https) => https_record(&https.0),
                    _ => None,
                })
                .collect())
        })
    }
}

/// An SVCB/HTTPS record's fields as an [`HttpsRecord`], or `None` when a mandatory key is
/// one this decoder does not read.
fn https_record(svcb: &SVCB) -> Option<HttpsRecord> {
    let mut target = svcb.target_name.to_ascii();
    if target.ends_with('.') {
        target.pop();
    }
    let mut record = HttpsRecord {
        priority: svcb.svc_priority,
        target,
        ..HttpsRecord::default()
    };
    for (_, value) in &svcb.svc_params {
        match value {
            SvcParamValue::Mandatory(keys) => {
                let known = keys.0.iter().all(|key| {
                    matches!(
                        key,
                        SvcParamKey::Alpn
                            | SvcParamKey::NoDefaultAlpn
                            | SvcParamKey::Port
                            | SvcParamKey::Ipv4Hint
                            | SvcParamKey::Ipv6Hint
                            | SvcParamKey::EchConfigList
                    )
                });
                if !known {
                    return None;
                }
            }
            SvcParamValue::Alpn(alpn) => record.alpn.clone_from(&alpn.0),
            SvcParamValue::NoDefaultAlpn => record.no_default_alpn = true,
            SvcParamValue::Port(port) => record.port = Some(*port),
            SvcParamValue::Ipv4Hint(hints) => {
                record.ipv4hint = hints.0.iter().map(|a| a.0).collect();
            }
            SvcParamValue::Ipv6Hint(hints) => {
                record.ipv6hint = hints.0.iter().map(|a| a.0).collect();
            }
            SvcParamValue::EchConfigList(ech) => record.ech = Some(ech.0.clone()),
            _ => {}
        }
    }
    Some(record)
}

/// The most route lookups (one per subnet of the answer, see
/// [`address_selection::sort`]) an answer's RFC 6724 sort makes on the executor's thread:
/// at 13 to 120 µs each, 8 stay under a millisecond, about what a hop to tokio's blocking
/// pool and back costs at the high end. An answer spread over more subnets is sorted on the
/// blocking pool.
const MAX_ROUTES_ON_THE_EXECUTOR: usize = 8;

/// A failed hickory lookup in [`Resolve`]'s terms: NODATA is an empty answer, the rest are
/// errors of the right kind, whose message names the response code (`SERVFAIL`, ...).
fn no_addresses(error: NetError) -> io::Result<Vec<SocketAddr>> {
    let answered = |code: ResponseCode| {
        let name = match code {
            ResponseCode::NXDomain => "NXDOMAIN",
            ResponseCode::ServFail => "SERVFAIL",
            ResponseCode::Refused => "REFUSED",
            ResponseCode::FormErr => "FORMERR",
            ResponseCode::NotImp => "NOTIMP",
            _ => "",
        };
        let kind = if code == ResponseCode::NXDomain {
            io::ErrorKind::NotFound
        } else {
            io::ErrorKind::Other
        };
        let why = if name.is_empty() {
            format!("the name server answered {code} (code {})", u16::from(code))
        } else {
            format!("the name server answered {name} ({code})")
        };
        Err(io::Error::new(kind, why))
    };
    match error {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords { response_code, .. })) => {
            if response_code == ResponseCode::NoError {
                Ok(Vec::new())
            } else {
                answered(response_code)
            }
        }
        NetError::Dns(DnsError::ResponseCode(code)) => answered(code),
        NetError::Timeout => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no answer from the name servers within the resolver's timeout",
        )),
        NetError::Io(io) => Err(io::Error::new(io.kind(), format!("hickory: {io}"))),
        other => Err(io::Error::other(format!("hickory: {other}"))),
    }
}
