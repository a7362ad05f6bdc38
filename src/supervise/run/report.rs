//! `ctl status`: the state as `key: value` lines (for people), and as one
//! JSON object with stable keys (`ctl status --json`, for scripts; the keys
//! are documented in docs/cli.md and only ever added to).

use crate::sys::process;
use crate::sys::time::monotonic_ns;

use super::{Sup, Why, MS};
use crate::supervise::names::{fmt_secs, signal_name};
use crate::supervise::worker::{self, Worker};

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn opt_js(s: Option<&str>) -> String {
    s.map(js).unwrap_or_else(|| "null".into())
}

fn opt_num(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_else(|| "null".into())
}

impl Sup {
    /// One word for the supervisor's state.
    fn state_word(&self) -> String {
        let now = monotonic_ns();
        if self.stopping.is_some() {
            "stopping".into()
        } else if let Some(a) = &self.attempt {
            match a.why {
                Why::Start => "starting",
                Why::Respawn => "respawning",
                Why::Reload => "reloading",
            }
            .into()
        } else if let Some(t) = self.respawn_at_ns {
            format!("waiting to respawn (in {})", fmt_secs(t.saturating_sub(now) / MS))
        } else if !self.current.is_empty() {
            "serving".into()
        } else {
            "no worker".into()
        }
    }

    fn newest_generation(&self) -> Option<u32> {
        self.current.iter().map(|w| w.generation).max()
    }

    pub(super) fn status_report(&self) -> String {
        let now = monotonic_ns();
        let ago = |t: u64| fmt_secs((now.saturating_sub(t)) / MS);
        let mut s = String::new();
        s += &format!("pid: {}\nstate: {}\nuptime: {}\n", process::getpid(), self.state_word(), ago(self.started_ns));
        s += &format!("generation: {}\n", self.newest_generation().map(|g| g.to_string()).unwrap_or_else(|| "none".into()));
        s += &format!("workers: {} of {}{}\n", self.current.len(), self.o.workers, if self.o.rolling { " (rolling reloads)" } else { "" });
        for w in &self.current {
            s += &format!("worker: pid {} generation {} ready for {}", w.pid, w.generation, ago(w.ready_ns.unwrap_or(w.started_ns)));
            if let Some(t) = &w.status_text {
                s += &format!(" status {:?}", t);
            }
            s.push('\n');
        }
        if self.current.is_empty() {
            s += "worker: none\n";
        }
        let why = self.attempt.as_ref().map(|a| a.why.word()).unwrap_or("start");
        for p in &self.pending {
            s += &format!("starting: pid {} generation {} ({}) for {}", p.w.pid, p.w.generation, why, ago(p.w.started_ns));
            if let Some(r) = p.w.ready_ns {
                s += &format!(", ready for {} (--settle {})", ago(r), fmt_secs(self.o.settle_ms));
            }
            s.push('\n');
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
        if self.o.settle_ms > 0 {
            s += &format!("settle: {}\n", fmt_secs(self.o.settle_ms));
        }
        for l in worker::describe_listeners(&self.keys) {
            s += &format!("socket: {}\n", l);
        }
        s
    }

    pub(super) fn status_json(&self) -> String {
        let now = monotonic_ns();
        let ms = |t: u64| now.saturating_sub(t) / MS;
        let one = |w: &Worker, state: &str| {
            format!(
                "{{\"pid\":{},\"generation\":{},\"state\":{},\"age_ms\":{},\"ready_ms\":{},\"status\":{}}}",
                w.pid,
                w.generation,
                js(state),
                ms(w.started_ns),
                opt_num(w.ready_ns.map(ms)),
                opt_js(w.status_text.as_deref())
            )
        };
        let mut workers: Vec<String> = Vec::new();
        workers.extend(self.current.iter().map(|w| one(w, "serving")));
        workers.extend(self.pending.iter().map(|p| one(&p.w, if p.w.ready_ns.is_some() { "settling" } else { "starting" })));
        workers.extend(self.old.iter().map(|o| one(&o.w, if o.signaled { "draining" } else { "retiring" })));
        let sockets: Vec<String> = worker::describe_listeners(&self.keys).iter().map(|l| js(l)).collect();
        let state = self.state_word();
        let state = state.split(" (").next().unwrap_or("");
        format!(
            "{{\"pid\":{},\"state\":{},\"uptime_ms\":{},\"generation\":{},\"workers_wanted\":{},\"workers_serving\":{},\"workers\":[{}],\"reload_queued\":{},\"reloads_ok\":{},\"reloads_failed\":{},\"respawns\":{},\"failures_in_row\":{},\"last_failure\":{},\"ready_rule\":{},\"settle_ms\":{},\"rolling\":{},\"init\":{},\"sockets\":[{}]}}\n",
            process::getpid(),
            js(state),
            ms(self.started_ns),
            opt_num(self.newest_generation().map(u64::from)),
            self.o.workers,
            self.current.len(),
            workers.join(","),
            self.reload_queued,
            self.reloads_ok,
            self.reloads_failed,
            self.respawns,
            self.failures_in_row,
            opt_js(self.last_failure.as_deref()),
            js(&self.o.ready.describe()),
            self.o.settle_ms,
            self.o.rolling,
            self.o.init,
            sockets.join(",")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::js;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(js("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
}
