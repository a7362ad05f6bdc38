//! `--nofile SOFT[:HARD]`: the workers' RLIMIT_NOFILE, raised in gracefd
//! itself before any worker starts (limits are inherited across fork and
//! exec, and survive the `--user` switch). The trap it answers: a process
//! manager that starts gracefd with a low limit (supervisord's `minfds`,
//! a shell's 1024) leaves a busy server at "too many open files".

use crate::sys::rlimit;

use crate::supervise::say::{self, say};

/// Raise RLIMIT_NOFILE to `soft` (and the hard limit to `hard`, where
/// allowed: it needs CAP_SYS_RESOURCE). Never lowers anything; says what it
/// could not do, and goes on with the best limit it could get.
pub(crate) fn raise_nofile(soft: u64, hard: Option<u64>) {
    let cur = match rlimit::getrlimit(libc::RLIMIT_NOFILE) {
        Ok(c) => c,
        Err(e) => {
            say!(say::WARNING, "--nofile: getrlimit: {}; the workers keep the inherited limit", e);
            return;
        }
    };
    let mut max = cur.rlim_max;
    let want_hard = hard.unwrap_or(soft).max(cur.rlim_max);
    if want_hard > cur.rlim_max {
        match rlimit::setrlimit(libc::RLIMIT_NOFILE, libc::rlimit { rlim_cur: cur.rlim_cur, rlim_max: want_hard }) {
            Ok(()) => max = want_hard,
            Err(e) => say!(
                say::WARNING,
                "--nofile: the hard limit stays {} (raising it to {} was refused: {}; it needs root or CAP_SYS_RESOURCE, and at most fs.nr_open)",
                cur.rlim_max,
                want_hard,
                e
            ),
        }
    }
    let want = soft.min(max).max(cur.rlim_cur);
    if soft > max {
        say!(say::WARNING, "--nofile: the soft limit is {} (the hard limit), not {}", max, soft);
    }
    if want != cur.rlim_cur || max != cur.rlim_max {
        if let Err(e) = rlimit::setrlimit(libc::RLIMIT_NOFILE, libc::rlimit { rlim_cur: want, rlim_max: max }) {
            say!(say::WARNING, "--nofile: setrlimit {}:{}: {}", want, max, e);
            return;
        }
    }
    say!(say::INFO, "the workers' open-file limit is {} (hard {})", want, max);
}
