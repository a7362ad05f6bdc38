//! New sockets: TCP and UDP (with the dual-stack fallback to IPv4) and
//! abstract unix sockets; unix paths are in `unix_path.rs`.

use super::unix_path::bind_unix_path;
use super::new_socket::{apply_nonblocking, run_pre_bind, sys_err};
use super::options::ListenOptions;
use crate::registry::{AddrShown, ListenKey};
use crate::error::Result;
use crate::proto::addr::Shown;
use crate::registry::Registry;
use crate::sys::fd::Fd;
use crate::sys::socket::{self, SockAddr};
use crate::{err, log};

pub(super) fn bind_new(reg: &mut Registry, key: &ListenKey, opts: &ListenOptions) -> Result<Fd> {
    match key {
        ListenKey::Inet { udp, addr, v6only } => {
            let r = bind_inet(*udp, addr, *v6only, opts);
            match r {
                Err(e) if key.is_dual_wildcard() && (e.errno.0 == libc::EAFNOSUPPORT || e.errno.0 == libc::EADDRNOTAVAIL) => {
                    let v4 = SockAddr::v4([0; 4], addr.port().unwrap_or(0));
                    reg.log(log::NOTICE, format_args!("{}: IPv6 is unavailable ({}); binding {} instead", key, e.message(), AddrShown(&v4)));
                    bind_inet(*udp, &v4, false, opts)
                }
                r => r,
            }
        }
        ListenKey::Unix(path) => bind_unix_path(reg, path, opts),
        ListenKey::Abstract(name) => {
            let sa = SockAddr::unix(name, true).map_err(|e| sys_err(e, format_args!("unix:@{}", Shown(name))))?;
            let s = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).map_err(|e| sys_err(e, format_args!("socket")))?;
            run_pre_bind(&s, opts, format_args!("unix:@{}", Shown(name)))?;
            socket::bind(s.raw(), &sa).map_err(|e| match e.0 {
                libc::EADDRINUSE => err!(EADDRINUSE, "abstract unix socket @{} is in use", Shown(name)),
                _ => sys_err(e, format_args!("bind unix:@{}", Shown(name))),
            })?;
            socket::listen(s.raw(), opts.backlog).map_err(|e| sys_err(e, format_args!("listen unix:@{}", Shown(name))))?;
            apply_nonblocking(&s, opts)?;
            Ok(s)
        }
    }
}

fn bind_inet(udp: bool, sa: &SockAddr, v6only: bool, opts: &ListenOptions) -> Result<Fd> {
    let proto = if udp { "udp" } else { "tcp" };
    let shown = AddrShown(sa);
    let ty = if udp { libc::SOCK_DGRAM } else { libc::SOCK_STREAM };
    let s = socket::socket(sa.family(), ty, 0).map_err(|e| sys_err(e, format_args!("socket for {} {}", proto, shown)))?;
    if sa.family() == libc::AF_INET6 {
        socket::setsockopt_int(s.raw(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, i32::from(v6only))
            .map_err(|e| sys_err(e, format_args!("IPV6_V6ONLY on {} {}", proto, shown)))?;
    }
    if !udp {
        socket::setsockopt_int(s.raw(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)
            .map_err(|e| sys_err(e, format_args!("SO_REUSEADDR on {} {}", proto, shown)))?;
    }
    run_pre_bind(&s, opts, format_args!("{} {}", proto, shown))?;
    socket::bind(s.raw(), sa).map_err(|e| sys_err(e, format_args!("bind {} {}", proto, shown)))?;
    if !udp {
        socket::listen(s.raw(), opts.backlog).map_err(|e| sys_err(e, format_args!("listen {} {}", proto, shown)))?;
    }
    apply_nonblocking(&s, opts)?;
    Ok(s)
}
