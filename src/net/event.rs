//! [`ConnectEvent`]: what a connect reports to an observer, and the log of attempts behind it.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

/// One step of a Happy Eyeballs connect, reported to the observer set with
/// [`HappyEyeballs::on_event`](super::HappyEyeballs::on_event).
///
/// Events are reported synchronously, from inside the connect future's `poll`, in the order
/// they happen. `attempt` is the attempt's index: its position in the interleaved address
/// order, which is also its start order.
///
/// # Example
///
/// A timeline of one connect, as the crate's demo prints it:
///
/// ```
/// # #[cfg(feature = "net-tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::{Arc, Mutex};
/// use staggered::net::{ConnectEvent, HappyEyeballs, Tokio};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let good = listener.local_addr()?;
/// let refusing = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?; // bound, not listening
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let connector = HappyEyeballs::new(Tokio).on_event({
///     let log = log.clone();
///     move |event| {
///         let line = match event {
///             ConnectEvent::Addresses { addrs } => format!("{} addresses", addrs.len()),
///             ConnectEvent::Started { attempt, .. } => format!("#{attempt} started"),
///             ConnectEvent::Failed { attempt, error, .. } => format!("#{attempt} failed: {:?}", error.kind()),
///             ConnectEvent::Won { attempt, .. } => format!("#{attempt} won"),
///             ConnectEvent::Cancelled { attempt, .. } => format!("#{attempt} cancelled"),
///             _ => return, // non-exhaustive
///         };
///         log.lock().unwrap().push(line);
///     }
/// });
/// connector.connect([refusing, good]).await?;
/// assert_eq!(
///     *log.lock().unwrap(),
///     ["2 addresses", "#0 started", "#0 failed: ConnectionRefused", "#1 started", "#1 won"]
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectEvent<'a> {
    /// One family's lookup of [`connect_host`](super::HappyEyeballs::connect_host) (or
    /// [`resolve`](super::HappyEyeballs::resolve)) ended: its addresses in the resolver's
    /// order, or its error (a lookup that did not answer within the resolve timeout has an
    /// [`io::ErrorKind::TimedOut`] error). Reported for IPv6, then IPv4, once both lookups are
    /// done or the resolve timeout has passed, before [`Addresses`](Self::Addresses). Not
    /// reported for address literals.
    Resolved {
        /// The family looked up.
        family: super::Family,
        /// What the lookup gave.
        result: Result<&'a [SocketAddr], &'a io::Error>,
    },
    /// The addresses to try, in the order they will be tried (after interleaving). Reported
    /// once, before the first attempt starts, and also when the list is empty.
    Addresses {
        /// The interleaved addresses.
        addrs: &'a [SocketAddr],
    },
    /// An attempt started: its connect was called.
    Started {
        /// The attempt's index.
        attempt: usize,
        /// The address it connects to.
        addr: SocketAddr,
    },
    /// An attempt failed with this error (for example, refused, or its own timeout passed).
    Failed {
        /// The attempt's index.
        attempt: usize,
        /// The address it tried.
        addr: SocketAddr,
        /// Why it failed.
        error: &'a io::Error,
    },
    /// An attempt connected first: its stream is the one the connect returns.
    Won {
        /// The attempt's index.
        attempt: usize,
        /// The address it connected to.
        addr: SocketAddr,
    },
    /// An attempt was still connecting when another won, when the overall timeout passed, or
    /// when the connect future was dropped. Its socket has been closed.
    Cancelled {
        /// The attempt's index.
        attempt: usize,
        /// The address it was connecting to.
        addr: SocketAddr,
    },
}

/// The observer type stored by the builder.
pub(crate) type Observer = Arc<dyn Fn(&ConnectEvent<'_>) + Send + Sync>;

/// Where each attempt stands.
enum State {
    Running,
    Failed(io::Error),
    Won,
    Cancelled,
}

/// What every attempt of one connect did, in start order. The attempts write to it while they
/// run, so it still knows the errors when the overall timeout drops the race.
pub(crate) struct Log<'o> {
    entries: Mutex<Vec<(SocketAddr, State)>>,
    observer: Option<&'o (dyn Fn(&ConnectEvent<'_>) + Send + Sync)>,
}

