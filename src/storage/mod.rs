//! Attempt storage: where the running attempts of a race live, and how the race learns which
//! of them to poll. The state machine (`race/state.rs`) is generic over [`Storage`]; each
//! storage is one file:
//!
//! - [`Slab`] (needs `alloc`): a slab of pinned slots grown in chunks. Any number of
//!   attempts. While no more than 8 have run at once (*task mode*), it polls them with the
//!   task's waker, as the inline storage does; past that, with a waker per slot, so a
//!   wake-up polls exactly the attempt that was woken, and a round is what was woken when it
//!   was taken, put in start order.
//! - [`Inline`]: a fixed array of `N` slots inside the race itself, no heap at all. Without a
//!   heap a waker cannot point into the race (the race may be gone before a waker an attempt
//!   kept), so every attempt is polled with the task's own waker, and a poll of the race
//!   polls every running attempt: `O(N)` per wake-up. `staggered_race` runs on it too,
//!   with room for 4, when its source promises at most 4 attempts (see `race/staggered_race.rs`).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

mod inline;
#[cfg(feature = "alloc")]
mod slab;

pub(crate) use inline::Inline;
#[cfg(feature = "alloc")]
pub(crate) use slab::Slab;

/// What woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woken {
    /// The attempt in this slot.
    Attempt(u32),
    /// The race's sleep.
    Timer,
}

/// One poll of one attempt.
pub(crate) struct Polled<O> {
    /// The attempt's index in the source.
    pub(crate) index: usize,
    pub(crate) poll: Poll<O>,
    /// The attempt woke itself while it was being polled (as far as the storage can tell).
    pub(crate) woke_itself: bool,
}

/// The surface the state machine uses. Keys are the storage's own names for slots.
///
/// The work of a poll goes in *rounds* (`take_round`, then `pop_round` until `None`): what
/// was woken when the round began, attempts in start order (the attempt that started first
/// goes first, whatever the order of the wake-ups: the tie rule of both races), then the
/// sleep. The order is fixed when the round is taken. `begin_poll` is called once at the
/// start of every poll of the race.
///
/// What a round costs: each entry `pop_round` yields (an attempt to poll, or the sleep) is one
/// unit of the race's budget, and a round yields nothing else: its last entry is the sleep's.
/// Whether the budget may cut a round short is [`whole_rounds`](Storage::whole_rounds).
///
/// Where a round is: a storage whose rounds may be cut keeps its place itself (the rest of a
/// cut round goes on in the next poll, and `in_round` tells). A round of a storage with whole
/// rounds never outlives the call that takes it, so it may keep its place in the caller's
/// `at`: a `usize` the caller keeps from `take_round` to the round's end (starting at 0),
/// which the storage moves on as it pops. The inline storage does, so its place stays in a
/// register, not in memory written on each entry; the slab keeps its place itself in both
/// of its modes.
pub(crate) trait Storage {
    /// The attempts' future.
    type Fut: Future;

    /// A round must be finished in the poll that took it, whatever it costs: the storage
    /// cannot tell which attempt was woken (its attempts are polled with the task's waker),
    /// so a round the budget cut short could lose the wake-up of an attempt polled before
    /// the cut. Its size is bounded by the number of attempts the storage polls that way.
    /// `false`: a round may be cut anywhere and goes on, where it was, in the next poll (each
    /// entry is one wake-up, and a wake-up that arrives meanwhile is queued for a later
    /// round). It may change only between rounds.
    ///
    /// A storage with whole rounds takes at most one round per poll of the race, and has
    /// nothing woken outside it ([`has_woken`](Storage::has_woken) is `false`): what its
    /// attempts wake is the task, and the next poll's round. The scheduler's quiet polls
    /// (`State::drive`) rest on both.
    fn whole_rounds(&self) -> bool;

    /// Stores attempt `index`'s future, pinned from here until it is removed, and returns
    /// its key.
    fn insert(self: Pin<&mut Self>, index: usize, fut: Self::Fut) -> u32;
    /// Polls the attempt in slot `key`; `cx` is the task's context (a storage with wakers of
    /// its own polls with those). `None` if the slot is vacant (a stale wake).
    fn poll(
        self: Pin<&mut Self>,
        key: u32,
        cx: &mut Context<'_>,
    ) -> Option<Polled<<Self::Fut as Future>::Output>>;
    /// Drops the future in slot `key`, in place, and frees the slot.
    fn remove(self: Pin<&mut Self>, key: u32);
    /// Drops every future held, in slot order.
    fn clear(self: Pin<&mut Self>);
    /// Drops every future held, in slot order, calling `dropped(index)` after each.
    fn clear_with(self: Pin<&mut Self>, dropped: impl FnMut(usize));
    /// Calls `f(key, index)` for every attempt held, in slot order (the order `clear` drops
    /// them in).
    fn for_each(&self, f: impl FnMut(u32, usize));
    /// The number of attempts held.
    fn len(&self) -> usize;
    /// A new poll of the race begins.
    fn begin_poll(self: Pin<&mut Self>);
    /// A round that may be cut is under way: taken, not all popped yet. (A storage with
    /// whole rounds is never asked in the middle of one: the scheduler runs such a round to
    /// its end in one call.)
    fn in_round(&self) -> bool;
    /// Takes a round, if there is anything to do; `true` if it has anything in it.
    fn take_round(self: Pin<&mut Self>) -> bool;
    /// The next slot or timer of the current round: attempts in start order, then the timer.
    /// `at`: the round's place, for a storage that keeps it in the caller's hands (see
    /// above); the others ignore it.
    fn pop_round(self: Pin<&mut Self>, at: &mut usize) -> Option<Woken>;
    /// Remembers the task to wake when an attempt or the sleep is woken.
    fn register(&self, waker: &Waker);
    /// Something was woken that no round has taken yet.
    fn has_woken(&self) -> bool;
    /// Polls `f` (the sleep) with the waker the sleep's wake-ups must reach.
    fn poll_timer<R>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Context<'_>) -> R,
    ) -> R;

    /// `true` if no attempt is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
