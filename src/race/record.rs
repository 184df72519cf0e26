//! [`Record`]: where a race writes what became of each attempt.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use arrayvec::ArrayVec;
#[cfg(feature = "alloc")]
use core::mem;

use crate::outcome::Attempt;

/// Most `Outcome::attempts` entries reserved up front from the iterator's upper size bound.
#[cfg(feature = "alloc")]
const RESERVE_LIMIT: usize = 4096;
/// Most bytes of `Outcome::attempts` reserved up front.
#[cfg(feature = "alloc")]
const RESERVE_BYTES: usize = 64 * 1024;

/// Where a race writes what became of each attempt: a `Vec` for [`StaggeredRace`], a
/// fixed-capacity `ArrayVec` for [`StaggeredRaceArray`].
///
/// [`StaggeredRace`]: super::StaggeredRace
/// [`StaggeredRaceArray`]: super::StaggeredRaceArray
pub(crate) trait Record<E>: Default {
    /// Room for the attempts of a source that says it has at most `upper` more.
    fn reserve(&mut self, upper: Option<usize>);
    fn push(&mut self, attempt: Attempt<E>);
    fn set(&mut self, index: usize, attempt: Attempt<E>);
    fn len(&self) -> usize;
}

#[cfg(feature = "alloc")]
impl<E> Record<E> for Vec<Attempt<E>> {
    #[inline]
    fn reserve(&mut self, upper: Option<usize>) {
        // Reserve for what the iterator says it holds at most, when it says so (arrays,
        // `Vec`s, ranges, maps of them): at most `RESERVE_LIMIT` entries and `RESERVE_BYTES`
        // bytes. An endless or unknown iterator reserves nothing ahead: its entries grow by
        // doubling, so a race won early stays small.
        if let Some(upper) = upper {
            let entry = mem::size_of::<Attempt<E>>().max(1);
            let limit = RESERVE_LIMIT.min(RESERVE_BYTES / entry).max(1);
            let room = upper.saturating_add(1).min(limit);
            if self.capacity() == 0 {
                // The usual case, the first start: one allocation, straight.
                *self = Vec::with_capacity(room);
            } else {
                self.reserve_exact(room);
            }
        }
    }
    fn push(&mut self, attempt: Attempt<E>) {
        Vec::push(self, attempt)
    }
    fn set(&mut self, index: usize, attempt: Attempt<E>) {
        self[index] = attempt;
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

impl<E, const N: usize> Record<E> for ArrayVec<Attempt<E>, N> {
    fn reserve(&mut self, _: Option<usize>) {}
    fn push(&mut self, attempt: Attempt<E>) {
        // The source is an array of `N`: never more than `N` starts.
        ArrayVec::push(self, attempt)
    }
    fn set(&mut self, index: usize, attempt: Attempt<E>) {
        self[index] = attempt;
    }
    fn len(&self) -> usize {
        ArrayVec::len(self)
    }
}
