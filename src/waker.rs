//! Per-attempt wakers and the ready queue.
//!
//! Every slot of the attempt storage has a [`Cell`]: a tiny, reference-counted waker target.
//! Waking a cell pushes it onto a lock-free ready queue shared by the whole race and wakes the
//! task that polls the race, so the next poll of the race polls exactly the attempts that were
//! woken, and nothing else.
//!
//! # Layout
//!
//! Cells are allocated in chunks (one `Arc<[Cell]>` per chunk of slots), never one allocation
//! per waker. A [`Waker`] made from a cell points at the cell; cloning or dropping it changes
//! the reference count of the cell's chunk. A chunk therefore lives as long as the race *or*
//! the longest-lived clone of one of its wakers, so a waker kept past the end of the race stays
//! harmless: waking it queues a cell that nobody will ever read.
//!
//! # The queue
//!
//! The queue is a Treiber stack of cells, with one consumer (the race) that only ever takes the
//! whole stack at once. Taking everything with one `swap` means the consumer never pops a single
//! node, so the stack has no ABA problem. A cell's `QUEUED` bit guarantees that it is on the
//! queue at most once, which also makes its `next` field owned by whoever set the flag:
//!
//! * a waker that sets the bit owns `next` until its push succeeds;
//! * after that the consumer owns it, until it clears the bit.
//!
//! What the consumer takes at once is a *round*. It comes off the stack in wake order; the
//! slab then relinks it in start order ([`Batch::sort_by_rank`]), and pops it in that order.
//!
//! # Stale wakers
//!
//! A cell belongs to a slot, and a slot is reused by later attempts. So that a waker of a
//! finished attempt can never poll the attempt that took its slot, each cell also counts the
//! clones of its waker that exist. The storage reuses a slot only when its cell is *idle*: no
//! clone left and not queued ([`is_idle`]). A late wake then finds the slot vacant and polls
//! nothing.
//!
//! Per wake this costs one `swap` of the flag and one compare-and-swap of the stack head; the
//! task waker is woken only by the push that finds the stack empty, because a non-empty stack
//! means an earlier push already woke it and the consumer has not taken the stack yet.

use core::ptr;
use core::task::{RawWaker, RawWakerVTable, Waker};

use crate::geometry::{self, TIMER};
use crate::sync::{self, Arc, AtomicPtr, AtomicU32, AtomicWaker, Ordering};

/// The state every waker of one race can reach.
pub(crate) struct Shared {
    /// The top of the stack of woken cells, or null.
    head: AtomicPtr<Cell>,
    /// The task that polls the race.
    parent: AtomicWaker,
}

impl Shared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Shared {
            head: AtomicPtr::new(ptr::null_mut()),
            parent: AtomicWaker::new(),
        })
    }

    /// Remembers the task to wake when an attempt is woken.
    #[inline]
    pub(crate) fn register(&self, waker: &Waker) {
        self.parent.register(waker);
    }

    /// Forgets the task: nothing wakes it any more. Used when the race ends or is dropped, so
    /// that wakers kept by attempts do not keep the task alive or wake it for nothing.
    pub(crate) fn unregister(&self) {
        drop(self.parent.take());
    }

    /// `true` if a cell was woken since the stack was last taken.
    #[inline]
    pub(crate) fn has_woken(&self) -> bool {
        !self.head.load(Ordering::Acquire).is_null()
    }
}

/// The waker target of one slot (or of the race's sleep). 24 bytes.
pub(crate) struct Cell {
    /// The race's queue and task waker. The chunk owns one strong count of it, held by its
    /// cell 0 and given back when cell 0 is dropped with the chunk (`Drop for Cell`), so that
    /// making a chunk costs one reference count, not one per cell.
    shared: *const Shared,
    /// The next cell down the stack, or in the consumer's batch.
    next: AtomicPtr<Cell>,
    /// What the cell wakes: a slot key, or [`TIMER`]. Its place in its chunk, and the chunk's
    /// length, follow from it ([`geometry::cell_place`]).
    key: u32,
    /// [`QUEUED`] while the cell is on the stack or in the consumer's batch, plus the number
    /// of clones of the cell's waker that exist.
    state: AtomicU32,
}

