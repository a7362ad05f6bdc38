//! Attempts: a start, respawn or reload launches pending workers; when each
//! is ready and has stayed up `--settle`, they serve (and, for a reload,
//! the workers they replace are retired); if one fails, all of the attempt
//! are stopped and the current ones go on serving. Reloads requested
//! meanwhile are queued.

use crate::sys::process;
use crate::sys::time::monotonic_ns;

use super::{Attempt, Doomed, Old, Pending, Sup, Why, FAILED_WORKER_GRACE_MS, MS};
use crate::supervise::names::{fmt_secs, signal_name};
use crate::supervise::control::Conn;
use crate::supervise::detach;
use crate::supervise::options::ReadyRule;
use crate::supervise::worker::{self, Worker};
use crate::supervise::backoff;
use crate::supervise::exit;
use crate::supervise::say::{self, say};

impl Sup {
    /// Start `count` workers of a new generation (`replaces`: the current
    /// worker a `--rolling` step retires).
    pub(super) fn launch(&mut self, why: Why, count: u32, replaces: Option<process::Pid>) {
        self.respawn_at_ns = None;
        self.generation += 1;
        let generation = self.generation;
        let env = self.env_for_worker();
        self.attempt = Some(Attempt { why, replaces });
        for _ in 0..count.max(1) {
            self.seq += 1;
            let plan = worker::Plan {
                command: &self.o.command,
                dir: self.o.dir.as_deref(),
                env: &env,
                generation,
                listeners: true,
                starter_keys: &self.keys,
                notify_dir: Some(&self.notify_dir),
                extra_fds: &[],
                seq: self.seq,
                child: Some(&self.child),
            };
            match worker::start(&plan) {
                Ok(w) => {
                    self.forget_group(w.pid);
                    let now = monotonic_ns();
                    let deadline_ns = match self.o.ready {
                        ReadyRule::Notify => now + self.o.ready_timeout_ms * MS,
                        ReadyRule::Interval(ms) => now + ms * MS,
                    };
                    say!(say::NOTICE, "{}: started worker generation {} as pid {}", why.word(), generation, w.pid);
                    self.pending.push(Pending { w, deadline_ns });
                }
                Err(e) => {
                    self.attempt_failed(None, &format!("worker generation {} could not be started: {}", generation, e), exit::SETUP);
                    return;
                }
            }
        }
        if why == Why::Reload && !self.current.is_empty() {
            if let Err(e) = crate::notify::reloading() {
                say!(say::DEBUG, "RELOADING=1 not sent: {}", e);
            }
        }
    }

    /// A pending worker is ready: its settle time starts (`--settle`); the
    /// attempt succeeds when every worker of it has settled.
    pub(super) fn on_ready(&mut self, pid: process::Pid) {
        let now = monotonic_ns();
        let settle = self.o.settle_ms;
        let Some(p) = self.pending.iter_mut().find(|p| p.w.pid == pid) else { return };
        if p.w.ready_ns.is_some() {
            return;
        }
        p.w.ready_ns = Some(now);
        p.w.close_channel();
        let took = (now - p.w.started_ns) / MS;
        say!(say::NOTICE, "worker generation {} (pid {}) is ready after {} ms", p.w.generation, p.w.pid, took);
        if settle > 0 {
            say!(say::INFO, "worker {} must stay up {} (--settle) before it serves alone", p.w.pid, fmt_secs(settle));
        }
        self.check_settled();
    }

    /// When every pending worker has been ready for `--settle`: the attempt
    /// succeeded.
    pub(super) fn check_settled(&mut self) {
        let now = monotonic_ns();
        let settle = self.o.settle_ms * MS;
        if self.pending.is_empty() || !self.pending.iter().all(|p| p.w.ready_ns.is_some_and(|r| r + settle <= now)) {
            return;
        }
        let Some(a) = self.attempt.take() else { return };
        let news: Vec<Worker> = self.pending.drain(..).map(|p| p.w).collect();
        let delay = self.o.kill_old_delay_ms;
        let mut retired: Vec<Worker> = Vec::new();
        match (a.why, a.replaces) {
            (Why::Reload, Some(pid)) => {
                if let Some(i) = self.current.iter().position(|w| w.pid == pid) {
                    retired.push(self.current.remove(i));
                }
            }
            (Why::Reload, None) => retired.append(&mut self.current),
            _ => {}
        }
        for cur in retired {
            if delay > 0 {
                say!(say::INFO, "sending {} to the old worker generation {} (pid {}) in {}", signal_name(self.o.signal_on_hup), cur.generation, cur.pid, fmt_secs(delay));
            }
            self.old.push(Old { w: cur, signal_at_ns: now + delay * MS, signaled: false });
        }
        let gen = news.first().map(|w| w.generation).unwrap_or(0);
        let pids: Vec<String> = news.iter().map(|w| w.pid.to_string()).collect();
        self.current.extend(news);
        self.last_restart_ns = now;
        self.auto_at_ns = self.o.auto_restart_ms.map(|ms| now + ms * MS);
        self.signal_old();
        self.write_status();
        // A rolling reload goes on with the next worker to replace.
        if a.why == Why::Reload && !self.rolling_left.is_empty() {
            let next = self.rolling_left.remove(0);
            say!(say::INFO, "rolling reload: replacing worker {} ({} more after it)", next, self.rolling_left.len());
            self.launch(Why::Reload, 1, Some(next));
            return;
        }
        if a.why == Why::Reload {
            self.reloads_ok += 1;
            let all: Vec<String> = self.current.iter().map(|w| w.pid.to_string()).collect();
            let text = if self.o.rolling { format!("generation {} pid {}", gen, all.join(",")) } else { format!("generation {} pid {}", gen, pids.join(",")) };
            for c in self.waiters_now.drain(..) {
                c.reply(0, &text);
            }
        }
        if self.announced {
            let _ = crate::notify::ready(false);
        } else {
            self.announced = true;
            detach::report_ready();
        }
        let _ = crate::notify::status(format!("serving: {} worker(s), generation {} (pid {})", self.current.len(), gen, pids.join(",")).as_bytes());
        self.after_attempt();
    }

