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
        let listener = Socket::new(
            Domain::for_address(SocketAddr::new(ip, 0)),
            Type::STREAM,
            None,
        )?;
        listener.bind(&SocketAddr::new(ip, 0).into())?;
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

/// A port that refuses: bound (so nobody else takes it), not listening.
pub struct Refusing {
    /// The refusing address.
    pub addr: SocketAddr,
    _socket: Socket,
}

impl Refusing {
    /// A refusing port on `ip`.
    pub fn new(ip: IpAddr) -> io::Result<Refusing> {
        let socket = Socket::new(
            Domain::for_address(SocketAddr::new(ip, 0)),
            Type::STREAM,
            None,
        )?;
        socket.bind(&SocketAddr::new(ip, 0).into())?;
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
