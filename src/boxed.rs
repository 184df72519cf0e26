//! Attempts of different kinds in one race: [`boxed_local`] and [`boxed`].
//!
//! The race takes an iterator of one item type, and no two closures (nor two `async` blocks,
//! nor two `impl Future`s) have the same type. Boxing each attempt, and the future it makes,
//! gives them one: [`LocalBoxAttempt`] or, when it must cross threads, [`BoxAttempt`]. The
//! lifetime `'a` is what the attempts may borrow, so borrowing keeps working.

use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;

/// An attempt of any kind, boxed: a closure that makes a boxed future. Made by [`boxed_local`].
///
/// `'a` is what the attempt may borrow. It need not be `Send`; [`BoxAttempt`] is the `Send`
/// version. It is an attempt like any other: an `FnOnce() -> impl Future<Output = Result<T, E>>`.
///
/// A list of attempts built at run time:
///
/// ```
/// use staggered::{boxed_local, staggered_race, timer::NoTimer, LocalBoxAttempt};
///
/// async fn ask(server: &str) -> Result<&str, String> {
///     Err(format!("{server}: no answer"))
/// }
///
/// let servers = ["ns1", "ns2"];
/// let mut attempts: Vec<LocalBoxAttempt<'_, &str, String>> = Vec::new();
/// for server in &servers {
///     attempts.push(boxed_local(move || ask(server)));
/// }
/// attempts.push(boxed_local(|| async { Ok("from the hosts file") }));
///
/// let outcome = futures::executor::block_on(staggered_race(attempts, None, NoTimer));
/// assert_eq!(outcome.winner, Some((2, "from the hosts file")));
/// ```
pub type LocalBoxAttempt<'a, T, E> =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<T, E>> + 'a>> + 'a>;

/// An attempt of any kind, boxed, that can be sent to another thread (with the race, say to
/// `tokio::spawn`). Made by [`boxed`].
///
/// `'a` is what the attempt may borrow (`'static` for `tokio::spawn`). [`LocalBoxAttempt`] is
/// the version that need not be `Send`.
///
/// ```
/// use staggered::{boxed, BoxAttempt};
///
/// fn assert_send<T: Send>(_: &T) {}
/// let attempts: Vec<BoxAttempt<'static, u16, String>> =
///     vec![boxed(|| async { Err("refused".to_owned()) }), boxed(|| async { Ok(443) })];
/// assert_send(&attempts);
/// ```
pub type BoxAttempt<'a, T, E> =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>> + Send + 'a>;

/// Boxes an attempt, so that attempts of different kinds fit in one list. Neither the closure
/// nor its future need be `Send`, and both may borrow.
///
/// The closure is boxed now, and the future it makes is boxed when the attempt starts: two
/// allocations per attempt (none for a closure that captures nothing), against none for
/// attempts of one kind. Reach for it when the attempts really differ.
///
/// # Example
///
/// A cache, then a CDN, then the origin: three kinds of attempt, in one race, borrowing from
/// the caller. Each one's errors are turned into the race's one error type.
///
/// ```
/// use std::collections::HashMap;
/// use staggered::{boxed_local, staggered_race, timer::NoTimer};
///
/// #[derive(Debug, PartialEq)]
/// enum FetchError { Miss, Cdn(u16) }
///
/// async fn from_cdn(path: &str) -> Result<String, u16> {
///     Err(503) // stands in for an HTTP request
/// }
/// async fn from_origin(origin: &str, path: &str) -> Result<String, FetchError> {
///     Ok(format!("{origin}{path}"))
/// }
///
/// let cache: HashMap<&str, String> = HashMap::new();
/// let origin = String::from("https://origin.example");
/// let path = "/index.html";
///
/// let race = staggered_race(
///     [
///         boxed_local(|| async { cache.get(path).cloned().ok_or(FetchError::Miss) }),
///         boxed_local(|| async { from_cdn(path).await.map_err(FetchError::Cdn) }),
///         boxed_local(|| from_origin(&origin, path)),
///     ],
///     None, // one after another
///     NoTimer,
/// );
/// let outcome = futures::executor::block_on(race);
/// assert_eq!(outcome.winner, Some((2, "https://origin.example/index.html".to_owned())));
/// assert_eq!(outcome.errors().collect::<Vec<_>>(), [&FetchError::Miss, &FetchError::Cdn(503)]);
/// drop(cache); // still ours: the attempts only borrowed it
/// ```
///
/// A list built at run time works the same way, as a `Vec<LocalBoxAttempt<'_, T, E>>` (see
/// [`LocalBoxAttempt`]).
pub fn boxed_local<'a, F, Fut, T, E>(attempt: F) -> LocalBoxAttempt<'a, T, E>
where
    F: FnOnce() -> Fut + 'a,
    Fut: Future<Output = Result<T, E>> + 'a,
{
    Box::new(move || -> Pin<Box<dyn Future<Output = Result<T, E>> + 'a>> { Box::pin(attempt()) })
}

/// Boxes an attempt that can be sent to another thread, so that attempts of different kinds
/// fit in one list and the race stays `Send` (for `tokio::spawn`, say). [`boxed_local`] is the
/// version for attempts that are not `Send`; it is the same otherwise.
///
/// # Example
///
/// The race spawned onto a tokio runtime: the task owns the data the attempts borrow.
///
/// ```
/// use std::time::Duration;
/// use staggered::{boxed, staggered_race, timer::TokioTimer};
///
/// async fn from_mirror(url: &str) -> Result<String, String> {
///     Err(format!("{url}: refused"))
/// }
///
/// #[tokio::main(flavor = "current_thread", start_paused = true)]
/// async fn main() {
///     let mirrors = vec!["https://a.example".to_owned(), "https://b.example".to_owned()];
///     let task = tokio::spawn(async move {
///         // `mirrors` belongs to the task now, so its attempts may borrow it. (A `Vec`, not a
///         // lazy `map`: see "A race in a spawned task" in the crate docs.)
///         let mut attempts: Vec<_> = mirrors.iter().map(|url| boxed(move || from_mirror(url))).collect();
///         attempts.push(boxed(|| async { Ok("from the local copy".to_owned()) }));
///         staggered_race(attempts, Some(Duration::from_millis(250)), TokioTimer).await
///     });
///     let outcome = task.await.unwrap();
///     assert_eq!(outcome.winner, Some((2, "from the local copy".to_owned())));
/// }
/// ```
pub fn boxed<'a, F, Fut, T, E>(attempt: F) -> BoxAttempt<'a, T, E>
where
    F: FnOnce() -> Fut + Send + 'a,
    Fut: Future<Output = Result<T, E>> + Send + 'a,
{
    Box::new(
        move || -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>> { Box::pin(attempt()) },
    )
}
