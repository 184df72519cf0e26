//! [`State`]: the race's fields borrowed for one poll, and the scheduler that runs on them
//! (`drive`, `expire`, the starts, the attempts' polls and the cancellations).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use super::race_core::{Options, RunOptions, SleepOf};
use super::record::Record;
use super::{Finish, OkOf};
use crate::attempt::AttemptFn;
use crate::policy::{Delay, Event, Limits, Observe, SourceDriver};
use crate::storage::{Storage, Woken};
use crate::timer::Timer;

/// Most units of work one `poll` of the race does before it yields. A unit is one attempt
/// started, one attempt polled, or one poll of the sleep.
pub(crate) const BUDGET: u32 = 128;
/// After this many attempts woke themselves during their own poll, the race yields: they are
/// asking the executor to run something else (as `FuturesUnordered` does).
pub(crate) const YIELD_AFTER_SELF_WAKES: u32 = 2;

/// The fields of the race, borrowed for one poll.
pub(super) struct State<'a, O: Options> {
    pub(super) source: Pin<&'a mut O::Source>,
    pub(super) timer: &'a O::Timer,
    pub(super) delay: &'a mut O::Delay,
    pub(super) limits: &'a O::Limits,
    pub(super) events: &'a mut O::Observe,
    pub(super) sleep: Pin<&'a mut Option<SleepOf<O>>>,
    pub(super) storage: Pin<&'a mut O::Storage>,
    pub(super) attempts: &'a mut O::Record,
    pub(super) flags: &'a mut Flags,
}

/// The race's flags.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Flags {
    /// The next attempt should start now: the newest one failed, or the delay passed.
    pub(super) start_due: bool,
    /// The source has ended.
    pub(super) exhausted: bool,
    /// The sleep is counting down to the next start.
    pub(super) armed: bool,
    /// The source was pending: a due start waits for the next poll (see `State::drive`).
    pub(super) waiting: bool,
    /// The deadline has passed: nothing more starts.
    pub(super) expired: bool,
}

