//! Loopback endpoints that misbehave on purpose, shared by the net tests, the connect bench
//! and the demo: a black hole (connects hang) and a refusing port (connects fail at once).
//!
//! A black hole is a listener with backlog 0 whose accept queue is filled and never drained,
//! so the kernel drops every further SYN and a connect to it waits for the OS's timeout
//! (minutes). [`BlackHole::new`] checks that this holds on the machine.

#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// A listener whose accept queue is full: connects to it hang.
pub struct BlackHole {
    /// Where it listens.
    pub addr: SocketAddr,
    _listener: Socket,
    _queued: Vec<TcpStream>,
}

impl BlackHole {
    /// A black hole on `ip` (a loopback address), port chosen by the OS. Fails if the
    /// machine does not drop SYNs to a full accept queue.
    pub fn new(ip: IpAddr) -> io::Result<BlackHole> {
        Self::at(SocketAddr::new(ip, 0))
    }

    /// A black hole at `addr` (port 0: chosen by the OS).
    pub fn at(addr: SocketAddr) -> io::Result<BlackHole> {
        let listener = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        listener.bind(&addr.into())?;
        listener.listen(0)?;
        let addr = listener
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))?;
        // Fill the accept queue until a connect no longer completes.
        let mut queued = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(stream) => queued.push(stream),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("filling the black hole's accept queue at {addr}: {e}"),
                    ))
                }
            }
            if queued.len() >= 64 {
                return Err(io::Error::other(format!(
                    "the accept queue of {addr} never fills up"
                )));
            }
        }
        if queued.is_empty() {
            return Err(io::Error::other(format!(
                "{addr} accepted no connection at all"
            )));
        }
        Ok(BlackHole {
            addr,
            _listener: listener,
            _queued: queued,
        })
    }
}

/// What to put at an address of [`on_one_port`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A listener: connects complete at once (in the kernel; nobody accepts).
    Good,
    /// A [`BlackHole`].
    BlackHole,
    /// A [`Refusing`] port.
    Refusing,
}

/// Endpoints at each of `ips`, all on one port number, as a DNS answer gives them (a name's
/// addresses share the port of `host:port`). Returns the port and what keeps them open. The
/// port is one the OS just gave out on the first address; it is tried on the others, and
/// another is picked if one of them has it taken.
pub fn on_one_port(
    endpoints: &[(IpAddr, Endpoint)],
) -> io::Result<(u16, Vec<Box<dyn std::any::Any>>)> {
    let mut last = None;
    for _ in 0..20 {
        let first = endpoints
            .first()
            .map_or(IpAddr::from([127, 0, 0, 1]), |e| e.0);
        let port = std::net::TcpListener::bind(SocketAddr::new(first, 0))?
            .local_addr()?
            .port();
        let made: io::Result<Vec<Box<dyn std::any::Any>>> = endpoints
            .iter()
            .map(|&(ip, what)| -> io::Result<Box<dyn std::any::Any>> {
                let addr = SocketAddr::new(ip, port);
                Ok(match what {
                    Endpoint::Good => Box::new(std::net::TcpListener::bind(addr)?),
                    Endpoint::BlackHole => Box::new(BlackHole::at(addr)?),
                    Endpoint::Refusing => Box::new(Refusing::at(addr)?),
                })
            })
            .collect();
        match made {
            Ok(keep) => return Ok((port, keep)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port free on every address")))
}

/// A port that refuses: bound (so nobody else takes it), not listening.
pub struct Refusing {
    /// The refusing address.
    pub addr: SocketAddr,
    _socket: Socket,
}

impl Refusing {
    /// A refusing port on `ip`.
    pub fn new(ip: IpAddr) -> io::Result<Refusing> {
        Self::at(SocketAddr::new(ip, 0))
    }

    /// A refusing port at `addr` (port 0: chosen by the OS).
    pub fn at(addr: SocketAddr) -> io::Result<Refusing> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.bind(&addr.into())?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))?;
        Ok(Refusing {
            addr,
            _socket: socket,
        })
    }
}

/// Listeners at each of `ips`, all on one port number, that accept every connection and
/// close it at once, on the current tokio runtime: endpoints that stay good under thousands
/// of connects (a plain [`Endpoint::Good`] listener is never accepted from, so its accept
/// queue fills up and it turns into a black hole). Returns the port and the accept tasks,
/// which end when the set is dropped (closing the listeners).
pub async fn accepting_on_one_port(ips: &[IpAddr]) -> io::Result<(u16, tokio::task::JoinSet<()>)> {
    let mut last = None;
    'port: for _ in 0..20 {
        let first = ips.first().copied().unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let port = std::net::TcpListener::bind(SocketAddr::new(first, 0))?
            .local_addr()?
            .port();
        let mut listeners = Vec::new();
        for &ip in ips {
            match tokio::net::TcpListener::bind(SocketAddr::new(ip, port)).await {
                Ok(listener) => listeners.push(listener),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    last = Some(e);
                    continue 'port;
                }
                Err(e) => return Err(e),
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for listener in listeners {
            tasks.spawn(async move {
                loop {
                    if let Ok((stream, _)) = listener.accept().await {
                        drop(stream);
                    }
                }
            });
        }
        return Ok((port, tasks));
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port free on every address")))
}

/// The number of this machine's TCP sockets in SYN_SENT towards `addr`: the attempts still
/// trying to connect to it. `None` where `/proc/net/tcp` is not there to read.
///
/// The table prints an address as its 32-bit words in hex, each in host byte order, then the
/// port; both are compared (a port alone would also count a socket connecting to the same
/// port on the other family's loopback, from a test running beside this one).
pub fn connecting_to(addr: SocketAddr) -> Option<usize> {
    let (table, octets) = match addr.ip() {
        IpAddr::V4(ip) => ("/proc/net/tcp", ip.octets().to_vec()),
        IpAddr::V6(ip) => ("/proc/net/tcp6", ip.octets().to_vec()),
    };
    let want: String = octets
        .chunks(4)
        .map(|word| format!("{:08X}", u32::from_ne_bytes(word.try_into().unwrap())))
        .collect();
    let want = format!("{want}:{:04X}", addr.port());
    // The kernel writes the table a page at a time and walks it again for each page, so a socket
    // made or closed by another test during the read can shift it: one socket listed twice (the
    // same inode), or one skipped. Count distinct inodes, and take two reads in a row that agree.
    let count = || -> Option<usize> {
        let text = std::fs::read_to_string(table).ok()?;
        let inodes: std::collections::BTreeSet<&str> = text
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().collect::<Vec<&str>>())
            .filter(|fields| fields[2] == want && fields[3] == "02")
            .map(|fields| fields[9])
            .collect();
        Some(inodes.len())
    };
    let mut last = count()?;
    for _ in 0..50 {
        let now = count()?;
        if now == last {
            return Some(now);
        }
        last = now;
    }
    panic!("{table} changed on every read");
}
