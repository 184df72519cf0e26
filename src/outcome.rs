//! What a race reports: [`Attempt`] for each attempt; [`Outcome`] and [`AllFailed`] for
//! [`staggered_race`](crate::staggered_race) (with `alloc`), [`ArrayOutcome`] and
//! [`ArrayAllFailed`] for [`staggered_race_array`](crate::staggered_race_array) (no heap).

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use arrayvec::ArrayVec;
use core::fmt;

use crate::error_list::write_bounded;

/// What became of one started attempt.
///
/// `Outcome::attempts[i]` describes the attempt made from the `i`-th item of the iterator.
///
/// ```
/// use staggered::{staggered_race, timer::NoTimer, Attempt};
///
/// // All at once (a zero delay): the first hangs, the second fails, the third wins, and the
/// // first, still running, is cancelled.
/// let race = staggered_race(
///     [None, Some(Err("refused")), Some(Ok("up"))].map(|plan| move || async move {
///         match plan {
///             Some(result) => result,
///             None => std::future::pending().await,
///         }
///     }),
///     Some(std::time::Duration::ZERO),
///     NoTimer,
/// );
/// let outcome = futures::executor::block_on(race);
/// assert_eq!(outcome.attempts, [Attempt::Cancelled, Attempt::Failed("refused"), Attempt::Won]);
/// assert_eq!(outcome.attempts[1].error(), Some(&"refused"));
/// assert!(outcome.attempts[0].is_cancelled() && outcome.attempts[2].is_won());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attempt<E> {
    /// This attempt returned `Ok` first; its value is the outcome's `winner`.
    Won,
    /// This attempt returned `Err` with this error.
    Failed(E),
    /// This attempt was still running when another one won, and was dropped.
    ///
    /// Where asyncio records a `CancelledError` for such an attempt, Rust cancels a future by
    /// dropping it, so there is no error value: only this marker.
    Cancelled,
}

impl<E> Attempt<E> {
    /// `true` for [`Attempt::Won`].
    pub fn is_won(&self) -> bool {
        matches!(self, Attempt::Won)
    }

    /// `true` for [`Attempt::Failed`].
    pub fn is_failed(&self) -> bool {
        matches!(self, Attempt::Failed(_))
    }

