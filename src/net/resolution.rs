//! RFC 8305 §3 asynchronous resolution: the AAAA and A lookups run at once, addresses are
//! released as soon as a useful answer is in, and answers that arrive later join in their
//! interleaved place (§4).
//!
//! It comes in two halves that share a [`Queue`]:
//!
//! - [`Lookups`], a future that drives both lookups and the Resolution Delay, reports each
//!   answer as it arrives, and puts the addresses in the queue. It is polled on every poll of
//!   the connect ([`Alongside`]), so answers are taken (and reported) when they arrive, not
//!   when the race next wants an address.
//! - [`Addresses`], the [`Stream`] a race pulls its attempts from
//!   ([`Staggered::from_stream`](crate::Staggered::from_stream)). The race polls it only when
//!   a start is due; a due start with no address yet waits for the next answer.
//!
//! The rules (RFC 8305 §3, and the HEv3 draft's wording of them):
//!
//! - An AAAA answer with addresses releases the queue at once.
//! - An A answer with addresses, while the AAAA lookup is still out, starts the Resolution
//!   Delay (50 ms by default); the queue is released when AAAA answers or the delay passes,
//!   whichever is first.
//! - An answer that is empty or an error releases nothing; once both lookups are done the
//!   queue is released with what there is (and the stream ends, if there is nothing).
//! - Once released, addresses come out interleaved by family: `first_family_count` of the
//!   first family, then alternating. The first family is IPv6 unless the OS has no route to
//!   the first IPv6 address and there are IPv4 ones (RFC 6724 rules 1 and 6). When the
//!   family whose turn it is has nothing (yet), the other goes; addresses of a late answer
//!   take the next turns of their family.
//! - The stream ends when both lookups are done and every address has come out.
//!
//! Every answer is reported as [`ConnectEvent::Resolved`] when it arrives, and the
//! Resolution Delay as [`ConnectEvent::ResolutionDelayStarted`] and
//! [`ConnectEvent::ResolutionDelayPassed`]. The queue keeps how each lookup ended, for the
//! error that names both lookups when neither gave an address ([`Queue::failure`]).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::collections::VecDeque;
use std::format;
use std::io;
use std::net::SocketAddr;
use std::string::{String, ToString};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use futures_core::Stream;

use super::address_selection;
use super::event::{ConnectEvent, Log};
use super::resolve::Family;
use crate::Timer;

/// How one family's lookup ended, kept for the error when no address came.
enum Ended {
    Found(usize),
    Failed(io::ErrorKind, String),
}

/// What the two halves share: each family's addresses not yet handed out, how each lookup
/// ended, whether the addresses are released, whose turn it is, and the waker of a race
/// waiting for an address.
pub(crate) struct Queue {
    addrs: [VecDeque<SocketAddr>; 2],
    ended: [Option<Ended>; 2],
    released: bool,
    turn: Family,
    turns_left: usize,
    waker: Option<Waker>,
}

/// The queue for one resolution: IPv6's turn first, `first_family_count` (at least 1) of it.
pub(crate) fn queue(first_family_count: usize) -> Mutex<Queue> {
    let count = first_family_count.max(1);
    Mutex::new(Queue {
        addrs: [VecDeque::new(), VecDeque::new()],
        ended: [None, None],
        released: false,
        turn: Family::V6,
        turns_left: count,
        waker: None,
    })
}

/// The queue, locked. No code of the user's runs under the lock, so it is never poisoned by
/// a panic of theirs; it is taken as it is if it ever is.
fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

fn slot(family: Family) -> usize {
    match family {
        Family::V6 => 0,
        Family::V4 => 1,
    }
}

fn other(family: Family) -> Family {
    match family {
        Family::V6 => Family::V4,
        Family::V4 => Family::V6,
    }
}

impl Queue {
    fn done(&self) -> bool {
        self.ended.iter().all(Option::is_some)
    }

    fn take(&mut self, family: Family, answer: io::Result<Vec<SocketAddr>>) {
        self.ended[slot(family)] = Some(match answer {
            Ok(addrs) => {
                let found = addrs.len();
                self.addrs[slot(family)].extend(addrs);
                Ended::Found(found)
            }
            Err(error) => Ended::Failed(error.kind(), error.to_string()),
        });
    }

