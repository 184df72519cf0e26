//! The resolver seam: [`Resolve`], one lookup per address family, and [`SystemResolver`].

use core::fmt;
use core::future::Future;
use std::borrow::ToOwned;
use std::format;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::string::String;
use std::vec::Vec;

use super::runtime::Runtime;
use super::svcb::HttpsRecord;

/// An address family, as a lookup asks for it: IPv6 (AAAA records) or IPv4 (A records).
///
/// ```
/// use staggered::net::Family;
///
/// let addr: std::net::SocketAddr = "[::1]:443".parse().unwrap();
/// assert_eq!(Family::of(&addr), Family::V6);
/// assert_eq!(Family::V6.to_string(), "IPv6 (AAAA)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv6: AAAA records.
    V6,
    /// IPv4: A records.
    V4,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv6() {
            Family::V6
        } else {
            Family::V4
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V6 => "IPv6 (AAAA)",
            Family::V4 => "IPv4 (A)",
        })
    }
}

/// A name resolver for [`HappyEyeballs::connect_host`](super::HappyEyeballs::connect_host):
/// one lookup per address family, so that the AAAA and A queries are separate futures.
///
/// [`HappyEyeballs`](super::HappyEyeballs) starts both lookups at once, AAAA first, and acts
/// on each answer as it arrives (RFC 8305 §3): an AAAA answer starts the race, an A answer
/// that comes first waits up to the Resolution Delay for AAAA, and a later answer's addresses
/// join the race. So a resolver should answer each family as soon as it can, and not hold
/// one answer back for the other. A lookup that fails, or outlasts the
/// [resolve timeout](super::HappyEyeballs::resolve_timeout), leaves its family out.
///
/// The default is [`SystemResolver`]; [`HickoryResolver`][super::HickoryResolver] (feature
/// `net-hickory`) is a DNS client. A resolver of your own (a DNS client, a cache, fixed
/// answers in tests) plugs in with [`HappyEyeballs::resolver`](super::HappyEyeballs::resolver):
///
/// ```
/// # #[cfg(feature = "net-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::io;
/// use std::net::{Ipv4Addr, SocketAddr};
/// use staggered::net::{Family, HappyEyeballs, Resolve, Tokio};
///
/// /// Every name is 127.0.0.1, and nothing has IPv6.
/// struct Loopback;
///
/// impl Resolve for Loopback {
///     async fn lookup(&self, _host: &str, port: u16, family: Family) -> io::Result<Vec<SocketAddr>> {
///         Ok(match family {
///             Family::V4 => vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port))],
///             Family::V6 => vec![],
///         })
///     }
/// }
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let port = listener.local_addr()?.port();
/// let connector = HappyEyeballs::new(Tokio).resolver(Loopback);
/// let stream = connector.connect_host(&format!("db.example:{port}")).await?;
/// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a name resolver of `staggered::net`",
    label = "not a `staggered::net::Resolve`",
    note = "implement `staggered::net::Resolve` for it (one lookup per address family), or use `SystemResolver` or `HickoryResolver`"
)]
#[cfg_attr(
    not(feature = "net-hickory"),
    doc = "",
    doc = "[super::HickoryResolver]: crate#features"
)]
pub trait Resolve {
    /// The addresses of `host` in `family`, each with `port`, in order of preference.
    ///
    /// `host` is a name, never an address literal (those are not looked up). An empty list
    /// means the name has no address in this family; an error means the lookup failed.
    /// Dropping the future abandons the lookup.
    fn lookup(
        &self,
        host: &str,
        port: u16,
        family: Family,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// The HTTPS records (RFC 9460) of `name`, for [`HttpsConnector`][super::HttpsConnector]
    /// (Happy Eyeballs v3: the HTTPS query goes out beside AAAA and A).
    ///
    /// An empty list means the name has no HTTPS record (or the resolver cannot ask for them),
    /// and the connect goes on with the name's addresses and the defaults. The default
    /// answers that at once: the [`SystemResolver`] has no way to ask; the
    /// [`HickoryResolver`][super::HickoryResolver] sends the query.
    #[cfg_attr(
        not(feature = "net-tls"),
        doc = "",
        doc = "[super::HttpsConnector]: crate#features"
    )]
    #[cfg_attr(
        not(feature = "net-hickory"),
        doc = "",
        doc = "[super::HickoryResolver]: crate#features"
    )]
    fn lookup_https(
        &self,
        name: &str,
    ) -> impl Future<Output = io::Result<Vec<HttpsRecord>>> + Send {
        let _ = name;
        core::future::ready(Ok(Vec::new()))
    }
}

