//! Model check of the RFC 8305 §3 resolution ([`lookups`], [`addresses`], [`alongside`]):
//! random answer times and answers, Resolution Delays, first-family counts and consumers,
//! run in virtual time on [`ManualClock`] and compared with a plain model of the rules.
//!
//! The model (written from the rules, not from the code):
//!
//! - both lookups start at 0; AAAA answers at `t6`, A at `t4` (at one instant, AAAA is taken
//!   first);
//! - an A answer with addresses at `t4 < t6` starts the Resolution Delay `d` at `t4`; it
//!   passes at `t4 + d` if AAAA has not answered by then (an AAAA answer at `t4 + d` itself
//!   ends it);
//! - the queue is released at the first of: an AAAA answer with addresses; the AAAA answer
//!   or the delay passing, once the delay started; both lookups done;
//! - released addresses come out by turns: `count` IPv6 turns, then one each; a turn whose
//!   family has nothing queued goes to the other family, and the next turn is again the
//!   family that was skipped; an answer's addresses join their family's queue when it
//!   arrives (answers at an instant are in before any address is taken at that instant);
//! - a pull at `t` gets an address at the first instant `>= t` at which one is out, or the end
//!   of the stream at the first instant `>= t` at which both lookups are done and nothing is
//!   queued.
//!
//! Every IPv6 address is `::1` (with a port of its own), so the "first IPv6 address has no
//! route" exception never applies (as in the unit tests, this needs IPv6 loopback).
//!
//! Hostile lookups run under [`spin_on`] rather than `ManualClock::block_on`, which holds the
//! clock still while the task keeps being woken: it re-polls a woken task a few times at one
//! instant, then moves the clock on, as real time would.

use super::*;
use crate::testing::{ManualClock, ManualSleep};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Wake;
use std::thread::JoinHandle;
use std::vec;

/// Virtual milliseconds.
type Ms = u64;

fn ms(n: Ms) -> Duration {
    Duration::from_millis(n)
}

fn now_ms(clock: &ManualClock) -> Ms {
    clock.now().as_millis() as Ms
}

/// A lookup's answer: `Some(n)` is `Ok` with `n` addresses, `None` an error.
type Answer = Option<usize>;

/// One resolution.
#[derive(Debug, Clone)]
struct Case {
    t6: Ms,
    a6: Answer,
    t4: Ms,
    a4: Answer,
    delay: Ms,
    count: usize,
}

fn addr(family: Family, i: usize) -> SocketAddr {
    match family {
        Family::V6 => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 6000 + i as u16),
        Family::V4 => SocketAddr::new(Ipv4Addr::new(127, 0, 0, 1 + i as u8).into(), 4000),
    }
}

fn addrs(family: Family, n: usize) -> Vec<SocketAddr> {
    (0..n).map(|i| addr(family, i)).collect()
}

fn result(family: Family, answer: Answer) -> Result<Vec<SocketAddr>, String> {
    match answer {
        Some(n) => Ok(addrs(family, n)),
        None => Err(String::from("SERVFAIL")),
    }
}

fn fam_other(family: Family) -> Family {
    match family {
        Family::V6 => Family::V4,
        Family::V4 => Family::V6,
    }
}

/// A reported event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Resolved(Family, Result<Vec<SocketAddr>, String>),
    Wait(Duration),
    Waited(Duration),
}

/// What a run shows: each address with the instant the consumer got it, when the stream
/// ended, the events with their instants, and whether `failure` gives an error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    out: Vec<(Ms, SocketAddr)>,
    end: Ms,
    events: Vec<(Ms, Ev)>,
    failure: bool,
}

/// When the consumer pulls: as soon as it can, or its `n`th pull not before `at[n]` (and
/// eagerly after the list).
#[derive(Debug, Clone)]
enum Consumer {
    Eager,
    At(Vec<Ms>),
}