    fn release(&mut self) {
        self.released = true;
        if let (Some(first6), false) = (self.addrs[0].front(), self.addrs[1].is_empty()) {
            if !first6.ip().is_loopback() && address_selection::source_for(*first6).is_none() {
                // RFC 6724 rule 1 (avoid unusable destinations) before rule 6 (IPv6 first);
                // loopback is always usable, and asking costs a socket. One route lookup on
                // the executor's thread, once per connect: it sends nothing and waits on no
                // network (10 to 160 µs measured, `sort_cost_of_500_addresses`). After
                // `HickoryResolver`'s sort this address was asked already; the answer is not
                // kept, as a route can change in between and one lookup is cheap.
                self.turn = Family::V4;
            }
        }
    }

    /// The next address in interleaved order, once released.
    fn pop(&mut self) -> Option<SocketAddr> {
        if !self.released {
            return None;
        }
        let preferred = self.turn;
        let family = if !self.addrs[slot(preferred)].is_empty() {
            preferred
        } else if !self.addrs[slot(other(preferred))].is_empty() {
            other(preferred)
        } else {
            return None;
        };
        let addr = self.addrs[slot(family)].pop_front();
        if family == preferred {
            self.turns_left -= 1;
            if self.turns_left == 0 {
                self.turn = other(preferred);
                self.turns_left = 1;
            }
        } else {
            // The other family took this turn; the preferred one goes next.
            self.turn = preferred;
            self.turns_left = 1;
        }
        addr
    }

    /// When no lookup gave an address and at least one failed: one error naming both
    /// lookups, with the kind of the first failure. `None` otherwise (an address came, or
    /// the name has none).
    fn failure(&self) -> Option<io::Error> {
        let found = |ended: &Option<Ended>| matches!(ended, Some(Ended::Found(n)) if *n > 0);
        if self.ended.iter().any(found) {
            return None;
        }
        let kind = self.ended.iter().find_map(|ended| match ended {
            Some(Ended::Failed(kind, _)) => Some(*kind),
            _ => None,
        })?;
        Some(io::Error::new(kind, self.describe()))
    }

    /// When a lookup failed or had not answered (yet): one error naming both lookups, with
    /// the kind of the first failure ([`io::ErrorKind::TimedOut`] when none failed and one
    /// had not answered). `None` when both answered. For a connect that failed with
    /// addresses tried: the lookup that failed could have brought the address that works.
    fn trouble(&self) -> Option<io::Error> {
        let failed = self.ended.iter().find_map(|ended| match ended {
            Some(Ended::Failed(kind, _)) => Some(*kind),
            _ => None,
        });
        let kind = match failed {
            Some(kind) => kind,
            None if !self.done() => io::ErrorKind::TimedOut,
            None => return None,
        };
        Some(io::Error::new(kind, self.describe()))
    }

    /// How each lookup ended, AAAA first: `"IPv6 (AAAA) lookup found 1 address; IPv4 (A)
    /// lookup failed: ..."`.
    fn describe(&self) -> String {
        let parts: Vec<String> = [Family::V6, Family::V4]
            .into_iter()
            .map(|family| match &self.ended[slot(family)] {
                Some(Ended::Failed(_, why)) => format!("{family} lookup failed: {why}"),
                Some(Ended::Found(0)) => format!("{family} lookup found no addresses"),
                Some(Ended::Found(1)) => format!("{family} lookup found 1 address"),
                Some(Ended::Found(n)) => format!("{family} lookup found {n} addresses"),
                None => format!("{family} lookup had not answered"),
            })
            .collect();
        parts.join("; ")
    }
}

/// [`Queue::failure`] of a shared queue.
pub(crate) fn failure(queue: &Mutex<Queue>) -> Option<io::Error> {
    lock(queue).failure()
}

/// [`Queue::trouble`] of a shared queue.
pub(crate) fn trouble(queue: &Mutex<Queue>) -> Option<io::Error> {
    lock(queue).trouble()
}

pin_project_lite::pin_project! {
    /// Both lookups and the Resolution Delay, feeding a [`Queue`]. Made by [`lookups`];
    /// complete when both lookups are done.
    pub(crate) struct Lookups<'a, A, B, Tm: Timer> {
        #[pin]
        v6: Option<A>,
        #[pin]
        v4: Option<B>,
        // The Resolution Delay, once an A answer came first; `None` before and after.
        #[pin]
        delay: Option<Tm::Sleep>,
        timer: Tm,
        resolution_delay: Duration,
        queue: &'a Mutex<Queue>,
        log: &'a Log<'a>,
    }
}

