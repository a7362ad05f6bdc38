//! Pid files for programs that do not daemonize.

use core::ffi::{c_char, c_int};

use super::boundary::{self, run};
use crate::pidfile;

/// Lock the pid file at `path`, write this process's pid into it and hold it
/// for the rest of the process's life (for programs that do not daemonize;
/// gracefd_daemonize() has its own option). It is opened with `O_NOFOLLOW`,
/// must be a regular file owned by the effective user with a single link, and
/// is locked with `flock`; a stale file (nobody holds the lock) is taken over.
/// The lock and the fd (CLOEXEC) go to the new generation on gracefd_upgrade(),
/// which rewrites the pid once the new generation is ready. Calling it again
/// for the file already held only rewrites the pid; in a new generation that
/// inherited this very file it writes nothing (the old generation names the
/// new one once it is ready, so a new generation that fails never leaves the
/// file naming a dead process).
///
/// Returns 0. Errors: `-EEXIST` another process holds it (the message says
/// "already running as pid N"; exit with `GRACEFD_EXIT_ALREADY_RUNNING`);
/// `-ELOOP` `path` is a symbolic link; `-EPERM` not owned by us, or several
/// links; `-EINVAL` NULL or empty path, not a regular file; `-EBUSY` this
/// process already holds a different pid file; `-EAGAIN` the file kept being
/// removed or replaced between open and lock (after 100 tries: the lock is
/// only kept on the file that is at `path`); `-EACCES`, `-ENOENT`, … from
/// open. Env: `GRACEFD_PIDFILE_FD` (read at start-up, with `LISTEN_PID`).
/// Thread-safe.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_pidfile_create(path: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let p = unsafe { boundary::cstr(path, "path") }?;
        pidfile::create(p)?;
        Ok(0)
    })
}

/// At clean exit: remove the pid file this process holds (from
/// gracefd_pidfile_create(), gracefd_daemonize() or an upgrade) if it still
/// names this process and is still the file at its path, then release it.
/// Returns 1 if it was removed; 0 if there is none, or it names another
/// process (after an upgrade it names the new generation, which keeps it), or
/// it was replaced or removed meanwhile — left alone then. Errors: `-EACCES`
/// (or another errno from unlink) when the file cannot be removed, for example
/// after switching to a user that may not write its directory; it stays
/// held. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_pidfile_remove() -> c_int {
    run(|| Ok(i32::from(pidfile::remove()?)))
}
