//! Happy Eyeballs v2 (RFC 8305): TCP connects that race a host's addresses, built on
//! [`staggered_race`](crate::staggered_race).
//!
//! A host often has several addresses, IPv6 and IPv4, and some of them may hang: a route that
//! drops packets makes `connect` wait for the OS's timeout, which is minutes on Linux. Trying
//! them one by one, as `TcpStream::connect` does, pays that wait in full. Happy Eyeballs starts
//! the first attempt, and if it has not connected within a short delay (250 ms), starts the
//! next beside it, and so on; the first connection wins and the others are closed.
//!
//! - [`HappyEyeballs`]: the builder. [`connect`](HappyEyeballs::connect) takes addresses,
//!   [`connect_host`](HappyEyeballs::connect_host) takes `"host:port"` and resolves it without
//!   blocking the executor.
//! - [`tokio::connect`] / [`tokio::connect_host`] (feature `net-tokio`) and
//!   [`async_io::connect`] / [`async_io::connect_host`] (feature `net-async-io`): the same with
//!   the defaults.
//! - [`ConnectError`]: every address tried, with its own error, in attempt order.
//! - [`ConnectEvent`]: what happened, as it happened, for logs and timelines.
//! - [`interleave`] and [`interleave_by_family`]: RFC 8305 §4 address interleaving, for any
//!   item type.
//!
//! # What it does, against RFC 8305
//!
//! - **Interleaving (§4).** Addresses alternate between families, starting with the family of
//!   the first address (the resolver's preference); the First Address Family Count is
//!   configurable.
//! - **Staggering (§5).** Attempt `i + 1` starts when attempt `i` fails *or* when the
//!   Connection Attempt Delay has passed since attempt `i` started, whichever is first. A
//!   refused address costs no delay at all. The delay defaults to 250 ms and is never below
//!   10 ms.
//! - **Winner (§5).** The first connection wins; every other attempt is dropped before
//!   `connect` returns, which closes its socket at once.
//! - **Errors.** If none connects, [`ConnectError`] names every address with its own error.
//! - **Not done:** §3's asynchronous DNS (querying AAAA and A separately and starting on the
//!   first answer). [`connect_host`](HappyEyeballs::connect_host) uses the system resolver
//!   (`getaddrinfo`), which answers with the whole list, sorted by RFC 6724.
//!
//! # Features and `no_std`
//!
//! The interleaving needs only `alloc`, so this module exists whenever the race does, and
//! stacks without `std` (smoltcp, embassy-net) can order their own address types with
//! [`interleave`]. The connects need a runtime: feature `net-tokio` adds [`Tokio`] and
//! `net-async-io` adds [`AsyncIo`]; each implies `std`.

mod interleave;

pub use self::interleave::{interleave, interleave_by_family, Interleave};

#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod error;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod event;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod happy_eyeballs;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod resolve;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod runtime;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod socket;

#[cfg(feature = "net-async-io")]
pub mod async_io;
#[cfg(feature = "net-hyper")]
mod hyper;
#[cfg(feature = "net-tokio")]
pub mod tokio;

#[cfg(feature = "net-async-io")]
pub use self::async_io::AsyncIo;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
pub use self::error::{ConnectError, ConnectErrorKind};
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
pub use self::event::ConnectEvent;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
pub use self::happy_eyeballs::{
    HappyEyeballs, DEFAULT_ATTEMPT_DELAY, DEFAULT_RESOLVE_TIMEOUT, MIN_ATTEMPT_DELAY,
};
#[cfg(feature = "net-hyper")]
pub use self::hyper::{HttpConnecting, HttpConnector};
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
pub use self::resolve::{Family, Resolve, SystemResolver};
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
pub use self::runtime::Runtime;
#[cfg(feature = "net-tokio")]
pub use self::tokio::Tokio;
