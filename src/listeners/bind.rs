//! New sockets: TCP and UDP (with the dual-stack fallback to IPv4) and
//! abstract unix sockets; unix paths are in `unix_path.rs`.

use core::fmt;

use super::unix_path::bind_unix_path;
use super::{AddrShown, ListenKey, ListenOptions};
use crate::error::{Error, Result};
use crate::proto::addr::Shown;
use crate::registry::Registry;
use crate::sys::fd::{self, Fd};
use crate::sys::socket::{self, SockAddr};
use crate::sys::Errno;
use crate::{err, log};

pub(super) fn sys_err(errno: Errno, args: fmt::Arguments<'_>) -> Error {
    Error::new(errno, format_args!("{}: {}", args, errno))
}

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

/// Run the caller's pre-bind hook (if any) on a new socket; `what` names
/// the address for the error.
pub(super) fn run_pre_bind(s: &Fd, opts: &ListenOptions, what: fmt::Arguments<'_>) -> Result<()> {
    let Some(h) = opts.pre_bind else {
        return Ok(());
    };
    // SAFETY: whoever set the hook promised that `func` may be called with
    // `data` for the duration of the listen call, which this is; the fd is
    // open and stays ours.
    let r = unsafe { (h.func)(s.raw(), h.data as *mut core::ffi::c_void) };
    match r {
        0 => Ok(()),
        r if r < 0 && r > -4096 => Err(Error::new(Errno(-r), format_args!("the pre-bind hook refused {}: {}", what, Errno(-r)))),
        r => Err(err!(ECANCELED, "the pre-bind hook refused {} (it returned {}, not a negative errno)", what, r)),
    }
}

pub(super) fn apply_nonblocking(s: &Fd, opts: &ListenOptions) -> Result<()> {
    if let Some(nb) = opts.nonblocking {
        fd::set_nonblocking(s.raw(), nb).map_err(|e| Error::sys(e, "setting O_NONBLOCK"))?;
    }
    Ok(())
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
