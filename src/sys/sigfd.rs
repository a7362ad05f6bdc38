//! Signals as an fd (`signalfd`): a supervisor blocks the signals it handles
//! and reads them from a poll-able fd, so no handler ever runs and nothing is
//! async-signal-constrained. A child started with [`crate::spawn::Spawn`]
//! gets an empty signal mask, so blocking here never leaks into it.

use super::fd::{Fd, RawFd};
use super::{cvt, Errno, SysResult};

/// Block `sigs` in the calling thread and return a CLOEXEC, non-blocking
/// signalfd that reports them. Blocked signals stay pending until read.
pub fn open(sigs: &[i32]) -> SysResult<Fd> {
    // SAFETY: sigset operations on a local set; signalfd on it.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            if libc::sigaddset(&mut set, s) != 0 {
                return Err(Errno(libc::EINVAL));
            }
        }
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut());
        if r != 0 {
            return Err(Errno(r));
        }
        let fd = cvt(libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK))?;
        Ok(Fd::from_raw(fd))
    }
}

/// Read one pending signal from a signalfd made by [`open`]: `Ok(None)` when
/// none is pending.
pub fn read(fd: RawFd) -> SysResult<Option<i32>> {
    // SAFETY: signalfd_siginfo is plain data; the buffer is exactly one record.
    let mut info: libc::signalfd_siginfo = unsafe { core::mem::zeroed() };
    let len = core::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: valid buffer of `len` bytes.
    let r = super::retry(|| super::cvt_size(unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), len) }));
    match r {
        Ok(n) if n == len => Ok(Some(info.ssi_signo as i32)),
        Ok(_) => Err(Errno(libc::EIO)),
        Err(Errno(libc::EAGAIN)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn delivers_a_blocked_signal() {
        // SIGWINCH: harmless if it escaped, and nobody else in the test
        // process uses it.
        let fd = super::open(&[libc::SIGWINCH]).unwrap();
        assert_eq!(super::read(fd.raw()).unwrap(), None);
        // SAFETY: raise to this thread (the one that blocked it).
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGWINCH) };
        assert_eq!(super::read(fd.raw()).unwrap(), Some(libc::SIGWINCH));
    }
}
