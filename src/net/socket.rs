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
