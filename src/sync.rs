//! The atomics and reference counts the wakers use, in one place.
//!
//! Everything that crosses threads goes through this module, so that a build can swap the
//! implementation (for example for `loom` model checking, or `portable-atomic` on targets
//! without compare-and-swap) without touching the waker code.
//!
//! Under `--cfg loom` the same names are loom's model-checked types, so that the harness in
//! `loom/` (`cd loom && RUSTFLAGS="--cfg loom" cargo test --release loom_tests`) explores the
//! interleavings of the waker code (see the `loom_tests` module of `waker.rs`).

#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use alloc::sync::Arc;
#[cfg(not(loom))]
pub(crate) use atomic_waker::AtomicWaker;
#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicPtr, AtomicU32, Ordering};
#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic_util::Arc;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;

/// `Arc<[T]>` from an iterator: one allocation.
#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) fn arc_slice<T>(items: impl ExactSizeIterator<Item = T>) -> Arc<[T]> {
    items.collect()
}

/// `Arc<[T]>` from an iterator: one allocation. (`portable_atomic_util::Arc` collects through
/// a `Vec`, which would be two.)
#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) fn arc_slice<T>(items: impl ExactSizeIterator<Item = T>) -> Arc<[T]> {
    let len = items.len();
    let mut arc = Arc::<[T]>::new_uninit_slice(len);
    let slots = Arc::get_mut(&mut arc).expect("a new Arc is unique");
    let mut written = 0;
    for (slot, item) in slots.iter_mut().zip(items) {
        slot.write(item);
        written += 1;
    }
    assert_eq!(
        written, len,
        "an ExactSizeIterator yielded fewer items than its len"
    );
    // SAFETY: all `len` elements were written just above.
    unsafe { arc.assume_init() }
}

/// `Arc<[T]>` from an iterator. Loom's `Arc` cannot be unsized by coercion, so this goes
/// through `std`'s, as loom documents.
#[cfg(loom)]
pub(crate) fn arc_slice<T>(items: impl ExactSizeIterator<Item = T>) -> Arc<[T]> {
    Arc::from_std(items.collect::<std::sync::Arc<[T]>>())
}

/// The task waker slot of the race, modelled under loom as a mutex-protected `Option<Waker>`
/// with the same contract as `atomic_waker::AtomicWaker`: `wake` wakes the most recently
/// registered waker, and a wake concurrent with a registration is never lost.
#[cfg(loom)]
pub(crate) struct AtomicWaker {
    waker: loom::sync::Mutex<Option<core::task::Waker>>,
}

#[cfg(loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        AtomicWaker {
            waker: loom::sync::Mutex::new(None),
        }
    }

    pub(crate) fn register(&self, waker: &core::task::Waker) {
        let mut slot = self.waker.lock().unwrap();
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    pub(crate) fn wake(&self) {
        if let Some(waker) = self.take() {
            waker.wake();
        }
    }

    pub(crate) fn take(&self) -> Option<core::task::Waker> {
        self.waker.lock().unwrap().take()
    }
}
