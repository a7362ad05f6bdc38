//! Files and directories: open, flock, small reads and writes, readlink.

use super::fd::{Fd, RawFd};
use super::{cvt, cvt_size, retry, Errno, SysResult};

/// `open(path, flags | O_CLOEXEC, mode)`; `path` must end in NUL.
pub fn open(path: &[u8], flags: libc::c_int, mode: libc::mode_t) -> SysResult<Fd> {
    if path.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: path is NUL-terminated.
    let r = retry(|| cvt(unsafe { libc::open(path.as_ptr().cast(), flags | libc::O_CLOEXEC, mode as libc::c_uint) }))?;
    // SAFETY: fresh fd from open.
    Ok(unsafe { Fd::from_raw(r) })
}

/// `flock(fd, op)`.
pub fn flock(fd: RawFd, op: libc::c_int) -> SysResult<()> {
    // SAFETY: flock on an int.
    retry(|| cvt(unsafe { libc::flock(fd, op) })).map(|_| ())
}

/// `ftruncate`. Async-signal-safe.
pub(crate) fn ftruncate(fd: RawFd, len: i64) -> SysResult<()> {
    // SAFETY: ftruncate on an int.
    cvt(unsafe { libc::ftruncate(fd, len) }).map(|_| ())
}

/// `pwrite` all of `buf` at `off`. Async-signal-safe.
pub(crate) fn pwrite_all(fd: RawFd, mut buf: &[u8], mut off: i64) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: valid slice.
        let n = retry(|| cvt_size(unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), off) }))?;
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        buf = buf.get(n..).unwrap_or(&[]);
        off += n as i64;
    }
    Ok(())
}

