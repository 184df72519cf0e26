//! RFC 8305 §4 address interleaving, for any item type: [`interleave`], [`Interleave`] and
//! [`interleave_by_family`].

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::iter::{Fuse, FusedIterator};
use core::net::SocketAddr;

/// Reorders `items` so that address families alternate, as RFC 8305 §4 asks of a Happy
/// Eyeballs client.
///
/// `family` gives each item's family: any key that can be compared with `==` (an enum, a
/// `bool` such as [`SocketAddr::is_ipv6`], a protocol name...). Families take turns in the
/// order in which they first appear. On its first turn the first family gives up to
/// `first_family_count` items (the RFC's "First Address Family Count"; `0` counts as `1`);
/// after that every family gives one item per turn, and a family that runs out drops out of the
/// rotation. Within a family, items keep their order.
///
/// ```
/// use staggered::net::interleave;
///
/// let addrs = ["v6a", "v6b", "v4a", "v4b"];
/// let family = |a: &&str| a[..2].to_owned();
/// let order: Vec<_> = interleave(addrs, 1, family).collect();
/// assert_eq!(order, ["v6a", "v4a", "v6b", "v4b"]);
///
/// // A First Address Family Count of 2 lets the preferred family try twice before the other.
/// let addrs = ["v6a", "v6b", "v6c", "v4a"];
/// let order: Vec<_> = interleave(addrs, 2, family).collect();
/// assert_eq!(order, ["v6a", "v6b", "v4a", "v6c"]);
/// ```
///
/// It is lazy: it pulls from `items` only as far as it must to find the next item of the family
/// whose turn it is, and keeps the items it passes over until their family's turn. It needs
/// only `alloc`, so stacks without `std` can order their own address types with it.
pub fn interleave<I, K, F>(
    items: I,
    first_family_count: usize,
    family: F,
) -> Interleave<I::IntoIter, K, F>
where
    I: IntoIterator,
    F: FnMut(&I::Item) -> K,
    K: PartialEq,
{
    Interleave {
        source: items.into_iter().fuse(),
        family,
        families: Vec::new(),
        buffered: 0,
        turn: 0,
        quota: first_family_count.max(1),
    }
}

/// [`interleave`] for socket addresses: IPv6 and IPv4 take turns, starting with the family of
/// the first address.
///
/// ```
/// use std::net::SocketAddr;
/// use staggered::net::interleave_by_family;
///
/// let addrs: Vec<SocketAddr> = ["[::1]:1", "[::1]:2", "127.0.0.1:3", "127.0.0.1:4"]
///     .iter()
///     .map(|a| a.parse().unwrap())
///     .collect();
/// let order: Vec<String> = interleave_by_family(addrs, 1).map(|a| a.to_string()).collect();
/// assert_eq!(order, ["[::1]:1", "127.0.0.1:3", "[::1]:2", "127.0.0.1:4"]);
/// ```
pub fn interleave_by_family<I>(
    addrs: I,
    first_family_count: usize,
) -> Interleave<I::IntoIter, bool, fn(&SocketAddr) -> bool>
where
    I: IntoIterator<Item = SocketAddr>,
{
    interleave(
        addrs,
        first_family_count,
        SocketAddr::is_ipv6 as fn(&SocketAddr) -> bool,
    )
}

/// The iterator returned by [`interleave`] and [`interleave_by_family`].
///
/// It is lazy, and its items can be raced directly:
///
/// ```
/// use staggered::{net::interleave, staggered_race, timer::NoTimer};
///
/// let hosts = [("v6", "a"), ("v6", "b"), ("v4", "c")];
/// let order = interleave(hosts, 1, |&(family, _)| family); // an Interleave
/// let race = staggered_race(
///     order.map(|(_, name)| move || async move { if name == "c" { Ok(name) } else { Err(()) } }),
///     None,
///     NoTimer,
/// );
/// // "a", then "c" (the other family's turn): "b" is never tried.
/// assert_eq!(futures::executor::block_on(race).winner, Some((1, "c")));
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Interleave<I: Iterator, K, F> {
    source: Fuse<I>,
    family: F,
    /// Every family seen so far, in order of first appearance, with the items pulled from the
    /// source but not yet yielded.
    families: Vec<(K, VecDeque<I::Item>)>,
    /// The number of items in all the queues.
    buffered: usize,
    /// The family whose turn it is: an index into `families`, or `families.len()` for a family
    /// not seen yet.
    turn: usize,
    /// How many more items the family whose turn it is may yield in this turn.
    quota: usize,
}

