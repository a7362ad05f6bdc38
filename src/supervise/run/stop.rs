//! Stopping: `--signal-on-term` to every worker, SIGKILL to those left after
//! `--stop-timeout` (in `timers.rs`), done when all are reaped and what they
//! left in their process groups is gone (`groups.rs`), or a bounded while
//! after that SIGKILL.

use crate::sys::process;
use crate::sys::time::monotonic_ns;

use super::{Doomed, Stopping, Sup, AFTER_KILL_MS, MS};
use crate::supervise::names::{fmt_secs, signal_name};
use crate::supervise::say::{self, say};

impl Sup {
    pub(super) fn begin_stop(&mut self, code: i32, why: &str) {
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
        let _ = crate::notify::stopping();
        self.respawn_at_ns = None;
        self.auto_at_ns = None;
        self.reload_queued = false;
        for c in self.waiters_now.drain(..).chain(self.waiters_next.drain(..)) {
            c.reply(libc::ESHUTDOWN, "gracefd is stopping");
        }
        for p in pids {
            let _ = process::signal_awake(p, sig);
        }
        for o in &mut self.old {
            o.signaled = true;
        }
        let deadline_ns = monotonic_ns() + self.o.stop_timeout_ms * MS;
        // A worker still starting is stopped like the others (its readiness no longer matters).
        self.attempt = None;
        self.rolling_left.clear();
        for mut p in std::mem::take(&mut self.pending) {
            p.w.close_channel();
            self.doomed.push(Doomed { w: p.w, kill_at_ns: deadline_ns, killed: false });
        }
        self.stopping = Some(Stopping { deadline_ns, killed_at_ns: None });
    }

    pub(super) fn stopped(&self) -> bool {
        match &self.stopping {
            None => false,
            Some(s) => (self.live_pids().is_empty() && !self.groups_left()) || s.killed_at_ns.is_some_and(|k| monotonic_ns() >= k + AFTER_KILL_MS * MS),
        }
    }
}

