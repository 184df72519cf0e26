//! RFC 6724 §6 destination address selection, for the addresses of one DNS answer.
//!
//! `getaddrinfo` sorts its answers by RFC 6724 (on glibc and musl), so the addresses the
//! [`SystemResolver`](super::SystemResolver) gives are already in order. A resolver that speaks
//! DNS itself (hickory) gets them in the order the server sent them, and this module orders
//! them the way `getaddrinfo` would have: [`sort`] asks the OS which source address it would
//! use for each destination, then [`sort_with_sources`] applies the rules to the pairs.
//!
//! # Rules applied
//!
//! The rules compare two destinations, DA and DB, each with the source address the OS would
//! send from, Source(DA) and Source(DB); the first rule that prefers one decides.
//!
//! - **Rule 1, avoid unusable destinations.** A destination the OS has no route to (no source
//!   address) goes after every usable one. Unusable destinations keep the order they came in:
//!   with no source, rules 2, 5 and 9 cannot be applied to them, and the ones left (6 and 8)
//!   would only rank addresses that every attempt will fail to reach anyway; the resolver's
//!   order is as good as any.
//! - **Rule 2, prefer matching scope.** A destination whose scope is its source's goes first.
//! - **Rule 5, prefer matching label.** A destination whose label (policy table) is its
//!   source's goes first: a 6to4 source to a 6to4 destination, IPv4 to IPv4, and so on.
//! - **Rule 6, prefer higher precedence** in the policy table: IPv6 (40) before IPv4 (35)
//!   before 6to4 (30), and so on.
//! - **Rule 8, prefer smaller scope**: link-local before global.
//! - **Rule 9, use longest matching prefix**, between two IPv6 destinations only: the one that
//!   shares more leading bits with its source goes first, counting at most 64 bits. RFC 6724
//!   applies it to two IPv4 destinations too; this does not, like Go, c-ares and FreeBSD
//!   (glibc counts IPv4 bits only for a destination on the source's own subnet, by the
//!   interface's netmask, which is not known here). An IPv4 source is often a private address
//!   behind NAT, whose bits say nothing about which public address is nearer, and the rule
//!   would undo the round-robin of the DNS answer. The cap of 64 bits stands for the source's
//!   prefix length, which the RFC counts up to and which the platform does not tell portably:
//!   64 is the length of nearly every IPv6 subnet (RFC 4291's interface identifiers), and it
//!   keeps two destinations on the source's own subnet equal, in the order of the answer.
//! - **Rule 10, otherwise leave the order unchanged**: the sort is stable.
//!
//! # Rules not applied
//!
//! Rules 3 (avoid deprecated addresses), 4 (prefer home addresses) and 7 (prefer native
//! transport) need to know whether a source address is deprecated, a Mobile IPv6 home address,
//! or reached through a tunnel. No portable API tells that (Linux has it in netlink, other
//! systems elsewhere or nowhere), so they are left out, as Go leaves them out; in their place
//! the later rules decide. The examples of rules 3 and 4 in RFC 6724 §10.2 (the fifth and the
//! sixth) come out the other way round for that reason (see the tests).
//!
//! # Tables
//!
//! The policy table is RFC 6724 §2.1's default (`/etc/gai.conf` is not read); IPv4 addresses
//! are looked up as IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`). Scopes are §3.1's for IPv6
//! (a multicast address's own scope field; `fe80::/10` and `::1` link-local, `fec0::/10`
//! site-local, everything else global) and §3.2's for IPv4 (`127.0.0.0/8` and
//! `169.254.0.0/16` link-local, everything else global). An IPv4-mapped IPv6 address counts
//! as its IPv4 address throughout.

use core::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::vec::Vec;

/// Sorts `addrs`, the addresses of one DNS answer, by RFC 6724 §6 (the rules listed in the
/// [module documentation](self)), in place.
///
/// The source address for each destination is the one the OS would use: a UDP socket, bound
/// to the unspecified address of the destination's family, is connected to the destination
/// and asked for its local address. That sends no packet; it only looks up the route, and a
/// destination with no route (the connect fails) is unusable (rule 1). It costs a few system
/// calls per distinct address (a destination that comes twice is asked once), and none for a
/// list of fewer than two addresses, which is left as is.
///
/// The OS is asked once per [route key](route_key), not once per address: destinations in
/// one IPv6 /64 (or one IPv4 /24) with the same scope, zone and port share the answer of the
/// first of them. Why that is safe is told at [`route_key`]; it makes the usual answer of a
/// big name (a few subnets of a CDN or a load balancer) cost a few route lookups whatever its
/// length.
///
/// The calls never wait on the network (a route lookup in the kernel, no packet, no
/// neighbour discovery), so their cost is CPU time: measured at 13 to 50 µs per lookup on a
/// shared 2-core Linux VM, up to 120 µs at a load average of 9 (`sort_cost_of_500_addresses`).
/// [`distinct_routes`] tells the caller how many lookups a sort will make, so that it can
/// move a sort that needs many off the executor (as `HickoryResolver` does).
pub(crate) fn sort(addrs: &mut [SocketAddr]) {
    sort_asking(addrs, source_for)
}

