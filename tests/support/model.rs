//! A reference model of the staggered race, a driver that runs the real race on the same
//! script in virtual time, and the comparison of the two.
//!
//! Shared by the property tests (`tests/model_props.rs`) and the fuzz targets
//! (`fuzz/fuzz_targets/*.rs`), which include this file with `#[path]`.
//!
//! # The script
//!
//! A [`Script`] says what each attempt does once started (succeed or fail `after` ticks later,
//! or never finish; `after == 0` means ready on its first poll), the race's delay (`None`,
//! `Some(0)` or `Some(ticks)`), and when the race is dropped, if it is. One tick is one
//! millisecond of the race's timer.
//!
//! # The model
//!
//! [`model`] is the documented semantics (issue 2 and the docs of `staggered_race`), written
//! as a plain event loop over virtual instants, with no futures, wakers or `unsafe`. At each
//! instant it handles, in this order:
//!
//! 1. the race being dropped (before anything else at that instant);
//! 2. the attempts that complete now, in start order (index), for both races and whatever
//!    the order of their wake-ups (`tie`, which only the driver uses): the first `Ok` wins
//!    and ends the race, and the later ones are cancelled; an `Err` of the newest attempt
//!    makes the next start due;
//! 3. the delay timer firing, which makes the next start due (so an attempt completing at the
//!    same instant is handled first, and a win at that instant starts nothing);
//! 4. the deadline, if it is due: nothing starts any more (every completion of this instant
//!    was handled above, however many: the budget of a poll does not cut them); if nothing
//!    runs and a start is due, the source is asked once whether anything is left (all-failed
//!    if not, timed out if so, and what it gave is never started); every running attempt is
//!    cancelled and the race ends;
//! 5. starts, as long as one is due: the attempt's closure is called and the attempt is
//!    polled at once, so an attempt ready on its first poll is handled within its start.
//!
//! Each instant is handled whole: how many polls of the race that takes (its budget of 128
//! units per poll) changes nothing here; the driver checks that the race does not spin.
//!
//! # The driver
//!
//! [`run`] runs the real [`staggered_race`] on the same script in virtual time, with a
//! scripted timer and scripted attempts, and adds noise that must not change the result,
//! taken from a byte string (`chaos`): spurious wake-ups of attempts, of the timer and of the
//! race, wake-ups delivered from another thread, the timer's wake placed anywhere among the
//! attempts', attempts that wake themselves or each other while polled, wakers kept after
//! their attempt finished and woken later, a new task waker on some polls, and the timer's
//! `reset` done in place or by replacement. While it runs it checks, and panics on, every
//! invariant it can see: no attempt polled without a wake (beyond what stale wakes explain),
//! no wake-up lost, every attempt dropped exactly once, no closure called after the race is
//! gone, at most one live sleep, no timer at all when the delay is `None` or zero.
//!
//! [`check`] runs both and compares start times, every attempt's fate and drop time, the
//! winner, when the race ended, and how many times the iterator was advanced. The driver may
//! also drop the race in the middle of an instant, right after it yielded with work left;
//! such a race must lie between the model dropped just before that instant and the model
//! dropped just after it.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use staggered::{staggered_race, staggered_race_array, Attempt, Event, Staggered, Timer};

/// Virtual time, in ticks (milliseconds of the race's timer).
pub type Time = u64;

/// Which race runs the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Race {
    /// `staggered_race`: precise wakers; attempts completing in one wake-up go in start
    /// order, whatever their wake order.
    Slab,
    /// `staggered_race_array`: the task's waker; attempts completing in one poll go in start
    /// order.
    Array,
}

/// The array lengths the driver compiles [`Race::Array`] for (each is one more copy of the
/// race in the binary); [`array_script`] cuts a script down to one of them.
///
/// 126 to 128 and 200 are where a round of the array race (one entry per running attempt,
/// and one for the sleep) no longer fits in one poll's budget of 128.
pub const ARRAY_LENS: [usize; 18] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 48, 126, 127, 128, 200,
];

/// `script` with its attempts cut down to the longest length in [`ARRAY_LENS`] it has, for
/// [`Race::Array`].
pub fn array_script(script: &Script) -> Script {
    let n = script.plans.len();
    let len = ARRAY_LENS
        .iter()
        .copied()
        .filter(|&l| l <= n)
        .max()
        .unwrap_or(0);
    let mut options = script.options.clone();
    options.stream = None; // the array race takes no stream
    Script {
        plans: script.plans[..len].to_vec(),
        options,
        ..script.clone()
    }
}

/// How an attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// `Ok(ok_value(index))`.
    Ok,
    /// `Err(index)`.
    Err,
    /// Never completes.
    Never,
}

/// What one attempt does once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Plan {
    /// How it ends.
    pub ending: Ending,
    /// Ticks from its start to its end; 0 means ready on its first poll. Ignored for `Never`.
    pub after: Time,
    /// The driver's wake order among attempts completing at the same instant: lower first,
    /// then lower index. It must not change the result: the race handles the completions of
    /// one round in start order.
    pub tie: u8,
}

/// A whole race.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Script {
    /// One plan per item of the iterator.
    pub plans: Vec<Plan>,
    /// The race's delay, in ticks.
    pub delay: Option<Time>,
    /// Drop the race at this instant, before it handles anything of that instant (0: before
    /// its first poll). `None`: run it to the end; a race that can make no more progress is
    /// dropped at the instant it got stuck.
    pub drop_at: Option<Time>,
    /// The builder's options; the default is `staggered_race` itself.
    pub options: Options,
}

/// The options of [`staggered::Staggered`] a script sets. The default sets none, and the
/// driver then runs `staggered_race` itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Options {
    /// `delay_fn`: the delay after attempt `i` is `delays[i]` (past the end: the script's
    /// `delay`). `None` here: a fixed delay.
    pub delays: Option<Vec<Option<Time>>>,
    /// `max_running`.
    pub max_running: Option<usize>,
    /// `cancel_oldest_when_full`.
    pub cancel_oldest: bool,
    /// `deadline`, from the first poll (instant 0).
    pub deadline: Option<Time>,
    /// `Staggered::from_stream`: attempt `i` can be pulled from the stream from instant
    /// `arrivals[i]` on (before that the stream is pending), and the stream ends at
    /// `stream_end`. `None`: an iterator. Only for [`Race::Slab`].
    pub stream: Option<(Vec<Time>, Time)>,
    /// The iterator (or the stream) tells its exact size (`size_hint`), so the race keeps a
    /// race of at most 4 attempts inline; otherwise it tells nothing, and the race uses its
    /// slab.
    /// Not a builder option: `staggered_race` itself takes it too. Only for [`Race::Slab`].
    pub sized: bool,
}

impl Options {
    /// Any of the builder's options set: the driver runs the builder.
    pub fn any(&self) -> bool {
        *self
            != Options {
                sized: self.sized,
                ..Options::default()
            }
    }
}

/// What a race reports to its observer, with the instant it happened at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seen {
    /// `Event::Started`.
    Started(usize),
    /// `Event::Failed`, with the error (which is the attempt's index).
    Failed(usize),
    /// `Event::Won`.
    Won(usize),
    /// `Event::Cancelled`.
    Cancelled(usize),
}

/// `events` with each run of `Cancelled` events at one instant sorted: the race reports the
/// cancellations of one ending in the order it drops them, which is its storage's order.
pub fn normalize(events: &[(Time, Seen)]) -> Vec<(Time, Seen)> {
    let mut out: Vec<(Time, Seen)> = events.to_vec();
    let mut i = 0;
    while i < out.len() {
        let mut j = i;
        while j < out.len() && matches!(out[j].1, Seen::Cancelled(_)) && out[j].0 == out[i].0 {
            j += 1;
        }
        out[i..j].sort();
        i = j.max(i + 1);
    }
    out
}