    /// `true` for [`Attempt::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Attempt::Cancelled)
    }

    /// The error of a failed attempt.
    pub fn error(&self) -> Option<&E> {
        match self {
            Attempt::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The error of a failed attempt, by value.
    pub fn into_error(self) -> Option<E> {
        match self {
            Attempt::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// The result of a finished [`staggered_race`](crate::staggered_race): the winner, if any, and
/// what became of every attempt that was started.
///
/// This is CPython's `(winner_result, winner_index, exceptions)` triple in Rust clothes:
///
/// | CPython                          | `staggered`                                   |
/// |----------------------------------|-----------------------------------------------|
/// | `winner_result`, `winner_index`  | `winner: Some((index, value))`                |
/// | both `None` (nobody won)         | `winner: None`                                |
/// | `exceptions[i] is None` (winner) | `attempts[i] == Attempt::Won`                 |
/// | `exceptions[i]` is an exception  | `attempts[i] == Attempt::Failed(error)`       |
/// | `exceptions[i]` is `CancelledError` | `attempts[i] == Attempt::Cancelled`        |
/// | `len(exceptions)`                | `attempts.len()`: the number started          |
///
/// ```
/// use staggered::{staggered_race, timer::NoTimer, Attempt};
///
/// let race = staggered_race(
///     ["a", "b"].map(|name| move || async move { if name == "b" { Ok(name) } else { Err(404) } }),
///     None,
///     NoTimer,
/// );
/// let outcome = futures::executor::block_on(race);
/// assert_eq!(outcome.winner, Some((1, "b")));
/// assert_eq!(outcome.winner_index(), Some(1));
/// assert_eq!(outcome.attempts, [Attempt::Failed(404), Attempt::Won]);
/// assert_eq!(outcome.errors().collect::<Vec<_>>(), [&404]);
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Outcome<T, E> {
    /// The index of the winning attempt in the iterator, and its value; `None` if no attempt
    /// succeeded.
    pub winner: Option<(usize, T)>,
    /// One entry per started attempt, in start order (which is iterator order).
    pub attempts: Vec<Attempt<E>>,
    /// `true` when the race's [deadline](crate::Staggered::deadline) passed first: nobody had
    /// won, attempts were still running or due to start, and every running one was cancelled
    /// (its entry is [`Attempt::Cancelled`]). Always `false` without a deadline.
    ///
    /// It is a field of its own because the other two cannot tell it: `[Cancelled,
    /// Failed(e)]` is a deadline that cut short a hanging first attempt, and also a race
    /// whose cap cancelled the first to make room for the second, which then failed. Code
    /// that reads `winner` and `attempts`, or matches with `..`, is unchanged by it; a struct
    /// literal or a pattern that names every field names it too (`timed_out: false`).
    pub timed_out: bool,
}

#[cfg(feature = "alloc")]
impl<T, E> Outcome<T, E> {
    /// The winner as a `Result`: `Ok((index, value))`, or every error in start order, each
    /// with its attempt index ([`AllFailed::indexed_errors`]).
    ///
    /// The error tells the three ways to have no winner apart:
    /// [`AllFailed::timed_out`] (the deadline passed), [`AllFailed::no_attempts`] (the source
    /// was empty), and neither (every attempt failed).
    ///
    /// ```
    /// # use staggered::{Attempt, Outcome};
    /// let outcome: Outcome<u8, &str> = Outcome {
    ///     winner: None,
    ///     attempts: vec![Attempt::Failed("refused"), Attempt::Failed("timed out")],
    ///     timed_out: false,
    /// };
    /// let err = outcome.into_result().unwrap_err();
    /// assert_eq!(err.errors(), &["refused", "timed out"]);
    /// assert_eq!(err.to_string(), "all 2 attempts failed: [0] refused; [1] timed out");
    /// assert!(!err.timed_out() && !err.no_attempts());
    ///
    /// let deadline: Outcome<u8, &str> = Outcome {
    ///     winner: None,
    ///     attempts: vec![Attempt::Failed("refused"), Attempt::Cancelled],
    ///     timed_out: true,
    /// };
    /// let err = deadline.into_result().unwrap_err();
    /// assert!(err.timed_out());
    /// assert_eq!(err.to_string(), "the deadline passed with no winner (2 attempts started, 1 failed): [0] refused");
    /// ```
    pub fn into_result(self) -> Result<(usize, T), AllFailed<E>> {
        let started = self.attempts.len();
        let timed_out = self.timed_out;
        into_result(self.winner, self.attempts).map_err(|(errors, indices)| AllFailed {
            errors,
            indices,
            ending: Ending { started, timed_out },
        })
    }

    /// The index of the winning attempt, if there was one.
    pub fn winner_index(&self) -> Option<usize> {
        self.winner.as_ref().map(|(index, _)| *index)
    }

    /// The errors of the failed attempts, in start order.
    pub fn errors(&self) -> impl Iterator<Item = &E> + '_ {
        self.attempts.iter().filter_map(Attempt::error)
    }
}

/// Every attempt failed, or there was none to make. Returned by [`Outcome::into_result`].
///
/// It carries each error in start order, with the index of the attempt it came from:
/// [`errors`](Self::errors) is the plain list, [`indexed_errors`](Self::indexed_errors) pairs
/// each error with its attempt index. The two numberings differ once an attempt was
/// cancelled (by [`cancel_oldest_when_full`](crate::Staggered::cancel_oldest_when_full) or by
/// the [deadline](crate::Staggered::deadline)): it has no error, and the attempts after it
/// keep their index.
///
/// # Message
///
/// `Display` numbers each error by its attempt index (`[2] refused` is attempt 2's error).
/// It prints a list of up to 8 errors whole; a longer one prints the first 6, a count of
/// those left out and the last (`...; [5] e; ... (993 more) ...; [999] z`), so 1,000
/// failures make a message of a few hundred bytes, not tens of kilobytes. The value keeps
/// every error, and the alternate form, `{:#}`, prints them all. Since `Display` names the
/// errors, [`source`](core::error::Error::source) returns `None` rather than repeating one of
/// them.
///
/// ```
/// use staggered::{staggered_race, timer::NoTimer};
///
/// let race = staggered_race(
///     ["refused", "timed out"].map(|why| move || async move { Err::<(), _>(why) }),
///     None,
///     NoTimer,
/// );
/// let all_failed = futures::executor::block_on(race).into_result().unwrap_err();
/// assert_eq!(all_failed.errors(), ["refused", "timed out"]);
/// assert_eq!(all_failed.to_string(), "all 2 attempts failed: [0] refused; [1] timed out");
/// assert!(!all_failed.no_attempts());
///
/// // A long list prints its head, a count and its last error; `{:#}` prints every one.
/// let many = staggered::AllFailed::new((0..1000).collect());
/// assert_eq!(
///     many.to_string(),
///     "all 1000 attempts failed: [0] 0; [1] 1; [2] 2; [3] 3; [4] 4; [5] 5; ... (993 more) ...; [999] 999"
/// );
/// assert_eq!(format!("{many:#}").matches("; ").count(), 999);
/// assert_eq!(many.errors().len(), 1000);
///
/// // It is an error type: `?` takes it into `Box<dyn Error>` and anyhow-style errors.
/// let as_dyn: Box<dyn std::error::Error> = all_failed.into();
/// assert!(as_dyn.source().is_none());
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllFailed<E> {
    errors: Vec<E>,
    /// The attempt index of each error, when one differs from its position in `errors`
    /// (an attempt before it was cancelled); empty when none does, so the common case
    /// allocates nothing for it.
    indices: Vec<usize>,
    ending: Ending,
}

/// How a race without a winner ended, beyond its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Ending {
    /// Attempts started (failed or cancelled).
    started: usize,
    timed_out: bool,
}

#[cfg(feature = "alloc")]
impl Ending {
    fn all_failed(errors: usize) -> Self {
        Ending {
            started: errors,
            timed_out: false,
        }
    }
}

#[cfg(feature = "alloc")]
impl<E> AllFailed<E> {
    /// Builds the error from the attempts' errors, in start order: the error at position `i`
    /// is attempt `i`'s.
    ///
    /// ```
    /// let err = staggered::AllFailed::new(vec!["refused", "unreachable"]);
    /// assert_eq!(err.indexed_errors().collect::<Vec<_>>(), [(0, &"refused"), (1, &"unreachable")]);
    /// ```
    pub fn new(errors: Vec<E>) -> Self {
        let ending = Ending::all_failed(errors.len());
        AllFailed {
            errors,
            indices: Vec::new(),
            ending,
        }
    }

    /// Each attempt's error, in start order. Empty when the iterator had no attempts.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// Each attempt's error, in start order, by value.
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }

    /// Each error with the index of the attempt it came from (its index in the source, as in
    /// [`Outcome::attempts`] and [`Event`](crate::Event)), in start order. The same errors as
    /// [`errors`](Self::errors); the index differs from the position in that list after a
    /// cancelled attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::{timer::NoTimer, Staggered};
    ///
    /// // All at once, one running at a time: starting attempt 1 cancels attempt 0 (it hangs),
    /// // then attempts 1 and 2 fail.
    /// let plans = [None, Some("refused"), Some("unreachable")];
    /// let race = Staggered::new(plans.map(|plan| move || async move {
    ///     match plan {
    ///         Some(why) => Err::<(), _>(why),
    ///         None => std::future::pending().await,
    ///     }
    /// }))
    /// .delay(Duration::ZERO)
    /// .max_running(1)
    /// .cancel_oldest_when_full()
    /// .race(NoTimer);
    /// let err = futures::executor::block_on(race).into_result().unwrap_err();
    /// assert_eq!(err.errors(), ["refused", "unreachable"]); // positions 0 and 1...
    /// let indexed: Vec<_> = err.indexed_errors().collect();
    /// assert_eq!(indexed, [(1, &"refused"), (2, &"unreachable")]); // ...attempts 1 and 2
    /// assert_eq!(
    ///     err.to_string(),
    ///     "no attempt won (3 attempts started, 2 failed, 1 cancelled): [1] refused; [2] unreachable"
    /// );
    /// ```
    pub fn indexed_errors(
        &self,
    ) -> impl DoubleEndedIterator<Item = (usize, &E)> + ExactSizeIterator + '_ {
        with_indices(self.errors.iter(), &self.indices)
    }

    /// [`indexed_errors`](Self::indexed_errors) by value: each error with its attempt index,
    /// in start order.
    ///
    /// ```
    /// let err = staggered::AllFailed::new(vec!["refused"]);
    /// assert_eq!(err.into_indexed_errors().collect::<Vec<_>>(), [(0, "refused")]);
    /// ```
    pub fn into_indexed_errors(
        self,
    ) -> impl DoubleEndedIterator<Item = (usize, E)> + ExactSizeIterator {
        with_indices(self.errors.into_iter(), self.indices)
    }

    /// `true` when the race had no attempts at all (an empty source), and no deadline cut
    /// it short.
    pub fn no_attempts(&self) -> bool {
        self.ending.started == 0 && !self.ending.timed_out
    }

    /// `true` when the race's [deadline](crate::Staggered::deadline) passed with no winner:
    /// [`errors`](Self::errors) holds the failures before it, and the attempts still running
    /// then were cancelled.
    pub fn timed_out(&self) -> bool {
        self.ending.timed_out
    }
}