impl<I, K, F> Interleave<I, K, F>
where
    I: Iterator,
    F: FnMut(&I::Item) -> K,
    K: PartialEq,
{
    /// Pulls the next item from the source and files it under its family. Returns the family's
    /// index and the item.
    fn pull(&mut self) -> Option<(usize, I::Item)> {
        let item = self.source.next()?;
        let key = (self.family)(&item);
        let index = match self.families.iter().position(|(k, _)| *k == key) {
            Some(index) => index,
            None => {
                self.families.push((key, VecDeque::new()));
                self.families.len() - 1
            }
        };
        Some((index, item))
    }

    /// The next item of family `index` (which may be `families.len()`: the next new family).
    /// Items of other families met on the way are queued.
    fn take(&mut self, index: usize) -> Option<I::Item> {
        if let Some((_, queue)) = self.families.get_mut(index) {
            if let Some(item) = queue.pop_front() {
                self.buffered -= 1;
                return Some(item);
            }
        }
        while let Some((family, item)) = self.pull() {
            if family == index {
                return Some(item);
            }
            self.families[family].1.push_back(item);
            self.buffered += 1;
        }
        None
    }
}

impl<I, K, F> Iterator for Interleave<I, K, F>
where
    I: Iterator,
    F: FnMut(&I::Item) -> K,
    K: PartialEq,
{
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        loop {
            if self.quota > 0 {
                if let Some(item) = self.take(self.turn) {
                    self.quota -= 1;
                    return Some(item);
                }
                // `take` drained the source looking for this family: it has nothing left.
                if self.buffered == 0 {
                    return None;
                }
            }
            // Next family's turn. Past the last known family comes a family not seen yet, if
            // the source still holds one; `take` finds it, or drains the source and fails, and
            // the rotation wraps around.
            self.turn = if self.turn < self.families.len() {
                self.turn + 1
            } else {
                0
            };
            self.quota = 1;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (low, high) = self.source.size_hint();
        (
            low.saturating_add(self.buffered),
            high.and_then(|high| high.checked_add(self.buffered)),
        )
    }
}

impl<I, K, F> FusedIterator for Interleave<I, K, F>
where
    I: Iterator,
    F: FnMut(&I::Item) -> K,
    K: PartialEq,
{
}

impl<I, K, F> Clone for Interleave<I, K, F>
where
    I: Iterator + Clone,
    I::Item: Clone,
    K: Clone,
    F: Clone,
{
    fn clone(&self) -> Self {
        Interleave {
            source: self.source.clone(),
            family: self.family.clone(),
            families: self.families.clone(),
            buffered: self.buffered,
            turn: self.turn,
            quota: self.quota,
        }
    }
}

