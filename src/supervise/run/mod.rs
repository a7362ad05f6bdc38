//! `gracefd run`: the supervisor. One thread, one poll loop over a signalfd
//! (SIGHUP, SIGTERM, SIGINT, SIGCHLD and the signals passed on to the
//! workers), the starting workers' readiness channels, the workers' notify
//! sockets and the control socket; timers for readiness deadlines, the
//! settle time, respawn back-off, the kill-old delay and the stop timeout.
//!
//! `-n N` workers serve at once. States of a worker: **pending** (started by
//! the attempt in flight — a start, a respawn or a reload — not yet ready,
//! or ready but still within `--settle`), **current** (serving), **old**
//! (replaced: gets `--signal-on-hup` after `--kill-old-delay`, then drains),
//! **doomed** (a new worker of a failed attempt: SIGTERM, SIGKILL after a grace).
//!
//! - An attempt succeeds when each of its workers is ready and has stayed
//!   up `--settle`; it fails as soon as one of them fails, exits or times
//!   out: its workers are stopped and the current ones go on serving (they
//!   never got a signal).
//! - A reload starts N new workers and retires the N current ones when all
//!   are ready; with `--rolling`, one new worker at a time, each retiring one
//!   current worker. A reload requested while one is in flight is queued:
//!   any number of requests then make exactly one more reload.
//! - A current worker that exits is replaced (one respawn per missing
//!   worker) after a back-off (`backoff.rs`), once no attempt is in flight.
//! - SIGTERM/SIGINT/`ctl stop`: `--signal-on-term` to every worker, SIGKILL
//!   to those left after `--stop-timeout`, exit when all are reaped and
//!   their process groups are empty.
//! - Every worker leads a process group of its own: when it is gone, what it
//!   left there (a prefork master's workers) gets `--signal-on-term`, then
//!   SIGKILL after `--stop-timeout` (`groups.rs`).
//! - Children are reaped by pid (`waitpid(pid, WNOHANG)` for each known
//!   worker on every SIGCHLD and every loop turn): no zombies. gracefd is a
//!   child subreaper (or PID 1, see `reaper.rs`): what else it adopts (the
//!   orphaned children of workers) is reaped too, never taken for a worker.

mod exits;
mod files;
mod groups;
mod poll_loop;
mod reaper;
mod report;
mod requests;
mod start;
mod stop;
mod timers;

use std::collections::HashMap;

use crate::sys::fd::Fd;
use crate::child_setup::ChildSetup;
use crate::sys::process::{Exit, Pid};
use crate::sys::time::monotonic_ns;

use crate::supervise::control::{self, Conn};
use crate::supervise::worker_notify::NotifyDir;
use crate::supervise::options::RunOptions;
use crate::supervise::worker::{self, Ident, Worker};

use crate::supervise::say::{self, say};
use crate::supervise::{envdir, exit, setup};

const MS: u64 = 1_000_000;
/// After SIGTERM, how long a failed new worker gets before SIGKILL.
const FAILED_WORKER_GRACE_MS: u64 = 2_000;
/// After the final SIGKILL of a stop, how long to wait for the reaping.
const AFTER_KILL_MS: u64 = 5_000;
/// Most control connections served at once.
const MAX_CONNS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Start,
    Respawn,
    Reload,
}

impl Why {
    fn word(self) -> &'static str {
        match self {
            Why::Start => "start",
            Why::Respawn => "respawn",
            Why::Reload => "reload",
        }
    }
}

struct Pending {
    w: Worker,
    /// Readiness deadline (`--ready-timeout`, or the interval rule's end).
    deadline_ns: u64,
}

/// The start, respawn or reload in flight (its workers are `pending`).
struct Attempt {
    why: Why,
    /// `--rolling`: the current worker the new one replaces.
    replaces: Option<Pid>,
}

struct Old {
    w: Worker,
    signal_at_ns: u64,
    signaled: bool,
}

struct Doomed {
    w: Worker,
    kill_at_ns: u64,
    killed: bool,
}

struct Stopping {
    deadline_ns: u64,
    killed_at_ns: Option<u64>,
}