/// The value of a winning attempt.
pub fn ok_value(index: usize) -> u32 {
    1000 + index as u32
}

/// What became of one started attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    /// It returned `Ok` and won.
    Won,
    /// It returned `Err`.
    Failed,
    /// It was dropped while running (the race was won by another, or dropped).
    Cancelled,
}

/// How the race ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// It returned `Ready` at this instant, with this winner (index and value).
    Finished {
        /// When.
        at: Time,
        /// The winner.
        winner: Option<(usize, u32)>,
    },
    /// It was dropped at this instant (as the script said, or because it was stuck).
    Dropped {
        /// When.
        at: Time,
    },
}

/// Everything the model predicts and the driver observes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Trace {
    /// When each started attempt's closure was called, in start order.
    pub starts: Vec<Time>,
    /// What became of each started attempt.
    pub fates: Vec<Fate>,
    /// When each started attempt's future was dropped.
    pub drops: Vec<Time>,
    /// How the race ended.
    pub end: End,
    /// How many times the race called the iterator's `next`.
    pub next_calls: usize,
    /// The outcome's `timed_out` (false for a race that did not finish).
    pub timed_out: bool,
    /// What the observer saw (the builder's races only; empty for `staggered_race`),
    /// [`normalize`]d.
    pub events: Vec<(Time, Seen)>,
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum ModelState {
    Running,
    Done(Fate),
}

struct Model<'a> {
    script: &'a Script,
    race: Race,
    now: Time,
    starts: Vec<Time>,
    states: Vec<ModelState>,
    drops: Vec<Time>,
    next_calls: usize,
    start_due: bool,
    exhausted: bool,
    /// When the delay timer fires next, if it is counting down.
    timer: Option<Time>,
    winner: Option<(usize, u32)>,
    /// The deadline has passed: nothing starts any more.
    expired: bool,
    timed_out: bool,
    events: Vec<(Time, Seen)>,
}

impl Model<'_> {
    /// When a running attempt completes, if ever.
    fn deadline(&self, i: usize) -> Option<Time> {
        let plan = self.script.plans[i];
        match plan.ending {
            Ending::Never => None,
            _ => Some(self.starts[i] + plan.after),
        }
    }

    fn running(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.states.len()).filter(|&i| self.states[i] == ModelState::Running)
    }

    fn finish(&mut self, i: usize, fate: Fate) {
        self.states[i] = ModelState::Done(fate);
        self.drops[i] = self.now;
        let seen = match fate {
            Fate::Won => Seen::Won(i),
            Fate::Failed => Seen::Failed(i),
            Fate::Cancelled => Seen::Cancelled(i),
        };
        self.events.push((self.now, seen));
    }

    /// The delay after attempt `i` starts.
    fn delay_after(&self, i: usize) -> Option<Time> {
        match &self.script.options.delays {
            Some(delays) => delays.get(i).copied().unwrap_or(self.script.delay),
            None => self.script.delay,
        }
    }

    /// A due start can be made now.
    fn can_start(&self) -> bool {
        self.wants_item() && self.stream_pending().is_none()
    }

    /// Attempt `i` completes now.
    fn complete(&mut self, i: usize) {
        match self.script.plans[i].ending {
            Ending::Ok => {
                self.finish(i, Fate::Won);
                self.winner = Some((i, ok_value(i)));
                // Every other running attempt is dropped before the race returns.
                let losers: Vec<usize> = self.running().collect();
                for j in losers {
                    self.finish(j, Fate::Cancelled);
                }
                self.timer = None;
            }
            Ending::Err => {
                self.finish(i, Fate::Failed);
                // Only the newest attempt's failure starts the next one.
                if i + 1 == self.starts.len() && !self.exhausted {
                    self.start_due = true;
                    self.timer = None;
                }
            }
            Ending::Never => unreachable!("an attempt that never completes completed"),
        }
    }

    /// A start is due and could be made but for the stream: the race polls it (and makes the
    /// start if the stream has its item: [`can_start`](Self::can_start)).
    fn wants_item(&self) -> bool {
        let o = &self.script.options;
        self.winner.is_none()
            && self.start_due
            && !self.exhausted
            && !self.expired
            && (o.cancel_oldest || o.max_running.map_or(true, |n| self.running().count() < n))
    }

    /// The stream has nothing for the start that is due, at this instant: when it will.
    fn stream_pending(&self) -> Option<Time> {
        let (arrivals, end) = self.script.options.stream.as_ref()?;
        let i = self.starts.len();
        let ready_at = match arrivals.get(i) {
            Some(&at) if i < self.script.plans.len() => at,
            _ => *end,
        };
        (ready_at > self.now).then_some(ready_at)
    }

    /// The next start is due: advance the iterator, start and poll the attempt.
    fn start_next(&mut self) {
        self.start_due = false;
        let i = self.starts.len();
        if i < self.script.plans.len() || self.race == Race::Slab {
            // The array race's last call, which finds the array empty, cannot be seen.
            self.next_calls += 1;
        }
        if i == self.script.plans.len() {
            self.exhausted = true;
            self.timer = None;
            return;
        }
        if let Some(n) = self.script.options.max_running {
            if self.running().count() >= n {
                // At the cap with cancel-oldest: the oldest running attempt makes room.
                let oldest = self.running().next().expect("the cap is at least 1");
                self.finish(oldest, Fate::Cancelled);
            }
        }
        self.starts.push(self.now);
        self.states.push(ModelState::Running);
        self.drops.push(Time::MAX);
        self.events.push((self.now, Seen::Started(i)));
        let plan = self.script.plans[i];
        if plan.ending != Ending::Never && plan.after == 0 {
            // Ready on its first poll, which is part of its start.
            self.complete(i);
            return;
        }
        match self.delay_after(i) {
            None => {}
            Some(0) => self.start_due = true,
            Some(d) => self.timer = Some(self.now.saturating_add(d)),
        }
    }

    fn run(mut self) -> Trace {
        let end = loop {
            // 1. The race is dropped before it handles this instant.
            if self.script.drop_at.is_some_and(|d| d <= self.now) {
                let running: Vec<usize> = self.running().collect();
                for i in running {
                    self.finish(i, Fate::Cancelled);
                }
                break End::Dropped { at: self.now };
            }
            // 2. Completions, in start order (the tie rule of both races; `tie` is only the
            // order the driver wakes them in).
            let due: Vec<usize> = self
                .running()
                .filter(|&i| self.deadline(i) == Some(self.now))
                .collect();
            for i in due {
                if self.winner.is_some() {
                    break; // dropped with the other losers
                }
                self.complete(i);
            }
            // 3. The timer.
            if self.winner.is_none() && self.timer == Some(self.now) {
                self.timer = None;
                self.start_due = true;
            }
            // The deadline (seen at the start of the race's poll; what woke with it was
            // handled above, so ties go to the attempts): nothing more starts.
            if self.script.options.deadline.is_some_and(|d| d <= self.now) {
                self.expired = true;
            }
            // 4. Starts.
            while self.can_start() {
                self.start_next();
            }
            if self.winner.is_some() {
                break End::Finished {
                    at: self.now,
                    winner: self.winner,
                };
            }
            if self.expired {
                // Nothing runs and a start is due (a failure at this instant, or before it
                // while the stream was pending, or the first poll): the source is asked once
                // whether anything was left. An item it has is dropped, never started.
                if self.running().next().is_none()
                    && self.start_due
                    && !self.exhausted
                    && self.stream_pending().is_none()
                {
                    if self.race == Race::Slab {
                        // (The array race's call is not seen: no closure is called.)
                        self.next_calls += 1;
                    }
                    self.exhausted = self.starts.len() == self.script.plans.len();
                }
                // Every running attempt is cancelled; timed out unless all had failed with
                // the source done.
                let running: Vec<usize> = self.running().collect();
                self.timed_out = !running.is_empty() || !self.exhausted;
                for i in running {
                    self.finish(i, Fate::Cancelled);
                }
                break End::Finished {
                    at: self.now,
                    winner: None,
                };
            }
            if self.exhausted && self.running().next().is_none() {
                break End::Finished {
                    at: self.now,
                    winner: None,
                };
            }
            // 5. The next instant at which anything happens.
            let next_event = self
                .running()
                .filter_map(|i| self.deadline(i))
                .chain(self.timer)
                .chain(self.script.options.deadline)
                .chain(self.wants_item().then(|| self.stream_pending()).flatten())
                .filter(|&t| t > self.now)
                .min();
            match (next_event, self.script.drop_at) {
                (Some(e), Some(d)) => self.now = e.min(d),
                (Some(e), None) => self.now = e,
                (None, Some(d)) => self.now = d,
                (None, None) => {
                    // Stuck: nothing will ever happen again. The driver drops it now.
                    let running: Vec<usize> = self.running().collect();
                    for i in running {
                        self.finish(i, Fate::Cancelled);
                    }
                    break End::Dropped { at: self.now };
                }
            }
        };
        let fates = self
            .states
            .iter()
            .map(|s| match s {
                ModelState::Done(f) => *f,
                ModelState::Running => unreachable!("every attempt ends with the race"),
            })
            .collect();
        let events = if self.script.options.any() {
            normalize(&self.events)
        } else {
            Vec::new()
        };
        Trace {
            starts: self.starts,
            fates,
            drops: self.drops,
            end,
            next_calls: self.next_calls,
            timed_out: self.timed_out,
            events,
        }
    }
}

