//! File descriptors: an owned fd that closes on drop, CLOEXEC helpers, and
//! the fork-safe "dup into slots" used to lay out fds 3.. for a child.

use super::{cvt, retry, Errno, SysResult};

/// A raw fd number.
pub type RawFd = libc::c_int;

/// An fd owned by the holder: closed when dropped.
#[derive(Debug)]
pub struct Fd(RawFd);

impl Fd {
    /// Take ownership of `raw`.
    ///
    /// # Safety
    /// `raw` must be an open fd that nothing else will close.
    pub unsafe fn from_raw(raw: RawFd) -> Fd {
        Fd(raw)
    }

    /// The fd number (still owned by `self`).
    pub fn raw(&self) -> RawFd {
        self.0
    }

    /// Give up ownership without closing.
    pub fn into_raw(self) -> RawFd {
        let r = self.0;
        core::mem::forget(self);
        r
    }

    /// A new CLOEXEC duplicate (owned).
    pub fn try_clone(&self) -> SysResult<Fd> {
        dup_cloexec(self.0)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// Close `fd`, ignoring errors (after close the fd is gone whatever it returns on Linux).
/// Async-signal-safe.
///
/// Crate-internal: it can close an fd that an [`Fd`] or an `OwnedFd`
/// elsewhere owns (which then closes a number that may name another file by
/// then). Callers close only fds nothing owns (raw ones just received, or in
/// a child about to exec). Outside the crate, own an fd with
/// [`Fd::from_raw`] and drop it.
///
/// ```compile_fail
/// gracefd::sys::fd::close(3); // not public: it could close what an OwnedFd owns
/// ```
pub(crate) fn close(fd: RawFd) {
    // SAFETY: closing an int has no memory-safety preconditions.
    unsafe { libc::close(fd) };
}

/// Duplicate `fd` to the lowest free number, CLOEXEC, owned.
pub fn dup_cloexec(fd: RawFd) -> SysResult<Fd> {
    dup_cloexec_min(fd, 3)
}

/// Duplicate `fd` to the lowest free number >= `min`, CLOEXEC, owned.
pub(crate) fn dup_cloexec_min(fd: RawFd, min: RawFd) -> SysResult<Fd> {
    // SAFETY: fcntl on an int; result checked.
    let r = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    Ok(Fd(r))
}

/// Read the fd flags (`F_GETFD`); `Err(EBADF)` means not open. Async-signal-safe.
pub(crate) fn get_fd_flags(fd: RawFd) -> SysResult<libc::c_int> {
    // SAFETY: fcntl on an int.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })
}

/// Whether `fd` is open.
pub(crate) fn is_open(fd: RawFd) -> bool {
    get_fd_flags(fd).is_ok()
}

/// Set or clear `FD_CLOEXEC`. Async-signal-safe.
pub(crate) fn set_cloexec(fd: RawFd, on: bool) -> SysResult<()> {
    let flags = get_fd_flags(fd)?;
    let new = if on { flags | libc::FD_CLOEXEC } else { flags & !libc::FD_CLOEXEC };
    if new != flags {
        // SAFETY: fcntl on an int.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, new) })?;
    }
    Ok(())
}

/// Whether `FD_CLOEXEC` is set.
pub fn is_cloexec(fd: RawFd) -> SysResult<bool> {
    Ok(get_fd_flags(fd)? & libc::FD_CLOEXEC != 0)
}

/// Read the status flags (`F_GETFL`).
pub(crate) fn get_status_flags(fd: RawFd) -> SysResult<libc::c_int> {
    // SAFETY: fcntl on an int.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })
}

/// Whether `O_NONBLOCK` is set. This is open-file-description state, shared with
/// every process holding the same socket.
pub fn is_nonblocking(fd: RawFd) -> SysResult<bool> {
    Ok(get_status_flags(fd)? & libc::O_NONBLOCK != 0)
}

/// Set or clear `O_NONBLOCK` (shared state: only on sockets this process created
/// or when the caller asked for it).
pub fn set_nonblocking(fd: RawFd, on: bool) -> SysResult<()> {
    let fl = get_status_flags(fd)?;
    let new = if on { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK };
    if new != fl {
        // SAFETY: fcntl on an int.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// `dup2`, retrying EINTR/EBUSY. The new fd has CLOEXEC cleared. Async-signal-safe.
///
/// Crate-internal: it replaces whatever `dst` was, possibly an fd something
/// else owns. Outside the crate, [`redirect_stdio`] does it for 0–2.
///
/// ```compile_fail
/// gracefd::sys::fd::dup2(0, 5); // not public: fd 5 may be owned elsewhere
/// ```
pub(crate) fn dup2(src: RawFd, dst: RawFd) -> SysResult<()> {
    retry(|| {
        // SAFETY: dup2 on ints.
        match cvt(unsafe { libc::dup2(src, dst) }) {
            Err(Errno(libc::EBUSY)) => Err(Errno(libc::EINTR)),
            r => r.map(|_| ()),
        }
    })
}

/// `dup3(src, dst, O_CLOEXEC)`: make `dst` (an fd the caller owns, replaced
/// atomically) a CLOEXEC duplicate of `src`. It needs no new fd number, so it
/// cannot fail with `EMFILE`. Retries EINTR/EBUSY. Crate-internal (as
/// [`dup2`]: it replaces whatever `dst` was).
///
/// ```compile_fail
/// gracefd::sys::fd::dup3_cloexec(0, 5);
/// ```
#[cfg_attr(not(feature = "std"), allow(dead_code))] // the Rust face's user only
pub(crate) fn dup3_cloexec(src: RawFd, dst: RawFd) -> SysResult<()> {
    retry(|| {
        // SAFETY: dup3 on ints.
        match cvt(unsafe { libc::dup3(src, dst, libc::O_CLOEXEC) }) {
            Err(Errno(libc::EBUSY)) => Err(Errno(libc::EINTR)),
            r => r.map(|_| ()),
        }
    })
}

/// Place `srcs[i]` at fd `base + i` for every i, without ever clobbering a
/// source that is still needed, and with CLOEXEC cleared on exactly those
/// targets. `scratch` must be at least `srcs.len()` long (prepared before fork).
///
/// Two phases: first every source is duplicated above the target range
/// (`>= base + n`), so no source is lost when a target is overwritten; then
/// each copy is `dup2`ed into its slot. The phase-one copies are CLOEXEC and
/// vanish at exec. Async-signal-safe: no allocation, no locks.
/// Crate-internal (it overwrites fds `base..`, whoever owns them): for a
/// child between fork and exec.
///
/// ```compile_fail
/// gracefd::sys::fd::dup_into_slots(&[0], 3, &mut [0]);
/// ```
pub(crate) fn dup_into_slots(srcs: &[RawFd], base: RawFd, scratch: &mut [RawFd]) -> SysResult<()> {
    let n = srcs.len();
    if scratch.len() < n {
        return Err(Errno(libc::EINVAL));
    }
    let above = base.saturating_add(n as RawFd);
    for (s, tmp) in srcs.iter().zip(scratch.iter_mut()) {
        // SAFETY: fcntl on ints.
        *tmp = cvt(unsafe { libc::fcntl(*s, libc::F_DUPFD_CLOEXEC, above) })?;
    }
    for (i, tmp) in scratch.iter().take(n).enumerate() {
        dup2(*tmp, base + i as RawFd)?;
    }
    Ok(())
}

/// Close every fd >= `first` (in a child about to exec, so nothing but the
/// planned fds reaches the new program). `close_range(2)`, falling back to a
/// loop up to the fd limit on kernels without it. Async-signal-safe.
/// Crate-internal (it closes fds others own): for a child about to exec.
///
/// ```compile_fail
/// gracefd::sys::fd::close_from(3);
/// ```
pub(crate) fn close_from(first: RawFd) {
    // SAFETY: close_range on ints; failure is handled by the fallback.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0 as libc::c_uint) };
    if r == 0 {
        return;
    }
    let max = super::rlimit::getrlimit(libc::RLIMIT_NOFILE).map(|l| l.rlim_cur).unwrap_or(1024).min(1 << 20);
    let mut f = first;
    while (f as u64) < max {
        close(f);
        f += 1;
    }
}

/// Make standard input, output or error (`target` 0, 1 or 2) a copy of
/// `src` (`dup2`; CLOEXEC cleared). Safe: fds 0–2 belong to the process as a
/// whole (std's `stdout()` writes to fd 1 whoever else holds it), so
/// replacing one breaks no owner. `EINVAL` for any other `target`.
/// Async-signal-safe.
pub fn redirect_stdio(src: RawFd, target: RawFd) -> SysResult<()> {
    if !(0..=2).contains(&target) {
        return Err(Errno(libc::EINVAL));
    }
    dup2(src, target)
}

/// Close standard input, output or error (`target` 0, 1 or 2; see
/// [`redirect_stdio`] for why this is safe). `EINVAL` for any other `target`.
pub fn close_stdio(target: RawFd) -> SysResult<()> {
    if !(0..=2).contains(&target) {
        return Err(Errno(libc::EINVAL));
    }
    close(target);
    Ok(())
}

/// Write all of `buf` (retrying EINTR and short writes). Async-signal-safe.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice.
        let r = retry(|| super::cvt_size(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }))?;
        if r == 0 {
            return Err(Errno(libc::EIO));
        }
        buf = buf.get(r..).unwrap_or(&[]);
    }
    Ok(())
}

/// One `write` (no retry: a signal handler writes one byte and moves on).
/// Async-signal-safe.
pub(crate) fn write_once(fd: RawFd, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: buf is a valid slice.
    super::cvt_size(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// One `read` (retrying EINTR).
pub fn read(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: buf is a valid mutable slice.
    retry(|| super::cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }))
}

/// A CLOEXEC pipe: (read end, write end).
pub fn pipe() -> SysResult<(Fd, Fd)> {
    let mut p = [0 as RawFd; 2];
    // SAFETY: p has room for two fds.
    cvt(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((Fd(p[0]), Fd(p[1])))
}

/// `fstat`. Async-signal-safe.
pub fn fstat(fd: RawFd) -> SysResult<libc::stat> {
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: st is a valid out-pointer.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inode(fd: RawFd) -> u64 {
        fstat(fd).unwrap().st_ino
    }

    #[test]
    fn dup_into_slots_handles_overlap() {
        // Make pipes so we have distinct inodes, then ask to permute them into a
        // range that overlaps the sources.
        // High numbers, so the slots cannot collide with fds of tests running
        // in parallel threads of this process.
        let (p, q) = pipe().unwrap();
        let (r, t) = pipe().unwrap();
        let a = dup_cloexec_min(p.raw(), 700).unwrap();
        let b = dup_cloexec_min(q.raw(), 700).unwrap();
        let c = dup_cloexec_min(r.raw(), 700).unwrap();
        let d = dup_cloexec_min(t.raw(), 700).unwrap();
        let srcs = [d.raw(), c.raw(), b.raw(), a.raw()];
        let want: Vec<u64> = srcs.iter().map(|&f| inode(f)).collect();
        let base = a.raw().min(b.raw()).min(c.raw()).min(d.raw());
        let mut scratch = [0; 4];
        dup_into_slots(&srcs, base, &mut scratch).unwrap();
        for (i, w) in want.iter().enumerate() {
            let fd = base + i as RawFd;
            assert_eq!(inode(fd), *w, "slot {}", i);
            assert!(!is_cloexec(fd).unwrap());
        }
        for s in scratch {
            assert!(is_cloexec(s).unwrap());
            close(s);
        }
        // a..d now own the permuted fds; dropping them closes the slots.
    }

    #[test]
    fn dup_cloexec_is_cloexec() {
        let (a, _b) = pipe().unwrap();
        let d = a.try_clone().unwrap();
        assert!(is_cloexec(d.raw()).unwrap());
        assert_ne!(d.raw(), a.raw());
    }
}
