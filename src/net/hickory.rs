//! [`HickoryResolver`]: `hickory-resolver` as the resolver of a Happy Eyeballs connect.

use core::fmt;
use core::future::Future;
use std::borrow::ToOwned;
use std::format;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::vec::Vec;

use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::TokioResolver;

use super::address_selection;
use super::resolve::{Family, Resolve};

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
    /// registry on Windows) and hickory's default options.
    ///
    /// # Errors
    ///
    /// When the configuration cannot be read or the resolver cannot be built.
    pub fn system() -> io::Result<Self> {
        let resolver = TokioResolver::builder_tokio()
            .and_then(|builder| builder.build())
            .map_err(|error| io::Error::other(format!("hickory resolver: {error}")))?;
        Ok(Self::new(resolver))
    }

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
        async move {
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
        }
    }
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
