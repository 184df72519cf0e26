//! The [`Timer`] trait, and one adapter per runtime.
//!
//! The race needs exactly one thing from a runtime: a future that completes after a
//! [`Duration`]. [`Timer`] is that, plus an optional way to re-arm a live sleep in place. Each
//! runtime adapter lives in its own file and behind its own feature, so a build pays only for
//! the runtimes it enables.
//!
//! # Runtime support
//!
//! | runtime | feature | timer type | tested by |
//! |---|---|---|---|
//! | tokio (current-thread, multi-thread, paused clock) | `tokio` | [`TokioTimer`] | `tests/runtime_tokio.rs` |
//! | smol | `async-io` | [`AsyncIoTimer`] | `tests/runtime_smol.rs` |
//! | async-std | `async-io` | [`AsyncIoTimer`] | `tests/runtime_async_std.rs` |
//! | `futures::executor::block_on`, or any executor | `futures-timer` | [`FuturesTimer`] | `tests/runtime_futures.rs` |
//! | embassy (any platform, `no_std`) | `embassy-time` | [`EmbassyTimer`] | `tests/runtime_embassy.rs` (embassy-executor on `std`) |
//! | bare metal, custom executors | none | your own [`Timer`] (its contract: [`Timer`]'s page) | `examples/firmware` (built for `thumbv7em-none-eabihf`, run on QEMU's Cortex-M4 `mps2-an386`); `testing::check_timer` on a host |
//! | none: `delay` of `None` or zero | none | [`NoTimer`] | the unit and semantics tests |
//!
//! Every `tests/runtime_*.rs` runs the same scenarios (from `tests/runtimes/mod.rs`): a
//! fall-through where the third attempt wins, a failure that starts the next attempt early, a
//! `Duration::MAX` delay (only failures start attempts), all attempts failing, the race dropped
//! mid-way, and a loopback TCP connect that wins. Each timer type's page has an example that
//! runs.
//!
//! A feature adds its runtime's crate and nothing else: a build without it does not compile or
//! link that runtime (`.ci/steps/60-features.sh` checks this with `cargo tree`).
//!
//! # Example
//!
//! The timer is the race's third argument; the rest of the race is the same on every runtime.
//!
//! ```
//! use std::time::Duration;
//! use staggered::{staggered_race, Timer};
//! # #[cfg(feature = "futures-timer")] // the example runs with the feature on
//! use staggered::timer::FuturesTimer;
//!
//! // Any `Timer` will do: this function works on every runtime.
//! async fn first_answer(timer: impl Timer) -> Option<usize> {
//!     let waits = [Duration::from_secs(60), Duration::ZERO];
//!     staggered_race(
//!         waits.map(|wait| move || async move {
//!             if wait.is_zero() { Ok(()) } else { std::future::pending::<Result<(), ()>>().await }
//!         }),
//!         Some(Duration::from_millis(10)),
//!         timer,
//!     )
//!     .await
//!     .winner_index()
//! }
//!
//! # #[cfg(feature = "futures-timer")]
//! assert_eq!(futures::executor::block_on(first_answer(FuturesTimer)), Some(1));
//! ```
#![cfg_attr(
    not(feature = "tokio"),
    doc = "",
    doc = "[`TokioTimer`]: crate#features"
)]
#![cfg_attr(
    not(feature = "async-io"),
    doc = "",
    doc = "[`AsyncIoTimer`]: crate#features"
)]
#![cfg_attr(
    not(feature = "futures-timer"),
    doc = "",
    doc = "[`FuturesTimer`]: crate#features"
)]
#![cfg_attr(
    not(feature = "embassy-time"),
    doc = "",
    doc = "[`EmbassyTimer`]: crate#features"
)]

use core::future::Future;
use core::pin::Pin;
use core::time::Duration;

#[cfg(feature = "async-io")]
mod async_io;
#[cfg(feature = "embassy-time")]
mod embassy;
#[cfg(feature = "futures-timer")]
mod futures_timer;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "async-io")]
pub use self::async_io::{AsyncIoSleep, AsyncIoTimer};
#[cfg(feature = "embassy-time")]
pub use self::embassy::EmbassyTimer;
#[cfg(feature = "futures-timer")]
pub use self::futures_timer::FuturesTimer;
#[cfg(feature = "tokio")]
pub use self::tokio::TokioTimer;

