//! Daemonize: the [`Daemon`] builder over the core's `daemon` module.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::error::io;
use crate::daemon::{self as core_daemon, DaemonOptions, Mode};

/// How [`Daemon::run`] detaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonMode {
    /// Fork when the process is single-threaded, re-exec otherwise (default).
    Auto,
    /// Fork twice. Refused (`EBUSY`) in a multi-threaded process: a Rust
    /// program that started a thread (or a runtime) must use `Reexec`.
    Fork,
    /// Start the executable recorded at start-up again, with the same argv,
    /// as the daemon: the program's code before [`Daemon::run`] runs again
    /// there. Safe in any process.
    Reexec,
}

/// Daemonize this process, and tell the launching shell the truth.
///
/// In the daemon, [`run`](Daemon::run) returns `Ok(())`. The launching
/// process does not return: it waits until the daemon calls
/// [`ready`](fn@crate::ready) and exits 0; or the daemon calls
/// [`fail`](crate::fail) and it prints the message and exits with that
/// status; or the daemon dies first (exit 240, saying how); or the timeout
/// passes (exit 241, the daemon is killed). A second instance whose pid file
/// is locked fails with `EEXIST` ("already running as pid N"; exit 242 is the
/// convention, `gracefd::daemon::EXIT_ALREADY_RUNNING`).
///
/// The setters never fail on the spot: the first bad value given (an
/// empty path or name, a umask above 0777, a zero timeout…) is kept and
/// [`run`](Daemon::run) returns it as `EINVAL`, naming the option and the
/// value, before anything is started. The rules are the core's, the same
/// as the C API's.
///
/// ```no_run
/// gracefd::Daemon::new().pid_file("/run/app.pid").log_file("/var/log/app.log").run()?;
/// let l = gracefd::listen_tcp("http", "127.0.0.1:8080")?;
/// gracefd::ready()?; // the launcher exits 0 now
/// # drop(l); Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Daemon {
    opts: DaemonOptions,
    /// The first invalid value given, reported by run.
    err: Option<crate::Error>,
}

impl Daemon {
    /// The defaults: no pid file, working directory `/`, umask 022,
    /// stdout/stderr to /dev/null, no user switch, 30 s readiness timeout,
    /// mode `Auto`.
    pub fn new() -> Daemon {
        Daemon { opts: DaemonOptions::default(), err: None }
    }

    /// Keep the first error of a setter for [`run`](Daemon::run).
    fn checked(mut self, r: crate::Result<()>) -> Daemon {
        if let (Err(e), None) = (r, &self.err) {
            self.err = Some(e);
        }
        self
    }

    fn bytes(path: &impl AsRef<Path>) -> &[u8] {
        path.as_ref().as_os_str().as_bytes()
    }

    /// Lock and write this pid file (`O_NOFOLLOW`; it follows upgrades and is
    /// removed at clean exit by [`crate::pidfile_remove`]). `EINVAL` (from
    /// [`run`](Daemon::run)) if empty.
    pub fn pid_file(mut self, path: impl AsRef<Path>) -> Daemon {
        let r = self.opts.set_pid_file(Some(Self::bytes(&path)));
        self.checked(r)
    }

    /// The daemon's working directory (default `/`). `EINVAL` if empty.
    pub fn workdir(mut self, path: impl AsRef<Path>) -> Daemon {
        let r = self.opts.set_workdir(Self::bytes(&path));
        self.checked(r)
    }

    /// The daemon's umask (default 022). `EINVAL` above 0777.
    pub fn umask(mut self, mask: u32) -> Daemon {
        let r = self.opts.set_umask(mask);
        self.checked(r)
    }

    /// Append stdout and stderr to this file (created 0640) instead of
    /// /dev/null. `EINVAL` if empty.
    pub fn log_file(mut self, path: impl AsRef<Path>) -> Daemon {
        let r = self.opts.set_log_file(Some(Self::bytes(&path)));
        self.checked(r)
    }

    /// Switch to this user (a name or a number) after the pid and log files
    /// are opened, with its supplementary groups. `EINVAL` if empty; an
    /// unknown user is `ENOENT` from [`run`](Daemon::run).
    pub fn user(mut self, user: &str) -> Daemon {
        let r = self.opts.set_user(Some(user.as_bytes()));
        self.checked(r)
    }

    /// Switch to this group (a name or a number; default: the user's own).
    /// `EINVAL` if empty.
    pub fn group(mut self, group: &str) -> Daemon {
        let r = self.opts.set_group(Some(group.as_bytes()));
        self.checked(r)
    }

    /// Raise RLIMIT_NOFILE to these soft and hard limits (the hard one only
    /// when allowed; never lowered).
    pub fn nofile(mut self, soft: u64, hard: u64) -> Daemon {
        let r = self.opts.set_nofile(soft, hard);
        self.checked(r)
    }

    /// How long the daemon has to call [`ready`](fn@crate::ready) (default
    /// 30 s; rounded up to whole milliseconds; `Duration::MAX` waits
    /// forever). Errors (reported by `run`): `EINVAL` for zero.
    pub fn timeout(mut self, t: Duration) -> Daemon {
        let r = self.opts.set_timeout_ms(super::timeout::timeout_ms(t));
        self.checked(r)
    }

    /// How to detach (default [`DaemonMode::Auto`]).
    pub fn mode(mut self, mode: DaemonMode) -> Daemon {
        self.opts.set_mode(match mode {
            DaemonMode::Auto => Mode::Auto,
            DaemonMode::Fork => Mode::Fork,
            DaemonMode::Reexec => Mode::Reexec,
        });
        self
    }

    /// Daemonize: returns `Ok(())` in the daemon; the launcher never returns.
    ///
    /// Errors (before anything was started): `EBUSY` fork mode in a
    /// multi-threaded process; `EEXIST` already running; `ELOOP`/`EPERM` the
    /// pid file is a symlink or not ours; `ENOENT` unknown user or group, a
    /// missing directory, no recorded executable; `EINVAL` the first bad
    /// value a setter was given (checked before anything else, even in a
    /// new generation or the daemon itself); errors of open, socketpair,
    /// fork. A new generation started by an upgrade, or a process that
    /// already is the daemon, returns `Ok(())` at once.
    pub fn run(&self) -> io::Result<()> {
        if let Some(e) = self.err {
            return Err(e.into());
        }
        io(core_daemon::daemonize(&self.opts))
    }
}

/// Lock and write a pid file without daemonizing (it follows upgrades).
/// Errors: `EEXIST` another process holds it; `ELOOP` a symlink; `EPERM` not
/// ours; `EBUSY` this process holds another pid file; `EAGAIN` the file kept
/// being removed or replaced while it was locked; errors of open.
pub fn pidfile_create(path: impl AsRef<Path>) -> io::Result<()> {
    io(crate::pidfile::create(path.as_ref().as_os_str().as_bytes()))
}

/// At clean exit: remove the pid file this process holds if it still names
/// this process (after an upgrade it names the new generation: left alone).
/// `Ok(true)` if removed. Errors: the unlink failed (e.g. `EACCES`).
pub fn pidfile_remove() -> io::Result<bool> {
    io(crate::pidfile::remove())
}
