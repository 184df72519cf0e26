//! Hedged requests ("The Tail at Scale"): send the same request again when the first is slower
//! than usual, keep the first answer. Feature `hedge` (needs `std`).
//!
//! A hedge is a staggered race whose attempts are the same request: [`Hedge::call`] runs the
//! primary and up to `k` hedges through [`Staggered`]
//! ([`delay_fn`](crate::Staggered::delay_fn) from the policy,
//! [`max_running`](crate::Staggered::max_running)`(k + 1)`), measures the winner's latency
//! and records it in the [`Percentile`] it hedges on. It spawns nothing and asks for no
//! `Send` or `'static`: attempts may borrow. Losers are dropped when the call ends, and
//! every attempt is dropped when the call's future is.
//!
//! - [`Percentile`]: a delay from recent successful latencies (a quantile over a rotating
//!   window, a fallback until `min_samples`, clamped).
//! - [`Budget`]: extra attempts at most a fraction of primary requests; a spent budget stops
//!   new hedges, never running attempts.
//! - [`Hedge`]: the policy: how many hedges, the delay (fixed, [`Percentile`], or a function of
//!   the attempt index), the budget, which requests may be hedged, and who wins ([`Win`]).
//! - [`HedgeLayer`] (feature `hedge-tower`): the same as a tower layer, for any
//!   `tower_service::Service` whose request can be cloned.
//! - [`Clock`]: what the policy reads the time with: the timer's own clock, so virtual time
//!   (tokio's paused clock, [`ManualClock`]) measures virtual
//!   latencies.
//!
//! ```
//! use std::time::Duration;
//! use staggered::{hedge::{Hedge, Percentile}, testing::ManualClock};
//!
//! let clock = ManualClock::new();
//! let ms = Duration::from_millis;
//! let hedge = Hedge::percentile(Percentile::new(0.95).min_samples(1).fallback(ms(10)));
//! // The primary hangs; the hedge, sent 10 ms later (the fallback), answers in 2 ms.
//! let mut sent = 0;
//! let outcome = clock.block_on(hedge.call(clock.clone(), || {
//!     sent += 1;
//!     let (first, clock) = (sent == 1, clock.clone());
//!     async move {
//!         if first { std::future::pending::<()>().await }
//!         clock.sleep(ms(2)).await;
//!         Ok::<_, std::io::Error>("answer")
//!     }
//! }));
//! assert_eq!(outcome.winner, Some((1, "answer")));
//! assert_eq!(clock.now(), ms(12));
//! assert_eq!(hedge.delay_after(0), Some(ms(2))); // the winner's 2 ms, recorded
//! ```
//!
//! # Where it stands
//!
//! The crates people use today, and this module:
//!
//! | | tower `hedge` | tower-resilience-hedge | rhedge | hedged | `staggered::hedge` |
//! |---|---|---|---|---|---|
//! | extra requests | exactly 1 | `max_hedged_attempts` | `max_hedges` | 1 | [`max_hedges`](Hedge::max_hedges)`(k)` |
//! | delay | percentile of a rotating histogram, `min_data_points` | fixed, immediate, or a fn of the attempt | T-Digest percentile x multiplier, `min_delay` | percentile | fixed, [`Percentile`] (rotating hdrhistogram, `min_samples`, fallback, clamp), or a fn of the attempt index |
//! | who wins | first to complete, even an `Err` | first success | first success | first | first success, or first completion ([`Win`]) |
//! | budget on extra load | no | no | no | no | [`Budget`]: a fraction of primaries; never cancels |
//! | eligibility | `Policy::can_retry` | - | - | - | [`eligible`](Hedge::eligible) |
//! | losers | dropped | dropped (recently made synchronous) | spawned tasks | handed back | dropped, in the caller's task; every error kept in the [`Outcome`] |
//! | runtime | tokio, `Send + 'static` | tokio | tokio, reqwest only | tokio | any [`Timer`] with a [`Clock`]; no `Send`, no `'static` ([`HedgeLayer`]: `Send + 'static`, as tower) |
//!
//! A failure of the newest attempt starts the next at once (the race's rule), so a request
//! that fails fast is retried by its hedge, within the budget.
//!
//! How it compares with tower's `hedge` on one synthetic service, in paused time
//! (`cargo bench --bench hedge`): see the README's "Hedged requests" section.

// Links to items of other features: to their page when the feature is on, else to the crate's
// features table (a build without the feature has no page for them).
#![cfg_attr(
    feature = "testing",
    doc = "",
    doc = "[`ManualClock`]: crate::testing::ManualClock"
)]
#![cfg_attr(
    not(feature = "testing"),
    doc = "",
    doc = "[`ManualClock`]: crate#features"
)]
#![cfg_attr(
    not(feature = "hedge-tower"),
    doc = "",
    doc = "[`HedgeLayer`]: crate#features"
)]

