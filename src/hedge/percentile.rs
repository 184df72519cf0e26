//! [`Percentile`]: a hedge delay from recent successful latencies.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Shards recording goes to, one per thread (threads take them in turn): threads on
/// different shards never wait for each other.
const SHARDS: usize = 4;
/// The largest latency kept, in microseconds (an hour); longer ones count as an hour.
const MAX_MICROS: u64 = 3_600_000_000;
/// Two significant figures: a quantile within 1% of the exact one.
const SIGFIGS: u8 = 2;

fn histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, MAX_MICROS, SIGFIGS).expect("valid histogram bounds")
}

/// A lock that a panic elsewhere cannot poison for us: the histograms are valid after any
/// panic (a record is one counter).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::thread_local! {
        static SHARD: Cell<usize> = Cell::new(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
    }
    SHARD.with(Cell::get)
}

/// A shard on a cache line of its own.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

struct Shard {
    current: Histogram<u32>,
    previous: Histogram<u32>,
}

struct Shared {
    shards: [Padded; SHARDS],
    /// Latencies recorded since the start.
    records: AtomicU64,
    /// The quantile at the last refresh, in microseconds.
    cached: AtomicU64,
    /// Where a refresh merges the shards.
    scratch: Mutex<Histogram<u32>>,
}

/// A hedge delay that follows recent successful latencies: a quantile (0.95: the 95th
/// percentile) over a rotating window, as tower's `hedge` does, with a fallback until
/// `min_samples` latencies are in and a clamp to `[min, max]`.
///
/// [`Hedge`](super::Hedge) records the winner's latency of each call in the `Percentile` it
/// hedges with; [`record`](Self::record) is public for latencies measured elsewhere. Clones
/// share the data (set the options before cloning).
///
/// - **Window**: counted in latencies, not in time (nothing here reads a clock): the
///   quantile is over the latest `window` to `2 × window` latencies (a current half and the
///   previous one; every `window` records the previous is dropped). Default 1,000.
/// - **Accuracy**: an [`hdrhistogram`] with two significant figures in microseconds: the
///   quantile is rounded down to the histogram's precision, within 1% of the exact quantile
///   of the same latencies (the tests check it against a sort).
/// - **Cost**: a record locks one of 4 shards (threads take them in turn, so threads on
///   different shards never contend) and adds one counter; every `window / 4` records, one
///   recorder merges the shards and stores the quantile in an atomic, which
///   [`delay`](Self::delay) reads without a lock. The quantile lags by at most `window / 4`
///   records (while fewer than `2 × window` are in, by at most an eighth of them).
///   Measured by the `hedge` bench (`cargo bench --bench hedge`, its `record` lines: `n`
///   threads recording 2,000,000 latencies each into one `Percentile` at once; wall time ×
///   threads / records), in two runs on a 2-core machine shared with other builds (so
///   noisy): 40 to 75 ns per record on 1 thread, 87 to 146 ns on 2, 157 to 326 ns on 4,
///   321 to 421 ns on 8. tower's way, one `Mutex<Histogram>` and no refresh, measured 23
///   to 31, 35 to 76, 72 to 85 and 254 to 302 ns in the same runs: on 2 cores the shards do
///   not pay for the shared record counter and the merges (on more cores they keep threads
///   apart; not measured here).
///
/// ```
/// use std::time::Duration;
/// use staggered::hedge::Percentile;
///
/// let ms = Duration::from_millis;
/// let p95 = Percentile::new(0.95).min_samples(10).fallback(ms(50)).clamp(ms(1), ms(500));
/// assert_eq!(p95.delay(), ms(50)); // no data yet: the fallback
/// for n in 0..1000 {
///     p95.record(ms(n % 100 + 1)); // 1 to 100 ms, evenly
/// }
/// let delay = p95.delay();
/// assert!(delay >= ms(94) && delay <= ms(96), "{delay:?}");
/// ```
#[derive(Clone)]
pub struct Percentile {
    quantile: f64,
    window: u64,
    min_samples: u64,
    fallback: Duration,
    min: Duration,
    max: Duration,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Percentile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Percentile")
            .field("quantile", &self.quantile)
            .field("window", &self.window)
            .field("min_samples", &self.min_samples)
            .field("fallback", &self.fallback)
            .field("min", &self.min)
            .field("max", &self.max)
            .field("records", &self.records())
            .field("delay", &self.delay())
            .finish()
    }
}

impl Percentile {
    /// The `quantile` (between 0 and 1: 0.95 is the 95th percentile) of recent latencies.
    /// Defaults: a window of 1,000, 100 samples before it hedges on data, a fallback of 10 ms
    /// until then, clamped to `[1 ms, 10 s]`.
    ///
    /// # Panics
    ///
    /// If `quantile` is not between 0 and 1.
    ///
    /// ```
    /// let p99 = staggered::hedge::Percentile::new(0.99);
    /// assert_eq!(p99.quantile(), 0.99);
    /// ```
    #[track_caller]
    pub fn new(quantile: f64) -> Percentile {
        assert!(
            (0.0..=1.0).contains(&quantile),
            "staggered: a quantile is between 0 and 1, not {quantile}"
        );
        let shard = || {
            Padded(Mutex::new(Shard {
                current: histogram(),
                previous: histogram(),
            }))
        };
        Percentile {
            quantile,
            window: 1000,
            min_samples: 100,
            fallback: Duration::from_millis(10),
            min: Duration::from_millis(1),
            max: Duration::from_secs(10),
            shared: Arc::new(Shared {
                shards: [shard(), shard(), shard(), shard()],
                records: AtomicU64::new(0),
                cached: AtomicU64::new(0),
                scratch: Mutex::new(histogram()),
            }),
        }
    }