#[cfg(feature = "alloc")]
impl<E> IntoIterator for AllFailed<E> {
    type Item = E;
    type IntoIter = alloc::vec::IntoIter<E>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

#[cfg(feature = "alloc")]
impl<E: fmt::Display> fmt::Display for AllFailed<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_errors(f, &self.errors, &self.indices, self.ending)
    }
}

/// The winner, or the errors of the failed attempts in start order with the attempt index of
/// each (both outcomes' `into_result`). The indices are left empty when every error's index
/// is its position in the list (no attempt before it was cancelled).
fn into_result<T, E, L, I>(
    winner: Option<(usize, T)>,
    attempts: impl IntoIterator<Item = Attempt<E>>,
) -> Result<(usize, T), (L, I)>
where
    L: Default + Extend<E>,
    I: Default + Extend<usize> + AsRef<[usize]>,
{
    winner.ok_or_else(|| {
        let mut errors = L::default();
        let mut indices = I::default();
        let mut failed = 0;
        for (index, attempt) in attempts.into_iter().enumerate() {
            if let Attempt::Failed(e) = attempt {
                if index != failed && indices.as_ref().is_empty() {
                    // The first error after a cancelled attempt: from here on, the positions
                    // and the indices differ.
                    indices.extend(0..failed);
                }
                if index != failed || !indices.as_ref().is_empty() {
                    indices.extend(Some(index));
                }
                errors.extend(Some(e));
                failed += 1;
            }
        }
        (errors, indices)
    })
}

