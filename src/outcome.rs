//! What a race reports: [`Attempt`] for each attempt; [`Outcome`] and [`AllFailed`] for
//! [`staggered_race`](crate::staggered_race) (with `alloc`), [`ArrayOutcome`] and
//! [`ArrayAllFailed`] for [`staggered_race_array`](crate::staggered_race_array) (no heap).

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use arrayvec::ArrayVec;
use core::fmt;

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
    /// The winner as a `Result`: `Ok((index, value))`, or every error in start order.
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
        into_result(self.winner, self.attempts).map_err(|errors| AllFailed {
            errors,
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
/// It carries each error in start order. Its `Display` names them all, so
/// [`source`](core::error::Error::source) returns `None` rather than repeating one of them.
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
/// // It is an error type: `?` takes it into `Box<dyn Error>` and anyhow-style errors.
/// let as_dyn: Box<dyn std::error::Error> = all_failed.into();
/// assert!(as_dyn.source().is_none());
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllFailed<E> {
    errors: Vec<E>,
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
    /// Builds the error from the attempts' errors, in start order.
    pub fn new(errors: Vec<E>) -> Self {
        let ending = Ending::all_failed(errors.len());
        AllFailed { errors, ending }
    }

    /// Each attempt's error, in start order. Empty when the iterator had no attempts.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// Each attempt's error, in start order, by value.
    pub fn into_errors(self) -> Vec<E> {
        self.errors
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
        write_errors(f, &self.errors, self.ending)
    }
}

/// The winner, or the errors of every attempt in start order (both outcomes' `into_result`).
fn into_result<T, E, L: FromIterator<E>>(
    winner: Option<(usize, T)>,
    attempts: impl IntoIterator<Item = Attempt<E>>,
) -> Result<(usize, T), L> {
    winner.ok_or_else(|| {
        attempts
            .into_iter()
            .filter_map(Attempt::into_error)
            .collect()
    })
}

/// The message of [`AllFailed`] and [`ArrayAllFailed`]: every error, in start order.
fn write_errors<E: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    errors: &[E],
    ending: Ending,
) -> fmt::Result {
    if ending.timed_out {
        write!(
            f,
            "the deadline passed with no winner ({} attempt{} started, {} failed)",
            ending.started,
            if ending.started == 1 { "" } else { "s" },
            errors.len()
        )?;
        for (i, e) in errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "[{i}] {e}")?;
        }
        return Ok(());
    }
    match errors {
        [] => f.write_str("no attempts were made: the attempt iterator was empty"),
        [only] => write!(f, "the only attempt failed: {only}"),
        errors => {
            write!(f, "all {} attempts failed: ", errors.len())?;
            for (i, e) in errors.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "[{i}] {e}")?;
            }
            Ok(())
        }
    }
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
    /// The winner as a `Result`: `Ok((index, value))`, or every error in start order.
    pub fn into_result(self) -> Result<(usize, T), ArrayAllFailed<E, N>> {
        let ending = Ending {
            started: self.attempts.len(),
            timed_out: self.timed_out,
        };
        into_result(self.winner, self.attempts).map_err(|errors| ArrayAllFailed { errors, ending })
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
/// It carries each error in start order. Its `Display` names them all, so
/// [`source`](core::error::Error::source) returns `None` rather than repeating one of them.
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
        write_errors(f, &self.errors, self.ending)
    }
}

impl<E: fmt::Debug + fmt::Display, const N: usize> core::error::Error for ArrayAllFailed<E, N> {}