/// The lookups of one resolution: `v6` (AAAA) and `v4` (A), with `resolution_delay` counted
/// on `timer` from an A answer that comes before the AAAA one. Answers go to `queue` and are
/// reported to `log`.
pub(crate) fn lookups<'a, A, B, Tm>(
    v6: A,
    v4: B,
    timer: Tm,
    resolution_delay: Duration,
    queue: &'a Mutex<Queue>,
    log: &'a Log<'a>,
) -> Lookups<'a, A, B, Tm>
where
    A: Future<Output = io::Result<Vec<SocketAddr>>>,
    B: Future<Output = io::Result<Vec<SocketAddr>>>,
    Tm: Timer,
{
    Lookups {
        v6: Some(v6),
        v4: Some(v4),
        delay: None,
        timer,
        resolution_delay,
        queue,
        log,
    }
}

fn report(log: &Log<'_>, family: Family, answer: &io::Result<Vec<SocketAddr>>) {
    log.report(ConnectEvent::Resolved {
        family,
        result: answer.as_ref().map(Vec::as_slice),
    });
}

impl<A, B, Tm> Future for Lookups<'_, A, B, Tm>
where
    A: Future<Output = io::Result<Vec<SocketAddr>>>,
    B: Future<Output = io::Result<Vec<SocketAddr>>>,
    Tm: Timer,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let mut v6_answer = None;
        let mut v4_answer = None;
        if let Some(lookup) = this.v6.as_mut().as_pin_mut() {
            if let Poll::Ready(answer) = lookup.poll(cx) {
                this.v6.set(None);
                this.delay.set(None); // AAAA is in: no more waiting for it
                report(this.log, Family::V6, &answer);
                v6_answer = Some(answer);
            }
        }
        if let Some(lookup) = this.v4.as_mut().as_pin_mut() {
            if let Poll::Ready(answer) = lookup.poll(cx) {
                this.v4.set(None);
                report(this.log, Family::V4, &answer);
                let found = matches!(&answer, Ok(addrs) if !addrs.is_empty());
                if found && this.v6.is_some() {
                    // A came first: wait up to the Resolution Delay for AAAA.
                    let delay = *this.resolution_delay;
                    this.delay.set(Some(this.timer.sleep(delay)));
                    this.log
                        .report(ConnectEvent::ResolutionDelayStarted { delay });
                }
                v4_answer = Some(answer);
            }
        }
        let mut passed = false;
        if let Some(sleep) = this.delay.as_mut().as_pin_mut() {
            if sleep.poll(cx).is_ready() {
                this.delay.set(None);
                passed = true;
                this.log.report(ConnectEvent::ResolutionDelayPassed {
                    delay: *this.resolution_delay,
                });
            }
        }
        let changed = passed || v6_answer.is_some() || v4_answer.is_some();
        let waker = changed.then(|| {
            let mut queue = lock(this.queue);
            if let Some(answer) = v6_answer {
                queue.take(Family::V6, answer);
            }
            if let Some(answer) = v4_answer {
                queue.take(Family::V4, answer);
            }
            let v6_done = queue.ended[0].is_some();
            let release = passed
                || !queue.addrs[0].is_empty() // AAAA gave addresses
                || queue.done()
                || (v6_done && !queue.addrs[1].is_empty()); // AAAA gave nothing: go with A
            if release && !queue.released {
                queue.release();
            }
            queue.waker.take()
        });
        if let Some(waker) = waker.flatten() {
            waker.wake();
        }
        if this.v6.is_none() && this.v4.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

pin_project_lite::pin_project! {
    /// The released addresses of a [`Queue`], each made into `F`'s item, in interleaved
    /// order: the source of a race. Made by [`addresses`].
    pub(crate) struct Addresses<'a, F> {
        queue: &'a Mutex<Queue>,
        make: F,
    }
}

/// The stream of `queue`'s addresses, each passed through `make` as it is taken.
pub(crate) fn addresses<F>(queue: &Mutex<Queue>, make: F) -> Addresses<'_, F> {
    Addresses { queue, make }
}