/// The attempt index of the error at `position`: `indices` has one per error, or none when
/// every error's index is its position.
fn attempt_index(indices: &[usize], position: usize) -> usize {
    indices.get(position).copied().unwrap_or(position)
}

/// `errors` (in start order), each with its attempt index from `indices`.
fn with_indices<I, X>(
    errors: I,
    indices: X,
) -> impl DoubleEndedIterator<Item = (usize, I::Item)> + ExactSizeIterator
where
    I: DoubleEndedIterator + ExactSizeIterator,
    X: AsRef<[usize]>,
{
    errors
        .enumerate()
        .map(move |(position, e)| (attempt_index(indices.as_ref(), position), e))
}

/// The message of [`AllFailed`] and [`ArrayAllFailed`]: the errors in start order, each
/// numbered by its attempt, the list bounded by [`write_bounded`]'s rule.
fn write_errors<E: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    errors: &[E],
    indices: &[usize],
    ending: Ending,
) -> fmt::Result {
    let started = ending.started;
    let s = if started == 1 { "" } else { "s" };
    let failed = errors.len();
    if ending.timed_out {
        write!(
            f,
            "the deadline passed with no winner ({started} attempt{s} started, {failed} failed)"
        )?;
    } else if started == 0 {
        return f.write_str("no attempts were made: the attempt iterator was empty");
    } else if failed == started {
        if let [only] = errors {
            return write!(f, "the only attempt failed: {only}");
        }
        write!(f, "all {failed} attempts failed")?;
    } else {
        // Some were cancelled to make room for later ones (`cancel_oldest_when_full`).
        write!(
            f,
            "no attempt won ({started} attempt{s} started, {failed} failed, {} cancelled)",
            started - failed
        )?;
    }
    write_bounded(f, errors, |f, position, e| {
        write!(f, "[{}] {e}", attempt_index(indices, position))
    })
}

