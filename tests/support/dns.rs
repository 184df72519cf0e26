//! An in-process authoritative DNS server for the tests and the demo, built on `hickory-server`.
//!
//! [`DnsServer::start`] binds UDP and TCP on one port of 127.0.0.1 and answers AAAA and A
//! queries as the test configures them with [`DnsServer::answer`]: per name and per family, a
//! delay and an [`Answer`]; and HTTPS queries (RFC 9460) with [`DnsServer::answer_https`]: a
//! delay and SVCB records. [`DnsServer::queries`] logs what arrived, and
//! [`DnsServer::resolver`] is a hickory resolver that asks this server only.
//!
//! A delayed answer never delays another one: the handler does not wait for the delay itself,
//! it spawns the (delayed) reply as a task of its own and returns at once. hickory-server
//! already handles each UDP datagram in a task of its own, but it handles the requests of one
//! TCP connection one after the other, so without this a slow AAAA would hold up the A on TCP.
//!
//! ```ignore
//! let dns = DnsServer::start().await?;
//! dns.answer("a.test", Family::V6, Duration::from_millis(200), Answer::Addrs(vec![v6]));
//! dns.answer("a.test", Family::V4, Duration::ZERO, Answer::Addrs(vec![v4]));
//! let resolver = dns.resolver()?;
//! ```

#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, HTTPS, SVCB};
use hickory_server::proto::rr::{RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

/// Which address family a query asks for: the record type of the question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv6: an AAAA query.
    V6,
    /// IPv4: an A query.
    V4,
}

impl Family {
    /// The DNS record type this family is asked with (AAAA or A).
    pub fn record_type(self) -> RecordType {
        match self {
            Family::V6 => RecordType::AAAA,
            Family::V4 => RecordType::A,
        }
    }

    /// The family an AAAA or A query asks for; `None` for any other record type.
    fn of(record_type: RecordType) -> Option<Family> {
        match record_type {
            RecordType::AAAA => Some(Family::V6),
            RecordType::A => Some(Family::V4),
            _ => None,
        }
    }
}

/// What the server does with a query, once its delay has passed.
// `NoAnswer` ends with the enum's name, and says what it does better than any other.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// NOERROR with these addresses, in this order, TTL 0. Each address is sent as the record of
    /// its own family (an IPv4 address in an AAAA answer goes out as an A record), so a test can
    /// also model a server that answers the wrong family. An empty list is the same as `Empty`.
    Addrs(Vec<IpAddr>),
    /// NOERROR with no records: the name exists, but has no address of this family.
    Empty,
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// SERVFAIL.
    ServFail,
    /// Never respond (the resolver times out): every query of this name and family is
    /// dropped. [`DnsServer::drop_share`] drops a share of all queries instead.
    NoAnswer,
}