/// What the documented semantics say `staggered_race` does with `script`.
pub fn model(script: &Script) -> Trace {
    model_for(script, Race::Slab)
}

/// What the documented semantics say `race` does with `script`.
pub fn model_for(script: &Script, race: Race) -> Trace {
    Model {
        script,
        race,
        now: 0,
        starts: Vec::new(),
        states: Vec::new(),
        drops: Vec::new(),
        next_calls: 0,
        start_due: true, // the first poll starts attempt 0
        exhausted: false,
        timer: None,
        winner: None,
        expired: false,
        timed_out: false,
        events: Vec::new(),
    }
    .run()
}

// ---------------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------------

/// A source of driver decisions: the chaos bytes, then zeros.
struct Chaos {
    bytes: Vec<u8>,
    pos: usize,
}

impl Chaos {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// `true` with probability `n / 8` for uniform chaos bytes; never for a zero byte, so
    /// that no chaos means no noise.
    fn one_in_8(&mut self, n: u8) -> bool {
        self.byte() % 8 >= 8 - n
    }
}

/// The driver's view of one started attempt.
struct Live {
    start: Time,
    deadline: Option<Time>,
    /// The waker of its last poll, kept even after it finished (a stale waker).
    waker: Option<Waker>,
    /// Woken since its last poll.
    woken: bool,
    polls: u32,
    completed: Option<(bool, Time)>,
    dropped: Option<Time>,
    self_wakes_left: u8,
    busy: Busy,
    /// Its last poll was with the task's waker, not one of the race's own.
    last_imprecise: bool,
}

/// How an attempt keeps the race busy on every poll in which it stays pending, for as long as
/// it runs: the hostile attempts of a `yield_now` loop, of two tasks that keep waking each
/// other, of a thread that wakes without pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    /// Not busy (it may still wake itself a few times: `self_wakes_left`).
    No,
    /// Wakes itself.
    SelfWake,
    /// Wakes another running attempt (two such attempts wake each other without end).
    WakeOther,
    /// Is woken from another thread before its poll returns.
    Remote,
}

struct SleepState {
    deadline: Time,
    waker: Option<Waker>,
}

struct Sim {
    /// The waker the driver polls the race with now: a poll of an attempt with it (rather
    /// than with a waker of the race's own) is the array race's poll-everything.
    task_waker: Option<Waker>,
    /// The array race takes its closures out of an array the driver made: what it calls is
    /// counted, instead of the iterator's `next`.
    count_closures: bool,
    now: Time,
    plans: Vec<Plan>,
    attempts: Vec<Live>,
    chaos: Chaos,
    next_calls: usize,
    /// The race has been dropped or has returned `Ready`.
    race_gone: bool,
    /// Wakes of finished attempts (stale wakes), delivered anywhere in an instant: they must
    /// poll nothing, not even an attempt that reused the finished one's slot.
    stale_allowance: u64,
    unexplained_polls: u64,
    sleeps: BTreeMap<u64, SleepState>,
    next_sleep_id: u64,
    sleeps_created: usize,
    resets: usize,
    max_live_sleeps: usize,
    /// Sleeps that may be alive at once: the delay's, and the deadline's if there is one.
    sleeps_allowed: usize,
    in_reset: bool,
    reset_by_replace: bool,
    /// What the builder's observer saw, and the indices `delay_fn` was asked about.
    events: Vec<(Time, Seen)>,
    /// The waker a pending stream keeps, and when its next item (or end) comes.
    stream_waker: Option<(Time, Waker)>,
    delay_calls: Vec<usize>,
    /// Statistics.
    stats: Stats,
}

/// Counters from one run of the driver.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Polls of the race.
    pub race_polls: u64,
    /// Polls of attempts.
    pub attempt_polls: u64,
    /// Wakes delivered to attempts by the driver, spurious ones included.
    pub wakes: u64,
    /// Of those, delivered from the helper thread.
    pub remote_wakes: u64,
    /// Spurious wakes (attempts not due, timer, stale wakers, the race itself).
    pub spurious: u64,
    /// Times an attempt woke itself or another attempt while polled.
    pub wakes_in_poll: u64,
    /// Attempts that were busy: waking themselves, another attempt, or woken from another
    /// thread on every poll.
    pub busy: u64,
    /// Instants the driver left with the race still woken, because busy attempts kept it so.
    pub busy_instants: u64,
    /// The most attempts that completed at one instant: woken together, one round of the
    /// race (more than 128 is more than one poll's budget).
    pub max_due_at_once: u64,
    /// Attempts that completed at the deadline's instant, and of those, how many failed.
    pub due_at_deadline: u64,
    /// See `due_at_deadline`.
    pub failed_at_deadline: u64,
    /// For [`Race::Array`], the array's length `N`.
    pub array_len: Option<usize>,
}

type SimRef = Rc<RefCell<Sim>>;

impl Sim {
    /// Marks attempt `i` woken (accounting only; the caller wakes the waker).
    fn note_wake(&mut self, i: usize) {
        let a = &mut self.attempts[i];
        if a.dropped.is_some() {
            self.stale_allowance += 1;
        } else {
            a.woken = true;
        }
    }

    fn live_sleeps(&self) -> usize {
        self.sleeps.len()
    }

    /// Another running attempt than `i`, picked by `pick`, that is not due now (a due one was
    /// woken already, in its place in the wake order).
    fn other_to_wake(&self, i: usize, pick: usize) -> Option<usize> {
        let now = self.now;
        let others: Vec<usize> = (0..self.attempts.len())
            .filter(|&j| {
                let b = &self.attempts[j];
                j != i
                    && b.dropped.is_none()
                    && b.completed.is_none()
                    && b.waker.is_some()
                    && b.deadline.map_or(true, |d| d > now)
            })
            .collect();
        (!others.is_empty()).then(|| others[pick % others.len()])
    }

    /// A running attempt that will complete some day is woken and not yet polled. Its wake
    /// would come before its place in the wake order of the instant it completes at, so the
    /// driver moves on only once there is none.
    fn timed_woken(&self) -> bool {
        self.attempts.iter().any(|a| {
            a.woken && a.dropped.is_none() && a.completed.is_none() && a.deadline.is_some()
        })
    }

