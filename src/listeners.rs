//! Listening sockets, by name: the inherited one if there is one, else a new
//! one, bound and listening; either way registered, so an upgrade hands it down.
//!
//! [`listen`]`(name, address, options)` returns a new CLOEXEC fd owned by the
//! caller (a duplicate; the registry keeps its own). The socket is chosen so:
//!
//! 1. **By name.** An entry of that name (inherited, registered with
//!    [`crate::registry::add`], or bound by an earlier `listen`):
//!    - one already claimed by `listen` for this same address: the same
//!      socket again (so a configuration reload can rebuild its servers
//!      without ever closing a listener);
//!    - else one not yet claimed by `listen` whose kind fits the address
//!      (TCP listener for a TCP address, unix listener for a unix one, UDP
//!      socket for `udp://`), preferring one bound to that very address.
//!      **The name decides**: an inherited socket is used even when it is
//!      bound elsewhere than `address` (the service manager chose its
//!      address; `address` is what to bind when nothing is inherited); a
//!      notice is logged;
//!    - a kind that does not fit: `EPROTOTYPE` (`ENOTSOCK` for a non-socket),
//!      naming the fd and the variable that announced it: never the wrong
//!      socket. [`crate::registry::forget`] the name to bind afresh instead;
//!    - every entry of that name already claimed for another address:
//!      `EEXIST`, naming both addresses (forget the name to move it).
//! 2. **Unnamed, by address.** No entry has the name: an entry without a name
//!    (`unknown`: systemd's unnamed fds, every Server::Starter fd, earlier
//!    unnamed `listen`s) claimed for this address, or bound to it (compared
//!    with `getsockname`), is used and takes the name. With no name
//!    (`name` None or `unknown`), any entry claimed for this address or not
//!    yet claimed and bound to it. `:port` (all interfaces, dual-stack) also
//!    matches an inherited socket bound to `0.0.0.0:port`. Port 0 never
//!    matches a bound socket (it asks for a new port).
//! 3. **Otherwise a new socket**, registered under the name (`unknown` if
//!    none):
//!    - TCP: `SO_REUSEADDR`; for IPv6, `IPV6_V6ONLY` set exactly as the
//!      address says (`tcp6://` on, everything else off, whatever the
//!      system default). `:port` binds `[::]:port` dual-stack, and falls back
//!      to `0.0.0.0:port` when IPv6 is unavailable (`EAFNOSUPPORT` from
//!      `socket`, or `EADDRNOTAVAIL` from `bind` when IPv6 is disabled).
//!    - UDP (`udp://`…): bound, not listening, no `SO_REUSEADDR` (on Linux it
//!      would let a second process silently share the port).
//!    - unix path: an existing path is replaced only when it is a socket that
//!      nobody listens on (a non-blocking connect is refused); a live socket
//!      gives `EADDRINUSE`, anything that is not a socket (regular file,
//!      directory, symbolic link…) `EEXIST`. With a mode, the socket is
//!      created with that mode less the umask (fchmod before bind, so it is
//!      never more open than asked) and then chmod'ed to exactly that mode.
//!    - unix abstract (`unix:@name`): in use gives `EADDRINUSE`.
//!
//! **Blocking mode.** `O_NONBLOCK` belongs to the open file description,
//! shared by every duplicate and every process holding the socket. With
//! [`ListenOptions::nonblocking`] `None` (the default), new sockets are
//! blocking and inherited or already registered sockets are returned in
//! whatever mode they have: nothing is changed. `Some(true)`/`Some(false)`
//! sets/clears `O_NONBLOCK` on the returned socket, new or not — for a
//! shared socket that is the caller's explicit decision for every holder.
//! The backlog and the unix mode apply only to sockets this call creates.

use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Msg, Result};
use crate::proto::addr::{self, Address, Ip, Shown, Transport};
use crate::proto::listen_env::UNKNOWN;
use crate::registry::{self, Entry, Kind, Registry, Source};
use crate::sys::fd::{self, Fd};
use crate::sys::socket::{self, SockAddr};
use crate::sys::{fs, Errno};
use crate::{err, log};

/// The default backlog: the system's maximum (the kernel caps it at
/// `net.core.somaxconn`).
pub const DEFAULT_BACKLOG: i32 = libc::SOMAXCONN;