/// The bit of [`Cell::state`] that says the cell is queued; the bits below count clones.
const QUEUED: u32 = 1 << 31;

// SAFETY: `shared` stands for a strong count of an `Arc<Shared>` (whose fields are atomics and
// an `AtomicWaker`, all `Send + Sync`); everything else is atomics and a plain integer.
unsafe impl Send for Cell {}
// SAFETY: as above; through `&Cell` only atomics are written.
unsafe impl Sync for Cell {}

impl Drop for Cell {
    fn drop(&mut self) {
        if geometry::cell_place(self.key).0 == 0 {
            // SAFETY: cell 0 of each chunk owns the chunk's strong count of `Shared`, taken
            // with `Arc::into_raw` in `WakerChunk::new`; the chunk drops each cell once.
            drop(unsafe { Arc::from_raw(self.shared) });
        }
    }
}

/// One chunk of cells: an owned `Arc<[Cell]>` kept as the raw pointer that `Arc::into_raw`
/// returned, so that pointers to its cells carry the provenance of the whole allocation.
pub(crate) struct WakerChunk {
    cells: ptr::NonNull<Cell>,
    len: usize,
}

// SAFETY: a `WakerChunk` is an owned `Arc<[Cell]>`, and `Cell` is `Send + Sync`.
unsafe impl Send for WakerChunk {}
// SAFETY: as above; shared access only reads the pointer and touches the cells' atomics.
unsafe impl Sync for WakerChunk {}

impl WakerChunk {
    /// Allocates the cells of the slab's chunk `chunk` (its slots' keys, plus the timer's cell
    /// at the end of chunk 0). One allocation.
    pub(crate) fn new(shared: &Arc<Shared>, chunk: usize) -> Self {
        let (first_key, slots) = geometry::chunk_keys(chunk);
        let len = slots + u32::from(chunk == 0);
        // One count for the whole chunk, owned by its cell 0.
        let shared = Arc::into_raw(Arc::clone(shared));
        let cells: Arc<[Cell]> = sync::arc_slice((0..len).map(|pos| Cell {
            shared,
            next: AtomicPtr::new(ptr::null_mut()),
            state: AtomicU32::new(0),
            key: if pos < slots { first_key + pos } else { TIMER },
        }));
        debug_assert!(cells
            .iter()
            .enumerate()
            .all(|(pos, cell)| geometry::cell_place(cell.key) == (pos, len as usize)));
        let raw = Arc::into_raw(cells);
        WakerChunk {
            // SAFETY: `Arc::into_raw` never returns null.
            cells: unsafe { ptr::NonNull::new_unchecked(raw as *mut Cell) },
            len: len as usize,
        }
    }

    /// A pointer to cell `pos`, with the provenance of the whole chunk.
    #[inline]
    pub(crate) fn cell(&self, pos: usize) -> *const Cell {
        assert!(pos < self.len, "cell {pos} out of a chunk of {}", self.len);
        // SAFETY: `pos` is in bounds of the chunk's allocation.
        unsafe { self.cells.as_ptr().add(pos) }
    }
}

impl Drop for WakerChunk {
    fn drop(&mut self) {
        let raw = ptr::slice_from_raw_parts(self.cells.as_ptr() as *const Cell, self.len);
        // SAFETY: `raw` is the pointer `Arc::into_raw` returned in `new`, and this handle owns
        // one strong count, which it gives back exactly once.
        drop(unsafe { Arc::from_raw(raw) });
    }
}

/// A waker for `cell` that borrows the chunk's reference count instead of taking one: the
/// caller keeps it inside a `ManuallyDrop` and never drops it. Cloning it takes a count.
///
/// # Safety
///
/// `cell` comes from [`WakerChunk::cell`] on a chunk that outlives every use of the result.
#[inline]
pub(crate) unsafe fn borrowed_waker(cell: *const Cell) -> core::mem::ManuallyDrop<Waker> {
    // SAFETY: the vtable's contract holds for a pointer to a live cell (see the functions
    // below); the caller never drops the result, so it takes no count it would give back.
    core::mem::ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(cell.cast(), &VTABLE)) })
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// The `Arc<[Cell]>` pointer of the chunk that holds `cell`.
///
/// # Safety
///
/// `cell` points at a live cell and carries the provenance of its whole chunk.
unsafe fn chunk_of(cell: *const Cell) -> *const [Cell] {
    // SAFETY: the cell is live (caller's contract); its key never changes.
    let (pos, len) = geometry::cell_place(unsafe { (*cell).key });
    // SAFETY: the cell is at index `pos` of its chunk, so its start is `pos` cells before it,
    // inside the same allocation.
    ptr::slice_from_raw_parts(unsafe { cell.sub(pos) }, len)
}

