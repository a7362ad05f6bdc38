//! Listening sockets by name, as std types.

use core::ffi::{c_int, c_void};
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use super::error::{invalid, io};
use crate::listeners::{self, ListenOptions, PreBind};
use crate::proto::addr::{self, Address, Shown, Transport};
use crate::sys::fd::Fd;

/// The core's owned fd becomes std's.
impl From<Fd> for OwnedFd {
    fn from(fd: Fd) -> OwnedFd {
        // SAFETY: `into_raw` hands over an open fd that nothing else closes.
        unsafe { OwnedFd::from_raw_fd(fd.into_raw()) }
    }
}

/// `""` and `"unknown"` (systemd's word) mean unnamed.
pub(crate) fn opt_name(name: &str) -> Option<&[u8]> {
    if name.is_empty() {
        None
    } else {
        Some(name.as_bytes())
    }
}

/// Options for [`listen_tcp`] and friends: backlog, unix socket mode,
/// blocking mode. A builder; [`listen_tcp`]`(name, addr)` is
/// `Listen::new().tcp(name, addr)`.
///
/// Invalid values are reported by the call that listens (`EINVAL`, naming
/// the value), so the builder chains without `?`.
///
/// ```
/// let l = gracefd::Listen::new()
///     .backlog(64)
///     .nonblocking(true) // for tokio & co.; see "Blocking mode" in the crate docs
///     .tcp("api", "127.0.0.1:0")?;
/// assert!(l.local_addr()?.port() > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Listen {
    opts: ListenOptions,
    /// What the core's setters refused, reported by the call that listens
    /// (one slot per option, so a later valid value replaces a bad one).
    backlog_err: Option<crate::Error>,
    unix_mode_err: Option<crate::Error>,
    pre_bind: Option<Arc<PreBindFn>>,
}

/// The closure of [`Listen::pre_bind`].
type PreBindFn = dyn Fn(BorrowedFd<'_>) -> io::Result<()> + Send + Sync;

impl fmt::Debug for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listen")
            .field("opts", &self.opts)
            .field("backlog_err", &self.backlog_err.as_ref().map(crate::Error::message))
            .field("unix_mode_err", &self.unix_mode_err.as_ref().map(crate::Error::message))
            .field("pre_bind", &self.pre_bind.as_ref().map(|_| "Fn(BorrowedFd)"))
            .finish()
    }
}

impl PartialEq for Listen {
    /// Equal options, and the same pre-bind closure (the same `Arc`) or none.
    fn eq(&self, other: &Listen) -> bool {
        let same_hook = match (&self.pre_bind, &other.pre_bind) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let msg = |e: &Option<crate::Error>| e.as_ref().map(|e| (e.errno, e.message().to_owned()));
        self.opts == other.opts
            && msg(&self.backlog_err) == msg(&other.backlog_err)
            && msg(&self.unix_mode_err) == msg(&other.unix_mode_err)
            && same_hook
    }
}

impl Eq for Listen {}

impl Default for Listen {
    fn default() -> Self {
        Listen::new()
    }
}

impl Listen {
    /// The defaults: backlog `SOMAXCONN`, unix socket mode as the umask gives,
    /// blocking mode untouched (new sockets blocking, inherited ones as they
    /// came).
    pub fn new() -> Listen {
        Listen { opts: ListenOptions::default(), backlog_err: None, unix_mode_err: None, pre_bind: None }
    }

    /// `listen(2)` backlog for a socket this call creates (at least 1; the
    /// kernel caps it at `net.core.somaxconn`). Not applied to inherited or
    /// already registered sockets. 0 is `EINVAL` when listening.
    pub fn backlog(mut self, backlog: u32) -> Listen {
        self.backlog_err = self.opts.set_backlog(backlog).err();
        self
    }

    /// Mode of a unix socket file this call creates (e.g. `0o660`; at most
    /// `0o777`, else `EINVAL` when listening). The file is never more open
    /// than asked, even for an instant. Without it: as the umask gives.
    pub fn unix_mode(mut self, mode: u32) -> Listen {
        self.unix_mode_err = self.opts.set_unix_mode(mode).err();
        self
    }

