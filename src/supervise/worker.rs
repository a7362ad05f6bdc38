//! Starting a worker with the sockets in both protocols, and learning when
//! it is ready.
//!
//! The worker gets, through the library's fork-safe [`Spawn`]:
//!
//! - every registry entry (the `--listen`/`--port`/`--path` sockets and
//!   whatever gracefd itself inherited) at fds 3, 4, … with `LISTEN_FDS`,
//!   `LISTEN_FDNAMES` and `LISTEN_PID` (its own pid, filled in after fork);
//! - the same sockets in `SERVER_STARTER_PORT` (`host:port=fd;/path=fd`,
//!   keyed as start_server would key them) and `SERVER_STARTER_GENERATION`;
//! - `GRACEFD_GENERATION`, `GRACEFD_READY_FD` (the readiness channel, after
//!   the sockets, not counted in `LISTEN_FDS`) and `NOTIFY_SOCKET` (a socket
//!   of gracefd's own, see `worker_notify.rs`);
//! - gracefd's start-up environment without the fd-passing variables, then
//!   the `--envdir` values, then `--env` entries;
//! - an empty signal mask and default signal dispositions;
//! - a process group of its own, which it leads (`Spawn::own_group`);
//! - gracefd's own stdin, stdout and stderr (with `--log-file`, stdout and
//!   stderr are the log; with `--daemonize`, stdin is /dev/null).

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::proto::addr::Shown;
use crate::ready::Outcome;
use crate::registry::{self, FdKind};
use crate::spawn::Spawn;
use crate::sys::cpath::CPath;
use crate::sys::fd::{Fd, RawFd};
use crate::sys::process::{Exit, Pid};
use crate::sys::socket;

use crate::supervise::say::{self, say};
use crate::supervise::worker_notify::{NotifyDir, NotifySock};

/// `(st_dev, st_ino)` of a socket: how a registry entry is recognised.
pub(crate) type Ident = (u64, u64);

/// The identity of an open fd.
pub(crate) fn ident(f: RawFd) -> Option<Ident> {
    crate::sys::fd::fstat(f).ok().map(|st| (st.st_dev, st.st_ino))
}


/// What to start.
pub(crate) struct Plan<'a> {
    /// argv; `argv[0]` is looked up as `execvp` would.
    pub(crate) command: &'a [Vec<u8>],
    /// Working directory of the worker (gracefd's own when None).
    pub(crate) dir: Option<&'a Path>,
    /// `KEY=VALUE` entries over the inherited environment, in order.
    pub(crate) env: &'a [Vec<u8>],
    /// The generation number.
    pub(crate) generation: u32,
    /// Pass the registry's sockets (`gracefd run`); else `LISTEN_FDS=0`.
    pub(crate) listeners: bool,
    /// `SERVER_STARTER_PORT` keys chosen by the user (`--port`, `--path`).
    pub(crate) starter_keys: &'a HashMap<Ident, Vec<u8>>,
    /// Where the worker's `NOTIFY_SOCKET` goes (None: no NOTIFY_SOCKET).
    pub(crate) notify_dir: Option<&'a NotifyDir>,
    /// More fds to pass after the readiness channel, each announced in the
    /// named variable (`GRACEFD_PIDFILE_FD`).
    pub(crate) extra_fds: &'a [(&'a [u8], RawFd)],
    /// A number no other worker of this gracefd has (names its NOTIFY_SOCKET).
    pub(crate) seq: u64,
    /// What the worker applies to itself before exec (parent-death signal, user).
    pub(crate) child: Option<&'a crate::child_setup::ChildSetup>,
}

/// A started worker.
pub(crate) struct Worker {
    /// Its pid.
    pub(crate) pid: Pid,
    /// Its generation.
    pub(crate) generation: u32,
    /// When it was started (monotonic ns).
    pub(crate) started_ns: u64,
    /// When it became ready.
    pub(crate) ready_ns: Option<u64>,
    /// How it ended, once reaped.
    pub(crate) exit: Option<Exit>,
    /// The last `STATUS=` it sent.
    pub(crate) status_text: Option<String>,
    waiter: Option<Fd>,
    notify: Option<NotifySock>,
}