/// Options of [`listen`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenOptions {
    /// `listen(2)` backlog for new stream sockets (at least 1).
    pub backlog: i32,
    /// Mode of a new unix socket file (at most `0o777`); None: as the umask gives.
    pub unix_mode: Option<u32>,
    /// Set (`Some(true)`) or clear (`Some(false)`) `O_NONBLOCK` on the returned
    /// socket; None: new sockets blocking, others untouched.
    pub nonblocking: Option<bool>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions { backlog: DEFAULT_BACKLOG, unix_mode: None, nonblocking: None }
    }
}

impl ListenOptions {
    /// Set the backlog; `EINVAL` below 1.
    pub fn set_backlog(&mut self, backlog: i32) -> Result<()> {
        let o = ListenOptions { backlog, ..*self };
        o.validate()?;
        *self = o;
        Ok(())
    }

    /// Set the unix socket file mode; `EINVAL` for bits outside `0o777`.
    pub fn set_unix_mode(&mut self, mode: u32) -> Result<()> {
        let o = ListenOptions { unix_mode: Some(mode), ..*self };
        o.validate()?;
        *self = o;
        Ok(())
    }

    /// `EINVAL` for a backlog below 1 or a mode with bits above `0o777`.
    pub fn validate(&self) -> Result<()> {
        if self.backlog < 1 {
            return Err(err!(EINVAL, "backlog {} is below 1", self.backlog));
        }
        if let Some(m) = self.unix_mode {
            if m & !0o777 != 0 {
                return Err(err!(EINVAL, "unix socket mode {:#o} has bits outside 0777", m));
            }
        }
        Ok(())
    }
}

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

    fn same(&self, o: &ListenKey) -> bool {
        match (self, o) {
            (ListenKey::Inet { udp: u1, addr: a1, v6only: v1 }, ListenKey::Inet { udp: u2, addr: a2, v6only: v2 }) => {
                u1 == u2 && v1 == v2 && a1.same(a2)
            }
            (ListenKey::Unix(a), ListenKey::Unix(b)) | (ListenKey::Abstract(a), ListenKey::Abstract(b)) => a == b,
            _ => false,
        }
    }

    /// The kind of socket this address needs.
    pub(crate) fn wants(&self) -> Kind {
        match self {
            ListenKey::Inet { udp: true, .. } => Kind::Udp,
            ListenKey::Inet { udp: false, .. } => Kind::TcpListener,
            _ => Kind::UnixListener,
        }
    }

    /// Whether a socket bound to `b` is bound where this address says.
    fn matches_bound(&self, b: &SockAddr) -> bool {
        match self {
            ListenKey::Inet { addr, v6only, .. } => {
                if addr.port() == Some(0) {
                    return false;
                }
                if b.same(addr) {
                    return true;
                }
                // `:port` (dual-stack wildcard) also accepts an IPv4 wildcard socket.
                let dual_wildcard = !*v6only && addr.ip_v6().map(|(ip, _)| ip) == Some([0; 16]);
                dual_wildcard && b.ip_v4() == Some([0; 4]) && b.port() == addr.port()
            }
            ListenKey::Unix(p) => b.family() == libc::AF_UNIX && b.unix_path() == Some(p.as_slice()),
            ListenKey::Abstract(n) => b.family() == libc::AF_UNIX && b.unix_path().and_then(|p| p.strip_prefix(&[0u8])) == Some(n.as_slice()),
        }
    }

    fn is_port_zero(&self) -> bool {
        matches!(self, ListenKey::Inet { addr, .. } if addr.port() == Some(0))
    }

    fn is_dual_wildcard(&self) -> bool {
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
        let port = a.port().unwrap_or(0);
        if let Some(ip) = a.ip_v4() {
            write!(f, "{}:{}", Ipv4Addr::from(ip), port)
        } else if let Some((ip, scope)) = a.ip_v6() {
            write!(f, "[{}", Ipv6Addr::from(ip))?;
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

/// Return a listening socket (or bound UDP socket) for `name` and `address`,
/// inherited or new, as described in the module documentation. `name` None
/// (or `unknown`) means unnamed: matched by address only.
///
/// Errors: `EINVAL` for an invalid name, address or option (the message names
/// it); `ENAMETOOLONG` for a unix path that does not fit; `EEXIST` for a name
/// already listening on another address, or a unix path that exists and is
/// not a socket; `EADDRINUSE` when the address is taken (including a live
/// unix socket); `EPROTOTYPE`/`ENOTSOCK` for an inherited fd of that name
/// that does not fit the address; and the errno of `socket`, `bind`,
/// `listen`, `fchmod`/`chmod` or `fcntl` (`EACCES`, `EMFILE`…) with the
/// call and the address in the message.
pub fn listen(name: Option<&[u8]>, address: &[u8], opts: &ListenOptions) -> Result<Fd> {
    let name = name.filter(|n| *n != UNKNOWN);
    if let Some(n) = name {
        registry::validate_name(n)?;
    }
    opts.validate()?;
    let parsed = addr::parse(address)?;
    let key = ListenKey::from_address(&parsed)?;
    registry::with(|reg| listen_in(reg, name, &key, opts))
}

pub(crate) fn listen_in(reg: &mut Registry, name: Option<&[u8]>, key: &ListenKey, opts: &ListenOptions) -> Result<Fd> {
    if let Some(i) = find(reg, name, key)? {
        return claim(reg, i, name, key, opts);
    }
    let sock = match bind_new(reg, key, opts) {
        Ok(s) => s,
        Err(e) => return Err(hint_in_use(reg, e, key)),
    };
    let dup = sock.try_clone().map_err(|e| Error::sys(e, "duplicating the new socket"))?;
    let shown_name = name.unwrap_or(UNKNOWN);
    let bound = socket::getsockname(sock.raw()).ok();
    match bound {
        Some(b) => reg.log(log::DEBUG, format_args!("{}: listening on {} (fd {})", Shown(shown_name), AddrShown(&b), sock.raw())),
        None => reg.log(log::DEBUG, format_args!("{}: listening on {} (fd {})", Shown(shown_name), key, sock.raw())),
    }
    reg.entries.push(Entry {
        name: shown_name.to_vec(),
        fd: sock,
        kind: key.wants(),
        source: Source::Created,
        label: Vec::new(),
        claimed: true,
        key: Some(key.clone()),
    });
    Ok(dup)
}

fn bound_matches(e: &Entry, key: &ListenKey) -> bool {
    socket::getsockname(e.fd.raw()).map(|b| key.matches_bound(&b)).unwrap_or(false)
}

fn keyed_to(e: &Entry, key: &ListenKey) -> bool {
    e.key.as_ref().is_some_and(|k| k.same(key))
}

/// Which entry `listen(name, key)` should use, if any.
fn find(reg: &Registry, name: Option<&[u8]>, key: &ListenKey) -> Result<Option<usize>> {
    let es = &reg.entries;
    let wants = key.wants();
    let pos = |pred: &dyn Fn(&Entry) -> bool| es.iter().position(pred);
    // The same address: claimed for it, or bound to it.
    let here = |e: &Entry| keyed_to(e, key) || (e.kind == wants && bound_matches(e, key));
    if let Some(n) = name {
        let named = |e: &Entry| e.name == n;
        if es.iter().any(named) {
            if let Some(i) = pos(&|e| named(e) && keyed_to(e, key)).or_else(|| pos(&|e| named(e) && here(e))) {
                return Ok(Some(i));
            }
            // Not yet claimed by listen: the name decides.
            let free = |e: &Entry| named(e) && e.key.is_none();
            if let Some(i) = pos(&|e| free(e) && e.kind == wants) {
                return Ok(Some(i));
            }
            if let Some(e) = es.iter().find(|e| free(e)) {
                return Err(unfit(e, key));
            }
            let mut other = Msg::new();
            if let Some(k) = es.iter().find(|e| named(e)).and_then(|e| e.key.as_ref()) {
                let _ = fmt::write(&mut other, format_args!("{}", k));
            }
            return Err(err!(
                EEXIST,
                "name {} is already listening on {}; asked for {} (forget the name first to move it)",
                Shown(n),
                other.as_str(),
                key
            ));
        }
        let unnamed = |e: &Entry| e.name == UNKNOWN;
        return Ok(pos(&|e| unnamed(e) && keyed_to(e, key)).or_else(|| pos(&|e| unnamed(e) && here(e))));
    }
    // Unnamed: any entry at this address; for port 0 (a request for a new
    // port, not an address) only an unnamed one made by the same request.
    let ok = |e: &Entry| !key.is_port_zero() || e.name == UNKNOWN;
    Ok(pos(&|e| ok(e) && keyed_to(e, key))
        .or_else(|| pos(&|e| ok(e) && here(e) && e.source.inherited()))
        .or_else(|| pos(&|e| ok(e) && here(e))))
}

/// The error for an entry whose kind does not fit the address.
fn unfit(e: &Entry, key: &ListenKey) -> Error {
    if e.kind == Kind::File {
        err!(ENOTSOCK, "{} is not a socket; {} needs {}", e.describe(), key, key.wants().describe())
    } else {
        err!(EPROTOTYPE, "{} is {}; {} needs {}", e.describe(), e.kind.describe(), key, key.wants().describe())
    }
}

/// Hand out entry `i` for `listen(name, key)`.
fn claim(reg: &mut Registry, i: usize, name: Option<&[u8]>, key: &ListenKey, opts: &ListenOptions) -> Result<Fd> {
    let mut notice = Msg::new();
    let dup = {
        let e = reg.entries.get_mut(i).ok_or_else(|| err!(ENOENT, "registry entry {} vanished", i))?;
        if e.kind != key.wants() {
            return Err(unfit(e, key));
        }
        let dup = e.fd.try_clone().map_err(|er| Error::sys(er, "duplicating a registry fd"))?;
        if let Some(nb) = opts.nonblocking {
            fd::set_nonblocking(dup.raw(), nb).map_err(|er| Error::sys(er, "setting O_NONBLOCK"))?;
        }
        if e.key.is_none() && e.source.inherited() {
            if let Ok(b) = socket::getsockname(e.fd.raw()) {
                if !key.matches_bound(&b) {
                    let _ = fmt::write(
                        &mut notice,
                        format_args!(
                            "{}: asked for {}, using inherited {} bound to {} (an inherited name decides the address)",
                            Shown(name.unwrap_or(UNKNOWN)),
                            key,
                            e.describe(),
                            AddrShown(&b)
                        ),
                    );
                }
            }
        }
        if e.key.is_none() {
            e.key = Some(key.clone());
        }
        e.claimed = true;
        if let Some(n) = name {
            if e.name == UNKNOWN {
                e.name = n.to_vec();
            }
        }
        dup
    };
    if !notice.as_str().is_empty() {
        reg.log(log::NOTICE, format_args!("{}", notice.as_str()));
    }
    Ok(dup)
}

/// On `EADDRINUSE`, say which registry entry holds the address, if one does.
fn hint_in_use(reg: &Registry, e: Error, key: &ListenKey) -> Error {
    if e.errno.0 != libc::EADDRINUSE {
        return e;
    }
    match reg.entries.iter().find(|x| bound_matches(x, key)) {
        Some(x) => Error::new(e.errno, format_args!("{} (the registry's {} is bound there)", e.message(), x.describe())),
        None => e,
    }
}

fn sys_err(errno: Errno, args: fmt::Arguments<'_>) -> Error {
    Error::new(errno, format_args!("{}: {}", args, errno))
}

fn bind_new(reg: &mut Registry, key: &ListenKey, opts: &ListenOptions) -> Result<Fd> {
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

fn apply_nonblocking(s: &Fd, opts: &ListenOptions) -> Result<()> {
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
    socket::bind(s.raw(), sa).map_err(|e| sys_err(e, format_args!("bind {} {}", proto, shown)))?;
    if !udp {
        socket::listen(s.raw(), opts.backlog).map_err(|e| sys_err(e, format_args!("listen {} {}", proto, shown)))?;
    }
    apply_nonblocking(&s, opts)?;
    Ok(s)
}

fn file_type(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFLNK => "a symbolic link",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR | libc::S_IFBLK => "a device",
        _ => "not a socket",
    }
}

/// `path` is taken (bind said `EADDRINUSE`): remove it if it is a socket
/// nobody listens on, else say why not.
fn clear_stale(reg: &mut Registry, path: &[u8], cpath: &[u8], sa: &SockAddr) -> Result<()> {
    let st = match fs::lstat(cpath) {
        Ok(st) => st,
        Err(Errno(libc::ENOENT)) => return Ok(()),
        Err(e) => return Err(sys_err(e, format_args!("lstat {}", Shown(path)))),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(err!(
            EEXIST,
            "unix socket path {} exists and is {}: refusing to replace it",
            Shown(path),
            file_type(st.st_mode)
        ));
    }
    let probe = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)
        .map_err(|e| sys_err(e, format_args!("socket to probe {}", Shown(path))))?;
    match socket::connect(probe.raw(), sa) {
        Err(Errno(libc::ECONNREFUSED)) => {
            match fs::unlink(cpath) {
                Ok(()) | Err(Errno(libc::ENOENT)) => {}
                Err(e) => return Err(sys_err(e, format_args!("removing stale unix socket {}", Shown(path)))),
            }
            reg.log(log::NOTICE, format_args!("replaced stale unix socket {} (nobody listened on it)", Shown(path)));
            Ok(())
        }
        Err(Errno(libc::ENOENT)) => Ok(()),
        Ok(()) | Err(Errno(libc::EAGAIN)) | Err(Errno(libc::EINPROGRESS)) => {
            Err(err!(EADDRINUSE, "unix socket {} is in use: something is listening on it", Shown(path)))
        }
        Err(Errno(libc::EPROTOTYPE)) => {
            Err(err!(EADDRINUSE, "unix socket {} is in use by a live socket of another type", Shown(path)))
        }
        Err(e) => Err(Error::new(
            e,
            format_args!("unix socket {} exists and cannot be probed ({}): refusing to replace it", Shown(path), e),
        )),
    }
}

fn bind_unix_path(reg: &mut Registry, path: &[u8], opts: &ListenOptions) -> Result<Fd> {
    let sa = SockAddr::unix(path, false).map_err(|e| sys_err(e, format_args!("unix socket path {}", Shown(path))))?;
    let mut cpath = Vec::with_capacity(path.len() + 1);
    cpath.extend_from_slice(path);
    cpath.push(0);
    let s = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).map_err(|e| sys_err(e, format_args!("socket")))?;
    if let Some(mode) = opts.unix_mode {
        // The file bind creates gets this mode less the umask: never more open than asked.
        fs::fchmod(s.raw(), mode).map_err(|e| sys_err(e, format_args!("fchmod {:#o} before binding {}", mode, Shown(path))))?;
    }
    match socket::bind(s.raw(), &sa) {
        Ok(()) => {}
        Err(Errno(libc::EADDRINUSE)) => {
            clear_stale(reg, path, &cpath, &sa)?;
            socket::bind(s.raw(), &sa).map_err(|e| sys_err(e, format_args!("bind unix:{}", Shown(path))))?;
        }
        Err(e) => return Err(sys_err(e, format_args!("bind unix:{}", Shown(path)))),
    }
    // From here on the file is ours: remove it if the socket cannot be completed.
    let finish = || -> Result<()> {
        if let Some(mode) = opts.unix_mode {
            fs::chmod(&cpath, mode).map_err(|e| sys_err(e, format_args!("chmod {:#o} {}", mode, Shown(path))))?;
        }
        socket::listen(s.raw(), opts.backlog).map_err(|e| sys_err(e, format_args!("listen unix:{}", Shown(path))))?;
        apply_nonblocking(&s, opts)
    };
    if let Err(e) = finish() {
        let _ = fs::unlink(&cpath);
        return Err(e);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn inode(f: &Fd) -> u64 {
        fd::fstat(f.raw()).unwrap().st_ino
    }

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("gracefd-listeners-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn opt_int(f: &Fd, level: i32, opt: i32) -> i32 {
        socket::getsockopt_int(f.raw(), level, opt).unwrap()
    }

    fn ipv6_loopback() -> bool {
        socket::socket(libc::AF_INET6, libc::SOCK_STREAM, 0)
            .and_then(|s| socket::bind(s.raw(), &SockAddr::v6(Ipv6Addr::LOCALHOST.octets(), 0, 0)))
            .is_ok()
    }

    #[test]
    fn same_name_twice_is_the_same_socket() {
        let o = ListenOptions::default();
        let a = listen(Some(b"lt-same"), b"127.0.0.1:0", &o).unwrap();
        let b = listen(Some(b"lt-same"), b"127.0.0.1:0", &o).unwrap();
        assert_ne!(a.raw(), b.raw());
        assert_eq!(inode(&a), inode(&b));
        assert!(fd::is_cloexec(a.raw()).unwrap() && fd::is_cloexec(b.raw()).unwrap());
        assert!(!fd::is_nonblocking(a.raw()).unwrap(), "new sockets are blocking by default");
        assert_eq!(opt_int(&a, libc::SOL_SOCKET, libc::SO_ACCEPTCONN), 1);
        assert_eq!(opt_int(&a, libc::SOL_SOCKET, libc::SO_REUSEADDR), 1);
        // The same name for another address: EEXIST naming both.
        let e = listen(Some(b"lt-same"), b"127.0.0.1:1", &o).unwrap_err();
        assert_eq!(e.errno.0, libc::EEXIST);
        assert!(e.message().contains("tcp 127.0.0.1:0") && e.message().contains("tcp 127.0.0.1:1"), "{}", e);
        // Equivalent spellings are the same address.
        let c = listen(Some(b"lt-same"), b"tcp://127.0.0.1:0", &o).unwrap();
        assert_eq!(inode(&a), inode(&c));
        // After forgetting, the name binds afresh (the old socket lives on in a, b, c).
        assert_eq!(registry::forget(b"lt-same").unwrap(), 1);
        let d = listen(Some(b"lt-same"), b"127.0.0.1:0", &o).unwrap();
        assert_ne!(inode(&d), inode(&a));
        assert_eq!(registry::forget(b"lt-same").unwrap(), 1);
        assert_eq!(registry::forget(b"lt-same").unwrap_err().errno.0, libc::ENOENT);
    }

    #[test]
    fn unnamed_is_keyed_by_address_and_can_be_named_later() {
        let o = ListenOptions::default();
        let a = listen(None, b"127.0.0.1:0", &o).unwrap();
        let port = socket::getsockname(a.raw()).unwrap().port().unwrap();
        let addr = format!("127.0.0.1:{}", port);
        // port 0 again is the same request: the same socket.
        let b = listen(Some(b"unknown"), b"127.0.0.1:0", &o).unwrap();
        assert_eq!(inode(&a), inode(&b));
        // The concrete port matches the unnamed socket bound there, which takes the name.
        let c = listen(Some(b"lt-later"), addr.as_bytes(), &o).unwrap();
        assert_eq!(inode(&a), inode(&c));
        let names: Vec<_> = registry::entries().into_iter().filter(|i| i.raw >= 0).map(|i| i.name).collect();
        assert!(names.iter().any(|n| n == b"lt-later"));
        let _ = registry::forget(b"lt-later");
    }

    #[test]
    fn udp_is_bound_not_listening() {
        let o = ListenOptions { nonblocking: Some(true), ..ListenOptions::default() };
        let u = listen(Some(b"lt-udp"), b"udp://127.0.0.1:0", &o).unwrap();
        assert_eq!(opt_int(&u, libc::SOL_SOCKET, libc::SO_TYPE), libc::SOCK_DGRAM);
        assert_eq!(opt_int(&u, libc::SOL_SOCKET, libc::SO_REUSEADDR), 0);
        assert!(fd::is_nonblocking(u.raw()).unwrap());
        assert_eq!(registry::classify(u.raw()).unwrap(), Kind::Udp);
        // A TCP request under the same name does not get the UDP socket.
        let e = listen(Some(b"lt-udp"), b"127.0.0.1:0", &ListenOptions::default()).unwrap_err();
        assert_eq!(e.errno.0, libc::EEXIST);
        let _ = registry::forget(b"lt-udp");
    }

    #[test]
    fn ipv6_only_as_the_address_says() {
        if !ipv6_loopback() {
            // The dual-stack fallback is what remains testable without IPv6.
            let s = listen(Some(b"lt-any"), b":0", &ListenOptions::default()).unwrap();
            assert_eq!(socket::getsockname(s.raw()).unwrap().family(), libc::AF_INET);
            let _ = registry::forget(b"lt-any");
            return;
        }
        let o = ListenOptions::default();
        let dual = listen(Some(b"lt-dual"), b":0", &o).unwrap();
        assert_eq!(socket::getsockname(dual.raw()).unwrap().family(), libc::AF_INET6);
        assert_eq!(opt_int(&dual, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 0);
        let only = listen(Some(b"lt-v6only"), b"tcp6://:0", &o).unwrap();
        assert_eq!(opt_int(&only, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 1);
        // (Bound to a specific IPv6 address, Linux reports IPV6_V6ONLY on by itself.)
        let lo = listen(Some(b"lt-v6lo"), b"[::1]:0", &o).unwrap();
        assert_eq!(socket::getsockname(lo.raw()).unwrap().ip_v6().unwrap().0, Ipv6Addr::LOCALHOST.octets());
        for n in [&b"lt-dual"[..], b"lt-v6only", b"lt-v6lo"] {
            let _ = registry::forget(n);
        }
    }

    #[test]
    fn unix_paths_stale_live_file_and_mode() {
        let d = tmpdir("unix");
        let path = d.join("s.sock");
        let addr = format!("unix:{}", path.display());
        let o = ListenOptions { unix_mode: Some(0o600), ..ListenOptions::default() };
        // Stale: a socket file nobody listens on.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let a = listen(Some(b"lt-unix"), addr.as_bytes(), &o).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(registry::classify(a.raw()).unwrap(), Kind::UnixListener);
        // Live: a second name for the same path is refused, and the file survives.
        let e = listen(Some(b"lt-unix2"), addr.as_bytes(), &ListenOptions::default()).unwrap_err();
        assert_eq!(e.errno.0, libc::EADDRINUSE, "{}", e);
        assert!(e.message().contains("something is listening"), "{}", e);
        assert!(e.message().contains("lt-unix"), "hint names the holder: {}", e);
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        // A regular file is never replaced.
        let file = d.join("file");
        std::fs::write(&file, b"data").unwrap();
        let e = listen(None, format!("unix:{}", file.display()).as_bytes(), &ListenOptions::default()).unwrap_err();
        assert_eq!(e.errno.0, libc::EEXIST);
        assert!(e.message().contains("regular file"), "{}", e);
        assert_eq!(std::fs::read(&file).unwrap(), b"data");
        // Nor a symbolic link (even to a stale socket).
        let stale = d.join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let link = d.join("link.sock");
        std::os::unix::fs::symlink(&stale, &link).unwrap();
        let e = listen(None, format!("unix:{}", link.display()).as_bytes(), &ListenOptions::default()).unwrap_err();
        assert_eq!(e.errno.0, libc::EEXIST);
        assert!(e.message().contains("symbolic link"), "{}", e);
        let _ = registry::forget(b"lt-unix");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn abstract_unix() {
        let name = format!("unix:@gracefd-lt-{}", std::process::id());
        let a = listen(Some(b"lt-abs"), name.as_bytes(), &ListenOptions::default()).unwrap();
        let b = listen(Some(b"lt-abs"), name.as_bytes(), &ListenOptions::default()).unwrap();
        assert_eq!(inode(&a), inode(&b));
        let e = listen(Some(b"lt-abs2"), name.as_bytes(), &ListenOptions::default()).unwrap_err();
        assert_eq!(e.errno.0, libc::EADDRINUSE);
        let _ = registry::forget(b"lt-abs");
    }

    #[test]
    fn bad_input() {
        let o = ListenOptions::default();
        assert_eq!(listen(Some(b"a:b"), b"127.0.0.1:0", &o).unwrap_err().errno.0, libc::EINVAL);
        assert_eq!(listen(Some(b"x"), b"127.0.0.1:99999", &o).unwrap_err().errno.0, libc::EINVAL);
        let bad = ListenOptions { backlog: 0, ..o };
        assert!(listen(Some(b"x"), b"127.0.0.1:0", &bad).unwrap_err().message().contains("backlog"));
        let bad = ListenOptions { unix_mode: Some(0o4755), ..o };
        assert!(listen(Some(b"x"), b"127.0.0.1:0", &bad).unwrap_err().message().contains("mode"));
    }

    /// A local registry with one imported (inherited) socket named `name`.
    fn reg_with(name: &[u8], s: Fd) -> Registry {
        let mut r = Registry::new();
        r.import(name, s).unwrap();
        r
    }

    fn tcp_listener(port: u16) -> Fd {
        let s = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        socket::bind(s.raw(), &SockAddr::v4([127, 0, 0, 1], port)).unwrap();
        socket::listen(s.raw(), 8).unwrap();
        s
    }

    fn key(a: &str) -> ListenKey {
        ListenKey::from_address(&addr::parse(a.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn inherited_by_name_wins_and_keeps_its_mode() {
        let s = tcp_listener(0);
        let ino = inode(&s);
        let mut r = reg_with(b"web", s);
        // Bound elsewhere than asked: the name decides (with a notice).
        let got = listen_in(&mut r, Some(b"web"), &key("127.0.0.1:1"), &ListenOptions::default()).unwrap();
        assert_eq!(inode(&got), ino);
        assert!(!fd::is_nonblocking(got.raw()).unwrap(), "inherited mode untouched by default");
        assert!(r.log.iter().any(|(_, m)| m.as_str().contains("an inherited name decides")));
        // The same call again: the same socket; another address now: EEXIST.
        assert_eq!(inode(&listen_in(&mut r, Some(b"web"), &key("127.0.0.1:1"), &ListenOptions::default()).unwrap()), ino);
        assert_eq!(
            listen_in(&mut r, Some(b"web"), &key("127.0.0.1:2"), &ListenOptions::default()).unwrap_err().errno.0,
            libc::EEXIST
        );
        // Asked explicitly, the mode is changed (shared state: the caller's decision).
        let nb = ListenOptions { nonblocking: Some(true), ..ListenOptions::default() };
        let got = listen_in(&mut r, Some(b"web"), &key("127.0.0.1:1"), &nb).unwrap();
        assert!(fd::is_nonblocking(got.raw()).unwrap());
    }

    #[test]
    fn inherited_of_the_wrong_kind_is_refused() {
        let u = socket::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
        socket::bind(u.raw(), &SockAddr::v4([127, 0, 0, 1], 0)).unwrap();
        let mut r = reg_with(b"web", u);
        let e = listen_in(&mut r, Some(b"web"), &key("127.0.0.1:0"), &ListenOptions::default()).unwrap_err();
        assert_eq!(e.errno.0, libc::EPROTOTYPE);
        assert!(e.message().contains("\"web\" (hand-off)") && e.message().contains("UDP"), "{}", e);
        let (p, _w) = fd::pipe().unwrap();
        let mut r = reg_with(b"state", p);
        let e = listen_in(&mut r, Some(b"state"), &key("127.0.0.1:0"), &ListenOptions::default()).unwrap_err();
        assert_eq!(e.errno.0, libc::ENOTSOCK);
        // Not listening: not a listener.
        let t = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let mut r = reg_with(b"web", t);
        assert_eq!(
            listen_in(&mut r, Some(b"web"), &key("127.0.0.1:0"), &ListenOptions::default()).unwrap_err().errno.0,
            libc::EPROTOTYPE
        );
    }

    #[test]
    fn unnamed_inherited_is_matched_by_bound_address() {
        let s = tcp_listener(0);
        let port = socket::getsockname(s.raw()).unwrap().port().unwrap();
        let ino = inode(&s);
        let other = tcp_listener(0);
        let mut r = Registry::new();
        r.import(b"unknown", other).unwrap();
        r.import(b"unknown", s).unwrap();
        let got = listen_in(&mut r, Some(b"api"), &key(&format!("127.0.0.1:{}", port)), &ListenOptions::default()).unwrap();
        assert_eq!(inode(&got), ino);
        assert_eq!(r.entries[1].name, b"api");
        assert_eq!(r.entries[0].name, b"unknown");
        assert!(r.entries[1].claimed && !r.entries[0].claimed);
        // Unnamed, the same address finds it again.
        let again = listen_in(&mut r, None, &key(&format!("tcp://127.0.0.1:{}", port)), &ListenOptions::default()).unwrap();
        assert_eq!(inode(&again), ino);
    }

    #[test]
    fn dual_stack_request_matches_an_ipv4_wildcard_socket() {
        let s = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        socket::bind(s.raw(), &SockAddr::v4([0; 4], 0)).unwrap();
        socket::listen(s.raw(), 1).unwrap();
        let port = socket::getsockname(s.raw()).unwrap().port().unwrap();
        let ino = inode(&s);
        let mut r = reg_with(b"unknown", s);
        let got = listen_in(&mut r, None, &key(&format!(":{}", port)), &ListenOptions::default()).unwrap();
        assert_eq!(inode(&got), ino);
        // tcp4:// and tcp6:// are explicit and do not cross families.
        assert!(!key(&format!("tcp6://:{}", port)).matches_bound(&socket::getsockname(got.raw()).unwrap()));
    }

    #[test]
    fn display() {
        assert_eq!(key("[::1]:80").to_string(), "tcp [::1]:80");
        assert_eq!(key("udp6://[fe80::1%2]:53").to_string(), "udp [fe80::1%2]:53 (IPv6 only)");
        assert_eq!(key("unix:/a b").to_string(), "unix:\"/a b\"");
        assert_eq!(key("unix:@x").to_string(), "unix:@\"x\"");
    }
}
