//! Staggered races: start several ways of doing a thing one after another, keep the first that
//! works.
//!
//! `staggered` is Rust's `asyncio.staggered.staggered_race`, the engine of Happy Eyeballs
//! (RFC 8305). Attempts come from an iterator of closures, each making a fallible future. The
//! first starts at once; the next starts when the one before it fails or when `delay` has
//! passed since it started, whichever is first. The first `Ok` wins and every other running
//! attempt is dropped; if none wins, you get every error, in start order.
//!
//! ```
//! use std::time::Duration;
//! use staggered::{staggered_race, testing::ManualClock, Attempt};
//!
//! let clock = ManualClock::new();
//! let ms = Duration::from_millis;
//! // What each attempt will do: hang, fail at once, succeed at once.
//! let plans = ["hang", "fail", "succeed"];
//! let race = staggered_race(
//!     plans.map(|plan| move || async move {
//!         match plan {
//!             "hang" => std::future::pending().await,
//!             "fail" => Err("refused"),
//!             _ => Ok("connected"),
//!         }
//!     }),
//!     Some(ms(250)),
//!     clock.clone(),
//! );
//! let outcome = clock.block_on(race);
//! assert_eq!(outcome.winner, Some((2, "connected")));
//! assert_eq!(outcome.attempts, [Attempt::Cancelled, Attempt::Failed("refused"), Attempt::Won]);
//! assert_eq!(clock.now(), ms(250)); // attempt 1 started after the delay, 2 right after it
//! ```
//!
//! # What is in the box
//!
//! - [`staggered_race`] and its future, [`StaggeredRace`]: a hand-written state machine over
//!   pinned attempts, kept inside the race when the source promises at most 4 and in a slab
//!   otherwise. It spawns nothing, needs no runtime, works under `no_std` with
//!   `alloc`, and asks for no `Send`, `'static` or `Unpin`: attempts may borrow.
//! - [`staggered_race_array`] and [`StaggeredRaceArray`]: the same race over a fixed array of
//!   attempts, with no heap at all (no `alloc` feature): for firmware.
//! - [`Staggered`], the builder of either race with every option: a [`Stream`](futures_core::Stream)
//!   of attempts ([`Staggered::from_stream`]), a delay per attempt
//!   ([`delay_fn`](Staggered::delay_fn)), a cap on attempts running at once
//!   ([`max_running`](Staggered::max_running), [`cancel_oldest_when_full`](Staggered::cancel_oldest_when_full)),
//!   a [`deadline`](Staggered::deadline) that keeps what happened, and [`Event`]s
//!   ([`on_event`](Staggered::on_event)). What is not set costs nothing.
//! - [`Outcome`], [`Attempt`] and [`AllFailed`] (and [`ArrayOutcome`], [`ArrayAllFailed`]):
//!   what a race reports (`Outcome` and `AllFailed` with feature `alloc`).
//! - [`boxed_local`] and [`boxed`] (feature `alloc`): attempts of different kinds in one race.
//! - [`Timer`]: the one thing the race needs from a runtime. Adapters live in [`timer`].
//! - [`testing::ManualClock`] (feature `testing`): a virtual-time timer for your own tests.
//! - [`hedge`] (feature `hedge`): hedged requests on the builder: a latency percentile, a
//!   budget, and a tower layer (feature `hedge-tower`).
//!
//! # Which race
//!
//! Both run one state machine (the same semantics, point for point: who wins, ties in one
//! wake-up going to the attempt that started first, when each attempt starts, what is
//! reported, fairness, the budget); they differ in where the running
//! attempts live and how a wake-up finds them.
//!
//! | | [`staggered_race`] | [`staggered_race_array`] |
//! |---|---|---|
//! | attempts | any `IntoIterator`, endless too | a `[F; N]` |
//! | heap | up to 4 attempts (a source whose `size_hint` says so): inline, 1 allocation (the outcome's list); else slots in doubling chunks, wakers made once more than 8 attempts run at once: 2 allocations while no more than 8 do, `O(log n)` for `n` running at once | none: no `alloc` feature, no allocator |
//! | `Unpin` | when the attempts' futures and the sleep are | the same |
//! | a wake-up polls | up to 8 running: every running attempt, with the task's waker; past that, exactly the attempt that was woken | every running attempt (up to `N`), with the task's waker |
//! | pick it for | libraries, many or unknown attempts, long races | firmware without a heap; a few attempts known at compile time |
//!
//! # The engine
//!
//! - **Storage.** For [`staggered_race`], running attempts live in a slab of pinned slots
//!   grown in doubling chunks: no `Box` per attempt, `O(log n)` allocations for `n` attempts
//!   running at once, and the slot of a finished attempt is reused. A race whose source
//!   promises at most 4 attempts keeps them inside itself instead, as
//!   [`staggered_race_array`] does with its `N`. An attempt's future is dropped as soon as
//!   it completes.
//! - **Precise wake-ups.** Once more than 8 of its attempts run at once, each attempt of
//!   [`staggered_race`] has its own waker, kept in the same chunked allocations, so a
//!   wake-up polls only the attempt that was woken. This works without `std`. Smaller races
//!   poll their few attempts with the task's waker, as [`staggered_race_array`] does, and
//!   make no wakers at all.
//! - **Co-operative and fair.** One poll does a bounded amount of work (starts and attempt
//!   polls). With work left, the race wakes itself and yields: endless iterators, endless
//!   failures and attempts that wake themselves cannot hang the executor, and a start that is
//!   due is never held back by busy attempts: it comes within two polls of the race while
//!   fewer than 64 attempts run
//!   ([details][fairness]).
//! - **One live sleep**, re-armed with [`Timer::reset`].
//!
//! # Features
//!
//! | feature   | default | what it adds                                                  |
//! |-----------|---------|---------------------------------------------------------------|
//! | `std`     | yes     | implies `alloc`                                               |
//! | `alloc`   | via std | [`staggered_race`] (needs a global allocator); [`staggered_race_array`] needs nothing |
//! | `testing` | no      | [`testing::ManualClock`] (implies `std`)                      |
//! | `tokio`   | no      | `timer::TokioTimer`                                           |
//! | `async-io` | no     | `timer::AsyncIoTimer`, for smol and async-std (implies `std`) |
//! | `futures-timer` | no | `timer::FuturesTimer`, for any executor (implies `std`)     |
//! | `embassy-time` | no | `timer::EmbassyTimer` (works without `std`)                   |
//! | `net-tokio` | no    | `net::HappyEyeballs` on tokio: RFC 8305 TCP connect (implies `tokio`, `std`) |
//! | `net-async-io` | no | `net::HappyEyeballs` on async-io, for smol and async-std (implies `async-io`, `std`) |
//! | `portable-atomic` | no | atomics and `Arc` through `portable-atomic`, for targets without compare-and-swap |
//! | `hedge` | no | [`hedge`]: hedged requests, `Hedge`, `Percentile`, `Budget` (implies `std`; adds `hdrhistogram`) |
//! | `hedge-tower` | no | `hedge::HedgeLayer`, hedging as a tower layer (implies `hedge`; adds `tower-layer`, `tower-service`) |
//! | `net-hyper` | no | `net::HttpConnector`, a connector for hyper-util's legacy client (implies `net-tokio`) |
//! | `net-hickory` | no | `net::HickoryResolver`, a DNS-client resolver on `hickory-resolver` (implies `net-tokio`; hickory needs Rust 1.88) |
//! | `net-tls` | no | `net::HttpsConnector`, HTTPS for hyper-util's legacy client with Happy Eyeballs v3: HTTPS (SVCB) records, per-endpoint ALPN and ECH, the TLS handshake inside each attempt (implies `net-hickory`, `net-hyper`; brings `rustls` without a crypto provider, and `tokio-rustls`) |
//! | `net-reqwest` | no | `net::ReqwestResolver`, RFC 8305 §3 resolution as reqwest's resolver (implies `net-tokio`; brings `reqwest` without its default features; reqwest 0.13 needs Rust 1.85) |
//!
//! With `alloc` alone, [`net`] holds the RFC 8305 address interleaving, for any address type.
//!
//! Which runtime goes with which feature and timer, and what tests each: the
//! [runtime support table](timer#runtime-support).
//!
//! Without `alloc`, the crate is [`staggered_race_array`], the [`Timer`] trait and its
//! adapters.
//!
//! # Recipes
//!
//! ## `?` inside an attempt
//!
//! An `async` block cannot name its own return type, and `?` converts errors with `From`, so
//! with `?` inside, nothing tells the compiler the attempt's error type (`error[E0282]: type
//! annotations needed`). Name it on the block's final `Ok`:
//!
//! ```
//! use staggered::{staggered_race, timer::NoTimer};
//!
//! let ports = ["80", "x", "443"];
//! let race = staggered_race(
//!     ports.map(|port| move || async move {
//!         let port: u16 = port.parse()?; // a ParseIntError for "x"
//!         if port == 80 { return Err("plain HTTP".into()) }
//!         Ok::<_, Box<dyn std::error::Error>>(port) // the attempt's error type, named once
//!     }),
//!     None,
//!     NoTimer,
//! );
//! let outcome = futures::executor::block_on(race);
//! assert_eq!(outcome.winner.map(|(_, port)| port), Some(443));
//! ```
//!
//! An `async fn` (or a closure with a return type, `|| -> Result<u16, MyError>` around a
//! block that is not `async`) names it in its signature instead.
//!
//! ## Attempts of different kinds
//!
//! A cache, then a CDN, then the origin: each is a different closure and a different future,
//! and the race takes a list of one type. Wrap each in [`boxed_local`] (or [`boxed`], to keep
//! the race `Send`); attempts may still borrow. The example is on [`boxed_local`].
//!
//! ## A race in a spawned task
//!
//! The race spawns nothing, so its attempts may borrow from the caller. A task spawned with
//! `tokio::spawn` must own what it uses (it is `'static`), so a race that borrows a list of the
//! caller's fails there with "borrowed value does not live long enough ... argument requires
//! that it is borrowed for `'static`". Move the list into the task and borrow it there, or
//! give each attempt its own copy. Inside the task, collect borrowing attempts into a `Vec`
//! first: an iterator adapter's closure that is held across an `.await` in a task that must be
//! `Send` trips a rustc limitation ("implementation of `FnOnce` is not general enough",
//! rust-lang/rust#110338).
//!
//! ```
//! use std::time::Duration;
//! use staggered::{staggered_race, timer::TokioTimer};
//!
//! async fn fetch(url: &str) -> Result<String, String> {
//!     Ok(format!("hello from {url}"))
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() {
//!     let delay = Some(Duration::from_millis(250));
//!     let mirrors = vec!["https://a.example".to_owned(), "https://b.example".to_owned()];
//!
//!     // In place: the attempts borrow `mirrors`.
//!     let outcome = staggered_race(mirrors.iter().map(|url| move || fetch(url)), delay, TokioTimer).await;
//!     assert_eq!(outcome.winner_index(), Some(0));
//!
//!     // Spawned, borrowing: the task owns `mirrors`, and its attempts borrow from the task.
//!     let list = mirrors.clone();
//!     let task = tokio::spawn(async move {
//!         let attempts: Vec<_> = list.iter().map(|url| move || fetch(url)).collect();
//!         staggered_race(attempts, delay, TokioTimer).await
//!     });
//!     assert_eq!(task.await.unwrap().winner_index(), Some(0));
//!
//!     // Spawned, owned: each attempt owns its `String`.
//!     let task = tokio::spawn(staggered_race(
//!         mirrors.into_iter().map(|url| move || async move { fetch(&url).await }),
//!         delay,
//!         TokioTimer,
//!     ));
//!     assert_eq!(task.await.unwrap().winner_index(), Some(0));
//! }
//! ```
// A build without a feature has no page for its items: their links lead to the features table
// above, which names the feature (`broken_intra_doc_links` is deny). Docs for every feature
// set: `.ci/steps/31-doc-features.sh`.
#![cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[`staggered_race`]: crate#features",
    doc = "[`StaggeredRace`]: crate#features",
    doc = "[`Outcome`]: crate#features",
    doc = "[`AllFailed`]: crate#features",
    doc = "[`boxed_local`]: crate#features",
    doc = "[`boxed`]: crate#features",
    doc = "[`net`]: crate#features",
    doc = "[fairness]: crate#features"
)]
#![cfg_attr(
    feature = "alloc",
    doc = "",
    doc = "[fairness]: staggered_race#fairness-and-co-operation"
)]
#![cfg_attr(
    not(feature = "testing"),
    doc = "",
    doc = "[`testing::ManualClock`]: crate#features"
)]
#![cfg_attr(not(feature = "hedge"), doc = "", doc = "[`hedge`]: crate#features")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod timer;
pub use timer::Timer;

