//! Timers: readiness deadlines, the kill-old delay, SIGKILL for failed
//! workers, respawn back-off, auto-restart, stale control connections,
//! gracefd's own watchdog, the stop timeout, the process groups workers
//! left (`groups.rs`); and the next of them to wait for.

use crate::sys::process;
use crate::sys::time::monotonic_ns;

use super::{Sup, Why, AFTER_KILL_MS, MS};
use crate::supervise::names::{fmt_secs, signal_name};
use crate::supervise::control;
use crate::supervise::options::ReadyRule;
use crate::supervise::exit;
use crate::supervise::say::{self, say};

impl Sup {
    pub(super) fn signal_old(&mut self) {
        let now = monotonic_ns();
        let sig = self.o.signal_on_hup;
        for o in self.old.iter_mut().filter(|o| !o.signaled && o.signal_at_ns <= now) {
            o.signaled = true;
            say!(say::INFO, "sending {} to the old worker generation {} (pid {})", signal_name(sig), o.w.generation, o.w.pid);
            let _ = crate::sys::process::signal_awake(o.w.pid, sig);
        }
    }

    pub(super) fn timers(&mut self) {
        let now = monotonic_ns();
        if self.pending.iter().any(|p| p.w.ready_ns.is_none() && p.deadline_ns <= now) {
            // Reap first: a worker that died just now is not "alive after the interval".
            self.reap();
            let due: Vec<_> = self.pending.iter().filter(|p| p.w.ready_ns.is_none() && p.deadline_ns <= now).map(|p| p.w.pid).collect();
            for pid in due {
                match self.o.ready {
                    ReadyRule::Interval(_) => self.on_ready(pid),
                    ReadyRule::Notify => {
                        if let Some(i) = self.pending.iter().position(|p| p.w.pid == pid) {
                            let p = self.pending.remove(i);
                            let line = format!(
                                "worker generation {} (pid {}) was not ready within {} (--ready-timeout)",
                                p.w.generation,
                                pid,
                                fmt_secs(self.o.ready_timeout_ms)
                            );
                            self.attempt_failed(Some(p.w), &line, exit::TIMEOUT);
                        }
                        break;
                    }
                }
            }
        }
        self.check_settled();
        self.signal_old();
        for d in self.doomed.iter_mut().filter(|d| !d.killed && d.kill_at_ns <= now) {
            d.killed = true;
            say!(say::WARNING, "failed worker generation {} (pid {}) is still running: SIGKILL", d.w.generation, d.w.pid);
            let _ = process::kill(d.w.pid, libc::SIGKILL);
        }
        if self.respawn_at_ns.is_some_and(|t| t <= now) && self.attempt.is_none() && self.stopping.is_none() {
            let missing = (self.o.workers as usize).saturating_sub(self.current.len()) as u32;
            if missing == 0 {
                self.respawn_at_ns = None;
            } else {
                self.respawns += u64::from(missing);
                self.launch(Why::Respawn, missing, None);
            }
        }
        if let Some(t) = self.auto_at_ns {
            if t <= now && self.stopping.is_none() {
                let interval = self.o.auto_restart_ms.unwrap_or(0) * MS;
                let since = now - self.last_restart_ns;
                if self.attempt.is_none() && (self.old.is_empty() || since >= 2 * interval) {
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
                if let Err(e) = crate::notify::notify(b"WATCHDOG=1") {
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
                if !list.is_empty() {
                    say!(
                        say::WARNING,
                        "workers still running after {} (--stop-timeout): SIGKILL to {} and their process groups",
                        fmt_secs(self.o.stop_timeout_ms),
                        list.join(", ")
                    );
                }
                for &p in &left {
                    let _ = process::kill(p, libc::SIGKILL);
                }
                self.kill_all_groups(&left);
            }
        }
        self.group_timers();
    }

    pub(super) fn next_deadline(&self) -> Option<u64> {
        let mut t: Vec<u64> = Vec::new();
        t.extend(self.pending.iter().map(|p| match p.w.ready_ns {
            None => p.deadline_ns,
            Some(r) => r + self.o.settle_ms * MS,
        }));
        t.extend(self.old.iter().filter(|o| !o.signaled).map(|o| o.signal_at_ns));
        t.extend(self.doomed.iter().filter(|d| !d.killed).map(|d| d.kill_at_ns));
        if self.attempt.is_none() && self.stopping.is_none() {
            t.extend(self.respawn_at_ns);
        }
        t.extend(self.auto_at_ns);
        t.extend(self.conns.iter().map(|c| c.opened_ns + control::REQUEST_TIMEOUT_MS * MS));
        t.extend(self.watchdog.map(|(_, next)| next));
        t.extend(self.group_deadline());
        if let Some(s) = &self.stopping {
            match s.killed_at_ns {
                None => t.push(s.deadline_ns),
                Some(k) => t.push(k + AFTER_KILL_MS * MS),
            }
        }
        t.into_iter().min()
    }
}
