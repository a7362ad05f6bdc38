//! Exits: every known worker is reaped by pid (`waitpid(pid, WNOHANG)`), and
//! what its exit means depends on what it was (pending, current, old,
//! doomed); what it left in its process group is stopped (`groups.rs`).
//! Adopted children (gracefd is a subreaper, or PID 1) are reaped in
//! `reaper.rs`.

use crate::sys::process::{self, Exit, Pid};
use crate::sys::time::monotonic_ns;
use crate::sys::Errno;

use super::{Sup, MS};
use crate::supervise::names::{fmt_secs, signal_name};
use crate::supervise::exit;
use crate::supervise::say::{self, say};

impl Sup {
    pub(super) fn reap(&mut self) {
        for pid in self.live_pids() {
            match process::try_wait(pid) {
                Ok(Some(x)) => self.on_exit(pid, x),
                Ok(None) => self.note_stop(pid),
                Err(Errno(libc::ECHILD)) => self.on_exit(pid, Exit::NOT_OURS),
                Err(_) => {}
            }
        }
        if let Some(l) = self.logger {
            match process::try_wait(l) {
                Ok(Some(x)) => self.on_logger_exit(x),
                Ok(None) => {}
                Err(_) => self.logger = None,
            }
        }
        self.reap_adopted();
        // After the adopted: a member that exited with its worker and was
        // ours is reaped by now, not taken for something left behind.
        self.check_groups();
    }

    /// Say so when a worker is stopped: it serves nothing until it is
    /// continued, and a worker in a process group of its own is stopped by
    /// the kernel when it uses the terminal (docs/cli.md, "In a terminal").
    fn note_stop(&mut self, pid: Pid) {
        let Some(sig) = process::stopped_by(pid) else { return };
        let why = match sig {
            libc::SIGTTIN => ": it read the terminal, from a process group that is not the terminal's foreground one (start gracefd with < /dev/null)",
            libc::SIGTTOU => ": it wrote to the terminal under `stty tostop` or changed its settings, from a process group that is not the terminal's foreground one",
            _ => "",
        };
        let generation = self.generation_of(pid).unwrap_or(0);
        say!(say::WARNING, "worker generation {} (pid {}) is stopped by {}{}; it serves nothing until continued (kill -CONT {})", generation, pid, signal_name(sig), why, pid);
    }

    pub(super) fn on_logger_exit(&mut self, x: Exit) {
        if let Some(l) = self.logger.take() {
            say!(say::WARNING, "the --log-file command (pid {}) {}", l, x);
        }
    }

    /// Whether `pid` is a worker gracefd knows (in any state).
    pub(super) fn is_worker(&self, pid: Pid) -> bool {
        self.current.iter().any(|w| w.pid == pid)
            || self.pending.iter().any(|p| p.w.pid == pid)
            || self.old.iter().any(|o| o.w.pid == pid)
            || self.doomed.iter().any(|d| d.w.pid == pid)
    }

    /// The generation of worker `pid` (in any state).
    fn generation_of(&self, pid: Pid) -> Option<u32> {
        self.current
            .iter()
            .chain(self.pending.iter().map(|p| &p.w))
            .chain(self.old.iter().map(|o| &o.w))
            .chain(self.doomed.iter().map(|d| &d.w))
            .find(|w| w.pid == pid)
            .map(|w| w.generation)
    }

    pub(super) fn on_exit(&mut self, pid: Pid, x: Exit) {
        if let Some(g) = self.generation_of(pid) {
            self.worker_gone(pid, g, x);
        }
        if let Some(i) = self.pending.iter().position(|p| p.w.pid == pid) {
            let mut p = self.pending.remove(i);
            // Its last word may still wait in the readiness channel (a failed
            // exec reports why before the child exits): it says more than
            // the bare status.
            if let Some(crate::supervise::worker::Event::Exited(_, why)) = p.w.on_channel() {
                if matches!(x, Exit::Code(127)) && why.starts_with("could not be executed") && self.stopping.is_none() {
                    let line = format!("worker generation {} (pid {}) {}", p.w.generation, pid, why);
                    self.attempt_failed(Some(p.w), &line, exit::SETUP);
                    return;
                }
            }
            p.w.reaped(x);
            if self.stopping.is_some() {
                say!(say::INFO, "starting worker generation {} (pid {}) {}", p.w.generation, pid, x);
                return;
            }
            let when = match p.w.ready_ns {
                Some(r) => format!("{} after it was ready (within --settle {})", fmt_secs((monotonic_ns() - r) / MS), fmt_secs(self.o.settle_ms)),
                None => "before it was ready".to_string(),
            };
            let line = format!("worker generation {} (pid {}) {} {}", p.w.generation, pid, x, when);
            self.attempt_failed(Some(p.w), &line, exit::DIED);
            return;
        }
        if let Some(i) = self.current.iter().position(|w| w.pid == pid) {
            let mut w = self.current.remove(i);
            w.reaped(x);
            self.rolling_left.retain(|&p| p != pid);
            self.write_status();
            if self.stopping.is_some() {
                say!(say::INFO, "worker generation {} (pid {}) {}", w.generation, pid, x);
                self.last_exit = Some(x);
                return;
            }
            let served_ms = w.ready_ns.map(|r| (monotonic_ns() - r) / MS).unwrap_or(0);
            say!(say::WARNING, "worker generation {} (pid {}) {} after serving {}", w.generation, pid, x, fmt_secs(served_ms));
            self.last_failure = Some(format!("worker generation {} (pid {}) {}", w.generation, pid, x));
            if served_ms >= self.o.respawn_delay_max_ms {
                self.failures_in_row = 0;
            }
            if self.attempt.is_some() {
                say!(say::INFO, "generation {} is starting; the missing worker is replaced after it", self.generation);
                return;
            }
            if self.respawn_at_ns.is_none() {
                self.schedule_respawn();
            }
            return;
        }
        if let Some(i) = self.old.iter().position(|o| o.w.pid == pid) {
            let o = self.old.remove(i);
            say!(say::INFO, "old worker generation {} (pid {}) {}", o.w.generation, pid, x);
            self.write_status();
            return;
        }
        if let Some(i) = self.doomed.iter().position(|d| d.w.pid == pid) {
            let d = self.doomed.remove(i);
            say!(say::DEBUG, "failed worker generation {} (pid {}) {}", d.w.generation, pid, x);
        }
    }
}
