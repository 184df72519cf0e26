//! Attempt storage: a slab of pinned slots, grown in chunks, with one waker per slot.
//!
//! Chunk `c` holds `BASE << c` slots, so `n` attempts running at once need `O(log n)`
//! allocations, and the slots of finished attempts are reused (last freed, first reused).
//! A slot never moves once it holds a future: a chunk's slots are allocated once, with room
//! for all of them (and made as they are first taken), and growing the slab adds a chunk
//! instead of reallocating one. That is what makes `Pin<&mut Fut>` to a slot sound.
//!
//! # Task mode, then wakers
//!
//! A race starts in *task mode*: while no more than [`TASK_MODE`] (8, the first chunk)
//! attempts have run at once, every attempt is polled with the task's own waker, as in the
//! inline storage, and each poll of the race is one round of every attempt that was running
//! when the poll began, in start order, then the sleep ([`TaskRounds`]). Small races, the
//! common case (the addresses of a host, a request and its hedges), so pay nothing for
//! wakers: no allocation for them, no queue, no sort. (As the inline storage's rounds do,
//! these leave out the attempts started during the poll, which were polled as they started:
//! the slab keeps its attempts' start order in a list of its own, and the check is free.)
//!
//! The start that would make a ninth attempt run at once leaves task mode, for good
//! (`leave_task_mode`): the slab makes its wakers, and each chunk of slots gets a matching
//! [`WakerChunk`]: slot `k`'s waker is cell `k` of it, and the first chunk has one more cell,
//! for the race's sleep. Every running attempt and the sleep are queued to be polled once
//! more with their own wakers. From then on, a round is every cell woken so far, taken off the
//! wakers' queue at once; the slab puts it in the start order of the slots' attempts, then the
//! sleep ([`Slab::take_round`]), so that ties go to the attempt that started first, as in
//! task mode and the inline storage. A wake-up polls exactly the attempt that was woken.
//!
//! Where keys and cells sit in the chunks is `geometry.rs`'s business, shared with the wakers.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::ptr;
use core::task::{Context, Waker};

use super::{Polled, Woken};
use crate::geometry::{chunk_keys, locate, BASE, TIMER};
use crate::sync::Arc;
use crate::waker::{self, Batch, Shared, WakerChunk};

const NONE: u32 = u32::MAX;
/// Most set-aside slots one start looks at, once the free list is empty, before it grows the
/// slab.
const SCAN: usize = 4;
/// The most attempts a race runs at once in *task mode*, polled with the task's waker (see
/// the module's docs): the first chunk's slots. Under loom, none, so that the models check
/// the wakers from the first attempt on.
pub(crate) const TASK_MODE: usize = if cfg!(loom) { 0 } else { BASE };

enum Slot<Fut> {
    Vacant { next_free: u32 },
    Occupied { index: usize, fut: Fut },
}

struct Chunk<Fut> {
    /// The chunk's slots, made as they are first needed: allocated once with room for the
    /// whole chunk and never pushed past it, so never reallocated, and a slot never moves.
    slots: Vec<Slot<Fut>>,
    /// The slots' wakers, made when the slab leaves task mode.
    wakers: Option<WakerChunk>,
}

// The slots live on the heap and never move (see `slots`): moving a chunk moves only the
// `Vec`'s pointer, so a chunk is `Unpin` whatever the futures are, as a `Box` of them would
// be. (`Vec<T>` is `Unpin` only when `T` is. The slab itself needs no more; the race on it
// is `Unpin` only when its inline alternative is, that is, when the futures are.)
impl<Fut> Unpin for Chunk<Fut> {}

pub(crate) struct Slab<Fut> {
    /// Chunk 0, inline so that a small race makes no `Vec` allocation for its chunk list.
    first: Option<Chunk<Fut>>,
    /// Chunks 1 and up.
    rest: Vec<Chunk<Fut>>,
    /// Head of the list of vacant slots, to be reused last freed first.
    free: u32,
    /// Head of the queue of vacant slots set aside because a waker of an attempt that had the
    /// slot may still wake it (see "Stale wakers" in `waker.rs`), oldest first.
    stale: u32,
    /// The newest set-aside slot, if `stale` is not `NONE`.
    stale_tail: u32,
    /// Slots looked at by `take_vacant`, for the tests.
    #[cfg(test)]
    scanned: usize,
    /// Occupied slots.
    len: usize,
    /// The wakers' shared state; `None` while the slab is in *task mode* (see the module's
    /// docs): no more than [`TASK_MODE`] attempts have run at once, and every attempt is
    /// polled with the task's waker.
    shared: Option<Arc<Shared>>,
    batch: Batch,
    /// The running attempts and the round, in task mode.
    task: TaskRounds,
}

