//! Instructions per race, counted by callgrind: figures that do not move with the machine's
//! load, for changes to the scheduler whose effect is a few percent (issue 20).
//!
//! `cargo bench --bench instructions` runs itself under `valgrind --tool=callgrind` once per
//! scenario with 1,000 races and once with 2,000, and prints the difference divided by 1,000:
//! the instructions of one race, without the process's start-up. It needs valgrind; without
//! it, it says so and ends.
//!
//! The scenarios, each on both races, and the `p-` ones on the peers too (`floor`, the
//! hand-written two-attempt race of `benches/peers`; `futures_unordered`, its do-it-yourself
//! loop over a `FuturesUnordered`; `futures`' `select_ok`; `futures-concurrency`'s
//! `race_ok`):
//! - `lifecycle 1`: one attempt, ready with `Ok` on its first poll;
//! - `p-lifecycle 1` and `p-fallthrough N`: the `lifecycle` (N = 1: attempt 0 fails, attempt 1
//!   wins) and `fallthrough` scenarios of `benches/peers`, with its attempts, timer and
//!   executor, on every race: the peers' wall-clock ratios, in instructions;
//! - `p-wake N`: the peers bench's `wake` (N pending at once, one woken at random), per
//!   wake-up;
//! - `fallthrough N`: N attempts 250 ms apart on a virtual clock ([`ManualClock`]), all
//!   hanging but the last, which wins at once;
//! - `tie N`: N attempts started at once (a zero delay), then woken in one wake-up in
//!   reverse start order, all failing: a round of N, taken in start order.

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn};
use std::process::Command;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use futures::future::select_ok;
use futures_concurrency::future::RaceOk;
use staggered::testing::ManualClock;
use staggered::timer::NoTimer;
use staggered::{staggered_race, staggered_race_array, Staggered, Timer};

#[allow(dead_code)]
#[path = "peers/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "peers/impls.rs"]
mod impls;

use common::{board_clear, board_reset, board_wake, NeverTimer, Rng, Spin, VirtualClock, Work};

/// The environment variable that makes the process run one workload: `race scenario n races`.
const WORK: &str = "STAGGERED_INSTRUCTIONS_WORK";

/// The race kinds: this crate's two, and the peers.
#[derive(Clone, Copy, PartialEq)]
#[allow(clippy::enum_variant_names)] // `RaceOk` is the peer's name
enum Race {
    Slab,
    Array,
    Floor,
    FuturesUnordered,
    SelectOk,
    RaceOk,
}

/// The columns: a race's name, and its kind.
const RACES: [(&str, Race); 6] = [
    ("staggered", Race::Slab),
    ("staggered_array", Race::Array),
    ("floor", Race::Floor),
    ("futures_unordered", Race::FuturesUnordered),
    ("select_ok", Race::SelectOk),
    ("race_ok", Race::RaceOk),
];

/// The attempts of a fall-through of `n`: all hang but the last.
async fn hang_but_last(i: usize, n: usize) -> Result<usize, ()> {
    if i + 1 < n {
        pending::<()>().await;
    }
    Ok(i)
}

fn lifecycle(race: Race) {
    let winner = match race {
        Race::Slab => {
            let race = staggered_race([|| async { Ok::<u32, ()>(1) }], None, NoTimer);
            futures::executor::block_on(race).winner
        }
        Race::Array => {
            let race = staggered_race_array([|| async { Ok::<u32, ()>(1) }], None, NoTimer);
            futures::executor::block_on(race).winner
        }
        _ => unreachable!("no peer runs this scenario"),
    };
    assert_eq!(winner, Some((0, 1)));
}

fn fallthrough<const N: usize>(race: Race) {
    let clock = ManualClock::new();
    let delay = Some(Duration::from_millis(250));
    let winner = match race {
        Race::Slab => {
            clock
                .block_on(staggered_race(
                    (0..N).map(|i| move || hang_but_last(i, N)),
                    delay,
                    clock.clone(),
                ))
                .winner
        }
        Race::Array => {
            clock
                .block_on(staggered_race_array(
                    std::array::from_fn::<_, N, _>(|i| move || hang_but_last(i, N)),
                    delay,
                    clock.clone(),
                ))
                .winner
        }
        _ => unreachable!("the peers run `p-fallthrough`"),
    };
    assert_eq!(winner, Some((N - 1, N - 1)));
}

