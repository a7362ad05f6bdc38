//! The supervisor's own pid file, detaching and readiness reports, on the
//! library's `pidfile`, `daemon` and `ready` modules.
//!
//! - The pid file: [`lock_own`] before anything is bound (a second
//!   instance exits 242 "already running as pid N", not with a confusing
//!   bind error), then [`daemonize_self`] (the pid is written in the daemon)
//!   or [`write_own_pid`]; [`remove_own`] on clean exit. The lock lives as
//!   long as gracefd (`start_server --stop` waits on it).
//! - `--daemonize`: the library's fork-mode daemonize. The launching shell
//!   exits 0 once gracefd calls [`report_ready`] (first worker ready), or
//!   with the status given to [`report_failed`] and its message, or 240/241/
//!   243/244 as `exit.rs` says.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::daemon::{self, DaemonOptions, Mode};
use crate::sys::{fs, signal};
use crate::supervise::say::{self, say};
use crate::{lineage, pidfile};

/// The signals the supervisor reads from its signalfd (blocked); SIGPIPE is
/// blocked too, so a write to a dead log pipe fails with EPIPE instead of
/// killing gracefd.
pub(crate) const SIGNALS: [i32; 5] = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT, libc::SIGCHLD, libc::SIGPIPE];

fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// Lock gracefd's own pid file now (it is written later). `EEXIST` when a
/// live instance holds it.
pub(crate) fn lock_own(path: &Path) -> crate::error::Result<()> {
    let f = pidfile::acquire(bytes(path))?;
    lineage::set_pidfile(f);
    Ok(())
}

/// Write our pid into the pid file locked by [`lock_own`].
pub(crate) fn write_own_pid(path: &Path) -> crate::error::Result<()> {
    pidfile::create(bytes(path))
}

/// On clean exit: remove our pid file if it still names us.
pub(crate) fn remove_own() {
    if let Err(e) = pidfile::remove() {
        say!(say::WARNING, "pid file: {}", e);
    }
}

/// Options of [`daemonize_self`].
pub(crate) struct DaemonOpts<'a> {
    /// The pid file (already locked by [`lock_own`]); the daemon writes its pid.
    pub(crate) pid_file: Option<&'a Path>,
    /// The daemon's stdout and stderr: a path (None: /dev/null).
    pub(crate) log_path: Option<Vec<u8>>,
    /// How long the launcher waits for [`report_ready`].
    pub(crate) timeout_ms: i64,
}

/// Detach and return in the daemon (the launcher exits as described above).
/// The daemon keeps the working directory and umask; its signal mask is set
/// back to gracefd's (the library empties it).
pub(crate) fn daemonize_self(o: &DaemonOpts<'_>) -> crate::error::Result<()> {
    let cwd = std::env::current_dir().map(|d| d.as_os_str().as_bytes().to_vec()).unwrap_or_else(|_| b"/".to_vec());
    let umask = fs::umask(0o022);
    fs::umask(umask);
    let mut opts = DaemonOptions::new();
    opts.set_workdir(&cwd)?;
    opts.set_umask(umask)?;
    opts.set_log_file(o.log_path.as_deref())?;
    opts.set_timeout_ms(o.timeout_ms)?;
    opts.set_pid_file(o.pid_file.map(bytes))?;
    opts.set_mode(Mode::Fork);
    daemon::daemonize(&opts)?;
    signal::block(&SIGNALS).map_err(|e| crate::error::Error::sys(e, "--daemonize: block signals"))?;
    Ok(())
}

/// Tell whoever waits that gracefd is ready: the `--daemonize` launcher,
/// whoever started gracefd with `GRACEFD_READY_FD`, and systemd (`READY=1`).
pub(crate) fn report_ready() {
    if let Err(e) = crate::ready::report_ready() {
        say!(say::WARNING, "could not report readiness: {}", e);
    }
}

/// Tell whoever waits that gracefd did not come up: exit status and reason.
pub(crate) fn report_failed(status: i32, msg: &str) {
    let clean: String = msg.chars().map(|c| if c == '\n' || c == '\0' { ' ' } else { c }).collect();
    let status = if (1..=255).contains(&status) { status } else { 1 };
    let _ = crate::ready::report_failed(status, clean.as_bytes());
}
