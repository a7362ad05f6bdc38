//! Setting `gracefd run` up, before the supervisor loop starts (`run/`).

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;

use crate::listeners::{self, ListenOptions};
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::process::{self, Pid};
use crate::sys::{fs, sigfd};

use crate::supervise::control;
use crate::supervise::worker_notify::NotifyDir;
use crate::supervise::options::{LogTarget, ReadyRule, RunOptions};
use crate::supervise::detach;
use crate::supervise::worker::{self, Ident};
use crate::supervise::exit;
use crate::supervise::say::{self, say};

/// What the supervisor starts with.
pub(crate) struct Setup {
    /// SIGHUP, SIGTERM, SIGINT, SIGCHLD (blocked, read here).
    pub(crate) sigfd: Fd,
    /// A pid file is held (locked, our pid written): remove it on exit.
    pub(crate) pidfile: bool,
    /// `SERVER_STARTER_PORT` keys the user chose (`--port`, `--path`).
    pub(crate) keys: HashMap<Ident, Vec<u8>>,
    /// The control socket.
    pub(crate) control: Option<control::Server>,
    /// The `--log-file "| cmd"` process, if it is our child.
    pub(crate) logger: Option<Pid>,
    /// Where the workers' NOTIFY_SOCKETs go.
    pub(crate) notify_dir: NotifyDir,
    /// Whether we detached (the launcher waits for the first worker).
    pub(crate) daemonized: bool,
    /// What each worker applies to itself before exec.
    pub(crate) child: crate::child_setup::ChildSetup,
}

/// An ignored SIGCHLD (SIG_IGN or SA_NOCLDWAIT, kept across exec: some
/// launchers leave it so) has the kernel reap our children itself. Every
/// `gracefd` command learns how a child ended by waiting for it (a worker's
/// status, the daemonize launcher's verdict), which would then fail with
/// ECHILD: SIGCHLD gets its default action back.
pub fn reap_own_children() {
    if let Err(e) = crate::sys::signal::set_default(libc::SIGCHLD) {
        say!(say::WARNING, "SIGCHLD: {}; the exits of children reaped by the kernel are not known", e);
    }
}

/// Signals passed on to the workers.
pub(crate) const FORWARDED: [i32; 4] = [libc::SIGUSR1, libc::SIGUSR2, libc::SIGQUIT, libc::SIGWINCH];

/// Make gracefd the reaper of its workers' orphans (logged if refused;
/// what it then reaps, and PID 1's other duties: `run/reaper.rs`).
fn become_reaper(init: bool) {
    if process::getpid() == 1 {
        say!(say::INFO, "running as PID 1: reaping every orphan, exiting with the worker's status");
        return;
    }
    match process::set_child_subreaper() {
        Ok(()) => say!(say::DEBUG, "child subreaper: the workers' orphans are reaped by gracefd{}", if init { " (--init)" } else { "" }),
        Err(e) => say!(say::WARNING, "PR_SET_CHILD_SUBREAPER: {}; the workers' orphans go to PID 1", e),
    }
}

fn setup_fail(code: i32, msg: std::fmt::Arguments<'_>) -> i32 {
    say!(say::ERR, "{}", msg);
    code
}

/// Start `sh -c CMD` reading from a pipe; return the pipe's write end and
/// the logger's pid. With `detached` (for `--daemonize`) its stdout and
/// stderr are /dev/null, so it does not hold the launching terminal (or a
/// `$(...)` capture) open. (`Spawn` lays out fds 3..; fds 0-2 are lent to the
/// child by swapping our own around the spawn: this process is single-threaded.)
fn start_log_pipe(cmd: &[u8], detached: bool) -> Result<(Fd, Pid), String> {
    let (r, w) = fd::pipe().map_err(|e| format!("pipe: {}", e))?;
    let devnull = fs::open(b"/dev/null\0", libc::O_WRONLY, 0).map_err(|e| format!("/dev/null: {}", e))?;
    let lend: Vec<(RawFd, RawFd)> = if detached { vec![(r.raw(), 0), (devnull.raw(), 1), (devnull.raw(), 2)] } else { vec![(r.raw(), 0)] };
    let saved: Vec<(Option<Fd>, RawFd)> = lend.iter().map(|&(_, to)| (fd::dup_cloexec(to).ok(), to)).collect();
    for &(from, to) in &lend {
        fd::redirect_stdio(from, to).map_err(|e| format!("dup2: {}", e))?;
    }
    let res = {
        let mut sp = crate::spawn::Spawn::new(b"/bin/sh");
        sp.arg(b"sh").arg(b"-c").arg(cmd);
        sp.env_inherit_scrubbed();
        // Out of gracefd's process group, as the workers are: a terminal's
        // Ctrl-C (or Ctrl-Z) would end it while gracefd and the workers
        // still write their stop to it. It ends at EOF, once they are gone.
        sp.own_group();
        sp.spawn().map_err(|e| e.to_string())
    };
    for (keep, to) in &saved {
        match keep {
            Some(k) => {
                let _ = fd::redirect_stdio(k.raw(), *to);
            }
            None => {
                let _ = fd::close_stdio(*to);
            }
        }
    }
    drop(r);
    Ok((w, res?))
}