/// The rounds of task mode: the keys of the running attempts in start order (attempts start
/// in index order, so a start appends), and where the round under way is in that list.
struct TaskRounds {
    order: [u32; TASK_MODE],
    len: usize,
    /// The next position the round under way pops (`None` between rounds).
    next: Option<usize>,
    /// Positions from this one on hold attempts that started during this poll of the race,
    /// and were polled then, with its waker: its round leaves them out.
    limit: usize,
    /// This poll of the race has had its round.
    taken: bool,
}

impl TaskRounds {
    const fn new() -> Self {
        TaskRounds {
            order: [0; TASK_MODE],
            len: 0,
            next: None,
            limit: 0,
            taken: false,
        }
    }

    /// Attempt `key` started (the newest).
    #[inline]
    fn push(&mut self, key: u32) {
        self.order[self.len] = key;
        self.len += 1;
    }

    /// Attempt `key` is gone; the round under way, if any, goes on where it was.
    #[inline]
    fn remove(&mut self, key: u32) {
        let Some(at) = self.order[..self.len].iter().position(|&k| k == key) else {
            return;
        };
        for i in at + 1..self.len {
            self.order[i - 1] = self.order[i];
        }
        self.len -= 1;
        if at < self.limit {
            self.limit -= 1;
        }
        if let Some(next) = &mut self.next {
            if at < *next {
                *next -= 1;
            }
        }
    }

    /// A new poll of the race: its round is of the attempts running now.
    #[inline]
    fn begin_poll(&mut self) {
        self.taken = false;
        self.limit = self.len;
    }

    /// One round per poll of the race, of every attempt that was running when the poll began
    /// (any of them may have been woken since its last poll), then the sleep. None if nothing
    /// was: the sleep, if armed, was armed and polled in this poll, as its newest attempt
    /// started.
    #[inline]
    fn take(&mut self) -> bool {
        if self.taken || self.limit == 0 {
            self.taken = true;
            return false;
        }
        self.taken = true;
        self.next = Some(0);
        true
    }

    /// The round's next attempt, in start order, then the sleep, which ends the round.
    #[inline]
    fn pop(&mut self) -> Option<Woken> {
        let at = self.next?;
        Some(if at < self.limit {
            self.next = Some(at + 1);
            Woken::Attempt(self.order[at])
        } else {
            self.next = None;
            Woken::Timer
        })
    }
}

impl<Fut> Slab<Fut> {
    pub(crate) const fn new() -> Self {
        Slab {
            first: None,
            rest: Vec::new(),
            free: NONE,
            stale: NONE,
            stale_tail: NONE,
            #[cfg(test)]
            scanned: 0,
            len: 0,
            shared: None,
            batch: Batch::new(),
            task: TaskRounds::new(),
        }
    }