    /// Another running attempt than `i` that never completes, picked by `pick`: what a busy
    /// attempt wakes (waking one that completes would keep `timed_woken` true for ever).
    fn endless_to_wake(&self, i: usize, pick: usize) -> Option<usize> {
        let others: Vec<usize> = (0..self.attempts.len())
            .filter(|&j| {
                let b = &self.attempts[j];
                j != i && b.dropped.is_none() && b.waker.is_some() && b.deadline.is_none()
            })
            .collect();
        (!others.is_empty()).then(|| others[pick % others.len()])
    }

    /// A running attempt keeps the race busy.
    fn busy_running(&self) -> bool {
        self.attempts
            .iter()
            .any(|a| a.busy != Busy::No && a.dropped.is_none() && a.completed.is_none())
    }
}

/// A scripted attempt.
struct SimAttempt {
    sim: SimRef,
    index: usize,
    finished: bool,
}

impl Future for SimAttempt {
    type Output = Result<u32, u32>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u32, u32>> {
        assert!(!self.finished, "attempt {} polled after Ready", self.index);
        let i = self.index;
        let sim = Rc::clone(&self.sim);
        let mut sim = sim.borrow_mut();
        let sim = &mut *sim;
        assert!(!sim.race_gone, "attempt {i} polled after the race ended");
        sim.stats.attempt_polls += 1;
        let now = sim.now;
        let a = &mut sim.attempts[i];
        a.polls += 1;
        // Polled with the task's waker: the array race polls everything, and the slab race
        // polls a new attempt so until it has wakers of its own, then once more with its own.
        // `Waker::data` is Rust 1.83, above the library's MSRV; the tests run on stable.
        #[allow(clippy::incompatible_msrv)]
        let precise = !sim
            .task_waker
            .as_ref()
            // By data pointer: under miri `will_wake` may see two copies of one vtable.
            .is_some_and(|t| t.data() == cx.waker().data());
        let a = &mut sim.attempts[i];
        let after_imprecise = std::mem::replace(&mut a.last_imprecise, !precise);
        if a.polls > 1 && !a.woken && precise && !after_imprecise {
            sim.unexplained_polls += 1;
            // Stale wakes (of finished attempts) must not poll the attempt that reused their
            // slot: every poll after the first needs a wake of the attempt's own.
            assert_eq!(
                sim.unexplained_polls, 0,
                "attempt {i} polled at {now} without being woken (stale wakes so far: {})",
                sim.stale_allowance
            );
        }
        let a = &mut sim.attempts[i];
        a.woken = false;
        match &a.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => a.waker = Some(cx.waker().clone()),
        }
        if a.deadline.is_some_and(|d| d <= now) {
            let ok = sim.plans[i].ending == Ending::Ok;
            a.completed = Some((ok, now));
            self.finished = true;
            // Sometimes wake itself in its last poll: a stale wake the race must survive.
            if sim.chaos.one_in_8(1) {
                sim.stats.wakes_in_poll += 1;
                sim.note_wake(i);
                sim.attempts[i].waker.as_ref().unwrap().wake_by_ref();
            }
            return Poll::Ready(if ok { Ok(ok_value(i)) } else { Err(i as u32) });
        }
        // Pending. Busy attempts keep the race busy on every poll.
        match sim.attempts[i].busy {
            Busy::No => {}
            Busy::SelfWake => {
                sim.stats.wakes_in_poll += 1;
                sim.note_wake(i);
                sim.attempts[i].waker.as_ref().unwrap().wake_by_ref();
                return Poll::Pending;
            }
            Busy::Remote => {
                sim.stats.wakes_in_poll += 1;
                sim.stats.remote_wakes += 1;
                sim.note_wake(i);
                let waker = sim.attempts[i].waker.clone().unwrap();
                remote_wake(waker);
                return Poll::Pending;
            }
            Busy::WakeOther => {
                let pick = usize::from(sim.chaos.byte());
                if let Some(j) = sim.endless_to_wake(i, pick) {
                    sim.stats.wakes_in_poll += 1;
                    sim.note_wake(j);
                    sim.attempts[j].waker.as_ref().unwrap().wake_by_ref();
                }
                return Poll::Pending;
            }
        }
        // Sometimes wake itself (a yield), or another running attempt.
        let c = sim.chaos.byte();
        if c % 8 == 1 && sim.attempts[i].self_wakes_left > 0 {
            sim.attempts[i].self_wakes_left -= 1;
            sim.stats.wakes_in_poll += 1;
            sim.note_wake(i);
            sim.attempts[i].waker.as_ref().unwrap().wake_by_ref();
        } else if c % 8 == 2 {
            if let Some(j) = sim.other_to_wake(i, usize::from(c / 8)) {
                sim.stats.wakes_in_poll += 1;
                sim.note_wake(j);
                sim.attempts[j].waker.clone().unwrap().wake();
            }
        }
        Poll::Pending
    }
}

impl Drop for SimAttempt {
    fn drop(&mut self) {
        let mut sim = self.sim.borrow_mut();
        let now = sim.now;
        let a = &mut sim.attempts[self.index];
        assert!(
            a.dropped.is_none(),
            "attempt {} dropped twice (at {:?} and {now})",
            self.index,
            a.dropped
        );
        a.dropped = Some(now);
        if a.woken {
            // Its cell may still be queued, and its slot may go to a new attempt.
            a.woken = false;
            sim.stale_allowance += 1;
        }
    }
}

/// The iterator of closures: counts `next` calls.
struct Source {
    sim: SimRef,
    next: usize,
    len: usize,
    /// Tells its exact size ([`Options::sized`]).
    sized: bool,
}

impl Iterator for Source {
    type Item = Box<dyn FnOnce() -> SimAttempt>;

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.sized {
            let left = self.len - self.next;
            (left, Some(left))
        } else {
            (0, None)
        }
    }

    fn next(&mut self) -> Option<Self::Item> {
        {
            let mut sim = self.sim.borrow_mut();
            assert!(!sim.race_gone, "iterator advanced after the race ended");
            sim.next_calls += 1;
        }
        if self.next == self.len {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let sim = Rc::clone(&self.sim);
        Some(Box::new(move || {
            {
                let mut s = sim.borrow_mut();
                assert!(!s.race_gone, "closure {index} called after the race ended");
                assert_eq!(s.attempts.len(), index, "closures called out of order");
                if s.count_closures {
                    s.next_calls += 1;
                }
                let plan = s.plans[index];
                let start = s.now;
                let self_wakes_left = s.chaos.byte() % 4;
                // Only an attempt that never completes is busy: one that completes would be
                // queued already when its completion is due, out of its place in the wake order.
                let busy = match s.chaos.byte() % 32 {
                    _ if plan.ending != Ending::Never => Busy::No,
                    24..=26 => Busy::SelfWake,
                    27..=30 => Busy::WakeOther,
                    31 => Busy::Remote,
                    _ => Busy::No,
                };
                if busy != Busy::No {
                    s.stats.busy += 1;
                }
                s.attempts.push(Live {
                    start,
                    deadline: match plan.ending {
                        Ending::Never => None,
                        _ => Some(start + plan.after),
                    },
                    waker: None,
                    woken: false,
                    polls: 0,
                    completed: None,
                    dropped: None,
                    self_wakes_left,
                    busy,
                    last_imprecise: false,
                });
            }
            SimAttempt {
                sim,
                index,
                finished: false,
            }
        }))
    }
}

/// The script's attempts as a stream: item `i` from instant `arrivals[i]`, the end from
/// `end`; pending before, with the task's waker kept to be woken then.
struct SimStream {
    source: Source,
    arrivals: Vec<Time>,
    end: Time,
}

impl futures_core::Stream for SimStream {
    type Item = Box<dyn FnOnce() -> SimAttempt>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let i = self.source.next;
        let ready_at = match self.arrivals.get(i) {
            Some(&at) if i < self.source.len => at,
            _ => self.end,
        };
        {
            let mut sim = self.source.sim.borrow_mut();
            assert!(!sim.race_gone, "stream polled after the race ended");
            if ready_at > sim.now {
                sim.stream_waker = Some((ready_at, cx.waker().clone()));
                return Poll::Pending;
            }
            sim.stream_waker = None;
        }
        Poll::Ready(self.source.next())
    }

    /// The source's (so a sized stream of at most 4 runs on the inline slots too).
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.source.size_hint()
    }
}

