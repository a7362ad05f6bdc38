//! What kind of fd an entry holds ([`FdKind`]), read from the fd itself by
//! [`classify`].

use crate::sys::fd::RawFd;
use crate::sys::socket;

/// What kind of fd an entry holds (the C ABI's `GRACEFD_KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    /// A listening TCP socket (IPv4 or IPv6).
    TcpListener = 1,
    /// A listening unix stream socket (path or abstract).
    UnixListener = 2,
    /// A UDP socket (IPv4 or IPv6).
    Udp = 3,
    /// Any other socket: a connected stream, a unix datagram socket, a stream
    /// socket that is not listening, netlink…
    Socket = 4,
    /// Not a socket: a regular file, a memfd, a pipe, a device.
    File = 5,
}

impl FdKind {
    /// The `GRACEFD_KIND_*` value.
    pub(crate) fn code(self) -> i32 {
        self as i32
    }

    /// Words for messages: "a TCP listener".
    pub(crate) fn describe(self) -> &'static str {
        match self {
            FdKind::TcpListener => "a listening TCP socket",
            FdKind::UnixListener => "a listening unix stream socket",
            FdKind::Udp => "a UDP socket",
            FdKind::Socket => "a socket that is not a TCP/unix listener or a UDP socket",
            FdKind::File => "not a socket",
        }
    }
}

/// What kind of fd `raw` is: the socket's domain and type, then only what
/// that kind needs (`SO_ACCEPTCONN` for a stream socket, `SO_PROTOCOL` for an
/// internet one). `ENOTSOCK` from the first `getsockopt` means it is not a
/// socket: that is the whole test for a file, one syscall, as `fstat` was
/// (a hand-off of 10,000 fds classifies each of them: every syscall saved
/// here is 10,000 saved there). `EBADF` if it is not open.
pub(crate) fn classify(raw: RawFd) -> crate::sys::SysResult<FdKind> {
    let domain = match socket::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_DOMAIN) {
        Ok(d) => d,
        Err(crate::sys::Errno(libc::ENOTSOCK)) => return Ok(FdKind::File),
        Err(e) => return Err(e),
    };
    let ty = socket::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_TYPE)?;
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    let protocol = || socket::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_PROTOCOL);
    Ok(match ty {
        libc::SOCK_STREAM if inet || domain == libc::AF_UNIX => {
            if socket::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? == 0 {
                FdKind::Socket
            } else if domain == libc::AF_UNIX {
                FdKind::UnixListener
            } else if protocol()? == libc::IPPROTO_TCP {
                FdKind::TcpListener
            } else {
                FdKind::Socket
            }
        }
        libc::SOCK_DGRAM if inet && protocol()? == libc::IPPROTO_UDP => FdKind::Udp,
        _ => FdKind::Socket,
    })
}
