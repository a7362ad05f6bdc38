//! New sockets: TCP and UDP (with the dual-stack fallback to IPv4) and
//! abstract unix sockets; unix paths are in `unix_path.rs`.

use super::new_socket::{apply_nonblocking, call, failed, run_pre_bind, At, Failed, Step};
use super::options::ListenOptions;
use super::unix_path::bind_unix_path;
use crate::error::Result;
use crate::proto::addr::Shown;
use crate::registry::{AddrShown, ListenKey, Registry};
use crate::sys::fd::Fd;
use crate::sys::socket::{self, SockAddr};
use crate::sys::Errno;
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
        ListenKey::Abstract(name) => bind_abstract(name, opts).map_err(|f| match f {
            Failed::Call(Errno(libc::EADDRINUSE), "bind unix:@") => err!(EADDRINUSE, "abstract unix socket @{} is in use", Shown(name)),
            f => failed(f, At::Path(name)),
        }),
    }
}

fn bind_abstract(name: &[u8], opts: &ListenOptions) -> Step<Fd> {
    let sa = call(SockAddr::unix(name, true), "unix:@")?;
    let s = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).map_err(|e| Failed::Bare(e, "socket"))?;
    run_pre_bind(&s, opts, "unix:@")?;
    call(socket::bind(s.raw(), &sa), "bind unix:@")?;
    call(socket::listen(s.raw(), opts.backlog), "listen unix:@")?;
    apply_nonblocking(&s, opts)?;
    Ok(s)
}

fn bind_inet(udp: bool, sa: &SockAddr, v6only: bool, opts: &ListenOptions) -> Result<Fd> {
    inet_steps(udp, sa, v6only, opts).map_err(|f| failed(f, At::Inet(udp, sa)))
}

fn inet_steps(udp: bool, sa: &SockAddr, v6only: bool, opts: &ListenOptions) -> Step<Fd> {
    let ty = if udp { libc::SOCK_DGRAM } else { libc::SOCK_STREAM };
    let s = call(socket::socket(sa.family(), ty, 0), "socket for ")?;
    if sa.family() == libc::AF_INET6 {
        call(socket::setsockopt_int(s.raw(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, i32::from(v6only)), "IPV6_V6ONLY on ")?;
    }
    if !udp {
        call(socket::setsockopt_int(s.raw(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1), "SO_REUSEADDR on ")?;
    }
    run_pre_bind(&s, opts, "")?;
    call(socket::bind(s.raw(), sa), "bind ")?;
    if !udp {
        call(socket::listen(s.raw(), opts.backlog), "listen ")?;
    }
    apply_nonblocking(&s, opts)?;
    Ok(s)
}
