//! `gracefd run`: the supervisor. One thread, one poll loop over a signalfd
//! (SIGHUP, SIGTERM, SIGINT, SIGCHLD), the starting worker's readiness
//! channel and notify socket, the other workers' notify sockets, and the
//! control socket; timers for readiness deadlines, respawn back-off, the
//! kill-old delay and the stop timeout.
//!
//! States of a worker: **pending** (started, not ready yet: at most one at a
//! time), **current** (ready, serving), **old** (replaced by a newer ready
//! worker: gets `--signal-on-hup` after `--kill-old-delay`, then drains),
//! **doomed** (a new worker that failed: SIGTERM, SIGKILL after a grace).
//!
//! - A reload (SIGHUP, `ctl reload`, auto-restart) starts a pending worker;
//!   when it is ready the current one becomes old. If it fails, it is
//!   stopped and the current one goes on serving. A reload requested while
//!   one is in flight is queued: any number of requests then make exactly
//!   one more reload, started when the one in flight ends.
//! - A current worker that exits is respawned after a back-off
//!   (`backoff.rs`), unless a pending worker is already on its way.
//! - SIGTERM/SIGINT/`ctl stop`: `--signal-on-term` to every worker, SIGKILL
//!   to those left after `--stop-timeout`, exit when all are reaped.
//! - Children are reaped by pid (`waitpid(pid, WNOHANG)` for each known
//!   worker on every SIGCHLD and every loop turn): no zombies.

use std::collections::HashMap;

use gracefd::sys::fd::{Fd, RawFd};
use gracefd::sys::process::{self, Exit, Pid};
use gracefd::sys::time::monotonic_ns;
use gracefd::sys::{sigfd, Errno};

use crate::args::{fmt_secs, signal_name};
use crate::control::{self, Command, Conn, Incoming};
use crate::notify_sock::NotifyDir;
use crate::opts::{ReadyRule, RunOptions};
use crate::detach;
use crate::worker::{self, describe_exit, Event, Ident, Worker};
use crate::{backoff, envdir, exit, say, setup, status};

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
    why: Why,
    deadline_ns: u64,
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
    current: Option<Worker>,
    pending: Option<Pending>,
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
}

/// Where the pollable fds came from.
enum Src {
    Signals,
    Control,
    Conn(usize),
    PendingChannel,
    Notify(Pid),
}