unsafe fn clone(data: *const ()) -> RawWaker {
    let cell: *const Cell = data.cast();
    // SAFETY: `data` is a cell pointer from `borrowed_waker` or an earlier clone, and the
    // waker being cloned holds (or borrows) a count on its chunk, so the chunk is live.
    let clones = unsafe { (*cell).state.fetch_add(1, Ordering::Relaxed) } & !QUEUED;
    if clones >= QUEUED - 1 {
        // 2^31 live clones of one waker: as `Arc` does on overflow, stop here.
        abort_on_overflow();
    }
    // SAFETY: as above.
    unsafe { Arc::increment_strong_count(chunk_of(cell)) };
    RawWaker::new(data, &VTABLE)
}

#[cold]
fn abort_on_overflow() -> ! {
    // Panicking while panicking aborts, in `no_std` too.
    struct Abort;
    impl Drop for Abort {
        fn drop(&mut self) {
            panic!("staggered: waker clone count overflow");
        }
    }
    let _abort = Abort;
    panic!("staggered: waker clone count overflow");
}

unsafe fn wake(data: *const ()) {
    // SAFETY: an owned waker: its count keeps the cell alive through both calls.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    let cell: *const Cell = data.cast();
    // SAFETY: the waker holds or borrows a count, so the cell and its `Arc<Shared>` are live.
    let this = unsafe { &*cell };
    if this.state.fetch_or(QUEUED, Ordering::AcqRel) & QUEUED != 0 {
        // Already queued: the consumer will poll it once for all wakes so far.
        return;
    }
    // SAFETY: the chunk holds a count of `Shared` while any of its wakers exists.
    let shared = unsafe { &*this.shared };
    let mut head = shared.head.load(Ordering::Relaxed);
    loop {
        // We own `next` until the push succeeds (we set `QUEUED`).
        this.next.store(head, Ordering::Relaxed);
        match shared.head.compare_exchange_weak(
            head,
            cell as *mut Cell,
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => break,
            Err(actual) => head = actual,
        }
    }
    if head.is_null() {
        // First on an empty stack: the consumer may be idle.
        shared.parent.wake();
    }
}

unsafe fn drop_waker(data: *const ()) {
    let cell: *const Cell = data.cast();
    // SAFETY: an owned waker holds a count on its chunk, so the cell is live. Release: the
    // slot may be reused once this reaches zero, after everything this waker did.
    unsafe { (*cell).state.fetch_sub(1, Ordering::Release) };
    // SAFETY: an owned waker gives back the count it took in `clone`.
    unsafe { Arc::decrement_strong_count(chunk_of(cell)) };
}

/// The consumer's side of the queue: the batch of woken cells it is working through.
///
/// Cells in the batch keep their `QUEUED` bit, so no waker touches their `next` fields.
pub(crate) struct Batch {
    next: *const Cell,
}

// SAFETY: the batch only holds pointers to cells of chunks that the same `Slab` owns; it moves
// with them.
unsafe impl Send for Batch {}
// SAFETY: a shared `&Batch` only exposes `is_empty`.
unsafe impl Sync for Batch {}

