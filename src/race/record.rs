//! [`Record`]: where a race writes what became of each attempt, and how it hands the list
//! over at the end.

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

/// Where a race writes what became of each attempt, and the list of [`Attempt`]s it hands
/// over when it ends ([`Record::finish`]): a `Vec` for [`StaggeredRace`], an [`ArrayRecord`]
/// for [`StaggeredRaceArray`].
///
/// An attempt's entry is made when it starts. In the list handed over, it is
/// [`Attempt::Failed`] if the attempt failed ([`Record::fail`]), [`Attempt::Won`] if it is
/// `finish`'s `winner`, and else [`Attempt::Cancelled`]: an attempt still running when the
/// race ends was cancelled, whichever way it ended.
///
/// [`StaggeredRace`]: super::StaggeredRace
/// [`StaggeredRaceArray`]: super::StaggeredRaceArray
pub(crate) trait Record<E>: Default {
    /// The list the race's outcome carries.
    type Output;
    /// Room for the attempts of a source that says it has at most `upper` more.
    fn reserve(&mut self, upper: Option<usize>);
    /// The next attempt (index [`len`](Record::len)) started.
    fn start(&mut self);
    /// Attempt `index` failed with `error`.
    fn fail(&mut self, index: usize, error: E);
    /// The attempts started so far.
    fn len(&self) -> usize;
    /// The race is over, and `winner` won it (if any attempt did): every entry, in start
    /// order. Leaves the record empty.
    fn finish(&mut self, winner: Option<usize>) -> Self::Output;
}

#[cfg(feature = "alloc")]
impl<E> Record<E> for Vec<Attempt<E>> {
    type Output = Self;

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
    fn start(&mut self) {
        self.push(Attempt::Cancelled);
    }
    fn fail(&mut self, index: usize, error: E) {
        self[index] = Attempt::Failed(error);
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    #[inline]
    fn finish(&mut self, winner: Option<usize>) -> Self {
        if let Some(index) = winner {
            self[index] = Attempt::Won;
        }
        // The list moves out by its pointer: nothing is copied.
        mem::take(self)
    }
}

/// The record of [`StaggeredRaceArray`](super::StaggeredRaceArray): each attempt's error,
/// if it failed, and the outcome's `ArrayVec` of [`Attempt`]s built from them only at the
/// end.
///
/// Why not keep that `ArrayVec` and move it out, as the `Vec` does? The `ArrayVec` lives
/// inside the race, so moving it out copies its bytes, and that copy reads with wide loads
/// what the race wrote a moment before, field by field, in the same poll. A load that spans
/// several stores not yet in the cache cannot take its data from them, and likely waits for
/// them. On the peers bench's `lifecycle` at N = 1 (one attempt fails, the next wins, all in
/// one poll), that copy cost about a fifth of the race's wall time; built entry by entry, as
/// here, each entry's fields are read at the width they were written, and the race runs at
/// the hand-written floor's time. The README's "The outcome's list, built as the race ends"
/// has the figures and the command that times them.
pub(crate) struct ArrayRecord<E, const N: usize> {
    /// One entry per started attempt, in start order: its error if it failed, `None` if it
    /// is running, won or was cancelled.
    errors: ArrayVec<Option<E>, N>,
}

impl<E, const N: usize> Default for ArrayRecord<E, N> {
    fn default() -> Self {
        ArrayRecord {
            errors: ArrayVec::new(),
        }
    }
}

impl<E, const N: usize> Record<E> for ArrayRecord<E, N> {
    type Output = ArrayVec<Attempt<E>, N>;

    fn reserve(&mut self, _: Option<usize>) {}
    fn start(&mut self) {
        // The source is an array of `N`: never more than `N` starts.
        self.errors.push(None);
    }
    fn fail(&mut self, index: usize, error: E) {
        self.errors[index] = Some(error);
    }
    fn len(&self) -> usize {
        self.errors.len()
    }
    #[inline]
    fn finish(&mut self, winner: Option<usize>) -> Self::Output {
        let mut attempts = ArrayVec::new();
        for (index, error) in self.errors.iter_mut().enumerate() {
            // Each entry is built here, in the list it goes out in, the winner's too: an entry
            // built and then changed would be copied out with the same wide loads (a build
            // that marked the winner after the loop was as slow as the old copy).
            attempts.push(match error.take() {
                Some(error) => Attempt::Failed(error),
                None if winner == Some(index) => Attempt::Won,
                None => Attempt::Cancelled,
            });
        }
        self.errors.clear();
        attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "alloc")]
    use alloc::string::{String, ToString};
    #[cfg(feature = "alloc")]
    use alloc::vec;
    use core::cell::Cell;

