//! RFC 8305 §3 asynchronous resolution as a [`Stream`] of addresses: the AAAA and A lookups
//! run at once, addresses come out as soon as a useful answer is in, and answers that arrive
//! later join in their interleaved place (§4). It is the source a race over a host's
//! addresses pulls from ([`Staggered::from_stream`](crate::Staggered::from_stream)), so that
//! the race starts on the first answer.
//!
//! The rules (RFC 8305 §3, and the HEv3 draft's wording of them):
//!
//! - An AAAA answer with addresses releases the stream at once.
//! - An A answer with addresses, while the AAAA lookup is still out, starts the Resolution
//!   Delay (50 ms by default); the stream is released when AAAA answers or the delay passes,
//!   whichever is first.
//! - An answer that is empty or an error releases nothing; once both lookups are done the
//!   stream is released with what there is (or ends, if there is nothing).
//! - Once released, addresses come out interleaved by family, IPv6 first: `first_family_count`
//!   IPv6 addresses, then alternating. When the family whose turn it is has nothing (yet), the
//!   other goes; addresses of a late answer take the next turns of their family.
//! - The stream ends when both lookups are done and every address has come out.
//!
//! Each answer is handed to `on_answer` as it arrives, for events and for the error that names
//! both lookups when neither gave an address.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::vec::Vec;

use futures_core::Stream;

use super::resolve::Family;
use crate::Timer;

/// The Resolution Delay of RFC 8305 §3: how long an A answer waits for the AAAA answer.
#[allow(dead_code)] // wired into `connect_host` next (issue 12)
pub(crate) const RESOLUTION_DELAY: Duration = Duration::from_millis(50);

pin_project_lite::pin_project! {
    /// The addresses of both lookups, as RFC 8305 §3 releases them. Made by [`resolution`].
    pub(crate) struct Resolution<A, B, Tm: Timer, F> {
        #[pin]
        v6: Option<A>,
        #[pin]
        v4: Option<B>,
        // The Resolution Delay, once an A answer came first; `None` before and after.
        #[pin]
        delay: Option<Tm::Sleep>,
        timer: Tm,
        resolution_delay: Duration,
        released: bool,
        queues: [VecDeque<SocketAddr>; 2],
        // The family whose turn is next, and how many more turns it has.
        turn: Family,
        turns_left: usize,
        on_answer: F,
    }
}

