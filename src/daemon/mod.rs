//! Daemonize, and tell the launching shell the truth (docs/daemonize.md).
//!
//! [`daemonize`] returns `Ok` in the daemon. The process that called it — the
//! *launcher* — never returns: it waits on a readiness channel and exits 0
//! once the daemon calls `ready`, or exits with the daemon's status printing
//! its message if it calls `fail`, or says how the daemon died, or kills it
//! when it stays silent past the timeout.
//!
//! ## The processes
//!
//! ```text
//! launcher ──fork──▶ middle (setsid) ──fork──▶ daemon
//!    ▲  waits on the channel  │ watches the daemon   │ reports ready/failed
//!    └────────────────────────┴──────────────────────┘   on the same channel
//! ```
//!
//! (Fork mode; re-exec mode differs as described under *Modes*.)
//! The middle process is the session leader of the daemon's new session; the
//! daemon is not a leader, so it can never acquire a controlling terminal. The
//! middle process does not `_exit` at once as in the textbook double fork: it
//! stays the daemon's parent until the launcher is done, because only a parent
//! can learn *how* a process died. It sends the daemon's pid (frame `Pid`),
//! then waits for either the daemon's death (it reaps it and sends `Exited` or
//! `Signaled`) or the launcher's end of the channel closing (the launcher is
//! done or gone): then it exits and the daemon is re-parented to init (or the
//! nearest subreaper). While it lives the daemon's pid cannot be reused, so the
//! launcher may kill the daemon by pid safely. It makes async-signal-safe calls
//! only, allocates nothing, and closes every fd but the channel first.
//!
//! ## Modes
//!
//! - **fork**: the calling process is forked (twice, as above) and the
//!   daemon returns from `daemonize`. Legal only in a single-threaded process
//!   (`Threads: 1` in /proc/self/status): after a fork only the calling thread
//!   exists in the child, so any lock another thread held (malloc's, stdio's) is
//!   held forever there. Refused with `EBUSY` otherwise.
//! - **reexec**: the recorded executable is started again with the same argv
//!   (through [`Spawn`], detached, with the vfork-style clone where allowed:
//!   the middle process calls setsid and starts the daemon as its *sibling*,
//!   so the launcher is the daemon's parent and watches it itself; the middle
//!   process sends the daemon's pid and exits at once, because it shares the
//!   launcher's memory and cannot stay behind to watch), with `GRACEFD_DAEMON=<plan>` in its environment
//!   and the prepared fds at 3.. (`proto::daemon`). Its own `daemonize` call
//!   sees the marker (only if `LISTEN_PID` names it) and applies the plan
//!   instead of launching. Safe in any process: the launcher only forks to exec.
//! - **auto**: fork when single-threaded, reexec otherwise.
//!
//! ## Order (both modes)
//!
//! Before any fork, in the launcher: resolve user and group (names or
//! numbers, supplementary groups as `initgroups` would set them), open the
//! working directory (`O_PATH`), lock the pid file, open `/dev/null` and the log
//! file, create the channel. In the daemon: umask, chdir, stdin to /dev/null
//! and stdout/stderr to the log file or /dev/null (`dup2`, never just closed),
//! RLIMIT_NOFILE, then the user switch (so the files were opened with the
//! launcher's rights and the limit raised while still allowed), then the pid
//! written (after the last fork, so it is the daemon's). In fork mode the
//! daemon also resets every signal disposition and empties its signal mask
//! (reexec mode gets that from `Spawn`).
//!
//! [`Spawn`]: crate::spawn::Spawn

mod creds;
mod launch;
mod marker;
mod middle;
mod options;
mod setup;
mod verdict;

pub use creds::resolve_creds;
pub use marker::{init, pending, protect_at_load};
pub use options::{Mode, Options, DEFAULT_TIMEOUT_MS, DEFAULT_UMASK, MAX_UMASK};

use core::sync::atomic::{AtomicBool, Ordering};

use crate::error::Result;
use crate::sys::process;
use crate::{err, lineage, log};
use launch::{fork_launch, prepare, reexec_launch};
use marker::{reexec_daemon_side, PENDING};

/// Launcher exit status: the daemon exited or was killed before it reported.
pub const EXIT_DIED: i32 = 240;
/// Launcher exit status: the daemon was not ready in time (it was killed).
pub const EXIT_TIMEOUT: i32 = 241;
/// Exit status for "already running" (the pid file is locked by a running
/// instance). `daemonize` itself returns `EEXIST` before forking; programs and
/// the Go constructor exit with this.
pub const EXIT_ALREADY_RUNNING: i32 = 242;
/// Launcher exit status: the daemon could not be set up (chdir, the user
/// switch, exec…); also used for errors before forking by the Go constructor.
pub const EXIT_SETUP: i32 = 243;
/// Launcher exit status: the launcher lost track of the daemon (the channel
/// closed without a report).
pub const EXIT_LOST: i32 = 244;

