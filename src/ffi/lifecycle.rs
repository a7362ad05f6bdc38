//! Readiness, generations and lifecycle events.

use core::ffi::{c_char, c_int};

use super::boundary::{self, run};
use crate::{events, lineage, ready};

/// No event is pending (gracefd_event_next()).
pub const GRACEFD_EVENT_NONE: c_int = 0;
/// An upgrade was requested: SIGHUP or SIGUSR2 arrived.
pub const GRACEFD_EVENT_UPGRADE: c_int = 1;
/// Shutdown was requested: SIGTERM or SIGINT arrived.
pub const GRACEFD_EVENT_SHUTDOWN: c_int = 2;
/// Another process took this one's sockets over (hand-off): stop accepting and drain.
pub const GRACEFD_EVENT_DRAIN: c_int = 3;

// The C values are the core's; checked at compile time (cbindgen needs literals).
const _: () = assert!(
    GRACEFD_EVENT_NONE == crate::events::NONE
        && GRACEFD_EVENT_UPGRADE == crate::events::UPGRADE
        && GRACEFD_EVENT_SHUTDOWN == crate::events::SHUTDOWN
        && GRACEFD_EVENT_DRAIN == crate::events::DRAIN
);

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

/// Install signal handlers that turn signals into events for a poll/epoll
/// loop: SIGHUP and SIGUSR2 → `GRACEFD_EVENT_UPGRADE`, SIGTERM and SIGINT →
/// `GRACEFD_EVENT_SHUTDOWN`. Returns an fd (CLOEXEC, owned by the caller: close
/// it when done) that becomes readable while events are pending; take them
/// with gracefd_event_next(). Calling it again returns another fd for the
/// same events.
///
/// Coexistence: the handlers replace the program's own for those four
/// signals, and then call the previous handler if it was a plain function
/// (`sa_handler`); `SA_SIGINFO` handlers are not chained. Handlers are
/// installed with `SA_RESTART`. gracefd_signals_uninstall() puts the previous
/// ones back.
///
/// Errors: `-EMFILE`/`-ENFILE` if no fd is available for the event pipe.
/// Thread-safe (the signal dispositions are process-wide).
#[no_mangle]
pub extern "C" fn gracefd_signals_install() -> c_int {
    run(|| Ok(events::install()?.into_raw()))
}

/// Restore the signal handlers that gracefd_signals_install() replaced.
/// Returns 0 (also when nothing was installed). Errors: a negative errno if
/// `sigaction` refuses to restore one (it stops at that signal). Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_signals_uninstall() -> c_int {
    run(|| events::uninstall().map(|_| 0))
}

/// An fd (CLOEXEC, owned by the caller) that becomes readable when the library
/// posts an event, without installing any signal handler (for example
/// `GRACEFD_EVENT_DRAIN` after a hand-off). Same events as
/// gracefd_signals_install(). Errors: `-EMFILE`/`-ENFILE`. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_event_fd() -> c_int {
    run(|| Ok(events::fd()?.into_raw()))
}

/// Take the next pending event: `GRACEFD_EVENT_UPGRADE`,
/// `GRACEFD_EVENT_SHUTDOWN`, `GRACEFD_EVENT_DRAIN`, `GRACEFD_EVENT_CONNS`
/// (connections passed by the older generation wait, see gracefd_conns_next()), or `GRACEFD_EVENT_NONE`
/// when none is pending (it never blocks). Errors: a negative errno if the
/// event pipe cannot be read. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_event_next() -> c_int {
    run(events::next)
}
