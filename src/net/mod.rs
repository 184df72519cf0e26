//! Happy Eyeballs v2 (RFC 8305): TCP connects that race a host's addresses, built on
//! [`staggered_race`](crate::staggered_race).
//!
//! A host often has several addresses, IPv6 and IPv4, and some of them may hang: a route that
//! drops packets makes `connect` wait for the OS's timeout, which is minutes on Linux. Trying
//! them one by one, as `TcpStream::connect` does, pays that wait in full. Happy Eyeballs starts
//! the first attempt, and if it has not connected within a short delay (250 ms), starts the
//! next beside it, and so on; the first connection wins and the others are closed.
//!
//! - [`HappyEyeballs`]: the builder. [`connect`][HappyEyeballs::connect] takes addresses,
//!   [`connect_host`][HappyEyeballs::connect_host] takes `"host:port"` and resolves it without
//!   blocking the executor. Socket options (`TCP_NODELAY`, keepalive, buffer sizes, a local
//!   address per family) are set through `socket2` on every attempt.
//! - [`Resolve`]: the resolver seam, one lookup per address family; [`SystemResolver`]
//!   (`getaddrinfo`, off the executor) is the default, and [`HickoryResolver`] (feature
//!   `net-hickory`) sends real, separate AAAA and A queries with `hickory-resolver`.
//! - [`HttpConnector`] (feature `net-hyper`): a connector for hyper-util's legacy client,
//!   with hyper-util's setters and a comparison with hyper-util's own.
//! - [`HttpsConnector`] (feature `net-tls`): HTTPS for hyper-util's legacy client with Happy
//!   Eyeballs v3: HTTPS records ([`HttpsRecord`], [`Resolve::lookup_https`]), per-endpoint
//!   ALPN and ECH, and the TLS handshake inside each attempt.
//! - [`ReqwestResolver`] (feature `net-reqwest`): reqwest takes no custom connector; it
//!   takes a resolver, and this one answers at RFC 8305 §3's first useful answer.
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
//! - **Resolution (§3).** [`connect_host`][HappyEyeballs::connect_host] sends the AAAA and
//!   A lookups separately and at once ([`Resolve`]: one future per family) and starts on the
//!   first useful answer: an AAAA answer starts the race at once; an A answer that comes
//!   first waits up to the Resolution Delay (50 ms) for AAAA; addresses that arrive later
//!   join the race in their interleaved place. A family that fails, or does not answer
//!   within the resolve timeout (10 s), is left out; if neither gives an address, one error
//!   names both lookups. Each answer and the Resolution Delay are reported as
//!   [`ConnectEvent`]s as they happen.
//! - **Address selection (RFC 6724).** Within a family the order is the resolver's. With the
//!   [`SystemResolver`] that is `getaddrinfo`'s, which on glibc and musl sorts by RFC 6724
//!   (RFC 3484 on old glibc), with the source address rules only the platform knows and its
//!   policy table (`/etc/gai.conf` on glibc); other systems order as their `getaddrinfo`
//!   does. [`HickoryResolver`] sorts each DNS answer itself: rules 1, 2, 5, 6, 8, 9 (IPv6)
//!   and 10, with the OS's source address for each destination and the default policy
//!   table; not rules 3, 4 and 7, which need what the platform does not tell portably.
//!   Across families, IPv6 goes first
//!   (rule 6: the default policy table ranks IPv6 above IPv4) unless the OS has no route to
//!   the first IPv6 address (rule 1: unusable destination; asked by connecting a UDP socket,
//!   which sends nothing). Not applied across families: rules 2 to 5, 7 to 9 (scope, deprecated
//!   and home addresses, labels, native transport, longest prefix), which need source
//!   addresses per destination; a resolver of your own can order its answers as it likes.
//!
//! # Features and `no_std`
//!
//! The interleaving needs only `alloc`, so this module exists whenever the race does, and
//! stacks without `std` (smoltcp, embassy-net) can order their own address types with
//! [`interleave`]. The connects need a runtime: feature `net-tokio` adds [`Tokio`] and
//! `net-async-io` adds [`AsyncIo`]; each implies `std`. `net-hyper` adds [`HttpConnector`]
//! (implies `net-tokio`; brings `hyper-util`, `tower-service` and `http`), and `net-hickory`
//! adds [`HickoryResolver`] (implies `net-tokio`; brings `hickory-resolver`, which needs
//! Rust 1.88), and `net-reqwest` adds [`ReqwestResolver`] (implies `net-tokio`; brings
//! `reqwest` without its default features; reqwest 0.13 needs Rust 1.85); `net-tls` adds
//! [`HttpsConnector`] (implies `net-hickory` and `net-hyper`; brings `rustls`, without a
//! crypto provider, and `tokio-rustls`).
//!
//! # Example
//!
//! On tokio (feature `net-tokio`), to a listener of the example's own, after a port that
//! refuses:
//!
//! ```
//! # #[cfg(feature = "net-tokio")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let good = listener.local_addr()?;
//! let refusing = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?; // bound, not listening
//!
//! let stream = staggered::net::tokio::connect([refusing, good]).await?;
//! assert_eq!(stream.peer_addr()?, good);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
// A build without a feature has no page for its items: their links lead to the crate's
// features table, which names the feature.
#![cfg_attr(
    not(any(feature = "net-tokio", feature = "net-async-io")),
    doc = "",
    doc = "[`HappyEyeballs`]: crate#features",
    doc = "[HappyEyeballs::connect]: crate#features",
    doc = "[HappyEyeballs::connect_host]: crate#features",
    doc = "[`HappyEyeballs::resolve`]: crate#features",
    doc = "[`Resolve`]: crate#features",
    doc = "[`SystemResolver`]: crate#features",
    doc = "[`ConnectError`]: crate#features",
    doc = "[`ConnectEvent`]: crate#features"
)]
#![cfg_attr(
    not(feature = "net-tokio"),
    doc = "",
    doc = "[`Tokio`]: crate#features",
    doc = "[`tokio::connect`]: crate#features",
    doc = "[`tokio::connect_host`]: crate#features"
)]
#![cfg_attr(
    not(feature = "net-async-io"),
    doc = "",
    doc = "[`AsyncIo`]: crate#features",
    doc = "[`async_io::connect`]: crate#features",
    doc = "[`async_io::connect_host`]: crate#features"
)]
#![cfg_attr(
    not(feature = "net-hyper"),
    doc = "",
    doc = "[`HttpConnector`]: crate#features"
)]
#![cfg_attr(
    not(feature = "net-hickory"),
    doc = "",
    doc = "[`HickoryResolver`]: crate#features"
)]
#![cfg_attr(
    not(feature = "net-tls"),
    doc = "",
    doc = "[`HttpsConnector`]: crate#features"
)]
#![cfg_attr(
    not(any(feature = "net-tokio", feature = "net-async-io")),
    doc = "",
    doc = "[`HttpsRecord`]: crate#features",
    doc = "[`Resolve::lookup_https`]: crate#features"
)]
#![cfg_attr(
    not(feature = "net-reqwest"),
    doc = "",
    doc = "[`ReqwestResolver`]: crate#features"
)]