/// What decides a destination's source address, as far as this sort can tell without the
/// routing table: the family, the scope (RFC 6724 §3), the IPv6 zone (scope id), the port,
/// and the routing prefix: the first 64 bits of an IPv6 address, the first 24 of an IPv4 one
/// (an IPv4-mapped IPv6 address counts as IPv4).
///
/// Why destinations with one key can share one answer. The source address is the OS's pick
/// among its own addresses for the route to the destination; the rules of the sort then
/// compare the destination with that source (rule 2: scopes, rule 5: labels, rules 6 and 8:
/// the destination's own precedence and scope, rule 9: the common prefix, counted up to 64
/// bits), and the rank of each destination is still worked out with its own address against
/// the shared source, so only the source is shared, never the rank.
///
/// - The route: routing is by longest prefix, and an IPv6 subnet is a /64 (RFC 4291's 64-bit
///   interface identifiers), so destinations in one /64 take one route unless the host has a
///   host route (/65 to /128) into it. For IPv4, routes longer than /24 are as rare on a
///   client (a VPN's host route to its own server is the usual one); destinations of one
///   DNS answer in one /24 are one provider's.
/// - The OS's own source selection (RFC 6724 §5) among the candidates on that route: its
///   rule 2 (scope) is in the key; its rule 8 (longest matching prefix) counts up to the
///   candidate's prefix length, 64 on nearly every IPv6 address, so all of a /64 ranks the
///   candidates alike; rules 3, 4 and 7 do not depend on the destination; and its rule 6
///   (matching label) depends on the destination's label, which is the same throughout a
///   /64 except in the special blocks of the policy table, whose rows are all /64 or shorter
///   except `::1/128` (loopback, its own scope) and `::/96` (IPv4-compatible, deprecated).
///
/// What could differ inside a key is a host route or a policy-routing rule more specific than
/// the key; the cost of being wrong is an order RFC 6724 would not pick, not a failed
/// connect (every address is still tried).
fn route_key(dest: SocketAddr) -> (u8, u8, u32, u16, u128) {
    let scope_id = match dest {
        SocketAddr::V6(v6) => v6.scope_id(),
        SocketAddr::V4(_) => 0,
    };
    match dest.ip().to_canonical() {
        IpAddr::V6(ip) => (
            6,
            scope(ip.into()),
            scope_id,
            dest.port(),
            ip.to_bits() >> 64,
        ),
        IpAddr::V4(ip) => (
            4,
            scope(ip.into()),
            0,
            dest.port(),
            u128::from(ip.to_bits() >> 8),
        ),
    }
}

