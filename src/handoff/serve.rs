//! The old side, its socket: [`serve`] places it at a path (mode 0600, by
//! rename), [`stop`] takes it away; the path is removed only while it still
//! names our socket.

use super::new_side::took_from;
use super::taker::Conn;
use crate::error::Result;
use crate::proto::addr::Shown;
use crate::sync::Mutex;
use crate::sys::fd::Fd;
use crate::safe_path::Placed;
use crate::sys::cpath::CPath;
use crate::sys::process::Pid;
use crate::sys::{fs, poll, socket, Errno};
use crate::{err, log, safe_path};

/// Backlog of the serving socket.
const BACKLOG: i32 = 64;

pub(super) struct Server {
    path: CPath,
    /// Our socket file at `path`, to remove only our own.
    placed: Placed,
    pub(super) ep: Fd,
    pub(super) listener: Option<Fd>,
    pub(super) conn: Option<Conn>,
    pub(super) done_by: Option<Pid>,
}

pub(super) static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// Serve this process's registry at `path` for one taker. Returns a new
/// CLOEXEC fd (owned by the caller) that becomes readable when
/// [`process()`] has work to do.
///
/// The socket is bound in a private directory beside `path`, made 0600, set
/// listening and renamed over `path`, so the path never shows a socket with
/// other permissions and never disappears. A socket nobody listens on at
/// `path` (stale) is replaced; a live one is refused, unless this process
/// took its fds from that very path, or the live one is this process's older
/// generation (this process is its upgrade): then it takes the path over.
///
/// Errors: EALREADY (already serving), EINVAL (empty path or NUL inside),
/// ENAMETOOLONG (the path, or the private directory's path beside it without /proc, does not fit
/// `sun_path`), EEXIST (something that is not a socket is at `path`),
/// EADDRINUSE (a live socket is at `path`), or what socket, bind, chmod,
/// listen, rename or epoll failed with.
///
/// [`process()`]: super::process()
pub(crate) fn serve(path: &[u8]) -> Result<Fd> {
    let mut st = SERVER.lock();
    if let Some(s) = st.as_ref() {
        if s.done_by.is_none() {
            return Err(err!(EALREADY, "already serving hand-off at {}", Shown(s.path.as_bytes())));
        }
    }
    let path_nul = match CPath::new(path) {
        Ok(p) if !path.is_empty() => p,
        _ => return Err(err!(EINVAL, "hand-off path {} is empty or contains NUL", Shown(path))),
    };
    socket::SockAddr::unix(path, false).map_err(|e| crate::Error::sys(e, "hand-off path").context(format_args!("{}", Shown(path))))?;
    let l = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0).map_err(|e| crate::Error::sys(e, "socket"))?;
    // Bound, made 0600 and listening in a private directory before its name
    // appears at `path` (no chmod by a path someone could swap).
    let placed = safe_path::bind_unix(&l, path, Some(0o600), BACKLOG, &mut || check_existing(path, &path_nul))
        .map_err(|e| e.context(format_args!("hand-off socket")))?;
    let watch = (|| -> Result<(Fd, Fd)> {
        let ep = poll::epoll_create().map_err(|e| crate::Error::sys(e, "epoll_create"))?;
        poll::epoll_add(ep.raw(), l.raw(), libc::EPOLLIN as u32).map_err(|e| crate::Error::sys(e, "epoll_ctl"))?;
        let out = ep.try_clone().map_err(|e| crate::Error::sys(e, "dup"))?;
        Ok((ep, out))
    })();
    let (ep, out) = match watch {
        Ok(x) => x,
        Err(e) => {
            let _ = fs::unlink_if_same(&path_nul, placed.dev, placed.ino);
            return Err(e);
        }
    };
    *st = Some(Server { path: path_nul, placed, ep, listener: Some(l), conn: None, done_by: None });
    drop(st);
    log!(log::INFO, "hand-off: serving at {}", Shown(path));
    Ok(out)
}

/// What is at the path already: nothing, a stale socket (fine: it will be
/// replaced), or something we must not replace.
fn check_existing(path: &[u8], path_nul: &[u8]) -> Result<()> {
    let mut why = crate::Error::unset();
    if path_is_free(path, path_nul, &mut why) {
        Ok(())
    } else {
        Err(why)
    }
}

/// [`check_existing`], its error in `why` (built once, in place).
fn path_is_free(path: &[u8], path_nul: &[u8], why: &mut crate::Error) -> bool {
    let st = match fs::lstat(path_nul) {
        Ok(st) => st,
        Err(Errno(libc::ENOENT)) => return true,
        Err(e) => {
            why.set_sys(e, "lstat");
            why.prefix(format_args!("hand-off path {}", Shown(path)));
            return false;
        }
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        why.set(libc::EEXIST, format_args!("hand-off path {} exists and is not a socket", Shown(path)));
        return false;
    }
    if took_from(path) {
        return true;
    }
    let probe = match socket::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) {
        Ok(p) => p,
        Err(e) => {
            why.set_sys(e, "socket");
            return false;
        }
    };
    let addr = match socket::SockAddr::unix(path, false) {
        Ok(a) => a,
        Err(e) => {
            why.set_sys(e, "hand-off path");
            return false;
        }
    };
    match socket::connect(probe.raw(), &addr) {
        Err(Errno(libc::ECONNREFUSED)) => return true,
        // Our own older generation (we are its upgrade) may be replaced:
        // the path is to name the newest generation.
        Ok(()) if is_our_parent(&probe) => return true,
        Ok(()) | Err(Errno(libc::EAGAIN)) => {
            why.set(libc::EADDRINUSE, format_args!("another process serves hand-off at {} (a live socket)", Shown(path)));
        }
        Err(e) => why.set(
            libc::EADDRINUSE,
            format_args!("cannot tell whether the socket at {} is stale: connect: {}", Shown(path), e),
        ),
    }
    false
}

/// Whether the peer of the connected `probe` is the process that started
/// ours by an upgrade.
fn is_our_parent(probe: &Fd) -> bool {
    let server = socket::peer_cred(probe.raw()).map(|c| c.pid).ok();
    server.is_some() && server == crate::lineage::get().parent_pid
}

/// Stop serving: close the socket and remove the path if it is still ours.
/// A taker in the middle of a transfer sees the connection close and fails;
/// one that took everything but is not ready yet cannot tell us any more.
/// Returns `Ok(false)` if nothing was being served.
pub(crate) fn stop() -> Result<bool> {
    let Some(s) = SERVER.lock().take() else { return Ok(false) };
    close_listener(&s);
    Ok(true)
}

/// Remove our socket file (if the path still names it).
pub(super) fn close_listener(s: &Server) {
    if s.listener.is_some() {
        let _ = fs::unlink_if_same(&s.path, s.placed.dev, s.placed.ino);
    }
}
