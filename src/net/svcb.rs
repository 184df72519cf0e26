//! [`HttpsRecord`]: an HTTPS (SVCB) record as the [`Resolve`](super::Resolve) seam gives it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::string::String;
use std::vec::Vec;

/// One HTTPS resource record (RFC 9460, the HTTPS form of SVCB), as
/// [`Resolve::lookup_https`](super::Resolve::lookup_https) gives it: the fields a connect
/// uses, already decoded from the wire.
///
/// A record whose SvcPriority is 0 is in AliasMode (its [`target`](Self::target) is another
/// name to ask for HTTPS records, and the other fields are ignored); any other priority is
/// ServiceMode: an alternative endpoint, lowest priority first.
///
/// The struct is `#[non_exhaustive]` (RFC 9460 has more parameters a later version may
/// carry): build one with [`HttpsRecord::service`] or [`HttpsRecord::alias`] (or
/// [`Default`]), then set the public fields; a custom [`Resolve`](super::Resolve) returns
/// records made so.
///
/// ```
/// use staggered::net::HttpsRecord;
///
/// // `example.com. HTTPS 1 . alpn=h2 port=8443 ipv4hint=192.0.2.1`
/// let mut record = HttpsRecord::service(1, ".");
/// record.alpn = vec!["h2".into()];
/// record.port = Some(8443);
/// record.ipv4hint = vec!["192.0.2.1".parse().unwrap()];
/// assert!(!record.is_alias());
/// assert!(!record.advertises_h3());
/// assert_eq!(record.target, ""); // "." in the zone: the owner name
///
/// // `example.com. HTTPS 0 cdn.example.net.`
/// let alias = HttpsRecord::alias("cdn.example.net.");
/// assert!(alias.is_alias());
/// assert_eq!(alias.target, "cdn.example.net");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct HttpsRecord {
    /// SvcPriority: 0 for AliasMode, otherwise the endpoint's priority (lower first).
    pub priority: u16,
    /// TargetName, without the final dot; empty for `"."` (the owner name, in ServiceMode).
    pub target: String,
    /// The `port` parameter: the endpoint's port, in place of the URI's.
    pub port: Option<u16>,
    /// The `alpn` parameter: the protocols the endpoint speaks, in the record's order.
    pub alpn: Vec<String>,
    /// The `no-default-alpn` parameter: the endpoint does not speak the scheme's default
    /// protocol (`http/1.1` for HTTPS) unless `alpn` names it.
    pub no_default_alpn: bool,
    /// The `ipv4hint` parameter: addresses that may stand in for the target's A answer.
    pub ipv4hint: Vec<Ipv4Addr>,
    /// The `ipv6hint` parameter: addresses that may stand in for the target's AAAA answer.
    pub ipv6hint: Vec<Ipv6Addr>,
    /// The `ech` parameter: an ECHConfigList (the bytes, decoded from base64 if the zone
    /// had it so), for Encrypted Client Hello.
    pub ech: Option<Vec<u8>>,
}

impl HttpsRecord {
    /// A ServiceMode record of SvcPriority `priority` (1 or more; 0 would make it an alias)
    /// and TargetName `target` (`"."` or `""` for the owner name; a final dot is dropped),
    /// with no parameters.
    pub fn service(priority: u16, target: &str) -> HttpsRecord {
        HttpsRecord {
            priority,
            target: target_name(target),
            ..HttpsRecord::default()
        }
    }

    /// An AliasMode record (SvcPriority 0) pointing to `target` (a final dot is dropped).
    pub fn alias(target: &str) -> HttpsRecord {
        HttpsRecord::service(0, target)
    }

    /// Whether the record is in AliasMode (SvcPriority 0).
    pub fn is_alias(&self) -> bool {
        self.priority == 0
    }

    /// Whether the record's `alpn` names `h3` (HTTP/3 over QUIC).
    pub fn advertises_h3(&self) -> bool {
        self.alpn.iter().any(|p| p == "h3")
    }
}

/// A TargetName as [`HttpsRecord::target`] keeps it: without the final dot, empty for `"."`.
fn target_name(target: &str) -> String {
    target.strip_suffix('.').unwrap_or(target).into()
}
