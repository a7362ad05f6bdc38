//! The daemonizer's shared state and the launcher's exit statuses: the leaf
//! every other file of the module takes them from (so no file reaches back
//! up into `mod.rs`).

use core::sync::atomic::{AtomicBool, Ordering};

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
pub(super) static IS_DAEMON: AtomicBool = AtomicBool::new(false);

/// Whether this process is a daemon made by [`daemonize`](super::daemonize).
pub(crate) fn is_daemon() -> bool {
    IS_DAEMON.load(Ordering::Acquire)
}