/// One logged query: when it arrived (since [`DnsServer::start`]), the name asked (lower case,
/// fully qualified: `"a.test."`), and its record type (`"AAAA"`, `"A"`, or another type's name).
pub type LoggedQuery = (Duration, String, &'static str);

/// An authoritative DNS server on 127.0.0.1 (UDP and TCP on one port), running on the tokio
/// runtime it was started on. Dropping it stops the server and every reply still pending.
pub struct DnsServer {
    /// Where the server listens (UDP and TCP).
    addr: SocketAddr,
    /// The configuration and the log, shared with the request handler.
    shared: Arc<Shared>,
    /// hickory's server: holds the UDP and TCP tasks, and aborts them when dropped.
    _server: Server<Handler>,
}

/// The state the [`DnsServer`] and its request handler share.
struct Shared {
    /// When the server started: the zero of the query log.
    start: Instant,
    /// The configured answers: (lower-case fully qualified name, family) -> (delay, answer).
    answers: Mutex<HashMap<(String, Family), (Duration, Answer)>>,
    /// The configured HTTPS answers: lower-case fully qualified name -> (delay, records).
    https: Mutex<HashMap<String, (Duration, Vec<SVCB>)>>,
    /// Every query received, in order of arrival.
    log: Mutex<Vec<LoggedQuery>>,
    /// The replies being sent (after their delay); aborted when the [`DnsServer`] is dropped.
    replies: Mutex<JoinSet<()>>,
    /// The share of queries dropped unanswered, in thousandths ([`DnsServer::drop_share`]).
    drop_per_mille: AtomicU64,
    /// The queries seen so far: the input of the drop decision.
    seen: AtomicU64,
    /// The queries dropped so far.
    dropped: AtomicU64,
}

/// hickory's request handler: looks the question up in [`Shared`] and spawns the reply.
struct Handler(Arc<Shared>);

impl DnsServer {
    /// Binds UDP and TCP on one free port of 127.0.0.1 and starts serving on the current tokio
    /// runtime (so it must be called from within one). No name is configured yet: every query
    /// gets NXDOMAIN until [`DnsServer::answer`] says otherwise.
    pub async fn start() -> io::Result<DnsServer> {
        let (udp, tcp) = bind_pair().await?;
        let addr = udp.local_addr()?;
        let shared = Arc::new(Shared {
            start: Instant::now(),
            answers: Mutex::new(HashMap::new()),
            https: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            replies: Mutex::new(JoinSet::new()),
            drop_per_mille: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let mut server = Server::new(Handler(shared.clone()));
        server.register_socket(udp);
        // An idle TCP connection is closed after 10 s; up to 32 replies are buffered per
        // connection.
        server.register_listener(tcp, Duration::from_secs(10), 32);
        Ok(DnsServer {
            addr,
            shared,
            _server: server,
        })
    }

    /// The address the server listens on, UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, answer the `family` queries for `name` with `answer`, `delay` after each
    /// query arrives (replacing what was set for this name and family before). `name` may be
    /// given with or without the final dot, in any case.
    ///
    /// A name that has been configured for one family only gets `Empty` (NOERROR, no records),
    /// at once, for the other family and for any other record type; a name never configured gets
    /// NXDOMAIN.
    pub fn answer(&self, name: &str, family: Family, delay: Duration, answer: Answer) {
        lock(&self.shared.answers).insert((normalize(name), family), (delay, answer));
    }

    /// From now on, answer the HTTPS queries for `name` with `records` (each an SVCB
    /// record sent as HTTPS, TTL 0; none is NOERROR with no records), `delay` after each
    /// query arrives. A name configured this way only gets `Empty` for AAAA and A unless
    /// [`DnsServer::answer`] says otherwise.
    pub fn answer_https(&self, name: &str, delay: Duration, records: Vec<SVCB>) {
        lock(&self.shared.https).insert(normalize(name), (delay, records));
    }

    /// From now on, drop `per_mille` thousandths of all queries, whatever their name: no
    /// reply, as if the query or its answer were lost on the way. Which ones is decided by a
    /// fixed pseudo-random sequence over the queries' order of arrival (the same share, and
    /// no pattern a resolver's resends could fall into). A dropped query is logged as usual.
    pub fn drop_share(&self, per_mille: u64) {
        self.shared
            .drop_per_mille
            .store(per_mille, Ordering::Relaxed);
    }

    /// How many queries have been dropped by [`DnsServer::drop_share`], and how many
    /// arrived, so far.
    pub fn dropped(&self) -> (u64, u64) {
        (
            self.shared.dropped.load(Ordering::Relaxed),
            self.shared.seen.load(Ordering::Relaxed),
        )
    }

    /// The queries received so far, in order of arrival. A query the resolver sent again is
    /// logged each time it arrives: hickory resends a UDP query that has had no reply for a
    /// while (seen here: at about 0.6 s and 1.2 s, 3 sends in all), so an answer delayed that
    /// long, or `NoAnswer`, logs more than one query.
    pub fn queries(&self) -> Vec<LoggedQuery> {
        lock(&self.shared.log).clone()
    }

    /// A tokio hickory resolver whose only name server is this one (UDP, and TCP for truncated
    /// replies), for fresh answers on every lookup: no cache, no hosts file, no search domains
    /// (`ndots` 0, so `host.test` is asked as it is), a single attempt (no retry after a failure
    /// or a timeout) and a 5 s timeout per lookup. Errors if hickory fails to build it.
    pub fn resolver(&self) -> io::Result<TokioResolver> {
        self.resolver_with(|_| {})
    }

    /// [`DnsServer::resolver`], with its options changed by `tune` after the ones it sets
    /// (to try other timeouts and attempts).
    pub fn resolver_with(&self, tune: impl FnOnce(&mut ResolverOpts)) -> io::Result<TokioResolver> {
        let mut name_server = NameServerConfig::udp_and_tcp(self.addr.ip());
        for connection in &mut name_server.connections {
            connection.port = self.addr.port();
        }
        let config = ResolverConfig::from_name_servers(vec![name_server]);

        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_secs(5);
        // The number of retries after the first try fails.
        options.attempts = 0;
        options.ndots = 0;
        options.cache_size = 0;
        options.positive_max_ttl = Some(Duration::ZERO);
        options.negative_max_ttl = Some(Duration::ZERO);
        options.use_hosts_file = ResolveHosts::Never;
        tune(&mut options);

        Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(io::Error::other)
    }
}

impl Drop for DnsServer {
    /// Aborts the replies still waiting for their delay; dropping `_server` next aborts the UDP
    /// and TCP tasks.
    fn drop(&mut self) {
        lock(&self.shared.replies).abort_all();
    }
}

impl Shared {
    /// Whether to drop the query that just arrived: splitmix64 of its arrival number, against
    /// the drop share.
    fn drop_this(&self) -> bool {
        let share = self.drop_per_mille.load(Ordering::Relaxed);
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        if share == 0 {
            return false;
        }
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let drop = z % 1000 < share;
        if drop {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop
    }

    /// What to do with a query for `name` (normalized) and `record_type`: the delay and answer.
    fn plan(&self, name: &str, record_type: RecordType) -> (Duration, Answer) {
        if lock(&self.https).contains_key(name) && Family::of(record_type).is_some() {
            let answers = lock(&self.answers);
            return Family::of(record_type)
                .and_then(|f| answers.get(&(name.into(), f)).cloned())
                .unwrap_or((Duration::ZERO, Answer::Empty));
        }
        let answers = lock(&self.answers);
        if let Some(planned) = Family::of(record_type).and_then(|f| answers.get(&(name.into(), f)))
        {
            return planned.clone();
        }
        if answers.keys().any(|(known, _)| known == name) {
            (Duration::ZERO, Answer::Empty)
        } else {
            (Duration::ZERO, Answer::NxDomain)
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    /// Logs the query, then spawns its reply (after the configured delay) and returns at once,
    /// so that no request waits for another one's delay.
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let info = |metadata: Metadata| {
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        };

        let Some(query) = request.queries.queries().first() else {
            metadata.response_code = ResponseCode::FormErr;
            let response =
                MessageResponseBuilder::from_message_request(request).build_no_records(metadata);
            // A reply that cannot be sent (the client is gone) is nothing the test can act on.
            let _ = response_handle.send_response(response).await;
            return info(metadata);
        };
        let name = normalize(&query.name().to_string());
        let record_type = query.query_type();
        let owner = query.original().name().clone();
        lock(&self.0.log).push((self.0.start.elapsed(), name.clone(), record_type.into()));

        if self.0.drop_this() {
            return info(metadata);
        }
        let https = (record_type == RecordType::HTTPS)
            .then(|| lock(&self.0.https).get(&name).cloned())
            .flatten();
        let (delay, answer) = match &https {
            Some((delay, _)) => (*delay, Answer::Empty),
            None => self.0.plan(&name, record_type),
        };
        let (code, addrs) = match answer {
            Answer::Addrs(addrs) => (ResponseCode::NoError, addrs),
            Answer::Empty => (ResponseCode::NoError, Vec::new()),
            Answer::NxDomain => (ResponseCode::NXDomain, Vec::new()),
            Answer::ServFail => (ResponseCode::ServFail, Vec::new()),
            Answer::NoAnswer => return info(metadata),
        };
        metadata.response_code = code;
        let mut records: Vec<Record> = addrs
            .into_iter()
            .map(|addr| {
                let data = match addr {
                    IpAddr::V4(v4) => RData::A(A(v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                };
                Record::from_rdata(owner.clone(), 0, data)
            })
            .collect();
        if let Some((_, svcbs)) = https {
            records.extend(
                svcbs
                    .into_iter()
                    .map(|svcb| Record::from_rdata(owner.clone(), 0, RData::HTTPS(HTTPS(svcb)))),
            );
        }

        // The reply task owns a copy of the request (the builder borrows its question section).
        let Ok(request) = Request::from_bytes(
            request.as_slice().to_vec(),
            request.src(),
            request.protocol(),
        ) else {
            return info(metadata);
        };
        let mut replies = lock(&self.0.replies);
        // Forget the replies already sent.
        while replies.try_join_next().is_some() {}
        replies.spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let response = MessageResponseBuilder::from_message_request(&request).build(
                metadata,
                records.iter(),
                None,
                None,
                None,
            );
            // As above: a reply that cannot be sent has nobody left to read it.
            let _ = response_handle.send_response(response).await;
        });
        info(metadata)
    }
}

/// A UDP socket and a TCP listener bound to the same free port of 127.0.0.1. The port is the
/// one the system picks for UDP; if it is taken for TCP, try again (a few times).
async fn bind_pair() -> io::Result<(UdpSocket, TcpListener)> {
    let mut last_error = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free port for UDP and TCP")))
}

/// A name as the server keys it: lower case, with the final dot.
fn normalize(name: &str) -> String {
    let mut name = name.to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

/// Locks `mutex`, going on if a panicking test poisoned it (the data stays consistent: every
/// critical section is a single insert, push, clone or spawn).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
