//! The atomics and reference counts the wakers use, in one place.
//!
//! Everything that crosses threads goes through this module, so that a build can swap the
//! implementation (for example for `loom` model checking, or `portable-atomic` on targets
//! without compare-and-swap) without touching the waker code.

pub(crate) use alloc::sync::Arc;
pub(crate) use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