/// What a worker's readiness channel or notify socket said.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// It reported ready.
    Ready,
    /// It reported failure with this exit status (it may still run).
    Failed(i32, String),
    /// It is gone (already reaped by the readiness code).
    Exited(Exit, String),
}

/// The `SERVER_STARTER_PORT` key for a socket: the user's (`--port 8080`
/// → `8080`), the one it was inherited with, or the bound address.
fn starter_key(info: &registry::Info, fd: RawFd, user: &HashMap<Ident, Vec<u8>>) -> Option<Vec<u8>> {
    if !matches!(info.kind, FdKind::TcpListener | FdKind::UnixListener | FdKind::Udp) {
        return None;
    }
    if let Some(k) = ident(fd).and_then(|i| user.get(&i)) {
        return Some(k.clone());
    }
    if !info.label.is_empty() {
        return Some(info.label.clone());
    }
    let a = socket::getsockname(fd).ok()?;
    if let Some(p) = a.unix_path() {
        // Abstract sockets have no start_server notation.
        return if p.first() == Some(&0) || p.is_empty() { None } else { Some(p.to_vec()) };
    }
    Some(crate::listeners::AddrShown(&a).to_string().into_bytes())
}

fn digits(n: u64) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// Start a worker. The error says what failed (lookup, environment, fork).
/// With `--dir`, the worker starts there (the child changes directory; the
/// supervisor's own stays as it is) and a relative command or `PATH` entry
/// is looked up there.
pub(crate) fn start(plan: &Plan<'_>) -> Result<Worker, String> {
    let argv0 = plan.command.first().ok_or("no command")?;
    let dir = match plan.dir {
        Some(d) => {
            let z = CPath::new(d.as_os_str().as_bytes()).map_err(|e| format!("--dir {}: {}", d.display(), e))?;
            Some(crate::sys::fs::open(&z, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| format!("--dir {}: {}", d.display(), e))?)
        }
        None => None,
    };
    let exe = crate::supervise::path_lookup::resolve(argv0, crate::supervise::path_lookup::worker_path(plan.env), plan.dir)?;
    let e = |err: crate::error::Error| err.to_string();
    let mut sp = Spawn::new(&exe);
    for a in plan.command {
        sp.arg(a);
    }
    sp.env_inherit_scrubbed();
    sp.env_remove(b"NOTIFY_SOCKET");
    sp.env_remove(b"WATCHDOG_USEC");
    for kv in plan.env {
        sp.env_put(kv);
    }
    // The setters record a refused input: nothing is opened for one.
    sp.refused().map_err(e)?;

    // The registered sockets first, at 3, 4, … (LISTEN_FDS set), then their
    // start_server names for SERVER_STARTER_PORT.
    let infos = if plan.listeners { registry::entries() } else { Vec::new() };
    let (exported, names) = if plan.listeners {
        sp.pass_registered_fds().map_err(e)?
    } else {
        sp.env_set_ours(b"LISTEN_FDS", 0);
        (Vec::new(), Vec::new())
    };
    let mut starter: Vec<u8> = Vec::new();
    if infos.len() == exported.len() {
        for (i, (info, x)) in infos.iter().zip(&exported).enumerate() {
            if let Some(k) = starter_key(info, x.fd.raw(), plan.starter_keys) {
                if !starter.is_empty() {
                    starter.push(b';');
                }
                starter.extend_from_slice(&k);
                starter.push(b'=');
                starter.extend_from_slice(&digits(3 + i as u64));
            }
        }
    }
    sp.env_set(b"LISTEN_FDNAMES", &names);
    sp.env_child_pid_ours(b"LISTEN_PID");
    if plan.listeners {
        sp.env_set(b"SERVER_STARTER_PORT", &starter);
        sp.env_set_ours(b"SERVER_STARTER_GENERATION", u64::from(plan.generation));
    }
    sp.env_set_ours(b"GRACEFD_GENERATION", u64::from(plan.generation));

    let (waiter, child_end) = crate::ready::channel().map_err(e)?;
    sp.pass_lineage_fds(child_end.raw(), None);
    for (var, f) in plan.extra_fds {
        let slot = sp.pass_fd(*f);
        sp.env_set(var, &digits(slot as u64));
    }
    let notify = match plan.notify_dir {
        Some(d) => {
            let s = d.socket(plan.seq).map_err(e)?;
            sp.env_set(b"NOTIFY_SOCKET", s.env_value());
            Some(s)
        }
        None => None,
    };
    let mut setup = plan.child.cloned().unwrap_or_default();
    setup.dir = dir.as_ref().map(Fd::raw);
    sp.child_setup(setup);
    // What it forks can then be stopped with it, once it is gone (the
    // supervisor's `run/groups.rs`); and a terminal's Ctrl-C reaches
    // gracefd alone, which stops the workers its own way.
    sp.own_group();
    let started_ns = crate::sys::time::monotonic_ns();
    let pid = sp.spawn().map_err(e)?;
    drop(child_end);
    drop(exported);
    Ok(Worker { pid, generation: plan.generation, started_ns, ready_ns: None, exit: None, status_text: None, waiter: Some(waiter), notify })
}