impl<I, K, F> fmt::Debug for Interleave<I, K, F>
where
    I: Iterator + fmt::Debug,
    I::Item: fmt::Debug,
    K: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interleave")
            .field("source", &self.source)
            .field("families", &self.families)
            .field("turn", &self.turn)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;

    /// Items are (family, name) pairs.
    fn order(items: &[(char, &'static str)], count: usize) -> Vec<&'static str> {
        interleave(items.iter().copied(), count, |&(family, _)| family)
            .map(|(_, name)| name)
            .collect()
    }

    #[test]
    fn rfc8305_example_alternates_families() {
        let items = [('6', "v6a"), ('6', "v6b"), ('4', "v4a"), ('4', "v4b")];
        assert_eq!(order(&items, 1), ["v6a", "v4a", "v6b", "v4b"]);
    }

    #[test]
    fn first_family_count_two() {
        let items = [('6', "v6a"), ('6', "v6b"), ('6', "v6c"), ('4', "v4a")];
        assert_eq!(order(&items, 2), ["v6a", "v6b", "v4a", "v6c"]);
        // Zero counts as one.
        assert_eq!(order(&items, 0), ["v6a", "v4a", "v6b", "v6c"]);
    }

    #[test]
    fn first_family_count_applies_to_the_first_turn_only() {
        let items = [
            ('6', "v6a"),
            ('6', "v6b"),
            ('6', "v6c"),
            ('6', "v6d"),
            ('4', "v4a"),
            ('4', "v4b"),
            ('4', "v4c"),
        ];
        assert_eq!(
            order(&items, 2),
            ["v6a", "v6b", "v4a", "v6c", "v4b", "v6d", "v4c"]
        );
    }

    #[test]
    fn family_order_follows_first_appearance() {
        // IPv4 comes first here, so it leads.
        let items = [
            ('4', "v4a"),
            ('6', "v6a"),
            ('6', "v6b"),
            ('4', "v4b"),
            ('4', "v4c"),
        ];
        assert_eq!(order(&items, 1), ["v4a", "v6a", "v4b", "v6b", "v4c"]);
    }

    #[test]
    fn three_families_rotate() {
        let items = [
            ('a', "a1"),
            ('a', "a2"),
            ('b', "b1"),
            ('c', "c1"),
            ('b', "b2"),
            ('c', "c2"),
        ];
        assert_eq!(order(&items, 1), ["a1", "b1", "c1", "a2", "b2", "c2"]);
    }

    #[test]
    fn one_family_keeps_its_order() {
        let items = [('4', "a"), ('4', "b"), ('4', "c")];
        assert_eq!(order(&items, 1), ["a", "b", "c"]);
        assert_eq!(order(&items, 5), ["a", "b", "c"]);
    }

    #[test]
    fn empty_and_single() {
        assert!(order(&[], 1).is_empty());
        assert_eq!(order(&[('4', "a")], 3), ["a"]);
    }

    #[test]
    fn is_a_permutation_and_fused() {
        // Every small input over three families: nothing lost, nothing repeated, each family's
        // order kept, and `None` stays `None`.
        let max_len = if cfg!(miri) { 4 } else { 7 };
        for len in 0..=max_len {
            for code in 0..3u32.pow(len) {
                let items: Vec<(u32, u32)> =
                    (0..len).map(|i| ((code / 3u32.pow(i)) % 3, i)).collect();
                for count in 1..=3 {
                    let mut it = interleave(items.iter().copied(), count, |&(f, _)| f);
                    let out: Vec<(u32, u32)> = it.by_ref().collect();
                    assert_eq!(it.next(), None);
                    let mut sorted = out.clone();
                    sorted.sort_by_key(|&(_, i)| i);
                    assert_eq!(sorted, items);
                    for family in 0..3 {
                        let mine: Vec<u32> = out
                            .iter()
                            .filter(|&&(f, _)| f == family)
                            .map(|&(_, i)| i)
                            .collect();
                        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{items:?} -> {out:?}");
                    }
                    if let Some(&(first, _)) = items.first() {
                        assert_eq!(out[0].0, first);
                    }
                }
            }
        }
    }

    #[test]
    fn is_lazy() {
        let mut pulled = 0;
        let items = ['6', '6', '4', '4'].into_iter().inspect(|_| pulled += 1);
        let mut it = interleave(items, 1, |&c| c);
        assert_eq!(it.next(), Some('6'));
        drop(it);
        assert_eq!(pulled, 1);
    }

    #[test]
    fn socket_addrs_by_family() {
        let parse = |s: &str| s.parse::<SocketAddr>().unwrap();
        let addrs = vec![
            parse("[::1]:1"),
            parse("[::1]:2"),
            parse("127.0.0.1:3"),
            parse("127.0.0.1:4"),
        ];
        let out: Vec<String> = interleave_by_family(addrs.clone(), 2)
            .map(|a| alloc::format!("{a}"))
            .collect();
        assert_eq!(out, ["[::1]:1", "[::1]:2", "127.0.0.1:3", "127.0.0.1:4"]);
        let it = interleave_by_family(addrs, 1);
        assert_eq!(it.size_hint(), (4, Some(4)));
    }
}
