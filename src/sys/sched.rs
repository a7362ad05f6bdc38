//! CPU scheduling of this process's own threads, and an exit handler.

use super::{Errno, SysResult};

/// The lowest nice value: a thread at 19 gets about 1/70 of the CPU that a
/// thread at 0 gets when both want the same one.
pub(crate) const NICE_LOWEST: i32 = 19;

/// Set the nice value of thread `tid` (0: the calling thread); on Linux it
/// is a per-thread property. Errors: `ESRCH` if the thread is gone, `EACCES`
/// or `EPERM` if it is not ours to change.
pub(crate) fn set_nice(tid: i32, nice: i32) -> SysResult<()> {
    let who = libc::id_t::try_from(tid).map_err(|_| Errno(libc::ESRCH))?;
    // SAFETY: no pointer arguments.
    match unsafe { libc::setpriority(libc::PRIO_PROCESS, who, nice) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    }
}

/// The nice value of thread `tid` (0: the calling thread). Only the tests
/// read it back.
#[cfg(test)]
pub(crate) fn nice(tid: i32) -> SysResult<i32> {
    let who = libc::id_t::try_from(tid).map_err(|_| Errno(libc::ESRCH))?;
    // -1 is also a valid value: errno tells them apart.
    Errno(0).set();
    // SAFETY: no pointer arguments.
    let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, who) };
    match Errno::last() {
        Errno(0) => Ok(n),
        e => Err(e),
    }
}

/// Run `f` when the process leaves through `exit()` or a return from
/// `main` (not `_exit`, not a fatal signal). `ENOMEM` if libc has no room
/// for another handler.
pub(crate) fn at_exit(f: extern "C" fn()) -> SysResult<()> {
    // SAFETY: f is a plain function with the signature atexit expects.
    match unsafe { libc::atexit(f) } {
        0 => Ok(()),
        _ => Err(Errno(libc::ENOMEM)),
    }
}