impl<T, F: FnMut(SocketAddr) -> T> Stream for Addresses<'_, F> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.project();
        let mut queue = lock(this.queue);
        if let Some(addr) = queue.pop() {
            drop(queue);
            return Poll::Ready(Some((this.make)(addr)));
        }
        if queue.done() {
            return Poll::Ready(None);
        }
        match &queue.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => queue.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

pin_project_lite::pin_project! {
    /// `main`, with `driver` polled beside it (first, on every poll) until it completes.
    pub(crate) struct Alongside<D, M> {
        #[pin]
        driver: Option<D>,
        #[pin]
        main: M,
    }
}

/// Runs `driver` beside `main`, to `main`'s end: the lookups beside the race.
pub(crate) fn alongside<D: Future<Output = ()>, M: Future>(driver: D, main: M) -> Alongside<D, M> {
    Alongside {
        driver: Some(driver),
        main,
    }
}

impl<D: Future<Output = ()>, M: Future> Future for Alongside<D, M> {
    type Output = M::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<M::Output> {
        let mut this = self.project();
        if let Some(driver) = this.driver.as_mut().as_pin_mut() {
            if driver.poll(cx).is_ready() {
                this.driver.set(None);
            }
        }
        this.main.poll(cx)
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::ManualClock;
    use std::sync::Arc;
    use std::vec;

    /// The Resolution Delay of the tests: RFC 8305's 50 ms.
    const DELAY: Duration = Duration::from_millis(50);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A lookup that answers `answer` after `after` ms.
    fn lookup(
        clock: &ManualClock,
        after: u64,
        answer: Result<&[&str], &str>,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> {
        let clock = clock.clone();
        let answer = answer
            .map(|addrs| addrs.iter().map(|a| a.parse().unwrap()).collect::<Vec<_>>())
            .map_err(|e| io::Error::other(String::from(e)));
        async move {
            clock.sleep(ms(after)).await;
            answer
        }
    }

    /// Lines with the virtual time (ms) each happened at.
    type Timeline = Vec<(u64, String)>;

    /// An observer that writes the resolution's events to a timeline.
    fn recorder(
        clock: &ManualClock,
    ) -> (
        Arc<Mutex<Timeline>>,
        impl Fn(&ConnectEvent<'_>) + Send + Sync,
    ) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, clock) = (seen.clone(), clock.clone());
        let observer = move |event: &ConnectEvent<'_>| {
            let line = match event {
                ConnectEvent::Resolved {
                    family,
                    result: Ok(addrs),
                } => format!("{family}: {}", addrs.len()),
                ConnectEvent::Resolved {
                    family,
                    result: Err(e),
                } => format!("{family}: {e}"),
                ConnectEvent::ResolutionDelayStarted { delay } => format!("wait {delay:?}"),
                ConnectEvent::ResolutionDelayPassed { delay } => format!("waited {delay:?}"),
                _ => return,
            };
            log.lock()
                .unwrap()
                .push((clock.now().as_millis() as u64, line));
        };
        (seen, observer)
    }

    /// Every address with the virtual time it came out at (pulled as soon as it is out), the
    /// events, and the error `Queue::failure` gives.
    fn collect(
        v6: (u64, Result<&[&str], &str>),
        v4: (u64, Result<&[&str], &str>),
        count: usize,
    ) -> (Timeline, Timeline, Option<String>) {
        let clock = ManualClock::new();
        let (seen, observer) = recorder(&clock);
        let log = Log::new(Some(&observer));
        let queue = queue(count);
        let lookups = lookups(
            lookup(&clock, v6.0, v6.1),
            lookup(&clock, v4.0, v4.1),
            clock.clone(),
            DELAY,
            &queue,
            &log,
        );
        let mut stream = addresses(&queue, |addr| addr);
        let c = clock.clone();
        let pull = async move {
            let mut out = Vec::new();
            while let Some(addr) =
                core::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await
            {
                out.push((c.now().as_millis() as u64, addr.to_string()));
            }
            out
        };
        let out = clock.block_on(alongside(lookups, pull));
        let failure = failure(&queue).map(|e| e.to_string());
        let seen = seen.lock().unwrap().clone();
        (out, seen, failure)
    }

    fn at(list: &[(u64, &str)]) -> Timeline {
        list.iter().map(|(t, s)| (*t, String::from(*s))).collect()
    }

