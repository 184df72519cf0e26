//! A reference model of RFC 8305 §4 interleaving (`staggered::net::interleave`), and a check
//! of the real adapter against it. Shared by `tests/model_props.rs` and the fuzz target
//! `fuzz/fuzz_targets/interleave_and_slab.rs`, which include this file with `#[path]`.
//!
//! The model works on the whole input at once: group the items by family, families in order
//! of first appearance and items in input order; the first family gives up to
//! `max(count, 1)` items; then the families take turns, one item each, starting with the
//! second family, skipping families that have run out.

#![allow(dead_code)]

use std::cell::Cell;
use std::collections::VecDeque;

use staggered::net::interleave;

/// The order in which the model yields `families` (one family key per input position), as
/// input positions.
pub fn interleave_model(families: &[u8], count: usize) -> Vec<usize> {
    let mut groups: Vec<(u8, VecDeque<usize>)> = Vec::new();
    for (pos, &family) in families.iter().enumerate() {
        match groups.iter_mut().find(|(f, _)| *f == family) {
            Some((_, queue)) => queue.push_back(pos),
            None => groups.push((family, VecDeque::from([pos]))),
        }
    }
    let mut out = Vec::with_capacity(families.len());
    if let Some((_, first)) = groups.first_mut() {
        for _ in 0..count.max(1) {
            match first.pop_front() {
                Some(pos) => out.push(pos),
                None => break,
            }
        }
    }
    let mut turn = 1;
    while out.len() < families.len() {
        let len = groups.len();
        if let Some(pos) = groups[turn % len].1.pop_front() {
            out.push(pos);
        }
        turn += 1;
    }
    out
}

/// Runs the real adapter on `families` and checks it against the model, and its contract:
/// every `size_hint` holds, it is fused, a clone taken at `clone_at` goes on identically, and
/// it is lazy (after each item, it has pulled from the source exactly up to that item's
/// position, unless it had to drain the source to learn that a family had run out). Returns
/// the order, as input positions.
pub fn check_interleave(families: &[u8], count: usize, clone_at: usize) -> Vec<usize> {
    let expected = interleave_model(families, count);
    let pulled = Cell::new(0usize);
    let source = families.iter().enumerate().map(|(pos, &family)| {
        pulled.set(pulled.get() + 1);
        (pos, family)
    });
    let mut real = interleave(source, count, |&(_, family): &(usize, u8)| family);
    let mut got: Vec<usize> = Vec::with_capacity(families.len());
    let mut clone_order: Option<Vec<usize>> = None;
    let mut max_pos = None::<usize>;
    loop {
        let remaining = families.len() - got.len();
        let (lo, hi) = real.size_hint();
        assert!(
            lo <= remaining && hi.map_or(true, |hi| hi >= remaining),
            "size_hint ({lo}, {hi:?}) with {remaining} left; input {families:?}, count {count}"
        );
        if got.len() == clone_at {
            // A clone must yield exactly what the original yields from here on (it pulls from
            // a clone of the source, so it does not touch the pull counter's meaning: the
            // counter is shared, so measure it around the clone's run).
            let before = pulled.get();
            clone_order = Some(real.clone().map(|(pos, _)| pos).collect());
            pulled.set(before);
        }
        let Some((pos, _)) = real.next() else { break };
        got.push(pos);
        max_pos = max_pos.max(Some(pos));
        let p = pulled.get();
        assert!(
            p == families.len() || Some(p) == max_pos.map(|m| m + 1),
            "not lazy: pulled {p} items to yield {got:?} from {families:?} (count {count})"
        );
    }
    assert_eq!(
        got, expected,
        "interleave({families:?}, {count}) differs from the model"
    );
    assert!(real.next().is_none(), "not fused");
    if let Some(rest) = clone_order {
        assert_eq!(
            rest,
            expected[clone_at.min(expected.len())..],
            "a clone diverged"
        );
    }
    got
}
