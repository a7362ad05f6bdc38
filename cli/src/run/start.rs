//! Starting workers: a start, respawn or reload launches a pending worker;
//! it becomes current when ready, or is stopped if it fails (the current
//! one goes on serving). Reloads requested meanwhile are queued.

use gracefd::__cli::sys::process;
use gracefd::__cli::sys::time::monotonic_ns;

use super::{Doomed, Old, Pending, Sup, Why, FAILED_WORKER_GRACE_MS, MS};
use crate::args::{fmt_secs, signal_name};
use crate::control::Conn;
use crate::detach;
use crate::opts::ReadyRule;
use crate::worker::{self, Worker};
use crate::{backoff, exit, say};

impl Sup {
    pub(super) fn launch(&mut self, why: Why) {
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
                    if let Err(e) = gracefd::__cli::notify::reloading() {
                        say!(say::DEBUG, "RELOADING=1 not sent: {}", e);
                    }
                }
                self.pending = Some(Pending { w, why, deadline_ns });
            }
            Err(e) => self.start_failed(why, None, generation, &format!("could not be started: {}", e), exit::SETUP),
        }
    }

    /// The pending worker is ready.
    pub(super) fn on_ready(&mut self) {
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
            let _ = gracefd::__cli::notify::ready(false);
        } else {
            self.announced = true;
            detach::report_ready();
        }
        let _ = gracefd::__cli::notify::status(format!("serving: worker generation {} (pid {})", gen, pid).as_bytes());
        self.after_attempt();
    }

    /// A start did not produce a ready worker. `w`: the worker, if it was
    /// started (it is stopped unless already gone). `code`: the launcher's
    /// exit status if this ends a `--daemonize` start.
    pub(super) fn start_failed(&mut self, why: Why, w: Option<Worker>, generation: u32, reason: &str, code: i32) {
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
            let _ = gracefd::__cli::notify::ready(false);
            let _ = gracefd::__cli::notify::status(format!("reload failed: {}", line).as_bytes());
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

    pub(super) fn schedule_respawn(&mut self) {
        self.failures_in_row = self.failures_in_row.saturating_add(1);
        let d = backoff::delay_ms(self.o.respawn_delay_ms, self.o.respawn_delay_max_ms, self.failures_in_row);
        say!(say::WARNING, "respawning in {} (failure {} in a row)", fmt_secs(d), self.failures_in_row);
        self.respawn_at_ns = Some(monotonic_ns() + d * MS);
    }

    pub(super) fn request_reload(&mut self, waiter: Option<Conn>, source: &str) {
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
}