impl Batch {
    pub(crate) const fn new() -> Self {
        Batch { next: ptr::null() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.next.is_null()
    }

    /// Takes the next woken cell, refilling the batch from the stack when it runs dry, and
    /// clears the cell's `QUEUED` bit so that a wake during its poll queues it again.
    /// Returns the cell's key.
    ///
    /// # Safety
    ///
    /// `shared` is the race's `Shared`, and every chunk that has had a cell pushed is still
    /// owned by the caller.
    #[cfg(loom)]
    pub(crate) unsafe fn pop(&mut self, shared: &Shared) -> Option<u32> {
        // SAFETY: the caller's contract is `refill`'s.
        unsafe { self.refill(shared) };
        self.pop_taken()
    }

    /// If the batch is empty, takes every cell woken so far off the stack into it, in wake
    /// order: one *round* (which the slab then puts in start order with
    /// [`sort_by_rank`](Self::sort_by_rank)). Cells woken from now on go to the next round.
    /// Returns `true` if the batch has cells.
    ///
    /// # Safety
    ///
    /// As for [`pop`](Self::pop).
    #[inline]
    pub(crate) unsafe fn refill(&mut self, shared: &Shared) -> bool {
        if !self.next.is_null() {
            return true;
        }
        if shared.head.load(Ordering::Relaxed).is_null() {
            // Nothing woken: skip the read-modify-write (an idle poll ends here).
            return false;
        }
        let mut top = shared.head.swap(ptr::null_mut(), Ordering::Acquire);
        // The stack is newest first; reverse it into wake order (the slab then puts the round
        // in start order: `sort_by_rank`).
        let mut reversed: *const Cell = ptr::null();
        while !top.is_null() {
            // SAFETY: cells on the stack are live (caller's contract) and queued, so their
            // `next` fields are ours.
            let cell = unsafe { &*top };
            let below = cell.next.load(Ordering::Relaxed);
            cell.next.store(reversed as *mut Cell, Ordering::Relaxed);
            reversed = top;
            top = below;
        }
        self.next = reversed;
        !self.next.is_null()
    }

    /// Puts the cells of the batch in the order of `rank(key)`, lowest first; cells of equal
    /// rank keep their order. A stable merge sort of the intrusive list: no allocation,
    /// `O(n log n)` calls of `rank`, and one pass when the batch is in order already (one
    /// cell, or cells woken in order), the common case. `rank` must not touch the batch.
    ///
    /// A batch of one cell (a wake-up of one attempt, the commonest round) is seen here,
    /// inlined into the caller, without a call (`cargo bench --bench instructions`, `p-wake
    /// 100`: a call cost 25 instructions a wake-up).
    #[inline]
    pub(crate) fn sort_by_rank(&mut self, rank: impl FnMut(u32) -> usize) {
        if self.next.is_null() {
            return;
        }
        // SAFETY: `self.next` is a cell of the batch: live (the `refill` contract) and
        // queued, so its `next` field is ours.
        if unsafe { (*self.next).next.load(Ordering::Relaxed) }.is_null() {
            return;
        }
        self.sort_many_by_rank(rank);
    }

    /// [`sort_by_rank`](Self::sort_by_rank) for a batch of any size. (It checks for a batch
    /// of 0 or 1 cells again: its one caller has, but the check is what makes the reads
    /// below sound, so it stays next to them.)
    #[inline(never)]
    fn sort_many_by_rank(&mut self, mut rank: impl FnMut(u32) -> usize) {
        if self.next.is_null() {
            return;
        }
        // The cells of the batch are live (the `refill` contract: their chunks are owned by
        // the batch's owner) and queued, so their `next` fields are ours; the sort only
        // relinks them, and each cell stays in the batch exactly once.
        // SAFETY: `cell` is a cell of the batch (see above).
        let key = |cell: *const Cell| unsafe { (*cell).key };
        // SAFETY: as above.
        let next = |cell: *const Cell| unsafe { (*cell).next.load(Ordering::Relaxed) }.cast_const();
        let set_next = |cell: *const Cell, to: *const Cell| {
            // SAFETY: as above; `to` is null or a cell of the batch.
            unsafe { (*cell).next.store(to.cast_mut(), Ordering::Relaxed) }
        };
        // One cell (a round of one wake-up, the common case): nothing to ask `rank`.
        if next(self.next).is_null() {
            return;
        }
        // In order already?
        let mut cell = self.next;
        let mut last = rank(key(cell));
        loop {
            let after = next(cell);
            if after.is_null() {
                return;
            }
            let r = rank(key(after));
            if r < last {
                break;
            }
            last = r;
            cell = after;
        }
        // Merges two sorted lists, `a`'s cells before `b`'s on equal rank. The rank of each
        // list's head is kept, so each step asks `rank` once, for the cell that moves up.
        let mut merge = |mut a: *const Cell, mut b: *const Cell| -> *const Cell {
            let mut head: *const Cell = ptr::null();
            let mut tail: *const Cell = ptr::null();
            if a.is_null() || b.is_null() {
                return if a.is_null() { b } else { a };
            }
            let (mut rank_a, mut rank_b) = (rank(key(a)), rank(key(b)));
            while !a.is_null() && !b.is_null() {
                let take = if rank_b < rank_a {
                    let t = b;
                    b = next(b);
                    if !b.is_null() {
                        rank_b = rank(key(b));
                    }
                    t
                } else {
                    let t = a;
                    a = next(a);
                    if !a.is_null() {
                        rank_a = rank(key(a));
                    }
                    t
                };
                if tail.is_null() {
                    head = take;
                } else {
                    set_next(tail, take);
                }
                tail = take;
            }
            let rest = if a.is_null() { b } else { a };
            if tail.is_null() {
                rest
            } else {
                set_next(tail, rest);
                head
            }
        };
        // Bottom-up, with a binary counter of sorted runs: `runs[i]` is empty or holds `2^i`
        // cells, all woken before the cells of `runs[j]` for `j < i`. A batch holds fewer
        // than `2^33` cells (keys are `u32`), so 34 runs are enough.
        let mut runs: [*const Cell; 34] = [ptr::null(); 34];
        let mut cell = self.next;
        while !cell.is_null() {
            let after = next(cell);
            set_next(cell, ptr::null());
            let mut carry = cell;
            let mut i = 0;
            while !runs[i].is_null() {
                carry = merge(runs[i], carry);
                runs[i] = ptr::null();
                i += 1;
            }
            runs[i] = carry;
            cell = after;
        }
        let mut sorted: *const Cell = ptr::null();
        for run in runs {
            if !run.is_null() {
                sorted = merge(run, sorted);
            }
        }
        self.next = sorted;
    }

    /// Takes the next cell of the current round (never refills), and clears its `QUEUED` bit
    /// so that a wake during its poll queues it again, for the next round. Returns its key.
    #[inline]
    pub(crate) fn pop_taken(&mut self) -> Option<u32> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: batch cells are live (the `refill` contract: their chunks are owned by the
        // batch's owner) and their `next` fields are ours until `QUEUED` is cleared.
        let cell = unsafe { &*self.next };
        self.next = cell.next.load(Ordering::Relaxed);
        // Read `next` before this: once `QUEUED` is clear a waker may overwrite it.
        let was = cell.state.fetch_and(!QUEUED, Ordering::AcqRel);
        debug_assert!(was & QUEUED != 0, "a cell in the batch must be queued");
        Some(cell.key)
    }
}

/// `true` if `cell` has been woken since it was last popped (for example by its own future,
/// during its poll).
///
/// # Safety
///
/// `cell` is live.
#[inline]
pub(crate) unsafe fn is_queued(cell: *const Cell) -> bool {
    // SAFETY: the caller guarantees the cell is live.
    unsafe { (*cell).state.load(Ordering::Relaxed) & QUEUED != 0 }
}

/// `true` if no clone of `cell`'s waker exists and the cell is not queued: nothing can wake
/// or queue it any more, so its slot may take a new attempt.
///
/// # Safety
///
/// `cell` is live.
#[inline]
pub(crate) unsafe fn is_idle(cell: *const Cell) -> bool {
    // Acquire: pairs with the release of the last clone's drop, after that clone's last wake.
    // SAFETY: the caller guarantees the cell is live.
    unsafe { (*cell).state.load(Ordering::Acquire) == 0 }
}

/// Debug helper for tests: the keys currently on the stack, newest first.
#[cfg(test)]
pub(crate) fn stack_keys(shared: &Shared) -> alloc::vec::Vec<u32> {
    let mut keys = alloc::vec::Vec::new();
    let mut p = shared.head.load(Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: test-only; the caller owns the chunks.
        let cell = unsafe { &*p };
        keys.push(cell.key);
        p = cell.next.load(Ordering::Relaxed);
    }
    keys
}