impl Consumer {
    fn not_before(&self, n: usize) -> Ms {
        match self {
            Consumer::Eager => 0,
            Consumer::At(at) => at.get(n).copied().unwrap_or(0),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The model.

fn has_addrs(answer: Answer) -> bool {
    matches!(answer, Some(n) if n > 0)
}

/// The Resolution Delay's start, if it starts.
fn delay_start(c: &Case) -> Option<Ms> {
    (has_addrs(c.a4) && c.t4 < c.t6).then_some(c.t4)
}

fn release_time(c: &Case) -> Ms {
    let both = c.t6.max(c.t4);
    let mut at = both;
    if has_addrs(c.a6) {
        at = at.min(c.t6);
    }
    if let Some(start) = delay_start(c) {
        at = at.min(c.t6.min(start + c.delay));
    }
    at
}

fn model_events(c: &Case) -> Vec<(Ms, Ev)> {
    // (instant, order within the instant, event)
    let mut events = vec![
        (c.t6, 0, Ev::Resolved(Family::V6, result(Family::V6, c.a6))),
        (c.t4, 1, Ev::Resolved(Family::V4, result(Family::V4, c.a4))),
    ];
    if let Some(start) = delay_start(c) {
        events.push((start, 2, Ev::Wait(ms(c.delay))));
        if start + c.delay < c.t6 {
            events.push((start + c.delay, 3, Ev::Waited(ms(c.delay))));
        }
    }
    events.sort_by_key(|(at, order, _)| (*at, *order));
    events.into_iter().map(|(at, _, ev)| (at, ev)).collect()
}

fn model_failure(c: &Case) -> bool {
    !has_addrs(c.a6) && !has_addrs(c.a4) && (c.a6.is_none() || c.a4.is_none())
}

/// The stream, as the rules say.
struct ModelStream {
    answers: [(Ms, Vec<SocketAddr>); 2],
    joined: [bool; 2],
    queued: [VecDeque<SocketAddr>; 2],
    release: Ms,
    done: Ms,
    turn: Family,
    turns: usize,
}

impl ModelStream {
    fn new(c: &Case) -> Self {
        let of = |family, answer: Answer| addrs(family, answer.unwrap_or(0));
        ModelStream {
            answers: [(c.t6, of(Family::V6, c.a6)), (c.t4, of(Family::V4, c.a4))],
            joined: [false; 2],
            queued: [VecDeque::new(), VecDeque::new()],
            release: release_time(c),
            done: c.t6.max(c.t4),
            turn: Family::V6,
            turns: c.count,
        }
    }

    fn queue(&mut self, family: Family) -> &mut VecDeque<SocketAddr> {
        &mut self.queued[slot(family)]
    }

    /// The next address by turns, from what is queued.
    fn take(&mut self) -> Option<SocketAddr> {
        let turn = self.turn;
        if let Some(a) = self.queue(turn).pop_front() {
            self.turns -= 1;
            if self.turns == 0 {
                self.turn = fam_other(turn);
                self.turns = 1;
            }
            Some(a)
        } else if let Some(a) = self.queue(fam_other(turn)).pop_front() {
            // The skipped family has the next turn (one).
            self.turns = 1;
            Some(a)
        } else {
            None
        }
    }

    /// A pull at `at`: the instant it is answered, and the address (`None`: the end).
    fn pull(&mut self, at: Ms) -> (Ms, Option<SocketAddr>) {
        let mut now = at;
        loop {
            for i in 0..2 {
                if !self.joined[i] && self.answers[i].0 <= now {
                    self.joined[i] = true;
                    let new = self.answers[i].1.clone();
                    self.queued[i].extend(new);
                }
            }
            if now >= self.release {
                if let Some(a) = self.take() {
                    return (now, Some(a));
                }
            }
            if now >= self.done {
                return (now, None);
            }
            now = [self.answers[0].0, self.answers[1].0, self.release]
                .into_iter()
                .filter(|&t| t > now)
                .min()
                .expect("something is still to come");
        }
    }
}

fn model(c: &Case, consumer: &Consumer) -> Seen {
    let mut stream = ModelStream::new(c);
    let mut out = Vec::new();
    let mut now = 0;
    let end = loop {
        let (at, got) = stream.pull(now.max(consumer.not_before(out.len())));
        now = at;
        match got {
            Some(a) => out.push((at, a)),
            None => break at,
        }
    };
    Seen {
        out,
        end,
        events: model_events(c),
        failure: model_failure(c),
    }
}

// ---------------------------------------------------------------------------------------
// The run.

/// How a lookup behaves before its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noise {
    /// Waits on a sleep until its answer time.
    Quiet,
    /// Wakes itself on every poll (and holds an unpolled sleep for the executor to jump to).
    Busy,
    /// As `Quiet`, and a thread wakes the task without pause until the run ends.
    Thread,
}

/// The noise threads of one run, stopped and joined when it is dropped.
#[derive(Default)]
struct Threads {
    stop: Arc<AtomicBool>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Threads {
    fn spawn(&self, waker: Waker) {
        let stop = self.stop.clone();
        let started = Arc::new(AtomicBool::new(false));
        let up = started.clone();
        let handle = std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                waker.wake_by_ref();
                up.store(true, Ordering::Relaxed);
            }
        });
        // The noise starts before the lookup's first poll returns.
        while !started.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        lock_ok(&self.handles).push(handle);
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in lock_ok(&self.handles).drain(..) {
            let _ = handle.join();
        }
    }
}

