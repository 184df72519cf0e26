//! `staggered::testing::check_timer` against timers with one defect each (it must reject each,
//! with the right kind and a message that says why), and against the crate's own virtual
//! timer. The runtime adapters are checked in the runtime suite (`tests/runtimes/mod.rs`),
//! where their runtimes are.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::executor::block_on;
use staggered::testing::{check_timer, ManualClock, TimerCheckError, TimerCheckFailure};
use staggered::timer::NoTimer;
use staggered::Timer;

/// One thing a [`TickTimer`] gets wrong, or nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Defect {
    None,
    /// A sleep keeps the waker of its first poll and wakes only that one.
    FirstWakerOnly,
    /// `reset` does nothing.
    LosesReset,
    /// A sleep ends halfway through its duration.
    FiresEarly,
    /// Deadlines are `now + milliseconds` in plain `u64` arithmetic: `Duration::MAX`
    /// overflows.
    Overflows,
    /// One deadline per waker, overwritten by the last sleep polled with it.
    LatestDeadlinePerWaker,
    /// A sleep that has completed stays complete, reset or not.
    Fused,
}

/// A millisecond tick count and the wakers waiting for it: one entry per waker, with a
/// deadline (the earliest of the sleeps polled with it, unless the defect says otherwise).
#[derive(Default)]
struct Ticks {
    now: u64,
    sleepers: Vec<(u64, Waker)>,
}

/// A tick-driven timer, as firmware writes one, with one defect.
#[derive(Clone)]
struct TickTimer {
    ticks: Arc<Mutex<Ticks>>,
    defect: Defect,
}

impl TickTimer {
    fn new(defect: Defect) -> Self {
        TickTimer {
            ticks: Arc::default(),
            defect,
        }
    }

    fn now(&self) -> u64 {
        self.ticks.lock().unwrap().now
    }

    /// The tick interrupt, `d` worth of it: wakes the due sleepers.
    fn advance(&self, d: Duration) {
        for _ in 0..d.as_millis() {
            let due: Vec<Waker> = {
                let mut ticks = self.ticks.lock().unwrap();
                ticks.now += 1;
                let now = ticks.now;
                let (due, later) = std::mem::take(&mut ticks.sleepers)
                    .into_iter()
                    .partition(|(deadline, _)| *deadline <= now);
                ticks.sleepers = later;
                due.into_iter().map(|(_, waker)| waker).collect()
            };
            due.into_iter().for_each(Waker::wake);
        }
    }

    fn deadline(&self, d: Duration) -> u64 {
        let now = self.now();
        match self.defect {
            Defect::FiresEarly => now.saturating_add(ticks(d) / 2),
            // The bug: `as` truncates, `+` overflows (a panic with debug assertions).
            Defect::Overflows => now + d.as_millis() as u64,
            _ => now.saturating_add(ticks(d)),
        }
    }

    fn check(&self) -> Result<(), TimerCheckError> {
        block_on(check_timer(self, Duration::from_millis(10), |d| {
            self.advance(d);
            std::future::ready(())
        }))
    }
}

/// Whole milliseconds in `d`, rounded up and saturated.
fn ticks(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

struct TickSleep {
    timer: TickTimer,
    deadline: u64,
    first_waker: Option<Waker>,
    done: bool,
}

impl Future for TickSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let waker = match (this.timer.defect, &this.first_waker) {
            (Defect::FirstWakerOnly, Some(first)) => first.clone(),
            _ => cx.waker().clone(),
        };
        this.first_waker.get_or_insert_with(|| cx.waker().clone());
        let mut ticks = this.timer.ticks.lock().unwrap();
        if ticks.now >= this.deadline || (this.done && this.timer.defect == Defect::Fused) {
            this.done = true;
            return Poll::Ready(());
        }
        let latest = this.timer.defect == Defect::LatestDeadlinePerWaker;
        match ticks.sleepers.iter_mut().find(|(_, w)| w.will_wake(&waker)) {
            Some((deadline, _)) if latest => *deadline = this.deadline,
            Some((deadline, _)) => *deadline = (*deadline).min(this.deadline),
            None => ticks.sleepers.push((this.deadline, waker)),
        }
        Poll::Pending
    }
}

impl Timer for TickTimer {
    type Sleep = TickSleep;

    fn sleep(&self, duration: Duration) -> TickSleep {
        TickSleep {
            timer: self.clone(),
            deadline: self.deadline(duration),
            first_waker: None,
            done: false,
        }
    }