/// `pread` into `buf` at `off` until full or EOF; returns bytes read. Async-signal-safe.
pub(crate) fn pread_full(fd: RawFd, buf: &mut [u8], off: i64) -> SysResult<usize> {
    let mut got = 0;
    while got < buf.len() {
        let rest = buf.get_mut(got..).unwrap_or(&mut []);
        // SAFETY: valid slice.
        let n = retry(|| cvt_size(unsafe { libc::pread(fd, rest.as_mut_ptr().cast(), rest.len(), off + got as i64) }))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Read a whole small file into `buf`; returns bytes read (stops when `buf` is full).
pub(crate) fn read_file(path: &[u8], buf: &mut [u8]) -> SysResult<usize> {
    let f = open(path, libc::O_RDONLY, 0)?;
    let mut got = 0;
    while got < buf.len() {
        let n = super::fd::read(f.raw(), buf.get_mut(got..).unwrap_or(&mut []))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// `readlink` into `buf`; returns the length (not NUL-terminated). ENAMETOOLONG if it fills `buf`.
pub(crate) fn readlink(path: &[u8], buf: &mut [u8]) -> SysResult<usize> {
    if path.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: path NUL-terminated, buf valid.
    let n = cvt_size(unsafe { libc::readlink(path.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) })?;
    if n >= buf.len() {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    Ok(n)
}

/// `lstat`; `path` ends in NUL.
pub fn lstat(path: &[u8]) -> SysResult<libc::stat> {
    if path.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: path NUL-terminated, st valid.
    cvt(unsafe { libc::lstat(path.as_ptr().cast(), &mut st) })?;
    Ok(st)
}

/// `unlink`; `path` ends in NUL.
pub fn unlink(path: &[u8]) -> SysResult<()> {
    if path.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: NUL-terminated.
    cvt(unsafe { libc::unlink(path.as_ptr().cast()) }).map(|_| ())
}

/// Remove `path` (ends in NUL) only if it still names the file `(dev, ino)`
/// — the one we created — so that whatever replaced it stays.
/// `Ok(true)`: removed; `Ok(false)`: something else (or nothing) is there
/// now, or it cannot be looked at: left alone. Errors: those of `unlink`.
///
/// Between the `lstat` and the `unlink` someone who may write the directory
/// could still swap the file; Linux has no unlink-by-inode. Paths whose
/// directory others can write are bound by rename from a private directory
/// (`safe_path`), so the window only matters against ourselves.
pub fn unlink_if_same(path: &[u8], dev: u64, ino: u64) -> SysResult<bool> {
    match lstat(path) {
        Ok(st) if (st.st_dev, st.st_ino) == (dev, ino) => unlink(path).map(|()| true),
        _ => Ok(false),
    }
}

/// `chdir`; `path` ends in NUL. Async-signal-safe.
pub fn chdir(path: &[u8]) -> SysResult<()> {
    if path.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: NUL-terminated.
    cvt(unsafe { libc::chdir(path.as_ptr().cast()) }).map(|_| ())
}

/// `fchdir`: make the directory `fd` refers to (an `O_PATH` fd is fine) the
/// working directory. Async-signal-safe.
pub(crate) fn fchdir(fd: RawFd) -> SysResult<()> {
    // SAFETY: fchdir on an int.
    cvt(unsafe { libc::fchdir(fd) }).map(|_| ())
}

/// `umask`; returns the old mask. Async-signal-safe.
pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: no preconditions.
    unsafe { libc::umask(mask) }
}

/// `chmod`; `path` ends in NUL.
pub fn chmod(path: &[u8], mode: libc::mode_t) -> SysResult<()> {
    if path.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: NUL-terminated.
    cvt(unsafe { libc::chmod(path.as_ptr().cast(), mode) }).map(|_| ())
}

/// `fchmod`. On a unix socket that is not yet bound, this sets the mode the
/// socket file will be created with (less the umask) when it is bound.
pub(crate) fn fchmod(fd: RawFd, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: fchmod on an int.
    cvt(unsafe { libc::fchmod(fd, mode) }).map(|_| ())
}

/// `rename`; both paths end in NUL.
pub fn rename(from: &[u8], to: &[u8]) -> SysResult<()> {
    if from.last() != Some(&0) || to.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: NUL-terminated.
    cvt(unsafe { libc::rename(from.as_ptr().cast(), to.as_ptr().cast()) }).map(|_| ())
}

/// The entries of a directory whose names are decimal numbers (e.g.
/// `/proc/self/task`), written to `out`; returns how many were found (may
/// exceed `out.len()`). Every such entry, whatever its number.
pub fn list_dir_numbers(dir: &[u8], out: &mut [RawFd]) -> SysResult<usize> {
    scan_numbers(dir, out, false)
}

/// [`list_dir_numbers`]; with `skip_own`, leaving out the entry named by the
/// fd the scan opened the directory on (`/proc/self/fd` lists it).
fn scan_numbers(dir: &[u8], out: &mut [RawFd], skip_own: bool) -> SysResult<usize> {
    let d = open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut buf = [0u64; 512];
    let mut count = 0;
    loop {
        // SAFETY: buf is a valid buffer for getdents64.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, d.raw(), buf.as_mut_ptr(), core::mem::size_of_val(&buf)) };
        if n < 0 {
            return Err(Errno::last());
        }
        if n == 0 {
            break;
        }
        let bytes = buf.as_ptr() as *const u8;
        let mut off = 0usize;
        while off < n as usize {
            // SAFETY: the kernel wrote n bytes of linux_dirent64 records into buf:
            // d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[].
            let (reclen, name) = unsafe {
                let rec = bytes.add(off);
                let reclen = core::ptr::read_unaligned(rec.add(16) as *const u16) as usize;
                let name = core::ffi::CStr::from_ptr(rec.add(19) as *const libc::c_char).to_bytes();
                (reclen, name)
            };
            if reclen == 0 {
                break;
            }
            off += reclen;
            if let Some(v) = crate::num::parse_u32(name) {
                let v = v as RawFd;
                if skip_own && v == d.raw() {
                    continue;
                }
                if let Some(slot) = out.get_mut(count) {
                    *slot = v;
                }
                count += 1;
            }
        }
    }
    Ok(count)
}

// ---- relative to a directory fd (nothing by a path someone can swap) ----------

/// Open fds of this process, by scanning `/proc/self/fd` into `out`; returns how many
/// were found (may exceed `out.len()`, in which case the rest are not stored).
/// The fd the scan itself opens is not among them.
pub fn list_open(out: &mut [RawFd]) -> SysResult<usize> {
    scan_numbers(b"/proc/self/fd\0", out, true)
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`; `name` ends in NUL.
pub(crate) fn openat(dir: RawFd, name: &[u8], flags: libc::c_int, mode: libc::mode_t) -> SysResult<Fd> {
    if name.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: name is NUL-terminated.
    let r = retry(|| cvt(unsafe { libc::openat(dir, name.as_ptr().cast(), flags | libc::O_CLOEXEC, mode as libc::c_uint) }))?;
    // SAFETY: fresh fd from openat.
    Ok(unsafe { Fd::from_raw(r) })
}

/// `mkdirat(dir, name, mode)`; `name` ends in NUL. Fails with `EEXIST` if
/// anything (a symbolic link included) is at `name`.
pub(crate) fn mkdirat(dir: RawFd, name: &[u8], mode: libc::mode_t) -> SysResult<()> {
    if name.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: NUL-terminated.
    cvt(unsafe { libc::mkdirat(dir, name.as_ptr().cast(), mode) }).map(|_| ())
}

/// `fchmodat(dir, name, mode, 0)`. It follows a symbolic link at `name`
/// (Linux has no no-follow variant for it): use it only inside a directory
/// nobody else can write.
pub(crate) fn fchmodat(dir: RawFd, name: &[u8], mode: libc::mode_t) -> SysResult<()> {
    if name.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: NUL-terminated.
    cvt(unsafe { libc::fchmodat(dir, name.as_ptr().cast(), mode, 0) }).map(|_| ())
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; `name` ends in NUL.
pub(crate) fn lstatat(dir: RawFd, name: &[u8]) -> SysResult<libc::stat> {
    if name.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: NUL-terminated name, valid out-pointer.
    cvt(unsafe { libc::fstatat(dir, name.as_ptr().cast(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

/// `renameat(from_dir, from, to_dir, to)`, replacing whatever is at `to`
/// (the name itself: a symbolic link there is replaced, not followed).
/// With `no_replace`, `renameat2(RENAME_NOREPLACE)`: `EEXIST` if `to` exists;
/// `EINVAL`/`ENOSYS` where the file system or kernel lacks it.
pub(crate) fn renameat(from_dir: RawFd, from: &[u8], to_dir: RawFd, to: &[u8], no_replace: bool) -> SysResult<()> {
    if from.last() != Some(&0) || to.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    let flags: libc::c_uint = if no_replace { libc::RENAME_NOREPLACE } else { 0 };
    // SAFETY: NUL-terminated names; renameat2 takes ints and pointers.
    let r = unsafe { libc::syscall(libc::SYS_renameat2, from_dir, from.as_ptr(), to_dir, to.as_ptr(), flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// `unlinkat(dir, name, dir_too ? AT_REMOVEDIR : 0)`; `name` ends in NUL.
pub(crate) fn unlinkat(dir: RawFd, name: &[u8], remove_dir: bool) -> SysResult<()> {
    if name.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    let flags = if remove_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: NUL-terminated.
    cvt(unsafe { libc::unlinkat(dir, name.as_ptr().cast(), flags) }).map(|_| ())
}

/// Fill `buf` from the kernel's random source (`getrandom`, non-blocking).
/// `Err` where it is missing or not yet seeded.
pub fn random(buf: &mut [u8]) -> SysResult<()> {
    let mut got = 0;
    while got < buf.len() {
        let rest = buf.get_mut(got..).unwrap_or(&mut []);
        // SAFETY: valid slice.
        let n = retry(|| cvt_size(unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), libc::GRND_NONBLOCK) }))?;
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        got += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::cpath::CPath;

    #[test]
    fn unlink_if_same_leaves_a_replaced_file_alone() {
        let d = std::env::temp_dir().join(format!("gracefd-unlink-same-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = CPath::new(std::os::unix::ffi::OsStrExt::as_bytes(d.join("f").as_os_str())).unwrap();
        std::fs::write(d.join("f"), b"ours").unwrap();
        let ours = lstat(&p).unwrap();
        // Replaced by another file (a new inode) at the same path: kept.
        std::fs::write(d.join("g"), b"theirs").unwrap();
        std::fs::rename(d.join("g"), d.join("f")).unwrap();
        assert_eq!(unlink_if_same(&p, ours.st_dev, ours.st_ino), Ok(false));
        assert_eq!(std::fs::read(d.join("f")).unwrap(), b"theirs");
        // Still ours: removed; gone: nothing to do.
        let now = lstat(&p).unwrap();
        assert_eq!(unlink_if_same(&p, now.st_dev, now.st_ino), Ok(true));
        assert!(!d.join("f").exists());
        assert_eq!(unlink_if_same(&p, now.st_dev, now.st_ino), Ok(false));
        std::fs::remove_dir_all(&d).unwrap();
    }

    // Every numbered entry is listed, the one whose number is the fd the
    // scan opened the directory on too (a thread id in /proc/self/task can
    // be that number; only the scan of /proc/self/fd leaves its own fd out).
    #[test]
    fn every_numbered_entry_is_listed() {
        let d = std::env::temp_dir().join(format!("gracefd-list-numbers-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..1024 {
            std::fs::write(d.join(i.to_string()), b"").unwrap();
        }
        std::fs::write(d.join("not-a-number"), b"").unwrap();
        let path = CPath::new(std::os::unix::ffi::OsStrExt::as_bytes(d.as_os_str())).unwrap();
        let mut out = [0 as RawFd; 2048];
        let n = list_dir_numbers(&path, &mut out).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        let got: std::collections::BTreeSet<RawFd> = out[..n].iter().copied().collect();
        let missing: Vec<RawFd> = (0..1024).filter(|i| !got.contains(i)).collect();
        assert!(missing.is_empty() && n == 1024, "{n} listed, missing {missing:?}");
    }
}