/// The race's timer, in the same virtual time.
#[derive(Clone)]
struct SimTimer(SimRef);

struct SimSleep {
    sim: SimRef,
    id: u64,
}

impl Timer for SimTimer {
    type Sleep = SimSleep;

    fn sleep(&self, duration: Duration) -> SimSleep {
        let mut sim = self.0.borrow_mut();
        assert!(!sim.race_gone, "timer used after the race ended");
        let id = sim.next_sleep_id;
        sim.next_sleep_id += 1;
        sim.sleeps_created += 1;
        let deadline = sim.now + duration.as_millis() as Time;
        sim.sleeps.insert(
            id,
            SleepState {
                deadline,
                waker: None,
            },
        );
        let live = sim.live_sleeps();
        assert!(
            live <= sim.sleeps_allowed || sim.in_reset,
            "{live} sleeps alive at once (at most {})",
            sim.sleeps_allowed
        );
        sim.max_live_sleeps = sim.max_live_sleeps.max(live - usize::from(sim.in_reset));
        SimSleep {
            sim: Rc::clone(&self.0),
            id,
        }
    }

    fn reset(&self, mut sleep: Pin<&mut SimSleep>, duration: Duration) {
        let replace = {
            let mut sim = self.0.borrow_mut();
            sim.resets += 1;
            sim.reset_by_replace
        };
        if replace {
            self.0.borrow_mut().in_reset = true;
            sleep.set(self.sleep(duration));
            self.0.borrow_mut().in_reset = false;
        } else {
            let mut sim = self.0.borrow_mut();
            let deadline = sim.now + duration.as_millis() as Time;
            sim.sleeps.get_mut(&sleep.id).expect("live sleep").deadline = deadline;
        }
    }
}

impl Future for SimSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut sim = self.sim.borrow_mut();
        let now = sim.now;
        let s = sim.sleeps.get_mut(&self.id).expect("live sleep");
        if s.deadline <= now {
            Poll::Ready(())
        } else {
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for SimSleep {
    fn drop(&mut self) {
        self.sim.borrow_mut().sleeps.remove(&self.id);
    }
}

/// The task waker of the race: a flag.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Wakes `waker` on another thread, and returns once it has: wake-ups from "another thread".
///
/// One thread serves the whole process (a thread per run would cost more than the run). It
/// takes each waker through a slot and a flag, and spins for a while after each job before
/// it parks, so that the many remote wakes of one run cost a cache-line hand-off each, not a
/// futex wake-up and a context switch both ways (that was 70% of the fuzz target's time).
/// Under miri, which is slow anyway and checks that no thread outlives the test, a scoped
/// thread per wake.
fn remote_wake(waker: Waker) {
    #[cfg(not(miri))]
    remote::wake(waker);
    #[cfg(miri)]
    std::thread::scope(|s| {
        s.spawn(move || waker.wake());
    });
}

#[cfg(not(miri))]
mod remote {
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
    use std::sync::{Mutex, OnceLock};
    use std::task::Waker;
    use std::thread::Thread;
    use std::time::{Duration, Instant};

    const IDLE: u8 = 0;
    const JOB: u8 = 1;
    const DONE: u8 = 2;
    /// How long the thread spins for the next job before it parks.
    const SPIN: Duration = Duration::from_micros(200);

    struct Remote {
        state: AtomicU8,
        slot: Mutex<Option<Waker>>,
        parked: AtomicBool,
        thread: Thread,
        /// One caller at a time (tests run in parallel).
        caller: Mutex<()>,
    }

    fn remote() -> &'static Remote {
        static REMOTE: OnceLock<&'static Remote> = OnceLock::new();
        REMOTE.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<&'static Remote>();
            let thread = std::thread::spawn(move || {
                let r: &'static Remote = rx.recv().expect("the remote's state");
                serve(r)
            });
            let r: &'static Remote = Box::leak(Box::new(Remote {
                state: AtomicU8::new(IDLE),
                slot: Mutex::new(None),
                parked: AtomicBool::new(false),
                thread: thread.thread().clone(),
                caller: Mutex::new(()),
            }));
            tx.send(r).expect("the remote thread is alive");
            r
        })
    }

    fn serve(r: &'static Remote) -> ! {
        loop {
            let since = Instant::now();
            let mut spins = 0u32;
            while r.state.load(Ordering::Acquire) != JOB {
                spins = spins.wrapping_add(1);
                // Look at the clock only now and then: it costs more than a spin.
                if spins % 1024 != 0 || since.elapsed() < SPIN {
                    std::hint::spin_loop();
                    continue;
                }
                r.parked.store(true, Ordering::SeqCst);
                if r.state.load(Ordering::SeqCst) != JOB {
                    std::thread::park_timeout(Duration::from_millis(100));
                }
                r.parked.store(false, Ordering::SeqCst);
            }
            let waker = r.slot.lock().unwrap().take().expect("a waker with the job");
            waker.wake();
            r.state.store(DONE, Ordering::Release);
        }
    }

    /// Wakes `waker` on the remote thread and returns once it has.
    pub fn wake(waker: Waker) {
        let r = remote();
        let _one = r.caller.lock().unwrap_or_else(|e| e.into_inner());
        *r.slot.lock().unwrap() = Some(waker);
        r.state.store(JOB, Ordering::SeqCst);
        if r.parked.load(Ordering::SeqCst) {
            r.thread.unpark();
        }
        let mut spins = 0u32;
        while r.state.load(Ordering::Acquire) != DONE {
            spins += 1;
            if spins < 1 << 12 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        r.state.store(IDLE, Ordering::Relaxed);
    }
}

/// One wake the driver delivers at an instant.
#[derive(Clone, Copy)]
enum Target {
    Attempt(usize),
    /// The first live sleep (for spurious wakes).
    Timer,
    /// This sleep, which is due.
    Sleep(u64),
}

/// Delivers one wake to `target` (an attempt's kept waker, or the live sleep's), here or on
/// the remote thread, by `wake_by_ref` or `wake`, as the chaos says. `false` if the target had
/// no waker to wake.
fn deliver(sim: &SimRef, target: Target, spurious: bool) -> bool {
    let (waker, how) = {
        let mut s = sim.borrow_mut();
        let how = s.chaos.byte();
        let waker = match target {
            Target::Attempt(i) => {
                let Some(w) = s.attempts[i].waker.clone() else {
                    return false;
                };
                s.note_wake(i);
                s.stats.wakes += 1;
                w
            }
            Target::Timer | Target::Sleep(_) => {
                let sleep = match target {
                    Target::Sleep(id) => s.sleeps.get_mut(&id),
                    _ => s.sleeps.values_mut().next(),
                };
                let Some(sleep) = sleep else {
                    return false;
                };
                // A real timer hands its waker over when it fires; a spurious wake keeps it.
                let w = if spurious {
                    sleep.waker.clone()
                } else {
                    sleep.waker.take()
                };
                let Some(w) = w else {
                    return false;
                };
                w
            }
        };
        if spurious {
            s.stats.spurious += 1;
        }
        if how % 8 == 7 {
            s.stats.remote_wakes += 1;
        }
        (waker, how)
    };
    match how % 8 {
        0..=2 => waker.wake_by_ref(),
        3..=6 => waker.wake(),
        _ => remote_wake(waker),
    }
    true
}