use core::future::Future;
use core::time::Duration;
use std::any::Any;
use std::sync::Arc;

use crate::{Attempt, Outcome, Staggered, Timer};

mod budget;
#[cfg(feature = "hedge-tower")]
mod layer;
mod percentile;

pub use budget::Budget;
#[cfg(feature = "hedge-tower")]
pub use layer::{HedgeLayer, HedgeService, ResponseFuture};
pub use percentile::Percentile;

/// A monotonic clock: the time since some fixed origin. [`Hedge`] reads it when an attempt
/// starts and ends, to measure latencies; it is implemented by the timers, so that a timer
/// in virtual time measures virtual latencies.
///
/// Implemented for `TokioTimer` (tokio's clock, paused or not), `AsyncIoTimer` and
/// `FuturesTimer` (the standard clock), `ManualClock` (its virtual time), each with its
/// feature (the implementors below, in a build with them), and
/// references to those.
///
/// ```
/// use std::time::Duration;
/// use staggered::{hedge::Clock, testing::ManualClock};
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(Clock::now(&clock), Duration::from_millis(5));
/// ```
pub trait Clock {
    /// The time since this clock's origin.
    fn now(&self) -> Duration;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Duration {
        (**self).now()
    }
}

#[cfg(feature = "testing")]
impl Clock for crate::testing::ManualClock {
    fn now(&self) -> Duration {
        crate::testing::ManualClock::now(self)
    }
}

#[cfg(feature = "tokio")]
impl Clock for crate::timer::TokioTimer {
    fn now(&self) -> Duration {
        static ORIGIN: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        let now = tokio::time::Instant::now();
        now.saturating_duration_since(*ORIGIN.get_or_init(|| now))
    }
}

#[cfg(any(feature = "async-io", feature = "futures-timer"))]
fn std_now() -> Duration {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let now = std::time::Instant::now();
    now.saturating_duration_since(*ORIGIN.get_or_init(|| now))
}

#[cfg(feature = "async-io")]
impl Clock for crate::timer::AsyncIoTimer {
    fn now(&self) -> Duration {
        std_now()
    }
}

#[cfg(feature = "futures-timer")]
impl Clock for crate::timer::FuturesTimer {
    fn now(&self) -> Duration {
        std_now()
    }
}

/// Who wins a hedged call.
///
/// ```
/// use staggered::hedge::{Hedge, Win};
///
/// let hedge = Hedge::fixed(std::time::Duration::from_millis(10)).win(Win::FirstCompletion);
/// assert_eq!(hedge.win_rule(), Win::FirstCompletion);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Win {
    /// The first attempt to succeed; a failure starts the next hedge at once (the default).
    #[default]
    FirstSuccess,
    /// The first attempt to complete, even with an error, as tower's `hedge` does. The call's
    /// [`Outcome`] then has no winner and that error among its attempts.
    FirstCompletion,
}

type DelayFnBox = Arc<dyn Fn(usize) -> Option<Duration> + Send + Sync>;
type EligibleBox = Arc<dyn Fn(&dyn Any) -> Option<bool> + Send + Sync>;

#[derive(Clone)]
enum Policy {
    Fixed(Duration),
    Percentile(Percentile),
    Fn(DelayFnBox),
}

/// A hedging policy: how many hedges, after what delay, within what budget, for which
/// requests, and who wins. [`call`](Self::call) runs one hedged request.
///
/// Clones share the [`Percentile`] and the [`Budget`].
///
/// ```
/// use std::time::Duration;
/// use staggered::{hedge::{Budget, Hedge, Percentile}, testing::ManualClock, Attempt};
///
/// let clock = ManualClock::new();
/// let ms = Duration::from_millis;
/// let budget = Budget::new(1.0);
/// let hedge = Hedge::fixed(ms(5)).max_hedges(2).budget(budget.clone());
/// // Every attempt fails at once: the first hedge is a retry, the second is over budget.
/// let outcome = clock.block_on(hedge.call(clock.clone(), || async { Err::<(), _>("refused") }));
/// assert_eq!(outcome.attempts, [Attempt::Failed("refused"), Attempt::Failed("refused")]);
/// assert_eq!(budget.balance(), 0.0);
/// ```
pub struct Hedge {
    max_hedges: usize,
    delay: Policy,
    budget: Option<Budget>,
    eligible: Option<EligibleBox>,
    win: Win,
}

impl Clone for Hedge {
    fn clone(&self) -> Self {
        Hedge {
            max_hedges: self.max_hedges,
            delay: self.delay.clone(),
            budget: self.budget.clone(),
            eligible: self.eligible.clone(),
            win: self.win,
        }
    }
}