    const V6: &[&str] = &["[::1]:443", "[::2]:443"];
    const V4: &[&str] = &["127.0.0.1:443", "127.0.0.2:443"];

    #[test]
    fn aaaa_first_goes_at_once_and_a_joins_when_it_answers() {
        let (out, seen, _) = collect((10, Ok(V6)), (30, Ok(V4)), 1);
        assert_eq!(
            out,
            at(&[
                (10, "[::1]:443"),
                (10, "[::2]:443"), // nothing else yet: the other family's turn passes
                (30, "127.0.0.1:443"),
                (30, "127.0.0.2:443"),
            ])
        );
        assert_eq!(seen, at(&[(10, "IPv6 (AAAA): 2"), (30, "IPv4 (A): 2")]));
    }

    #[test]
    fn a_first_waits_the_resolution_delay_for_aaaa_that_comes_within_it() {
        let (out, seen, _) = collect((40, Ok(V6)), (10, Ok(V4)), 1);
        // AAAA at 40 ms, within 10 + 50: released then, IPv6 first.
        assert_eq!(
            out,
            at(&[
                (40, "[::1]:443"),
                (40, "127.0.0.1:443"),
                (40, "[::2]:443"),
                (40, "127.0.0.2:443"),
            ])
        );
        assert_eq!(
            seen,
            at(&[
                (10, "IPv4 (A): 2"),
                (10, "wait 50ms"),
                (40, "IPv6 (AAAA): 2")
            ])
        );
    }

    #[test]
    fn a_first_goes_after_the_resolution_delay_and_late_aaaa_joins_in_turn() {
        // The delay counts from the A answer: it passes at 60 ms.
        let (out, seen, _) = collect((200, Ok(V6)), (10, Ok(V4)), 1);
        assert_eq!(
            out,
            at(&[
                (60, "127.0.0.1:443"),
                (60, "127.0.0.2:443"),
                (200, "[::1]:443"),
                (200, "[::2]:443"),
            ])
        );
        assert_eq!(
            seen,
            at(&[
                (10, "IPv4 (A): 2"),
                (10, "wait 50ms"),
                (60, "waited 50ms"),
                (200, "IPv6 (AAAA): 2")
            ])
        );
    }

    #[test]
    fn an_empty_aaaa_within_the_resolution_delay_releases_a_at_once() {
        let (out, seen, failure) = collect((30, Ok(&[])), (10, Ok(V4)), 1);
        assert_eq!(out, at(&[(30, "127.0.0.1:443"), (30, "127.0.0.2:443")]));
        assert_eq!(
            seen,
            at(&[
                (10, "IPv4 (A): 2"),
                (10, "wait 50ms"),
                (30, "IPv6 (AAAA): 0")
            ])
        );
        assert_eq!(failure, None);
    }

    #[test]
    fn a_failed_family_releases_the_other() {
        let (out, seen, failure) = collect((5, Err("SERVFAIL")), (20, Ok(V4)), 1);
        assert_eq!(out, at(&[(20, "127.0.0.1:443"), (20, "127.0.0.2:443")]));
        assert_eq!(
            seen,
            at(&[(5, "IPv6 (AAAA): SERVFAIL"), (20, "IPv4 (A): 2")])
        );
        assert_eq!(failure, None);
        let (out, _, _) = collect((5, Ok(V6)), (1, Err("NXDOMAIN")), 1);
        assert_eq!(out, at(&[(5, "[::1]:443"), (5, "[::2]:443")]));
    }

    #[test]
    fn both_failing_ends_with_nothing_and_one_error_names_both() {
        let (out, seen, failure) = collect((5, Err("SERVFAIL")), (7, Err("NXDOMAIN")), 1);
        assert!(out.is_empty());
        assert_eq!(
            seen,
            at(&[(5, "IPv6 (AAAA): SERVFAIL"), (7, "IPv4 (A): NXDOMAIN")])
        );
        assert_eq!(
            failure.as_deref(),
            Some("IPv6 (AAAA) lookup failed: SERVFAIL; IPv4 (A) lookup failed: NXDOMAIN")
        );
        let (out, _, failure) = collect((5, Err("SERVFAIL")), (7, Ok(&[])), 1);
        assert!(out.is_empty());
        assert_eq!(
            failure.as_deref(),
            Some("IPv6 (AAAA) lookup failed: SERVFAIL; IPv4 (A) lookup found no addresses")
        );
        // No address and no failure: the name has no address; that is not a lookup error.
        let (out, _, failure) = collect((5, Ok(&[])), (7, Ok(&[])), 1);
        assert!(out.is_empty());
        assert_eq!(failure, None);
    }