/// Set once this process is the daemon: `daemonize` is then a no-op.
static IS_DAEMON: AtomicBool = AtomicBool::new(false);
/// A `daemonize` call is running (a second thread gets `EBUSY`).
static BUSY: AtomicBool = AtomicBool::new(false);

/// Whether this process is a daemon made by [`daemonize`].
pub fn is_daemon() -> bool {
    IS_DAEMON.load(Ordering::Acquire)
}

/// Daemonize. Returns `Ok(())` in the daemon; in the launcher it never
/// returns (see the module docs for its exit statuses).
///
/// A no-op returning `Ok` when this process already is the daemon, or is a new
/// generation started by an upgrade (it inherited a daemon's state). In a
/// process re-executed by a launcher, the launcher's plan is applied and
/// `opts` is not used.
///
/// Errors, all before any fork: `EBUSY` fork mode in a multi-threaded
/// process, or another thread is inside `daemonize`; `EEXIST` already running (pid file locked); `ELOOP`/`EPERM`/…
/// pid file refused (see [`pidfile::acquire`]); `ENOENT` unknown user or
/// group, missing working directory, or no recorded executable (reexec);
/// `EINVAL` bad options; whatever open, socketpair or fork fail with.
/// In a re-executed daemon whose setup fails, the launcher is told (it exits
/// with [`EXIT_SETUP`] and the message) and the error is returned: exit then.
///
/// [`pidfile::acquire`]: crate::pidfile::acquire
pub fn daemonize(opts: &Options) -> Result<()> {
    if is_daemon() {
        return Ok(());
    }
    if BUSY.swap(true, Ordering::AcqRel) {
        return Err(err!(EBUSY, "daemonize is already running on another thread"));
    }
    let r = daemonize_once(opts);
    // Only errors come back in the launcher; in the daemon IS_DAEMON is set.
    BUSY.store(false, Ordering::Release);
    r
}

fn daemonize_once(opts: &Options) -> Result<()> {
    init();
    if let Some(p) = PENDING.lock().take() {
        return reexec_daemon_side(p);
    }
    if lineage::is_upgrade() {
        log!(log::INFO, "daemonize: generation {} inherited the daemon's state; nothing to do", lineage::generation());
        IS_DAEMON.store(true, Ordering::Release);
        return Ok(());
    }
    // The setters' rules, for options filled in field by field.
    opts.check()?;
    let mode = pick_mode(opts.mode)?;
    let prepared = prepare(opts)?;
    match mode {
        Mode::Reexec => reexec_launch(prepared, opts.timeout_ms),
        _ => fork_launch(prepared, opts.timeout_ms),
    }
}

fn pick_mode(m: Mode) -> Result<Mode> {
    let threads = process::thread_count();
    match (m, threads) {
        (Mode::Reexec, _) => Ok(Mode::Reexec),
        (_, Ok(1)) => Ok(Mode::Fork),
        (Mode::Auto, _) => Ok(Mode::Reexec),
        (_, Ok(n)) => Err(err!(
            EBUSY,
            "fork mode needs a single-threaded process, but this one has {} threads (a fork would copy locks other threads hold); use re-exec mode (GRACEFD_DAEMON_REEXEC) or auto",
            n
        )),
        (_, Err(e)) => Err(err!(EBUSY, "fork mode needs a single-threaded process, and the thread count is unknown (/proc/self/status: {}); use re-exec mode", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_before_anything_happens() {
        // Make sure this process is multi-threaded even with --test-threads=1,
        // or the fork-mode call below would really fork.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        // Fields filled in directly (past the setters) get the same rules.
        let e = daemonize(&Options { umask: 0o1000, mode: Mode::Fork, ..Options::new() }).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        let e = daemonize(&Options { timeout_ms: 0, mode: Mode::Fork, ..Options::new() }).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        // The test harness runs many threads: fork mode is refused, naming them.
        let e = daemonize(&Options { mode: Mode::Fork, ..Options::new() }).unwrap_err();
        assert_eq!(e.errno.0, libc::EBUSY);
        assert!(e.message().contains("threads") && e.message().contains("re-exec"), "{}", e.message());
        drop(tx);
        let _ = t.join();
    }
}