impl<T: Resolve + ?Sized + Sync> Resolve for &T {
    fn lookup(
        &self,
        host: &str,
        port: u16,
        family: Family,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        (**self).lookup(host, port, family)
    }

    fn lookup_https(
        &self,
        name: &str,
    ) -> impl Future<Output = io::Result<Vec<HttpsRecord>>> + Send {
        (**self).lookup_https(name)
    }
}

impl<T: Resolve + ?Sized + Send + Sync> Resolve for std::sync::Arc<T> {
    fn lookup(
        &self,
        host: &str,
        port: u16,
        family: Family,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        (**self).lookup(host, port, family)
    }

    fn lookup_https(
        &self,
        name: &str,
    ) -> impl Future<Output = io::Result<Vec<HttpsRecord>>> + Send {
        (**self).lookup_https(name)
    }
}

/// The system resolver (`getaddrinfo`), one lookup per family, each on the runtime's thread
/// pool for blocking work (tokio's `spawn_blocking`, or the `blocking` crate for async-io).
///
/// On Unix each lookup asks `getaddrinfo` for one family (`AF_INET6` or `AF_INET`), so the
/// resolver sends the AAAA and A queries separately and the two answers come back apart.
/// Within a family the order is `getaddrinfo`'s, which on glibc and musl is RFC 6724
/// destination address selection (RFC 3484 on old glibc), with the source address rules that
/// only the platform can apply; other systems order as their `getaddrinfo` does. Elsewhere (Windows) each lookup asks for both families and
/// keeps its own.
///
/// A lookup that is abandoned (the connect was dropped, or the resolve timeout passed) cannot
/// be stopped: its thread finishes the call and the answer is thrown away.
///
/// ```
/// # #[cfg(feature = "net-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use staggered::net::{Family, Resolve, SystemResolver, Tokio};
///
/// // `localhost` comes from the hosts file: no network needed.
/// let resolver = SystemResolver::new(Tokio);
/// let v4 = resolver.lookup("localhost", 80, Family::V4).await?;
/// assert!(v4.iter().all(|addr| addr.is_ipv4() && addr.port() == 80));
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SystemResolver<R> {
    runtime: R,
}

impl<R> SystemResolver<R> {
    /// The system resolver, running its lookups on `runtime`'s blocking thread pool.
    pub fn new(runtime: R) -> Self {
        SystemResolver { runtime }
    }
}

impl<R: Runtime> Resolve for SystemResolver<R> {
    fn lookup(
        &self,
        host: &str,
        port: u16,
        family: Family,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        let host = host.to_owned();
        let work = self
            .runtime
            .unblock(move || getaddrinfo(&host, port, family));
        async move { work.await? }
    }
}

