//! What a worker leaves behind in its process group.
//!
//! Every worker leads a process group of its own (`Spawn::own_group`), and
//! what it forks stays in it unless it leaves (`setsid`, `setpgid`): the
//! workers of a prefork master, which hold the listening sockets they
//! inherited. When a worker is gone — crashed, failed before it was ready,
//! drained after a reload, stopped — whatever is left in its group gets
//! `--signal-on-term`, then SIGKILL once `--stop-timeout` has passed (or at
//! the stop's own deadline, whichever comes first). Nothing here waits: the
//! group is probed with `kill(-pgid, 0)` (ESRCH: empty) on every loop turn
//! and every [`PROBE_MS`], and SIGKILL is a timer like the others. Members
//! re-parented to gracefd (its subreaper duty) are reaped by
//! `reap_adopted`; an exited member that is not ours counts as present until
//! its own parent reaps it, so a group whose last members are such zombies
//! is given up [`AFTER_KILL_MS`] after its SIGKILL, with a warning.
//!
//! A group's number is the pid of the worker that led it. The kernel does
//! not hand that number to a new process while the group has a member, so a
//! signal sent to it reaches only what the worker left; once the group is
//! empty it is dropped at the next probe, and a worker started meanwhile
//! with that pid drops it at once ([`Sup::forget_group`]).

use crate::sys::process::{self, Exit, Pid};
use crate::sys::time::monotonic_ns;
use crate::sys::Errno;

use super::{Sup, AFTER_KILL_MS, MS};
use crate::supervise::names::{fmt_secs, signal_name};
use crate::supervise::say::{self, say};

/// How often a group with members is probed, besides every loop turn: a
/// member whose parent is neither gracefd nor in the group ends without a
/// SIGCHLD to gracefd.
pub(super) const PROBE_MS: u64 = 250;

/// The process group of a worker that is gone.
pub(super) struct LeftGroup {
    /// The group's number: the worker's pid.
    pgid: Pid,
    /// The worker's generation (for the log lines).
    generation: u32,
    /// When the first signal went to the group (None: not sent yet, the
    /// worker was reaped in this loop turn).
    signaled_ns: Option<u64>,
    /// When SIGKILL is due.
    kill_at_ns: u64,
    /// When SIGKILL was sent.
    killed_ns: Option<u64>,
}

impl Sup {
    /// Worker `pid` is gone (reaped, by pid or by the readiness code): its
    /// group is looked at once this loop turn's reaping is done
    /// ([`check_groups`](Self::check_groups)), so that members that exited
    /// with it and were ours are reaped first, not taken for leftovers.
    /// A worker that was not reaped here ([`Exit::NOT_OURS`]) leaves no
    /// group to watch: its number may be another's by now.
    pub(super) fn worker_gone(&mut self, pid: Pid, generation: u32, how: Exit) {
        if how.reaped_here() && !self.groups.iter().any(|g| g.pgid == pid) {
            self.groups.push(LeftGroup { pgid: pid, generation, signaled_ns: None, kill_at_ns: 0, killed_ns: None });
        }
    }

    /// A new worker got pid `pid`: a group of that number we still watched
    /// emptied (the number was free), and is no longer ours to signal.
    pub(super) fn forget_group(&mut self, pid: Pid) {
        self.groups.retain(|g| g.pgid != pid);
    }

    /// Whether a group gracefd watches still has members (`stopped` waits
    /// for them).
    pub(super) fn groups_left(&self) -> bool {
        !self.groups.is_empty()
    }