fn lock_ok<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A lookup that answers at `at` (virtual), behaving as `noise` says until then.
struct Lookup<'t> {
    clock: ManualClock,
    at: Duration,
    answer: Option<io::Result<Vec<SocketAddr>>>,
    sleep: ManualSleep,
    noise: Noise,
    threads: &'t Threads,
    spawned: bool,
}

impl<'t> Lookup<'t> {
    fn new(
        clock: &ManualClock,
        family: Family,
        at: Ms,
        answer: Answer,
        noise: Noise,
        threads: &'t Threads,
    ) -> Self {
        Lookup {
            clock: clock.clone(),
            at: ms(at),
            answer: Some(result(family, answer).map_err(io::Error::other)),
            sleep: clock.sleep(ms(at)),
            noise,
            threads,
            spawned: false,
        }
    }
}

impl Future for Lookup<'_> {
    type Output = io::Result<Vec<SocketAddr>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let answer = |this: &mut Self| this.answer.take().expect("polled after its answer");
        if this.clock.now() >= this.at {
            return Poll::Ready(answer(this));
        }
        match this.noise {
            Noise::Busy => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Noise::Quiet | Noise::Thread => {
                if this.noise == Noise::Thread && !this.spawned {
                    this.spawned = true;
                    this.threads.spawn(cx.waker().clone());
                }
                match Pin::new(&mut this.sleep).poll(cx) {
                    Poll::Ready(()) => Poll::Ready(answer(this)),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls woken at one instant before the clock moves on anyway (as real time would, under a
/// future that keeps waking itself).
const SPINS: usize = 24;

/// `ManualClock::block_on` for tasks that are woken all the time: re-polls a woken task up
/// to [`SPINS`] times at one instant, then jumps to the next deadline.
fn spin_on<F: Future>(clock: &ManualClock, fut: F) -> F::Output {
    let mut fut = core::pin::pin!(fut);
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut spins = 0;
    for _ in 0..200_000 {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        let woken = flag.0.load(Ordering::SeqCst);
        if woken && spins < SPINS {
            spins += 1;
            continue;
        }
        spins = 0;
        match clock.next_deadline() {
            Some(deadline) => clock.advance_to(deadline),
            None => assert!(woken, "stuck at {:?}", clock.now()),
        }
    }
    panic!("no end at {:?}", clock.now());
}

fn drive<F: Future>(clock: &ManualClock, noise: [Noise; 2], fut: F) -> F::Output {
    if noise == [Noise::Quiet; 2] {
        clock.block_on(fut)
    } else {
        spin_on(clock, fut)
    }
}

type Timeline = Arc<Mutex<Vec<(Ms, Ev)>>>;

fn recorder(clock: &ManualClock) -> (Timeline, impl Fn(&ConnectEvent<'_>) + Send + Sync) {
    let seen: Timeline = Arc::default();
    let (log, clock) = (seen.clone(), clock.clone());
    let observer = move |event: &ConnectEvent<'_>| {
        let ev = match event {
            ConnectEvent::Resolved { family, result } => Ev::Resolved(
                *family,
                result
                    .map(<[SocketAddr]>::to_vec)
                    .map_err(|e| e.to_string()),
            ),
            ConnectEvent::ResolutionDelayStarted { delay } => Ev::Wait(*delay),
            ConnectEvent::ResolutionDelayPassed { delay } => Ev::Waited(*delay),
            other => panic!("not a resolution event: {other:?}"),
        };
        lock_ok(&log).push((now_ms(&clock), ev));
    };
    (seen, observer)
}

fn run(c: &Case, noise: [Noise; 2], consumer: &Consumer) -> Seen {
    let clock = ManualClock::new();
    let threads = Threads::default();
    let (seen, observer) = recorder(&clock);
    let log = Log::new(Some(&observer));
    let queue = queue(c.count);
    let lookups = lookups(
        Lookup::new(&clock, Family::V6, c.t6, c.a6, noise[0], &threads),
        Lookup::new(&clock, Family::V4, c.t4, c.a4, noise[1], &threads),
        clock.clone(),
        ms(c.delay),
        &queue,
        &log,
    );
    let mut stream = addresses(&queue, |a| a);
    let pull = async {
        let mut out = Vec::new();
        loop {
            let (now, not_before) = (now_ms(&clock), consumer.not_before(out.len()));
            if now < not_before {
                clock.sleep(ms(not_before - now)).await;
            }
            let next = core::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
            match next {
                Some(a) => out.push((now_ms(&clock), a)),
                None => return (out, now_ms(&clock)),
            }
        }
    };
    let (out, end) = drive(&clock, noise, alongside(lookups, pull));
    drop(threads);
    let events = lock_ok(&seen).clone();
    Seen {
        out,
        end,
        events,
        failure: failure(&queue).is_some(),
    }
}

// ---------------------------------------------------------------------------------------
// A race as the consumer.

/// What each attempt does: fail that many ms after its start, or hang (`None`; also past the
/// end of the list).
type Plans = Vec<Option<Ms>>;

/// The race's deadline, past every start and failure the cases make.
const DEADLINE: Ms = 10_000;

/// The race as the rules and the race's docs say: attempt `i + 1` is due `delay` after
/// attempt `i` started, or when `i` fails, whichever is first; a due start takes the next
/// address (waiting for it if there is none yet). The starts, and when the race ends.
fn model_race(c: &Case, delay: Ms, plans: &Plans) -> (Vec<(Ms, SocketAddr)>, Ms) {
    let mut stream = ModelStream::new(c);
    let mut starts = Vec::new();
    let mut due = 0;
    let mut last_failure = 0;
    let mut hangs = false;
    let stream_end = loop {
        let (at, got) = stream.pull(due);
        let Some(a) = got else { break at };
        due = at + delay;
        match plans.get(starts.len()).copied().flatten() {
            Some(fails) => {
                due = due.min(at + fails);
                last_failure = last_failure.max(at + fails);
            }
            None => hangs = true,
        }
        starts.push((at, a));
    };
    let end = if hangs {
        DEADLINE
    } else {
        stream_end.max(last_failure)
    };
    (starts, end)
}

fn run_race(
    c: &Case,
    noise: [Noise; 2],
    delay: Ms,
    plans: &Plans,
) -> (Vec<(Ms, SocketAddr)>, Ms, usize) {
    let clock = ManualClock::new();
    let threads = Threads::default();
    let log = Log::new(None);
    let queue = queue(c.count);
    let lookups = lookups(
        Lookup::new(&clock, Family::V6, c.t6, c.a6, noise[0], &threads),
        Lookup::new(&clock, Family::V4, c.t4, c.a4, noise[1], &threads),
        clock.clone(),
        ms(c.delay),
        &queue,
        &log,
    );
    let starts: Arc<Mutex<Vec<(Ms, SocketAddr)>>> = Arc::default();
    let attempts = addresses(&queue, |a: SocketAddr| {
        let (clock, starts) = (clock.clone(), starts.clone());
        let plans = plans.clone();
        move || {
            let plan = {
                let mut starts = lock_ok(&starts);
                starts.push((now_ms(&clock), a));
                plans.get(starts.len() - 1).copied().flatten()
            };
            async move {
                match plan {
                    Some(fails) => {
                        clock.sleep(ms(fails)).await;
                        Err::<(), ()>(())
                    }
                    None => core::future::pending().await,
                }
            }
        }
    });
    let race = crate::Staggered::from_stream(attempts)
        .delay(ms(delay))
        .deadline(ms(DEADLINE))
        .race(clock.clone());
    let outcome = drive(&clock, noise, alongside(lookups, race));
    let end = now_ms(&clock);
    drop(threads);
    assert!(outcome.winner.is_none());
    let starts = lock_ok(&starts).clone();
    (starts, end, outcome.attempts.len())
}

// ---------------------------------------------------------------------------------------
// The strategies and the properties.

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![4 => (0usize..=4).prop_map(Some), 1 => Just(None)]
}

fn case() -> impl Strategy<Value = Case> {
    (
        0..300 as Ms,
        answer(),
        (0..300 as Ms, 0u8..5),
        answer(),
        prop_oneof![1 => Just(0 as Ms), 3 => 0..100 as Ms],
        1usize..=3,
    )
        .prop_map(|(t6, a6, (t4, tie), a4, delay, count)| {
            // Ties: A with AAAA, and AAAA at the very end of the Resolution Delay.
            let t4 = match tie {
                0 => t6,
                1 => t6.saturating_sub(delay),
                _ => t4,
            };
            Case {
                t6,
                a6,
                t4,
                a4,
                delay,
                count,
            }
        })
}

/// Pull times, often at the instants that matter (the answers, the delay's end).
fn consumer() -> impl Strategy<Value = (u8, Vec<(u8, Ms)>)> {
    (0u8..3, prop::collection::vec((0u8..5, 0..400 as Ms), 0..10))
}

fn make_consumer(c: &Case, (kind, pulls): &(u8, Vec<(u8, Ms)>)) -> Consumer {
    if *kind == 0 {
        return Consumer::Eager;
    }
    let mut at: Vec<Ms> = pulls
        .iter()
        .map(|&(which, t)| match which {
            0 => c.t6,
            1 => c.t4,
            2 => c.t4 + c.delay,
            _ => t,
        })
        .collect();
    at.sort_unstable();
    Consumer::At(at)
}

fn noise() -> impl Strategy<Value = Noise> {
    prop_oneof![Just(Noise::Quiet), Just(Noise::Busy), Just(Noise::Thread)]
}

fn plans() -> impl Strategy<Value = Plans> {
    prop::collection::vec(
        prop_oneof![1 => Just(None), 1 => Just(Some(0)), 3 => (0..300 as Ms).prop_map(Some)],
        0..9,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Addresses, their instants, the end of the stream, the events and the failure, with
    /// quiet lookups.
    #[test]
    fn the_stream_follows_the_model(c in case(), consumer in consumer()) {
        let consumer = make_consumer(&c, &consumer);
        prop_assert_eq!(run(&c, [Noise::Quiet; 2], &consumer), model(&c, &consumer));
    }

    /// The same, with lookups that wake themselves on every poll, or are woken from another
    /// thread all the time.
    #[test]
    fn hostile_lookups_change_nothing(
        c in case(),
        consumer in consumer(),
        noise in [noise(), noise()],
    ) {
        let consumer = make_consumer(&c, &consumer);
        prop_assert_eq!(run(&c, noise, &consumer), model(&c, &consumer));
    }

    /// A race over the stream: attempt `i` starts when the model says, on the model's
    /// address, and the race ends when the model says.
    #[test]
    fn the_race_starts_each_attempt_when_the_model_says(
        c in case(),
        noise in [noise(), noise()],
        delay in prop_oneof![1 => Just(0 as Ms), 3 => 0..300 as Ms],
        plans in plans(),
    ) {
        let (starts, end, attempts) = run_race(&c, noise, delay, &plans);
        let (model_starts, model_end) = model_race(&c, delay, &plans);
        prop_assert_eq!(&starts, &model_starts);
        prop_assert_eq!(attempts, starts.len());
        prop_assert_eq!(end, model_end);
    }
}

/// The model agrees with the hand-written unit tests above it.
#[test]
fn the_model_agrees_with_the_unit_tests() {
    // A first, AAAA after the delay: A at 60, AAAA at 200.
    let c = Case {
        t6: 200,
        a6: Some(2),
        t4: 10,
        a4: Some(2),
        delay: 50,
        count: 1,
    };
    let seen = model(&c, &Consumer::Eager);
    let times: Vec<Ms> = seen.out.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [60, 60, 200, 200]);
    assert_eq!(seen.end, 200);
    assert_eq!(
        seen.events.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        [10, 10, 60, 200]
    );
    // count 2: two IPv6, one IPv4, then alternating.
    let c = Case {
        t6: 1,
        a6: Some(3),
        t4: 1,
        a4: Some(2),
        delay: 50,
        count: 2,
    };
    let order: Vec<SocketAddr> = model(&c, &Consumer::Eager)
        .out
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    let (v6, v4) = (|i| addr(Family::V6, i), |i| addr(Family::V4, i));
    assert_eq!(order, [v6(0), v6(1), v4(0), v6(2), v4(1)]);
}
