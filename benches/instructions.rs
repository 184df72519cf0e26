//! Instructions per race, counted by callgrind: figures that do not move with the machine's
//! load, for changes to the scheduler whose effect is a few percent (issue 20).
//!
//! `cargo bench --bench instructions` runs itself under `valgrind --tool=callgrind` once per
//! scenario with 1,000 races and once with 2,000, and prints the difference divided by 1,000:
//! the instructions of one race, without the process's start-up. It needs valgrind; without
//! it, it says so and ends.
//!
//! The scenarios, each on both races where the array race can run it:
//! - `lifecycle 1`: one attempt, ready with `Ok` on its first poll;
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

use staggered::testing::ManualClock;
use staggered::timer::NoTimer;
use staggered::{staggered_race, staggered_race_array, Staggered};

/// The environment variable that makes the process run one workload: `race scenario n races`.
const WORK: &str = "STAGGERED_INSTRUCTIONS_WORK";

/// The race kinds.
#[derive(Clone, Copy)]
enum Race {
    Slab,
    Array,
}

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
    };
    assert_eq!(winner, Some((N - 1, N - 1)));
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
    };
    assert_eq!(failed, N);
}

/// The scenarios: name, N, the races that run it.
const SCENARIOS: &[(&str, usize)] = &[
    ("lifecycle", 1),
    ("fallthrough", 2),
    ("fallthrough", 4),
    ("fallthrough", 16),
    ("tie", 4),
    ("tie", 16),
    ("tie", 100),
];

fn run(race: Race, scenario: &str, n: usize, races: usize) {
    for _ in 0..races {
        match (scenario, n) {
            ("lifecycle", 1) => lifecycle(race),
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
        let race = match parts[0] {
            "staggered" => Race::Slab,
            "staggered_array" => Race::Array,
            other => panic!("no race {other}"),
        };
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
    println!(
        "{:<12} {:>5} {:>12} {:>16}",
        "scenario", "N", "staggered", "staggered_array"
    );
    for &(scenario, n) in SCENARIOS {
        let mut row = format!("{scenario:<12} {n:>5}");
        for (race, width) in [("staggered", 12), ("staggered_array", 16)] {
            let per_race = count(race, scenario, n, 1000)
                .and_then(|a| Ok((a, count(race, scenario, n, 2000)?)))
                .map(|(a, b)| b.saturating_sub(a) / 1000);
            match per_race {
                Ok(per_race) => row += &format!(" {per_race:>width$}"),
                Err(e) => {
                    eprintln!("{race} {scenario} {n}: {e}");
                    std::process::exit(1);
                }
            }
        }
        println!("{row}");
    }
}