    /// The number of attempts held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots allocated.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        let chunks = usize::from(self.first.is_some()) + self.rest.len();
        BASE * ((1 << chunks) - 1)
    }

    fn chunk(&self, c: usize) -> &Chunk<Fut> {
        match c {
            0 => self.first.as_ref(),
            _ => self.rest.get(c - 1),
        }
        .expect("slot key out of the slab")
    }

    fn chunk_mut(&mut self, c: usize) -> &mut Chunk<Fut> {
        match c {
            0 => self.first.as_mut(),
            _ => self.rest.get_mut(c - 1),
        }
        .expect("slot key out of the slab")
    }

    fn slot_mut(&mut self, key: u32) -> &mut Slot<Fut> {
        let (c, i) = locate(key);
        &mut self.chunk_mut(c).slots[i]
    }

    /// Slot `key`'s waker cell; `None` before the slab has wakers.
    fn cell(&self, key: u32) -> Option<*const waker::Cell> {
        let (c, i) = locate(key);
        self.chunk(c).wakers.as_ref().map(|w| w.cell(i))
    }

    /// `true` if nothing can wake slot `key` any more: no waker of it exists, or none ever
    /// did.
    fn is_idle(&self, key: u32) -> bool {
        // SAFETY: the cell belongs to a chunk of this slab.
        self.cell(key)
            .map_or(true, |cell| unsafe { waker::is_idle(cell) })
    }

    /// Leaves task mode, for good: makes the wakers, and queues every running attempt and
    /// the sleep to be polled once more, in the next round, with their own wakers. (Each was
    /// last polled with the task's waker, and a future answers to the waker of its latest
    /// poll: until that poll, a wake-up of it wakes the task, not its cell.) Called between
    /// rounds, as an attempt starts.
    fn leave_task_mode(&mut self) {
        debug_assert!(self.task.next.is_none(), "task mode is left between rounds");
        self.ensure_wakers();
        let chunks = usize::from(self.first.is_some()) + self.rest.len();
        for c in 0..chunks {
            let chunk = self.chunk_mut(c);
            let wakers = chunk.wakers.as_ref().expect("made above");
            for (i, slot) in chunk.slots.iter_mut().enumerate() {
                if let Slot::Occupied { .. } = slot {
                    // SAFETY: the cell belongs to a chunk of this slab, alive for the call.
                    unsafe { waker::borrowed_waker(wakers.cell(i)) }.wake_by_ref();
                }
            }
            if c == 0 {
                // The sleep's cell (a wake-up of a sleep that is not armed is ignored).
                // SAFETY: as above.
                unsafe { waker::borrowed_waker(wakers.cell(BASE)) }.wake_by_ref();
            }
        }
    }

    /// Makes the wakers: the ready queue and a cell per slot, for every chunk so far (later
    /// chunks get theirs when they are made). Until then the slab allocates only its slots:
    /// a race in task mode never needs a waker of its own.
    pub(crate) fn ensure_wakers(&mut self) {
        if self.shared.is_some() {
            return;
        }
        let shared = Shared::new();
        let chunks = usize::from(self.first.is_some()) + self.rest.len();
        for c in 0..chunks {
            self.chunk_mut(c).wakers = Some(WakerChunk::new(&shared, c));
        }
        self.shared = Some(shared);
    }

    /// Adds a chunk, twice as large as the last one. Its slots are made as they are taken
    /// ([`take_fresh`](Self::take_fresh)).
    fn grow(&mut self) {
        let c = usize::from(self.first.is_some()) + self.rest.len();
        let (_, size) = chunk_keys(c);
        let wakers = self
            .shared
            .as_ref()
            .map(|shared| WakerChunk::new(shared, c));
        let chunk = Chunk {
            slots: Vec::with_capacity(size as usize),
            wakers,
        };
        if c == 0 {
            self.first = Some(chunk);
        } else {
            if self.rest.capacity() == 0 {
                self.rest.reserve_exact(8);
            }
            self.rest.push(chunk);
        }
    }

    /// A slot never used before, made at the end of the newest chunk, if it has room. (Only
    /// the newest chunk can: a chunk is added when no slot is left to take, fresh ones
    /// included.)
    fn take_fresh(&mut self) -> Option<u32> {
        let c = (usize::from(self.first.is_some()) + self.rest.len()).checked_sub(1)?;
        let (start, size) = chunk_keys(c);
        let slots = &mut self.chunk_mut(c).slots;
        if slots.len() == size as usize {
            return None;
        }
        let key = start + slots.len() as u32;
        // Within the room allocated with the chunk: no reallocation, nothing moves.
        slots.push(Slot::Vacant { next_free: NONE });
        Some(key)
    }

    /// Stores the future of attempt `index` in a vacant slot and returns the slot's key. The
    /// future is pinned there until it is removed.
    #[inline]
    pub(crate) fn insert(&mut self, index: usize, fut: Fut) -> u32 {
        if self.shared.is_none() && self.len < TASK_MODE {
            return self.insert_task(index, fut);
        }
        self.insert_precise(index, fut)
    }

    /// [`insert`](Self::insert) in task mode, the common case, kept short: every slot is in
    /// the first chunk, and nothing can wake a vacant slot, so the free list's head will do,
    /// or else a fresh slot (the chunk has room: fewer than its size run, and none is set
    /// aside in task mode).
    #[inline]
    fn insert_task(&mut self, index: usize, fut: Fut) -> u32 {
        let Slab {
            first, free, task, ..
        } = self;
        // The first chunk, made by the first start (in task mode, with no wakers).
        let slots = &mut first
            .get_or_insert_with(|| Chunk {
                slots: Vec::with_capacity(BASE),
                wakers: None,
            })
            .slots;
        let key = if *free != NONE {
            let key = *free;
            let slot = &mut slots[key as usize];
            let Slot::Vacant { next_free } = *slot else {
                unreachable!("the free list holds an occupied slot")
            };
            *free = next_free;
            *slot = Slot::Occupied { index, fut };
            key
        } else {
            let key = slots.len();
            assert!(key < BASE, "task mode has room in the first chunk");
            // Within the room allocated with the chunk: no reallocation, nothing moves.
            slots.push(Slot::Occupied { index, fut });
            key as u32
        };
        task.push(key);
        self.len += 1;
        key
    }

    /// [`insert`](Self::insert) with wakers, or the start that leaves task mode.
    #[inline(never)]
    fn insert_precise(&mut self, index: usize, fut: Fut) -> u32 {
        if self.shared.is_none() {
            self.leave_task_mode();
        }
        let key = self.take_vacant();
        let slot = self.slot_mut(key);
        debug_assert!(matches!(slot, Slot::Vacant { .. }));
        *slot = Slot::Occupied { index, fut };
        self.len += 1;
        key
    }

    /// A vacant slot whose waker nothing can wake any more: from the free list, else from the
    /// set-aside slots that have become idle since, else from a new chunk.
    ///
    /// The work is incremental:
    ///
    /// - Every start first looks at the oldest set-aside slot, so that queue keeps moving
    ///   while the free list serves: a slot whose wakers are gone is found again within as
    ///   many starts as there are slots set aside, before the fresh slots of the last growth
    ///   run out.
    /// - Then the free list, until a slot is idle. A slot that is not idle goes to the back of
    ///   the set-aside queue, so each freed slot is looked at there once: `O(1)` per slot
    ///   freed, amortized, and each of those frees was a unit of some poll's budget.
    /// - With the free list empty, at most [`SCAN`] set-aside slots, oldest first.
    ///
    /// Only then does the slab grow: when every free slot is held by a live waker. So the slab
    /// stays within a small multiple of the slots that are running or held by live wakers.
    fn take_vacant(&mut self) -> u32 {
        if let Some(key) = self.pop_stale() {
            if self.is_idle(key) {
                let free = self.free;
                self.set_next_vacant(key, free);
                self.free = key;
            } else {
                self.set_aside(key);
            }
        }
        while let Some(key) = self.pop_free() {
            if self.is_idle(key) {
                return key;
            }
            // A waker of an earlier attempt here may still wake this slot: set it aside, so
            // that it cannot poll the next attempt.
            self.set_aside(key);
        }
        if let Some(key) = self.take_fresh() {
            // Nothing to look at: no waker of a fresh slot was ever made.
            return key;
        }
        for _ in 0..SCAN {
            let Some(key) = self.pop_stale() else { break };
            if self.is_idle(key) {
                return key;
            }
            self.set_aside(key);
        }
        self.grow();
        let key = self.take_fresh().expect("a new chunk has room");
        debug_assert!(self.is_idle(key), "a new slot is idle");
        key
    }

    /// Takes the head of the free list, if any (counted for the tests).
    fn pop_free(&mut self) -> Option<u32> {
        let key = self.free;
        if key == NONE {
            return None;
        }
        self.free = self.next_vacant(key);
        #[cfg(test)]
        {
            self.scanned += 1;
        }
        Some(key)
    }

    /// Takes the oldest set-aside slot, if any (counted for the tests).
    fn pop_stale(&mut self) -> Option<u32> {
        let key = self.stale;
        if key == NONE {
            return None;
        }
        self.stale = self.next_vacant(key);
        #[cfg(test)]
        {
            self.scanned += 1;
        }
        Some(key)
    }

    /// Puts `key` at the back of the queue of set-aside slots.
    fn set_aside(&mut self, key: u32) {
        self.set_next_vacant(key, NONE);
        if self.stale == NONE {
            self.stale = key;
        } else {
            let tail = self.stale_tail;
            self.set_next_vacant(tail, key);
        }
        self.stale_tail = key;
    }

    fn next_vacant(&mut self, key: u32) -> u32 {
        match *self.slot_mut(key) {
            Slot::Vacant { next_free } => next_free,
            Slot::Occupied { .. } => unreachable!("a list of vacant slots holds an occupied one"),
        }
    }

    fn set_next_vacant(&mut self, key: u32, next: u32) {
        match self.slot_mut(key) {
            Slot::Vacant { next_free } => *next_free = next,
            Slot::Occupied { .. } => unreachable!("a list of vacant slots holds an occupied one"),
        }
    }

    /// Drops the future in slot `key` in place and frees the slot.
    #[inline]
    pub(crate) fn remove(&mut self, key: u32) {
        let next_free = self.free;
        let task_mode = self.shared.is_none();
        let slot = if task_mode {
            &mut self
                .first
                .as_mut()
                .expect("task mode uses the first chunk")
                .slots[key as usize]
        } else {
            self.slot_mut(key)
        };
        debug_assert!(matches!(slot, Slot::Occupied { .. }));
        vacate(slot, next_free);
        self.free = key;
        self.len -= 1;
        if task_mode {
            self.task.remove(key);
        }
    }

    /// Remembers the task polling the race, to be woken by any attempt's waker.
    #[inline]
    pub(crate) fn register(&self, waker: &Waker) {
        if let Some(shared) = &self.shared {
            shared.register(waker);
        }
    }

    /// `true` if something was woken and not yet popped.
    #[inline]
    pub(crate) fn has_woken(&self) -> bool {
        !self.batch.is_empty() || self.shared.as_ref().is_some_and(|s| s.has_woken())
    }

    /// Starts a round, if none is under way: takes every slot (and the timer) woken so far,
    /// to be popped by [`pop_round`](Self::pop_round) in start order (the attempt that
    /// started first goes first, whatever the order of the wake-ups), then the timer. What is
    /// woken from now on waits for the next round. `true` if the round has anything in it.
    ///
    /// The order is fixed here, as the round is taken, so a round the budget cuts short goes
    /// on in the same order in the next poll. (A slot in the round keeps its attempt until
    /// the round polls it: its cell stays queued, so the slot is not reused, and attempts are
    /// only started between rounds.)
    #[inline]
    pub(crate) fn take_round(&mut self) -> bool {
        if self.in_round() {
            return true;
        }
        if self.shared.is_none() {
            return self.task.take();
        }
        let Slab {
            first,
            rest,
            shared,
            batch,
            ..
        } = self;
        let Some(shared) = shared.as_deref() else {
            return false;
        };
        // SAFETY: `shared` is this slab's, and the slab owns every chunk whose cells can be
        // on its queue (chunks are only freed with the slab, which drops the batch too).
        if !unsafe { batch.refill(shared) } {
            return false;
        }
        batch.sort_by_rank(|key| start_index(first.as_mut(), rest, key));
        true
    }

    /// `true` while a round is under way: taken, and not all of it popped yet.
    #[inline]
    pub(crate) fn in_round(&self) -> bool {
        self.task.next.is_some() || !self.batch.is_empty()
    }

    /// The next woken slot or timer of the current round: attempts in start order, then the
    /// timer.
    #[inline]
    pub(crate) fn pop_round(&mut self) -> Option<Woken> {
        if self.shared.is_none() {
            return self.task.pop();
        }
        let key = self.batch.pop_taken()?;
        Some(if key == TIMER {
            Woken::Timer
        } else {
            Woken::Attempt(key)
        })
    }

    /// A new poll of the race begins: in task mode, it may take a round, of the attempts
    /// running now.
    #[inline]
    pub(crate) fn begin_poll(&mut self) {
        if self.shared.is_none() {
            self.task.begin_poll();
        }
    }

    /// Polls `f` with the waker of the race's sleep: the task's (`cx`) in task mode, else the
    /// sleep's own cell.
    #[inline]
    pub(crate) fn poll_timer<R>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Context<'_>) -> R,
    ) -> R {
        if self.shared.is_none() {
            return f(cx);
        }
        self.with_timer_waker(f)
    }

    /// Polls `f` with the waker of the race's sleep. Only valid once a first attempt exists.
    pub(crate) fn with_timer_waker<R>(&mut self, f: impl FnOnce(&mut Context<'_>) -> R) -> R {
        self.ensure_wakers();
        let cell = self
            .chunk(0)
            .wakers
            .as_ref()
            .expect("made above")
            .cell(BASE);
        // SAFETY: `cell` is from a chunk this slab owns, which outlives the call.
        let waker = unsafe { waker::borrowed_waker(cell) };
        f(&mut Context::from_waker(&waker))
    }
}