/// Polls of the race in a row that start nothing, after which the driver lets time go on while
/// busy attempts keep the race woken, with `running` attempts running. A start that is due
/// must have happened by then: the race promises it within `ceil((2n + 1) / 128) + 1` polls
/// of the wake that made it due (all of an instant's wakes come before its first poll), and
/// this leaves one poll to spare. Starts that follow each other (a zero delay) each reset the
/// count.
fn busy_polls(running: usize) -> u64 {
    (2 * running as u64 + 1).div_ceil(128) + 2
}

/// What the driver saw, and its counters.
pub struct Run {
    /// The observed trace.
    pub trace: Trace,
    /// Counters.
    pub stats: Stats,
    /// The race was dropped in the middle of an instant: after it yielded with work left
    /// (its budget ran out, or attempts woke themselves), before it had handled everything.
    pub dropped_mid_instant: bool,
}

/// Runs the real race on `script`, with noise from `chaos`, in virtual time.
pub fn run(script: &Script, chaos: &[u8]) -> Run {
    run_race(script, chaos, Race::Slab)
}

/// What both races resolve to, for the driver: the winner, the entries, `timed_out`.
type Resolved = (Option<(usize, u32)>, Vec<Attempt<u32>>, bool);

/// The builder over `attempts`, with `script`'s options, observed into `sim`.
macro_rules! configured {
    ($builder:expr, $script:expr, $sim:expr) => {{
        let script: &Script = $script;
        let o = &script.options;
        let builder = $builder;
        let builder = match script.delay {
            None => builder.sequential(),
            Some(d) => builder.delay(Duration::from_millis(d)),
        };
        let (delays, fixed, calls) = (o.delays.clone(), script.delay, Rc::clone($sim));
        let builder = builder.delay_fn(move |index| {
            calls.borrow_mut().delay_calls.push(index);
            let ticks = match &delays {
                Some(delays) => delays.get(index).copied().unwrap_or(fixed),
                None => fixed,
            };
            ticks.map(Duration::from_millis)
        });
        let builder = builder.max_running(o.max_running.unwrap_or(usize::MAX));
        let builder = if o.cancel_oldest {
            builder.cancel_oldest_when_full()
        } else {
            builder
        };
        let builder = match o.deadline {
            Some(d) => builder.deadline(Duration::from_millis(d)),
            None => builder,
        };
        let seen = Rc::clone($sim);
        builder.on_event(move |event: Event<'_, u32>| {
            let mut s = seen.borrow_mut();
            let at = s.now;
            let event = match event {
                Event::Started { index } => Seen::Started(index),
                Event::Failed { index, error } => {
                    assert_eq!(*error as usize, index, "the error of attempt {index}");
                    Seen::Failed(index)
                }
                Event::Won { index } => Seen::Won(index),
                Event::Cancelled { index } => Seen::Cancelled(index),
            };
            s.events.push((at, event));
        })
    }};
}

/// `staggered_race_array` (or the builder's `race_array`, with options) over `attempts`,
/// which has exactly `N` closures.
fn array_race<const N: usize>(
    attempts: Vec<Box<dyn FnOnce() -> SimAttempt>>,
    script: &Script,
    sim: &SimRef,
    timer: SimTimer,
) -> Pin<Box<dyn Future<Output = Resolved>>> {
    let Ok(attempts) = <[_; N]>::try_from(attempts) else {
        unreachable!("N closures")
    };
    if script.options.any() {
        let race = configured!(Staggered::new(attempts), script, sim).race_array(timer);
        return Box::pin(async move {
            let outcome = race.await;
            (outcome.winner, outcome.attempts.to_vec(), outcome.timed_out)
        });
    }
    let race = staggered_race_array(attempts, script.delay.map(Duration::from_millis), timer);
    Box::pin(async move {
        let outcome = race.await;
        (outcome.winner, outcome.attempts.to_vec(), outcome.timed_out)
    })
}

macro_rules! array_races {
    ($attempts:expr, $script:expr, $sim:expr, $timer:expr; $($n:literal)*) => {
        match $attempts.len() {
            $($n => array_race::<$n>($attempts, $script, $sim, $timer),)*
            n => panic!("no array race of {n} attempts is compiled in: see `array_script`"),
        }
    };
}