mod interleave;

pub use self::interleave::{interleave, interleave_by_family, Interleave};

// RFC 6724 for DNS answers (the hickory resolver), and rule 1 across families (resolution):
// without `net-hickory`, only the latter is used.
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
#[cfg_attr(not(feature = "net-hickory"), allow(dead_code))]
mod address_selection;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod error;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod event;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod happy_eyeballs;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod resolution;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod resolve;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod runtime;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod socket;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
mod svcb;

#[cfg(feature = "net-async-io")]
pub mod async_io;
#[cfg(feature = "net-tls")]
mod endpoints;
#[cfg(feature = "net-hickory")]
mod hickory;
#[cfg(feature = "net-hyper")]
mod hyper;
#[cfg(feature = "net-reqwest")]
mod reqwest;
#[cfg(feature = "net-tls")]
mod tls;
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
    HappyEyeballs, DEFAULT_ATTEMPT_DELAY, DEFAULT_RESOLUTION_DELAY, DEFAULT_RESOLVE_TIMEOUT,
    MIN_ATTEMPT_DELAY,
};
#[cfg(feature = "net-hickory")]
pub use self::hickory::HickoryResolver;
#[cfg(feature = "net-hyper")]
pub use self::hyper::{HttpConnecting, HttpConnector};
#[cfg(feature = "net-reqwest")]
pub use self::reqwest::ReqwestResolver;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
pub use self::resolve::{Family, Resolve, SystemResolver};
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
pub use self::runtime::Runtime;
#[cfg(any(feature = "net-tokio", feature = "net-async-io"))]
pub use self::svcb::HttpsRecord;
#[cfg(feature = "net-tls")]
pub use self::tls::{HttpsConnecting, HttpsConnector, HttpsInfo, HttpsStream, MAX_ATTEMPT_DELAY};
#[cfg(feature = "net-tokio")]
pub use self::tokio::Tokio;
