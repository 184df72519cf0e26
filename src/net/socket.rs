//! Socket options, applied through `socket2` before each attempt's connect.

use core::time::Duration;
use std::format;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{SockRef, TcpKeepalive};

/// The socket options of every attempt, set with the builder methods of
/// [`HappyEyeballs`](super::HappyEyeballs). The defaults leave every option to the OS.
///
/// Not nameable outside the crate: the builder is the interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOptions {
    pub(crate) local_v4: Option<Ipv4Addr>,
    pub(crate) local_v6: Option<Ipv6Addr>,
    pub(crate) nodelay: bool,
    pub(crate) keepalive_time: Option<Duration>,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_retries: Option<u32>,
    pub(crate) send_buffer_size: Option<usize>,
    pub(crate) recv_buffer_size: Option<usize>,
    pub(crate) reuse_address: bool,
    /// The interface to bind to (`SO_BINDTODEVICE`, or `IP_BOUND_IF` by index), where the OS
    /// has it: the systems of hyper-util's `set_interface`.
    #[cfg(any(
        target_os = "android",
        target_os = "fuchsia",
        target_os = "illumos",
        target_os = "ios",
        target_os = "linux",
        target_os = "macos",
        target_os = "solaris",
        target_os = "tvos",
        target_os = "visionos",
        target_os = "watchos",
    ))]
    pub(crate) interface: Option<std::string::String>,
    /// `SO_MARK` (Linux, Android, Fuchsia).
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    pub(crate) mark: Option<u32>,
    /// `TCP_USER_TIMEOUT` (Linux, Android, Fuchsia).
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    pub(crate) tcp_user_timeout: Option<Duration>,
}

impl SocketOptions {
    /// The local address to bind a socket connecting to `peer` to, if one was set for its
    /// family. The port is 0: the OS picks one.
    pub(crate) fn local_for(&self, peer: SocketAddr) -> Option<SocketAddr> {
        let ip = match peer {
            SocketAddr::V4(_) => self.local_v4.map(IpAddr::V4),
            SocketAddr::V6(_) => self.local_v6.map(IpAddr::V6),
        };
        ip.map(|ip| SocketAddr::new(ip, 0))
    }

    /// Sets every option on `socket` (not yet connected), and binds it to the local address
    /// of `peer`'s family if there is one. Each failure names the option.
    pub(crate) fn apply(&self, socket: SockRef<'_>, peer: SocketAddr) -> io::Result<()> {
        let named = |what: &'static str| {
            move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"))
        };
        if self.nodelay {
            socket.set_tcp_nodelay(true).map_err(named("TCP_NODELAY"))?;
        }
        if let Some(keepalive) = self.keepalive() {
            socket
                .set_tcp_keepalive(&keepalive)
                .map_err(named("TCP keepalive"))?;
        }
        if let Some(size) = self.send_buffer_size {
            socket
                .set_send_buffer_size(size)
                .map_err(named("SO_SNDBUF"))?;
        }
        if let Some(size) = self.recv_buffer_size {
            socket
                .set_recv_buffer_size(size)
                .map_err(named("SO_RCVBUF"))?;
        }
        if self.reuse_address {
            socket
                .set_reuse_address(true)
                .map_err(named("SO_REUSEADDR"))?;
        }
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        {
            if let Some(mark) = self.mark {
                socket.set_mark(mark).map_err(named("SO_MARK"))?;
            }
            if let Some(time) = self.tcp_user_timeout {
                socket
                    .set_tcp_user_timeout(Some(time))
                    .map_err(named("TCP_USER_TIMEOUT"))?;
            }
            if let Some(interface) = &self.interface {
                socket
                    .bind_device(Some(interface.as_bytes()))
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("SO_BINDTODEVICE {interface:?}: {e}"))
                    })?;
            }
        }
        #[cfg(any(
            target_os = "illumos",
            target_os = "ios",
            target_os = "macos",
            target_os = "solaris",
            target_os = "tvos",
            target_os = "visionos",
            target_os = "watchos",
        ))]
        if let Some(interface) = &self.interface {
            bind_to_interface(&socket, interface, peer)?;
        }
        if let Some(local) = self.local_for(peer) {
            socket
                .bind(&local.into())
                .map_err(|e| io::Error::new(e.kind(), format!("binding to {local}: {e}")))?;
        }
        Ok(())
    }

    /// Keepalive, if its time is set. The interval and the retry count apply where the OS has
    /// them (Linux, Android, the Apple systems, FreeBSD, NetBSD, Windows), as in hyper-util.
    fn keepalive(&self) -> Option<TcpKeepalive> {
        let time = self.keepalive_time?;
        #[allow(unused_mut)]
        let mut keepalive = TcpKeepalive::new().with_time(time);
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "windows",
        ))]
        {
            if let Some(interval) = self.keepalive_interval {
                keepalive = keepalive.with_interval(interval);
            }
            if let Some(retries) = self.keepalive_retries {
                keepalive = keepalive.with_retries(retries);
            }
        }
        Some(keepalive)
    }
}

/// Binds `socket` to the interface named `name` by its index, as hyper-util does on the systems
/// without `SO_BINDTODEVICE`.
#[cfg(any(
    target_os = "illumos",
    target_os = "ios",
    target_os = "macos",
    target_os = "solaris",
    target_os = "tvos",
    target_os = "visionos",
    target_os = "watchos",
))]
fn bind_to_interface(socket: &SockRef<'_>, name: &str, peer: SocketAddr) -> io::Result<()> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("interface {name:?}: {e}"));
    let c_name = std::ffi::CString::new(name).map_err(|_| {
        named(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a NUL in the name",
        ))
    })?;
    // SAFETY: `c_name` is a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    let index =
        core::num::NonZeroU32::new(index).ok_or_else(|| named(io::Error::last_os_error()))?;
    match peer {
        SocketAddr::V4(_) => socket.bind_device_by_index_v4(Some(index)),
        SocketAddr::V6(_) => socket.bind_device_by_index_v6(Some(index)),
    }
    .map_err(named)
}
