//! New unix sockets at a path: a stale socket file is replaced, a live one
//! or anything that is not a socket is refused; the mode is never more open
//! than asked, and never set by a path lookup that could follow a link
//! (`unix_mode.rs`).

use super::new_socket::{apply_nonblocking, call, failed, run_pre_bind, At, Failed, Step};
use super::options::ListenOptions;
use super::unix_mode;
use crate::error::{Error, Result};
use crate::proto::addr::Shown;
use crate::registry::Registry;
use crate::sys::cpath::CPath;
use crate::sys::fd::Fd;
use crate::sys::socket::{self, SockAddr};
use crate::sys::{fs, Errno};
use crate::{err, log};

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
        Err(e) => return Err(failed(Failed::Call(e, "lstat "), At::Path(path))),
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
        .map_err(|e| failed(Failed::Call(e, "socket to probe "), At::Path(path)))?;
    match socket::connect(probe.raw(), sa) {
        Err(Errno(libc::ECONNREFUSED)) => {
            match fs::unlink(cpath) {
                Ok(()) | Err(Errno(libc::ENOENT)) => {}
                Err(e) => return Err(failed(Failed::Call(e, "removing stale unix socket "), At::Path(path))),
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

/// The socket for `path`, not bound yet.
fn unix_socket(path: &[u8]) -> Step<(SockAddr, CPath, Fd)> {
    let sa = call(SockAddr::unix(path, false), "unix socket path ")?;
    let cpath = call(CPath::new(path), "unix socket path ")?;
    let s = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).map_err(|e| Failed::Bare(e, "socket"))?;
    Ok((sa, cpath, s))
}

pub(super) fn bind_unix_path(reg: &mut Registry, path: &[u8], opts: &ListenOptions) -> Result<Fd> {
    let at = At::Path(path);
    let (sa, cpath, s) = unix_socket(path).map_err(|f| failed(f, at))?;
    let mode = match opts.unix_mode {
        Some(m) => Some((unix_mode::steps()?, m)),
        None => None,
    };
    if let Some((steps, m)) = mode {
        (steps.before_bind)(&s, path, m)?;
    }
    // Bound at its own path (not renamed into place): getsockname must name
    // it, for the registry and for SERVER_STARTER_PORT.
    run_pre_bind(&s, opts, "unix:").map_err(|f| failed(f, at))?;
    let mut bound = socket::bind(s.raw(), &sa);
    if bound == Err(Errno(libc::EADDRINUSE)) {
        clear_stale(reg, path, &cpath, &sa)?;
        bound = socket::bind(s.raw(), &sa);
    }
    bound.map_err(|e| failed(Failed::Call(e, "bind unix:"), at))?;
    // The exact mode, set on the file we verified is our socket.
    let mut ours: Option<(u64, u64)> = None;
    let mut finish = || -> Result<()> {
        if let Some((steps, m)) = mode {
            ours = Some((steps.after_bind)(path, m)?);
        }
        call(socket::listen(s.raw(), opts.backlog), "listen unix:").and_then(|()| apply_nonblocking(&s, opts)).map_err(|f| failed(f, at))
    };
    if let Err(e) = finish() {
        // Remove the file only if it is ours: what replaced it stays.
        match ours {
            Some((dev, ino)) => {
                let _ = fs::unlink_if_same(&cpath, dev, ino);
            }
            // Not identified yet (no mode was set): a socket there is the one bound above.
            None => {
                if fs::lstat(&cpath).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK) {
                    let _ = fs::unlink(&cpath);
                }
            }
        }
        return Err(e);
    }
    Ok(s)
}
