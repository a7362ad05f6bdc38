//! The control socket: accepting connections, reading their requests
//! (status, reload, stop); the status report is in `report.rs`.

use super::{Sup, MAX_CONNS};
use crate::supervise::control::{Command, Incoming};
use crate::supervise::exit;
use crate::supervise::say::{self, say};

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
                    Command::StatusJson => c.reply(0, &self.status_json()),
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
}