    /// The quantile is over the latest `window` to `2 × window` latencies (at least 4).
    ///
    /// ```
    /// let p = staggered::hedge::Percentile::new(0.9).window(200);
    /// # let _ = p;
    /// ```
    pub fn window(mut self, window: u64) -> Percentile {
        self.window = window.max(4);
        self
    }

    /// How many latencies must be recorded before the delay follows them; until then it is
    /// the [`fallback`](Self::fallback).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = staggered::hedge::Percentile::new(0.5).min_samples(2).fallback(Duration::from_secs(1));
    /// p.record(Duration::from_millis(4));
    /// assert_eq!(p.delay(), Duration::from_secs(1));
    /// p.record(Duration::from_millis(4));
    /// assert_eq!(p.delay(), Duration::from_millis(4));
    /// ```
    pub fn min_samples(mut self, samples: u64) -> Percentile {
        self.min_samples = samples;
        self
    }

    /// The delay until [`min_samples`](Self::min_samples) latencies are in (not clamped).
    ///
    /// An example is on [`min_samples`](Self::min_samples).
    pub fn fallback(mut self, delay: Duration) -> Percentile {
        self.fallback = delay;
        self
    }

    /// The delay from data is at least `min` and at most `max`.
    ///
    /// # Panics
    ///
    /// If `min > max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ms = Duration::from_millis;
    /// let p = staggered::hedge::Percentile::new(0.5).min_samples(1).clamp(ms(5), ms(50));
    /// p.record(ms(1));
    /// assert_eq!(p.delay(), ms(5));
    /// ```
    #[track_caller]
    pub fn clamp(mut self, min: Duration, max: Duration) -> Percentile {
        assert!(min <= max, "staggered: Percentile::clamp with min > max");
        self.min = min;
        self.max = max;
        self
    }

    /// The quantile it tracks.
    ///
    /// An example is on [`new`](Self::new).
    pub fn quantile(&self) -> f64 {
        self.quantile
    }

    /// Latencies recorded since it was made (by every clone).
    ///
    /// ```
    /// let p = staggered::hedge::Percentile::new(0.5);
    /// p.record(std::time::Duration::from_millis(1));
    /// assert_eq!(p.records(), 1);
    /// ```
    pub fn records(&self) -> u64 {
        self.shared.records.load(Ordering::Acquire)
    }

    /// Records one successful latency. Safe and cheap from any number of threads (see the
    /// type's docs for its cost).
    ///
    /// An example is on the [type](Self).
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_MICROS)
            .clamp(1, MAX_MICROS);
        let shared = &*self.shared;
        lock(&shared.shards[shard_index()].0)
            .current
            .saturating_record(micros);
        let n = shared.records.fetch_add(1, Ordering::AcqRel) + 1;
        if n % self.window == 0 {
            for shard in &shared.shards {
                let mut shard = lock(&shard.0);
                let shard = &mut *shard;
                std::mem::swap(&mut shard.current, &mut shard.previous);
                shard.current.reset();
            }
        }
        // Every `window / 4` records, and more often while there are few: every `n / 8`.
        let every = (self.window / 4).min(n / 8).max(1);
        if n == self.min_samples {
            self.refresh(true); // the first figure the delay will use: never skipped
        } else if n % every == 0 {
            self.refresh(false);
        }
    }

    /// Merges the shards into the scratch histogram (under its lock), or `None` if another
    /// thread is doing it and `wait` is false.
    fn merged<R>(&self, wait: bool, read: impl FnOnce(&Histogram<u32>) -> R) -> Option<R> {
        let shared = &*self.shared;
        let mut scratch = if wait {
            lock(&shared.scratch)
        } else {
            match shared.scratch.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return None,
            }
        };
        scratch.reset();
        for shard in &shared.shards {
            let shard = lock(&shard.0);
            // Same bounds and precision everywhere: adding cannot fail.
            let _ = scratch.add(&shard.previous);
            let _ = scratch.add(&shard.current);
        }
        Some(read(&scratch))
    }

    /// Stores the quantile for [`delay`](Self::delay); skipped if another thread is at it and
    /// `wait` is false.
    fn refresh(&self, wait: bool) {
        let quantile = self.quantile;
        if let Some(Some(micros)) = self.merged(wait, |h| {
            (!h.is_empty()).then(|| h.lowest_equivalent(h.value_at_quantile(quantile)))
        }) {
            self.shared.cached.store(micros, Ordering::Release);
        }
    }

    /// The quantile of the window now, computed afresh (it merges the shards: not for every
    /// request), not clamped; `None` before any record.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = staggered::hedge::Percentile::new(1.0);
    /// assert_eq!(p.current(), None);
    /// p.record(Duration::from_millis(8));
    /// assert_eq!(p.current(), Some(Duration::from_millis(8)));
    /// ```
    pub fn current(&self) -> Option<Duration> {
        let quantile = self.quantile;
        self.merged(true, |h| {
            (!h.is_empty())
                .then(|| Duration::from_micros(h.lowest_equivalent(h.value_at_quantile(quantile))))
        })
        .flatten()
    }

    /// The hedge delay now: the quantile as of the last refresh, clamped, or the fallback
    /// before `min_samples` latencies. One atomic load.
    ///
    /// An example is on the [type](Self).
    pub fn delay(&self) -> Duration {
        if self.records() < self.min_samples.max(1) {
            return self.fallback;
        }
        let micros = self.shared.cached.load(Ordering::Acquire);
        Duration::from_micros(micros).clamp(self.min, self.max)
    }
}
