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
//! launcher ──fork──▶ middle (setsid) ──clone(CLONE_PARENT)──▶ daemon
//!    ▲  waits on the channel │ sends the daemon's pid, exits │ reports ready/failed
//!    │  and on the daemon    └───────────────────────────────┤   on the same channel
//!    └── (its parent) ───────────────────────────────────────┘
//! ```
//!
//! The middle process is the leader of the daemon's new session; the daemon
//! is not a leader, so it can never acquire a controlling terminal. The
//! middle process starts the daemon as its *sibling* (`CLONE_PARENT`: a copy
//! like `fork`, whose parent is the launcher), sends its pid (frame `Pid`) and
//! exits at once. So the launcher is the daemon's parent while it waits: it
//! learns how the daemon died (only a parent can), and the daemon's pid
//! cannot be reused before the launcher reaps it, so the launcher may kill it
//! by pid safely. When the launcher exits the daemon is re-parented to init
//! (or the nearest subreaper). No process is left between the two to be
//! woken and reaped at the end (the textbook double fork's middle process
//! lingered as the daemon's parent until the launcher was done). The middle
//! process makes async-signal-safe calls only and allocates nothing.
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
//!   the same three processes as above, the daemon exec'ing), with `GRACEFD_DAEMON=<plan>` in its environment
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

mod command;
mod creds;
mod launch;
mod reexec_side;
mod middle;
mod notify_socket;
mod options;
mod setup;
mod state;
mod verdict;

pub(crate) use creds::resolve_creds;
pub(crate) use reexec_side::{init, pending, protect_at_load};
pub use options::{Command, DaemonOptions, Ready, DEFAULT_TIMEOUT_MS};
pub(crate) use options::Mode;
pub use state::{EXIT_ALREADY_RUNNING, EXIT_DIED, EXIT_LOST, EXIT_SETUP, EXIT_TIMEOUT};
pub(crate) use state::is_daemon;

use core::sync::atomic::{AtomicBool, Ordering};

use crate::error::Result;
use crate::sys::process;
use crate::{err, lineage, log};
use launch::{fork_launch, prepare, reexec_launch};
use reexec_side::{reexec_daemon_side, PENDING};
use state::IS_DAEMON;

/// A `daemonize` call is running (a second thread gets `EBUSY`).
static BUSY: AtomicBool = AtomicBool::new(false);

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
pub fn daemonize(opts: &DaemonOptions) -> Result<()> {
    if opts.command.is_none() && is_daemon() {
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

// Out of line (footprint): inlined, its error copies land in a caller's larger frame.
#[inline(never)]
fn daemonize_once(opts: &DaemonOptions) -> Result<()> {
    if let Some(c) = &opts.command {
        // Another program becomes the daemon: whatever this process is
        // (a daemon, a new generation) does not matter, and any process may
        // start one (it is started as re-exec mode's daemon is).
        opts.check()?;
        // Installed by `set_command`, the only way `command` is set.
        let Some(launch) = command::LAUNCH.get() else {
            return Err(err!(EINVAL, "daemonize: a command was set without DaemonOptions::set_command"));
        };
        return launch(prepare(opts)?, c, opts);
    }
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
        Mode::Reexec => reexec_launch(prepared, opts),
        _ => fork_launch(prepared, opts),
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
        let e = daemonize(&DaemonOptions { umask: 0o1000, mode: Mode::Fork, ..DaemonOptions::new() }).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        let e = daemonize(&DaemonOptions { timeout_ms: 0, mode: Mode::Fork, ..DaemonOptions::new() }).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        // The test harness runs many threads: fork mode is refused, naming them.
        let e = daemonize(&DaemonOptions { mode: Mode::Fork, ..DaemonOptions::new() }).unwrap_err();
        assert_eq!(e.errno.0, libc::EBUSY);
        assert!(e.message().contains("threads") && e.message().contains("re-exec"), "{}", e.message());
        drop(tx);
        let _ = t.join();
    }
}
