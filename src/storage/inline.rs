//! Attempt storage with no heap: `N` slots inside the race, slot `i` for attempt `i`.
//!
//! Without a heap a waker cannot point into the race: an attempt may keep a waker after the
//! race is gone. So every attempt is polled with the task's own waker, nothing tells which
//! one was woken, and each poll of the race is one round over every attempt that was running
//! when the poll began, in start order (slot `i` is attempt `i`), then the sleep: the rounds
//! of the slab's task mode too. An attempt that started during the poll was polled then, with
//! the same waker, so the round leaves it out. A wake-up costs `O(N)` attempt polls; `N` is
//! known at compile time and usually small (the addresses of one host, the replicas of a
//! service).

use core::cell::UnsafeCell;
use core::future::Future;
use core::panic::RefUnwindSafe;
use core::pin::Pin;
use core::task::{Context, Waker};

use super::{Polled, Storage, Woken};

pub(crate) struct Inline<Fut, const N: usize> {
    /// In a cell, so that a shared reference to the storage (the scheduler asks it questions
    /// through one between polls) is not a read of the futures: a future that borrows from
    /// itself across a `Pending` (any `async` block that holds a borrow of its own local over
    /// an `.await`) must not have its memory read through a reference to the whole, or the
    /// borrow it holds is invalid (Stacked Borrows; miri finds it). Shared access reads only
    /// discriminants ([`occupied`](Self::occupied)); everything else goes through `&mut`.
    slots: UnsafeCell<[Option<Fut>; N]>,
    /// Everything else: counts and this poll's round, none of it pinned.
    tally: Tally,
}

/// The counts of an [`Inline`] storage, and what its round in this poll is. (Where the round
/// is, is the scheduler's: see [`Storage`].)
struct Tally {
    /// Attempts held.
    len: usize,
    /// Attempts started so far: attempt `i` is in slot `i`, and they start in index order, so
    /// no slot from here on was ever filled.
    started: u32,
    /// The slot of the first attempt started during this poll (`u32::MAX` until one is). It
    /// was polled then, with the poll's waker, so the poll's round leaves it out, and the
    /// attempts after it (as the slab's task mode does).
    limit: u32,
    /// This poll has had its round.
    taken: bool,
}

impl<Fut, const N: usize> Inline<Fut, N> {
    pub(crate) fn new() -> Self {
        Inline {
            slots: UnsafeCell::new(core::array::from_fn(|_| None)),
            tally: Tally {
                len: 0,
                started: 0,
                limit: u32::MAX,
                taken: false,
            },
        }
    }

    fn slots(self: Pin<&mut Self>) -> &mut [Option<Fut>; N] {
        // SAFETY: the slots are structurally pinned: a future in a slot is never moved out,
        // only polled through `Pin::new_unchecked` below and dropped in place (by assigning
        // `None`, which drops the old value where it is). Nothing else of `Self` is pinned.
        unsafe { &mut *self.get_unchecked_mut().slots.get() }
    }

    /// Slot `i` holds an attempt. Reads its discriminant only, making no reference to the
    /// slot (see `slots`).
    #[inline]
    // `is_some` would take `&Option<Fut>`, a reference to a future that may still be polled:
    // the very retag `slots` exists to avoid. (`remove` and `clear_with` may take one: they
    // drop the future right after, and nothing uses its borrows again.)
    #[allow(clippy::redundant_pattern_matching)]
    fn occupied(&self, i: usize) -> bool {
        // SAFETY: the pointer is the cell's, valid for as long as `self`; nothing writes the
        // slots while a shared reference to the storage lives (every write goes through
        // `Pin<&mut Self>`), so this read races with nothing. The pattern reads the place's
        // discriminant without making a reference to it.
        unsafe { matches!((*self.slots.get())[i], Some(_)) }
    }

    fn tally(self: Pin<&mut Self>) -> &mut Tally {
        // SAFETY: the tally is not pinned, and the slots are not touched.
        unsafe { &mut self.get_unchecked_mut().tally }
    }

    /// The slots of this poll's round: those below `limit` and `started` (see `Tally`).
    /// (`begin_poll` only stores, and `insert` reads only the `limit` that `begin_poll`
    /// wrote: a load of a field written before the race was moved, at its first poll, was
    /// measured to cost the array race's short lifecycle a fifth of its time.)
    #[inline]
    fn end(&self) -> usize {
        N.min(self.tally.started.min(self.tally.limit) as usize)
    }
}

impl<Fut: Future, const N: usize> Storage for Inline<Fut, N> {
    type Fut = Fut;
    /// A round polls every attempt with the task's waker: it must not be cut (see the trait).
    #[inline]
    fn whole_rounds(&self) -> bool {
        true
    }