impl<Fut: Future> Slab<Fut> {
    /// Polls the attempt in slot `key` with that slot's own waker, or in task mode with the
    /// task's (`cx`). `None` if the slot is vacant (a stale wake of a finished attempt).
    #[inline]
    pub(crate) fn poll(&mut self, key: u32, cx: &mut Context<'_>) -> Option<Polled<Fut::Output>> {
        if self.shared.is_none() {
            // Task mode: every attempt is in the first chunk, and is polled with the task's
            // waker, which says nothing of who woke.
            let slots = &mut self.first.as_mut()?.slots;
            // Indexed after a check of the `Vec`'s length, not with `get_mut`: that takes the
            // slice's length through a shared reference to every slot, futures included, and a
            // shared reference to an attempt that borrows from itself invalidates its borrows
            // (miri's Stacked Borrows; see `start_index`).
            if key as usize >= slots.len() {
                return None;
            }
            let Slot::Occupied { index, fut } = &mut slots[key as usize] else {
                return None;
            };
            let index = *index;
            // SAFETY: the slot stays where it is until its future is dropped in place (the
            // same reasons as for the poll with the slot's own waker, below).
            let poll = unsafe { Pin::new_unchecked(fut) }.poll(cx);
            return Some(Polled {
                index,
                poll,
                woke_itself: false,
            });
        }
        self.poll_precise(key)
    }