#[cfg(feature = "alloc")]
impl<E: fmt::Debug + fmt::Display> core::error::Error for AllFailed<E> {}

/// The result of a finished [`staggered_race_array`](crate::staggered_race_array): the
/// winner, if any, and what became of every attempt that was started, with no heap.
///
/// The same as [`Outcome`], with a fixed-capacity list: `attempts` is an
/// [`ArrayVec`] of at most `N` entries, which derefs to `[Attempt<E>]`.
///
/// ```
/// use staggered::{staggered_race_array, timer::NoTimer, Attempt};
///
/// let race = staggered_race_array(
///     ["a", "b", "c"].map(|name| move || async move { if name == "b" { Ok(name) } else { Err(404) } }),
///     None,
///     NoTimer,
/// );
/// let outcome = futures::executor::block_on(race);
/// assert_eq!(outcome.winner, Some((1, "b")));
/// assert_eq!(*outcome.attempts, [Attempt::Failed(404), Attempt::Won]); // "c" never started
/// assert_eq!(outcome.errors().collect::<Vec<_>>(), [&404]);
/// assert_eq!(outcome.into_result().unwrap(), (1, "b"));
/// ```
#[cfg_attr(not(feature = "alloc"), doc = "", doc = "[`Outcome`]: crate#features")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArrayOutcome<T, E, const N: usize> {
    /// The index of the winning attempt in the array, and its value; `None` if no attempt
    /// succeeded.
    pub winner: Option<(usize, T)>,
    /// One entry per started attempt, in start order (which is array order).
    pub attempts: ArrayVec<Attempt<E>, N>,
    /// `true` when the race's [deadline](crate::Staggered::deadline) passed first, as
    /// [`Outcome::timed_out`].
    #[cfg_attr(
        not(feature = "alloc"),
        doc = "",
        doc = "[`Outcome::timed_out`]: crate#features"
    )]
    pub timed_out: bool,
}

impl<T, E, const N: usize> ArrayOutcome<T, E, N> {
    /// The winner as a `Result`: `Ok((index, value))`, or every error in start order, each
    /// with its attempt index ([`ArrayAllFailed::indexed_errors`]).
    pub fn into_result(self) -> Result<(usize, T), ArrayAllFailed<E, N>> {
        let ending = Ending {
            started: self.attempts.len(),
            timed_out: self.timed_out,
        };
        into_result(self.winner, self.attempts).map_err(|(errors, indices)| ArrayAllFailed {
            errors,
            indices,
            ending,
        })
    }

    /// The index of the winning attempt, if there was one.
    pub fn winner_index(&self) -> Option<usize> {
        self.winner.as_ref().map(|(index, _)| *index)
    }

    /// The errors of the failed attempts, in start order.
    pub fn errors(&self) -> impl Iterator<Item = &E> + '_ {
        self.attempts.iter().filter_map(Attempt::error)
    }
}

