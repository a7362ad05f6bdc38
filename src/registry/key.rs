//! Addresses: [`ListenKey`], what `listen` was asked for in comparable form
//! (matched against what a socket is bound to; an entry keeps the one it was
//! last claimed for), and [`AddrShown`] for messages.

use alloc::vec::Vec;
use core::fmt;

use crate::error::Result;
use crate::proto::addr::{Address, Ip, Shown, Transport};
use crate::proto::ip::{Ipv4Shown, Ipv6Shown};
use super::fd_kind::FdKind;
use crate::sys::socket::SockAddr;

/// An address `listen` was asked for, in comparable form.
#[derive(Clone)]
pub(crate) enum ListenKey {
    Inet { udp: bool, addr: SockAddr, v6only: bool },
    Unix(Vec<u8>),
    Abstract(Vec<u8>),
}

impl ListenKey {
    pub(crate) fn from_address(a: &Address<'_>) -> Result<ListenKey> {
        Ok(match *a {
            Address::Inet { transport, ip, port, v6only } => {
                let addr = match ip {
                    Ip::V4(b) => SockAddr::v4(b, port),
                    Ip::V6(b, scope) => SockAddr::v6(b, port, scope),
                };
                ListenKey::Inet { udp: transport == Transport::Udp, addr, v6only }
            }
            Address::Unix(p) => ListenKey::Unix(p.to_vec()),
            Address::UnixAbstract(n) => ListenKey::Abstract(n.to_vec()),
        })
    }

    pub(crate) fn same(&self, o: &ListenKey) -> bool {
        match (self, o) {
            (ListenKey::Inet { udp: u1, addr: a1, v6only: v1 }, ListenKey::Inet { udp: u2, addr: a2, v6only: v2 }) => {
                u1 == u2 && v1 == v2 && a1.same(a2)
            }
            (ListenKey::Unix(a), ListenKey::Unix(b)) | (ListenKey::Abstract(a), ListenKey::Abstract(b)) => a == b,
            _ => false,
        }
    }

    /// The kind of socket this address needs.
    pub(crate) fn wants(&self) -> FdKind {
        match self {
            ListenKey::Inet { udp: true, .. } => FdKind::Udp,
            ListenKey::Inet { udp: false, .. } => FdKind::TcpListener,
            _ => FdKind::UnixListener,
        }
    }

    /// Whether a socket bound to `b` is bound where this address says.
    pub(crate) fn matches_bound(&self, b: &SockAddr) -> bool {
        match self {
            ListenKey::Inet { addr, .. } => {
                if self.is_port_zero() {
                    return false;
                }
                // `:port` (dual-stack wildcard) also accepts an IPv4 wildcard socket.
                b.same(addr) || (self.is_dual_wildcard() && b.ip_v4() == Some([0; 4]) && b.port() == addr.port())
            }
            ListenKey::Unix(p) => b.family() == libc::AF_UNIX && b.unix_path() == Some(p.as_slice()),
            ListenKey::Abstract(n) => b.family() == libc::AF_UNIX && b.unix_path().and_then(|p| p.strip_prefix(&[0u8])) == Some(n.as_slice()),
        }
    }

    pub(crate) fn is_port_zero(&self) -> bool {
        matches!(self, ListenKey::Inet { addr, .. } if addr.port() == Some(0))
    }

    pub(crate) fn is_dual_wildcard(&self) -> bool {
        matches!(self, ListenKey::Inet { addr, v6only: false, .. } if addr.ip_v6().map(|(ip, _)| ip) == Some([0; 16]))
    }
}

impl fmt::Display for ListenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenKey::Inet { udp, addr, v6only } => {
                write!(f, "{} {}", if *udp { "udp" } else { "tcp" }, AddrShown(addr))?;
                if *v6only {
                    f.write_str(" (IPv6 only)")?;
                }
                Ok(())
            }
            ListenKey::Unix(p) => write!(f, "unix:{}", Shown(p)),
            ListenKey::Abstract(n) => write!(f, "unix:@{}", Shown(n)),
        }
    }
}

/// Shows a socket address: `127.0.0.1:80`, `[::1]:80`, `unix:"/path"`, `unix:@"name"`.
pub struct AddrShown<'a>(pub &'a SockAddr);

impl fmt::Display for AddrShown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        // As u32: one integer Display less in every program (u16's is 0.2 KB).
        let port = u32::from(a.port().unwrap_or(0));
        if let Some(ip) = a.ip_v4() {
            write!(f, "{}:{}", Ipv4Shown(ip), port)
        } else if let Some((ip, scope)) = a.ip_v6() {
            write!(f, "[{}", Ipv6Shown(ip))?;
            if scope != 0 {
                write!(f, "%{}", scope)?;
            }
            write!(f, "]:{}", port)
        } else if let Some(p) = a.unix_path() {
            match p.strip_prefix(&[0u8]) {
                Some(n) => write!(f, "unix:@{}", Shown(n)),
                None if p.is_empty() => f.write_str("unix (unbound)"),
                None => write!(f, "unix:{}", Shown(p)),
            }
        } else {
            write!(f, "(address family {})", a.family())
        }
    }
}
