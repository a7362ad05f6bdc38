//! Daemonize, and the pid file (also for programs that do not daemonize).

use core::ffi::{c_char, c_int};

use super::boundary::{self, run};
use crate::daemon::{self, DaemonOptions, Mode};
use crate::{err, pidfile};

/// Daemonize mode: fork when the process is single-threaded, re-exec otherwise (the default).
pub const GRACEFD_DAEMON_AUTO: c_int = 0;
/// Daemonize mode: fork twice; refused (`-EBUSY`) in a multi-threaded process.
pub const GRACEFD_DAEMON_FORK: c_int = 1;
/// Daemonize mode: start this program's executable again as the daemon; safe in any process.
pub const GRACEFD_DAEMON_REEXEC: c_int = 2;

/// Launcher exit status: the daemon exited or was killed before it called
/// gracefd_ready() (the launcher printed the exit status or signal).
pub const GRACEFD_EXIT_DIED: c_int = 240;
/// Launcher exit status: the daemon was not ready within the timeout; the
/// launcher killed it (SIGTERM, then SIGKILL).
pub const GRACEFD_EXIT_TIMEOUT: c_int = 241;
/// Exit status to use when gracefd_daemonize() or gracefd_pidfile_create()
/// returns `-EEXIST` (another instance holds the pid file). gracefd_daemonize()
/// returns the error rather than exiting, so the program decides; the Go
/// constructor exits with this.
pub const GRACEFD_EXIT_ALREADY_RUNNING: c_int = 242;
/// Launcher exit status: the daemon could not be set up after the fork
/// (chdir, the user switch, RLIMIT_NOFILE, exec in re-exec mode…); the
/// launcher printed why.
pub const GRACEFD_EXIT_SETUP: c_int = 243;
/// Launcher exit status: the launcher lost track of the daemon (its readiness
/// channel closed without a report); it tried to kill the daemon.
pub const GRACEFD_EXIT_LOST: c_int = 244;

// The C values are the core's; checked at compile time (cbindgen needs literals).
const _: () = assert!(
    GRACEFD_EXIT_DIED == crate::daemon::EXIT_DIED
        && GRACEFD_EXIT_TIMEOUT == crate::daemon::EXIT_TIMEOUT
        && GRACEFD_EXIT_ALREADY_RUNNING == crate::daemon::EXIT_ALREADY_RUNNING
        && GRACEFD_EXIT_SETUP == crate::daemon::EXIT_SETUP
        && GRACEFD_EXIT_LOST == crate::daemon::EXIT_LOST
);

/// Options for gracefd_daemonize() (opaque; create with gracefd_daemon_opts_new()).
/// It was called `gracefd_daemon`, and its functions
/// `gracefd_daemon_new`, `gracefd_daemon_set_*` and `gracefd_daemon_free`:
/// those names still work (deprecated aliases, docs/c-api.md).
pub struct gracefd_daemon_opts {
    inner: DaemonOptions,
}

/// New daemonize options with the defaults: no pid file, working directory
/// `/`, umask 022, stdout and stderr to /dev/null, no user or group switch,
/// RLIMIT_NOFILE untouched, a 30 s readiness timeout, `GRACEFD_DAEMON_AUTO`.
/// Returns NULL only if memory is exhausted. Free with gracefd_daemon_opts_free().
/// Thread-safe; a handle itself must not be changed by two threads at once.
#[no_mangle]
pub extern "C" fn gracefd_daemon_opts_new() -> *mut gracefd_daemon_opts {
    boundary::into_handle(gracefd_daemon_opts { inner: DaemonOptions::default() })
}

/// Free options; NULL is a no-op.
///
/// # Safety
/// `opts` must be NULL or a live handle from gracefd_daemon_opts_new().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_free(opts: *mut gracefd_daemon_opts) {
    // SAFETY: caller's promise.
    unsafe { boundary::free_handle(opts) }
}

/// Keep a pid file at `path` (NULL: none). It is opened before the fork with
/// `O_NOFOLLOW` (a symbolic link is refused), must be a regular file owned by
/// the effective user with a single link, and is locked with `flock` for the
/// daemon's whole life; the daemon's pid is written into it after the last
/// fork. Remove it at clean exit with gracefd_pidfile_remove(). A relative
/// path is taken from the launcher's working directory.
/// Errors: `-EINVAL` if `opts` is NULL or `path` is empty.
///
/// # Safety
/// `opts` is a live handle; `path` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_set_pid_file(opts: *mut gracefd_daemon_opts, path: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        // SAFETY: caller's promise.
        o.inner.set_pid_file(unsafe { boundary::opt_cstr(path) })?;
        Ok(0)
    })
}