/// The resolution stream over the two lookup futures; `resolution_delay` is counted on
/// `timer` from the moment an A answer comes before the AAAA one.
#[allow(dead_code)] // wired into `connect_host` next (issue 12)
pub(crate) fn resolution<A, B, Tm, F>(
    v6: A,
    v4: B,
    timer: Tm,
    resolution_delay: Duration,
    first_family_count: usize,
    on_answer: F,
) -> Resolution<A, B, Tm, F>
where
    A: Future<Output = io::Result<Vec<SocketAddr>>>,
    B: Future<Output = io::Result<Vec<SocketAddr>>>,
    Tm: Timer,
    F: FnMut(Family, &io::Result<Vec<SocketAddr>>),
{
    Resolution {
        v6: Some(v6),
        v4: Some(v4),
        delay: None,
        timer,
        resolution_delay,
        released: false,
        queues: [VecDeque::new(), VecDeque::new()],
        turn: Family::V6,
        turns_left: first_family_count.max(1),
        on_answer,
    }
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

impl<A, B, Tm, F> Stream for Resolution<A, B, Tm, F>
where
    A: Future<Output = io::Result<Vec<SocketAddr>>>,
    B: Future<Output = io::Result<Vec<SocketAddr>>>,
    Tm: Timer,
    F: FnMut(Family, &io::Result<Vec<SocketAddr>>),
{
    type Item = SocketAddr;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SocketAddr>> {
        let mut this = self.project();
        // Take in whatever has answered.
        if let Some(lookup) = this.v6.as_mut().as_pin_mut() {
            if let Poll::Ready(answer) = lookup.poll(cx) {
                (this.on_answer)(Family::V6, &answer);
                this.v6.set(None);
                if let Ok(addrs) = answer {
                    *this.released |= !addrs.is_empty();
                    this.queues[0].extend(addrs);
                }
                this.delay.set(None); // AAAA is in: no more waiting for it
            }
        }
        if let Some(lookup) = this.v4.as_mut().as_pin_mut() {
            if let Poll::Ready(answer) = lookup.poll(cx) {
                (this.on_answer)(Family::V4, &answer);
                this.v4.set(None);
                if let Ok(addrs) = answer {
                    if !addrs.is_empty() && this.v6.is_some() && !*this.released {
                        // A came first: wait up to the Resolution Delay for AAAA.
                        this.delay
                            .set(Some(this.timer.sleep(*this.resolution_delay)));
                    }
                    this.queues[1].extend(addrs);
                }
            }
        }
        let v6_done = this.v6.is_none();
        let v4_done = this.v4.is_none();
        if !*this.released {
            if v6_done && v4_done {
                *this.released = true;
            } else if let Some(sleep) = this.delay.as_mut().as_pin_mut() {
                if sleep.poll(cx).is_ready() {
                    this.delay.set(None);
                    *this.released = true;
                }
            } else if v6_done && !this.queues[1].is_empty() {
                *this.released = true; // AAAA gave nothing: go with A
            }
        }
        if !*this.released {
            return Poll::Pending;
        }
        // Interleave: the family whose turn it is, else the other.
        let preferred = *this.turn;
        let family = if !this.queues[slot(preferred)].is_empty() {
            preferred
        } else if !this.queues[slot(other(preferred))].is_empty() {
            other(preferred)
        } else if v6_done && v4_done {
            return Poll::Ready(None);
        } else {
            return Poll::Pending; // a lookup is still out: its answer wakes us
        };
        let addr = this.queues[slot(family)].pop_front();
        if family == preferred {
            *this.turns_left -= 1;
            if *this.turns_left == 0 {
                *this.turn = other(preferred);
                *this.turns_left = 1;
            }
        } else {
            // The other family took this turn; the preferred one goes next.
            *this.turn = preferred;
            *this.turns_left = 1;
        }
        Poll::Ready(addr)
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::ManualClock;
    use futures_core::Stream;
    use std::string::{String, ToString};
    use std::sync::{Arc, Mutex};
    use std::vec;

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

    /// Every address with the virtual time it came out at, and the answers seen.
    fn collect(
        clock: &ManualClock,
        v6: (u64, Result<&[&str], &str>),
        v4: (u64, Result<&[&str], &str>),
        count: usize,
    ) -> (Timeline, Timeline) {
        let answers = Arc::new(Mutex::new(Vec::new()));
        let log = answers.clone();
        let c = clock.clone();
        let stream = resolution(
            lookup(clock, v6.0, v6.1),
            lookup(clock, v4.0, v4.1),
            clock.clone(),
            RESOLUTION_DELAY,
            count,
            move |family, answer: &io::Result<Vec<SocketAddr>>| {
                let what = match answer {
                    Ok(addrs) => std::format!("{family}: {}", addrs.len()),
                    Err(e) => std::format!("{family}: {e}"),
                };
                log.lock().unwrap().push((c.now().as_millis() as u64, what));
            },
        );
        let c = clock.clone();
        let out = clock.block_on(async move {
            let mut stream = core::pin::pin!(stream);
            let mut out = Vec::new();
            while let Some(addr) = core::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                out.push((c.now().as_millis() as u64, addr.to_string()));
            }
            out
        });
        let answers = answers.lock().unwrap().clone();
        (out, answers)
    }

    fn at(list: &[(u64, &str)]) -> Vec<(u64, String)> {
        list.iter().map(|(t, s)| (*t, String::from(*s))).collect()
    }

    const V6: &[&str] = &["[2001:db8::1]:443", "[2001:db8::2]:443"];
    const V4: &[&str] = &["192.0.2.1:443", "192.0.2.2:443"];

    #[test]
    fn aaaa_first_goes_at_once_and_a_joins_when_it_answers() {
        let clock = ManualClock::new();
        let (out, _) = collect(&clock, (10, Ok(V6)), (30, Ok(V4)), 1);
        assert_eq!(
            out,
            at(&[
                (10, "[2001:db8::1]:443"),
                (10, "[2001:db8::2]:443"), // nothing else yet: the other family's turn passes
                (30, "192.0.2.1:443"),
                (30, "192.0.2.2:443"),
            ])
        );
    }

    #[test]
    fn a_first_waits_the_resolution_delay_for_aaaa_that_comes_within_it() {
        let clock = ManualClock::new();
        let (out, _) = collect(&clock, (40, Ok(V6)), (10, Ok(V4)), 1);
        // AAAA at 40 ms, within 10 + 50: released then, IPv6 first.
        assert_eq!(
            out,
            at(&[
                (40, "[2001:db8::1]:443"),
                (40, "192.0.2.1:443"),
                (40, "[2001:db8::2]:443"),
                (40, "192.0.2.2:443"),
            ])
        );
    }

    #[test]
    fn a_first_goes_after_the_resolution_delay_and_late_aaaa_joins_in_turn() {
        let clock = ManualClock::new();
        // The delay counts from the A answer: it passes at 60 ms.
        let (out, answers) = collect(&clock, (200, Ok(V6)), (10, Ok(V4)), 1);
        assert_eq!(
            out,
            at(&[
                (60, "192.0.2.1:443"),
                (60, "192.0.2.2:443"),
                (200, "[2001:db8::1]:443"),
                (200, "[2001:db8::2]:443"),
            ])
        );
        assert_eq!(answers, at(&[(10, "IPv4 (A): 2"), (200, "IPv6 (AAAA): 2")]));
    }

    #[test]
    fn an_empty_aaaa_within_the_resolution_delay_releases_a_at_once() {
        let clock = ManualClock::new();
        let (out, _) = collect(&clock, (30, Ok(&[])), (10, Ok(V4)), 1);
        assert_eq!(out, at(&[(30, "192.0.2.1:443"), (30, "192.0.2.2:443")]));
    }

    #[test]
    fn a_failed_family_releases_the_other() {
        let clock = ManualClock::new();
        let (out, answers) = collect(&clock, (5, Err("SERVFAIL")), (20, Ok(V4)), 1);
        assert_eq!(out, at(&[(20, "192.0.2.1:443"), (20, "192.0.2.2:443")]));
        assert_eq!(
            answers,
            at(&[(5, "IPv6 (AAAA): SERVFAIL"), (20, "IPv4 (A): 2")])
        );
        let (out, _) = collect(&ManualClock::new(), (5, Ok(V6)), (1, Err("NXDOMAIN")), 1);
        assert_eq!(
            out,
            at(&[(5, "[2001:db8::1]:443"), (5, "[2001:db8::2]:443")])
        );
    }

    #[test]
    fn both_failing_ends_with_nothing_and_reports_both() {
        let clock = ManualClock::new();
        let (out, answers) = collect(&clock, (5, Err("SERVFAIL")), (7, Ok(&[])), 1);
        assert!(out.is_empty());
        assert_eq!(
            answers,
            at(&[(5, "IPv6 (AAAA): SERVFAIL"), (7, "IPv4 (A): 0")])
        );
    }

    #[test]
    fn first_family_count_takes_that_many_ipv6_turns_first() {
        let clock = ManualClock::new();
        let v6: &[&str] = &["[2001:db8::1]:1", "[2001:db8::2]:1", "[2001:db8::3]:1"];
        let (out, _) = collect(&clock, (1, Ok(v6)), (1, Ok(V4)), 2);
        let order: Vec<_> = out.into_iter().map(|(_, a)| a).collect();
        assert_eq!(
            order,
            vec![
                "[2001:db8::1]:1",
                "[2001:db8::2]:1",
                "192.0.2.1:443",
                "[2001:db8::3]:1",
                "192.0.2.2:443"
            ]
        );
    }

    #[test]
    fn the_race_starts_on_the_first_answer() {
        // The stream as a race's source: the first connect attempt starts with the AAAA
        // answer at 10 ms, the A addresses join at 300 ms, and the third address wins.
        let clock = ManualClock::new();
        let stream = resolution(
            lookup(&clock, 10, Ok(&["[2001:db8::1]:443"])),
            lookup(&clock, 300, Ok(V4)),
            clock.clone(),
            RESOLUTION_DELAY,
            1,
            |_, _: &io::Result<Vec<SocketAddr>>| {},
        );
        let c = clock.clone();
        let attempts = futures_util_map(stream, move |addr: SocketAddr| {
            let c = c.clone();
            move || async move {
                if addr.to_string() == "192.0.2.2:443" {
                    Ok::<_, ()>((addr, c.now()))
                } else {
                    core::future::pending().await
                }
            }
        });
        let outcome = clock.block_on(
            crate::Staggered::from_stream(attempts)
                .delay(ms(250))
                .race(clock.clone()),
        );
        let (index, (addr, at)) = outcome.winner.unwrap();
        assert_eq!(
            (index, addr.to_string()),
            (2, String::from("192.0.2.2:443"))
        );
        // 0: AAAA at 10 ms; 1: due at 260 ms but A answers at 300, so it starts then; 2: 550.
        assert_eq!(at, ms(550));
    }

    /// `StreamExt::map`, without the futures crate in the library's dev build.
    fn futures_util_map<S: Stream, T>(
        stream: S,
        f: impl FnMut(S::Item) -> T,
    ) -> impl Stream<Item = T> {
        pin_project_lite::pin_project! {
            struct Map<S, F> { #[pin] stream: S, f: F }
        }
        impl<S: Stream, T, F: FnMut(S::Item) -> T> Stream for Map<S, F> {
            type Item = T;
            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
                let this = self.project();
                this.stream.poll_next(cx).map(|item| item.map(this.f))
            }
        }
        Map { stream, f }
    }
}