impl Worker {
    /// The readiness channel to poll, while it is open.
    pub(crate) fn waiter_fd(&self) -> Option<RawFd> {
        self.waiter.as_ref().map(Fd::raw)
    }

    /// The notify socket to poll, while the worker lives.
    pub(crate) fn notify_fd(&self) -> Option<RawFd> {
        self.notify.as_ref().map(NotifySock::raw)
    }

    /// Stop listening for its readiness (it is ready, failed or gone).
    pub(crate) fn close_channel(&mut self) {
        self.waiter = None;
    }

    /// Forget everything but the pid and generation (it exited).
    pub(crate) fn reaped(&mut self, x: Exit) {
        self.exit = Some(x);
        self.waiter = None;
        self.notify = None;
    }

    /// The readiness channel is readable: read what it says.
    pub(crate) fn on_channel(&mut self) -> Option<Event> {
        let w = self.waiter.as_ref()?;
        let pid = self.pid;
        let outcome = match crate::ready::poll_outcome(w, pid) {
            Ok(Some(o)) => o,
            Ok(None) => return None,
            Err(e) => {
                self.waiter = None;
                say!(say::WARNING, "worker {}: readiness channel: {}", pid, e);
                return None;
            }
        };
        self.waiter = None;
        match outcome {
            Outcome::Ready => Some(Event::Ready),
            Outcome::Failed(st, m) => Some(Event::Failed(st, format!("reported failure (status {}): {}", st, m.as_str()))),
            Outcome::ExecFailedButAlive(_) => {
                let e = outcome.describe("worker", pid);
                Some(Event::Failed(1, e.message().to_string()))
            }
            Outcome::ExecFailed(err) => {
                let x = Exit::Code(127);
                self.reaped(x);
                Some(Event::Exited(x, format!("could not be executed: {}", err)))
            }
            Outcome::Died(x) => {
                self.reaped(x);
                Some(Event::Exited(x, x.to_string()))
            }
            Outcome::Abandoned => {
                say!(say::DEBUG, "worker {} closed GRACEFD_READY_FD without reporting; waiting for READY=1 on NOTIFY_SOCKET", pid);
                None
            }
            Outcome::TimedOut => None,
        }
    }

    /// The notify socket is readable: `Some(Ready)` when it said `READY=1`.
    pub(crate) fn on_notify(&mut self) -> Option<Event> {
        let n = self.notify.as_ref()?.receive();
        if let Some(s) = n.status {
            say!(say::DEBUG, "worker {} (generation {}): STATUS={}", self.pid, self.generation, s);
            self.status_text = Some(s);
        }
        n.ready.then_some(Event::Ready)
    }
}

/// The sockets a worker gets, one line each, for logs and `ctl status`.
pub(crate) fn describe_listeners(user: &HashMap<Ident, Vec<u8>>) -> Vec<String> {
    let infos = registry::entries();
    let mut out = Vec::new();
    for (i, info) in infos.iter().enumerate() {
        let addr = socket::getsockname(info.raw).map(|a| crate::listeners::AddrShown(&a).to_string()).unwrap_or_else(|_| info.kind.describe().to_string());
        let key = starter_key(info, info.raw, user).map(|k| format!(", SERVER_STARTER_PORT key {}", Shown(&k))).unwrap_or_default();
        out.push(format!("fd {} {} {} ({}{})", 3 + i, Shown(&info.name), addr, info.source.describe(), key));
    }
    out
}