/// The daemon's working directory (default `/`; `"."` keeps the launcher's).
/// It is opened before the fork, so a missing directory fails
/// gracefd_daemonize() with `-ENOENT` before anything starts.
/// Errors: `-EINVAL` if `opts` or `path` is NULL or `path` is empty.
///
/// # Safety
/// `opts` is a live handle; `path` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_set_workdir(opts: *mut gracefd_daemon_opts, path: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        // SAFETY: caller's promise.
        o.inner.set_workdir(unsafe { boundary::cstr(path, "path") }?)?;
        Ok(0)
    })
}

/// The daemon's umask (default 022). Errors: `-EINVAL` if `opts` is NULL or
/// `mask` is above 0777.
///
/// # Safety
/// `opts` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_set_umask(opts: *mut gracefd_daemon_opts, mask: u32) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        unsafe { boundary::handle(opts, "opts") }?.inner.set_umask(mask)?;
        Ok(0)
    })
}

/// Send the daemon's stdout and stderr to `path` (NULL: /dev/null, the
/// default), opened by the launcher before the fork (and before any user
/// switch) with `O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW`, mode 0640: a
/// symbolic link at `path` is refused (the daemon start fails with `-ELOOP`)
/// rather than appended through. stdin is always /dev/null. Errors:
/// `-EINVAL` if `opts` is NULL or `path` is empty.
///
/// # Safety
/// `opts` is a live handle; `path` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_set_log_file(opts: *mut gracefd_daemon_opts, path: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        // SAFETY: caller's promise.
        o.inner.set_log_file(unsafe { boundary::opt_cstr(path) })?;
        Ok(0)
    })
}

/// Switch the daemon to `user` (a name, or a number; NULL: no switch) after
/// the pid file and the log file are opened and RLIMIT_NOFILE is raised. The
/// group becomes the user's primary group unless gracefd_daemon_opts_set_group()
/// says otherwise; supplementary groups are set as `initgroups` would. Names
/// are resolved in the launcher, so an unknown user fails gracefd_daemonize()
/// with `-ENOENT` before anything starts. Needs root (the launcher's message
/// says so if the switch is refused). Errors: `-EINVAL` if `opts` is NULL or
/// `user` is empty.
///
/// # Safety
/// `opts` is a live handle; `user` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_set_user(opts: *mut gracefd_daemon_opts, user: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        // SAFETY: caller's promise.
        o.inner.set_user(unsafe { boundary::opt_cstr(user) })?;
        Ok(0)
    })
}

/// Switch the daemon to `group` (a name, or a number; NULL: the user's
/// primary group, or no switch without a user). Without a user, the
/// supplementary groups become just this group. Errors: `-EINVAL` if `opts`
/// is NULL or `group` is empty.
///
/// # Safety
/// `opts` is a live handle; `group` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_set_group(opts: *mut gracefd_daemon_opts, group: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        // SAFETY: caller's promise.
        o.inner.set_group(unsafe { boundary::opt_cstr(group) })?;
        Ok(0)
    })
}

/// Raise the daemon's RLIMIT_NOFILE (the daemon must not silently inherit a
/// low limit from whoever launched it). Limits are only ever raised: the hard
/// limit to `hard` when that is allowed (root), else it stays; the soft limit
/// to `soft`, capped by the resulting hard limit. So `soft = UINT64_MAX,
/// hard = 0` means "soft up to the hard limit". Applied in the daemon before
/// the user switch. Errors: `-EINVAL` if `opts` is NULL; gracefd_daemonize()'s
/// launcher exits with `GRACEFD_EXIT_SETUP` if the kernel rejects a value
/// (e.g. a hard limit above `fs.nr_open`).
///
/// # Safety
/// `opts` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_set_nofile(opts: *mut gracefd_daemon_opts, soft: u64, hard: u64) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        unsafe { boundary::handle(opts, "opts") }?.inner.set_nofile(soft, hard)?;
        Ok(0)
    })
}

/// How long the daemon has to call gracefd_ready() or gracefd_fail(), in
/// milliseconds (default 30000; negative: no limit). Errors: `-EINVAL` if
/// `opts` is NULL or `timeout_ms` is 0.
///
/// # Safety
/// `opts` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_set_timeout_ms(opts: *mut gracefd_daemon_opts, timeout_ms: i64) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        unsafe { boundary::handle(opts, "opts") }?.inner.set_timeout_ms(timeout_ms)?;
        Ok(0)
    })
}

/// `GRACEFD_DAEMON_AUTO` (default), `GRACEFD_DAEMON_FORK` or
/// `GRACEFD_DAEMON_REEXEC`. Errors: `-EINVAL` if `opts` is NULL or `mode` is
/// none of these.
///
/// # Safety
/// `opts` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_opts_set_mode(opts: *mut gracefd_daemon_opts, mode: c_int) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        // Converting the C number is this face's job; every Mode is valid.
        o.inner.set_mode(match mode {
            GRACEFD_DAEMON_AUTO => Mode::Auto,
            GRACEFD_DAEMON_FORK => Mode::Fork,
            GRACEFD_DAEMON_REEXEC => Mode::Reexec,
            m => return Err(err!(EINVAL, "daemonize mode {} is not GRACEFD_DAEMON_AUTO, _FORK or _REEXEC", m)),
        });
        Ok(0)
    })
}