/// Runs `race` on `script`, with noise from `chaos`, in virtual time.
pub fn run_race(script: &Script, chaos: &[u8], kind: Race) -> Run {
    let mut chaos = Chaos {
        bytes: chaos.to_vec(),
        pos: 0,
    };
    let reset_by_replace = chaos.byte() % 2 == 1;
    let sim: SimRef = Rc::new(RefCell::new(Sim {
        task_waker: None,
        count_closures: false,
        now: 0,
        plans: script.plans.clone(),
        attempts: Vec::new(),
        chaos,
        next_calls: 0,
        race_gone: false,
        stale_allowance: 0,
        unexplained_polls: 0,
        sleeps: BTreeMap::new(),
        next_sleep_id: 0,
        sleeps_created: 0,
        resets: 0,
        max_live_sleeps: 0,
        sleeps_allowed: 1 + usize::from(script.options.deadline.is_some()),
        in_reset: false,
        events: Vec::new(),
        stream_waker: None,
        delay_calls: Vec::new(),
        reset_by_replace,
        stats: Stats::default(),
    }));
    let source = Source {
        sim: Rc::clone(&sim),
        next: 0,
        len: script.plans.len(),
        sized: script.options.sized,
    };
    let delay = script.delay.map(Duration::from_millis);
    let timer = SimTimer(Rc::clone(&sim));
    let race: Pin<Box<dyn Future<Output = Resolved>>> = match kind {
        Race::Slab if script.options.stream.is_some() => {
            let (arrivals, end) = script.options.stream.clone().expect("a stream");
            let stream = SimStream {
                source,
                arrivals,
                end,
            };
            let race = configured!(Staggered::from_stream(stream), script, &sim).race(timer);
            Box::pin(async move {
                let outcome = race.await;
                (outcome.winner, outcome.attempts, outcome.timed_out)
            })
        }
        Race::Slab if script.options.any() => {
            let race = configured!(Staggered::new(source), script, &sim).race(timer);
            Box::pin(async move {
                let outcome = race.await;
                (outcome.winner, outcome.attempts, outcome.timed_out)
            })
        }
        Race::Slab => {
            let race = staggered_race(source, delay, timer);
            Box::pin(async move {
                let outcome = race.await;
                (outcome.winner, outcome.attempts, outcome.timed_out)
            })
        }
        Race::Array => {
            // The array is made up front; the closures the race calls are counted as its
            // `next` calls (the one that finds the array empty cannot be seen).
            let attempts: Vec<_> = source.collect();
            let mut s = sim.borrow_mut();
            s.next_calls = 0;
            s.count_closures = true;
            s.stats.array_len = Some(attempts.len());
            drop(s);
            array_races!(attempts, script, &sim, timer; 0 1 2 3 4 5 6 7 8 12 16 24 32 48 126 127 128 200)
        }
    };
    let mut race = Some(race);
    let mut flag = Arc::new(Flag::default());
    let mut waker = Waker::from(Arc::clone(&flag));
    flag.0.store(true, Ordering::SeqCst); // the first poll
    let n = script.plans.len() as u64;
    let mut outcome: Option<Resolved> = None;
    let mut dropped_mid_instant = false;
    let end = 'instants: loop {
        let now = sim.borrow().now;
        // Drop before this instant is handled?
        if script.drop_at.is_some_and(|d| d <= now) {
            drop(race.take());
            break End::Dropped { at: now };
        }
        // Poll while woken. The race does bounded work per poll: count polls per instant.
        let mut polls_now = 0u64;
        let mut pokes = 0u32;
        let mut poked = false;
        let mut busy_left = false;
        let mut quiet = 0u64;
        let mut started = sim.borrow().attempts.len();
        while flag.0.load(Ordering::SeqCst) || std::mem::take(&mut poked) {
            {
                let s = sim.borrow();
                if s.attempts.len() != started {
                    started = s.attempts.len();
                    quiet = 0;
                }
            }
            let running = {
                let s = sim.borrow();
                s.attempts
                    .iter()
                    .filter(|a| a.dropped.is_none() && a.completed.is_none())
                    .count()
            };
            if quiet >= busy_polls(running)
                && sim.borrow().busy_running()
                && !sim.borrow().timed_woken()
            {
                // Busy attempts keep the race woken for ever: time goes on meanwhile. By now
                // everything due at this instant must have been handled (checked below).
                busy_left = true;
                sim.borrow_mut().stats.busy_instants += 1;
                break;
            }
            flag.0.store(false, Ordering::SeqCst);
            polls_now += 1;
            quiet += 1;
            assert!(
                polls_now <= 64 + 4 * n + u64::from(pokes),
                "the race spins: {polls_now} polls at instant {now}"
            );
            if sim.borrow_mut().chaos.one_in_8(1) {
                // A new task waker: the race must wake the latest one.
                flag = Arc::new(Flag::default());
                waker = Waker::from(Arc::clone(&flag));
            }
            {
                let mut s = sim.borrow_mut();
                s.stats.race_polls += 1;
                s.task_waker = Some(waker.clone());
            }
            let polled = race
                .as_mut()
                .expect("race alive")
                .as_mut()
                .poll(&mut Context::from_waker(&waker));
            {
                let s = sim.borrow();
                assert!(
                    s.live_sleeps() <= s.sleeps_allowed,
                    "more than {} live sleeps",
                    s.sleeps_allowed
                );
                if matches!(script.delay, None | Some(0)) && !script.options.any() {
                    assert_eq!(
                        s.sleeps_created, 0,
                        "timer used with delay {:?}",
                        script.delay
                    );
                }
            }
            if let Poll::Ready(out) = polled {
                sim.borrow_mut().race_gone = true;
                {
                    let s = sim.borrow();
                    for (i, a) in s.attempts.iter().enumerate() {
                        assert!(
                            a.dropped.is_some(),
                            "attempt {i} still alive when the race returned Ready"
                        );
                    }
                    assert_eq!(s.live_sleeps(), 0, "sleep alive after the race returned");
                }
                drop(race.take());
                let winner = out.0;
                outcome = Some(out);
                break 'instants End::Finished { at: now, winner };
            }
            // The race yielded with work left: sometimes drop it right there, with woken
            // attempts still queued (and possibly a batch taken from the queue half done).
            // (Less often while busy attempts keep it woken, so that most such runs end.)
            let busy = sim.borrow().busy_running();
            if flag.0.load(Ordering::SeqCst)
                && (!busy || polls_now == 1)
                && sim.borrow_mut().chaos.one_in_8(if busy { 1 } else { 2 })
            {
                drop(race.take());
                dropped_mid_instant = true;
                break 'instants End::Dropped { at: now };
            }
            // Sometimes the task is polled for no reason (a few times per instant at most).
            if pokes < 4 && sim.borrow_mut().chaos.one_in_8(1) {
                pokes += 1;
                poked = true;
            }
        }
        // Idle: every woken attempt has been polled (no lost wake-up). Left busy: at least
        // every attempt due now has been handled.
        {
            let s = sim.borrow();
            for (i, a) in s.attempts.iter().enumerate() {
                assert!(
                    busy_left || !(a.woken && a.dropped.is_none()),
                    "attempt {i} was woken but not polled before the race went idle at {now}"
                );
                assert!(
                    a.dropped.is_some()
                        || a.completed.is_some()
                        || a.deadline.map_or(true, |d| d > now),
                    "attempt {i} is due at {now} but was not handled"
                );
            }
            for sleep in s.sleeps.values() {
                // (A sleep that fired and handed its waker over may be kept: the delay's,
                // while a start it made due waits for room under the cap.)
                assert!(
                    sleep.deadline > now || (sleep.waker.is_none() && script.options.any()),
                    "a sleep is due at {now} but the race went idle without handling it"
                );
            }
        }
        // The next instant.
        let next_event = {
            let s = sim.borrow();
            s.attempts
                .iter()
                .filter(|a| a.dropped.is_none() && a.completed.is_none())
                .filter_map(|a| a.deadline)
                .chain(
                    s.sleeps
                        .values()
                        .filter(|s| s.waker.is_some())
                        .map(|s| s.deadline),
                )
                .chain(s.stream_waker.as_ref().map(|(at, _)| *at))
                .min()
        };
        let at = match (next_event, script.drop_at) {
            (Some(e), Some(d)) => e.min(d),
            (Some(e), None) => e,
            (None, Some(d)) => d,
            (None, None) => {
                drop(race.take());
                break End::Dropped { at: now };
            }
        };
        assert!(at > now, "time must move forward ({now} -> {at})");
        sim.borrow_mut().now = at;
        let dropping = script.drop_at == Some(at);
        if dropping && sim.borrow_mut().chaos.one_in_8(4) {
            // Dropped before the wakes of this instant arrive.
            continue;
        }
        // The wakes of this instant: due attempts in wake order (`tie`, which must not change
        // who wins: the race goes by start order), the timer somewhere among them, spurious
        // wakes of attempts that are not due, stale wakers and the timer.
        let mut plan: Vec<(Target, bool)> = {
            let s = sim.borrow();
            let mut due: Vec<usize> = (0..s.attempts.len())
                .filter(|&i| {
                    let a = &s.attempts[i];
                    a.dropped.is_none() && a.completed.is_none() && a.deadline == Some(at)
                })
                .collect();
            due.sort_by_key(|&i| (s.plans[i].tie, i));
            let count = due.len() as u64;
            let failed = due
                .iter()
                .filter(|&&i| s.plans[i].ending == Ending::Err)
                .count() as u64;
            let at_deadline = script.options.deadline == Some(at);
            drop(s);
            let mut s = sim.borrow_mut();
            s.stats.max_due_at_once = s.stats.max_due_at_once.max(count);
            if at_deadline {
                s.stats.due_at_deadline += count;
                s.stats.failed_at_deadline += failed;
            }
            due.into_iter()
                .map(|i| (Target::Attempt(i), false))
                .collect()
        };
        {
            let mut s = sim.borrow_mut();
            let due: Vec<u64> = s
                .sleeps
                .iter()
                .filter(|(_, t)| t.deadline == at)
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                let pos = usize::from(s.chaos.byte()) % (plan.len() + 1);
                plan.insert(pos, (Target::Sleep(id), false));
            }
            let spurious = s.chaos.byte() % 4;
            for _ in 0..spurious {
                let pick = usize::from(s.chaos.byte());
                let pos = usize::from(s.chaos.byte());
                let count = s.attempts.len();
                let target = if pick % 5 == 0 || count == 0 {
                    Target::Timer
                } else {
                    Target::Attempt(pick % count)
                };
                let pos = match target {
                    Target::Attempt(i) if s.attempts[i].deadline == Some(at) => {
                        continue; // due now: its real wake must come first
                    }
                    _ => pos % (plan.len() + 1),
                };
                plan.insert(pos, (target, true));
            }
        }
        let stream_wake = {
            let mut s = sim.borrow_mut();
            match s.stream_waker.take() {
                Some((due, waker)) if due == at => Some(waker),
                other => {
                    s.stream_waker = other;
                    None
                }
            }
        };
        let mut live_woken = stream_wake.is_some();
        if let Some(waker) = stream_wake {
            waker.wake();
        }
        for (target, spurious) in plan {
            let live = match target {
                Target::Attempt(i) => sim.borrow().attempts[i].dropped.is_none(),
                Target::Timer | Target::Sleep(_) => !spurious,
            };
            if deliver(&sim, target, spurious) && live {
                live_woken = true;
            }
        }
        if dropping {
            continue;
        }
        if live_woken {
            assert!(
                flag.0.load(Ordering::SeqCst),
                "lost wake-up: an attempt or the timer was woken at {at} but the race's task was not"
            );
        }
    };
    assert!(race.is_none());
    sim.borrow_mut().race_gone = true;

    // Every started attempt was dropped exactly once (Drop asserts "once").
    let s = sim.borrow();
    for (i, a) in s.attempts.iter().enumerate() {
        assert!(a.dropped.is_some(), "attempt {i} leaked: never dropped");
    }
    assert_eq!(s.live_sleeps(), 0, "a sleep outlived the race");
    let fates: Vec<Fate> = s
        .attempts
        .iter()
        .map(|a| match a.completed {
            Some((true, _)) => Fate::Won,
            Some((false, _)) => Fate::Failed,
            None => Fate::Cancelled,
        })
        .collect();
    if let Some((out_winner, out_attempts, _)) = &outcome {
        // The outcome agrees with what the attempts saw.
        assert_eq!(
            out_attempts.len(),
            s.attempts.len(),
            "attempts.len() != started"
        );
        for (i, (entry, fate)) in out_attempts.iter().zip(&fates).enumerate() {
            let expected = match fate {
                Fate::Won => Attempt::Won,
                Fate::Failed => Attempt::Failed(i as u32),
                Fate::Cancelled => Attempt::Cancelled,
            };
            assert_eq!(*entry, expected, "outcome of attempt {i}");
        }
        let won: Vec<usize> = (0..fates.len())
            .filter(|&i| fates[i] == Fate::Won)
            .collect();
        assert!(won.len() <= 1, "several attempts returned Ok: {won:?}");
        assert_eq!(
            out_winner.map(|(i, _)| i),
            won.first().copied(),
            "winner vs the attempt that returned Ok"
        );
    }
    if script.options.any() {
        // `delay_fn` is asked once per started attempt, in start order; a fixed delay is
        // what `staggered_race` does, checked by the model.
        let started: Vec<usize> = (0..s.attempts.len()).collect();
        assert_eq!(s.delay_calls, started, "delay_fn calls");
    }
    let events = if script.options.any() {
        normalize(&s.events)
    } else {
        Vec::new()
    };
    let trace = Trace {
        starts: s.attempts.iter().map(|a| a.start).collect(),
        fates,
        drops: s.attempts.iter().map(|a| a.dropped.unwrap()).collect(),
        end,
        next_calls: s.next_calls,
        timed_out: outcome.as_ref().is_some_and(|o| o.2),
        events,
    };
    let stats = s.stats;
    let kept: Vec<Waker> = s.attempts.iter().filter_map(|a| a.waker.clone()).collect();
    drop(s);
    // Wakers kept past the end of the race are harmless to wake and to drop.
    for w in kept {
        w.wake();
    }
    drop(sim);
    Run {
        trace,
        stats,
        dropped_mid_instant,
    }
}