    /// Set (`true`) or clear (`false`) `O_NONBLOCK` on the returned socket,
    /// whether it is new or inherited. Without this call a new socket is
    /// blocking and an inherited or registered one is returned in the mode
    /// it has. `O_NONBLOCK` is shared by every holder of the socket (an old
    /// generation still serving, say): setting it is your explicit decision.
    pub fn nonblocking(mut self, on: bool) -> Listen {
        // 0 or 1: the core's setter cannot refuse it.
        self.opts.set_nonblocking(on);
        self
    }

    /// Call `f` on each socket this call creates, after `socket(2)` and
    /// before `bind(2)`: the place for options that must be set before
    /// binding (`SO_REUSEPORT`, `IP_FREEBIND`, `TCP_FASTOPEN`, `SO_MARK`,
    /// buffer sizes), like Go's `net.ListenConfig.Control`. An error from
    /// `f` makes the call fail with it (the socket is closed, nothing is
    /// registered; its errno, or `ECANCELED` for an error without one); a
    /// panic in `f` is `ECANCELED` where panics unwind. Not called
    /// for inherited or already registered sockets: they are bound already.
    /// `f` runs on the calling thread with no lock of the library held.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// let l = gracefd::Listen::new()
    ///     .pre_bind(|fd| {
    ///         let one: libc::c_int = 1;
    ///         // SAFETY: a valid fd and a c_int option of the right size.
    ///         let r = unsafe {
    ///             libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT,
    ///                 (&one as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t)
    ///         };
    ///         if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
    ///     })
    ///     .tcp("reuseport-doc", "127.0.0.1:0")?;
    /// # drop(l);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pre_bind<F>(mut self, f: F) -> Listen
    where
        F: Fn(BorrowedFd<'_>) -> io::Result<()> + Send + Sync + 'static,
    {
        self.pre_bind = Some(Arc::new(f));
        self
    }

    /// A listening TCP socket for `name` at `addr` (`host:port`, `:port`,
    /// `[v6]:port`, `tcp://…`, `tcp4://…`, `tcp6://…`): the inherited one
    /// of that name (or an unnamed one bound there), else a new one. See
    /// [`listen_fd`](Listen::fd) for how it is chosen and the errors; also
    /// `EINVAL` if `addr` is not a TCP address.
    pub fn tcp(&self, name: &str, addr: &str) -> io::Result<TcpListener> {
        expect(addr, Want::Tcp)?;
        self.fd(name, addr).map(TcpListener::from)
    }

    /// A listening unix stream socket for `name` at `addr` (`unix:/path`,
    /// or `unix:@name` in the abstract namespace). As [`tcp`](Listen::tcp);
    /// `EINVAL` if `addr` is not a unix address.
    pub fn unix(&self, name: &str, addr: &str) -> io::Result<UnixListener> {
        expect(addr, Want::Unix)?;
        self.fd(name, addr).map(UnixListener::from)
    }

    /// A bound UDP socket for `name` at `addr` (`udp://host:port`,
    /// `udp4://…`, `udp6://…`). As [`tcp`](Listen::tcp); `EINVAL` if
    /// `addr` is not a UDP address.
    pub fn udp(&self, name: &str, addr: &str) -> io::Result<UdpSocket> {
        expect(addr, Want::Udp)?;
        self.fd(name, addr).map(UdpSocket::from)
    }

    /// A listening socket (or bound UDP socket) of whatever kind `addr`
    /// says, as an [`OwnedFd`].
    ///
    /// `name` (`""` or `"unknown"`: unnamed) is looked up first: a socket
    /// inherited under that name (systemd `FileDescriptorName=`, an older
    /// generation, `gracefd run`) wins even if it is bound elsewhere (the
    /// service manager chose); else an unnamed inherited socket bound to
    /// `addr` (Server::Starter's, systemd's unnamed ones) takes the name;
    /// else a new socket is bound (TCP with `SO_REUSEADDR`; a stale unix
    /// socket file is replaced, a live one or any other file is not).
    /// Asking again with the same name and address returns the same socket.
    /// The registry keeps its own duplicate, so an upgrade hands the socket
    /// down; the returned fd is a new CLOEXEC duplicate that belongs to you.
    ///
    /// Errors (`io::Error` with the detail; [`ErrorExt::errno`](crate::ErrorExt::errno)):
    /// `EINVAL` for an invalid name, address or option; `ENAMETOOLONG` for
    /// a unix path that does not fit; `EEXIST` when `name` already listens
    /// on another address, or a unix path exists and is not a socket;
    /// `EADDRINUSE` when the address is taken (a live unix socket too);
    /// `EPROTOTYPE`/`ENOTSOCK` when the inherited fd of that name does not
    /// fit `addr` (never the wrong socket: [`forget`](crate::forget) the
    /// name to bind afresh); the errno of `socket`, `bind`, `listen`,
    /// `chmod` or `fcntl` (`EACCES`, `EMFILE`…) with the address named.
    pub fn fd(&self, name: &str, addr: &str) -> io::Result<OwnedFd> {
        if let Some(e) = self.backlog_err.or(self.unix_mode_err) {
            return io(Err(e));
        }
        let Some(f) = &self.pre_bind else {
            return io(listeners::listen(opt_name(name), addr.as_bytes(), &self.opts)).map(OwnedFd::from);
        };
        let call = HookCall { f: &**f, failed: RefCell::new(None) };
        let opts = ListenOptions {
            pre_bind: Some(PreBind { func: run_hook, data: &call as *const HookCall<'_> as usize }),
            ..self.opts
        };
        match listeners::listen(opt_name(name), addr.as_bytes(), &opts) {
            Ok(fd) => Ok(OwnedFd::from(fd)),
            // The closure's own error (with its text), named by the core's message.
            Err(e) => match call.failed.into_inner() {
                // The core's message names the address; the closure's says why.
                Some(inner) => io(Err(crate::Error::new(e.errno, format_args!("{} ({})", e.message(), inner)))),
                None => io(Err(e)),
            },
        }
    }
}

/// One listen call's view of the pre-bind closure, and the error it gave.
struct HookCall<'a> {
    f: &'a PreBindFn,
    failed: RefCell<Option<io::Error>>,
}

/// The core's pre-bind function for a Rust closure: `data` is a `HookCall`.
unsafe extern "C" fn run_hook(fd: c_int, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the HookCall that Listen::fd keeps alive for the
    // whole listen call, the only time the core calls this.
    let call = unsafe { &*(data as *const HookCall<'_>) };
    // SAFETY: the core passes its new socket, open for this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    match panic::catch_unwind(AssertUnwindSafe(|| (call.f)(fd))) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            let errno = e.raw_os_error().filter(|&n| n > 0).unwrap_or(libc::ECANCELED);
            *call.failed.borrow_mut() = Some(e);
            -errno
        }
        Err(_) => {
            *call.failed.borrow_mut() = Some(io::Error::other("the pre-bind closure panicked"));
            -libc::ECANCELED
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Tcp,
    Udp,
    Unix,
}

/// `EINVAL` unless `addr` parses and is of the kind `want`.
fn expect(addr: &str, want: Want) -> io::Result<()> {
    let a = io(addr::parse(addr.as_bytes()))?;
    let got = match a {
        Address::Inet { transport: Transport::Tcp, .. } => Want::Tcp,
        Address::Inet { transport: Transport::Udp, .. } => Want::Udp,
        Address::Unix(_) | Address::UnixAbstract(_) => Want::Unix,
    };
    if got == want {
        return Ok(());
    }
    let (is, f) = match got {
        Want::Tcp => ("a TCP", "listen_tcp"),
        Want::Udp => ("a UDP", "listen_udp"),
        Want::Unix => ("a unix", "listen_unix"),
    };
    Err(invalid(format_args!("address {} is {} address (use {} or listen_fd)", Shown(addr.as_bytes()), is, f)))
}

/// A listening TCP socket named `name` at `addr`, inherited or new:
/// `Listen::new().tcp(name, addr)` (see [`Listen::fd`] for the rules and
/// errors).
///
/// **Blocking mode**: a new socket is blocking; an inherited one is returned
/// as its passer left it (systemd passes blocking sockets). Nothing is
/// changed behind your back. For tokio:
/// `l.set_nonblocking(true)?; tokio::net::TcpListener::from_std(l)?`.
///
/// ```
/// let l = gracefd::listen_tcp("web", "127.0.0.1:0")?;
/// let port = l.local_addr()?.port();
/// // Asked again (a configuration reload, say): the same socket.
/// let again = gracefd::listen_tcp("web", "127.0.0.1:0")?;
/// assert_eq!(again.local_addr()?.port(), port);
/// // Blocking, as new sockets are: accept() waits.
/// let c = std::net::TcpStream::connect(("127.0.0.1", port))?;
/// let (s, peer) = l.accept()?;
/// assert_eq!(peer, c.local_addr()?);
/// # drop(s);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn listen_tcp(name: &str, addr: &str) -> io::Result<TcpListener> {
    Listen::new().tcp(name, addr)
}

/// A listening unix stream socket named `name` at `addr` (`unix:/path` or
/// `unix:@abstract`): `Listen::new().unix(name, addr)`. Blocking mode as
/// [`listen_tcp`]; tokio: `tokio::net::UnixListener::from_std(l)` after
/// `l.set_nonblocking(true)?`.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("gracefd-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("ctl.sock");
/// let l = gracefd::Listen::new().unix_mode(0o600).unix("ctl", &format!("unix:{}", path.display()))?;
/// std::os::unix::net::UnixStream::connect(&path)?;
/// l.accept()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn listen_unix(name: &str, addr: &str) -> io::Result<UnixListener> {
    Listen::new().unix(name, addr)
}

/// A bound UDP socket named `name` at `addr` (`udp://host:port`):
/// `Listen::new().udp(name, addr)`. Blocking mode as [`listen_tcp`].
///
/// ```
/// let u = gracefd::listen_udp("dns", "udp://127.0.0.1:0")?;
/// let c = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// c.send_to(b"ping", u.local_addr()?)?;
/// let mut buf = [0u8; 8];
/// let (n, _) = u.recv_from(&mut buf)?;
/// assert_eq!(&buf[..n], b"ping");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn listen_udp(name: &str, addr: &str) -> io::Result<UdpSocket> {
    Listen::new().udp(name, addr)
}

/// A listening socket of any kind `addr` says (TCP, UDP or unix), as an
/// [`OwnedFd`]: `Listen::new().fd(name, addr)`, for code that dispatches on
/// the address itself. Blocking mode as [`listen_tcp`].
///
/// ```
/// use std::os::fd::AsRawFd;
/// let fd = gracefd::listen_fd("", "tcp://127.0.0.1:0")?; // unnamed
/// assert!(fd.as_raw_fd() > 2);
/// let l = std::net::TcpListener::from(fd);
/// # drop(l);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn listen_fd(name: &str, addr: &str) -> io::Result<OwnedFd> {
    Listen::new().fd(name, addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorExt;

    #[test]
    fn kinds_are_checked_before_binding() {
        let e = listen_tcp("api-t-kind", "udp://127.0.0.1:0").unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert!(e.to_string().contains("UDP address (use listen_udp"), "{e}");
        let e = listen_udp("api-t-kind", "127.0.0.1:0").unwrap_err();
        assert!(e.to_string().contains("TCP address"), "{e}");
        let e = listen_unix("api-t-kind", "127.0.0.1:0").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(crate::registry::entries().iter().all(|i| i.name != b"api-t-kind"));
    }

    #[test]
    fn options_are_checked() {
        let e = Listen::new().backlog(0).tcp("api-t-opt", "127.0.0.1:0").unwrap_err();
        assert!(e.to_string().contains("backlog"), "{e}");
        let e = Listen::new().backlog(u32::MAX).tcp("api-t-opt", "127.0.0.1:0").unwrap_err();
        assert!(e.to_string().contains("backlog 4294967295"), "{e}");
        let e = Listen::new().unix_mode(0o4777).fd("api-t-opt", "127.0.0.1:0").unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL));
        // The core's setters check; a later valid value replaces a refused one.
        assert_eq!(Listen::new().backlog(0).backlog(16), Listen::new().backlog(16));
        assert_eq!(Listen::new().unix_mode(0o4777).unix_mode(0o600), Listen::new().unix_mode(0o600));
    }

    #[test]
    fn core_setters_check_what_the_faces_pass() {
        let mut o = ListenOptions::default();
        assert_eq!(o.set_backlog(i64::from(i32::MAX) + 1).unwrap_err().errno, crate::sys::Errno(libc::EINVAL));
        assert_eq!(o, ListenOptions::default(), "a refused value leaves the options as they were");
        o.set_nonblocking(true);
        assert_eq!(o.nonblocking, Some(true));
    }

    #[test]
    fn pre_bind_runs_before_bind_and_can_refuse() {
        use std::os::fd::AsRawFd;
        use std::sync::atomic::{AtomicI32, Ordering};
        // Before bind: the socket has no port yet (getsockname says port 0).
        let seen = Arc::new(AtomicI32::new(-1));
        let s2 = seen.clone();
        let l = Listen::new()
            .pre_bind(move |fd| {
                let a = crate::sys::socket::getsockname(fd.as_raw_fd()).map_err(|e| io::Error::from_raw_os_error(e.0))?;
                s2.store(i32::from(a.port().unwrap_or(9)), Ordering::SeqCst);
                Ok(())
            })
            .tcp("api-t-pre", "127.0.0.1:0")
            .unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 0);
        assert!(l.local_addr().unwrap().port() > 0);
        // Asked again: the registered socket, the hook is not called.
        seen.store(-1, Ordering::SeqCst);
        let s3 = seen.clone();
        let _again = Listen::new()
            .pre_bind(move |_| {
                s3.store(1, Ordering::SeqCst);
                Ok(())
            })
            .tcp("api-t-pre", "127.0.0.1:0")
            .unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), -1);
        let _ = crate::registry::forget(b"api-t-pre");
        // A refusal: its error, the address named, nothing registered.
        let e = Listen::new()
            .pre_bind(|_| Err(io::Error::new(io::ErrorKind::PermissionDenied, "no mark for you")))
            .tcp("api-t-pre2", "127.0.0.1:0")
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::ECANCELED));
        assert!(
            e.to_string().contains("pre-bind hook refused tcp 127.0.0.1:0") && e.to_string().contains("no mark for you"),
            "{e}"
        );
        let e = Listen::new()
            .pre_bind(|_| Err(io::Error::from_raw_os_error(libc::EPERM)))
            .tcp("api-t-pre2", "127.0.0.1:0")
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EPERM));
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(crate::registry::entries().iter().all(|i| i.name != b"api-t-pre2"));
        let e = Listen::new().pre_bind(|_| panic!("boom")).fd("api-t-pre3", "unix:@gracefd-api-t-pre3").unwrap_err();
        assert_eq!(e.errno(), Some(libc::ECANCELED));
    }

    #[test]
    fn blocking_mode_as_asked() {
        let l = Listen::new().nonblocking(true).tcp("api-t-nb", "127.0.0.1:0").unwrap();
        assert!(crate::sys::fd::is_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&l)).unwrap());
        let b = listen_tcp("api-t-b", "127.0.0.1:0").unwrap();
        assert!(!crate::sys::fd::is_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&b)).unwrap());
        let _ = crate::registry::forget(b"api-t-nb");
        let _ = crate::registry::forget(b"api-t-b");
    }
}