/// Every attempt of a [`staggered_race_array`](crate::staggered_race_array) failed, or there
/// was none to make. Returned by [`ArrayOutcome::into_result`]; [`AllFailed`] with no heap.
///
/// It carries each error in start order, with the index of the attempt it came from:
/// [`errors`](Self::errors) is the plain list, [`indexed_errors`](Self::indexed_errors) pairs
/// each error with its attempt index (they differ after a cancelled attempt).
///
/// # Message
///
/// As `AllFailed`'s: each error numbered by its attempt index; up to 8 errors printed whole,
/// a longer list as its first 6, a count of those left out and its last; `{:#}` prints every
/// error. Since `Display` names the errors, [`source`](core::error::Error::source)
/// returns `None` rather than repeating one of them.
///
/// ```
/// use staggered::{staggered_race_array, timer::NoTimer};
///
/// let race = staggered_race_array(
///     ["refused", "timed out"].map(|why| move || async move { Err::<(), _>(why) }),
///     None,
///     NoTimer,
/// );
/// let all_failed = futures::executor::block_on(race).into_result().unwrap_err();
/// assert_eq!(all_failed.errors(), ["refused", "timed out"]);
/// assert_eq!(all_failed.to_string(), "all 2 attempts failed: [0] refused; [1] timed out");
/// let as_dyn: &dyn core::error::Error = &all_failed;
/// assert!(as_dyn.source().is_none());
/// ```
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[`AllFailed`]: crate#features"
)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArrayAllFailed<E, const N: usize> {
    errors: ArrayVec<E, N>,
    /// As [`AllFailed`]'s: empty when every error's attempt index is its position.
    indices: ArrayVec<usize, N>,
    ending: Ending,
}

impl<E, const N: usize> ArrayAllFailed<E, N> {
    /// Each attempt's error, in start order. Empty when the array was empty.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// Each attempt's error, in start order, by value.
    pub fn into_errors(self) -> ArrayVec<E, N> {
        self.errors
    }

    /// Each error with the index of the attempt it came from (its index in the array), in
    /// start order: `AllFailed::indexed_errors` with no heap.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::{timer::NoTimer, Staggered};
    ///
    /// // All at once, one running at a time: starting attempt 1 cancels attempt 0 (it hangs),
    /// // then attempt 1 fails.
    /// let plans = [None, Some("refused")];
    /// let race = Staggered::new(plans.map(|plan| move || async move {
    ///     match plan {
    ///         Some(why) => Err::<(), _>(why),
    ///         None => std::future::pending().await,
    ///     }
    /// }))
    /// .delay(Duration::ZERO)
    /// .max_running(1)
    /// .cancel_oldest_when_full()
    /// .race_array(NoTimer);
    /// let err = futures::executor::block_on(race).into_result().unwrap_err();
    /// assert_eq!(err.errors(), ["refused"]);
    /// assert!(err.indexed_errors().eq([(1, &"refused")]));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "no attempt won (2 attempts started, 1 failed, 1 cancelled): [1] refused"
    /// );
    /// ```
    pub fn indexed_errors(
        &self,
    ) -> impl DoubleEndedIterator<Item = (usize, &E)> + ExactSizeIterator + '_ {
        with_indices(self.errors.iter(), &self.indices)
    }

    /// [`indexed_errors`](Self::indexed_errors) by value: each error with its attempt index,
    /// in start order.
    ///
    /// ```
    /// use staggered::{staggered_race_array, timer::NoTimer};
    ///
    /// let race = staggered_race_array([|| async { Err::<(), _>("refused") }], None, NoTimer);
    /// let err = futures::executor::block_on(race).into_result().unwrap_err();
    /// assert!(err.into_indexed_errors().eq([(0, "refused")]));
    /// ```
    pub fn into_indexed_errors(
        self,
    ) -> impl DoubleEndedIterator<Item = (usize, E)> + ExactSizeIterator {
        with_indices(self.errors.into_iter(), self.indices)
    }

    /// `true` when the race had no attempts at all (an empty array), and no deadline cut it
    /// short.
    pub fn no_attempts(&self) -> bool {
        self.ending.started == 0 && !self.ending.timed_out
    }

    /// `true` when the race's [deadline](crate::Staggered::deadline) passed with no winner.
    pub fn timed_out(&self) -> bool {
        self.ending.timed_out
    }
}

impl<E, const N: usize> IntoIterator for ArrayAllFailed<E, N> {
    type Item = E;
    type IntoIter = arrayvec::IntoIter<E, N>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<E: fmt::Display, const N: usize> fmt::Display for ArrayAllFailed<E, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_errors(f, &self.errors, &self.indices, self.ending)
    }
}

impl<E: fmt::Debug + fmt::Display, const N: usize> core::error::Error for ArrayAllFailed<E, N> {}
