//! The RFC 8305 interleaving adapter and the attempt storage (the slab of pinned slots and its
//! chunked wakers), each against its reference model.
//!
//! The input is up to 600 items, each with an address family (one of four) and a plan (fail,
//! or rarely succeed or hang, after 0 to 63 ticks). First `staggered::net::interleave` orders
//! them, checked against the interleaving model (order, size hints, fusing, a clone taken
//! midway, laziness: tests/support/interleave_model.rs). Then a race runs over the attempts in
//! that order with a zero or tiny delay, so that hundreds run at once: the slab grows across
//! several chunks, and attempts finish in an arbitrary order, so slots are freed and reused in
//! arbitrary patterns while spurious, stale and cross-thread wakes arrive. Small spreads of
//! completion ticks put hundreds of completions on one instant (rounds larger than a poll's
//! budget), and a deadline, when set, falls on one of the first instants, often a crowded one.
//! The race is checked against the race model (tests/support/model.rs).
#![no_main]

#[path = "../../tests/support/interleave_model.rs"]
mod interleave_model;
#[path = "../../tests/support/model.rs"]
mod model;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use model::{Ending, Options, Plan, Script};

#[derive(Arbitrary, Debug)]
struct Input {
    len: u16,
    count: u8,
    delay: u8,
    clone_at: u16,
    /// Completion ticks are `b % (1 + spread % 64)`: at 0, every attempt that does not fail
    /// on its first poll completes at one instant, hundreds in one wake-up (more than a
    /// poll's budget); small spreads make crowds of hundreds at a few instants.
    spread: u8,
    /// At 128 and above, a deadline at tick `deadline % 8` (on a crowd's instant, often).
    deadline: u8,
    items: Vec<u8>,
    chaos: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let len = usize::from(input.len % 600);
    // Items beyond the input bytes follow a fixed pattern, so that short inputs still make
    // large races.
    let bytes: Vec<u8> = (0..len)
        .map(|i| input.items.get(i).copied().unwrap_or((i * 37 % 251) as u8))
        .collect();
    let families: Vec<u8> = bytes.iter().map(|b| (b >> 6) & 3).collect();
    let order = interleave_model::check_interleave(
        &families,
        usize::from(input.count % 4),
        usize::from(input.clone_at),
    );
    // With no spread, everything completes at tick 1 (not on its first poll).
    let spread_zero = input.spread % 64 == 0;
    let plans = order
        .iter()
        .map(|&pos| {
            let b = bytes[pos];
            Plan {
                ending: match b {
                    250..=255 => Ending::Ok,
                    244..=249 => Ending::Never,
                    _ => Ending::Err,
                },
                after: u64::from(b % (1 + input.spread % 64)).max(u64::from(spread_zero)),
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
        options: Options {
            deadline: (input.deadline >= 128).then(|| u64::from(input.deadline % 8)),
            ..Options::default()
        },
    };
    model::print_stats(&model::check(&script, &input.chaos));
});