/// The peers bench's `lifecycle` at N = 1, on its own attempts ([`Work`]), timer and executor
/// ([`Spin`], one for every race, as there): attempt 0 fails and attempt 1 wins, each on its
/// first poll.
fn peers_lifecycle(race: Race, spin: &Spin) {
    let attempt = |i: u32| move || Work::settle(if i == 0 { Err(i) } else { Ok(i) });
    let delay = Duration::from_millis(250);
    let winner = match race {
        Race::Slab => {
            let attempts = [attempt(0), attempt(1)];
            spin.block_on(staggered_race(attempts, Some(delay), NeverTimer))
                .winner
        }
        Race::Array => {
            let attempts = [attempt(0), attempt(1)];
            spin.block_on(staggered_race_array(attempts, Some(delay), NeverTimer))
                .winner
        }
        Race::Floor => {
            spin.block_on(impls::floor_race(attempt(0), attempt(1), delay, NeverTimer))
                .0
        }
        Race::FuturesUnordered => {
            let attempts = [attempt(0), attempt(1)];
            let race = impls::futures_unordered_race(attempts, Some(delay), NeverTimer);
            spin.block_on(race).0
        }
        Race::SelectOk => {
            let attempts = [Box::pin(attempt(0)()), Box::pin(attempt(1)())];
            spin.block_on(select_ok(attempts)).ok().map(|(v, _)| (1, v))
        }
        Race::RaceOk => {
            let attempts = vec![attempt(0)(), attempt(1)()];
            spin.block_on(attempts.race_ok()).ok().map(|v| (1, v))
        }
    };
    assert_eq!(winner, Some((1, 1)));
}

/// The peers bench's `fallthrough` at `N`: attempts 250 ms apart on its [`VirtualClock`], all
/// hanging but the last, which wins at once; the peers, which start everything at once, get
/// attempt `i` as a sleep of `i` delays, then the attempt.
fn peers_fallthrough<const N: usize>(race: Race, spin: &Spin) {
    let attempt = |i: usize| {
        move || {
            if i + 1 < N {
                Work::hang()
            } else {
                Work::settle(Ok(i as u32))
            }
        }
    };
    thread_local! {
        /// One clock for every race, as in the peers bench: its list of waiting sleeps keeps
        /// its capacity, so no race pays for growing it.
        static CLOCK: VirtualClock = VirtualClock::default();
    }
    let timer = CLOCK.with(VirtualClock::clone);
    let delay = Duration::from_millis(250);
    let delayed = || {
        (0..N).map(|i| {
            let sleep = timer.sleep(delay * i as u32);
            async move {
                sleep.await;
                attempt(i)().await
            }
        })
    };
    let winner = match race {
        Race::Slab => {
            let race = staggered_race((0..N).map(attempt), Some(delay), timer.clone());
            spin.block_on_clock(race, &timer).winner.map(|(_, v)| v)
        }
        Race::Array => {
            let attempts = std::array::from_fn::<_, N, _>(attempt);
            let race = staggered_race_array(attempts, Some(delay), timer.clone());
            spin.block_on_clock(race, &timer).winner.map(|(_, v)| v)
        }
        Race::Floor => {
            assert_eq!(N, 2, "the floor races two attempts");
            let race = impls::floor_race(attempt(0), attempt(1), delay, timer.clone());
            spin.block_on_clock(race, &timer).0.map(|(_, v)| v)
        }
        Race::FuturesUnordered => {
            let race =
                impls::futures_unordered_race((0..N).map(attempt), Some(delay), timer.clone());
            spin.block_on_clock(race, &timer).0.map(|(_, v)| v)
        }
        Race::SelectOk => spin
            .block_on_clock(select_ok(delayed().map(Box::pin)), &timer)
            .ok()
            .map(|(v, _)| v),
        Race::RaceOk => spin
            .block_on_clock(delayed().collect::<Vec<_>>().race_ok(), &timer)
            .ok(),
    };
    assert_eq!(winner, Some(N as u32 - 1));
}

