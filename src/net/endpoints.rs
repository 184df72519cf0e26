//! Happy Eyeballs v3 endpoints: HTTPS records and address answers into the ordered list of
//! endpoints a connect tries (draft-ietf-happy-happyeyeballs-v3 §4 and §5). Pure functions:
//! the address sort (RFC 6724) is passed in, so that the tests can run without the OS.

use std::net::{IpAddr, SocketAddr};
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use super::interleave::interleave;
use super::resolve::Family;
use super::svcb::HttpsRecord;

/// The ALPN protocols this connector speaks over TCP and TLS, in its order of preference.
pub(crate) const TCP_ALPN: [&str; 2] = ["h2", "http/1.1"];

/// One service (a ServiceMode record, or the origin without records): where and how to
/// connect, before the addresses are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Service {
    /// SvcPriority; [`u16::MAX`] for the origin without records.
    pub(crate) priority: u16,
    /// The name whose A and AAAA answers give the addresses (lower case, no final dot).
    pub(crate) target: String,
    /// The port to connect to.
    pub(crate) port: u16,
    /// The ALPN protocols to offer, a subset of [`TCP_ALPN`], in the record's order.
    pub(crate) alpn: Vec<&'static str>,
    /// The ECHConfigList of the record, if it has one.
    pub(crate) ech: Option<Arc<[u8]>>,
    /// Whether the record advertised `h3`.
    pub(crate) h3: bool,
    /// The record's address hints, both families.
    pub(crate) hints: Vec<IpAddr>,
}

/// A name as the endpoints key it: lower case, without the final dot.
pub(crate) fn normalize(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.to_ascii_lowercase()
}

/// The service of the origin `owner` when there is no usable HTTPS record: its own
/// addresses, the URI's port, both TCP protocols, no ECH.
pub(crate) fn origin(owner: &str, port: u16) -> Service {
    Service {
        priority: u16::MAX,
        target: normalize(owner),
        port,
        alpn: TCP_ALPN.to_vec(),
        ech: None,
        h3: false,
        hints: Vec::new(),
    }
}

/// The services of the ServiceMode records in `records` (AliasMode ones are skipped: the
/// caller follows them), lowest SvcPriority first, the record order kept within a priority.
/// `owner` is the name the records were asked for (a TargetName of `"."` stands for it);
/// `port` the URI's. A record that offers no protocol this connector speaks over TCP
/// (`h2`, `http/1.1`; `http/1.1` is in unless `no-default-alpn`) is left out.
///
/// When any record has `ech`, the records without it are left out: no endpoint falls back
/// to plain TLS then.
pub(crate) fn services(owner: &str, port: u16, records: &[HttpsRecord]) -> Vec<Service> {
    let any_ech = records.iter().any(|r| !r.is_alias() && r.ech.is_some());
    let mut services: Vec<Service> = records
        .iter()
        .filter(|r| !r.is_alias() && (!any_ech || r.ech.is_some()))
        .filter_map(|record| {
            let mut alpn: Vec<&'static str> = Vec::new();
            for protocol in &record.alpn {
                if let Some(known) = TCP_ALPN.iter().find(|known| **known == protocol.as_str()) {
                    if !alpn.contains(known) {
                        alpn.push(known);
                    }
                }
            }
            if !record.no_default_alpn && !alpn.contains(&"http/1.1") {
                alpn.push("http/1.1");
            }
            if alpn.is_empty() {
                return None;
            }
            let target = match record.target.as_str() {
                "" | "." => normalize(owner),
                other => normalize(other),
            };
            let hints = record
                .ipv6hint
                .iter()
                .map(|&ip| IpAddr::V6(ip))
                .chain(record.ipv4hint.iter().map(|&ip| IpAddr::V4(ip)))
                .collect();
            Some(Service {
                priority: record.priority,
                target,
                port: record.port.unwrap_or(port),
                alpn,
                ech: record.ech.as_deref().map(Arc::from),
                h3: record.advertises_h3(),
                hints,
            })
        })
        .collect();
    services.sort_by_key(|s| s.priority);
    services
}

/// Whether the records advertise ECH (a ServiceMode record with `ech`).
pub(crate) fn advertise_ech(records: &[HttpsRecord]) -> bool {
    records.iter().any(|r| !r.is_alias() && r.ech.is_some())
}

