//! Firmware-style use of `staggered`: no `std`, no runtime, no executor crate.
//!
//! A device has a modem that can join one of three networks. It asks them one after another,
//! 50 ms apart, and keeps the first that accepts; an answer of "no" moves on at once. Every
//! piece an embedded user supplies is here, and nothing more:
//!
//! - a [`Timer`] written for this board, over a 1 kHz SysTick tick count;
//! - a minimal `block_on` that sleeps the core (`wfi`) between wake-ups, with a static waker;
//! - a fake modem peripheral, driven by the SysTick interrupt, that the attempts talk to.
//!
//! There is no heap and no allocator: the race is [`staggered_race_array`], whose attempts
//! live inside its future (here, on `main`'s stack), and `staggered` is built without its
//! `alloc` feature. Everything else is in statics of a fixed size.
//!
//! Build it with `cargo build --release --target thumbv7em-none-eabihf` in this directory.
//! It targets a Cortex-M4F with the memory map in `memory.x`. To run it on QEMU's model of a
//! Cortex-M4 board, which is what CI does:
//!
//! ```text
//! cargo build --release --target thumbv7em-none-eabihf --features qemu
//! qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
//!     -semihosting-config enable=on,target=native \
//!     -kernel target/thumbv7em-none-eabihf/release/staggered-firmware-example
//! ```
//!
//! With `qemu`, it prints the outcome over semihosting and exits with status 0 only if the
//! race went as planned.

#![no_std]
#![no_main]

use core::cell::{Cell, RefCell};
use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use core::time::Duration;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::{entry, exception};
use critical_section::{CriticalSection, Mutex};
use staggered::{staggered_race_array, ArrayVec, Attempt, Timer};

// ---------------------------------------------------------------------------------------------
// The clock: SysTick interrupts at 1 kHz, and a `Timer` over their count.

/// The core clock the SysTick counts (the reset clock of many Cortex-M4F parts).
const CORE_HZ: u32 = 16_000_000;
/// Ticks per second.
const TICK_HZ: u64 = 1_000;

/// Ticks since boot. A `u64` never wraps (at 1 kHz, in 584 million years); thumbv7em has no
/// 64-bit atomics, so it lives behind a critical section.
static TICKS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Room for this many distinct wakers in [`SLEEPERS`]: one per task that sleeps. This firmware
/// has one task, and [`staggered_race_array`] polls its sleep with the task's own waker.
const SLEEPER_SLOTS: usize = 2;

/// The wake-ups waiting for a tick: one entry per waker, with the earliest deadline of the
/// sleeps that registered it. When it fires, those sleeps are polled again, and the ones not
/// yet due register anew.
static SLEEPERS: Mutex<RefCell<ArrayVec<(u64, Waker), SLEEPER_SLOTS>>> =
    Mutex::new(RefCell::new(ArrayVec::new_const()));

fn now() -> u64 {
    critical_section::with(|cs| TICKS.borrow(cs).get())
}

fn start_systick(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_HZ / TICK_HZ as u32 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = TICKS.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        // Wake the sleeps that are due. Waking only flags work.
        SLEEPERS.borrow_ref_mut(cs).retain(|(deadline, waker)| {
            let due = *deadline <= now;
            if due {
                waker.wake_by_ref();
            }
            !due
        });
        MODEM.borrow_ref_mut(cs).tick(now);
    });
}

/// This board's [`Timer`]: sleeps count SysTick ticks.
#[derive(Debug, Clone, Copy, Default)]
struct SysTickTimer;

/// A sleep of [`SysTickTimer`]: done once the tick count reaches its deadline.
struct TickSleep {
    deadline: u64,
}

/// Whole ticks in `duration`, rounded up so that a sleep never ends early.
fn ticks_in(duration: Duration) -> u64 {
    let ticks = duration
        .as_micros()
        .saturating_mul(TICK_HZ as u128)
        .div_ceil(1_000_000);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

impl Future for TickSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        critical_section::with(|cs| {
            if TICKS.borrow(cs).get() >= self.deadline {
                return Poll::Ready(());
            }
            let mut sleepers = SLEEPERS.borrow_ref_mut(cs);
            let known = sleepers
                .iter_mut()
                .find(|(_, waker)| waker.will_wake(cx.waker()));
            if let Some((deadline, _)) = known {
                *deadline = (*deadline).min(self.deadline);
            } else if sleepers
                .try_push((self.deadline, cx.waker().clone()))
                .is_err()
            {
                // No room (more tasks sleep than `SLEEPER_SLOTS`): poll again at once, which
                // is correct, only not frugal.
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        })
    }
}