struct Sup {
    o: RunOptions,
    sigfd: Fd,
    generation: u32,
    /// Workers started so far (names their notify sockets).
    seq: u64,
    current: Vec<Worker>,
    attempt: Option<Attempt>,
    pending: Vec<Pending>,
    /// `--rolling` reload in flight: the current workers still to replace.
    rolling_left: Vec<Pid>,
    old: Vec<Old>,
    doomed: Vec<Doomed>,
    respawn_at_ns: Option<u64>,
    failures_in_row: u32,
    reload_queued: bool,
    waiters_now: Vec<Conn>,
    waiters_next: Vec<Conn>,
    stop_conns: Vec<Conn>,
    conns: Vec<Conn>,
    control: Option<control::Server>,
    stopping: Option<Stopping>,
    exit_code: i32,
    auto_at_ns: Option<u64>,
    last_restart_ns: u64,
    announced: bool,
    daemonized: bool,
    keys: HashMap<Ident, Vec<u8>>,
    env_cache: Vec<Vec<u8>>,
    notify_dir: NotifyDir,
    pidfile: bool,
    logger: Option<Pid>,
    reloads_ok: u64,
    reloads_failed: u64,
    respawns: u64,
    last_failure: Option<String>,
    started_ns: u64,
    /// systemd's watchdog for gracefd itself: (period, next ping).
    watchdog: Option<(u64, u64)>,
    /// What every worker applies to itself before exec.
    child: ChildSetup,
    /// How the last serving worker ended during a stop (`--init` exits with it).
    last_exit: Option<Exit>,
    /// The process groups of workers that are gone, while they have
    /// members (`groups.rs`).
    groups: Vec<groups::LeftGroup>,
}

/// `gracefd run` / `start_server`: set up, supervise, return the exit status:
/// `exit::USAGE` for options that break `RunOptions::check`'s rules (set
/// directly rather than through the checked setters), `exit::SETUP` and the
/// other statuses of [`exit`](crate::supervise::exit) for a set-up that
/// failed (each said on stderr first), else how the supervision ended
/// (`exit::OK` after a clean stop; with `--init`, the last worker's status).
pub fn main(o: RunOptions) -> i32 {
    let st = match setup::prepare(&o) {
        Ok(st) => st,
        Err(code) => return code,
    };
    let mut s = Sup {
        sigfd: st.sigfd,
        generation: 0,
        seq: 0,
        current: Vec::new(),
        attempt: None,
        pending: Vec::new(),
        rolling_left: Vec::new(),
        old: Vec::new(),
        doomed: Vec::new(),
        respawn_at_ns: None,
        failures_in_row: 0,
        reload_queued: false,
        waiters_now: Vec::new(),
        waiters_next: Vec::new(),
        stop_conns: Vec::new(),
        conns: Vec::new(),
        control: st.control,
        stopping: None,
        exit_code: exit::OK,
        auto_at_ns: None,
        last_restart_ns: monotonic_ns(),
        announced: false,
        daemonized: st.daemonized,
        keys: st.keys,
        env_cache: Vec::new(),
        notify_dir: st.notify_dir,
        pidfile: st.pidfile,
        logger: st.logger,
        reloads_ok: 0,
        reloads_failed: 0,
        respawns: 0,
        last_failure: None,
        started_ns: monotonic_ns(),
        watchdog: match crate::notify::watchdog_usec() {
            Ok(us) if us > 0 => Some((us * 1000 / 2, monotonic_ns())),
            _ => None,
        },
        child: st.child,
        last_exit: None,
        groups: Vec::new(),
        o,
    };
    s.log_start();
    s.launch(Why::Start, s.o.workers, None);
    s.run();
    s.finish()
}

impl Sup {
    fn log_start(&self) {
        let argv: Vec<String> = self.o.command.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        say!(say::NOTICE, "starting (ready rule {}, command {:?})", self.o.ready.describe(), argv.join(" "));
        for l in worker::describe_listeners(&self.keys) {
            say!(say::INFO, "socket for the workers: {}", l);
        }
        if let Some(c) = &self.control {
            say!(say::INFO, "control socket {}", c.path().display());
        }
        say!(say::DEBUG, "the workers' NOTIFY_SOCKETs are in {}", self.notify_dir.path().display());
    }

    fn env_for_worker(&mut self) -> Vec<Vec<u8>> {
        if let Some(d) = &self.o.envdir {
            match envdir::read(d) {
                Ok(v) => self.env_cache = v,
                Err(e) => say!(say::WARNING, "{} (keeping the values read before)", e),
            }
        }
        let mut env = self.env_cache.clone();
        env.extend(self.o.env.iter().cloned());
        env
    }

    fn live_pids(&self) -> Vec<Pid> {
        let mut v = Vec::new();
        v.extend(self.current.iter().filter(|w| w.exit.is_none()).map(|w| w.pid));
        v.extend(self.pending.iter().filter(|p| p.w.exit.is_none()).map(|p| p.w.pid));
        v.extend(self.old.iter().filter(|o| o.w.exit.is_none()).map(|o| o.w.pid));
        v.extend(self.doomed.iter().filter(|d| d.w.exit.is_none()).map(|d| d.w.pid));
        v
    }
}