/// How many route lookups [`sort`] makes for `addrs`: the number of distinct
/// [route keys](route_key), 0 for fewer than two addresses.
pub(crate) fn distinct_routes(addrs: &[SocketAddr]) -> usize {
    if addrs.len() < 2 {
        return 0;
    }
    let mut keys: Vec<_> = addrs.iter().map(|&dest| route_key(dest)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.len()
}

/// The source address the OS would use for each of `ips` (as [`source_for`] gives it, asked
/// with port 0), asked once per [route key](route_key): for a caller that keeps the answers
/// and sorts later with [`sort_with_sources`], without a route lookup at each sort.
#[cfg(feature = "net-tls")]
pub(crate) fn sources_of(ips: &[IpAddr]) -> Vec<(IpAddr, Option<IpAddr>)> {
    let mut asked = BTreeMap::new();
    ips.iter()
        .map(|&ip| {
            let dest = SocketAddr::new(ip, 0);
            (
                ip,
                *asked
                    .entry(route_key(dest))
                    .or_insert_with(|| source_for(dest)),
            )
        })
        .collect()
}

/// [`sort`], with `source` asked for a destination's source address, once per distinct
/// [route key](route_key).
fn sort_asking(addrs: &mut [SocketAddr], mut source: impl FnMut(SocketAddr) -> Option<IpAddr>) {
    if addrs.len() < 2 {
        return;
    }
    let mut pairs: Vec<(SocketAddr, Option<IpAddr>)> = Vec::with_capacity(addrs.len());
    // The keys asked, with their answers.
    let mut asked = BTreeMap::new();
    for &dest in addrs.iter() {
        let from = *asked.entry(route_key(dest)).or_insert_with(|| source(dest));
        pairs.push((dest, from));
    }
    sort_with_sources(&mut pairs);
    for (slot, (dest, _)) in addrs.iter_mut().zip(pairs) {
        *slot = dest;
    }
}

/// Sorts pairs of a destination and the source address the OS would use to reach it (`None`:
/// no route) by RFC 6724 §6, in place; the sources move with their destinations.
///
/// This is [`sort`] without asking the OS: the rules alone, on sources given. The sort is
/// stable (rule 10): destinations that no rule tells apart keep their order.
pub(crate) fn sort_with_sources(pairs: &mut [(SocketAddr, Option<IpAddr>)]) {
    if pairs.len() < 2 {
        return;
    }
    let mut ranked: Vec<(Rank, (SocketAddr, Option<IpAddr>))> = pairs
        .iter()
        .map(|&(dest, source)| (Rank::of(dest.ip(), source), (dest, source)))
        .collect();
    // `sort_by` is stable, which is rule 10.
    ranked.sort_by(|a, b| a.0.compare(&b.0));
    for (slot, (_, pair)) in pairs.iter_mut().zip(ranked) {
        *slot = pair;
    }
}

/// The source address the OS would send from to reach `dest`, or `None` if it has no route to
/// it (or any other error: the destination is then as good as unreachable).
///
/// A connected UDP socket has its local address chosen by the OS's own source address
/// selection, and connecting one sends nothing. A destination port of 0 is replaced with 9
/// (discard), since some systems refuse to connect to port 0; the port does not change the
/// route, except under port-based policy routing, where the real port is the better one to ask
/// with.
pub(crate) fn source_for(mut dest: SocketAddr) -> Option<IpAddr> {
    let unspecified: IpAddr = match dest {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    if dest.port() == 0 {
        dest.set_port(9);
    }
    let socket = UdpSocket::bind((unspecified, 0)).ok()?;
    socket.connect(dest).ok()?;
    socket.local_addr().ok().map(|local| local.ip())
}

/// What the rules need to know of one destination and its source, worked out once before the
/// sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rank {
    /// Rule 1: no source address, so no route to the destination.
    Unusable,
    /// The destination has a source address.
    Usable(Usable),
}

/// What rules 2 to 9 need to know of a usable destination and its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Usable {
    /// Rule 2: the destination's scope is its source's.
    matching_scope: bool,
    /// Rule 5: the destination's label is its source's.
    matching_label: bool,
    /// Rule 6: the destination's precedence.
    precedence: u8,
    /// Rule 8: the destination's scope.
    scope: u8,
    /// Rule 9: the number of leading bits the destination shares with its source, at most 64,
    /// when both are IPv6 (IPv4-mapped addresses count as IPv4); `None` otherwise.
    ipv6_common_prefix: Option<u32>,
}

impl Rank {
    /// The rank of destination `dest` reached from `source`.
    fn of(dest: IpAddr, source: Option<IpAddr>) -> Rank {
        let Some(source) = source else {
            return Rank::Unusable;
        };
        let (dest, source) = (dest.to_canonical(), source.to_canonical());
        let dest_policy = policy(dest);
        let ipv6_common_prefix = match (dest, source) {
            (IpAddr::V6(dest), IpAddr::V6(source)) => {
                Some(common_prefix_len(dest, source).min(IPV6_PREFIX_LEN))
            }
            _ => None,
        };
        Rank::Usable(Usable {
            matching_scope: scope(dest) == scope(source),
            matching_label: dest_policy.label == policy(source).label,
            precedence: dest_policy.precedence,
            scope: scope(dest),
            ipv6_common_prefix,
        })
    }