    /// [`poll`](Self::poll) with the slot's own waker.
    #[inline(never)]
    fn poll_precise(&mut self, key: u32) -> Option<Polled<Fut::Output>> {
        // (One lookup of the chunk for both the cell and the slot.)
        let (c, i) = locate(key);
        let chunk = self.chunk_mut(c);
        let cell = chunk
            .wakers
            .as_ref()
            .expect("with wakers, every chunk has its cells")
            .cell(i);
        let Slot::Occupied { index, fut } = &mut chunk.slots[i] else {
            return None;
        };
        let index = *index;
        // SAFETY: a chunk's slots are allocated once, with room for all of them, and never
        // reallocated or moved out of (see `Chunk::slots`), and an occupied slot's future is
        // only ever dropped in place (`vacate`), so it stays pinned from here until it is
        // dropped.
        let fut = unsafe { Pin::new_unchecked(fut) };
        // SAFETY: `cell` belongs to a chunk of this slab, alive for the whole poll.
        let waker = unsafe { waker::borrowed_waker(cell) };
        let poll = fut.poll(&mut Context::from_waker(&waker));
        // SAFETY: as above.
        let woke_itself = poll.is_pending() && unsafe { waker::is_queued(cell) };
        Some(Polled {
            index,
            poll,
            woke_itself,
        })
    }
}

