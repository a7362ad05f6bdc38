//! Exit statuses of the supervisor and of every `gracefd` command (and of
//! `start_server` through the symlink). One meaning per number across commands; `--help` and
//! docs/cli.md list them. 240–244 are the library's daemonize launcher statuses
//! (`src/daemon/`), so `--daemonize` and `gracefd daemonize` keep the same
//! contract whichever implementation detaches.

/// Success: stopped on request (`run`), ready (`daemonize`), done (`ctl`).
pub const OK: i32 = 0;
/// The operation failed: `ctl reload` (the new worker was not ready; the old
/// one still serves), `start_server --restart` (the superdaemon went away),
/// `run` stopped after a fatal error.
pub const FAILED: i32 = 1;
/// Usage error: an unknown option, a missing or bad value (the message names
/// the option and the value).
pub const USAGE: i32 = 2;
/// No running instance to talk to: `ctl` cannot connect to the control
/// socket; `start_server --restart/--stop` find no pid file, no live process
/// or no status.
pub const UNREACHABLE: i32 = 3;
/// The program (or the daemonized gracefd) exited or was killed before it
/// was ready (the message says how). The launcher's statuses (240–244) are
/// the library daemonizer's, named here for the command's table.
pub const DIED: i32 = crate::daemon::EXIT_DIED;
/// The program was not ready in time (it was stopped).
pub const TIMEOUT: i32 = crate::daemon::EXIT_TIMEOUT;
/// Already running: the pid file is locked by a live instance.
pub const ALREADY_RUNNING: i32 = crate::daemon::EXIT_ALREADY_RUNNING;
/// Setup failed: a socket could not be bound, a file could not be opened,
/// the command could not be executed…
pub const SETUP: i32 = crate::daemon::EXIT_SETUP;
/// The launcher lost track of the daemon (its channel closed without a report).
pub const LOST: i32 = crate::daemon::EXIT_LOST;
