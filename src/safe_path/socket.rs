//! A unix socket bound at a path without a path lookup after bind: bound
//! and given its mode inside a private directory, then renamed into place.
//!
//! `chmod(path)` after `bind` follows a symbolic link that whoever can write
//! the socket's directory may swap in meanwhile, and the mode lands on any
//! file they choose. Here the socket is made as `<private dir>/s`, where
//! nobody else can reach; by the time its name appears at the final path it
//! already has its mode and listens.

use alloc::vec::Vec;

use super::dir::{self, PrivateDir};
use crate::error::{Error, Result};
use crate::proto::addr::Shown;
use crate::proto::num;
use crate::sys::cpath::CPath;
use crate::sys::fd::Fd;
use crate::sys::socket::{self, SockAddr};
use crate::sys::{fs, Errno};

/// The socket's name inside the private directory.
const INNER: &[u8] = b"s\0";

/// Where a socket was placed: its file's device and inode (to tell later
/// whether the path still names it before removing it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// `st_dev` of the socket file.
    pub dev: u64,
    /// `st_ino` of the socket file.
    pub ino: u64,
}

/// Bind the unix socket `sock` (created by the caller, not yet bound) at
/// `path`, give the file `mode` if one is given (exactly: not reduced by the
/// umask), `listen` with `backlog`, and only then make it appear at `path`.
///
/// If something is at `path` already, `existing` is called: `Ok` means it may
/// be replaced (a stale socket: the rename replaces it atomically), `Err`
/// refuses and is returned. Nothing is left behind on any error: the private
/// directory and the socket file in it are removed.
///
/// Errors: `EINVAL` for an empty path, a NUL, or one that does not end in a
/// name; `ENAMETOOLONG` if neither `/proc/self/fd/N/s` nor the private
/// directory's path fits `sun_path`; what `existing` returns; what opening
/// the directory, mkdir, bind, chmod, listen or rename fail with.
pub fn bind_unix(sock: &Fd, path: &[u8], mode: Option<libc::mode_t>, backlog: i32, existing: &mut dyn FnMut() -> Result<()>) -> Result<Placed> {
    let shown = Shown(path);
    let p = dir::parent(path, "unix socket path")?;
    let ctx = |e: Error| e.context(format_args!("unix socket {}", shown));
    let private = PrivateDir::make(&p.dir, b"gracefd-sock").map_err(|e| ctx(Error::sys(e, "private directory next to it")))?;
    let r = place(sock, path, &p, &private, mode, backlog, existing);
    if r.is_err() {
        // The socket file (if bind made it) goes, so the directory can go.
        let _ = fs::unlinkat(private.fd.raw(), INNER, false);
    }
    drop(private);
    r.map_err(ctx)
}

fn place(
    sock: &Fd,
    path: &[u8],
    p: &dir::Parent,
    private: &PrivateDir<'_>,
    mode: Option<libc::mode_t>,
    backlog: i32,
    existing: &mut dyn FnMut() -> Result<()>,
) -> Result<Placed> {
    if let Some(m) = mode {
        // Never more open than asked, even for the instant before fchmodat.
        fs::fchmod(sock.raw(), m).map_err(|e| Error::sys(e, "fchmod before bind"))?;
    }
    bind_inside(sock, path, private)?;
    if let Some(m) = mode {
        // Follows a link at "s" — but only we can write the 0700 directory.
        fs::fchmodat(private.fd.raw(), INNER, m).map_err(|e| Error::sys(e, "chmod"))?;
    }
    socket::listen(sock.raw(), backlog).map_err(|e| Error::sys(e, "listen"))?;
    let st = fs::lstatat(private.fd.raw(), INNER).map_err(|e| Error::sys(e, "stat"))?;
    let placed = Placed { dev: st.st_dev, ino: st.st_ino };
    match fs::renameat(private.fd.raw(), INNER, p.dir.raw(), &p.base, true) {
        Ok(()) => return Ok(placed),
        Err(Errno(libc::EEXIST)) => existing()?,
        // No RENAME_NOREPLACE here (old kernel, some file systems): look first.
        Err(Errno(libc::EINVAL)) | Err(Errno(libc::ENOSYS)) => match fs::lstatat(p.dir.raw(), &p.base) {
            Err(Errno(libc::ENOENT)) => {}
            _ => existing()?,
        },
        Err(e) => return Err(Error::sys(e, "rename into place")),
    }
    fs::renameat(private.fd.raw(), INNER, p.dir.raw(), &p.base, false).map_err(|e| Error::sys(e, "rename into place"))?;
    Ok(placed)
}