pub mod builder;
pub use builder::{Event, Staggered};

mod attempt;
#[cfg(feature = "alloc")]
mod boxed;
mod error_list;
#[cfg(feature = "alloc")]
mod geometry;
mod outcome;
mod policy;
mod race;
mod storage;
#[cfg(feature = "alloc")]
mod sync;
#[cfg(feature = "alloc")]
mod waker;

/// The fixed-capacity list type of [`ArrayOutcome::attempts`] and
/// [`ArrayAllFailed::into_errors`], re-exported from the `arrayvec` crate.
#[doc(no_inline)]
pub use arrayvec::ArrayVec;
pub use attempt::AttemptFn;
#[cfg(feature = "alloc")]
pub use boxed::{boxed, boxed_local, BoxAttempt, LocalBoxAttempt};
#[cfg(feature = "alloc")]
pub use outcome::{AllFailed, Outcome};
pub use outcome::{ArrayAllFailed, ArrayOutcome, Attempt};
#[cfg(feature = "alloc")]
pub use race::{staggered_race, StaggeredRace};
pub use race::{staggered_race_array, StaggeredRaceArray};

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "alloc")]
pub mod net;

#[cfg(feature = "hedge")]
#[cfg_attr(docsrs, doc(cfg(feature = "hedge")))]
pub mod hedge;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
