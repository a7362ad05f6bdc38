//! The directory a name lives in (opened once, used by fd), and private
//! temporary names in it.

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::msg::Plain;
use crate::proto::addr::Shown;
use crate::sys::cpath::CPath;
use crate::sys::fd::Fd;
use crate::sys::{fd, fs, process, time, Errno, SysResult};
use crate::err;

/// How many unpredictable names are tried before giving up (each try fails
/// only if something already sits at a name nobody could guess).
const NAME_TRIES: u32 = 64;

/// `path` split into its directory, opened `O_PATH|O_DIRECTORY`, and its
/// last component with a NUL.
pub(super) struct Parent {
    pub dir: Fd,
    pub base: CPath,
}

/// Open the directory of `path` and keep its last component. `EINVAL` for an
/// empty path, a NUL inside, or a path ending in `/`, `.` or `..`.
pub(super) fn parent(path: &[u8], what: &str) -> Result<Parent> {
    if path.is_empty() || path.contains(&0) {
        return Err(err!(EINVAL, "{} {} is empty or contains NUL", Plain(what), Shown(path)));
    }
    let (dir, base) = match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], path.get(1..).unwrap_or(&[])),
        Some(i) => (path.get(..i).unwrap_or(&[]), path.get(i + 1..).unwrap_or(&[])),
        None => (&b"."[..], path),
    };
    if base.is_empty() || base == b"." || base == b".." {
        return Err(err!(EINVAL, "{} {} does not name a file", Plain(what), Shown(path)));
    }
    // No NUL inside: checked above.
    let d = CPath::new(dir).map_err(|e| Error::sys(e, "directory"))?;
    let dir = fs::open(&d, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| Error::sys(e, "open its directory").context(format_args!("{} {}", Plain(what), Shown(path))))?;
    let base = CPath::new(base).map_err(|e| Error::sys(e, "file name"))?;
    Ok(Parent { dir, base })
}

/// `.<prefix>.<16 hex digits>`: unpredictable where the kernel has
/// a random source (otherwise the clock and pid: O_EXCL/mkdir still make a
/// guessed name a mere retry, never a redirection).
fn temp_name(prefix: &[u8]) -> SysResult<CPath> {
    let mut r = [0u8; 8];
    if fs::random(&mut r).is_err() {
        let mix = time::monotonic_ns() ^ ((process::getpid() as u64) << 32) ^ (r.as_ptr() as u64);
        r = mix.to_le_bytes();
    }
    let mut n = Vec::with_capacity(prefix.len() + 19);
    n.push(b'.');
    n.extend_from_slice(prefix);
    n.push(b'.');
    for b in r {
        for nib in [b >> 4, b & 15] {
            n.push(if nib < 10 { b'0' + nib } else { b'a' + nib - 10 });
        }
    }
    CPath::new(&n)
}

/// Create a file at an unpredictable name in `dir`, `O_EXCL|O_NOFOLLOW`
/// (so nothing planted there is opened or followed). Returns it and its name.
pub(super) fn create_temp_file(dir: &Fd, prefix: &[u8], mode: libc::mode_t) -> SysResult<(Fd, CPath)> {
    let mut last = Errno(libc::EEXIST);
    for _ in 0..NAME_TRIES {
        let name = temp_name(prefix)?;
        match fs::openat(dir.raw(), &name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_NOCTTY, mode) {
            Ok(f) => return Ok((f, name)),
            Err(e @ Errno(libc::EEXIST)) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// A private directory (0700, ours) made in a parent directory; removed on
/// drop with whatever [`PrivateDir::clear`] was told to remove first.
pub(super) struct PrivateDir<'a> {
    parent: &'a Fd,
    name: CPath,
    pub fd: Fd,
}

impl<'a> PrivateDir<'a> {
    /// Make one at an unpredictable name in `parent` and open it. `EPERM` if
    /// what we opened is not the directory we made (someone swapped it between
    /// mkdir and open: not ours, or open to others).
    pub fn make(parent: &'a Fd, prefix: &[u8]) -> core::result::Result<PrivateDir<'a>, Errno> {
        let mut last = Errno(libc::EEXIST);
        for _ in 0..NAME_TRIES {
            let name = temp_name(prefix)?;
            match fs::mkdirat(parent.raw(), &name, 0o700) {
                Ok(()) => {}
                Err(e @ Errno(libc::EEXIST)) => {
                    last = e;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let fd = match fs::openat(parent.raw(), &name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0) {
                Ok(f) => f,
                Err(e) => {
                    let _ = fs::unlinkat(parent.raw(), &name, true);
                    return Err(e);
                }
            };
            let ok = fd::fstat(fd.raw())
                .is_ok_and(|st| st.st_uid == process::geteuid() && st.st_mode & 0o077 == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR);
            if !ok {
                // Not ours: leave it alone (removing it by name could remove
                // someone else's).
                return Err(Errno(libc::EPERM));
            }
            return Ok(PrivateDir { parent, name, fd });
        }
        Err(last)
    }

    /// Its name in the parent.
    pub fn name(&self) -> &CPath {
        &self.name
    }
}

/// A private directory (0700, ours, checked as [`PrivateDir::make`] does) at
/// an unpredictable name in `parent`, kept: its name is returned and
/// removing it is the caller's business.
pub(crate) fn make_private_dir(parent: &Fd, prefix: &[u8]) -> core::result::Result<CPath, Errno> {
    let mut d = PrivateDir::make(parent, prefix)?;
    Ok(core::mem::replace(&mut d.name, CPath::new(b"")?))
}

impl Drop for PrivateDir<'_> {
    fn drop(&mut self) {
        if self.name.as_bytes().is_empty() {
            // Kept by make_private_dir.
            return;
        }
        // Only an empty directory can be removed: the caller has moved or
        // removed what it made inside.
        let _ = fs::unlinkat(self.parent.raw(), &self.name, true);
    }
}