    #[test]
    fn first_family_count_takes_that_many_ipv6_turns_first() {
        let v6: &[&str] = &["[::1]:1", "[::2]:1", "[::3]:1"];
        let (out, _, _) = collect((1, Ok(v6)), (1, Ok(V4)), 2);
        let order: Vec<_> = out.into_iter().map(|(_, a)| a).collect();
        assert_eq!(
            order,
            vec![
                "[::1]:1",
                "[::2]:1",
                "127.0.0.1:443",
                "[::3]:1",
                "127.0.0.2:443"
            ]
        );
    }

    /// The address an attempt connected to, and when it did.
    type Connected = (SocketAddr, Duration);

    /// A race over the stream of `v6` and `v4` (answered after their ms), with a 250 ms
    /// attempt delay, where the attempt to `winner` connects at once and every other one
    /// hangs: the winner's index, address and start time, and the answers as reported.
    fn race_over(
        v6: (u64, &[&str]),
        v4: (u64, &[&str]),
        winner: &str,
    ) -> (Option<(usize, Connected)>, Timeline) {
        let clock = ManualClock::new();
        let (seen, observer) = recorder(&clock);
        let log = Log::new(Some(&observer));
        let queue = queue(1);
        let lookups = lookups(
            lookup(&clock, v6.0, Ok(v6.1)),
            lookup(&clock, v4.0, Ok(v4.1)),
            clock.clone(),
            DELAY,
            &queue,
            &log,
        );
        let c = clock.clone();
        let winner: SocketAddr = winner.parse().unwrap();
        let attempts = addresses(&queue, move |addr: SocketAddr| {
            let c = c.clone();
            move || async move {
                if addr == winner {
                    Ok::<_, ()>((addr, c.now()))
                } else {
                    core::future::pending().await
                }
            }
        });
        let race = crate::Staggered::from_stream(attempts)
            .delay(ms(250))
            .race(clock.clone());
        let outcome = clock.block_on(alongside(lookups, race));
        let seen = seen.lock().unwrap().clone();
        (outcome.winner, seen)
    }

    #[test]
    fn the_race_starts_on_the_first_answer_and_late_answers_join_it() {
        // The first connect attempt starts with the AAAA answer at 10 ms, the A addresses
        // join at 300 ms, and the third address wins.
        let (winner, seen) = race_over((10, &["[::1]:443"]), (300, V4), "127.0.0.2:443");
        let (index, (addr, when)) = winner.unwrap();
        assert_eq!(
            (index, addr.to_string()),
            (2, String::from("127.0.0.2:443"))
        );
        // 0: AAAA at 10 ms; 1: due at 260 ms but A answers at 300, so it starts then; 2: 550.
        assert_eq!(when, ms(550));
        // The A answer is reported when it arrives, not when the race next takes an address.
        assert_eq!(seen, at(&[(10, "IPv6 (AAAA): 1"), (300, "IPv4 (A): 2")]));
    }

    #[test]
    fn answers_are_reported_when_they_arrive_while_the_race_is_not_asking() {
        // AAAA at 10 ms starts attempt 0 (it hangs); A answers at 100 ms, while no start is
        // due (the next is at 260 ms): the answer is still taken and reported at 100 ms.
        let (winner, seen) = race_over(
            (10, &["[::1]:443"]),
            (100, &["127.0.0.1:443"]),
            "127.0.0.1:443",
        );
        let (index, (_, when)) = winner.unwrap();
        assert_eq!((index, when), (1, ms(260)));
        assert_eq!(seen, at(&[(10, "IPv6 (AAAA): 1"), (100, "IPv4 (A): 1")]));
    }
}

// Not under miri: the module has no `unsafe` to check, and the properties' thousand cases,
// with threads that wake lookups, would take miri hours. The unit tests above run there.
#[cfg(all(test, feature = "testing", not(miri)))]
#[path = "resolution_props.rs"]
mod props;