/// The peers bench's `wake` at `N`: `N` attempts pending at once (a zero delay), then
/// `rounds` wake-ups of one at random, each followed by polls of the race until it is pending
/// again. Counted per wake-up (the set-up is the same in both runs, and cancels out).
fn peers_wake<const N: usize>(race: Race, spin: &Spin, rounds: usize) {
    fn drive<F: std::future::Future, const N: usize>(spin: &Spin, race: F, rounds: usize) {
        let mut rng = Rng::new(0x5eed ^ 17);
        let mut race = std::pin::pin!(race);
        assert!(spin.poll_idle(race.as_mut()).is_none());
        for _ in 0..rounds {
            board_wake(rng.below(N));
            assert!(spin.poll_idle(race.as_mut()).is_none());
        }
    }
    board_reset(N);
    let gates = || (0..N).map(|i| move || Work::gate(i));
    let zero = Some(Duration::ZERO);
    match race {
        Race::Slab => drive::<_, N>(spin, staggered_race(gates(), zero, NeverTimer), rounds),
        Race::Array => {
            let gates = std::array::from_fn::<_, N, _>(|i| move || Work::gate(i));
            drive::<_, N>(spin, staggered_race_array(gates, zero, NeverTimer), rounds)
        }
        Race::FuturesUnordered => drive::<_, N>(
            spin,
            impls::futures_unordered_race(gates(), zero, NeverTimer),
            rounds,
        ),
        Race::SelectOk => drive::<_, N>(spin, select_ok(gates().map(|g| Box::pin(g()))), rounds),
        Race::RaceOk => drive::<_, N>(
            spin,
            gates().map(|g| g()).collect::<Vec<_>>().race_ok(),
            rounds,
        ),
        Race::Floor => unreachable!("the floor runs no wake scenario"),
    }
    board_clear();
}