/// Bind at `/proc/self/fd/<dir fd>/s` (short, and resolved through our fd);
/// without /proc, at the private directory's own path.
fn bind_inside(sock: &Fd, path: &[u8], private: &PrivateDir<'_>) -> Result<()> {
    let mut via_fd = Vec::with_capacity(40);
    let mut digits = [0u8; 20];
    via_fd.extend_from_slice(b"/proc/self/fd/");
    via_fd.extend_from_slice(num::fmt_u64(private.fd.raw() as u64, &mut digits));
    via_fd.push(b'/');
    via_fd.extend_from_slice(INNER.strip_suffix(b"\0").unwrap_or(INNER));
    let sa = SockAddr::unix(&via_fd, false).map_err(|e| Error::sys(e, "bind"))?;
    match socket::bind(sock.raw(), &sa) {
        Ok(()) => return Ok(()),
        Err(Errno(libc::ENOENT)) | Err(Errno(libc::ENOTDIR)) => {}
        Err(e) => return Err(Error::sys(e, "bind")),
    }
    // The private directory by path: "<dir>/<private name>/s".
    let mut full = Vec::with_capacity(path.len() + 32);
    if let Some(i) = path.iter().rposition(|&b| b == b'/') {
        full.extend_from_slice(path.get(..=i).unwrap_or(&[]));
    }
    full.extend_from_slice(private.name().as_bytes());
    full.push(b'/');
    full.extend_from_slice(INNER.strip_suffix(b"\0").unwrap_or(INNER));
    let sa = SockAddr::unix(&full, false).map_err(|e| {
        Error::new(e, format_args!("bind: no /proc, and the private directory's path {} does not fit sun_path", Shown(&full)))
    })?;
    socket::bind(sock.raw(), &sa).map_err(|e| Error::sys(e, "bind"))
}

/// The mode of a socket file just bound at `path` by this process, set
/// without following anything planted there: the name is opened
/// `O_PATH|O_NOFOLLOW`, must be a socket file of our uid, and only that
/// inode is changed (through `/proc/self/fd/N`, which names the opened file
/// itself). For sockets that must keep `path` as their bound address
/// (`getsockname`, which the registry and `SERVER_STARTER_PORT` rely on):
/// [`bind_unix`] cannot give them that. Call it after `fchmod(sock, mode)`
/// before bind, so the file is never more open than asked meanwhile; when the
/// umask took nothing away, no change is needed at all.
///
/// Returns the file's identity. Errors: `EPERM` if what is at `path` is not a
/// socket file of ours (someone replaced it: nothing is changed); `ENOENT`
/// if it is gone, or if the mode must change and /proc is not mounted; what
/// open or chmod fail with.
pub(crate) fn set_bound_mode(path: &[u8], mode: libc::mode_t) -> Result<Placed> {
    let c = CPath::new(path).map_err(|e| Error::sys(e, "socket path"))?;
    let f = fs::open(&c, libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(|e| Error::sys(e, "open to set its mode"))?;
    let st = crate::sys::fd::fstat(f.raw()).map_err(|e| Error::sys(e, "fstat"))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK || st.st_uid != crate::sys::process::geteuid() {
        return Err(crate::err!(EPERM, "it was replaced by something else before its mode was set; nothing was changed"));
    }
    let placed = Placed { dev: st.st_dev, ino: st.st_ino };
    if st.st_mode & 0o7777 == mode & 0o7777 {
        return Ok(placed);
    }
    let mut via_fd = Vec::with_capacity(32);
    let mut digits = [0u8; 20];
    via_fd.extend_from_slice(b"/proc/self/fd/");
    via_fd.extend_from_slice(num::fmt_u64(f.raw() as u64, &mut digits));
    let via_fd = CPath::new(&via_fd).map_err(|e| Error::sys(e, "chmod"))?;
    fs::chmod(&via_fd, mode).map_err(|e| Error::sys(e, "chmod (through /proc/self/fd)"))?;
    Ok(placed)
}
