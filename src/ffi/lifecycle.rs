//! Readiness and lineage: tell the starter, know the generation.

use core::ffi::{c_char, c_int};

use super::boundary::{self, run};
use crate::{lineage, ready};

/// Tell everyone who waits that this process is ready to serve: the process
/// that started it (a daemonize launcher, the old generation of an upgrade, or
/// the gracefd superdaemon, through `GRACEFD_READY_FD`) and systemd
/// (`READY=1`, with `MAINPID=` when this process is a new generation) when
/// `NOTIFY_SOCKET` is set. If this process took its fds with
/// gracefd_handoff_take(), the process it took them from is told to drain
/// (it gets `GRACEFD_EVENT_DRAIN`). Call it once the listeners are open and
/// the program can answer requests. Further calls only repeat the systemd part.
///
/// Returns 1 if a starter (or a hand-off's old process) was waiting and was
/// told, 0 if nobody waits (a plain start: not an error). If the starter has died meanwhile (it was killed in
/// the middle of an upgrade), that is not an error either: 1 is returned and
/// this process goes on; it is never killed by SIGPIPE.
/// Errors: a negative errno if sending to the starter failed for another
/// reason, or if `NOTIFY_SOCKET` is set but systemd could not be told (for
/// example `-ECONNREFUSED` when nothing listens there, `-EINVAL` when the
/// variable is malformed); the starter has been told by then.
///
/// Env (read once at start-up): `GRACEFD_READY_FD`, honoured only when
/// `LISTEN_PID` is this process; `NOTIFY_SOCKET`. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_ready() -> c_int {
    run(|| Ok(i32::from(ready::report_ready()?)))
}

/// Tell whoever started this process that it could not start, so that the
/// starter reports `message` and fails with `status`: a daemonize launcher
/// prints the message on its stderr and exits with `status`; an upgrading old
/// generation logs it, returns it in its last-error text and keeps serving.
/// This call does not exit: the program should exit afterwards.
///
/// `status` must be 1–255; `message` is one line (cut to 200 bytes).
/// Returns 1 if a starter was told, 0 if nobody waits.
/// Errors: `-EINVAL` for a status outside 1–255, a NULL message, or a message
/// containing a newline; another negative errno if sending failed.
///
/// # Safety
/// `message` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_fail(status: c_int, message: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let m = unsafe { boundary::cstr(message, "message") }?;
        Ok(i32::from(ready::report_failed(status, m)?))
    })
}

/// This process's generation: 1 for a first start, and one more for each
/// upgrade (`GRACEFD_GENERATION`). Never fails. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_generation() -> c_int {
    i32::try_from(lineage::generation()).unwrap_or(i32::MAX)
}

/// 1 if this process was started by an older generation of itself through
/// gracefd_upgrade(), else 0. Never fails. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_is_upgrade() -> c_int {
    c_int::from(lineage::is_upgrade())
}

/// Whether this process's exit gives the CPU to its successor once one has
/// taken over (a successful gracefd_upgrade(), or a hand-off whose taker is
/// ready): at `exit()` (or a return from `main`) an exit handler lowers every
/// thread to nice 19 and yields, so the kernel freeing this process's memory
/// does not hold the CPU the new generation serves on. `on` = 1 (the
/// default) or 0: off, for a program whose exit handlers or final flushes
/// should keep their priority. Read at exit: may be called at any time.
/// Returns 0; `-EINVAL` if `on` is neither 0 nor 1. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_set_exit_yield(on: c_int) -> c_int {
    run(|| {
        crate::exit_yield::set_enabled(boundary::flag(on, "on")?);
        Ok(0)
    })
}