/// A source of sleeps: the only thing [`staggered_race`][crate::staggered_race] needs from a
/// runtime.
///
/// The race keeps at most one sleep alive at a time. It creates it with [`sleep`](Timer::sleep)
/// when the first delayed start is armed, and re-arms it with [`reset`](Timer::reset) for every
/// later start.
///
/// # The contract
///
/// The adapters of this module keep it; a timer of your own must too.
///
/// - **Never early.** A sleep of `d` completes once at least `d` has passed (rounding up to
///   whole ticks is fine; late is allowed, early is not), and a sleep of [`Duration::ZERO`]
///   completes at once or soon after.
/// - **Wake the waker of the last poll.** A pending sleep, once due, must wake the waker of
///   the [`Context`](core::task::Context) it was *last* polled with: executors move tasks, and
///   a sleep may be polled with another waker than before. Spurious wake-ups are fine.
/// - **Wakers are shared.** Several sleeps may be polled with the same waker: the attempts of
///   [`staggered_race_array`](crate::staggered_race_array) have no wakers of their own, so
///   their sleeps and the race's sleep are all polled with the task's waker. A timer that
///   keeps one entry per waker (a fixed table in firmware) must keep the **earliest** deadline
///   of the sleeps polled with that waker, not the last one registered; when it fires, the
///   sleeps not yet due are polled again and register anew.
/// - **`reset` re-arms in place.** [`reset`](Timer::reset) gives a live sleep a new deadline,
///   `duration` from now, earlier or later than the old one, whether or not the sleep has
///   completed; the race polls it afterwards. The default builds a new sleep in its place.
/// - **Every duration up to [`Duration::MAX`] arrives.** A `delay` or `deadline` of
///   `Duration::MAX` means "never", and a [`delay_fn`](crate::Staggered::delay_fn) may return
///   anything. Saturate: a deadline past the end of the clock's range is "never" (or decades
///   away); never overflow, wrap around or panic.
///
/// On a host, `testing::check_timer` (feature `testing`) checks all of this for a timer of
/// yours, and says which rule a failing timer breaks: see [`testing::check_timer`].
///
/// # Writing your own
///
/// Firmware and custom executors implement this over whatever tick source they have. Below, a
/// millisecond tick count that an interrupt advances, and a table of wakers waiting for it
/// (one entry per waker, at the earliest deadline): the design of `examples/firmware` in the
/// repository, a `no_std` program over a Cortex-M SysTick, built for `thumbv7em-none-eabihf`
/// and run on QEMU, whose `SysTickTimer` is this timer with a fixed-size table.
///
/// ```
/// use std::future::Future;
/// use std::pin::{pin, Pin};
/// use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
/// use std::sync::{Arc, Mutex};
/// use std::task::{Context, Poll, Wake, Waker};
/// use std::time::Duration;
/// use staggered::{staggered_race_array, Timer};
///
/// /// Milliseconds since boot, counted by the tick interrupt.
/// static NOW: AtomicU64 = AtomicU64::new(0);
/// /// The wakers waiting for a tick: one entry per waker, with the earliest deadline of the
/// /// sleeps polled with it.
/// static SLEEPERS: Mutex<Vec<(u64, Waker)>> = Mutex::new(Vec::new());
///
/// /// The tick interrupt: a millisecond has passed; wake the sleeps that are due.
/// fn tick() {
///     let now = NOW.fetch_add(1, SeqCst) + 1;
///     let mut due = Vec::new();
///     SLEEPERS.lock().unwrap().retain(|(deadline, waker)| {
///         let waiting = *deadline > now;
///         if !waiting {
///             due.push(waker.clone());
///         }
///         waiting
///     });
///     due.into_iter().for_each(Waker::wake);
/// }
///
/// /// Whole milliseconds in `d`: rounded up (never early) and saturated (never overflows).
/// fn ticks(d: Duration) -> u64 {
///     u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
/// }
///
/// struct TickTimer;
///
/// struct TickSleep {
///     deadline: u64,
/// }
///
/// impl Future for TickSleep {
///     type Output = ();
///
///     fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
///         let mut sleepers = SLEEPERS.lock().unwrap();
///         if NOW.load(SeqCst) >= self.deadline {
///             return Poll::Ready(());
///         }
///         // This poll's waker, at the earliest deadline of the sleeps that share it.
///         match sleepers.iter_mut().find(|(_, waker)| waker.will_wake(cx.waker())) {
///             Some((deadline, _)) => *deadline = (*deadline).min(self.deadline),
///             None => sleepers.push((self.deadline, cx.waker().clone())),
///         }
///         Poll::Pending
///     }
/// }
///
/// impl Timer for TickTimer {
///     type Sleep = TickSleep;
///
///     fn sleep(&self, duration: Duration) -> TickSleep {
///         TickSleep { deadline: NOW.load(SeqCst).saturating_add(ticks(duration)) }
///     }
///
///     /// In place. An entry for the old deadline fires later as a spurious wake-up.
///     fn reset(&self, sleep: Pin<&mut TickSleep>, duration: Duration) {
///         sleep.get_mut().deadline = NOW.load(SeqCst).saturating_add(ticks(duration));
///     }
/// }
///
/// // Before it drives a race: the contract, checked on the host, in the timer's own time.
/// #[cfg(feature = "testing")]
/// futures::executor::block_on(staggered::testing::check_timer(
///     &TickTimer,
///     Duration::from_millis(10),
///     |d| std::future::ready((0..ticks(d)).for_each(|_| tick())),
/// ))
/// .unwrap();
///
/// // A race with no heap, its attempts sleeping on the same timer and the same waker as the
/// // race: attempt 0 takes 200 ms, attempt 1 starts 50 ms later and takes 20 ms.
/// let race = staggered_race_array(
///     [200, 20].map(|ms| move || async move {
///         TickTimer.sleep(Duration::from_millis(ms)).await;
///         Ok::<u64, ()>(ms)
///     }),
///     Some(Duration::from_millis(50)),
///     TickTimer,
/// );
/// // An executor as firmware has one: poll when woken, otherwise wait for the next tick.
/// struct Flag(AtomicBool);
/// impl Wake for Flag {
///     fn wake(self: Arc<Self>) {
///         self.0.store(true, SeqCst);
///     }
/// }
/// let flag = Arc::new(Flag(AtomicBool::new(true)));
/// let waker = Waker::from(flag.clone());
/// let mut race = pin!(race);
/// let start = NOW.load(SeqCst);
/// let outcome = loop {
///     if flag.0.swap(false, SeqCst) {
///         if let Poll::Ready(outcome) = race.as_mut().poll(&mut Context::from_waker(&waker)) {
///             break outcome;
///         }
///     } else {
///         tick();
///     }
/// };
/// assert_eq!(outcome.winner, Some((1, 20)));
/// assert_eq!(NOW.load(SeqCst) - start, 70); // 50 ms, then 20 ms: no tick early, none late
/// ```
#[cfg_attr(
    feature = "testing",
    doc = "[`testing::check_timer`]: crate::testing::check_timer"
)]
#[cfg_attr(
    not(feature = "testing"),
    doc = "[`testing::check_timer`]: https://docs.rs/staggered/latest/staggered/testing/fn.check_timer.html"
)]
#[cfg_attr(
    not(feature = "alloc"),
    doc = "",
    doc = "[crate::staggered_race]: crate#features"
)]
pub trait Timer {
    /// The future returned by [`sleep`](Timer::sleep). It completes once the duration has
    /// passed.
    type Sleep: Future<Output = ()>;