/// One endpoint: an address and port, with the service it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Where to connect.
    pub(crate) addr: SocketAddr,
    /// The service: ALPN, ECH, h3.
    pub(crate) service: Arc<Service>,
    /// Whether the address came from a hint (the target's own answer was not in yet).
    pub(crate) from_hint: bool,
}

/// The endpoints of `services`, in the order to try them:
///
/// - grouped by SvcPriority, lowest first (the services come sorted);
/// - within a group, each family's addresses sorted by `sort` (RFC 6724), then the families
///   interleaved (IPv6 first when the group has any, `first_family_count` of it before the
///   other family's first);
/// - a service's addresses of a family are its target's answer (`answered` gives it, `None`
///   while the lookup is out), or its hints of that family until the answer is in;
/// - an address and port already listed earlier is not listed again (a hint equal to a
///   resolved address, or two services on one address).
pub(crate) fn order(
    services: &[Arc<Service>],
    answered: impl Fn(&str, Family) -> Option<Vec<IpAddr>>,
    mut sort: impl FnMut(&mut [SocketAddr]),
    first_family_count: usize,
) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    let mut rest = services;
    while let Some(first) = rest.first() {
        let len = rest
            .iter()
            .take_while(|s| s.priority == first.priority)
            .count();
        let (group, tail) = rest.split_at(len);
        rest = tail;
        let mut families: [Vec<Endpoint>; 2] = [Vec::new(), Vec::new()];
        for (slot, family) in [(0, Family::V6), (1, Family::V4)] {
            let list = &mut families[slot];
            for service in group {
                let (ips, from_hint) = match answered(&service.target, family) {
                    Some(ips) => (ips, false),
                    None => (
                        service
                            .hints
                            .iter()
                            .copied()
                            .filter(|ip| ip.is_ipv6() == (family == Family::V6))
                            .collect(),
                        true,
                    ),
                };
                for ip in ips {
                    if ip.is_ipv6() != (family == Family::V6) {
                        continue;
                    }
                    let addr = SocketAddr::new(ip, service.port);
                    if list.iter().any(|e| e.addr == addr) || out.iter().any(|e| e.addr == addr) {
                        continue;
                    }
                    list.push(Endpoint {
                        addr,
                        service: service.clone(),
                        from_hint,
                    });
                }
            }
            // RFC 6724 within the family, the services' order kept among equals.
            let mut addrs: Vec<SocketAddr> = list.iter().map(|e| e.addr).collect();
            sort(&mut addrs);
            list.sort_by_key(|e| addrs.iter().position(|a| *a == e.addr));
        }
        let [v6, v4] = families;
        out.extend(interleave(
            v6.into_iter().chain(v4),
            first_family_count,
            |e: &Endpoint| e.addr.is_ipv6(),
        ));
    }
    out
}

/// What identifies an attempt for [`merge`]: the address and port, and the ECHConfigList it
/// used (none for plain TLS). A plain attempt does not stand for an ECH endpoint on the same
/// address: when a late HTTPS answer advertises ECH there, the ECH endpoint is still tried.
pub(crate) type Attempted = (SocketAddr, Option<Arc<[u8]>>);

/// The key of `endpoint` among the [`Attempted`].
pub(crate) fn attempted(endpoint: &Endpoint) -> Attempted {
    (endpoint.addr, endpoint.service.ech.clone())
}

