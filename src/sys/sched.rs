//! CPU scheduling of this process's own threads, and an exit handler.

use super::{cvt, Errno, SysResult};

/// Move thread `tid` (0: the calling thread) to `SCHED_IDLE`: from then on
/// it gets a CPU only when no ordinary thread wants one. Errors: `ESRCH` if
/// the thread is gone, `EPERM` if it is not ours to change.
pub(crate) fn set_idle(tid: i32) -> SysResult<()> {
    let p = libc::sched_param { sched_priority: 0 };
    // SAFETY: p is a valid sched_param for the duration of the call.
    cvt(unsafe { libc::sched_setscheduler(tid, libc::SCHED_IDLE, &p) }).map(|_| ())
}

/// The scheduling policy of thread `tid` (0: the calling thread), without
/// the reset-on-fork flag.
pub(crate) fn policy(tid: i32) -> SysResult<i32> {
    // SAFETY: no pointer arguments.
    cvt(unsafe { libc::sched_getscheduler(tid) }).map(|p| p & !libc::SCHED_RESET_ON_FORK)
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