fn tie<const N: usize>(race: Race) {
    let wakers: Rc<RefCell<Vec<Waker>>> = Rc::default();
    let open = Rc::new(Cell::new(false));
    let attempt = |i: usize| {
        let (wakers, open) = (wakers.clone(), open.clone());
        move || {
            poll_fn(move |cx| {
                if open.get() {
                    Poll::Ready(Err::<(), usize>(i))
                } else {
                    wakers.borrow_mut().push(cx.waker().clone());
                    Poll::Pending
                }
            })
        }
    };
    // Once all N wait, opens the gate and wakes them, last started first.
    let gate = poll_fn(|cx| {
        if wakers.borrow().len() < N {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        open.set(true);
        for waker in wakers.borrow_mut().drain(..).rev() {
            waker.wake();
        }
        Poll::Ready(())
    });
    let builder = Staggered::new(std::array::from_fn::<_, N, _>(attempt)).delay(Duration::ZERO);
    let failed = match race {
        Race::Slab => {
            let (outcome, ()) =
                futures::executor::block_on(futures::future::join(builder.race(NoTimer), gate));
            outcome.attempts.len()
        }
        Race::Array => {
            let (outcome, ()) = futures::executor::block_on(futures::future::join(
                builder.race_array(NoTimer),
                gate,
            ));
            outcome.attempts.len()
        }
        _ => unreachable!("no peer runs this scenario"),
    };
    assert_eq!(failed, N);
}

/// The scenarios: name, N, the races that run it.
const SCENARIOS: &[(&str, usize)] = &[
    ("lifecycle", 1),
    ("p-lifecycle", 1),
    ("p-fallthrough", 2),
    ("p-fallthrough", 4),
    ("p-fallthrough", 8),
    ("p-fallthrough", 16),
    ("p-wake", 1),
    ("p-wake", 10),
    ("p-wake", 100),
    ("fallthrough", 2),
    ("fallthrough", 4),
    ("fallthrough", 16),
    ("tie", 4),
    ("tie", 16),
    ("tie", 100),
];

fn run(race: Race, scenario: &str, n: usize, races: usize) {
    let spin = Spin::new();
    match (scenario, n) {
        ("p-wake", 1) => return peers_wake::<1>(race, &spin, races),
        ("p-wake", 10) => return peers_wake::<10>(race, &spin, races),
        ("p-wake", 100) => return peers_wake::<100>(race, &spin, races),
        _ => {}
    }
    for _ in 0..races {
        match (scenario, n) {
            ("lifecycle", 1) => lifecycle(race),
            ("p-lifecycle", 1) => peers_lifecycle(race, &spin),
            ("p-fallthrough", 2) => peers_fallthrough::<2>(race, &spin),
            ("p-fallthrough", 4) => peers_fallthrough::<4>(race, &spin),
            ("p-fallthrough", 8) => peers_fallthrough::<8>(race, &spin),
            ("p-fallthrough", 16) => peers_fallthrough::<16>(race, &spin),
            ("fallthrough", 2) => fallthrough::<2>(race),
            ("fallthrough", 4) => fallthrough::<4>(race),
            ("fallthrough", 16) => fallthrough::<16>(race),
            ("tie", 4) => tie::<4>(race),
            ("tie", 16) => tie::<16>(race),
            ("tie", 100) => tie::<100>(race),
            _ => panic!("no scenario {scenario} {n}"),
        }
    }
}

/// Whether `race` runs `scenario` at `n`: this crate's races run them all; the peers the
/// scenarios of `benches/peers` (the floor only with two attempts).
fn runs(race: Race, scenario: &str, n: usize) -> bool {
    match race {
        Race::Slab | Race::Array => true,
        Race::Floor => scenario == "p-lifecycle" || (scenario == "p-fallthrough" && n == 2),
        Race::FuturesUnordered | Race::SelectOk | Race::RaceOk => scenario.starts_with("p-"),
    }
}

/// The instructions callgrind counts for `races` races of one scenario.
fn count(race: &str, scenario: &str, n: usize, races: usize) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(&exe)
        .env(WORK, format!("{race} {scenario} {n} {races}"))
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("the workload failed under valgrind:\n{stderr}"));
    }
    stderr
        .lines()
        .find_map(|line| line.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count in valgrind's output:\n{stderr}"))
}

fn main() {
    if let Ok(work) = std::env::var(WORK) {
        let parts: Vec<&str> = work.split_whitespace().collect();
        let race = RACES
            .iter()
            .find(|(name, _)| *name == parts[0])
            .unwrap_or_else(|| panic!("no race {}", parts[0]))
            .1;
        run(
            race,
            parts[1],
            parts[2].parse().unwrap(),
            parts[3].parse().unwrap(),
        );
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("instructions: valgrind is not installed; nothing measured");
        return;
    }
    println!("instructions per race (callgrind; 2,000 races minus 1,000, over 1,000)");
    let mut head = format!("{:<12} {:>5}", "scenario", "N");
    for (name, _) in RACES {
        head += &format!(" {name:>17}");
    }
    println!("{head}");
    for &(scenario, n) in SCENARIOS {
        let mut row = format!("{scenario:<12} {n:>5}");
        for (name, race) in RACES {
            if !runs(race, scenario, n) {
                row += &format!(" {:>17}", "-");
                continue;
            }
            let per_race = count(name, scenario, n, 1000)
                .and_then(|a| Ok((a, count(name, scenario, n, 2000)?)))
                .map(|(a, b)| b.saturating_sub(a) / 1000);
            match per_race {
                Ok(per_race) => row += &format!(" {per_race:>17}"),
                Err(e) => {
                    eprintln!("{name} {scenario} {n}: {e}");
                    std::process::exit(1);
                }
            }
        }
        println!("{row}");
    }
}