    /// An error that counts its drops.
    struct Counted<'a>(&'a Cell<usize>);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn the_array_record_moves_each_error_out_once_and_a_dropped_record_drops_its_own() {
        let drops = Cell::new(0);
        let mut record: ArrayRecord<Counted<'_>, 3> = ArrayRecord::default();
        for _ in 0..3 {
            record.start();
        }
        record.fail(0, Counted(&drops));
        record.fail(2, Counted(&drops));
        let list = record.finish(Some(1));
        assert_eq!(drops.get(), 0, "finish moves the errors out and drops none");
        assert_eq!(Record::len(&record), 0, "finish leaves the record empty");
        assert!(matches!(
            list.as_slice(),
            [Attempt::Failed(_), Attempt::Won, Attempt::Failed(_)]
        ));
        drop(list);
        assert_eq!(drops.get(), 2, "each error is dropped once, by the list");
        drop(record);
        assert_eq!(drops.get(), 2, "the emptied record drops nothing");

        // A race dropped before it ends drops its record, and each error in it once.
        let mut unfinished: ArrayRecord<Counted<'_>, 2> = ArrayRecord::default();
        unfinished.start();
        unfinished.start();
        unfinished.fail(1, Counted(&drops));
        drop(unfinished);
        assert_eq!(drops.get(), 3);
    }

    #[cfg(feature = "alloc")]
    /// Runs the same calls on both records: `fates[i]` is `Some(error)` for a failed attempt,
    /// `None` for one that won or was cancelled. Returns both lists and what each record
    /// holds after it handed its list over.
    fn both(
        fates: &[Option<&str>],
        winner: Option<usize>,
    ) -> (
        Vec<Attempt<String>>,
        ArrayVec<Attempt<String>, 4>,
        usize,
        usize,
    ) {
        let mut list: Vec<Attempt<String>> = Vec::default();
        let mut array: ArrayRecord<String, 4> = ArrayRecord::default();
        for (index, fate) in fates.iter().enumerate() {
            assert_eq!((list.len(), Record::len(&array)), (index, index));
            list.start();
            array.start();
            if let Some(error) = fate {
                list.fail(index, error.to_string());
                array.fail(index, error.to_string());
            }
        }
        let (list_out, array_out) = (list.finish(winner), array.finish(winner));
        (list_out, array_out, list.len(), Record::len(&array))
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn both_records_list_every_fate_in_start_order_and_end_empty() {
        let (list, array, list_left, array_left) =
            both(&[Some("refused"), None, Some("reset"), None], Some(1));
        let expected = vec![
            Attempt::Failed("refused".to_string()),
            Attempt::Won,
            Attempt::Failed("reset".to_string()),
            Attempt::Cancelled,
        ];
        assert_eq!(list, expected);
        assert_eq!(array.as_slice(), expected.as_slice());
        assert_eq!((list_left, array_left), (0, 0), "each record is left empty");
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn with_no_winner_an_attempt_with_no_error_was_cancelled() {
        let (list, array, ..) = both(&[None, Some("refused"), None], None);
        let expected = vec![
            Attempt::Cancelled,
            Attempt::Failed("refused".to_string()),
            Attempt::Cancelled,
        ];
        assert_eq!(list, expected);
        assert_eq!(array.as_slice(), expected.as_slice());
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn the_winner_may_be_the_last_attempt_or_the_first() {
        for winner in [0, 2] {
            let (list, array, ..) = both(&[None, Some("refused"), None], Some(winner));
            assert!(list[winner].is_won() && array[winner].is_won());
            assert_eq!(list.iter().filter(|a| a.is_won()).count(), 1);
            assert_eq!(array.iter().filter(|a| a.is_won()).count(), 1);
            assert_eq!(list.as_slice(), array.as_slice());
        }
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn an_empty_race_hands_over_an_empty_list() {
        let (list, array, ..) = both(&[], None);
        assert!(list.is_empty() && array.is_empty());
    }
}