/// Become a daemon. Returns 0 in the daemon. The calling process — the
/// launcher — does not return: it waits until the daemon calls
/// gracefd_ready() and exits 0; or the daemon calls gracefd_fail(status,
/// message) and it prints `<program>: <message>` on its stderr and exits
/// with `status`; or the daemon dies first and it prints how (exit status or
/// signal) and exits `GRACEFD_EXIT_DIED`; or the timeout passes and it says
/// so, kills the daemon and exits `GRACEFD_EXIT_TIMEOUT`; or the daemon's
/// setup failed (`GRACEFD_EXIT_SETUP`, with the reason). When it exits
/// non-zero, the daemon is gone. It leaves with `_exit`: the program's
/// atexit handlers and stdio buffers are the daemon's business (stdio is
/// flushed before the fork, so nothing is written twice).
///
/// Before any fork, the launcher resolves the user and group, opens the
/// working directory, locks the pid file, opens /dev/null and the log file.
/// The daemon is a grandchild in a new session, not its leader (no
/// controlling terminal, ever); then: umask, chdir, stdin /dev/null, stdout and
/// stderr the log file or /dev/null, RLIMIT_NOFILE, user and groups, its pid
/// written into the pid file. In fork mode it also gets default signal
/// dispositions and an empty signal mask — handlers the program installed
/// before the call, gracefd_signals_install()'s included, are gone: install
/// them after it; in re-exec mode the exec gives it those, and what the
/// program's own code does before the call (it runs again) stays. Every fd the library opened for this is closed in the daemon except
/// the pid file (held, CLOEXEC) and the readiness channel (CLOEXEC, closed by
/// gracefd_ready() or gracefd_fail()). Fds of the program's own are untouched.
///
/// Re-exec mode starts the executable recorded at start-up with the same
/// argv: the program's code before gracefd_daemonize() runs again in the
/// daemon (as the same user), whose own gracefd_daemonize() call recognises
/// the launcher (`GRACEFD_DAEMON`, honoured only when `LISTEN_PID` names the
/// process) and applies the launcher's options (`opts` is not used there).
/// Listening sockets must be opened after the call, or be registered with the
/// library (they are then passed in systemd's format) — a socket the launcher
/// bound is still held by it while the daemon starts.
///
/// Already a daemon (a second call), or a new generation started by
/// gracefd_upgrade(): returns 0 at once and changes nothing.
///
/// Errors (all before any fork; nothing was started): `-EBUSY` fork mode
/// asked in a multi-threaded process (the message names the thread count;
/// use `GRACEFD_DAEMON_REEXEC` or `_AUTO`), or another thread is inside
/// gracefd_daemonize(); `-EEXIST` another instance holds
/// the pid file ("already running as pid N": exit with
/// `GRACEFD_EXIT_ALREADY_RUNNING`); `-ELOOP` the pid file is a symbolic link;
/// `-EPERM` the pid file is not ours or has several links; `-ENOENT` unknown
/// user or group, missing working directory or pid/log file directory, or no
/// recorded executable (re-exec); `-EINVAL` bad options; `-EACCES`,
/// `-EMFILE`, … from open, socketpair, fork. In a re-executed daemon whose
/// setup fails, the launcher is told and the error is returned: exit then.
/// `opts` may be NULL for the defaults.
///
/// Env: `LISTEN_PID`, `GRACEFD_DAEMON`, `GRACEFD_READY_FD`,
/// `GRACEFD_PIDFILE_FD` (read once at start-up). The daemon's environment is
/// the program's own in fork mode; in re-exec mode it is the start-up
/// environment without the fd-passing protocol variables (`LISTEN_*`,
/// `SERVER_STARTER_*`, `GRACEFD_*`), plus the library's own.
/// Thread safety: call it from one thread; fork mode only in a
/// single-threaded process, re-exec mode in any.
///
/// # Safety
/// `opts` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemonize(opts: *const gracefd_daemon_opts) -> c_int {
    run(|| {
        let defaults = DaemonOptions::default();
        // SAFETY: caller's promise (NULL allowed).
        let o = unsafe { opts.as_ref() }.map(|h| &h.inner).unwrap_or(&defaults);
        daemon::daemonize(o)?;
        Ok(0)
    })
}

/// 1 if this process was started by a re-exec daemonize launcher and has not
/// completed the daemon side yet (its gracefd_daemonize() call will do that
/// instead of launching), else 0. For wrappers that daemonize from a
/// constructor, such as the Go package. Never fails. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_daemon_pending() -> c_int {
    c_int::from(daemon::pending())
}

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