/// Prepare everything in the order that keeps errors on the terminal:
/// signals, log target, pid file, sockets, control socket; then detach (if
/// asked), write the pid, make the notify directory. `Err` is the exit status
/// (the reason was logged, and told to the `--daemonize` launcher).
pub(crate) fn prepare(o: &RunOptions) -> Result<Setup, i32> {
    // A caller may have filled the fields directly: the setters' rules hold anyway.
    if let Err(e) = o.check() {
        return Err(setup_fail(exit::USAGE, format_args!("{}", e)));
    }
    // Signals are blocked and read from a signalfd from here on (a child
    // gets an empty mask from Spawn).
    let handled: Vec<i32> = detach::SIGNALS.iter().chain(FORWARDED.iter()).copied().collect();
    let sig = match sigfd::open(&handled) {
        Ok(f) => f,
        Err(e) => return Err(setup_fail(exit::SETUP, format_args!("signalfd: {}", e))),
    };

    // Log target, pid file, sockets: errors here reach the terminal.
    let mut log_file: Option<std::fs::File> = None;
    let mut log_pipe: Option<(Fd, Pid)> = None;
    match &o.log_file {
        // O_NOFOLLOW: a link planted at the name is refused, not appended through.
        Some(LogTarget::File(p)) => match crate::safe_path::open_append(p.as_os_str().as_encoded_bytes(), 0o666) {
            // SAFETY: a fresh CLOEXEC fd from open, owned by the File from here on.
            Ok(f) => log_file = Some(unsafe { std::os::unix::io::FromRawFd::from_raw_fd(f.into_raw()) }),
            Err(e) => return Err(setup_fail(exit::SETUP, format_args!("--log-file: {}", e))),
        },
        Some(LogTarget::Pipe(cmd)) => match start_log_pipe(cmd, o.daemonize) {
            Ok(x) => log_pipe = Some(x),
            Err(e) => return Err(setup_fail(exit::SETUP, format_args!("--log-file \"| {}\": {}", String::from_utf8_lossy(cmd), e))),
        },
        None => {}
    }
    let log_fd: Option<RawFd> = log_file.as_ref().map(|f| f.as_raw_fd()).or(log_pipe.as_ref().map(|(w, _)| w.raw()));

    // Locked before anything is bound: a second instance is told it is one.
    if let Some(p) = &o.pid_file {
        match detach::lock_own(p) {
            Ok(()) => {}
            Err(e) if e.errno.0 == libc::EEXIST => return Err(setup_fail(exit::ALREADY_RUNNING, format_args!("--pid-file {}: {}", p.display(), e))),
            Err(e) => return Err(setup_fail(exit::SETUP, format_args!("--pid-file {}: {}", p.display(), e))),
        }
    }

    let mut keys: HashMap<Ident, Vec<u8>> = HashMap::new();
    for spec in &o.listen {
        let mut lo = ListenOptions { backlog: o.backlog, ..ListenOptions::default() };
        lo.unix_mode = spec.unix_mode;
        match listeners::listen(spec.name.as_deref(), &spec.addr, &lo) {
            Ok(f) => {
                if let (Some(k), Some(id)) = (&spec.starter_key, worker::ident(f.raw())) {
                    keys.insert(id, k.clone());
                }
            }
            Err(e) => return Err(setup_fail(exit::SETUP, format_args!("--{} {}: {}", spec.opt, crate::supervise::names::shown(&spec.given), e))),
        }
    }

    // Resolved now, while errors reach the terminal; applied by each worker
    // after the sockets were bound (so ports below 1024 work as root).
    let mut child = crate::child_setup::ChildSetup::default();
    match crate::daemon::resolve_creds(o.user.as_deref(), o.group.as_deref()) {
        Ok(Some(c)) => {
            let me = crate::sys::process::geteuid();
            if me != 0 && (c.uid.is_some_and(|u| u != me) || c.gid != crate::sys::process::getegid()) {
                return Err(setup_fail(exit::SETUP, format_args!("--user/--group: switching the workers to uid {:?} gid {} needs root (gracefd runs as uid {})", c.uid, c.gid, me)));
            }
            say!(say::INFO, "the workers run as uid {} gid {} (groups {:?})", c.uid.map(|u| u.to_string()).unwrap_or_else(|| "unchanged".into()), c.gid, c.groups);
            child.switch_to(c);
        }
        Ok(None) => {}
        Err(e) => return Err(setup_fail(exit::SETUP, format_args!("--user/--group: {}", e))),
    }
    if let Some((soft, hard)) = o.nofile {
        crate::supervise::limits::raise_nofile(soft, hard);
    }

    let control = match &o.control_socket {
        None => None,
        Some(p) => match control::Server::bind(p) {
            Ok(s) => Some(s),
            Err(e) => return Err(setup_fail(exit::SETUP, format_args!("{}", e))),
        },
    };

    let daemonized = o.daemonize;
    if daemonized {
        let first_ms = match o.ready {
            ReadyRule::Notify => o.ready_timeout_ms,
            ReadyRule::Interval(ms) => ms,
        };
        // The library's daemonize opens the log by path: a pipe by its /proc name.
        let log_path = match (&o.log_file, log_fd) {
            (Some(LogTarget::File(p)), _) => Some(p.as_os_str().as_bytes().to_vec()),
            (Some(LogTarget::Pipe(_)), Some(fd)) => Some(format!("/proc/self/fd/{}", fd).into_bytes()),
            _ => None,
        };
        let opts = detach::DaemonOpts {
            pid_file: o.pid_file.as_deref(),
            log_path,
            // The daemon reports the first worker's fate itself; this bound
            // only catches a daemon that hangs.
            timeout_ms: (first_ms + 30_000) as i64,
        };
        if let Err(e) = detach::daemonize_self(&opts) {
            return Err(setup_fail(exit::SETUP, format_args!("{}", e)));
        }
    } else if let Some(lf) = log_fd {
        let _ = fd::redirect_stdio(lf, 1);
        let _ = fd::redirect_stdio(lf, 2);
    }
    say::set_timestamps(log_fd.is_some());
    drop(log_file);
    let logger = log_pipe.map(|(w, pid)| {
        drop(w);
        pid
    });

    // The daemon has written its pid already.
    if let (Some(p), false) = (&o.pid_file, daemonized) {
        if let Err(e) = detach::write_own_pid(p) {
            return Err(setup_fail(exit::SETUP, format_args!("--pid-file {}: {}", p.display(), e)));
        }
    }
    // A gracefd killed with SIGKILL left its directory behind.
    crate::supervise::worker_notify::clean_stale();
    // Workers die with gracefd (SIGKILL: a worker whose supervisor is gone
    // can no longer be reloaded or stopped, and would hold the port).
    child.die_with_parent(libc::SIGKILL);
    become_reaper(o.init);
    let notify_dir = match NotifyDir::create().and_then(|mut d| {
        if let Some(c) = &child.creds {
            d.allow(c.uid.unwrap_or_else(crate::sys::process::geteuid), c.gid)?;
        }
        Ok(d)
    }) {
        Ok(d) => d,
        Err(e) => {
            let msg = format!("cannot create the directory for the workers' NOTIFY_SOCKETs: {}", e);
            if daemonized {
                detach::report_failed(exit::SETUP, &msg);
            }
            return Err(setup_fail(exit::SETUP, format_args!("{}", msg)));
        }
    };
    Ok(Setup { sigfd: sig, pidfile: o.pid_file.is_some(), keys, control, logger: if daemonized { None } else { logger }, notify_dir, daemonized, child })
}
