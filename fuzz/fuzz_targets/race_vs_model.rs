//! Differential fuzzing: the real races (`staggered_race` and `staggered_race_array`, picked
//! by the input's first byte) against the reference model, on a generated script with
//! generated noise (see `tests/support/model.rs`).
//!
//! The script: up to 48 attempts, each failing or succeeding after 0 to 11 ticks or never
//! finishing, with a wake-order key for attempts completing at the same instant; the delay
//! `None`, zero or 1 to 12 ticks; sometimes a tick at which the race is dropped. The noise:
//! spurious wake-ups, wake-ups from another thread, the timer's wake anywhere among the
//! attempts', attempts waking themselves or each other while polled, stale wakers, new task
//! wakers, in-place or replacing timer resets. Half the inputs set the builder's options
//! (`delay_fn`, a cap in both modes, a deadline, a stream source that is pending, yields late
//! and ends). The driver compares winner, every outcome, start and drop times, the closures
//! called, `timed_out` and every event, and checks wake-up precision on the way.
#![no_main]

#[path = "../../tests/support/model.rs"]
mod model;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use model::{Ending, Options, Plan, Race, Script};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Odd: `staggered_race_array`; even: `staggered_race`.
    race: u8,
    delay: u8,
    drop_at: u8,
    plans: Vec<[u8; 2]>,
    /// The builder's options (see `options`); the first byte below 128 sets none.
    options: [u8; 12],
    chaos: Vec<u8>,
}

/// `[flags, cap, deadline, stream end, delays or arrivals x 8]`: with `flags >= 128`, bit 0
/// sets `delay_fn`, bit 1 a cap of 1 to 4, bit 2 cancel-oldest, bit 3 a deadline (0 to 63
/// ticks), bit 4 a stream source (arrival ticks 0 to 31 per item, then its end).
fn options(o: &[u8; 12]) -> Options {
    if o[0] < 128 {
        return Options::default();
    }
    let bit = |b: u8| o[0] & (1 << b) != 0;
    let rest = &o[4..];
    Options {
        delays: bit(0).then(|| {
            rest.iter()
                .map(|&v| match v % 4 {
                    0 => None,
                    1 => Some(0),
                    _ => Some(1 + u64::from(v / 4) % 12),
                })
                .collect()
        }),
        max_running: bit(1).then(|| 1 + usize::from(o[1] % 4)),
        cancel_oldest: bit(2),
        deadline: bit(3).then(|| u64::from(o[2] % 64)),
        stream: bit(4).then(|| {
            let arrivals = rest.iter().map(|&v| u64::from(v % 32)).collect();
            (arrivals, u64::from(o[3] % 40))
        }),
    }
}

fn script(input: &Input) -> Script {
    let plans = input
        .plans
        .iter()
        .take(48)
        .map(|&[kind, after]| Plan {
            ending: match kind % 6 {
                0..=2 => Ending::Err,
                3 | 4 => Ending::Ok,
                _ => Ending::Never,
            },
            after: u64::from(after % 12),
            tie: (kind / 6) % 4,
        })
        .collect();
    let delay = match input.delay % 4 {
        0 => None,
        1 => Some(0),
        _ => Some(1 + u64::from(input.delay / 4) % 12),
    };
    // Mostly run to the end; sometimes drop at a tick in 0..64.
    let drop_at = (input.drop_at >= 192).then(|| u64::from(input.drop_at - 192));
    Script {
        plans,
        delay,
        drop_at,
        options: options(&input.options),
    }
}

fuzz_target!(|input: Input| {
    let script = script(&input);
    if input.race % 2 == 1 {
        model::check_race(&model::array_script(&script), &input.chaos, Race::Array);
    } else {
        model::check_race(&script, &input.chaos, Race::Slab);
    }
});