    /// Returns a future that completes `duration` from now.
    fn sleep(&self, duration: Duration) -> Self::Sleep;

    /// Re-arm a live sleep to fire `duration` from now. The default replaces it; adapters
    /// whose runtime can re-arm in place override this.
    fn reset(&self, mut sleep: Pin<&mut Self::Sleep>, duration: Duration) {
        sleep.set(self.sleep(duration))
    }
}

impl<T: Timer + ?Sized> Timer for &T {
    type Sleep = T::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (**self).sleep(duration)
    }

    fn reset(&self, sleep: Pin<&mut Self::Sleep>, duration: Duration) {
        (**self).reset(sleep, duration)
    }
}

/// A timer for races that never wait: `delay` of `None` (one attempt after another) or
/// `Some(Duration::ZERO)` (all at once). The race never calls a timer in those cases.
///
/// # Panics
///
/// [`sleep`](Timer::sleep) panics: a race with a non-zero delay needs a real timer, and using
/// `NoTimer` there is a programming error. (The delay is a run-time value, so the types cannot
/// rule it out.)
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use staggered::{staggered_race, timer::NoTimer};
///
/// let attempts = || [1, 2, 3].map(|n| move || async move { if n < 3 { Err(n) } else { Ok(n) } });
/// let block_on = futures::executor::block_on;
/// // One after another: each failure starts the next.
/// assert_eq!(block_on(staggered_race(attempts(), None, NoTimer)).winner, Some((2, 3)));
/// // All at once.
/// assert_eq!(block_on(staggered_race(attempts(), Some(Duration::ZERO), NoTimer)).winner, Some((2, 3)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoTimer;

impl Timer for NoTimer {
    type Sleep = core::future::Pending<()>;

    #[track_caller]
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        panic!(
            "staggered::timer::NoTimer cannot sleep (asked for {duration:?}): a race with a \
             non-zero delay needs a real Timer"
        )
    }
}