    fn insert(mut self: Pin<&mut Self>, index: usize, fut: Fut) -> u32 {
        // Only `staggered_race` can get here with no slot left: its source promised at most
        // `N` attempts (see `StaggeredRace`'s docs).
        assert!(
            index < N,
            "the race's source yielded more than {N} attempts, though the upper bound of its \
             `size_hint` was at most {N}: a broken `Iterator::size_hint`"
        );
        let slot = &mut self.as_mut().slots()[index];
        debug_assert!(slot.is_none(), "attempt {index} started twice");
        *slot = Some(fut);
        let tally = self.tally();
        tally.len += 1;
        debug_assert!(
            index as u32 >= tally.started,
            "attempts start in index order"
        );
        tally.started = index as u32 + 1;
        if tally.limit == u32::MAX {
            tally.limit = index as u32;
        }
        index as u32
    }

    fn poll(self: Pin<&mut Self>, key: u32, cx: &mut Context<'_>) -> Option<Polled<Fut::Output>> {
        let fut = self.slots()[key as usize].as_mut()?;
        // SAFETY: the slot is pinned with the race (see `slots`), and its future stays there
        // until it is dropped in place.
        let poll = unsafe { Pin::new_unchecked(fut) }.poll(cx);
        Some(Polled {
            index: key as usize,
            poll,
            woke_itself: false,
        })
    }

    fn remove(mut self: Pin<&mut Self>, key: u32) {
        let slot = &mut self.as_mut().slots()[key as usize];
        debug_assert!(slot.is_some());
        *slot = None; // drops the future in place
        self.tally().len -= 1;
    }

    fn clear(mut self: Pin<&mut Self>) {
        for slot in self.as_mut().slots() {
            *slot = None;
        }
        self.tally().len = 0;
    }

    fn clear_with(mut self: Pin<&mut Self>, mut dropped: impl FnMut(usize)) {
        for i in 0..N {
            let slot = &mut self.as_mut().slots()[i];
            if slot.is_some() {
                *slot = None; // drops the future in place
                self.as_mut().tally().len -= 1;
                dropped(i);
            }
        }
    }

    fn for_each(&self, mut f: impl FnMut(u32, usize)) {
        for i in (0..N).filter(|&i| self.occupied(i)) {
            f(i as u32, i);
        }
    }

    fn len(&self) -> usize {
        self.tally.len
    }

    /// A new poll of the race: its round is of the attempts running now.
    fn begin_poll(self: Pin<&mut Self>) {
        let tally = self.tally();
        tally.taken = false;
        tally.limit = u32::MAX;
    }

    /// Its rounds are whole: the scheduler runs each to its end in one call.
    fn in_round(&self) -> bool {
        false
    }

    /// One round per poll, of every attempt that was running when the poll began, then the
    /// sleep. None if none of them still runs: the sleep, if armed, was armed and polled in
    /// this poll, as its newest attempt started.
    fn take_round(self: Pin<&mut Self>) -> bool {
        let round = !self.tally.taken && (0..self.end()).any(|i| self.occupied(i));
        self.tally().taken = true;
        round
    }

    /// `at`: the next slot to look at (0 as the round begins, past `N` once it is over).
    fn pop_round(self: Pin<&mut Self>, at: &mut usize) -> Option<Woken> {
        let from = *at;
        if from > N {
            return None;
        }
        // Every attempt of the round in slot order, then the sleep, so that a completion in
        // the same round goes first: one entry per attempt, and one for the sleep (what the
        // round costs). The slots from `limit` on are empty or hold fresh attempts, which
        // the round leaves out, so the scan stops there, or after the last attempt started
        // (in a race with room for more, where the rest is empty).
        Some(match (from..self.end()).find(|&i| self.occupied(i)) {
            Some(i) => {
                *at = i + 1;
                Woken::Attempt(i as u32)
            }
            _ => {
                *at = N + 1;
                Woken::Timer
            }
        })
    }

    fn register(&self, _: &Waker) {}

    fn has_woken(&self) -> bool {
        false
    }

    fn poll_timer<R>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Context<'_>) -> R,
    ) -> R {
        f(cx)
    }
}

// SAFETY: shared access to an `Inline` reads only the slots' discriminants (`occupied`) and
// its plain fields; every write, and every access to a future, needs `Pin<&mut Self>`. So it
// is `Sync` exactly when an array of the futures would be: the cell only keeps the shared
// reference from reading the futures (see `slots`).
unsafe impl<Fut: Sync, const N: usize> Sync for Inline<Fut, N> {}

// The cell would make the storage `!RefUnwindSafe` whatever the futures are. A shared
// reference to it reads nothing a panic could leave half-written (the discriminants and plain
// fields), so it is as unwind-safe as an array of the futures.
impl<Fut: RefUnwindSafe, const N: usize> RefUnwindSafe for Inline<Fut, N> {}

