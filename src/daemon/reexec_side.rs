//! The re-executed daemon's side: the launcher's plan (`GRACEFD_DAEMON`),
//! adopted at load time and applied by the daemon's own `daemonize` call.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::setup::{apply, Side};
use super::state::{EXIT_SETUP, IS_DAEMON};
use crate::error::Result;
use crate::proto::addr::Shown;
use crate::proto::daemon::{self as plan, Plan};
use crate::ready;
use crate::sync::{Mutex, Once};
use crate::sys::fd::{self, Fd};
use crate::sys::process;
use crate::{err, lineage, log, startup};

/// The re-exec marker adopted at load time.
pub(super) struct Pending {
    plan: Plan,
    /// The adopted fds (each distinct number once), held to be closed after use.
    _fds: Vec<Fd>,
}

/// Boxed: an empty slot is then a null pointer, zero bytes in `.bss`,
/// rather than a 296-byte initial value in `.data`.
pub(super) static PENDING: Mutex<Option<Box<Result<Pending>>>> = Mutex::new(None);
static INIT: Once = Once::new();

/// On first use (`daemonize`, `pending`): if a re-exec launcher started us
/// (`GRACEFD_DAEMON` present and `LISTEN_PID` is us), decode its plan and
/// validate the fds it passed (already CLOEXEC: [`protect_at_load`]).
pub(crate) fn init() {
    INIT.call(adopt_marker);
}

/// Called from the start-up constructor: if a re-exec launcher started us,
/// make the fds its plan names CLOEXEC at once, so they never leak into a
/// child the program starts before it calls `daemonize`. Only that: no
/// decoding, no message (the constructor reaches no formatting code); the
/// plan is decoded, checked and logged on first use ([`init`]).
pub(crate) fn protect_at_load() {
    let Some(v) = startup::get().var(plan::VAR) else { return };
    if !lineage::listen_pid_matches() {
        return;
    }
    for n in plan::announced_fds(v).filter(|&n| n >= 3) {
        let _ = fd::set_cloexec(n, true);
    }
}

fn adopt_marker() {
    let s = startup::get();
    let Some(v) = s.var(plan::VAR) else { return };
    if !lineage::get().listen_pid_matches {
        return;
    }
    let r = plan::decode(v).and_then(adopt);
    if let Err(e) = &r {
        log!(log::ERR, "daemonize: ignoring the launcher's plan: {}", e);
    }
    *PENDING.lock() = Some(Box::new(r));
}

fn adopt(p: Plan) -> Result<Pending> {
    let mut fds: Vec<Fd> = Vec::new();
    for (what, n) in [("in", p.stdin), ("out", p.stdout), ("err", p.stderr), ("dir", p.dir)] {
        if n < 3 || !fd::is_open(n) {
            return Err(err!(EBADF, "{}: {}={} is not an open fd above 2", Shown(plan::VAR), crate::msg::Plain(what), n));
        }
        if fds.iter().any(|f| f.raw() == n) {
            continue;
        }
        let _ = fd::set_cloexec(n, true);
        // SAFETY: validated open fd that the launcher handed to this process alone.
        fds.push(unsafe { Fd::from_raw(n) });
    }
    let is_dir = fd::fstat(p.dir).map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR).unwrap_or(false);
    if !is_dir {
        return Err(err!(ENOTDIR, "{}: dir={} is not a directory", Shown(plan::VAR), p.dir));
    }
    Ok(Pending { plan: p, _fds: fds })
}

/// Whether this process was re-executed by a daemonize launcher and has not
/// applied the plan yet (its `daemonize` call will complete the daemon side).
pub(crate) fn pending() -> bool {
    init();
    PENDING.lock().is_some()
}

pub(super) fn reexec_daemon_side(p: Box<Result<Pending>>) -> Result<()> {
    let r = match &*p {
        Ok(p) => {
            let side = Side {
                stdin: p.plan.stdin,
                stdout: p.plan.stdout,
                stderr: p.plan.stderr,
                dir: p.plan.dir,
                umask: p.plan.umask,
                nofile: p.plan.nofile,
                creds: p.plan.creds.as_ref(),
            };
            apply(&side, lineage::pidfile_fd()).map_err(|e| e.context(format_args!("daemon setup")))
        }
        Err(e) => Err(*e),
    };
    // One report for both failures (a plan refused at load, a failed
    // setup), while the plan's fds are still held.
    if let Err(e) = &r {
        let _ = ready::report_failed(EXIT_SETUP, e.message().as_bytes());
    }
    drop(p);
    r?;
    IS_DAEMON.store(true, Ordering::Release);
    log!(log::NOTICE, "daemonize: running as daemon pid {} (re-executed)", process::getpid());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The whole text of a plan naming an fd at or below 2. (Only the first
    // fd is bad: a plan naming open fds would adopt, and on failure close,
    // fds of the test process.)
    #[test]
    fn an_fd_below_3_is_refused_by_name() {
        let p = Plan { stdin: 0, stdout: 6, stderr: 6, dir: 7, umask: 0o22, nofile: None, creds: None };
        let Err(e) = adopt(p) else { panic!("fd 0 accepted") };
        assert_eq!((e.errno.0, e.message()), (libc::EBADF, "\"GRACEFD_DAEMON\": in=0 is not an open fd above 2"));
    }
}