    /// Signal the groups of the workers gone since the last look, and drop
    /// the groups that are empty now.
    pub(super) fn check_groups(&mut self) {
        let now = monotonic_ns();
        let sig = self.o.signal_on_term;
        // After the stop's SIGKILL there is no time left to give.
        let stop = self.stopping.as_ref().map(|s| (s.deadline_ns, s.killed_at_ns.is_some()));
        let stop_timeout_ms = self.o.stop_timeout_ms;
        self.groups.retain_mut(|g| {
            if g.signaled_ns.is_some() {
                return !process::group_is_empty(g.pgid);
            }
            let (first, now_kill) = match stop {
                Some((_, true)) => (libc::SIGKILL, true),
                _ => (sig, false),
            };
            match process::signal_group_awake(g.pgid, first) {
                Ok(()) => {}
                Err(Errno(libc::ESRCH)) => return false,
                Err(e) => {
                    // EPERM: every member left is beyond our rights (a
                    // set-user-ID program); nothing gracefd can do.
                    say!(say::WARNING, "worker generation {} (pid {}) left processes in its process group {} that cannot be signalled ({}): not watched", g.generation, g.pgid, g.pgid, e);
                    return false;
                }
            }
            g.signaled_ns = Some(now);
            g.kill_at_ns = now + stop_timeout_ms * MS;
            if let Some((deadline, _)) = stop {
                g.kill_at_ns = g.kill_at_ns.min(deadline);
            }
            if now_kill {
                g.killed_ns = Some(now);
                say!(say::NOTICE, "worker generation {} (pid {}) is gone and left processes in its process group {}: SIGKILL (the stop timed out)", g.generation, g.pgid, g.pgid);
            } else {
                say!(
                    say::NOTICE,
                    "worker generation {} (pid {}) is gone and left processes in its process group {}: sent {}, SIGKILL in {}",
                    g.generation,
                    g.pgid,
                    g.pgid,
                    signal_name(first),
                    // The stop's deadline may be past already (its SIGKILL
                    // is for this turn's timers).
                    fmt_secs(g.kill_at_ns.saturating_sub(now) / MS)
                );
            }
            true
        });
    }

    /// The groups' timers: SIGKILL when due; give up on a group whose
    /// members outlive their SIGKILL by [`AFTER_KILL_MS`] (exited, but not
    /// ours to reap).
    pub(super) fn group_timers(&mut self) {
        let now = monotonic_ns();
        let stop_ms = self.o.stop_timeout_ms;
        self.groups.retain_mut(|g| {
            if g.signaled_ns.is_none() {
                return true;
            }
            match g.killed_ns {
                // Emptied since the last probe: its number is free, not ours to signal.
                None if g.kill_at_ns <= now && process::group_is_empty(g.pgid) => false,
                None if g.kill_at_ns <= now => {
                    g.killed_ns = Some(now);
                    say!(say::WARNING, "process group {} of worker generation {} still has processes after {} (--stop-timeout): SIGKILL", g.pgid, g.generation, fmt_secs(stop_ms));
                    let _ = process::kill_group(g.pgid, libc::SIGKILL);
                    true
                }
                Some(k) if k + AFTER_KILL_MS * MS <= now => {
                    say!(say::WARNING, "process group {} of worker generation {} still has members {} after SIGKILL (exited but not yet reaped by their parent, stuck in the kernel, or beyond our rights): no longer watched", g.pgid, g.generation, fmt_secs(AFTER_KILL_MS));
                    false
                }
                _ => true,
            }
        });
    }

    /// The stop's deadline passed: SIGKILL to the group of every worker,
    /// live or gone (a live worker leads its own group: the signal reaches
    /// it and what it forked at once).
    pub(super) fn kill_all_groups(&mut self, live: &[Pid]) {
        let now = monotonic_ns();
        for &p in live {
            let _ = process::kill_group(p, libc::SIGKILL);
        }
        // Emptied since the last probe: its number is free, not ours to signal.
        self.groups.retain(|g| g.signaled_ns.is_none() || !process::group_is_empty(g.pgid));
        for g in self.groups.iter_mut().filter(|g| g.killed_ns.is_none()) {
            if g.signaled_ns.is_some() {
                say!(say::WARNING, "process group {} of worker generation {} still has processes: SIGKILL", g.pgid, g.generation);
                let _ = process::kill_group(g.pgid, libc::SIGKILL);
                g.killed_ns = Some(now);
            }
        }
    }

    /// When the groups next need a look: a SIGKILL due, the end of the
    /// wait after one, or the next probe.
    pub(super) fn group_deadline(&self) -> Option<u64> {
        let mut t: Option<u64> = None;
        let now = monotonic_ns();
        for g in self.groups.iter().filter(|g| g.signaled_ns.is_some()) {
            let due = match g.killed_ns {
                None => g.kill_at_ns,
                Some(k) => k + AFTER_KILL_MS * MS,
            };
            let next = due.min(now + PROBE_MS * MS);
            t = Some(t.map_or(next, |x: u64| x.min(next)));
        }
        t
    }
}
