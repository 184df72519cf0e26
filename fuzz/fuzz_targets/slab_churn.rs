//! The attempt storage (slab of pinned slots and its chunked wakers) under churn, through the
//! race's public API, checked against the reference model.
//!
//! Up to 600 attempts with a zero or tiny delay, so that hundreds run at once: the slab grows
//! across several chunks, and attempts finish in an arbitrary order (each after 0 to 63
//! ticks), so slots are freed and reused in arbitrary patterns while stale, spurious and
//! cross-thread wakes arrive (see `tests/support/model.rs`).
//!
//! TODO(interleave): the RFC 8305 interleaving adapter (issue 4, `staggered::net`) is not on
//! `main` yet. When it lands, add its properties here: the output is a permutation of the
//! input, each family keeps its relative order, the first `count` items are of the first
//! family, and families alternate after that while both have items left.
#![no_main]

#[path = "../../tests/support/model.rs"]
mod model;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use model::{Ending, Plan, Script};

#[derive(Arbitrary, Debug)]
struct Input {
    len: u16,
    delay: u8,
    plans: Vec<u8>,
    chaos: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let len = usize::from(input.len % 600);
    let plans = (0..len)
        .map(|i| {
            let b = input.plans.get(i).copied().unwrap_or((i * 37 % 251) as u8);
            Plan {
                ending: match b {
                    250..=255 => Ending::Ok,
                    244..=249 => Ending::Never,
                    _ => Ending::Err,
                },
                after: u64::from(b % 64),
                tie: b % 3,
            }
        })
        .collect();
    let delay = match input.delay % 3 {
        0 => Some(0),
        d => Some(u64::from(d)),
    };
    let script = Script {
        plans,
        delay,
        drop_at: None,
    };
    model::check(&script, &input.chaos);
});