// Every method here is `#[inline]`: the race's poll, `Core::poll_race` and these are one
// scheduler split over files, and a generic function is compiled in the codegen unit of its
// module, so without the hint the split costs calls that were inlined when they shared one
// file (`cargo bench --bench instructions`: 267 instructions per one-attempt array race
// without, 199 with, as before the split).
impl<O: RunOptions> State<'_, O> {
    /// A start is due and can be made now: the source is not known to be pending, and the
    /// cap leaves room (or the oldest may be cancelled). (Once the deadline has passed, the
    /// race runs `expire`, never `drive`: nothing starts.)
    #[inline]
    fn can_start(&self) -> bool {
        let f = &*self.flags;
        // (The constant folds away the check a race without a stream never needs.)
        let waiting = O::Source::CAN_PEND && f.waiting;
        f.start_due && !f.exhausted && !waiting && self.limits.may_start(self.storage.len())
    }

    /// Runs until the race is over, the budget is spent, or nothing is left to do now.
    ///
    /// The work goes in *rounds*: a round takes everything woken so far (attempts and the
    /// sleep) and handles it in start order, then the sleep (the storage fixes that order as it
    /// takes the round); what is woken meanwhile waits for the next round.
    /// A start that is due is made between two rounds, before the next round begins. So a
    /// completion woken together with the sleep is handled before the start the sleep makes
    /// due (the tie rule), and a due start waits only for the wake-ups that had arrived before
    /// it, never for those that busy attempts keep making after. The budget ends a poll
    /// anywhere in a round of the slab's precise wake-ups (the rest goes on in the next poll,
    /// where it was), and never inside a round of a storage that polls with the task's waker
    /// (the inline storage, and the slab in task mode), which must be whole
    /// ([`Storage::whole_rounds`]); the self-wake rule ends a poll only between rounds, after
    /// the due start. Runs only before the deadline (after it, `expire`).
    #[inline]
    pub(super) fn drive(&mut self, cx: &mut Context<'_>) -> Poll<Finish<OkOf<O::Source>>> {
        let mut budget = BUDGET;
        let mut self_wakes = 0;
        if self.is_quiet() {
            // The usual wake-up of a small race: one round, then idle, as the loop below
            // would run it (a storage with whole rounds takes one round per poll, and between
            // rounds there is nothing to do unless the round makes a start due), without its
            // checks before the round and after it.
            if let Err(finish) = self.next_round(cx, &mut budget, &mut self_wakes) {
                return Poll::Ready(finish);
            }
            if !self.flags.start_due {
                if let Some(idle) = self.idle(cx) {
                    return idle;
                }
            }
            // The round made a start due: the loop makes it, between rounds.
        } else if O::Source::CAN_PEND && self.flags.waiting {
            // The stream was pending, and this poll may be its wake-up: what was woken with
            // it goes first, then the stream is asked again. So a completion at the instant
            // an item arrives is handled before the start the item makes possible (as with
            // the sleep), and a win then starts nothing.
            self.flags.waiting = false;
            if let Err(finish) = self.next_round(cx, &mut budget, &mut self_wakes) {
                return Poll::Ready(finish);
            }
        }
        loop {
            if self.storage.in_round() {
                // A round that may be cut (`next_round` runs whole rounds itself).
                debug_assert!(!self.storage.whole_rounds());
                if budget == 0 {
                    // The rest of this round goes first in the next poll.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                budget = budget.saturating_sub(1);
                // (Such a storage keeps its place in the round itself: no place to pass.)
                if let Some(woken) = self.storage.as_mut().pop_round(&mut 0) {
                    if let Some(finish) = self.handle(woken, cx, &mut self_wakes) {
                        return Poll::Ready(finish);
                    }
                }
                continue;
            }

            // Between rounds: the due start first, always. More starts that come due one
            // after another (a zero delay, or attempts failing on their first poll) follow
            // while more than half the budget is left, so that neither starts nor rounds can
            // starve the other.
            let mut first = true;
            while self.can_start() && (first || budget > BUDGET / 2) {
                first = false;
                budget = budget.saturating_sub(1);
                if let Some(finish) = self.start_next(cx, &mut self_wakes) {
                    return Poll::Ready(finish);
                }
            }
            if self.stale_sleep() {
                // A sleep nothing waits for (its attempt failed while the start it made due
                // waits, or the next attempt has no delay) would only wake the task for
                // nothing: drop it. (A plain race re-arms or drops its sleep as it starts
                // the next attempt, so it gets here only past its budget.)
                self.sleep.set(None);
            }
            if budget == 0 || self_wakes >= YIELD_AFTER_SELF_WAKES {
                if self.storage.has_woken() || self.can_start() {
                    // Work is left: let the executor run other tasks, then come back.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            } else {
                match self.next_round(cx, &mut budget, &mut self_wakes) {
                    Err(finish) => return Poll::Ready(finish),
                    Ok(true) => continue,
                    Ok(false) if self.can_start() => continue,
                    Ok(false) => {}
                }
            }
            if let Some(idle) = self.idle(cx) {
                return idle;
            }
        }
    }

    /// Takes the next round, if anything is to be done (`Ok(false)` if not). A storage with
    /// whole rounds has it run to its end here (the inline storage keeps its place in the
    /// local `at`: see [`Storage`]); a whole round may overdraw the budget, and then only the
    /// due start follows. The round of any other storage is left to `drive`'s loop, which
    /// the budget may stop anywhere in it.
    /// `Err` if the race ended in the round. (Always inlined: left to itself, the compiler
    /// makes it a call of its own, and the round's place goes to memory.)
    #[inline(always)]
    fn next_round(
        &mut self,
        cx: &mut Context<'_>,
        budget: &mut u32,
        self_wakes: &mut u32,
    ) -> Result<bool, Finish<OkOf<O::Source>>> {
        if !self.storage.as_mut().take_round() {
            return Ok(false);
        }
        if self.storage.whole_rounds() {
            let mut at = 0;
            while let Some(woken) = self.storage.as_mut().pop_round(&mut at) {
                *budget = budget.saturating_sub(1);
                if let Some(finish) = self.handle(woken, cx, self_wakes) {
                    return Err(finish);
                }
            }
        }
        Ok(true)
    }

    /// Nothing is left to do now: the race is all-failed if nothing runs and nothing is
    /// left to start; else it registers the task's waker and waits. `None` if a wake-up came
    /// in meanwhile: the caller goes on. (Registered, then looked at once more: a wake that
    /// raced with the registration is either seen now or wakes the new waker.)
    #[inline]
    fn idle(&mut self, cx: &mut Context<'_>) -> Option<Poll<Finish<OkOf<O::Source>>>> {
        if self.storage.is_empty() && self.flags.exhausted {
            return Some(Poll::Ready(None));
        }
        self.storage.register(cx.waker());
        (!self.storage.has_woken()).then_some(Poll::Pending)
    }

    /// A poll with nothing to do between rounds, on a storage with whole rounds (which has
    /// no round under way between polls): no start is due (nor can one be, pending or not),
    /// and no sleep is left that nothing waits for. Such a poll is one round, then idle,
    /// unless the round makes a start due. (Never after a stream was pending: its wake-up
    /// takes a round first, and then asks the stream.)
    #[inline]
    fn is_quiet(&self) -> bool {
        let f = &*self.flags;
        let waiting = O::Source::CAN_PEND && f.waiting;
        self.storage.whole_rounds() && !f.start_due && !waiting && !self.stale_sleep()
    }

    /// A sleep is left that no start waits for.
    #[inline]
    fn stale_sleep(&self) -> bool {
        !self.flags.armed && self.sleep.is_some() && !self.can_start()
    }

    /// Handles one entry of the round under way: polls the attempt or the sleep. (Always
    /// inlined, as `poll_attempt` is: its callers are the hot loops of both kinds of round.)
    #[inline(always)]
    fn handle(
        &mut self,
        woken: Woken,
        cx: &mut Context<'_>,
        self_wakes: &mut u32,
    ) -> Option<Finish<OkOf<O::Source>>> {
        match woken {
            Woken::Timer => {
                self.poll_sleep(cx);
                None
            }
            Woken::Attempt(key) => self.poll_attempt(key, cx, self_wakes),
        }
    }

    /// The poll that sees the deadline pass, and the race's last: takes in every wake-up that
    /// had arrived, whatever the budget (the round a budget cut short, then one round of
    /// everything woken since), so that no completion that had arrived is lost. The rounds
    /// are bounded (each holds a running attempt at most once), and nothing starts. Then, if
    /// nothing runs and a start is due (a failure made it so), the source is asked once
    /// whether anything was left to start: the race is all-failed if not, timed out if so
    /// (an attempt it yields is dropped, never started).
    #[inline]
    pub(super) fn expire(&mut self, cx: &mut Context<'_>) -> Finish<OkOf<O::Source>> {
        let mut self_wakes = 0;
        let rounds = if self.storage.in_round() { 2 } else { 1 };
        for _ in 0..rounds {
            if !self.storage.in_round() && !self.storage.as_mut().take_round() {
                break;
            }
            let mut at = 0;
            while let Some(woken) = self.storage.as_mut().pop_round(&mut at) {
                if let Some(finish) = self.handle(woken, cx, &mut self_wakes) {
                    return finish;
                }
            }
        }
        let f = &*self.flags;
        if self.storage.is_empty() && f.start_due && !f.exhausted {
            if let Poll::Ready(None) = self.source.as_mut().poll_next(cx) {
                self.flags.exhausted = true;
            }
        }
        None
    }

    /// Starts the next attempt, if the source has one now, and polls it at once.
    #[inline]
    fn start_next(
        &mut self,
        cx: &mut Context<'_>,
        self_wakes: &mut u32,
    ) -> Option<Finish<OkOf<O::Source>>> {
        let make = match self.source.as_mut().poll_next(cx) {
            Poll::Ready(Some(make)) => make,
            Poll::Ready(None) => {
                self.flags.start_due = false;
                self.flags.exhausted = true;
                self.flags.armed = false;
                // No start will ever need the sleep again.
                self.sleep.set(None);
                return None;
            }
            Poll::Pending => {
                // The start stays due; the source's wake-up brings the race back.
                self.flags.waiting = true;
                return None;
            }
        };
        self.flags.start_due = false;
        if self.limits.must_cancel_oldest(self.storage.len()) {
            // `can_start` let this through at the cap only to cancel the oldest.
            self.cancel_oldest();
        }
        let index = self.attempts.len();
        if index == 0 {
            self.attempts.reserve(self.source.upper_bound());
        }
        let fut = make.start();
        self.attempts.start();
        let key = self.storage.as_mut().insert(index, fut);
        // Until the next start, this is the newest attempt: its failure starts the next one.
        self.flags.armed = false;
        if O::Observe::ENABLED {
            self.events.event(Event::Started { index });
        }
        // The policy is asked as the attempt starts; a fixed delay, which no one can watch
        // being asked, only when it is needed (it costs nothing to carry across the poll).
        let asked = if O::Delay::FIXED {
            None
        } else {
            Some(self.delay.after(index))
        };
        if let Some(finish) = self.poll_attempt(key, cx, self_wakes) {
            return Some(finish);
        }
        if !self.flags.start_due {
            // Still running (a failure would have made the next start due): schedule it.
            match asked.unwrap_or_else(|| self.delay.after(index)) {
                None => {}
                Some(Duration::ZERO) => self.flags.start_due = true,
                Some(delay) => self.arm(delay, cx),
            }
        }
        None
    }

    /// Cancels the running attempt that started first, to make room under the cap.
    #[inline]
    fn cancel_oldest(&mut self) {
        let mut oldest: Option<(u32, usize)> = None;
        self.storage.for_each(|key, index| {
            if oldest.map_or(true, |(_, i)| index < i) {
                oldest = Some((key, index));
            }
        });
        if let Some((key, index)) = oldest {
            self.storage.as_mut().remove(key);
            if O::Observe::ENABLED {
                self.events.event(Event::Cancelled { index });
            }
        }
    }

    /// Sets the sleep to fire `delay` from now, and polls it once so it registers its waker.
    #[inline]
    fn arm(&mut self, delay: Duration, cx: &mut Context<'_>) {
        match self.sleep.as_mut().as_pin_mut() {
            Some(sleep) => self.timer.reset(sleep, delay),
            None => self.sleep.set(Some(self.timer.sleep(delay))),
        }
        self.flags.armed = true;
        self.poll_sleep(cx);
    }

    /// Polls the sleep, if it is counting down; when it fires, the next start is due.
    #[inline]
    fn poll_sleep(&mut self, cx: &mut Context<'_>) {
        if !self.flags.armed {
            return; // A stale wake from a sleep that no longer matters.
        }
        let Some(sleep) = self.sleep.as_mut().as_pin_mut() else {
            return;
        };
        if self
            .storage
            .as_mut()
            .poll_timer(cx, |cx| sleep.poll(cx))
            .is_ready()
        {
            self.flags.armed = false;
            self.flags.start_due = true;
        }
    }

    /// Polls the attempt in slot `key` and handles its result. (Always inlined: it is the
    /// scheduler's hottest path, a call per attempt poll, and left to itself the compiler
    /// makes it a function of its own for the slab race, 18 instructions a call.)
    #[inline(always)]
    fn poll_attempt(
        &mut self,
        key: u32,
        cx: &mut Context<'_>,
        self_wakes: &mut u32,
    ) -> Option<Finish<OkOf<O::Source>>> {
        let polled = self.storage.as_mut().poll(key, cx)?;
        match polled.poll {
            Poll::Pending => {
                if polled.woke_itself {
                    *self_wakes += 1;
                }
                None
            }
            Poll::Ready(result) => {
                // The future is done: drop it now, not when the race ends.
                self.storage.as_mut().remove(key);
                let index = polled.index;
                match result {
                    Ok(value) => {
                        // The record marks the winner as the race hands it over
                        // (`Record::finish`).
                        if O::Observe::ENABLED {
                            self.events.event(Event::Won { index });
                        }
                        Some(Some((index, value)))
                    }
                    Err(error) => {
                        if O::Observe::ENABLED {
                            self.events.event(Event::Failed {
                                index,
                                error: &error,
                            });
                        }
                        self.attempts.fail(index, error);
                        if index + 1 == self.attempts.len() && !self.flags.exhausted {
                            // The newest attempt failed: start the next one now.
                            self.flags.start_due = true;
                            self.flags.armed = false;
                        }
                        None
                    }
                }
            }
        }
    }

    /// Cancels every running attempt (reporting each once it is dropped, in the order they
    /// are dropped) and drops the sleep.
    #[inline]
    pub(super) fn cancel_all(&mut self) {
        if O::Observe::ENABLED {
            let events = &mut *self.events;
            self.storage
                .as_mut()
                .clear_with(|index| events.event(Event::Cancelled { index }));
        } else {
            self.storage.as_mut().clear();
        }
        self.sleep.set(None);
    }
}
