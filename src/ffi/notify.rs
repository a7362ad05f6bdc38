//! sd_notify: readiness, reload, stop, status, the fd store, barrier, watchdog.

use core::ffi::{c_char, c_int};

use super::boundary::{count, cstr, out, run, slice};
use crate::notify;

/// Send a notification to the service manager: `state` is one or more
/// `KEY=VALUE` lines separated by `\n` (one trailing `\n` allowed), such as
/// `"WATCHDOG=1"` or `"READY=1\nSTATUS=serving"`, sent as one datagram to
/// `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace), like
/// libsystemd's `sd_notify(0, state)`.
///
/// The state goes out byte for byte, with one exception: a state with a
/// `RELOADING=1` line and no `MONOTONIC_USEC=` line gets
/// `MONOTONIC_USEC=<CLOCK_MONOTONIC now in µs>` appended, because systemd
/// needs it (without it `systemctl reload` of a `Type=notify-reload` service
/// hangs until its timeout). For readiness prefer `gracefd_ready()`, which
/// also tells an old generation or a launcher.
///
/// Returns 1 when sent, 0 when `NOTIFY_SOCKET` is unset (not under a service
/// manager: nothing to do). The state is checked even then.
///  - `-EINVAL`: `state` is NULL, empty, has an empty line, a line without
///    `=`, or a key other than letters, digits and `_`; or `NOTIFY_SOCKET` is
///    set but empty, relative, `@` alone, or otherwise not a path or `@name`.
///  - `-ENAMETOOLONG`: `NOTIFY_SOCKET` does not fit in `sun_path`.
///  - `-EMSGSIZE`: the message would exceed 4096 bytes, which systemd ignores.
///  - `-ENOENT`, `-ECONNREFUSED`: nothing listens at `NOTIFY_SOCKET`; other
///    `sendmsg` errors as returned by the kernel. The process is unaffected
///    (no signal is raised); `gracefd_last_error()` names the socket.
///
/// Reads `NOTIFY_SOCKET` (from the environment at load time). Thread-safe.
/// Blocks only if the receiver's queue is full, like `sd_notify`.
#[no_mangle]
pub unsafe extern "C" fn gracefd_notify(state: *const c_char) -> c_int {
    run(|| {
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let state = unsafe { cstr(state, "state") }?;
        count(notify::notify(state)?)
    })
}

/// Send a notification with file descriptors, like libsystemd's
/// `sd_pid_notify_with_fds(0, 0, state, fds, n)`, typically
/// `"FDSTORE=1\nFDNAME=name"` to keep `fds` in systemd's fd store across
/// restarts (they come back in `LISTEN_FDS`/`LISTEN_FDNAMES`; systemd keeps
/// fds only when the state says `FDSTORE=1` and the unit sets
/// `FileDescriptorStoreMax=`). `state` is checked and sent as by
/// `gracefd_notify()`.
///
/// More than 253 fds (the kernel's limit per message) are split over
/// several messages, each carrying the whole state, so `FDNAME=` names every
/// fd. The fds are borrowed: the receiver gets duplicates, the caller keeps
/// and closes its own.
///
/// Returns the number of messages sent (1 for up to 253 fds, or for none),
/// 0 when `NOTIFY_SOCKET` is unset (arguments are checked even then).
///  - `-EINVAL`: `fds` is NULL while `n` > 0; `state` as for `gracefd_notify()`;
///    `NOTIFY_SOCKET` malformed.
///  - `-EBADF`: one of the fds is not open. Checked before anything is sent.
///  - `-ENAMETOOLONG`, `-EMSGSIZE`, `-ENOENT`, `-ECONNREFUSED`, other
///    `sendmsg` errors: as for `gracefd_notify()`. If a later message of
///    several fails, the earlier ones were delivered; `gracefd_last_error()`
///    says how many fds went out.
///
/// Reads `NOTIFY_SOCKET`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn gracefd_notify_with_fds(state: *const c_char, fds: *const c_int, n: usize) -> c_int {
    run(|| {
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let state = unsafe { cstr(state, "state") }?;
        // SAFETY: the caller passes n readable ints (or n == 0).
        let fds = unsafe { slice(fds, n, "fds") }?;
        count(notify::notify_with_fds(state, fds)?)
    })
}

