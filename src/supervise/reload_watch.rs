//! `gracefd reload`'s watch (docs/systemd.md): signal a server that links
//! the library and tell when a new generation serves in place of it, as the
//! first of these shows it:
//! - [`Successor::Unit`]: systemd's `MainPID` of the unit names another live process;
//! - [`Successor::PidFile`]: the file names another live process;
//! - [`Successor::Exit`]: the old process exited (it drained) while the child it started lives.
//!
//! It failed when the child started for the reload exits (or the old
//! process reaped a child before any was seen: an exec failure), or the old
//! process exits without a successor.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::supervise::proc_watch::{self, Watched};

/// How often `reload` looks at the process, its children and the unit.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// What `reload` watches for success.
pub enum Successor {
    /// systemd's `MainPID` of this unit names another live process.
    Unit(String),
    /// This pid file names another live process.
    PidFile(PathBuf),
    /// The old process exited (it drained) while a child it started lives.
    Exit,
}

/// How a reload ended.
pub enum Outcome {
    /// This pid serves now.
    Reloaded(i32),
    /// No new generation will serve (the old one still does, unless it exited): why.
    Failed(String),
    /// No outcome by the deadline: what was seen.
    TimedOut(String),
}

/// The serving process `how` names now, if it is not `old` and lives.
fn successor_now(how: &Successor, old: &Watched, seen: &BTreeSet<i32>) -> Result<Option<i32>, String> {
    let named = match how {
        Successor::Unit(u) => Some(proc_watch::systemd_main_pid(u)?),
        Successor::PidFile(f) => proc_watch::pid_in_file(f),
        // The old generation exits only after it handed over and drained.
        Successor::Exit => {
            if old.exited() {
                seen.iter().copied().find(|&c| proc_watch::is_alive(c))
            } else {
                None
            }
        }
    };
    Ok(named.filter(|&n| n > 0 && n != old.pid() && proc_watch::is_alive(n)))
}

/// Send `sig` to `w` and watch until `until` for a successor as `how` names it.
pub fn reload(w: &Watched, sig: i32, how: &Successor, until: Instant) -> Outcome {
    // Children it had before: workers or helpers, not a new generation.
    let before = w.children();
    // A new generation that fails at once (exec failure) is reaped before
    // it can be seen among the children; the reaping shows here.
    let reaped_before = proc_watch::reaped_children_faults(w.pid());
    if let Err(e) = w.signal(sig) {
        return Outcome::Failed(e);
    }
    let mut seen: BTreeSet<i32> = BTreeSet::new();
    let mut last_error = String::from("no new generation seen yet");
    loop {
        // Children first: a successor found below is then among `seen`.
        if !w.exited() {
            seen.extend(w.children().difference(&before));
        }
        match successor_now(how, w, &seen) {
            Ok(Some(new)) => return Outcome::Reloaded(new),
            Ok(None) => {}
            Err(e) => last_error = e,
        }
        if w.exited() {
            // A last look: it may have handed over just before exiting.
            if let Ok(Some(new)) = successor_now(how, w, &seen) {
                return Outcome::Reloaded(new);
            }
            return Outcome::Failed(format!("pid {} exited without a new generation taking over", w.pid()));
        }
        let reaped_one = reaped_before.is_some() && proc_watch::reaped_children_faults(w.pid()) != reaped_before;
        let all_seen_gone = !seen.is_empty() && !seen.iter().any(|&c| proc_watch::is_alive(c));
        if all_seen_gone || (seen.is_empty() && reaped_one) {
            if let Ok(Some(new)) = successor_now(how, w, &seen) {
                return Outcome::Reloaded(new);
            }
            if seen.is_empty() {
                return Outcome::Failed(format!("the new generation exited at once (pid {} reaped it); pid {} still serves", w.pid(), w.pid()));
            }
            let pids: Vec<String> = seen.iter().map(|p| p.to_string()).collect();
            return Outcome::Failed(format!(
                "the new generation (pid {}) exited; pid {} still serves",
                pids.join(", "),
                w.pid()
            ));
        }
        if Instant::now() >= until {
            return Outcome::TimedOut(if seen.is_empty() {
                last_error
            } else {
                format!("new generation pid {} not serving yet", seen.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))
            });
        }
        std::thread::sleep(LOOK_EVERY);
    }
}
