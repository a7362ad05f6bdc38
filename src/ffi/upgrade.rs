//! Zero-downtime upgrade.

use alloc::vec::Vec;
use core::ffi::{c_char, c_int};

use super::boundary::{self, run};
use crate::err;
use crate::upgrade::{self, UpgradeOptions};

/// Options for gracefd_upgrade() (opaque; create with gracefd_upgrade_opts_new()).
pub struct gracefd_upgrade_opts {
    inner: UpgradeOptions,
}

/// New upgrade options with the defaults: the executable path recorded at
/// start-up (so a binary replaced by rename is the one that runs, and a
/// relative argv[0] still works after chdir), this process's own argv, no
/// extra environment, a 60 s readiness timeout, SIGTERM for a new generation
/// that fails readiness (SIGKILL 2 s later if it is still there).
/// Returns NULL only if memory is exhausted. Free with gracefd_upgrade_opts_free().
#[no_mangle]
pub extern "C" fn gracefd_upgrade_opts_new() -> *mut gracefd_upgrade_opts {
    boundary::into_handle(gracefd_upgrade_opts { inner: UpgradeOptions::default() })
}

/// Free options; NULL is a no-op.
///
/// # Safety
/// `opts` must be NULL or a live handle from gracefd_upgrade_opts_new().
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade_opts_free(opts: *mut gracefd_upgrade_opts) {
    // SAFETY: caller's promise.
    unsafe { boundary::free_handle(opts) }
}

/// Run `path` instead of the recorded executable. Errors: `-EINVAL` if
/// `opts` or `path` is NULL or `path` is empty or not absolute.
///
/// # Safety
/// `opts` is a live handle; `path` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade_opts_set_exe(opts: *mut gracefd_upgrade_opts, path: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        // SAFETY: caller's promise.
        let p = unsafe { boundary::cstr(path, "path") }?;
        o.inner.set_exe(p)?;
        Ok(0)
    })
}

/// Run the new generation with this argv (`argv[0]` included; `argc` ≥ 1)
/// instead of this process's own. Errors: `-EINVAL` if `opts` or `argv` (or
/// one of its first `argc` entries) is NULL, or `argc` is 0.
///
/// # Safety
/// `opts` is a live handle; `argv` holds `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade_opts_set_argv(opts: *mut gracefd_upgrade_opts, argv: *const *const c_char, argc: usize) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        // SAFETY: caller's promise.
        let ptrs = unsafe { boundary::slice(argv, argc, "argv") }?;
        let mut v = Vec::with_capacity(argc);
        for (i, p) in ptrs.iter().enumerate() {
            // SAFETY: caller's promise.
            let a = unsafe { boundary::cstr(*p, "argv entry") }.map_err(|e| e.context(format_args!("argv[{}]", i)))?;
            v.push(a.to_vec());
        }
        o.inner.set_argv(v)?;
        Ok(0)
    })
}

/// Add `KEY=VALUE` to the new generation's environment (it overrides an
/// inherited variable of the same name). The environment is otherwise this
/// process's start-up environment, without the fd-passing protocol variables
/// (`LISTEN_*`, `SERVER_STARTER_*`, `GRACEFD_*`, `WATCHDOG_PID`), which gracefd
/// sets itself. Errors: `-EINVAL` for NULL, no '=', an empty key, or one of
/// the protocol variables.
///
/// # Safety
/// `opts` is a live handle; `key_value` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade_opts_add_env(opts: *mut gracefd_upgrade_opts, key_value: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        // SAFETY: caller's promise.
        let kv = unsafe { boundary::cstr(key_value, "key_value") }?;
        o.inner.add_env(kv)?;
        Ok(0)
    })
}

/// How long the new generation has to call gracefd_ready(), in milliseconds
/// (negative: forever; default 60000). Errors: `-EINVAL` if `opts` is NULL
/// or `timeout_ms` is 0 (it would fail every upgrade).
///
/// # Safety
/// `opts` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade_opts_set_timeout_ms(opts: *mut gracefd_upgrade_opts, timeout_ms: i64) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        unsafe { boundary::handle(opts, "opts") }?.inner.set_timeout_ms(timeout_ms)?;
        Ok(0)
    })
}

/// The signal sent to a new generation that failed readiness or timed out
/// (default SIGTERM; SIGKILL follows 2 s later if it has not exited).
/// Errors: `-EINVAL` if `opts` is NULL or `sig` is not 1–64.
///
/// # Safety
/// `opts` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade_opts_set_kill_signal(opts: *mut gracefd_upgrade_opts, sig: c_int) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        o.inner.set_kill_signal(sig)?;
        Ok(0)
    })
}

/// Probation: once the new generation called gracefd_ready(), it must stay
/// up `settle_ms` more milliseconds before the upgrade succeeds (the pid file
/// and systemd's MAINPID move to it, and the caller may drain). If it exits
/// within that time, gracefd_upgrade() and gracefd_upgrade_finish() return
/// `-ECHILD` with the reason in gracefd_last_error(), and the caller goes on
/// serving. For programs that report ready before they really are (gunicorn
/// without `--preload`). Default 0: no probation. Errors: `-EINVAL` if `opts`
/// is NULL or `settle_ms` is not 0 to 3600000.
///
/// # Safety
/// `opts` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade_opts_set_settle_ms(opts: *mut gracefd_upgrade_opts, settle_ms: i64) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        o.inner.set_settle_ms(settle_ms)?;
        Ok(0)
    })
}

