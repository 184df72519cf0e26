//! [`Budget`]: a cap on extra attempts, as a fraction of primary requests.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// One extra attempt, in the budget's fixed-point units (a millionth of an attempt).
const ONE: i64 = 1_000_000;

/// A cap on hedges: extra attempts at most a fraction of primary requests.
///
/// A token bucket counted in requests, not in time: each primary request deposits `ratio` of
/// an attempt ([`deposit`](Self::deposit)), each hedge withdraws a whole one
/// ([`try_withdraw`](Self::try_withdraw)), and the balance never goes below zero nor above
/// `ratio × window`. So over any run of requests, the hedges sent are at most `ratio` times
/// the primaries in that run, plus what was saved over at most `window` primaries before it
/// (a fresh budget starts empty: from the start, at most `ratio` times the primaries, rounded
/// down).
///
/// A spent budget means [`Hedge`](super::Hedge) sends no new hedge; attempts already running
/// are never cancelled. Clones share one balance; every operation is one atomic
/// read-modify-write, exact under any number of threads (the test suite checks it under
/// tokio's multi-thread runtime).
///
/// Why not an ecosystem budget: tower's retry `TpsBudget` counts over a time window on
/// tokio's clock and adds a floor of retries per second (`min_per_sec`), so it allows more
/// than the fraction at low rates and needs tokio; a hedge budget here must hold to the
/// fraction and work on any runtime and in virtual time.
///
/// ```
/// use staggered::hedge::Budget;
///
/// let budget = Budget::new(0.1); // one extra per 10 primaries
/// assert!(!budget.try_withdraw()); // a fresh budget is empty
/// for _ in 0..10 {
///     budget.deposit();
/// }
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// ```
#[derive(Clone, Debug)]
pub struct Budget {
    per_primary: i64,
    cap: i64,
    balance: Arc<AtomicI64>,
}

impl Budget {
    /// Extra attempts at most `ratio` of primary requests (0.1: 10%), with a window of 1,000
    /// primaries (see [`window`](Self::window)).
    ///
    /// # Panics
    ///
    /// If `ratio` is negative, not a number, or above 1,000.
    ///
    /// ```
    /// let budget = staggered::hedge::Budget::new(0.05);
    /// assert_eq!(budget.ratio(), 0.05);
    /// ```
    #[track_caller]
    pub fn new(ratio: f64) -> Budget {
        assert!(
            (0.0..=1000.0).contains(&ratio),
            "staggered: a hedge budget's ratio is between 0 and 1000, not {ratio}"
        );
        let per_primary = (ratio * ONE as f64).round() as i64;
        Budget {
            per_primary,
            cap: per_primary.saturating_mul(1000),
            balance: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The balance holds at most what `primaries` requests earn: the most hedges that a
    /// quiet spell can save up for a burst. At least one hedge's worth.
    ///
    /// ```
    /// use staggered::hedge::Budget;
    ///
    /// let budget = Budget::new(0.5).window(4); // saves up 2 hedges at most
    /// for _ in 0..100 {
    ///     budget.deposit();
    /// }
    /// assert_eq!((0..10).filter(|_| budget.try_withdraw()).count(), 2);
    /// ```
    pub fn window(mut self, primaries: u64) -> Budget {
        let primaries = i64::try_from(primaries).unwrap_or(i64::MAX);
        self.cap = self.per_primary.saturating_mul(primaries).max(ONE);
        self
    }

    /// The ratio it was made with (rounded to a millionth).
    ///
    /// ```
    /// assert_eq!(staggered::hedge::Budget::new(0.1).ratio(), 0.1);
    /// ```
    pub fn ratio(&self) -> f64 {
        self.per_primary as f64 / ONE as f64
    }

    /// A primary request: adds `ratio` of an extra attempt to the balance, up to the cap.
    /// [`Hedge::call`](super::Hedge::call) calls it once per call.
    ///
    /// ```
    /// let budget = staggered::hedge::Budget::new(1.0);
    /// budget.deposit();
    /// assert_eq!(budget.balance(), 1.0);
    /// ```
    pub fn deposit(&self) {
        let (add, cap) = (self.per_primary, self.cap);
        let _ = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(b.saturating_add(add).min(cap))
            });
    }

    /// Takes one extra attempt from the balance: `true` if there was one (the hedge may
    /// go), `false` if the budget is spent. [`Hedge`](super::Hedge) calls it as a hedge
    /// is about to start.
    ///
    /// ```
    /// let budget = staggered::hedge::Budget::new(0.5);
    /// budget.deposit();
    /// assert!(!budget.try_withdraw()); // half an attempt is not one
    /// budget.deposit();
    /// assert!(budget.try_withdraw());
    /// ```
    pub fn try_withdraw(&self) -> bool {
        self.balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b >= ONE).then_some(b - ONE)
            })
            .is_ok()
    }

    /// The extra attempts the balance holds now (fractions included).
    ///
    /// ```
    /// let budget = staggered::hedge::Budget::new(0.25);
    /// budget.deposit();
    /// assert_eq!(budget.balance(), 0.25);
    /// ```
    pub fn balance(&self) -> f64 {
        self.balance.load(Ordering::Acquire) as f64 / ONE as f64
    }
}