/// Where the entry `key` of a round goes: the start index of the attempt in slot `key`, so
/// that the attempt that started first goes first. The timer goes after every attempt, as in
/// the inline storage (its place changes nothing: a start it makes due is made after the
/// round). A vacant slot (a stale wake-up, which polls nothing) goes there too.
///
/// The slot is reached through `&mut`, as everywhere else in the slab: a shared reference to
/// an occupied slot would also cover its future, which may hold references into itself (an
/// `async` block that borrows its own locals), and reading through it would invalidate them.
fn start_index<Fut>(first: Option<&mut Chunk<Fut>>, rest: &mut [Chunk<Fut>], key: u32) -> usize {
    if key == TIMER {
        return usize::MAX;
    }
    let (c, i) = locate(key);
    let chunk = match c {
        0 => first,
        _ => rest.get_mut(c - 1),
    };
    match chunk.map(|chunk| &mut chunk.slots[i]) {
        Some(Slot::Occupied { index, .. }) => *index,
        _ => usize::MAX,
    }
}

/// Drops a slot's future in place and marks the slot vacant, even if the destructor panics.
fn vacate<Fut>(slot: &mut Slot<Fut>, next_free: u32) {
    struct MarkVacant<'a, Fut> {
        slot: *mut Slot<Fut>,
        next_free: u32,
        _slot: core::marker::PhantomData<&'a mut Slot<Fut>>,
    }
    impl<Fut> Drop for MarkVacant<'_, Fut> {
        fn drop(&mut self) {
            // SAFETY: the slot's old value has been dropped in place (or its destructor
            // unwound, which also ends its life), so writing over it without dropping it is
            // the only correct thing; the pointer comes from a live `&mut`.
            unsafe {
                ptr::write(
                    self.slot,
                    Slot::Vacant {
                        next_free: self.next_free,
                    },
                )
            };
        }
    }
    let guard = MarkVacant {
        slot,
        next_free,
        _slot: core::marker::PhantomData,
    };
    // SAFETY: the slot holds a valid value, dropped exactly once here; the guard then writes a
    // fresh value over it, on return and on unwind alike. Dropping in place keeps the pinning
    // promise for an occupied slot.
    unsafe { ptr::drop_in_place(guard.slot) };
}

impl<Fut: Future> super::Storage for Slab<Fut> {
    type Fut = Fut;
    /// Each entry of a round is one wake-up, with the attempt's own waker: a round cut by
    /// the budget goes on in the next poll, and loses nothing.
    #[inline]
    fn whole_rounds(&self) -> bool {
        self.shared.is_none()
    }

    #[inline]
    fn insert(self: Pin<&mut Self>, index: usize, fut: Fut) -> u32 {
        Slab::insert(self.get_mut(), index, fut)
    }

    #[inline]
    fn poll(self: Pin<&mut Self>, key: u32, cx: &mut Context<'_>) -> Option<Polled<Fut::Output>> {
        Slab::poll(self.get_mut(), key, cx)
    }

    #[inline]
    fn remove(self: Pin<&mut Self>, key: u32) {
        Slab::remove(self.get_mut(), key)
    }

    #[inline]
    fn clear(self: Pin<&mut Self>) {
        let this = self.get_mut();
        if this.len == 0 {
            // Nothing to drop (the race ends, usually with its winner removed already): the
            // chunks and wakers go with the slab.
            return;
        }
        // The futures drop with the chunks, in slot order.
        drop(core::mem::replace(this, Slab::new()));
    }

    #[inline]
    fn clear_with(mut self: Pin<&mut Self>, mut dropped: impl FnMut(usize)) {
        let this = self.as_mut().get_mut();
        for chunk in this.first.iter_mut().chain(this.rest.iter_mut()) {
            for slot in chunk.slots.iter_mut() {
                if let Slot::Occupied { index, .. } = slot {
                    let index = *index;
                    // Dropped in place; the free list is rebuilt by `clear` below.
                    vacate(slot, NONE);
                    dropped(index);
                }
            }
        }
        self.clear();
    }