/// Upgrade to a new generation: start the executable with every registered
/// fd (listeners and anything added with gracefd_add_fd()) at fds 3, 4, … in
/// systemd's format (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`), plus
/// `GRACEFD_READY_FD`, `GRACEFD_GENERATION`, `GRACEFD_PARENT_PID` and, when
/// this process holds a pid file, `GRACEFD_PIDFILE_FD`; then wait until it
/// calls gracefd_ready(). On success `*child_pid_out` is its pid, the pid file
/// (if any) names it, and the caller should stop accepting, drain and exit.
/// `opts` may be NULL for the defaults.
///
/// If the new generation cannot be executed, exits, crashes, calls
/// gracefd_fail(), closes its readiness channel or stays silent past the
/// timeout, it is killed and reaped, and so is what it forked (it leads a
/// process group of its own, except in a terminal's foreground job, and
/// what is left in the group gets the kill signal, SIGKILL after 2 s), nothing of this process is touched (no
/// listener was closed), and the call fails with the reason in
/// gracefd_last_error():
/// `-EALREADY` another upgrade is in flight; `-ENOEXEC` exec failed (the
/// message has its errno); `-ECHILD` it exited or was killed first (the
/// message has the status or signal); `-ECANCELED` it called gracefd_fail()
/// (the message has its message); `-EPROTO` it closed the channel without
/// reporting; `-ETIMEDOUT` it was not ready in time; `-ENOENT` no executable
/// path is known; `-EINVAL` bad options or `child_pid_out` NULL; others from
/// fork, socketpair or dup (e.g. `-EMFILE`).
///
/// Thread-safe; one upgrade at a time per process. Blocks up to the timeout.
///
/// # Safety
/// `opts` is NULL or a live handle; `child_pid_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade(opts: *const gracefd_upgrade_opts, child_pid_out: *mut libc::pid_t) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let out = unsafe { boundary::out(child_pid_out, "child_pid_out") }?;
        let defaults = UpgradeOptions::default();
        // SAFETY: caller's promise (NULL allowed).
        let o = unsafe { opts.as_ref() }.map(|h| &h.inner).unwrap_or(&defaults);
        let pid = upgrade::upgrade(o)?;
        *out = pid;
        Ok(0)
    })
}

/// The non-blocking form, for event loops: start the new generation and
/// return an fd to poll for `POLLIN` (owned by the library: do not close it).
/// When it is readable — or periodically, so the timeout is noticed — call
/// gracefd_upgrade_finish(). Errors: as gracefd_upgrade() for starting
/// (`-EALREADY`, `-ENOENT`, `-EINVAL`, fork/socket errors).
///
/// # Safety
/// `opts` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade_start(opts: *const gracefd_upgrade_opts) -> c_int {
    run(|| {
        let defaults = UpgradeOptions::default();
        // SAFETY: caller's promise (NULL allowed).
        let o = unsafe { opts.as_ref() }.map(|h| &h.inner).unwrap_or(&defaults);
        upgrade::start(o)
    })
}

/// Finish an upgrade begun with gracefd_upgrade_start() without blocking:
/// returns 0 with `*child_pid_out` set when the new generation is ready;
/// `-EAGAIN` if it has not reported yet, or is ready but still within its
/// settle time (gracefd_upgrade_opts_set_settle_ms(); poll again: the fd
/// stays readable then, so poll with a timer); otherwise the errors of
/// gracefd_upgrade() (the new generation has then been killed and reaped);
/// `-ENOENT` if no upgrade is in flight; `-EINVAL` if `child_pid_out` is NULL.
/// It does not block waiting for the outcome; a failure, though, returns
/// only once the new generation and its process group are stopped: up to
/// about 2.3 s (the kill signal's grace of 2 s, 0.1 s after the group's
/// SIGKILL, and 0.2 s more for a child that closed its channel).
///
/// # Safety
/// `child_pid_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn gracefd_upgrade_finish(child_pid_out: *mut libc::pid_t) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let out = unsafe { boundary::out(child_pid_out, "child_pid_out") }?;
        match upgrade::finish(false)? {
            Some(pid) => {
                *out = pid;
                Ok(0)
            }
            None => Err(err!(EAGAIN, "the new generation has not reported yet")),
        }
    })
}

/// Abandon the upgrade begun with gracefd_upgrade_start() that has not
/// finished: kill its new generation (the kill signal of the options,
/// SIGKILL 2 s later if it is still there), reap it, and tell systemd
/// READY=1 again. This process has not changed and goes on serving; the fd
/// from gracefd_upgrade_start() is closed by the library. For an event loop
/// that must stop waiting (shutting down, or a deadline of its own). Blocks
/// while the new generation and its process group die (at most about 2 s).
///
/// Returns the pid that was killed; `-ENOENT` if no upgrade is in flight;
/// `-EBUSY` if another thread is in gracefd_upgrade() or
/// gracefd_upgrade_finish() for it. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_upgrade_cancel() -> c_int {
    run(upgrade::cancel)
}