    /// Orders two destinations by rules 1 to 9: `Less` if `self` goes first, `Greater` if
    /// `other` does, `Equal` if no rule tells them apart (rule 10 then keeps their order).
    ///
    /// This is a total order, as the sort needs: each rule compares a key of each destination
    /// on its own. Rule 9 compares only two IPv6 destinations, but it never has to compare an
    /// IPv6 destination with an IPv4 one, since rule 6 has already told those apart: no IPv6
    /// row of the default policy table has the precedence of IPv4 (35).
    fn compare(&self, other: &Rank) -> Ordering {
        let (a, b) = match (self, other) {
            (Rank::Unusable, Rank::Unusable) => return Ordering::Equal,
            (Rank::Usable(_), Rank::Unusable) => return Ordering::Less,
            (Rank::Unusable, Rank::Usable(_)) => return Ordering::Greater,
            (Rank::Usable(a), Rank::Usable(b)) => (a, b),
        };
        prefer(a.matching_scope, b.matching_scope)
            .then(prefer(a.matching_label, b.matching_label))
            .then(b.precedence.cmp(&a.precedence))
            .then(a.scope.cmp(&b.scope))
            .then(match (a.ipv6_common_prefix, b.ipv6_common_prefix) {
                (Some(a), Some(b)) => b.cmp(&a),
                _ => Ordering::Equal,
            })
    }
}

/// `Less` (the first goes first) if only `a` holds, `Greater` if only `b` does, `Equal` if
/// both or neither do.
fn prefer(a: bool, b: bool) -> Ordering {
    b.cmp(&a)
}

/// The most leading bits rule 9 counts: the prefix length of nearly every IPv6 subnet, standing
/// for the source's own, which is not known portably.
const IPV6_PREFIX_LEN: u32 = 64;

/// The number of leading bits `a` and `b` have in common (0 to 128).
fn common_prefix_len(a: Ipv6Addr, b: Ipv6Addr) -> u32 {
    (a.to_bits() ^ b.to_bits()).leading_zeros()
}

/// RFC 6724 §3.1's scope value for interface-local (IPv6 multicast only).
#[cfg(test)]
const SCOPE_INTERFACE_LOCAL: u8 = 0x1;
/// RFC 6724 §3.1's scope value for link-local.
const SCOPE_LINK_LOCAL: u8 = 0x2;
/// RFC 6724 §3.1's scope value for site-local.
const SCOPE_SITE_LOCAL: u8 = 0x5;
/// RFC 6724 §3.1's scope value for global.
const SCOPE_GLOBAL: u8 = 0xe;

/// The scope of `addr` (RFC 6724 §3.1 for IPv6, §3.2 for IPv4); an IPv4-mapped IPv6 address
/// has its IPv4 address's scope. Smaller is narrower.
fn scope(addr: IpAddr) -> u8 {
    match addr.to_canonical() {
        IpAddr::V4(v4) => {
            if v4.is_loopback() || v4.is_link_local() {
                SCOPE_LINK_LOCAL
            } else {
                SCOPE_GLOBAL
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_multicast() {
                // The low four bits of the second byte (RFC 4291 §2.7).
                v6.octets()[1] & 0x0f
            } else if v6.is_loopback() || first & 0xffc0 == 0xfe80 {
                SCOPE_LINK_LOCAL
            } else if first & 0xffc0 == 0xfec0 {
                SCOPE_SITE_LOCAL
            } else {
                SCOPE_GLOBAL
            }
        }
    }
}

/// A row of the policy table: the addresses under `prefix/len` have this precedence and label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Policy {
    /// The prefix, as the bits of an IPv6 address.
    prefix: u128,
    /// The prefix length, 0 to 128.
    len: u32,
    /// The precedence (rule 6): higher goes first.
    precedence: u8,
    /// The label (rule 5): a destination and a source with the same label go together.
    label: u8,
}

impl Policy {
    /// A row of `prefix/len`.
    const fn row(prefix: Ipv6Addr, len: u32, precedence: u8, label: u8) -> Policy {
        Policy {
            prefix: prefix.to_bits(),
            len,
            precedence,
            label,
        }
    }

    /// Whether `addr` is under this row's prefix.
    fn matches(&self, addr: Ipv6Addr) -> bool {
        // `checked_shl` for the /0 row, whose mask would be a shift by 128.
        let mask = u128::MAX.checked_shl(128 - self.len).unwrap_or(0);
        addr.to_bits() & mask == self.prefix & mask
    }
}