impl<'o> Log<'o> {
    pub(crate) fn new(observer: Option<&'o (dyn Fn(&ConnectEvent<'_>) + Send + Sync)>) -> Self {
        Log {
            entries: Mutex::new(Vec::new()),
            observer,
        }
    }

    pub(crate) fn report(&self, event: ConnectEvent<'_>) {
        if let Some(observer) = self.observer {
            observer(&event)
        }
    }

    fn entries(&self) -> MutexGuard<'_, Vec<(SocketAddr, State)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the start of attempt `attempt`. The guard records how it ends.
    pub(crate) fn start(&self, attempt: usize, addr: SocketAddr) -> AttemptGuard<'_, 'o> {
        {
            let mut entries = self.entries();
            debug_assert_eq!(entries.len(), attempt, "attempts start in order");
            entries.push((addr, State::Running));
        }
        self.report(ConnectEvent::Started { attempt, addr });
        AttemptGuard {
            log: self,
            attempt,
            addr,
            done: false,
        }
    }

    /// Takes every started attempt's address and error, in start order. Attempts that are
    /// neither failed nor won (still running, or cancelled) get `unfinished()`.
    pub(crate) fn take_errors(
        &self,
        mut unfinished: impl FnMut() -> io::Error,
    ) -> Vec<(SocketAddr, io::Error)> {
        core::mem::take(&mut *self.entries())
            .into_iter()
            .filter_map(|(addr, state)| match state {
                State::Failed(error) => Some((addr, error)),
                State::Running | State::Cancelled => Some((addr, unfinished())),
                State::Won => None,
            })
            .collect()
    }
}

/// Held by a running attempt. Reports how it ended; if it is dropped before it ended, the
/// attempt was cancelled.
pub(crate) struct AttemptGuard<'l, 'o> {
    log: &'l Log<'o>,
    attempt: usize,
    addr: SocketAddr,
    done: bool,
}

impl AttemptGuard<'_, '_> {
    fn finish(&mut self, state: State) {
        self.done = true;
        if let Some(entry) = self.log.entries().get_mut(self.attempt) {
            entry.1 = state;
        }
    }

    pub(crate) fn won(mut self) {
        self.finish(State::Won);
        self.log.report(ConnectEvent::Won {
            attempt: self.attempt,
            addr: self.addr,
        });
    }

    pub(crate) fn failed(mut self, error: io::Error) {
        self.log.report(ConnectEvent::Failed {
            attempt: self.attempt,
            addr: self.addr,
            error: &error,
        });
        self.finish(State::Failed(error));
    }
}

impl Drop for AttemptGuard<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(State::Cancelled);
            self.log.report(ConnectEvent::Cancelled {
                attempt: self.attempt,
                addr: self.addr,
            });
        }
    }
}

pin_project_lite::pin_project! {
    /// One attempt's future, reporting to the log. `inner` is declared first so that it is
    /// dropped first: when `Cancelled` is reported, the attempt's socket is already closed.
    pub(crate) struct Tracked<'l, 'o, F> {
        #[pin]
        inner: F,
        guard: Option<AttemptGuard<'l, 'o>>,
    }
}

impl<'l, 'o, F> Tracked<'l, 'o, F> {
    pub(crate) fn new(inner: F, guard: AttemptGuard<'l, 'o>) -> Self {
        Tracked {
            inner,
            guard: Some(guard),
        }
    }
}

impl<F, S> core::future::Future for Tracked<'_, '_, F>
where
    F: core::future::Future<Output = io::Result<S>>,
{
    /// The error is in the log.
    type Output = Result<S, ()>;

    fn poll(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Self::Output> {
        let this = self.project();
        let result = core::task::ready!(this.inner.poll(cx));
        let guard = this
            .guard
            .take()
            .expect("Tracked polled after it completed");
        core::task::Poll::Ready(match result {
            Ok(stream) => {
                guard.won();
                Ok(stream)
            }
            Err(error) => {
                guard.failed(error);
                Err(())
            }
        })
    }
}