/// `gracefd run` / `start_server`: set up, supervise, return the exit status.
pub fn main(o: RunOptions) -> i32 {
    let st = match setup::prepare(&o) {
        Ok(st) => st,
        Err(code) => return code,
    };
    let mut s = Sup {
        sigfd: st.sigfd,
        generation: 0,
        current: None,
        pending: None,
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
        watchdog: match gracefd::notify::watchdog_usec() {
            Ok(us) if us > 0 => Some((us * 1000 / 2, monotonic_ns())),
            _ => None,
        },
        o,
    };
    s.log_start();
    s.launch(Why::Start);
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

    // ---- starting workers --------------------------------------------------

    fn launch(&mut self, why: Why) {
        self.respawn_at_ns = None;
        self.generation += 1;
        let generation = self.generation;
        let env = self.env_for_worker();
        let plan = worker::Plan {
            command: &self.o.command,
            dir: self.o.dir.as_deref(),
            env: &env,
            generation,
            listeners: true,
            starter_keys: &self.keys,
            notify_dir: Some(&self.notify_dir),
            extra_fds: &[],
        };
        match worker::start(&plan) {
            Ok(w) => {
                let now = monotonic_ns();
                let deadline_ns = match self.o.ready {
                    ReadyRule::Notify => now + self.o.ready_timeout_ms * MS,
                    ReadyRule::Interval(ms) => now + ms * MS,
                };
                say!(say::NOTICE, "{}: started worker generation {} as pid {}", why.word(), generation, w.pid);
                if why == Why::Reload && self.current.is_some() {
                    if let Err(e) = gracefd::notify::reloading() {
                        say!(say::DEBUG, "RELOADING=1 not sent: {}", e);
                    }
                }
                self.pending = Some(Pending { w, why, deadline_ns });
            }
            Err(e) => self.start_failed(why, None, generation, &format!("could not be started: {}", e), exit::SETUP),
        }
    }

    /// The pending worker is ready.
    fn on_ready(&mut self) {
        let Some(mut p) = self.pending.take() else { return };
        let now = monotonic_ns();
        p.w.ready_ns = Some(now);
        p.w.close_channel();
        let took = (now - p.w.started_ns) / MS;
        say!(say::NOTICE, "worker generation {} (pid {}) is ready after {} ms", p.w.generation, p.w.pid, took);
        if let Some(cur) = self.current.take() {
            if self.o.kill_old_delay_ms > 0 {
                say!(
                    say::INFO,
                    "sending {} to the old worker generation {} (pid {}) in {}",
                    signal_name(self.o.signal_on_hup),
                    cur.generation,
                    cur.pid,
                    fmt_secs(self.o.kill_old_delay_ms)
                );
            }
            self.old.push(Old { w: cur, signal_at_ns: now + self.o.kill_old_delay_ms * MS, signaled: false });
        }
        let (gen, pid) = (p.w.generation, p.w.pid);
        self.current = Some(p.w);
        self.last_restart_ns = now;
        self.auto_at_ns = self.o.auto_restart_ms.map(|ms| now + ms * MS);
        self.signal_old();
        self.write_status();
        if p.why == Why::Reload {
            self.reloads_ok += 1;
            for c in self.waiters_now.drain(..) {
                c.reply(0, &format!("generation {} pid {}", gen, pid));
            }
        }
        if self.announced {
            let _ = gracefd::notify::ready(false);
        } else {
            self.announced = true;
            detach::report_ready();
        }
        let _ = gracefd::notify::status(format!("serving: worker generation {} (pid {})", gen, pid).as_bytes());
        self.after_attempt();
    }

    /// A start did not produce a ready worker. `w`: the worker, if it was
    /// started (it is stopped unless already gone). `code`: the launcher's
    /// exit status if this ends a `--daemonize` start.
    fn start_failed(&mut self, why: Why, w: Option<Worker>, generation: u32, reason: &str, code: i32) {
        let pid_text = w.as_ref().map(|w| format!(" (pid {})", w.pid)).unwrap_or_default();
        let line = format!("worker generation {}{} {}", generation, pid_text, reason);
        // What a waiting `ctl reload` is told (with the line).
        let errno = if code == exit::TIMEOUT { libc::ETIMEDOUT } else { libc::ECANCELED };
        self.last_failure = Some(line.clone());
        if let Some(mut w) = w {
            if w.exit.is_none() {
                w.close_channel();
                let _ = process::kill(w.pid, libc::SIGTERM);
                self.doomed.push(Doomed { w, kill_at_ns: monotonic_ns() + FAILED_WORKER_GRACE_MS * MS, killed: false });
            }
        }
        if self.stopping.is_some() {
            return;
        }
        if let Some(cur) = &self.current {
            self.reloads_failed += 1;
            say!(say::ERR, "{} failed: {}; still serving with generation {} (pid {})", why.word(), line, cur.generation, cur.pid);
            let reply = format!("reload failed: {}; still serving generation {} pid {}", line, cur.generation, cur.pid);
            for c in self.waiters_now.drain(..) {
                c.reply(errno, &reply);
            }
            let _ = gracefd::notify::ready(false);
            let _ = gracefd::notify::status(format!("reload failed: {}", line).as_bytes());
        } else {
            say!(say::ERR, "{} failed: {}", why.word(), line);
            if why == Why::Reload {
                self.reloads_failed += 1;
            }
            let reply = format!("{} failed: {}", why.word(), line);
            for c in self.waiters_now.drain(..) {
                c.reply(errno, &reply);
            }
            if self.daemonized && !self.announced {
                // The launching shell learns it did not come up, and why.
                detach::report_failed(code, &format!("the first worker did not come up: {}", line));
                self.begin_stop(exit::FAILED, "the first worker did not come up");
                return;
            }
            if !self.reload_queued {
                self.schedule_respawn();
            }
        }
        self.after_attempt();
    }

    /// After a start ended either way: run the queued reload, if any, and
    /// keep the auto-restart timer armed (a failed auto-restart tries again
    /// an interval later).
    fn after_attempt(&mut self) {
        if let (Some(ms), None, Some(_)) = (self.o.auto_restart_ms, self.auto_at_ns, &self.current) {
            self.auto_at_ns = Some(monotonic_ns() + ms * MS);
        }
        if self.reload_queued && self.stopping.is_none() && self.pending.is_none() {
            self.reload_queued = false;
            self.waiters_now = std::mem::take(&mut self.waiters_next);
            say!(say::INFO, "starting the queued reload");
            self.launch(Why::Reload);
        }
    }

    fn schedule_respawn(&mut self) {
        self.failures_in_row = self.failures_in_row.saturating_add(1);
        let d = backoff::delay_ms(self.o.respawn_delay_ms, self.o.respawn_delay_max_ms, self.failures_in_row);
        say!(say::WARNING, "respawning in {} (failure {} in a row)", fmt_secs(d), self.failures_in_row);
        self.respawn_at_ns = Some(monotonic_ns() + d * MS);
    }

    fn request_reload(&mut self, waiter: Option<Conn>, source: &str) {
        if self.stopping.is_some() {
            if let Some(c) = waiter {
                c.reply(libc::ESHUTDOWN, "gracefd is stopping");
            }
            return;
        }
        if let Some(p) = &self.pending {
            if self.reload_queued {
                say!(say::INFO, "{}: coalesced into the reload already queued", source);
            } else {
                say!(say::INFO, "{}: generation {} is starting; one more reload is queued", source, p.w.generation);
            }
            self.reload_queued = true;
            self.waiters_next.extend(waiter);
            return;
        }
        say!(say::NOTICE, "{}: reloading", source);
        self.waiters_now.extend(waiter);
        if self.respawn_at_ns.is_some() {
            say!(say::INFO, "the pending respawn is replaced by the reload");
        }
        self.launch(Why::Reload);
    }

    // ---- exits -------------------------------------------------------------

    fn reap(&mut self) {
        for pid in self.live_pids() {
            match process::try_wait(pid) {
                Ok(Some(x)) => self.on_exit(pid, x),
                Ok(None) => {}
                Err(Errno(libc::ECHILD)) => self.on_exit(pid, Exit::Code(-1)),
                Err(_) => {}
            }
        }
        if let Some(l) = self.logger {
            match process::try_wait(l) {
                Ok(Some(x)) => {
                    say!(say::WARNING, "the --log-file command (pid {}) {}", l, describe_exit(x));
                    self.logger = None;
                }
                Ok(None) => {}
                Err(_) => self.logger = None,
            }
        }
    }

    fn on_exit(&mut self, pid: Pid, x: Exit) {
        if self.pending.as_ref().is_some_and(|p| p.w.pid == pid) {
            if let Some(mut p) = self.pending.take() {
                p.w.reaped(x);
                let code = exit::DIED;
                if self.stopping.is_some() {
                    say!(say::INFO, "starting worker generation {} (pid {}) {}", p.w.generation, pid, describe_exit(x));
                    return;
                }
                let g = p.w.generation;
                self.start_failed(p.why, Some(p.w), g, &format!("{} before it was ready", describe_exit(x)), code);
            }
            return;
        }
        if self.current.as_ref().is_some_and(|w| w.pid == pid) {
            let Some(mut w) = self.current.take() else { return };
            w.reaped(x);
            self.write_status();
            if self.stopping.is_some() {
                say!(say::INFO, "worker generation {} (pid {}) {}", w.generation, pid, describe_exit(x));
                return;
            }
            let served_ms = w.ready_ns.map(|r| (monotonic_ns() - r) / MS).unwrap_or(0);
            say!(say::WARNING, "worker generation {} (pid {}) {} after serving {}", w.generation, pid, describe_exit(x), fmt_secs(served_ms));
            self.last_failure = Some(format!("worker generation {} (pid {}) {}", w.generation, pid, describe_exit(x)));
            if served_ms >= self.o.respawn_delay_max_ms {
                self.failures_in_row = 0;
            }
            if let Some(p) = &self.pending {
                say!(say::INFO, "generation {} (pid {}) is starting and takes over", p.w.generation, p.w.pid);
                return;
            }
            self.schedule_respawn();
            return;
        }
        if let Some(i) = self.old.iter().position(|o| o.w.pid == pid) {
            let o = self.old.remove(i);
            say!(say::INFO, "old worker generation {} (pid {}) {}", o.w.generation, pid, describe_exit(x));
            self.write_status();
            return;
        }
        if let Some(i) = self.doomed.iter().position(|d| d.w.pid == pid) {
            let d = self.doomed.remove(i);
            say!(say::DEBUG, "failed worker generation {} (pid {}) {}", d.w.generation, pid, describe_exit(x));
        }
    }

    // ---- timers ------------------------------------------------------------

    fn signal_old(&mut self) {
        let now = monotonic_ns();
        let sig = self.o.signal_on_hup;
        for o in self.old.iter_mut().filter(|o| !o.signaled && o.signal_at_ns <= now) {
            o.signaled = true;
            say!(say::INFO, "sending {} to the old worker generation {} (pid {})", signal_name(sig), o.w.generation, o.w.pid);
            let _ = process::kill(o.w.pid, sig);
        }
    }

    fn timers(&mut self) {
        let now = monotonic_ns();
        if self.pending.as_ref().is_some_and(|p| p.deadline_ns <= now) {
            // Reap first: a worker that died just now is not "alive after the interval".
            self.reap();
            if let Some(p) = &self.pending {
                if p.deadline_ns <= now {
                    match self.o.ready {
                        ReadyRule::Interval(_) => self.on_ready(),
                        ReadyRule::Notify => {
                            if let Some(p) = self.pending.take() {
                                let g = p.w.generation;
                                let why = format!("was not ready within {} (--ready-timeout)", fmt_secs(self.o.ready_timeout_ms));
                                self.start_failed(p.why, Some(p.w), g, &why, exit::TIMEOUT);
                            }
                        }
                    }
                }
            }
        }
        self.signal_old();
        for d in self.doomed.iter_mut().filter(|d| !d.killed && d.kill_at_ns <= now) {
            d.killed = true;
            say!(say::WARNING, "failed worker generation {} (pid {}) is still running: SIGKILL", d.w.generation, d.w.pid);
            let _ = process::kill(d.w.pid, libc::SIGKILL);
        }
        if self.respawn_at_ns.is_some_and(|t| t <= now) && self.pending.is_none() && self.stopping.is_none() {
            self.respawns += 1;
            self.launch(Why::Respawn);
        }
        if let Some(t) = self.auto_at_ns {
            if t <= now && self.stopping.is_none() {
                let interval = self.o.auto_restart_ms.unwrap_or(0) * MS;
                let since = now - self.last_restart_ns;
                if self.pending.is_none() && (self.old.is_empty() || since >= 2 * interval) {
                    self.auto_at_ns = None;
                    let what = if self.old.is_empty() { "auto-restart" } else { "auto-restart (forced: old workers still running)" };
                    self.request_reload(None, what);
                } else {
                    self.auto_at_ns = Some(now + 1000 * MS);
                }
            }
        }
        let stale: Vec<usize> =
            (0..self.conns.len()).rev().filter(|&i| self.conns.get(i).is_some_and(|c| now - c.opened_ns > control::REQUEST_TIMEOUT_MS * MS)).collect();
        for i in stale {
            let c = self.conns.remove(i);
            say!(say::WARNING, "control socket: refused pid {}: no request within {} s", c.pid, control::REQUEST_TIMEOUT_MS / 1000);
            c.refuse(libc::ETIMEDOUT, &format!("no request received within {} s", control::REQUEST_TIMEOUT_MS / 1000));
        }
        if let Some((period, next)) = self.watchdog {
            if next <= now {
                // gracefd's own liveness (its loop turns); the workers are
                // watched by gracefd, not by systemd.
                if let Err(e) = gracefd::notify::notify(b"WATCHDOG=1") {
                    say!(say::WARNING, "WATCHDOG=1 not sent: {}", e);
                }
                self.watchdog = Some((period, now + period));
            }
        }
        if let Some(st) = &mut self.stopping {
            if st.killed_at_ns.is_none() && st.deadline_ns <= now {
                st.killed_at_ns = Some(now);
                let left = self.live_pids();
                let list: Vec<String> = left.iter().map(|p| p.to_string()).collect();
                say!(
                    say::WARNING,
                    "workers still running after {} (--stop-timeout): SIGKILL to {}",
                    fmt_secs(self.o.stop_timeout_ms),
                    list.join(", ")
                );
                for p in left {
                    let _ = process::kill(p, libc::SIGKILL);
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        let mut t: Vec<u64> = Vec::new();
        t.extend(self.pending.as_ref().map(|p| p.deadline_ns));
        t.extend(self.old.iter().filter(|o| !o.signaled).map(|o| o.signal_at_ns));
        t.extend(self.doomed.iter().filter(|d| !d.killed).map(|d| d.kill_at_ns));
        if self.pending.is_none() && self.stopping.is_none() {
            t.extend(self.respawn_at_ns);
        }
        t.extend(self.auto_at_ns);
        t.extend(self.conns.iter().map(|c| c.opened_ns + control::REQUEST_TIMEOUT_MS * MS));
        t.extend(self.watchdog.map(|(_, next)| next));
        if let Some(s) = &self.stopping {
            match s.killed_at_ns {
                None => t.push(s.deadline_ns),
                Some(k) => t.push(k + AFTER_KILL_MS * MS),
            }
        }
        t.into_iter().min()
    }

    // ---- stopping ----------------------------------------------------------

    fn begin_stop(&mut self, code: i32, why: &str) {
        if self.stopping.is_some() {
            say!(say::INFO, "{}: already stopping", why);
            return;
        }
        self.exit_code = code;
        let sig = self.o.signal_on_term;
        let pids = self.live_pids();
        let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
        say!(
            say::NOTICE,
            "{}: sending {} to the workers ({}), waiting up to {}",
            why,
            signal_name(sig),
            if list.is_empty() { "none".to_string() } else { list.join(", ") },
            fmt_secs(self.o.stop_timeout_ms)
        );
        let _ = gracefd::notify::stopping();
        self.respawn_at_ns = None;
        self.auto_at_ns = None;
        self.reload_queued = false;
        for c in self.waiters_now.drain(..).chain(self.waiters_next.drain(..)) {
            c.reply(libc::ESHUTDOWN, "gracefd is stopping");
        }
        for p in pids {
            let _ = process::kill(p, sig);
        }
        for o in &mut self.old {
            o.signaled = true;
        }
        let deadline_ns = monotonic_ns() + self.o.stop_timeout_ms * MS;
        // A worker still starting is stopped like the others (its readiness no longer matters).
        if let Some(mut p) = self.pending.take() {
            p.w.close_channel();
            self.doomed.push(Doomed { w: p.w, kill_at_ns: deadline_ns, killed: false });
        }
        self.stopping = Some(Stopping { deadline_ns, killed_at_ns: None });
    }

    fn stopped(&self) -> bool {
        match &self.stopping {
            None => false,
            Some(s) => self.live_pids().is_empty() || s.killed_at_ns.is_some_and(|k| monotonic_ns() >= k + AFTER_KILL_MS * MS),
        }
    }

    // ---- the loop ----------------------------------------------------------

    fn run(&mut self) {
        loop {
            self.reap();
            self.timers();
            if self.stopped() {
                return;
            }
            let mut pfds: Vec<libc::pollfd> = Vec::new();
            let mut srcs: Vec<Src> = Vec::new();
            let mut add = |f: RawFd, s: Src| {
                pfds.push(libc::pollfd { fd: f, events: libc::POLLIN, revents: 0 });
                srcs.push(s);
            };
            add(self.sigfd.raw(), Src::Signals);
            if let Some(c) = &self.control {
                if self.conns.len() < MAX_CONNS {
                    add(c.raw(), Src::Control);
                }
            }
            for (i, c) in self.conns.iter().enumerate() {
                add(c.raw(), Src::Conn(i));
            }
            if let Some(p) = &self.pending {
                if let Some(f) = p.w.waiter_fd() {
                    add(f, Src::PendingChannel);
                }
            }
            let all = self.current.iter().chain(self.pending.iter().map(|p| &p.w)).chain(self.old.iter().map(|o| &o.w));
            for w in all {
                if let Some(f) = w.notify_fd() {
                    add(f, Src::Notify(w.pid));
                }
            }
            let timeout = match self.next_deadline() {
                None => -1,
                Some(t) => {
                    let now = monotonic_ns();
                    if t <= now {
                        0
                    } else {
                        ((t - now).div_ceil(MS)).min(60_000) as i32
                    }
                }
            };
            match gracefd::sys::poll::poll(&mut pfds, timeout) {
                Ok(_) => {}
                Err(Errno(libc::EINTR)) => continue,
                Err(e) => {
                    say!(say::ERR, "poll: {}", e);
                    gracefd::sys::time::sleep_ms(100);
                    continue;
                }
            }
            let mut conn_ready: Vec<usize> = Vec::new();
            let mut accept = false;
            let mut signals = false;
            for (p, s) in pfds.iter().zip(srcs) {
                if p.revents == 0 {
                    continue;
                }
                match s {
                    Src::Signals => signals = true,
                    Src::Control => accept = true,
                    Src::Conn(i) => conn_ready.push(i),
                    Src::PendingChannel => self.on_pending_channel(),
                    Src::Notify(pid) => self.on_notify(pid),
                }
            }
            if signals {
                self.on_signals();
            }
            for i in conn_ready.into_iter().rev() {
                self.on_conn(i);
            }
            if accept {
                self.accept_conns();
            }
        }
    }

    fn on_signals(&mut self) {
        loop {
            match sigfd::read(self.sigfd.raw()) {
                Ok(Some(libc::SIGHUP)) => self.request_reload(None, "SIGHUP"),
                Ok(Some(s)) if s == libc::SIGTERM || s == libc::SIGINT => {
                    let name = signal_name(s);
                    self.begin_stop(exit::OK, &format!("received {}", name));
                }
                Ok(Some(_)) => {} // SIGCHLD: reaped at the top of the loop
                Ok(None) => return,
                Err(e) => {
                    say!(say::ERR, "reading signals: {}", e);
                    return;
                }
            }
        }
    }

    fn on_pending_channel(&mut self) {
        let Some(p) = &mut self.pending else { return };
        match p.w.on_channel() {
            None => {}
            Some(Event::Ready) => {
                if self.o.ready == ReadyRule::Notify {
                    self.on_ready();
                } else {
                    say!(say::DEBUG, "worker {} reported ready; the interval rule decides", p.w.pid);
                }
            }
            Some(Event::Failed(st, why)) => self.pending_failed(&why, if (1..=255).contains(&st) { st } else { exit::FAILED }),
            Some(Event::Exited(x, why)) => {
                let code = if matches!(x, Exit::Code(127)) && why.starts_with("could not be executed") { exit::SETUP } else { exit::DIED };
                let why = if why.starts_with("could not") { why } else { format!("{} before it was ready", why) };
                self.pending_failed(&why, code);
            }
        }
    }

    fn pending_failed(&mut self, why: &str, code: i32) {
        if let Some(p) = self.pending.take() {
            let g = p.w.generation;
            if self.stopping.is_some() {
                if p.w.exit.is_none() {
                    self.doomed.push(Doomed { w: p.w, kill_at_ns: monotonic_ns() + FAILED_WORKER_GRACE_MS * MS, killed: false });
                }
                return;
            }
            self.start_failed(p.why, Some(p.w), g, why, code);
        }
    }

    fn on_notify(&mut self, pid: Pid) {
        let is_pending = self.pending.as_ref().is_some_and(|p| p.w.pid == pid);
        let w = self
            .current
            .iter_mut()
            .chain(self.pending.iter_mut().map(|p| &mut p.w))
            .chain(self.old.iter_mut().map(|o| &mut o.w))
            .find(|w| w.pid == pid);
        let Some(w) = w else { return };
        if w.on_notify() == Some(Event::Ready) && is_pending {
            if self.o.ready == ReadyRule::Notify {
                self.on_ready();
            } else {
                say!(say::DEBUG, "worker {} sent READY=1; the interval rule decides", pid);
            }
        }
    }

    // ---- control socket ----------------------------------------------------

    fn accept_conns(&mut self) {
        let Some(srv) = &self.control else { return };
        while self.conns.len() < MAX_CONNS {
            match srv.accept() {
                Ok(Some(c)) => self.conns.push(c),
                Ok(None) => break,
                Err(e) => say!(say::WARNING, "{}", e),
            }
        }
    }

    fn on_conn(&mut self, i: usize) {
        let Some(c) = self.conns.get_mut(i) else { return };
        match c.read_request() {
            Incoming::Pending => {}
            Incoming::Closed => {
                self.conns.remove(i);
            }
            Incoming::Bad(errno, why) => {
                // Refused and dropped; the loop goes on serving.
                let c = self.conns.remove(i);
                say!(say::WARNING, "control socket: refused pid {}: {}", c.pid, why);
                c.refuse(errno, &why);
            }
            Incoming::Request(req) => {
                let c = self.conns.remove(i);
                match req {
                    Command::Status => c.reply(0, &self.status_report()),
                    Command::Reload => self.request_reload(Some(c), "control socket"),
                    Command::Stop => {
                        c.reply(0, "stopping");
                        self.stop_conns.push(c);
                        self.begin_stop(exit::OK, "stop requested on the control socket");
                    }
                }
            }
        }
    }

    fn status_report(&self) -> String {
        let now = monotonic_ns();
        let ago = |t: u64| fmt_secs((now.saturating_sub(t)) / MS);
        let mut s = String::new();
        let state = if self.stopping.is_some() {
            "stopping".to_string()
        } else if let Some(p) = &self.pending {
            match p.why {
                Why::Start => "starting",
                Why::Respawn => "respawning",
                Why::Reload => "reloading",
            }
            .to_string()
        } else if let Some(t) = self.respawn_at_ns {
            format!("waiting to respawn (in {})", fmt_secs(t.saturating_sub(now) / MS))
        } else if self.current.is_some() {
            "serving".into()
        } else {
            "no worker".into()
        };
        s += &format!("pid: {}\nstate: {}\nuptime: {}\n", process::getpid(), state, ago(self.started_ns));
        s += &format!("generation: {}\n", self.current.as_ref().map(|w| w.generation.to_string()).unwrap_or_else(|| "none".into()));
        match &self.current {
            Some(w) => {
                s += &format!("worker: pid {} generation {} ready for {}", w.pid, w.generation, ago(w.ready_ns.unwrap_or(w.started_ns)));
                if let Some(t) = &w.status_text {
                    s += &format!(" status {:?}", t);
                }
                s.push('\n');
            }
            None => s += "worker: none\n",
        }
        if let Some(p) = &self.pending {
            s += &format!("starting: pid {} generation {} ({}) for {}\n", p.w.pid, p.w.generation, p.why.word(), ago(p.w.started_ns));
        }
        for o in &self.old {
            let what = if o.signaled { format!("draining ({} sent)", signal_name(self.o.signal_on_hup)) } else { "waiting for --kill-old-delay".into() };
            s += &format!("old: pid {} generation {} {}\n", o.w.pid, o.w.generation, what);
        }
        s += &format!("reload-queued: {}\n", if self.reload_queued { "yes" } else { "no" });
        s += &format!("reloads: {} ok, {} failed\n", self.reloads_ok, self.reloads_failed);
        s += &format!("respawns: {} (failures in a row: {})\n", self.respawns, self.failures_in_row);
        if let Some(f) = &self.last_failure {
            s += &format!("last-failure: {}\n", f);
        }
        s += &format!("ready-rule: {}\n", self.o.ready.describe());
        for l in worker::describe_listeners(&self.keys) {
            s += &format!("socket: {}\n", l);
        }
        s
    }

    // ---- files -------------------------------------------------------------

    fn write_status(&self) {
        let Some(path) = &self.o.status_file else { return };
        let mut entries: Vec<(u32, Pid)> = Vec::new();
        entries.extend(self.current.iter().map(|w| (w.generation, w.pid)));
        entries.extend(self.old.iter().map(|o| (o.w.generation, o.w.pid)));
        if let Err(e) = status::write(path, &entries) {
            say!(say::WARNING, "--status-file {}: {}", path.display(), e);
        }
    }

    fn finish(mut self) -> i32 {
        say!(say::NOTICE, "stopped");
        if let Some(path) = &self.o.status_file {
            let _ = std::fs::remove_file(path);
        }
        if self.pidfile {
            detach::remove_own();
        }
        self.control = None;
        remove_unix_sockets();
        // Connections waiting for the stop see EOF when the process exits.
        std::mem::forget(std::mem::take(&mut self.stop_conns));
        self.exit_code
    }
}

/// Remove the files of the unix sockets gracefd bound (not inherited ones),
/// as start_server does for `--path`: nobody else can have bound them while
/// gracefd listened.
fn remove_unix_sockets() {
    for info in gracefd::registry::entries() {
        if info.source != gracefd::registry::Source::Created || info.kind != gracefd::registry::Kind::UnixListener {
            continue;
        }
        let Ok(a) = gracefd::sys::socket::getsockname(info.raw) else { continue };
        let Some(p) = a.unix_path() else { continue };
        if p.is_empty() || p.first() == Some(&0) {
            continue;
        }
        let mut z = p.to_vec();
        z.push(0);
        if gracefd::sys::fs::lstat(&z).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK) {
            let _ = gracefd::sys::fs::unlink(&z);
        }
    }
}
