//! Differential fuzzing: the real races (`staggered_race` and `staggered_race_array`, picked
//! by the input's first byte) against the reference model, on a generated script with
//! generated noise (see `tests/support/model.rs`).
//!
//! The script: up to 48 attempts, each failing or succeeding after 0 to 11 ticks or never
//! finishing, with a wake-order key for attempts completing at the same instant, after a
//! quarter of the time a crowd of 126 to 300 that start at once and complete together (a
//! round larger than the budget; array races of 126, 127, 128 and 200; with a deadline on
//! their instant, sometimes with one success among the failures); the delay
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
    /// `[mode, size, at]`: with `mode % 4 == 0`, a crowd (see `crowd`) goes first.
    crowd: [u8; 3],
    chaos: Vec<u8>,
}

/// A crowd of 126 to 300 attempts that all start at once and complete together at instant
/// `at` (1 to 4; every seventh one tick later with `mode & 4`), mostly failing (with
/// `mode & 8`, one succeeds): one wake-up that brings a round larger than a poll's budget,
/// and array races of 126, 127, 128 and 200 (`array_script` cuts to those). With `mode & 16`
/// the deadline falls on the crowd's instant. Returns the crowd's plans, the delay policy
/// that starts them all at once, and the crowd's instant.
fn crowd(c: &[u8; 3]) -> Option<(Vec<Plan>, Vec<Option<u64>>, u64)> {
    let [mode, size, at] = *c;
    if mode % 4 != 0 {
        return None;
    }
    let size = match size % 8 {
        0 => 126,
        1 => 127,
        2 => 128,
        3 => 200,
        _ => 129 + usize::from(size) * 171 / 255,
    };
    let at = 1 + u64::from(at % 4);
    let spread = u64::from(mode & 4 != 0);
    let winner = (mode & 8 != 0).then(|| usize::from(mode / 32) * size / 8);
    let plans = (0..size)
        .map(|i| Plan {
            ending: if Some(i) == winner { Ending::Ok } else { Ending::Err },
            after: at + spread * u64::from(i % 7 == 0),
            tie: (i % 3) as u8,
        })
        .collect();
    Some((plans, vec![Some(0); size - 1], at))
}

/// `[flags, cap, deadline, stream end, delays or arrivals x 8]`: with `flags >= 128`, bit 0
/// sets `delay_fn`, bit 1 a cap of 1 to 4, bit 2 cancel-oldest, bit 3 a deadline (0 to 63
/// ticks), bit 4 a stream source (arrival ticks 0 to 31 per item, then its end); bit 5, with
/// any flags, an iterator that tells its exact size.
fn options(o: &[u8; 12]) -> Options {
    // Bit 5, whatever the rest: the iterator tells its exact size, so a race of at most 4
    // keeps its attempts inline (else, on the slab).
    let sized = o[0] & (1 << 5) != 0;
    if o[0] < 128 {
        return Options {
            sized,
            ..Options::default()
        };
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
        sized,
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
    let mut options = options(&input.options);
    let Some((mut crowd, mut delays, at)) = crowd(&input.crowd) else {
        return Script {
            plans,
            delay,
            drop_at,
            options,
        };
    };
    // The crowd first, then the script's own attempts, with their own delays.
    delays.push(delay);
    delays.extend(options.delays.take().unwrap_or_default());
    crowd.extend(plans);
    options.delays = Some(delays);
    options.stream = None;
    if input.crowd[0] & 16 != 0 {
        options.deadline = Some(at);
    }
    Script {
        plans: crowd,
        delay,
        drop_at,
        options,
    }
}

fuzz_target!(|input: Input| {
    let script = script(&input);
    let run = if input.race % 2 == 1 {
        model::check_race(&model::array_script(&script), &input.chaos, Race::Array)
    } else {
        model::check_race(&script, &input.chaos, Race::Slab)
    };
    model::print_stats(&run);
});