/// Wait until the service manager has processed every notification this
/// process sent before, like libsystemd's `sd_notify_barrier()`: send
/// `BARRIER=1` with the write end of a new pipe, close ours, and wait until
/// the receiver closes its copy. Use it before exiting right after a
/// notification (systemd may not attribute the messages of a process that
/// is already gone). `timeout_ms` bounds the whole call; a negative value
/// waits without limit.
///
/// Returns 1 when confirmed, 0 when `NOTIFY_SOCKET` is unset.
///  - `-ETIMEDOUT`: the receiver did not confirm within `timeout_ms` (it is
///    busy, or does not implement barriers).
///  - `-EINVAL`, `-ENAMETOOLONG`: `NOTIFY_SOCKET` malformed.
///  - `-ENOENT`, `-ECONNREFUSED`, other `sendmsg` errors: as for
///    `gracefd_notify()`; `-EMFILE`/`-ENFILE`: no fd left for the pipe.
///
/// Reads `NOTIFY_SOCKET`. Thread-safe. The pipe is CLOEXEC and closed before
/// returning.
#[no_mangle]
pub extern "C" fn gracefd_notify_barrier(timeout_ms: i64) -> c_int {
    run(|| count(notify::barrier(timeout_ms)?))
}

/// The watchdog interval that applies to this process: `WATCHDOG_USEC`, in
/// microseconds, unless `WATCHDOG_PID` is set to another process (the
/// watchdog is then someone else's; a new generation started by gracefd gets
/// its own pid there). Ping with `gracefd_notify("WATCHDOG=1")`, customarily
/// every half interval. Like libsystemd's `sd_watchdog_enabled(0, &usec)`.
///
/// Returns 1 and writes the interval to `*usec_out` when a watchdog applies;
/// returns 0 and writes 0 when none does.
///  - `-EINVAL`: `usec_out` is NULL; `WATCHDOG_USEC` is not a decimal number
///    between 1 and 2^64-2; `WATCHDOG_PID` is not a positive decimal pid.
///    `*usec_out` is not written.
///
/// Reads `WATCHDOG_USEC` and `WATCHDOG_PID` (from the environment at load
/// time). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn gracefd_watchdog_usec(usec_out: *mut u64) -> c_int {
    run(|| {
        // SAFETY: the caller passes NULL or a writable uint64_t.
        let usec_out = unsafe { out(usec_out, "usec_out") }?;
        let usec = notify::watchdog_usec()?;
        *usec_out = usec;
        Ok(c_int::from(usec > 0))
    })
}

/// Tell the service manager that a reload has started: `RELOADING=1` with
/// `MONOTONIC_USEC=<CLOCK_MONOTONIC now in µs>` (systemd, and
/// `Type=notify-reload` in particular, needs both). Call `gracefd_ready()`
/// when the reload is done.
///
/// Returns 1 when sent, 0 when `NOTIFY_SOCKET` is unset.
///  - `-EINVAL`, `-ENAMETOOLONG`: `NOTIFY_SOCKET` malformed.
///  - `-ENOENT`, `-ECONNREFUSED`, other `sendmsg` errors: as for `gracefd_notify()`.
///
/// Reads `NOTIFY_SOCKET`. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_notify_reloading() -> c_int {
    run(|| count(notify::reloading()?))
}

/// Tell the service manager that the service is stopping: `STOPPING=1`.
///
/// Returns 1 when sent, 0 when `NOTIFY_SOCKET` is unset.
///  - `-EINVAL`, `-ENAMETOOLONG`: `NOTIFY_SOCKET` malformed.
///  - `-ENOENT`, `-ECONNREFUSED`, other `sendmsg` errors: as for `gracefd_notify()`.
///
/// Reads `NOTIFY_SOCKET`. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_notify_stopping() -> c_int {
    run(|| count(notify::stopping()?))
}

/// Set the one-line status shown by `systemctl status`: `STATUS=<text>`.
/// An empty `text` clears it.
///
/// Returns 1 when sent, 0 when `NOTIFY_SOCKET` is unset (`text` is checked
/// even then).
///  - `-EINVAL`: `text` is NULL or contains a newline (which would start
///    another `KEY=VALUE` line); `NOTIFY_SOCKET` malformed.
///  - `-EMSGSIZE`: the message would exceed 4096 bytes.
///  - `-ENAMETOOLONG`, `-ENOENT`, `-ECONNREFUSED`, other `sendmsg` errors: as
///    for `gracefd_notify()`.
///
/// Reads `NOTIFY_SOCKET`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn gracefd_notify_status(text: *const c_char) -> c_int {
    run(|| {
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let text = unsafe { cstr(text, "text") }?;
        count(notify::status(text)?)
    })
}
