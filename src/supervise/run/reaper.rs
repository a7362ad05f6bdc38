//! PID 1 and subreaper duties (what tini and dumb-init do in a container).
//!
//! - gracefd is always a child subreaper (`PR_SET_CHILD_SUBREAPER`): the
//!   orphaned children of its workers (a draining generation's helpers, a
//!   double-forked daemon) are re-parented to it, not to PID 1, and reaped
//!   here. As PID 1 (or with `--init`) it is their reaper anyway.
//! - Adopted children are reaped with `waitpid(-1, WNOHANG)` *after* every
//!   known worker was reaped by pid; a pid that turns out to be a worker (it
//!   ended between the two) goes to the worker code, never the other way:
//!   an adopted grandchild's exit is never taken for a worker's.
//! - USR1, USR2, QUIT and WINCH are passed on to the serving and starting
//!   workers (they would otherwise kill gracefd); HUP reloads, TERM and INT
//!   stop (`--signal-on-term` to the workers).
//! - With `--init`, gracefd exits with the status of the last serving
//!   worker it stopped (128 + N for a signal, as a shell reports it), so
//!   `docker stop` reports what the server did.

use crate::sys::process::{self, Exit};
use crate::sys::Errno;

use super::Sup;
use crate::supervise::setup::FORWARDED;
use crate::supervise::names::signal_name;
use crate::supervise::say::{self, say};

/// The exit status a shell would report for `x`.
fn status_of(x: Exit) -> i32 {
    match x {
        Exit::Code(c) => c & 0xff,
        Exit::Signal(s) => 128 + s,
    }
}

impl Sup {
    /// Reap whatever else has ended (adopted orphans), without blocking.
    pub(super) fn reap_adopted(&mut self) {
        for _ in 0..4096 {
            match process::try_wait_any() {
                Ok(Some((pid, x))) => {
                    if self.is_worker(pid) {
                        self.on_exit(pid, x);
                    } else if self.logger == Some(pid) {
                        self.on_logger_exit(x);
                    } else {
                        say!(say::DEBUG, "reaped adopted process {} ({})", pid, x);
                    }
                }
                Ok(None) | Err(Errno(libc::ECHILD)) => return,
                Err(e) => {
                    say!(say::WARNING, "waitpid(-1): {}", e);
                    return;
                }
            }
        }
    }

    /// Pass `sig` on to the serving and starting workers.
    pub(super) fn forward(&mut self, sig: i32) {
        if !FORWARDED.contains(&sig) {
            return;
        }
        let pids: Vec<_> = self.current.iter().map(|w| w.pid).chain(self.pending.iter().map(|p| p.w.pid)).collect();
        let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
        say!(say::INFO, "passing {} on to the workers ({})", signal_name(sig), list.join(", "));
        for p in pids {
            let _ = process::kill(p, sig);
        }
    }

    /// `--init`: the worker's status, if gracefd stopped normally.
    pub(super) fn init_exit_code(&self, code: i32) -> i32 {
        match (self.o.init, code, self.last_exit) {
            (true, crate::supervise::exit::OK, Some(x)) => status_of(x),
            _ => code,
        }
    }
}