/// With `MODEL_STATS` set in the environment, prints one line of what `run` exercised (the
/// fuzz targets call it after every input, so that a replay of a corpus shows what the
/// fuzzing reached: `.ci/steps/80-fuzz.sh` checks it for crowds and deadlines on them).
pub fn print_stats(run: &Run) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("MODEL_STATS").is_some()) {
        let s = &run.stats;
        println!(
            "model-stats max_due_at_once={} due_at_deadline={} failed_at_deadline={} array_len={}",
            s.max_due_at_once,
            s.due_at_deadline,
            s.failed_at_deadline,
            s.array_len.map_or(-1, |n| n as i64),
        );
    }
}

/// A readable difference between two traces.
pub struct Diff<'a>(pub &'a Trace, pub &'a Trace);

impl fmt::Display for Diff<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (m, r) = (self.0, self.1);
        if m.timed_out != r.timed_out {
            writeln!(
                f,
                "  timed out:  model {}, real {}",
                m.timed_out, r.timed_out
            )?;
        }
        if m.events != r.events {
            writeln!(
                f,
                "  events:     model {:?}\n              real  {:?}",
                m.events, r.events
            )?;
        }
        if m.end != r.end {
            writeln!(f, "  end:        model {:?}, real {:?}", m.end, r.end)?;
        }
        if m.next_calls != r.next_calls {
            writeln!(
                f,
                "  next calls: model {}, real {}",
                m.next_calls, r.next_calls
            )?;
        }
        let n = m.starts.len().max(r.starts.len());
        for i in 0..n {
            let row = |t: &Trace| {
                (
                    t.starts.get(i).copied(),
                    t.fates.get(i).copied(),
                    t.drops.get(i).copied(),
                )
            };
            let (a, b) = (row(m), row(r));
            if a != b {
                writeln!(
                    f,
                    "  attempt {i}: model (start, fate, drop) {a:?}, real {b:?}"
                )?;
            }
        }
        Ok(())
    }
}

/// Runs the model and both real races on `script` (the array race on [`array_script`]), and
/// panics if they differ. Returns the slab race's run.
pub fn check(script: &Script, chaos: &[u8]) -> Run {
    check_race(&array_script(script), chaos, Race::Array);
    check_race(script, chaos, Race::Slab)
}

/// Runs the model and the real `race` on `script` and panics if they differ. For
/// [`Race::Array`], `script` must have a length in [`ARRAY_LENS`] ([`array_script`]).
pub fn check_race(script: &Script, chaos: &[u8], race: Race) -> Run {
    let run = run_race(script, chaos, race);
    if run.dropped_mid_instant {
        check_mid_instant_drop(script, chaos, &run.trace, race);
        return run;
    }
    let expected = model_for(script, race);
    if run.trace != expected {
        panic!(
            "the {race:?} race diverges from the model\nscript: {script:?}\nchaos: {chaos:?}\n{}\
             model: {expected:?}\nreal:  {:?}",
            Diff(&expected, &run.trace),
            run.trace
        );
    }
    run
}

/// A race dropped in the middle of instant `t` has handled everything before `t` and part of
/// `t`: it lies between the model dropped just before `t` and the model dropped just after.
fn check_mid_instant_drop(script: &Script, chaos: &[u8], real: &Trace, race: Race) {
    let End::Dropped { at: t } = real.end else {
        unreachable!("dropped mid-instant")
    };
    let before = model_for(
        &Script {
            drop_at: Some(t),
            ..script.clone()
        },
        race,
    );
    let after = model_for(
        &Script {
            drop_at: Some(t + 1),
            ..script.clone()
        },
        race,
    );
    let fail = |what: &str| -> ! {
        panic!(
            "the race dropped in the middle of instant {t} is not between the model dropped \
             before and after it: {what}\nscript: {script:?}\nchaos: {chaos:?}\n\
             before: {before:?}\nafter:  {after:?}\nreal:   {real:?}"
        )
    };
    let n = real.starts.len();
    if n < before.starts.len() || n > after.starts.len() || real.starts != after.starts[..n] {
        fail("start times");
    }
    if real.next_calls < before.next_calls || real.next_calls > after.next_calls {
        fail("iterator calls");
    }
    for i in 0..n {
        let fate = real.fates[i];
        let done_before = before.fates.get(i).is_some_and(|f| *f != Fate::Cancelled);
        let ok = match fate {
            Fate::Won => false, // a win ends the race within the poll that sees it
            Fate::Failed => after.fates[i] == Fate::Failed,
            Fate::Cancelled => !done_before,
        };
        if !ok {
            fail(&format!("attempt {i} {fate:?}"));
        }
        // (Cancelled before `t`: to make room under the cap, at the same time as the model.)
        let cancelled_before = before.fates.get(i) == Some(&Fate::Cancelled)
            && before.drops.get(i) == Some(&real.drops[i])
            && real.drops[i] < t;
        let drop_ok = match fate {
            Fate::Failed if done_before => real.drops[i] == before.drops[i],
            Fate::Failed => real.drops[i] == t,
            _ => real.drops[i] == t || cancelled_before,
        };
        if !drop_ok {
            fail(&format!("attempt {i} dropped at {}", real.drops[i]));
        }
    }
}
