//! Regular files by name: written whole through an unpredictable temporary
//! name, or appended to without following a link.

use super::dir::{self, create_temp_file};
use crate::error::{Error, Result};
use crate::proto::addr::Shown;
use crate::sys::cpath::CPath;
use crate::sys::fd::{self, Fd};
use crate::sys::{fs, Errno};
use crate::err;

/// Replace the file at `path` with `content`, atomically (a reader sees the
/// old or the new text, never a part): written to `.<name>.<random>` created
/// `O_EXCL|O_NOFOLLOW` in the same directory (by its fd), then renamed over
/// `path` (a symbolic link at `path` is replaced, not followed). Mode 0644
/// less the umask. The temporary file is removed on every error.
///
/// Errors: `EINVAL` for an empty path, a NUL, or one not ending in a name;
/// what opening the directory, creating, writing or renaming fail with.
pub fn write_replace(path: &[u8], content: &[u8]) -> Result<()> {
    let shown = Shown(path);
    let p = dir::parent(path, "file")?;
    let prefix = p.base.as_bytes();
    let (f, tmp) = create_temp_file(&p.dir, prefix, 0o644)
        .map_err(|e| Error::sys(e, "create a temporary file next to it").context(format_args!("{}", shown)))?;
    let r = fd::write_all(f.raw(), content)
        .map_err(|e| Error::sys(e, "write"))
        .and_then(|()| fs::renameat(p.dir.raw(), &tmp, p.dir.raw(), &p.base, false).map_err(|e| Error::sys(e, "rename into place")));
    drop(f);
    if r.is_err() {
        let _ = fs::unlinkat(p.dir.raw(), &tmp, false);
    }
    r.map_err(|e| e.context(format_args!("{}", shown)))
}

/// Whether `path` names one of this process's own fds through a link only
/// root can plant: `/proc/self/fd/N`, `/dev/fd/N`, `/dev/stdout`,
/// `/dev/stderr` (the gracefd command hands a log pipe over as
/// `/proc/self/fd/N`).
fn is_own_fd_path(path: &[u8]) -> bool {
    let digits = |rest: &[u8]| !rest.is_empty() && rest.iter().all(u8::is_ascii_digit);
    path.strip_prefix(b"/proc/self/fd/").is_some_and(digits)
        || path.strip_prefix(b"/dev/fd/").is_some_and(digits)
        || path == b"/dev/stdout"
        || path == b"/dev/stderr"
}

/// Open `path` for appending (a log file), creating it with `mode` (less the
/// umask) if missing, `O_NOFOLLOW|O_NOCTTY`: a symbolic link planted at the
/// name is refused, not followed. The links that name this process's own
/// fds (`/proc/self/fd/N`, `/dev/fd/N`, `/dev/stdout`, `/dev/stderr`: only
/// root can put a link there) are followed. CLOEXEC.
///
/// Errors: `EINVAL` for an empty path or a NUL inside; `ELOOP` if `path` is a
/// symbolic link; what open fails with.
pub fn open_append(path: &[u8], mode: libc::mode_t) -> Result<Fd> {
    let c = match CPath::new(path) {
        Ok(c) if !path.is_empty() => c,
        _ => return Err(err!(EINVAL, "file path {} is empty or contains NUL", Shown(path))),
    };
    let nofollow = if is_own_fd_path(path) { 0 } else { libc::O_NOFOLLOW };
    fs::open(&c, libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | nofollow | libc::O_NOCTTY, mode).map_err(|e| match e {
        Errno(libc::ELOOP) => err!(ELOOP, "{} is a symbolic link; refusing to follow it", Shown(path)),
        e => Error::sys(e, "open").context(format_args!("{}", Shown(path))),
    })
}