    #[inline]
    fn for_each(&self, mut f: impl FnMut(u32, usize)) {
        if self.len == 0 {
            return;
        }
        let chunks = self.first.iter().chain(self.rest.iter());
        for (c, chunk) in chunks.enumerate() {
            let (start, _) = chunk_keys(c);
            for (i, slot) in chunk.slots.iter().enumerate() {
                if let Slot::Occupied { index, .. } = slot {
                    f(start + i as u32, *index);
                }
            }
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn begin_poll(self: Pin<&mut Self>) {
        Slab::begin_poll(self.get_mut())
    }

    #[inline]
    fn in_round(&self) -> bool {
        Slab::in_round(self)
    }

    #[inline]
    fn take_round(self: Pin<&mut Self>) -> bool {
        Slab::take_round(self.get_mut())
    }

    #[inline]
    fn pop_round(self: Pin<&mut Self>, _: &mut usize) -> Option<Woken> {
        // (Its task mode's rounds are whole, but it keeps their place itself too: the same
        // code serves both modes.)
        Slab::pop_round(self.get_mut())
    }

    #[inline]
    fn register(&self, waker: &Waker) {
        Slab::register(self, waker)
    }

    #[inline]
    fn has_woken(&self) -> bool {
        Slab::has_woken(self)
    }

    #[inline]
    fn poll_timer<R>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Context<'_>) -> R,
    ) -> R {
        Slab::poll_timer(self.get_mut(), cx, f)
    }
}

impl<Fut> Drop for Slab<Fut> {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.unregister();
        }
        // The futures drop with the chunks (slot order); the wakers' chunks are released, and
        // freed once the last waker clone an attempt may have kept is gone.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_last_freed_first() {
        let mut slab = Slab::new();
        let a = slab.insert(0, core::future::pending::<()>());
        let b = slab.insert(1, core::future::pending::<()>());
        assert_ne!(a, b);
        slab.remove(a);
        assert_eq!(slab.insert(2, core::future::pending::<()>()), a);
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.capacity(), BASE);
    }

    #[test]
    fn grows_in_doubling_chunks_without_moving_slots() {
        let mut slab = Slab::new();
        let n = BASE * 7; // three chunks: BASE, 2 BASE, 4 BASE
        let keys: Vec<u32> = (0..n)
            .map(|i| slab.insert(i, core::future::pending::<()>()))
            .collect();
        assert_eq!(slab.capacity(), n);
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), n);
        for key in keys {
            slab.remove(key);
        }
        assert!(slab.is_empty());
    }

    /// A slab with its wakers from the start, as after task mode: these tests are about
    /// them, and a slab leaving task mode queues its running attempts once.
    fn precise<Fut>() -> Slab<Fut> {
        let mut slab = Slab::new();
        slab.ensure_wakers();
        slab
    }

    /// A clone of the waker of slot `key`.
    fn clone_waker<Fut>(slab: &mut Slab<Fut>, key: u32) -> Waker {
        slab.ensure_wakers();
        // SAFETY: the slab outlives the borrowed waker, which is cloned at once.
        let w = unsafe { waker::borrowed_waker(slab.cell(key).unwrap()) };
        (*w).clone()
    }

    /// Inserts into `slab`, checks that the start looked at no more slots than the
    /// set-aside queue's head, `SCAN` of the queue and the free list's slots freed since the
    /// last start (`freed`), and did not take one of `held`; returns the key.
    fn insert_bounded(
        slab: &mut Slab<core::future::Pending<()>>,
        i: usize,
        freed: usize,
        held: &[u32],
    ) -> u32 {
        slab.scanned = 0;
        let key = slab.insert(i, core::future::pending());
        assert!(
            slab.scanned <= 1 + SCAN + freed,
            "start {i} looked at {} slots ({freed} freed since the last)",
            slab.scanned
        );
        assert!(!held.contains(&key), "a slot with a live waker was reused");
        key
    }

    #[test]
    fn a_start_looks_at_a_bounded_number_of_set_aside_slots() {
        let mut slab = precise();
        // Fewer under miri, which is ~1000x slower.
        let n = if cfg!(miri) { 40 } else { 1_000 };
        let held: Vec<u32> = (0..n)
            .map(|i| slab.insert(i, core::future::pending()))
            .collect();
        // Every one of these attempts leaves a clone of its waker behind: no slot of theirs
        // may be reused while it lives.
        let kept: Vec<Waker> = held.iter().map(|&k| clone_waker(&mut slab, k)).collect();
        for &key in &held {
            slab.remove(key);
        }
        let capacity = slab.capacity();
        // Attempts that keep nothing. The first start walks the n held slots on the free list
        // once (each goes to the set-aside queue); the others look at a handful.
        for i in 0..3 * n {
            let freed = if i == 0 { n } else { 1 };
            let key = insert_bounded(&mut slab, i, freed, &held);
            slab.remove(key);
        }
        assert!(
            slab.capacity() <= 2 * capacity + BASE,
            "{}",
            slab.capacity()
        );
        // Churn: each attempt keeps its waker until the next one has run. Its slot must be
        // found again behind the 1,000 held ones, or the slab would grow with the churn.
        let mut last = None;
        for i in 0..20 * n {
            let key = insert_bounded(&mut slab, i, 1, &held);
            last = Some(clone_waker(&mut slab, key));
            slab.remove(key);
        }
        drop(last);
        assert!(slab.capacity() <= 4 * capacity, "{}", slab.capacity());
        // Once the wakers are gone, the set-aside slots are reused again.
        drop(kept);
        let capacity = slab.capacity();
        let again: Vec<u32> = (0..capacity)
            .map(|i| slab.insert(i, core::future::pending()))
            .collect();
        assert_eq!(
            slab.capacity(),
            capacity,
            "every slot is reused, none added"
        );
        assert_eq!(again.len(), capacity);
    }

    /// Bursts of attempts that finish together, each leaving its waker until the next burst
    /// has run: many held slots reach the free list at once, again and again. The slab must
    /// grow with what is held, not with the number of bursts (it once doubled per burst).
    #[test]
    fn bursts_of_held_slots_do_not_grow_the_slab_without_bound() {
        let mut slab = precise::<core::future::Pending<()>>();
        let burst = 20;
        let mut held: Vec<Waker> = Vec::new();
        for round in 0..if cfg!(miri) { 10 } else { 200 } {
            let keys: Vec<u32> = (0..burst)
                .map(|i| slab.insert(round * burst + i, core::future::pending()))
                .collect();
            let wakers: Vec<Waker> = keys.iter().map(|&k| clone_waker(&mut slab, k)).collect();
            for key in keys {
                slab.remove(key);
            }
            // The previous burst's wakers go; this burst's stay until the next one has run.
            held = wakers;
            // At most two bursts are held at once (and one running): a few chunks.
            assert!(
                slab.capacity() <= 8 * burst,
                "{} slots after burst {round}",
                slab.capacity()
            );
        }
        drop(held);
    }

    #[test]
    fn woken_slots_pop_in_start_order_once() {
        let mut slab = precise();
        let keys: Vec<u32> = (0..3)
            .map(|i| slab.insert(i, core::future::pending::<()>()))
            .collect();
        let wakers: Vec<Waker> = keys.iter().map(|&k| clone_waker(&mut slab, k)).collect();
        wakers[2].wake_by_ref();
        wakers[0].wake_by_ref();
        wakers[2].wake_by_ref(); // already queued: no second entry
        assert_eq!(
            waker::stack_keys(slab.shared.as_ref().unwrap()),
            [keys[0], keys[2]]
        );
        assert!(slab.take_round());
        // Woken after the round was taken: in the next one.
        wakers[1].wake_by_ref();
        // Attempt 0 started first: it goes first, though it was woken second.
        assert_eq!(slab.pop_round(), Some(Woken::Attempt(keys[0])));
        assert_eq!(slab.pop_round(), Some(Woken::Attempt(keys[2])));
        assert_eq!(slab.pop_round(), None);
        assert!(slab.take_round());
        assert_eq!(slab.pop_round(), Some(Woken::Attempt(keys[1])));
        assert_eq!(slab.pop_round(), None);
        assert!(!slab.take_round());
        drop(slab);
        // Wakers outlive the slab harmlessly.
        for w in wakers {
            w.wake();
        }
    }

    /// A round of many attempts, woken in a scrambled order, with the timer and stale
    /// wake-ups of vacant slots among them: the attempts pop in start order, then the rest;
    /// the order is fixed when the round is taken, and a round cut short keeps it.
    #[test]
    fn a_round_pops_attempts_in_start_order_then_the_timer() {
        let n = if cfg!(miri) { 40 } else { 300 };
        let mut slab = precise();
        // Start indices that do not follow the keys: slots are reused last freed first.
        let mut keys: Vec<(u32, usize)> = Vec::new();
        for i in 0..n {
            let key = slab.insert(i, core::future::pending::<()>());
            keys.push((key, i));
            if i % 3 == 1 {
                slab.remove(key);
                keys.pop();
            }
        }
        let wakers: Vec<(Waker, usize)> = keys
            .iter()
            .map(|&(k, i)| (clone_waker(&mut slab, k), i))
            .collect();
        // A vacant slot with a live waker (set aside, never reused while it lives).
        let gone = slab.insert(n, core::future::pending::<()>());
        let stale = clone_waker(&mut slab, gone);
        slab.remove(gone);
        // A scrambled wake order: a stride through the attempts, the timer and the stale
        // waker in the middle.
        let len = wakers.len();
        let stride = 7;
        assert_ne!(len % stride, 0);
        for step in 0..len {
            wakers[(step * stride) % len].0.wake_by_ref();
            if step == len / 2 {
                slab.with_timer_waker(|cx| cx.waker().wake_by_ref());
                stale.wake_by_ref();
            }
        }
        assert!(slab.take_round());
        let mut popped = Vec::new();
        while let Some(woken) = slab.pop_round() {
            if popped.len() == len / 3 {
                // Woken again mid-round: for the next round, not this one.
                wakers[0].0.wake_by_ref();
                // A round the budget cut short is taken again: same order.
                assert!(slab.take_round());
            }
            popped.push(woken);
        }
        let mut want: Vec<(u32, usize)> = keys.clone();
        want.sort_by_key(|&(_, i)| i);
        let attempts: Vec<Woken> = want.iter().map(|&(k, _)| Woken::Attempt(k)).collect();
        assert_eq!(popped[..len], attempts[..]);
        let mut tail = popped[len..].to_vec();
        tail.sort_by_key(|w| matches!(w, Woken::Timer));
        assert_eq!(tail, [Woken::Attempt(gone), Woken::Timer]);
        assert!(slab.take_round());
        assert_eq!(slab.pop_round(), Some(Woken::Attempt(want[0].0)));
        assert_eq!(slab.pop_round(), None);
        drop(slab);
        drop(wakers);
        drop(stale);
    }
}