/// `getaddrinfo` for one family.
#[cfg(unix)]
fn getaddrinfo(host: &str, port: u16, family: Family) -> io::Result<Vec<SocketAddr>> {
    use std::ffi::{CStr, CString};
    use std::net::{Ipv4Addr, SocketAddrV4};

    let c_host = CString::new(host).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "host name contains a NUL byte")
    })?;
    // SAFETY: `addrinfo` is a plain C struct; all zeroes is its documented "no hints" value.
    let mut hints: libc::addrinfo = unsafe { core::mem::zeroed() };
    hints.ai_family = match family {
        Family::V6 => libc::AF_INET6,
        Family::V4 => libc::AF_INET,
    };
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut list: *mut libc::addrinfo = core::ptr::null_mut();
    // SAFETY: `c_host` is a NUL-terminated string, `hints` is initialised, and `list` is a
    // valid place for the result; the list is freed below, once.
    let code = unsafe { libc::getaddrinfo(c_host.as_ptr(), core::ptr::null(), &hints, &mut list) };
    if code != 0 {
        if code == libc::EAI_SYSTEM {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `gai_strerror` returns a static, NUL-terminated message for any code.
        let message = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
        return Err(io::Error::other(format!(
            "failed to look up address information: {}",
            message.to_string_lossy()
        )));
    }
    let mut addrs = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list `getaddrinfo` returned, not yet freed.
        let info = unsafe { &*entry };
        let addr = info.ai_addr;
        if !addr.is_null() {
            if info.ai_family == libc::AF_INET6
                && info.ai_addrlen as usize >= core::mem::size_of::<libc::sockaddr_in6>()
            {
                // SAFETY: the family and length say `ai_addr` points to a `sockaddr_in6`;
                // `read_unaligned` does not assume its alignment.
                let sa = unsafe { core::ptr::read_unaligned(addr.cast::<libc::sockaddr_in6>()) };
                addrs.push(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sa.sin6_addr.s6_addr),
                    port,
                    u32::from_be(sa.sin6_flowinfo),
                    sa.sin6_scope_id,
                )));
            } else if info.ai_family == libc::AF_INET
                && info.ai_addrlen as usize >= core::mem::size_of::<libc::sockaddr_in>()
            {
                // SAFETY: as above, for a `sockaddr_in`.
                let sa = unsafe { core::ptr::read_unaligned(addr.cast::<libc::sockaddr_in>()) };
                addrs.push(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes()),
                    port,
                )));
            }
        }
        entry = info.ai_next;
    }
    // SAFETY: `list` came from a successful `getaddrinfo` and is freed once; no reference into
    // it outlives this point.
    unsafe { libc::freeaddrinfo(list) };
    // With SOCK_STREAM there is one entry per address, but be sure.
    let mut seen = Vec::with_capacity(addrs.len());
    addrs.retain(|a| {
        let new = !seen.contains(a);
        seen.push(*a);
        new
    });
    Ok(addrs)
}

/// Both families through std (which asks for both), keeping `family`'s.
#[cfg(not(unix))]
fn getaddrinfo(host: &str, port: u16, family: Family) -> io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    Ok((host, port)
        .to_socket_addrs()?
        .filter(|a| Family::of(a) == family)
        .collect())
}

/// What `connect_host` was given: an address, or a name and a port.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    Addr(SocketAddr),
    Name(&'a str, u16),
}

/// Splits `"name:port"`, `"[v6]:port"` or `"v4:port"`. The error says what is wrong.
pub(crate) fn parse_target(host: &str) -> Result<Target<'_>, String> {
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return Ok(Target::Addr(addr));
    }
    let Some((name, port)) = host.rsplit_once(':') else {
        return Err("no port (expected \"host:port\")".to_owned());
    };
    let port = parse_port(port)?;
    let (name, bracketed) = match name.strip_prefix('[') {
        Some(inner) => (
            inner
                .strip_suffix(']')
                .ok_or_else(|| "unbalanced '[' in the host".to_owned())?,
            true,
        ),
        None if name.contains(':') => {
            return Err("an IPv6 address needs brackets: \"[addr]:port\"".to_owned())
        }
        None => (name, false),
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        // `[v4]:port`.
        return Ok(Target::Addr(SocketAddr::new(ip, port)));
    }
    if let (true, Some((ip, zone))) = (bracketed, name.split_once('%')) {
        // A v6 literal with a zone that is not a number (std parses `[v6%4]:port` itself).
        return with_zone(name, ip, zone, port).map(Target::Addr);
    }
    if name.is_empty() {
        return Err("empty host name".to_owned());
    }
    if name.contains(':') {
        return Err(format!("invalid IPv6 address [{name}]"));
    }
    Ok(Target::Name(name, port))
}