/// The default policy table of RFC 6724 §2.1, longest prefix first, so that the first row that
/// matches is the longest match; `::/0`, last, matches every address.
const POLICY_TABLE: [Policy; 9] = [
    Policy::row(Ipv6Addr::LOCALHOST, 128, 50, 0),
    Policy::row(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, 35, 4),
    Policy::row(Ipv6Addr::UNSPECIFIED, 96, 1, 3),
    Policy::row(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, 5, 5),
    Policy::row(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, 30, 2),
    Policy::row(Ipv6Addr::new(0x3ffe, 0, 0, 0, 0, 0, 0, 0), 16, 1, 12),
    Policy::row(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, 1, 11),
    Policy::row(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, 3, 13),
    Policy::row(Ipv6Addr::UNSPECIFIED, 0, 40, 1),
];

/// The row of the default policy table for `addr`: its longest matching prefix. An IPv4
/// address is looked up as its IPv4-mapped IPv6 address.
fn policy(addr: IpAddr) -> Policy {
    let v6 = match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let last = POLICY_TABLE[POLICY_TABLE.len() - 1];
    POLICY_TABLE
        .iter()
        .copied()
        .find(|row| row.matches(v6))
        .unwrap_or(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// `dest` on port 443, with `source` (`None`: no route).
    fn pair(dest: &str, source: Option<&str>) -> (SocketAddr, Option<IpAddr>) {
        (SocketAddr::new(ip(dest), 443), source.map(ip))
    }

    /// The destinations of `pairs`, sorted by `sort_with_sources`.
    fn sorted(mut pairs: Vec<(SocketAddr, Option<IpAddr>)>) -> Vec<IpAddr> {
        sort_with_sources(&mut pairs);
        pairs.iter().map(|(dest, _)| dest.ip()).collect()
    }

    /// Asserts that `pairs` (destination, source) sort into `expected`, whichever order they
    /// are given in (so that rule 10 alone cannot make the test pass).
    fn sorts_to(pairs: &[(&str, &str)], expected: &[&str]) {
        let pairs: Vec<_> = pairs.iter().map(|&(d, s)| pair(d, Some(s))).collect();
        let expected: Vec<IpAddr> = expected.iter().map(|s| ip(s)).collect();
        assert_eq!(sorted(pairs.clone()), expected, "as given");
        let mut reversed = pairs;
        reversed.reverse();
        assert_eq!(sorted(reversed), expected, "reversed");
    }

    // RFC 6724 §10.2. Each example gives the candidate sources, the destinations and the
    // result, with the source the RFC's source address selection picks for each destination:
    // those picked sources are what the pairs below hold.

    #[test]
    fn rfc_10_2_example_1_prefer_matching_scope() {
        // Sources 2001:db8:1::2, fe80::1, 169.254.13.78.
        sorts_to(
            &[
                ("2001:db8:1::1", "2001:db8:1::2"),
                ("198.51.100.121", "169.254.13.78"),
            ],
            &["2001:db8:1::1", "198.51.100.121"],
        );
    }

    #[test]
    fn rfc_10_2_example_2_prefer_matching_scope() {
        // Sources fe80::1, 198.51.100.117.
        sorts_to(
            &[
                ("2001:db8:1::1", "fe80::1"),
                ("198.51.100.121", "198.51.100.117"),
            ],
            &["198.51.100.121", "2001:db8:1::1"],
        );
    }

    #[test]
    fn rfc_10_2_example_3_prefer_higher_precedence() {
        // Sources 2001:db8:1::2, fe80::1, 10.1.2.4.
        sorts_to(
            &[("2001:db8:1::1", "2001:db8:1::2"), ("10.1.2.3", "10.1.2.4")],
            &["2001:db8:1::1", "10.1.2.3"],
        );
    }

    #[test]
    fn rfc_10_2_example_4_prefer_smaller_scope() {
        // Sources 2001:db8:1::2, fe80::2.
        sorts_to(
            &[("2001:db8:1::1", "2001:db8:1::2"), ("fe80::1", "fe80::2")],
            &["fe80::1", "2001:db8:1::1"],
        );
    }

    #[test]
    fn rfc_10_2_examples_5_and_6_go_to_rule_8_without_rules_3_and_4() {
        // Example 5, prefer home address (rule 4): sources 2001:db8:1::2 (care-of),
        // 2001:db8:3::1 (home), fe80::2 (care-of); the RFC's result is 2001:db8:1::1 (src
        // 2001:db8:3::1) then fe80::1 (src fe80::2).
        // Example 6, avoid deprecated addresses (rule 3): sources 2001:db8:1::2, fe80::2
        // (deprecated); the RFC's result is 2001:db8:1::1 then fe80::1.
        // Neither home nor deprecated addresses are known here, so rule 8 (prefer smaller
        // scope) decides both, the other way round: the documented difference.
        sorts_to(
            &[("2001:db8:1::1", "2001:db8:3::1"), ("fe80::1", "fe80::2")],
            &["fe80::1", "2001:db8:1::1"],
        );
        sorts_to(
            &[("2001:db8:1::1", "2001:db8:1::2"), ("fe80::1", "fe80::2")],
            &["fe80::1", "2001:db8:1::1"],
        );
    }

    #[test]
    fn rfc_10_2_example_7_longest_matching_prefix() {
        // Sources 2001:db8:1::2, 2001:db8:3f44::2, fe80::2. The first pair shares 64 bits
        // (counted), the second 40 (2001:db8, then 0x3f of 0x3ffe and 0x3f44).
        sorts_to(
            &[
                ("2001:db8:1::1", "2001:db8:1::2"),
                ("2001:db8:3ffe::1", "2001:db8:3f44::2"),
            ],
            &["2001:db8:1::1", "2001:db8:3ffe::1"],
        );
    }

    #[test]
    fn rfc_10_2_example_8_prefer_matching_label() {
        // Sources 2002:c633:6401::2, fe80::2: the 6to4 source is the only global one, so both
        // destinations are reached from it, and only the 6to4 destination has its label. Rule
        // 5 comes before rule 6, which would have put 2001:db8:1::1 (40) before 6to4 (30).
        sorts_to(
            &[
                ("2002:c633:6401::1", "2002:c633:6401::2"),
                ("2001:db8:1::1", "2002:c633:6401::2"),
            ],
            &["2002:c633:6401::1", "2001:db8:1::1"],
        );
    }

    #[test]
    fn rfc_10_2_example_9_prefer_higher_precedence() {
        // Sources 2002:c633:6401::2, 2001:db8:1::2, fe80::2.
        sorts_to(
            &[
                ("2002:c633:6401::1", "2002:c633:6401::2"),
                ("2001:db8:1::1", "2001:db8:1::2"),
            ],
            &["2001:db8:1::1", "2002:c633:6401::1"],
        );
    }

    #[test]
    fn unusable_destinations_go_last_in_their_order() {
        let pairs = vec![
            pair("2001:db8:1::1", None),
            pair("192.0.2.1", Some("192.0.2.100")),
            pair("fe80::1", None),
            pair("::1", None),
            pair("2001:db8:2::1", Some("2001:db8:2::2")),
            pair("192.0.2.2", None),
        ];
        assert_eq!(
            sorted(pairs),
            [
                ip("2001:db8:2::1"),
                ip("192.0.2.1"),
                // Unusable, in the order given: not by precedence (::1 is 50) or scope.
                ip("2001:db8:1::1"),
                ip("fe80::1"),
                ip("::1"),
                ip("192.0.2.2"),
            ]
        );
    }

    #[test]
    fn destinations_no_rule_tells_apart_keep_their_order() {
        // Same scope, label, precedence and (for IPv4, not counted) prefix: the DNS answer's
        // order, whichever it is.
        let v4 = ["203.0.113.9", "198.51.100.7", "192.0.2.200", "203.0.113.1"];
        let pairs: Vec<_> = v4.iter().map(|d| pair(d, Some("10.0.0.2"))).collect();
        let expected: Vec<IpAddr> = v4.iter().map(|d| ip(d)).collect();
        assert_eq!(sorted(pairs), expected);
        // Two IPv6 addresses on the source's own /64 share the 64 bits rule 9 counts, however
        // many more bits one of them shares.
        let pairs = vec![
            pair("2001:db8:1::ffff", Some("2001:db8:1::1")),
            pair("2001:db8:1::2", Some("2001:db8:1::1")),
        ];
        assert_eq!(sorted(pairs), [ip("2001:db8:1::ffff"), ip("2001:db8:1::2")]);
        // The same address twice, and its ports, stay where they are.
        let mut pairs = vec![
            (
                SocketAddr::new(ip("2001:db8::1"), 1),
                Some(ip("2001:db8::2")),
            ),
            (SocketAddr::new(ip("192.0.2.1"), 2), Some(ip("192.0.2.9"))),
            (
                SocketAddr::new(ip("2001:db8::1"), 3),
                Some(ip("2001:db8::2")),
            ),
        ];
        sort_with_sources(&mut pairs);
        let ports: Vec<u16> = pairs.iter().map(|(dest, _)| dest.port()).collect();
        assert_eq!(ports, [1, 3, 2]);
    }

    #[test]
    fn ipv4_loopback_goes_before_global() {
        // Both match scope and label and have IPv4's precedence: rule 8, loopback is
        // link-local.
        sorts_to(
            &[("198.51.100.1", "192.0.2.10"), ("127.0.0.1", "127.0.0.1")],
            &["127.0.0.1", "198.51.100.1"],
        );
        // And IPv6 loopback before IPv4 loopback: rule 6, 50 against 35.
        sorts_to(
            &[("127.0.0.1", "127.0.0.1"), ("::1", "::1")],
            &["::1", "127.0.0.1"],
        );
    }

    #[test]
    fn longest_matching_prefix_is_not_applied_to_ipv4() {
        // 10.0.0.1 shares 30 bits with its source, 10.55.0.1 shares 9: kept as given.
        let pairs = vec![
            pair("10.55.0.1", Some("10.0.0.2")),
            pair("10.0.0.1", Some("10.0.0.2")),
        ];
        assert_eq!(sorted(pairs), [ip("10.55.0.1"), ip("10.0.0.1")]);
    }

    #[test]
    fn ipv4_mapped_destinations_count_as_ipv4() {
        // A mapped loopback is link-local like 127.0.0.1, so it goes before a global IPv4
        // address (rule 8), and it is no IPv6 destination for rule 9.
        sorts_to(
            &[
                ("198.51.100.1", "192.0.2.10"),
                ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
            ],
            &["::ffff:127.0.0.1", "198.51.100.1"],
        );
        assert_eq!(
            Rank::of(ip("::ffff:192.0.2.1"), Some(ip("::ffff:192.0.2.9"))),
            Rank::of(ip("192.0.2.1"), Some(ip("192.0.2.9"))),
        );
    }

    #[test]
    fn scopes() {
        for (addr, expected) in [
            ("127.0.0.1", SCOPE_LINK_LOCAL),
            ("127.255.0.3", SCOPE_LINK_LOCAL),
            ("169.254.13.78", SCOPE_LINK_LOCAL),
            ("10.1.2.3", SCOPE_GLOBAL),
            ("192.168.1.1", SCOPE_GLOBAL),
            ("8.8.8.8", SCOPE_GLOBAL),
            ("::ffff:169.254.1.1", SCOPE_LINK_LOCAL),
            ("::ffff:8.8.8.8", SCOPE_GLOBAL),
            ("::1", SCOPE_LINK_LOCAL),
            ("fe80::1", SCOPE_LINK_LOCAL),
            ("febf::1", SCOPE_LINK_LOCAL),
            ("fec0::1", SCOPE_SITE_LOCAL),
            ("fc00::1", SCOPE_GLOBAL),
            ("2001:db8::1", SCOPE_GLOBAL),
            ("ff01::1", SCOPE_INTERFACE_LOCAL),
            ("ff02::1", SCOPE_LINK_LOCAL),
            ("ff05::1", SCOPE_SITE_LOCAL),
            ("ff08::1", 0x8),
            ("ff0e::1", SCOPE_GLOBAL),
        ] {
            assert_eq!(scope(ip(addr)), expected, "{addr}");
        }
    }

    #[test]
    fn policy_table_rows() {
        for (addr, precedence, label) in [
            ("::1", 50, 0),
            ("2001:db8::1", 40, 1),
            ("fe80::1", 40, 1),
            ("::", 1, 3),
            ("::ffff:192.0.2.1", 35, 4),
            ("192.0.2.1", 35, 4),
            ("127.0.0.1", 35, 4),
            ("2002:c633:6401::1", 30, 2),
            ("2001::1", 5, 5),
            ("2001:0:ffff::1", 5, 5),
            ("fd00::1", 3, 13),
            ("fc00::1", 3, 13),
            ("::192.0.2.1", 1, 3),
            ("fec0::1", 1, 11),
            ("3ffe::1", 1, 12),
        ] {
            let row = policy(ip(addr));
            assert_eq!((row.precedence, row.label), (precedence, label), "{addr}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "miri has no sockets")]
    fn sort_asks_the_os_for_loopback_sources() {
        // The machine has both loopbacks; whether IPv6 is usable or not, nothing is lost.
        let v4 = SocketAddr::new(ip("127.0.0.1"), 80);
        let v6 = SocketAddr::new(ip("::1"), 80);
        let mut addrs = [v4, v6];
        sort(&mut addrs);
        assert!(addrs.contains(&v4) && addrs.contains(&v6), "{addrs:?}");
        if source_for(v6).is_some() {
            // Both usable: rule 6 puts ::1 (50) before 127.0.0.1 (35).
            assert_eq!(addrs, [v6, v4]);
        }
        // 127.0.0.1 has a route and a source address on any machine.
        assert!(source_for(v4).is_some());
        // Port 0 is asked with another port, and a single address is left alone.
        assert!(source_for(SocketAddr::new(ip("127.0.0.1"), 0)).is_some());
        let mut one = [v4];
        sort(&mut one);
        assert_eq!(one, [v4]);
    }

    #[test]
    fn the_os_is_asked_once_per_route_key() {
        let addr = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let addrs = [
            addr("[2001:db8:0:1::1]:443"),
            addr("[2001:db8:0:1::2]:443"), // same /64: not asked
            addr("[2001:db8:0:2::1]:443"), // another /64
            addr("192.0.2.1:443"),
            addr("192.0.2.200:443"),        // same /24: not asked
            addr("[::ffff:192.0.2.7]:443"), // IPv4-mapped: counts as 192.0.2.7
            addr("198.51.100.1:443"),       // another /24
            addr("[fe80::1%1]:443"),
            addr("[fe80::2%2]:443"), // another zone
            addr("[fe80::3%2]:443"), // same zone and /64
        ];
        let mut asked = Vec::new();
        let mut sorted = addrs;
        sort_asking(&mut sorted, |dest| {
            asked.push(dest);
            // Every destination's source is itself: each is then ranked on its own address.
            Some(dest.ip())
        });
        assert_eq!(
            asked,
            [addrs[0], addrs[2], addrs[3], addrs[6], addrs[7], addrs[8]]
        );
        assert_eq!(distinct_routes(&addrs), 6);
        assert_eq!(distinct_routes(&addrs[..1]), 0);
        // Every address is still there, once.
        let mut all = sorted.to_vec();
        all.sort();
        let mut want = addrs.to_vec();
        want.sort();
        assert_eq!(all, want);
    }

    /// What [`sort`] costs on the executor thread: one UDP `bind` and `connect` per address,
    /// each a route lookup in the kernel (no packet is sent, nothing waits on the network).
    /// Prints the figures (`cargo test --all-features --lib sort_cost -- --nocapture`);
    /// asserts only the order, which no rule changes here.
    #[test]
    #[cfg_attr(miri, ignore = "miri has no sockets")]
    fn sort_cost_of_500_addresses() {
        let n = 500u16;
        let v4: Vec<SocketAddr> = (0..n)
            .map(|i| SocketAddr::new(Ipv4Addr::new(127, 1, (i >> 8) as u8, i as u8).into(), 443))
            .collect();
        let v6: Vec<SocketAddr> = (0..n)
            .map(|i| SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i).into(), 443))
            .collect();
        for (what, addrs) in [("127.1.0.0/16", v4), ("2001:db8::/32", v6)] {
            let mut sorted = addrs.clone();
            let start = std::time::Instant::now();
            sort(&mut sorted);
            let took = start.elapsed();
            std::eprintln!(
                "sort of {n} addresses in {what}: {took:?}, {:?} per address",
                took / u32::from(n)
            );
            // One family, one scope, one label, one source: rule 10 keeps the order (and
            // unusable destinations keep theirs too).
            assert_eq!(sorted, addrs);
        }
        // A destination that comes again is not asked again.
        let twice: Vec<SocketAddr> = (0..n)
            .map(|i| SocketAddr::new(Ipv4Addr::new(127, 1, (i % 250) as u8, 1).into(), 443))
            .collect();
        let mut asked = Vec::new();
        let mut sorted = twice.clone();
        sort_asking(&mut sorted, |dest| {
            asked.push(dest);
            source_for(dest)
        });
        assert_eq!(sorted, twice);
        assert_eq!(asked, twice[..250]);
        assert_eq!(distinct_routes(&twice), 250);
        let one = SocketAddr::new(ip("2001:db8::1"), 443);
        let start = std::time::Instant::now();
        for _ in 0..n {
            source_for(one);
        }
        std::eprintln!(
            "source_for (the release's one lookup): {:?} per call",
            start.elapsed() / u32::from(n)
        );
    }
}