impl std::fmt::Debug for Hedge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let delay: &dyn std::fmt::Debug = match &self.delay {
            Policy::Fixed(d) => d,
            Policy::Percentile(p) => p,
            Policy::Fn(_) => &"fn(index)",
        };
        f.debug_struct("Hedge")
            .field("max_hedges", &self.max_hedges)
            .field("delay", delay)
            .field("budget", &self.budget)
            .field("eligible", &self.eligible.as_ref().map(|_| "fn(&request)"))
            .field("win", &self.win)
            .finish()
    }
}

impl Hedge {
    fn with(delay: Policy) -> Self {
        Hedge {
            max_hedges: 1,
            delay,
            budget: None,
            eligible: None,
            win: Win::FirstSuccess,
        }
    }

    /// One hedge, `delay` after the primary (and each further hedge `delay` after the one
    /// before it).
    ///
    /// ```
    /// use std::time::Duration;
    /// let hedge = staggered::hedge::Hedge::fixed(Duration::from_millis(20));
    /// assert_eq!(hedge.delay_after(0), Some(Duration::from_millis(20)));
    /// ```
    pub fn fixed(delay: Duration) -> Self {
        Self::with(Policy::Fixed(delay))
    }

    /// One hedge, after the [`Percentile`]'s current delay; every call records its winner's
    /// latency into it.
    ///
    /// An example is on the [module](self).
    pub fn percentile(percentile: Percentile) -> Self {
        Self::with(Policy::Percentile(percentile))
    }

    /// One hedge, with the delay after attempt `index` (0: the primary) given by `delay`, as
    /// [`Staggered::delay_fn`](crate::Staggered::delay_fn) takes it: `Some(d)` sends the next
    /// `d` after attempt `index` started (unless it fails first), `None` only on its failure.
    ///
    /// ```
    /// use std::time::Duration;
    /// let hedge = staggered::hedge::Hedge::delay_fn(|index| Some(Duration::from_millis(10 << index)))
    ///     .max_hedges(3);
    /// assert_eq!(hedge.delay_after(2), Some(Duration::from_millis(40)));
    /// ```
    pub fn delay_fn(delay: impl Fn(usize) -> Option<Duration> + Send + Sync + 'static) -> Self {
        Self::with(Policy::Fn(Arc::new(delay)))
    }

    /// At most `k` hedges per request (`k + 1` attempts). Default 1. `0` turns hedging off,
    /// but a call still measures and records its latency.
    ///
    /// An example is on [`delay_fn`](Self::delay_fn).
    pub fn max_hedges(mut self, k: usize) -> Self {
        self.max_hedges = k;
        self
    }

    /// A hedge is sent only if `budget` has an extra attempt for it; each call deposits one
    /// primary request. Clones of the budget share it (one budget for many policies).
    ///
    /// An example is on the [type](Self).
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Only requests of type `Q` for which `eligible` returns `true` are hedged (idempotent
    /// ones, say); others go once. Checked by [`call_for`](Self::call_for) and
    /// `HedgeLayer` (feature `hedge-tower`); a request of another type than `Q` is eligible.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::{hedge::Hedge, testing::ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let hedge = Hedge::fixed(Duration::from_millis(1)).eligible(|method: &&str| *method == "GET");
    /// let fail = || async { Err::<(), _>("reset") };
    /// assert_eq!(clock.block_on(hedge.call_for(&"POST", clock.clone(), fail)).attempts.len(), 1);
    /// assert_eq!(clock.block_on(hedge.call_for(&"GET", clock.clone(), fail)).attempts.len(), 2);
    /// ```
    pub fn eligible<Q: Any>(
        mut self,
        eligible: impl Fn(&Q) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.eligible = Some(Arc::new(move |request: &dyn Any| {
            request.downcast_ref::<Q>().map(&eligible)
        }));
        self
    }

    /// Who wins: [`Win::FirstSuccess`] (the default) or [`Win::FirstCompletion`].
    ///
    /// An example is on [`Win`].
    pub fn win(mut self, win: Win) -> Self {
        self.win = win;
        self
    }

    /// The win rule set.
    ///
    /// An example is on [`Win`].
    pub fn win_rule(&self) -> Win {
        self.win
    }

    /// The [`Percentile`] the delay follows, if it does.
    ///
    /// ```
    /// use staggered::hedge::{Hedge, Percentile};
    /// let hedge = Hedge::percentile(Percentile::new(0.9));
    /// assert_eq!(hedge.percentile_policy().map(|p| p.quantile()), Some(0.9));
    /// ```
    pub fn percentile_policy(&self) -> Option<&Percentile> {
        match &self.delay {
            Policy::Percentile(p) => Some(p),
            _ => None,
        }
    }

    /// Whether `request` may be hedged: the [eligibility check](Self::eligible), `true`
    /// without one.
    ///
    /// An example is on [`eligible`](Self::eligible).
    pub fn is_eligible<Q: Any>(&self, request: &Q) -> bool {
        self.eligible
            .as_ref()
            .and_then(|f| f(request))
            .unwrap_or(true)
    }

    /// The delay after attempt `index` starts, before the next: what [`call`](Self::call)
    /// hands [`Staggered::delay_fn`](crate::Staggered::delay_fn). `None` after the last
    /// hedge. A race of your own can use it too:
    /// `Staggered::new(..).delay_fn(|i| hedge.delay_after(i))`.
    ///
    /// An example is on [`fixed`](Self::fixed).
    pub fn delay_after(&self, index: usize) -> Option<Duration> {
        if index >= self.max_hedges {
            return None;
        }
        match &self.delay {
            Policy::Fixed(d) => Some(*d),
            Policy::Percentile(p) => Some(p.delay()),
            Policy::Fn(f) => f(index),
        }
    }

    /// Runs one hedged request: calls `make` for the primary at once and for each hedge as
    /// it is sent (the delay passed, or the newest attempt failed), at most
    /// [`max_hedges`](Self::max_hedges) times and while the [budget](Self::budget) allows,
    /// with no eligibility check. The first success wins (or the first completion, with
    /// [`Win::FirstCompletion`]); the others are dropped. The winner's latency, from its
    /// own start, is recorded in the [`Percentile`] if the delay follows one.
    ///
    /// The [`Outcome`] has the winner's index (0: the primary) and value, and every
    /// attempt's fate, errors included: [`Outcome::into_result`] for a `Result`.
    ///
    /// The future borrows the policy and `make`; it is `Send` if they and the attempts are.
    /// A panic in `make` or in the delay function reaches the caller, as in any race.
    ///
    /// An example is on the [module](self).
    pub fn call<'a, Tm, M, Fut, T, E>(
        &'a self,
        timer: Tm,
        make: M,
    ) -> impl Future<Output = Outcome<T, E>> + 'a
    where
        Tm: Timer + Clock + Clone + 'a,
        M: FnMut() -> Fut + 'a,
        Fut: Future<Output = Result<T, E>> + 'a,
        T: 'a,
        E: 'a,
    {
        self.run(self.max_hedges, timer, make)
    }