    fn reset(&self, sleep: Pin<&mut TickSleep>, duration: Duration) {
        if self.defect != Defect::LosesReset {
            sleep.get_mut().deadline = self.deadline(duration);
        }
    }
}

fn rejected(defect: Defect) -> TimerCheckError {
    TickTimer::new(defect)
        .check()
        .expect_err("a timer with a defect must fail the check")
}

#[test]
fn a_correct_tick_timer_passes() {
    let timer = TickTimer::new(Defect::None);
    assert_eq!(timer.check(), Ok(()));
    // It took virtual time only, and the check's long sleeps never came due.
    assert!(timer.now() < 10_000, "{}", timer.now());
}

#[test]
fn a_timer_that_wakes_only_the_first_waker_is_rejected() {
    let err = rejected(Defect::FirstWakerOnly);
    assert_eq!(err.kind(), TimerCheckFailure::StaleWaker, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("polled with waker A, then waker B"),
        "{message}"
    );
    assert!(message.contains("woke A, not B"), "{message}");
    assert!(
        message.contains("must wake the waker of its last poll"),
        "{message}"
    );
}

#[test]
fn a_timer_that_loses_a_reset_is_rejected() {
    let err = rejected(Defect::LosesReset);
    assert_eq!(err.kind(), TimerCheckFailure::ResetLost, "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("a sleep of 1 day reset to 20ms"),
        "{message}"
    );
    assert!(message.contains("the reset was lost"), "{message}");
}

#[test]
fn a_timer_that_fires_early_is_rejected() {
    let err = rejected(Defect::FiresEarly);
    assert_eq!(err.kind(), TimerCheckFailure::FiredEarly, "{err}");
    assert_eq!(
        err.to_string(),
        "a sleep of 20ms completed 10ms after it was armed for 20ms: before its duration had \
         passed (a sleep may end late, never early)"
    );
}

#[test]
fn a_timer_that_overflows_on_duration_max_is_rejected() {
    let err = rejected(Defect::Overflows);
    assert_eq!(err.kind(), TimerCheckFailure::HugeDuration, "{err}");
    let message = err.to_string();
    assert!(
        // With debug assertions the addition panics; without, it wraps and the sleep ends.
        message.starts_with("the timer panicked on sleep(18446744073709551615.999999999s)")
            || message.contains("a huge duration must saturate"),
        "{message}"
    );
    if cfg!(debug_assertions) {
        assert!(
            message.contains("attempt to add with overflow"),
            "{message}"
        );
    }
}

#[test]
fn a_timer_that_keeps_the_latest_deadline_per_waker_is_rejected() {
    let err = rejected(Defect::LatestDeadlinePerWaker);
    assert_eq!(err.kind(), TimerCheckFailure::EarliestDeadlineLost, "{err}");
    let message = err.to_string();
    assert!(
        message
            .starts_with("two sleeps polled with the same waker (one of 20ms, then one of 1 day)"),
        "{message}"
    );
    assert!(message.contains("must keep the earliest"), "{message}");
}

#[test]
fn a_timer_whose_sleeps_stay_complete_after_a_reset_is_rejected() {
    let err = rejected(Defect::Fused);
    assert_eq!(err.kind(), TimerCheckFailure::ResetLost, "{err}");
    assert!(
        err.to_string()
            .starts_with("a sleep that had completed, reset to 20ms, was still complete"),
        "{err}"
    );
}

#[test]
fn the_manual_clock_passes() {
    let clock = ManualClock::new();
    let result = clock.block_on(check_timer(&clock, Duration::from_millis(10), |d| {
        clock.sleep(d)
    }));
    assert_eq!(result, Ok(()));
    // Virtual time only; every sleep of the check was dropped.
    assert!(clock.now() < Duration::from_secs(10), "{:?}", clock.now());
    assert_eq!(clock.live_sleeps(), 0);
}

#[test]
fn no_timer_fails_the_check_at_its_first_sleep() {
    let err = block_on(check_timer(
        &NoTimer,
        Duration::from_millis(10),
        |_| async {},
    ))
    .expect_err("NoTimer cannot sleep");
    assert_eq!(err.kind(), TimerCheckFailure::Panicked);
    assert_eq!(
        err.to_string(),
        "the timer panicked on sleep(20ms): staggered::timer::NoTimer cannot sleep (asked for \
         20ms): a race with a non-zero delay needs a real Timer"
    );
}
