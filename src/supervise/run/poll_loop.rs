//! The loop: one `poll` over the signalfd, the control socket and its
//! connections, the pending worker's readiness channel and the workers'
//! notify sockets, with the next timer as its timeout.

use crate::sys::fd::RawFd;
use crate::sys::process::{Exit, Pid};
use crate::sys::time::{monotonic_ns, ms_ceil};
use crate::sys::{sigfd, Errno};

use super::{Doomed, Sup, FAILED_WORKER_GRACE_MS, MAX_CONNS, MS};
use crate::supervise::names::signal_name;
use crate::supervise::options::ReadyRule;
use crate::supervise::worker::Event;
use crate::supervise::exit;
use crate::supervise::say::{self, say};

/// Where the pollable fds came from.
enum Src {
    Signals,
    Control,
    Conn(usize),
    PendingChannel(Pid),
    Notify(Pid),
}

impl Sup {
    pub(super) fn run(&mut self) {
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
            for p in &self.pending {
                if let Some(f) = p.w.waiter_fd() {
                    add(f, Src::PendingChannel(p.w.pid));
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
                        ms_ceil(t - now).min(60_000) as i32
                    }
                }
            };
            match crate::sys::poll::poll(&mut pfds, timeout) {
                Ok(_) => {}
                Err(Errno(libc::EINTR)) => continue,
                Err(e) => {
                    say!(say::ERR, "poll: {}", e);
                    crate::sys::time::sleep_ms(100);
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
                    Src::PendingChannel(pid) => self.on_pending_channel(pid),
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
                Ok(Some(libc::SIGCHLD)) => {} // reaped at the top of the loop
                Ok(Some(s)) => self.forward(s),
                Ok(None) => return,
                Err(e) => {
                    say!(say::ERR, "reading signals: {}", e);
                    return;
                }
            }
        }
    }

    fn on_pending_channel(&mut self, pid: Pid) {
        let Some(p) = self.pending.iter_mut().find(|p| p.w.pid == pid) else { return };
        let generation = p.w.generation;
        match p.w.on_channel() {
            None => {}
            Some(Event::Ready) => {
                if self.o.ready == ReadyRule::Notify {
                    self.on_ready(pid);
                } else {
                    say!(say::DEBUG, "worker {} reported ready; the interval rule decides", pid);
                }
            }
            Some(Event::Failed(st, why)) => self.pending_failed(pid, &format!("worker generation {} (pid {}) {}", generation, pid, why), if (1..=255).contains(&st) { st } else { exit::FAILED }),
            Some(Event::Exited(x, why)) => {
                // Reaped by the readiness code, not `on_exit`.
                self.worker_gone(pid, generation, x);
                let code = if matches!(x, Exit::Code(127)) && why.starts_with("could not be executed") { exit::SETUP } else { exit::DIED };
                let why = if why.starts_with("could not") { why } else { format!("{} before it was ready", why) };
                self.pending_failed(pid, &format!("worker generation {} (pid {}) {}", generation, pid, why), code);
            }
        }
    }

    fn pending_failed(&mut self, pid: Pid, line: &str, code: i32) {
        let Some(i) = self.pending.iter().position(|p| p.w.pid == pid) else { return };
        let p = self.pending.remove(i);
        if self.stopping.is_some() {
            if p.w.exit.is_none() {
                self.doomed.push(Doomed { w: p.w, kill_at_ns: monotonic_ns() + FAILED_WORKER_GRACE_MS * MS, killed: false });
            }
            return;
        }
        self.attempt_failed(Some(p.w), line, code);
    }

    fn on_notify(&mut self, pid: Pid) {
        let is_pending = self.pending.iter().any(|p| p.w.pid == pid);
        let w = self
            .current
            .iter_mut()
            .chain(self.pending.iter_mut().map(|p| &mut p.w))
            .chain(self.old.iter_mut().map(|o| &mut o.w))
            .find(|w| w.pid == pid);
        let Some(w) = w else { return };
        if w.on_notify() == Some(Event::Ready) && is_pending {
            if self.o.ready == ReadyRule::Notify {
                self.on_ready(pid);
            } else {
                say!(say::DEBUG, "worker {} sent READY=1; the interval rule decides", pid);
            }
        }
    }
}