impl Timer for SysTickTimer {
    type Sleep = TickSleep;

    fn sleep(&self, duration: Duration) -> TickSleep {
        TickSleep {
            deadline: now().saturating_add(ticks_in(duration)),
        }
    }

    /// Re-arms in place: a new deadline. The old deadline's entry, if any, fires later as a
    /// spurious wake-up, which futures must tolerate anyway.
    fn reset(&self, sleep: Pin<&mut TickSleep>, duration: Duration) {
        sleep.get_mut().deadline = now().saturating_add(ticks_in(duration));
    }
}

// ---------------------------------------------------------------------------------------------
// A fake modem peripheral. Each of its three channels takes a "join" command and, some ticks
// later, sets its status to accepted or rejected and raises an interrupt (here: the SysTick
// handler plays the modem's hardware and wakes the waiting task).

/// How each network answers a join request: after how many ticks, and whether it accepts.
/// `None` never answers (out of range).
const NETWORKS: [Option<(u64, bool)>; 3] = [
    None,             // "home": out of range
    Some((5, false)), // "office": says no after 5 ms
    Some((30, true)), // "guest": says yes after 30 ms
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Idle,
    Busy { answer_at: u64 },
    Accepted,
    Rejected,
}

struct Channel {
    status: Status,
    waker: Option<Waker>,
}

struct Modem {
    channels: [Channel; 3],
}

static MODEM: Mutex<RefCell<Modem>> = Mutex::new(RefCell::new(Modem {
    channels: [const {
        Channel {
            status: Status::Idle,
            waker: None,
        }
    }; 3],
}));

/// Join commands the firmware aborted: the losers of the race.
static ABORTED: AtomicU32 = AtomicU32::new(0);

impl Modem {
    /// The modem's hardware, one tick on.
    fn tick(&mut self, now: u64) {
        for (channel, answer) in self.channels.iter_mut().zip(NETWORKS) {
            if let (Status::Busy { answer_at }, Some((_, accepts))) = (channel.status, answer) {
                if answer_at <= now {
                    channel.status = if accepts {
                        Status::Accepted
                    } else {
                        Status::Rejected
                    };
                    if let Some(waker) = channel.waker.take() {
                        waker.wake();
                    }
                }
            }
        }
    }

    fn issue_join(&mut self, cs: CriticalSection<'_>, channel: usize) {
        let answer_at = match NETWORKS[channel] {
            Some((after, _)) => TICKS.borrow(cs).get() + after,
            None => u64::MAX,
        };
        self.channels[channel].status = Status::Busy { answer_at };
    }
}

/// A join in progress. Dropping it before the modem answered aborts the command, as a driver
/// would: this is how a losing attempt is cancelled on a microcontroller.
struct Join {
    channel: usize,
}

impl Join {
    fn start(channel: usize) -> Join {
        critical_section::with(|cs| MODEM.borrow_ref_mut(cs).issue_join(cs, channel));
        Join { channel }
    }