/// The list after a new answer: `fresh` (the whole order, recomputed) without the endpoints
/// already `attempted` (same address and port, same ECH config). The attempted head stays as
/// it was; only the tail is re-sorted.
pub(crate) fn merge(attempted: &[Attempted], fresh: Vec<Endpoint>) -> Vec<Endpoint> {
    fresh
        .into_iter()
        .filter(|e| {
            !attempted
                .iter()
                .any(|(addr, ech)| *addr == e.addr && *ech == e.service.ech)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::string::ToString;
    use std::vec;

    fn record(priority: u16, target: &str) -> HttpsRecord {
        HttpsRecord {
            priority,
            target: target.into(),
            ..HttpsRecord::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn no_sort(_: &mut [SocketAddr]) {}

    fn arcs(services: Vec<Service>) -> Vec<Arc<Service>> {
        services.into_iter().map(Arc::new).collect()
    }

    #[test]
    fn alpn_per_record() {
        let mut h2 = record(1, ".");
        h2.alpn = vec!["h3".into(), "h2".into()];
        let mut h3_only = record(2, ".");
        h3_only.alpn = vec!["h3".into()];
        h3_only.no_default_alpn = true;
        let mut h1 = record(3, ".");
        h1.alpn = vec!["http/1.1".into()];
        h1.no_default_alpn = true;
        let services = services("Example.COM.", 443, &[h3_only, h1, h2]);
        assert_eq!(services.len(), 2, "the h3-only record is skipped");
        assert_eq!(services[0].priority, 1);
        assert_eq!(services[0].alpn, ["h2", "http/1.1"]);
        assert!(services[0].h3);
        assert_eq!(services[0].target, "example.com");
        assert_eq!(services[1].alpn, ["http/1.1"]);
        assert!(!services[1].h3);
    }

    #[test]
    fn port_target_and_aliases() {
        let mut svc = record(1, "svc.example.net.");
        svc.port = Some(8443);
        let alias = record(0, "elsewhere.example");
        let services = services("example.com", 443, &[alias, svc]);
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].target, "svc.example.net");
        assert_eq!(services[0].port, 8443);
    }

    #[test]
    fn ech_anywhere_means_ech_everywhere() {
        let mut with = record(2, ".");
        with.ech = Some(vec![1, 2, 3]);
        let without = record(1, ".");
        let records = [with, without];
        assert!(advertise_ech(&records));
        let services = services("a.test", 443, &records);
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].ech.as_deref(), Some(&[1u8, 2, 3][..]));
    }

    #[test]
    fn priority_groups_then_interleaving() {
        let mut low = record(1, "low.test");
        low.port = Some(1);
        let mut high = record(2, "high.test");
        high.port = Some(2);
        let services = arcs(services("a.test", 443, &[high, low]));
        let answers: HashMap<(&str, Family), Vec<IpAddr>> = [
            (("low.test", Family::V6), vec![ip("::1"), ip("::2")]),
            (
                ("low.test", Family::V4),
                vec![ip("10.0.0.1"), ip("10.0.0.2")],
            ),
            (("high.test", Family::V6), vec![]),
            (("high.test", Family::V4), vec![ip("10.0.0.3")]),
        ]
        .into_iter()
        .collect();
        let order = order(
            &services,
            |name, family| answers.get(&(name, family)).cloned(),
            no_sort,
            1,
        );
        let got: Vec<String> = order.iter().map(|e| e.addr.to_string()).collect();
        assert_eq!(
            got,
            [
                "[::1]:1",
                "10.0.0.1:1",
                "[::2]:1",
                "10.0.0.2:1",
                "10.0.0.3:2"
            ]
        );
    }

    #[test]
    fn hints_stand_in_and_are_not_tried_twice() {
        let mut r = record(1, ".");
        r.ipv4hint = vec![Ipv4Addr::new(127, 0, 0, 2)];
        r.ipv6hint = vec![Ipv6Addr::LOCALHOST];
        let services = arcs(services("a.test", 443, &[r]));
        // Nothing answered: the hints.
        let before = order(&services, |_, _| None, no_sort, 1);
        assert!(before.iter().all(|e| e.from_hint));
        assert_eq!(before.len(), 2);
        // The first hint was tried; then A answers with the hint's address and another.
        let attempted = [attempted(&before[0])];
        let after = order(
            &services,
            |_, family| match family {
                Family::V4 => Some(vec![ip("127.0.0.2"), ip("127.0.0.3")]),
                Family::V6 => Some(vec![ip("::1")]),
            },
            no_sort,
            1,
        );
        let merged = merge(&attempted, after);
        let got: Vec<String> = merged.iter().map(|e| e.addr.to_string()).collect();
        // `[::1]:443` was tried as a hint: not again.
        assert_eq!(got, ["127.0.0.2:443", "127.0.0.3:443"]);
        assert!(merged.iter().all(|e| !e.from_hint));
    }

    /// A plain attempt to an address does not hide an ECH endpoint on the same address and
    /// port (a late HTTPS answer advertising ECH for the origin's own address).
    #[test]
    fn a_plain_attempt_does_not_hide_the_ech_endpoint_on_its_address() {
        let plain = arcs(vec![origin("a.test", 443)]);
        let v4 = |_: &str, family: Family| match family {
            Family::V4 => Some(vec![ip("127.0.0.1")]),
            Family::V6 => Some(vec![]),
        };
        let first = order(&plain, v4, no_sort, 1);
        let tried = [attempted(&first[0])];
        let mut with = record(1, ".");
        with.ech = Some(vec![9]);
        let ech = arcs(services("a.test", 443, &[with]));
        let merged = merge(&tried, order(&ech, v4, no_sort, 1));
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].addr, first[0].addr);
        assert!(merged[0].service.ech.is_some());
        // The same ECH endpoint, once tried, is not listed again.
        let again = merge(&[attempted(&merged[0])], order(&ech, v4, no_sort, 1));
        assert!(again.is_empty());
    }

    #[test]
    fn the_sort_applies_within_a_family() {
        let services = arcs(vec![origin("a.test", 80)]);
        let order = order(
            &services,
            |_, family| match family {
                Family::V4 => Some(vec![ip("10.0.0.9"), ip("10.0.0.1")]),
                Family::V6 => Some(vec![]),
            },
            |addrs: &mut [SocketAddr]| addrs.sort(),
            1,
        );
        let got: Vec<String> = order.iter().map(|e| e.addr.to_string()).collect();
        assert_eq!(got, ["10.0.0.1:80", "10.0.0.9:80"]);
    }

    /// Small worlds: up to 4 services with priorities 1 to 3, on addresses out of a pool
    /// of 6, answered or not.
    fn world() -> impl Strategy<Value = (Vec<HttpsRecord>, Vec<Option<Vec<usize>>>, usize)> {
        let rec = (
            1u16..4,
            0usize..3,
            proptest::collection::vec(0usize..6, 0..3),
            any::<bool>(),
        )
            .prop_map(|(priority, target, hints, ech)| {
                let mut r = record(priority, ["a.test", "b.test", "c.test"][target]);
                for h in hints {
                    match pool(h) {
                        IpAddr::V4(v4) => r.ipv4hint.push(v4),
                        IpAddr::V6(v6) => r.ipv6hint.push(v6),
                    }
                }
                if ech {
                    r.ech = Some(vec![0]);
                }
                r
            });
        (
            proptest::collection::vec(rec, 0..4),
            proptest::collection::vec(
                proptest::option::of(proptest::collection::vec(0usize..6, 0..4)),
                6,
            ),
            0usize..6,
        )
    }

    fn pool(i: usize) -> IpAddr {
        ["::1", "::2", "::3", "127.0.0.1", "127.0.0.2", "127.0.0.3"].map(ip)[i]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// For any records and answers: priorities never decrease along the list, no
        /// address is listed twice, ECH (when any record has it) is on every endpoint,
        /// and a merge after any prefix was attempted is the fresh order without the
        /// attempted addresses, in the same order.
        // Not under miri: the module has no `unsafe` to check, and proptest's failure
        // persistence asks for the working directory, which miri's isolation refuses. The
        // unit tests above run there.
        #[test]
        #[cfg_attr(miri, ignore)]
        fn order_and_merge_hold((records, answers, tried) in world()) {
            let services = arcs(services("a.test", 443, &records));
            let names = ["a.test", "b.test", "c.test"];
            let answered = |name: &str, family: Family| {
                let n = names.iter().position(|x| *x == name)?;
                let slot = n * 2 + usize::from(family == Family::V4);
                answers.get(slot).cloned().flatten().map(|ips| ips.into_iter().map(pool).collect())
            };
            let list = order(&services, answered, no_sort, 1);
            for pair in list.windows(2) {
                prop_assert!(pair[0].service.priority <= pair[1].service.priority);
            }
            for (i, e) in list.iter().enumerate() {
                prop_assert!(list[..i].iter().all(|o| o.addr != e.addr));
                if advertise_ech(&records) {
                    prop_assert!(e.service.ech.is_some());
                }
            }
            let attempted: Vec<Attempted> = list.iter().take(tried).map(attempted).collect();
            let merged = merge(&attempted, list.clone());
            let expected: Vec<Endpoint> = list.into_iter().skip(tried).collect();
            prop_assert_eq!(merged, expected);
        }
    }
}
