//! Attempt storage with no heap: `N` slots inside the race, slot `i` for attempt `i`.
//!
//! Without a heap a waker cannot point into the race: an attempt may keep a waker after the
//! race is gone. So every attempt is polled with the task's own waker, nothing tells which
//! one was woken, and each poll of the race is one round over every running attempt in start
//! order (slot `i` is attempt `i`), then the sleep: the order of the slab's rounds too. A wake-up costs `O(N)` attempt polls; `N` is known at
//! compile time and usually small (the addresses of one host, the replicas of a service).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Waker};

use super::{Polled, Storage, Woken};

pub(crate) struct Inline<Fut, const N: usize> {
    slots: [Option<Fut>; N],
    len: usize,
    /// The next slot the round under way looks at (`N`: only the sleep is left); `None`
    /// between rounds.
    cursor: Option<usize>,
    /// This poll has had its round.
    taken: bool,
}

impl<Fut, const N: usize> Inline<Fut, N> {
    pub(crate) fn new() -> Self {
        Inline {
            slots: core::array::from_fn(|_| None),
            len: 0,
            cursor: None,
            taken: false,
        }
    }

    fn slots(self: Pin<&mut Self>) -> &mut [Option<Fut>; N] {
        // SAFETY: the slots are structurally pinned: a future in a slot is never moved out,
        // only polled through `Pin::new_unchecked` below and dropped in place (by assigning
        // `None`, which drops the old value where it is). Nothing else of `Self` is pinned.
        unsafe { &mut self.get_unchecked_mut().slots }
    }

    fn fields(self: Pin<&mut Self>) -> (&mut usize, &mut Option<usize>, &mut bool) {
        // SAFETY: none of these fields is pinned, and the slots are not touched.
        let this = unsafe { self.get_unchecked_mut() };
        (&mut this.len, &mut this.cursor, &mut this.taken)
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
        let slot = &mut self.as_mut().slots()[index];
        debug_assert!(slot.is_none(), "attempt {index} started twice");
        *slot = Some(fut);
        *self.fields().0 += 1;
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
        *self.fields().0 -= 1;
    }

    fn clear(mut self: Pin<&mut Self>) {
        for slot in self.as_mut().slots() {
            *slot = None;
        }
        let (len, cursor, _) = self.fields();
        *len = 0;
        *cursor = None;
    }

    fn clear_with(mut self: Pin<&mut Self>, mut dropped: impl FnMut(usize)) {
        for i in 0..N {
            let slot = &mut self.as_mut().slots()[i];
            if slot.is_some() {
                *slot = None; // drops the future in place
                *self.as_mut().fields().0 -= 1;
                dropped(i);
            }
        }
        *self.fields().1 = None;
    }

    fn for_each(&self, mut f: impl FnMut(u32, usize)) {
        for (i, _) in self.slots.iter().enumerate().filter(|(_, s)| s.is_some()) {
            f(i as u32, i);
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn begin_poll(self: Pin<&mut Self>) {
        *self.fields().2 = false;
    }

    fn in_round(&self) -> bool {
        self.cursor.is_some()
    }

    fn take_round(self: Pin<&mut Self>) -> bool {
        let (len, cursor, taken) = self.fields();
        if *taken || *len == 0 {
            return false;
        }
        *taken = true;
        *cursor = Some(0);
        true
    }

    fn pop_round(mut self: Pin<&mut Self>) -> Option<Woken> {
        let from = self.cursor?;
        // Every running attempt in slot order, then the sleep, so that a completion in the
        // same round goes first.
        // The round ends with the sleep's entry: it has exactly one entry per running
        // attempt, and one for the sleep (what it costs).
        let (woken, next) = match (from..N).find(|&i| self.slots[i].is_some()) {
            Some(i) => (Woken::Attempt(i as u32), Some(i + 1)),
            None => (Woken::Timer, None),
        };
        *self.as_mut().fields().1 = next;
        Some(woken)
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
        store.as_mut().insert(2, core::future::pending());
        store.as_mut().insert(0, core::future::pending());
        store.as_mut().begin_poll();
        assert!(store.as_mut().take_round());
        assert_eq!(store.as_mut().pop_round(), Some(Woken::Attempt(0)));
        assert_eq!(store.as_mut().pop_round(), Some(Woken::Attempt(2)));
        assert_eq!(store.as_mut().pop_round(), Some(Woken::Timer));
        assert!(
            !store.in_round(),
            "the sleep's entry ends the round: no empty pop to pay for"
        );
        assert_eq!(store.as_mut().pop_round(), None);
        assert!(!store.as_mut().take_round(), "one round per poll");
        store.as_mut().begin_poll();
        store.as_mut().remove(0);
        assert!(store.as_mut().take_round());
        assert_eq!(store.as_mut().pop_round(), Some(Woken::Attempt(2)));
        assert_eq!(store.as_mut().pop_round(), Some(Woken::Timer));
        assert_eq!(store.as_mut().pop_round(), None);
        assert_eq!(store.len(), 1);
    }
}