    fn poll_answer(&self, cx: &mut Context<'_>) -> Poll<Result<Session, Rejected>> {
        critical_section::with(|cs| {
            let mut modem = MODEM.borrow_ref_mut(cs);
            let channel = &mut modem.channels[self.channel];
            match channel.status {
                Status::Accepted => Poll::Ready(Ok(Session {
                    channel: self.channel,
                })),
                Status::Rejected => Poll::Ready(Err(Rejected {
                    channel: self.channel,
                })),
                Status::Busy { .. } | Status::Idle => {
                    channel.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

impl Drop for Join {
    fn drop(&mut self) {
        critical_section::with(|cs| {
            let channel = &mut MODEM.borrow_ref_mut(cs).channels[self.channel];
            if let Status::Busy { .. } = channel.status {
                ABORTED.fetch_add(1, Ordering::Relaxed);
            }
            channel.status = Status::Idle;
            channel.waker = None;
        });
    }
}

/// A joined network.
#[derive(Debug, PartialEq, Eq)]
struct Session {
    channel: usize,
}

/// A network said no.
#[derive(Debug, PartialEq, Eq)]
struct Rejected {
    channel: usize,
}

/// When each attempt started, in ticks since boot (`u64::MAX`: never).
static STARTED: Mutex<Cell<[u64; 3]>> = Mutex::new(Cell::new([u64::MAX; 3]));

/// One attempt of the race: ask the modem to join `channel`, and wait for its answer.
async fn join(channel: usize) -> Result<Session, Rejected> {
    critical_section::with(|cs| {
        let started = STARTED.borrow(cs);
        let mut at = started.get();
        at[channel] = TICKS.borrow(cs).get();
        started.set(at);
    });
    let join = Join::start(channel);
    poll_fn(|cx| join.poll_answer(cx)).await
}

// ---------------------------------------------------------------------------------------------
// A minimal executor: poll, and sleep the core until an interrupt wakes something.

/// Set by the task's waker; `block_on` polls when it finds it set, and clears it first.
static WOKEN: AtomicBool = AtomicBool::new(true);

/// The task's waker, with no heap: its data pointer is null and unused, and waking sets
/// [`WOKEN`]. Clones are copies; dropping one does nothing.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake_task, wake_task, drop_waker);

fn clone_waker(_: *const ()) -> RawWaker {
    RawWaker::new(ptr::null(), &WAKER_VTABLE)
}

fn wake_task(_: *const ()) {
    WOKEN.store(true, Ordering::Release);
}

fn drop_waker(_: *const ()) {}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    // SAFETY: the vtable keeps `RawWaker`'s contract: its functions never read the data
    // pointer, `clone_waker` returns a waker with the same vtable, and waking is one atomic
    // store, safe from any thread or interrupt and any number of times.
    let waker = unsafe { Waker::from_raw(clone_waker(ptr::null())) };
    let mut cx = Context::from_waker(&waker);
    loop {
        if WOKEN.swap(false, Ordering::Acquire) {
            if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
                return output;
            }
        } else {
            // A wake-up that lands between the check and `wfi` is seen at the next tick.
            cortex_m::asm::wfi();
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// What the race found, for a debugger to read: the winning channel plus one, or 0 if every
/// network refused.
static JOINED: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().unwrap();
    start_systick(&mut core.SYST);

    // One attempt per network, in a fixed array: the race keeps them inside its own future.
    let attempts: [_; NETWORKS.len()] = core::array::from_fn(|channel| move || join(channel));
    let outcome = block_on(staggered_race_array(
        attempts,
        Some(Duration::from_millis(50)),
        SysTickTimer,
    ));

    // "home" never answered, "office" said no after 5 ms (so "guest" started at once, at
    // 55 ms rather than 100 ms), and "guest" accepted. "home" was cancelled: dropping it
    // aborted its join command.
    let as_expected = *outcome.attempts
        == [
            Attempt::Cancelled,
            Attempt::Failed(Rejected { channel: 1 }),
            Attempt::Won,
        ]
        && outcome.winner_index() == Some(2)
        && ABORTED.load(Ordering::Relaxed) == 1;
    match outcome.into_result() {
        Ok((_, session)) => JOINED.store(session.channel as u32 + 1, Ordering::Relaxed),
        Err(_all_refused) => JOINED.store(0, Ordering::Relaxed),
    }
    #[cfg(feature = "qemu")]
    qemu::report(
        as_expected,
        critical_section::with(|cs| STARTED.borrow(cs).get()),
    );
    #[cfg(not(feature = "qemu"))]
    let _ = as_expected;
    loop {
        cortex_m::asm::wfi();
    }
}

#[cfg(not(feature = "qemu"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    loop {
        core::hint::spin_loop();
    }
}

/// Under QEMU: print what happened over semihosting, and exit with a status that says whether
/// it went as expected.
#[cfg(feature = "qemu")]
mod qemu {
    use core::sync::atomic::Ordering;

    use cortex_m_semihosting::{debug, hprintln};

    pub fn report(as_expected: bool, started: [u64; 3]) {
        let joined = super::JOINED.load(Ordering::Relaxed);
        hprintln!("joined: {} (channel + 1; 0: none)", joined);
        hprintln!(
            "attempts started at ticks {:?}; as expected: {}",
            started,
            as_expected
        );
        // Tick counts give exact lower bounds. QEMU may deliver late ticks in a burst, so the
        // upper bound is loose: "guest" started on "office"'s refusal, long before the 50-tick
        // delay ran out.
        let [home, office, guest] = started;
        let timed = office >= home + 50 && guest >= office + 5 && guest < office + 50;
        if as_expected && timed && joined == 3 {
            hprintln!("ok");
            debug::exit(debug::EXIT_SUCCESS);
        } else {
            hprintln!("unexpected outcome");
            debug::exit(debug::EXIT_FAILURE);
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        hprintln!("panic: {}", info);
        debug::exit(debug::EXIT_FAILURE);
        loop {
            core::hint::spin_loop();
        }
    }
}
