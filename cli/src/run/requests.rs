//! The control socket: accepting connections, reading their requests
//! (status, reload, stop), and the status report.

use gracefd::__cli::sys::process;
use gracefd::__cli::sys::time::monotonic_ns;

use super::{Sup, Why, MAX_CONNS, MS};
use crate::args::{fmt_secs, signal_name};
use crate::control::{Command, Incoming};
use crate::worker;
use crate::{exit, say};

impl Sup {
    pub(super) fn accept_conns(&mut self) {
        let Some(srv) = &self.control else { return };
        while self.conns.len() < MAX_CONNS {
            match srv.accept() {
                Ok(Some(c)) => self.conns.push(c),
                Ok(None) => break,
                Err(e) => say!(say::WARNING, "{}", e),
            }
        }
    }

    pub(super) fn on_conn(&mut self, i: usize) {
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
}
