//! Lifecycle events: signals (and the library's own notices) as an fd to poll.

use core::ffi::c_int;

use super::boundary::run;
use crate::events;

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