/// `[ip%zone]:port`, where `text` is `ip%zone`: the zone is the scope id, a number, or the
/// name of a network interface, whose index is the scope id (as `getaddrinfo` reads a zone,
/// and so hyper-util's connector, though glibc takes a name on a link-local address only;
/// a name needs Unix).
fn with_zone(text: &str, ip: &str, zone: &str, port: u16) -> Result<SocketAddr, String> {
    let Ok(ip) = ip.parse::<Ipv6Addr>() else {
        return Err(format!("invalid IPv6 address [{text}]"));
    };
    if zone.is_empty() {
        return Err(format!("empty zone in [{text}]"));
    }
    let scope_id = match zone.parse::<u32>() {
        Ok(id) if zone.bytes().all(|b| b.is_ascii_digit()) => id,
        _ => interface_index(zone)
            .ok_or_else(|| format!("no network interface {zone:?} for the zone of [{text}]"))?,
    };
    Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope_id)))
}

/// The index of the network interface `name`, if there is one.
#[cfg(unix)]
fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: `name` is a NUL-terminated string that lives through the call, which only
    // reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Interface names are not looked up here: a zone must be a number.
#[cfg(not(unix))]
fn interface_index(_: &str) -> Option<u32> {
    None
}

/// A port number, `0..=65535`.
pub(crate) fn parse_port(port: &str) -> Result<u16, String> {
    if port.is_empty() {
        return Err("empty port".to_owned());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port {port:?}"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("port {port} is out of range (0 to 65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("127.0.0.1:80"),
            Ok(Target::Addr(addr("127.0.0.1:80")))
        );
        assert_eq!(parse_target("[::1]:80"), Ok(Target::Addr(addr("[::1]:80"))));
        assert_eq!(
            parse_target("example.com:443"),
            Ok(Target::Name("example.com", 443))
        );
        assert_eq!(
            parse_target("[example.com]:443"),
            Ok(Target::Name("example.com", 443))
        );
        assert_eq!(
            parse_target("example.com").unwrap_err(),
            "no port (expected \"host:port\")"
        );
        assert_eq!(
            parse_target("example.com:70000").unwrap_err(),
            "port 70000 is out of range (0 to 65535)"
        );
        assert_eq!(
            parse_target("example.com:http").unwrap_err(),
            "invalid port \"http\""
        );
        assert_eq!(parse_target("example.com:").unwrap_err(), "empty port");
        assert_eq!(parse_target(":80").unwrap_err(), "empty host name");
        assert_eq!(
            parse_target("::1:80").unwrap_err(),
            "an IPv6 address needs brackets: \"[addr]:port\""
        );
        assert_eq!(
            parse_target("[::1:80").unwrap_err(),
            "unbalanced '[' in the host"
        );
        assert_eq!(
            parse_target("[::g]:80").unwrap_err(),
            "invalid IPv6 address [::g]"
        );
    }

    /// An IPv6 literal with a zone: a number is the scope id (as std parses it), a name is the
    /// interface's index (as `getaddrinfo` reads it, and so hyper-util's connector).
    #[test]
    fn ipv6_zones() {
        let scoped = |target: &str| match parse_target(target) {
            Ok(Target::Addr(SocketAddr::V6(addr))) => {
                Ok((*addr.ip(), addr.port(), addr.scope_id()))
            }
            other => Err(std::format!("{other:?}")),
        };
        let fe80 = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        assert_eq!(scoped("[fe80::1%4]:80"), Ok((fe80, 80, 4)));
        // (Miri cannot call `if_nametoindex`.)
        #[cfg(all(unix, not(miri)))]
        {
            // SAFETY: a NUL-terminated string.
            let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
            if lo != 0 {
                assert_eq!(scoped("[fe80::1%lo]:443"), Ok((fe80, 443, lo)));
                assert_eq!(scoped("[::1%lo]:443"), Ok((Ipv6Addr::LOCALHOST, 443, lo)));
            }
            assert_eq!(
                parse_target("[fe80::1%no-such-if9]:80").unwrap_err(),
                "no network interface \"no-such-if9\" for the zone of [fe80::1%no-such-if9]"
            );
        }
        assert_eq!(
            parse_target("[fe80::1%]:80").unwrap_err(),
            "empty zone in [fe80::1%]"
        );
        assert_eq!(
            parse_target("[127.0.0.1%1]:80").unwrap_err(),
            "invalid IPv6 address [127.0.0.1%1]"
        );
        assert_eq!(
            parse_target("[fe80::g%1]:80").unwrap_err(),
            "invalid IPv6 address [fe80::g%1]"
        );
    }
}
