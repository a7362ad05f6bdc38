//! Exits: every known worker is reaped by pid (`waitpid(pid, WNOHANG)`), and
//! what its exit means depends on what it was (pending, current, old, doomed).

use gracefd::__cli::sys::process::{self, Exit, Pid};
use gracefd::__cli::sys::time::monotonic_ns;
use gracefd::__cli::sys::Errno;

use super::{Sup, MS};
use crate::args::fmt_secs;
use crate::worker::describe_exit;
use crate::{exit, say};

impl Sup {
    pub(super) fn reap(&mut self) {
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
}