impl<Fut, const N: usize> Default for Inline<Fut, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::pin::pin;

    #[test]
    fn a_round_is_every_running_attempt_in_order_then_the_sleep_once_per_poll() {
        let mut store = pin!(Inline::<core::future::Pending<()>, 4>::new());
        for index in 0..3 {
            store.as_mut().insert(index, core::future::pending());
        }
        store.as_mut().remove(1);
        store.as_mut().begin_poll();
        let mut at = 0;
        assert!(store.as_mut().take_round());
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Attempt(0)));
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Attempt(2)));
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Timer));
        assert_eq!(
            store.as_mut().pop_round(&mut at),
            None,
            "the sleep's entry ends the round"
        );
        assert!(
            !store.in_round(),
            "its rounds are whole: the place is the caller's"
        );
        assert!(!store.as_mut().take_round(), "one round per poll");
        store.as_mut().begin_poll();
        store.as_mut().remove(0);
        let mut at = 0;
        assert!(store.as_mut().take_round());
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Attempt(2)));
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Timer));
        assert_eq!(store.as_mut().pop_round(&mut at), None);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn an_attempt_started_during_a_poll_is_left_out_of_its_round() {
        let mut store = pin!(Inline::<core::future::Pending<()>, 4>::new());
        store.as_mut().begin_poll();
        store.as_mut().insert(0, core::future::pending());
        assert!(
            !store.as_mut().take_round(),
            "nothing ran when the poll began: no round, not even the sleep's entry"
        );
        store.as_mut().begin_poll();
        store.as_mut().insert(1, core::future::pending());
        let mut at = 0;
        assert!(store.as_mut().take_round());
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Attempt(0)));
        assert_eq!(
            store.as_mut().pop_round(&mut at),
            Some(Woken::Timer),
            "attempt 1 started during this poll"
        );
        store.as_mut().begin_poll();
        store.as_mut().remove(0);
        store.as_mut().insert(2, core::future::pending());
        let mut at = 0;
        assert!(
            store.as_mut().take_round(),
            "attempt 1 ran when the poll began"
        );
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Attempt(1)));
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Timer));
        store.as_mut().begin_poll();
        store.as_mut().remove(1);
        store.as_mut().remove(2);
        assert!(!store.as_mut().take_round(), "none of them runs any more");
    }

    #[test]
    fn cancelling_between_rounds_keeps_the_round_to_the_attempts_that_ran_before_the_poll() {
        // As the scheduler does under a cap: the oldest attempt is cancelled, then the next
        // one starts (and is polled), between rounds.
        let mut store = pin!(Inline::<core::future::Pending<()>, 8>::new());
        // A cap of one: each start cancels the attempt before it, fresh or not.
        store.as_mut().insert(0, core::future::pending());
        store.as_mut().begin_poll();
        store.as_mut().remove(0);
        store.as_mut().insert(1, core::future::pending());
        store.as_mut().remove(1);
        store.as_mut().insert(2, core::future::pending());
        assert!(
            !store.as_mut().take_round(),
            "attempt 0 was cancelled, attempts 1 and 2 started in this poll: no round"
        );
        store.as_mut().begin_poll();
        let mut at = 0;
        assert!(store.as_mut().take_round(), "attempt 2 is no longer fresh");
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Attempt(2)));
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Timer));
        // A cap of two: attempts 2 and 3 run, and a start cancels 2.
        store.as_mut().insert(3, core::future::pending());
        store.as_mut().begin_poll();
        store.as_mut().remove(2);
        store.as_mut().insert(4, core::future::pending());
        let mut at = 0;
        assert!(
            store.as_mut().take_round(),
            "attempt 3 ran when the poll began, and still runs"
        );
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Attempt(3)));
        assert_eq!(
            store.as_mut().pop_round(&mut at),
            Some(Woken::Timer),
            "attempt 4 started in this poll"
        );
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn clearing_reports_each_running_attempt_in_slot_order_and_empties_the_storage() {
        let mut store = pin!(Inline::<core::future::Pending<()>, 4>::new());
        for index in [1, 3] {
            store.as_mut().insert(index, core::future::pending());
        }
        store.as_mut().begin_poll();
        let mut at = 0;
        assert!(store.as_mut().take_round());
        assert_eq!(store.as_mut().pop_round(&mut at), Some(Woken::Attempt(1)));
        let mut running = [usize::MAX; 2];
        let mut n = 0;
        store.for_each(|key, index| {
            assert_eq!(key as usize, index, "slot `i` holds attempt `i`");
            running[n] = index;
            n += 1;
        });
        assert_eq!(running, [1, 3]);
        let mut dropped = [usize::MAX; 2];
        let mut n = 0;
        store.as_mut().clear_with(|index| {
            dropped[n] = index;
            n += 1;
        });
        assert_eq!(dropped, [1, 3]);
        assert_eq!(store.len(), 0);
        assert!(store.is_empty());
        store.for_each(|key, _| panic!("slot {key} still holds an attempt"));
    }
}