    /// The attempt in flight failed (`w`: the worker that failed, if any;
    /// it and the other pending workers are stopped). `code`: the launcher's
    /// exit status if this ends a `--daemonize` start.
    pub(super) fn attempt_failed(&mut self, w: Option<Worker>, line: &str, code: i32) {
        let why = self.attempt.take().map(|a| a.why).unwrap_or(Why::Start);
        self.rolling_left.clear();
        // What a waiting `ctl reload` is told (with the line).
        let errno = if code == exit::TIMEOUT { libc::ETIMEDOUT } else { libc::ECANCELED };
        self.last_failure = Some(line.to_string());
        let others: Vec<Worker> = self.pending.drain(..).map(|p| p.w).collect();
        for mut w in w.into_iter().chain(others) {
            if w.exit.is_none() {
                w.close_channel();
                let _ = crate::sys::process::signal_awake(w.pid, libc::SIGTERM);
                self.doomed.push(Doomed { w, kill_at_ns: monotonic_ns() + FAILED_WORKER_GRACE_MS * MS, killed: false });
            }
        }
        if self.stopping.is_some() {
            return;
        }
        if !self.current.is_empty() {
            if why == Why::Reload {
                self.reloads_failed += 1;
            }
            let serving: Vec<String> = self.current.iter().map(|w| w.pid.to_string()).collect();
            let gens: Vec<String> = self.current.iter().map(|w| w.generation.to_string()).collect();
            say!(say::ERR, "{} failed: {}; still serving with generation {} (pid {})", why.word(), line, gens.join(","), serving.join(","));
            let reply = format!("reload failed: {}; still serving generation {} pid {}", line, gens.join(","), serving.join(","));
            for c in self.waiters_now.drain(..) {
                c.reply(errno, &reply);
            }
            let _ = crate::notify::ready(false);
            let _ = crate::notify::status(format!("reload failed: {}", line).as_bytes());
            if self.current.len() < self.o.workers as usize && !self.reload_queued {
                self.schedule_respawn();
            }
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
            if why == Why::Start && code == exit::SETUP {
                // The command cannot be run at all: retrying will not help.
                self.begin_stop(exit::SETUP, "the first worker could not be started");
                return;
            }
            if !self.reload_queued {
                self.schedule_respawn();
            }
        }
        self.after_attempt();
    }

    /// After an attempt ended either way: run the queued reload, if any;
    /// keep the auto-restart timer armed (a failed auto-restart tries again
    /// an interval later); replace workers that exited meanwhile.
    fn after_attempt(&mut self) {
        if let (Some(ms), None, false) = (self.o.auto_restart_ms, self.auto_at_ns, self.current.is_empty()) {
            self.auto_at_ns = Some(monotonic_ns() + ms * MS);
        }
        if self.reload_queued && self.stopping.is_none() && self.attempt.is_none() {
            self.reload_queued = false;
            self.waiters_now = std::mem::take(&mut self.waiters_next);
            say!(say::INFO, "starting the queued reload");
            self.start_reload();
            return;
        }
        if self.stopping.is_none() && self.attempt.is_none() && self.respawn_at_ns.is_none() && self.current.len() < self.o.workers as usize {
            self.schedule_respawn();
        }
    }

    pub(super) fn schedule_respawn(&mut self) {
        self.failures_in_row = self.failures_in_row.saturating_add(1);
        let d = backoff::delay_ms(self.o.respawn_delay_ms, self.o.respawn_delay_max_ms, self.failures_in_row);
        say!(say::WARNING, "respawning in {} (failure {} in a row)", fmt_secs(d), self.failures_in_row);
        self.respawn_at_ns = Some(monotonic_ns() + d * MS);
    }

    /// Start a reload: every worker at once, or the first of a rolling one.
    fn start_reload(&mut self) {
        if self.o.rolling && !self.current.is_empty() {
            self.rolling_left = self.current.iter().map(|w| w.pid).collect();
            let first = self.rolling_left.remove(0);
            // Workers missing (crashed) are added by the first step.
            let missing = (self.o.workers as usize).saturating_sub(self.current.len()) as u32;
            self.launch(Why::Reload, 1 + missing, Some(first));
        } else {
            self.launch(Why::Reload, self.o.workers, None);
        }
    }

    pub(super) fn request_reload(&mut self, waiter: Option<Conn>, source: &str) {
        if self.stopping.is_some() {
            if let Some(c) = waiter {
                c.reply(libc::ESHUTDOWN, "gracefd is stopping");
            }
            return;
        }
        if self.attempt.is_some() {
            let g = self.generation;
            if self.reload_queued {
                say!(say::INFO, "{}: coalesced into the reload already queued", source);
            } else {
                say!(say::INFO, "{}: generation {} is starting; one more reload is queued", source, g);
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
        self.start_reload();
    }
}