    /// [`call`](Self::call) for `request`: hedged only if the [eligibility
    /// check](Self::eligible) passes (a request that is not goes once, and its latency is
    /// still recorded).
    ///
    /// An example is on [`eligible`](Self::eligible).
    pub fn call_for<'a, Q: Any, Tm, M, Fut, T, E>(
        &'a self,
        request: &Q,
        timer: Tm,
        make: M,
    ) -> impl Future<Output = Outcome<T, E>> + 'a
    where
        Tm: Timer + Clock + Clone + 'a,
        M: FnMut() -> Fut + 'a,
        Fut: Future<Output = Result<T, E>> + 'a,
        T: 'a,
        E: 'a,
    {
        let hedges = if self.is_eligible(request) {
            self.max_hedges
        } else {
            0
        };
        self.run(hedges, timer, make)
    }

    async fn run<Tm, M, Fut, T, E>(&self, hedges: usize, timer: Tm, mut make: M) -> Outcome<T, E>
    where
        Tm: Timer + Clock + Clone,
        M: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        let win = self.win;
        let clock = timer.clone();
        let budget = self.budget.as_ref();
        let mut started = 0;
        let mut done = false;
        // Pulled by the race only when a start is due: the budget is taken as a hedge goes.
        let attempts = core::iter::from_fn(move || {
            if done || started > hedges {
                return None;
            }
            if started > 0 && budget.is_some_and(|b| !b.try_withdraw()) {
                done = true;
                return None;
            }
            started += 1;
            let fut = make();
            let clock = clock.clone();
            Some(move || async move {
                let t0 = clock.now();
                match fut.await {
                    Ok(value) => Ok((Ok(value), clock.now().saturating_sub(t0))),
                    Err(e) if win == Win::FirstCompletion => Ok((Err(e), Duration::ZERO)),
                    Err(e) => Err(e),
                }
            })
        });
        let outcome = Staggered::new(attempts)
            .delay_fn(|index| {
                if index >= hedges {
                    None
                } else {
                    self.delay_after(index)
                }
            })
            .max_running(hedges + 1)
            .race(timer)
            .await;
        let Outcome {
            winner,
            mut attempts,
            timed_out,
        } = outcome;
        let winner = match winner {
            Some((index, (Ok(value), latency))) => {
                if let Policy::Percentile(p) = &self.delay {
                    p.record(latency);
                }
                Some((index, value))
            }
            Some((index, (Err(e), _))) => {
                attempts[index] = Attempt::Failed(e);
                None
            }
            None => None,
        };
        Outcome {
            winner,
            attempts,
            timed_out,
        }
    }
}
