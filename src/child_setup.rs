//! What a spawned child applies to itself between fork (or clone) and exec,
//! beyond the fd layout: a parent-death signal and a change of user and
//! groups. Built before the child starts; applied with raw system calls
//! only (async-signal-safe, no allocation, nothing of libc's per-thread
//! state), so it is safe in a child that shares its parent's memory.

use crate::error::Result;
use crate::proto::daemon::Creds;
use crate::sys::fd::{self, RawFd};
use crate::sys::process::{self, Pid};
use crate::sys::{fs, rlimit, Errno, SysResult};
use crate::{err, pidfile};

/// The child's extra set-up (all off by default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChildSetup {
    /// `(signal, the parent's pid)`: the child asks for `signal` when its
    /// parent dies, then checks that the parent is still the given pid (if
    /// the parent died before the request, the child would never get the
    /// signal: it `_exit`s instead).
    pub(crate) death_signal: Option<(i32, Pid)>,
    /// Switch to these groups and this user (supplementary groups first,
    /// then the group, then the user: the order in which each step still has
    /// the privilege it needs).
    pub(crate) creds: Option<Creds>,
    /// The working directory to start in (an `O_PATH` fd, `fchdir`'d first):
    /// the supervisor's `--dir`, without changing the supervisor's own.
    pub(crate) dir: Option<RawFd>,
    /// A daemon started from a program (daemonize's command mode): its
    /// umask, working directory, stdio and RLIMIT_NOFILE before the user
    /// switch, its pid written after it.
    pub(crate) daemon: Option<DaemonSide>,
}

/// What a daemon started from a program applies to itself before exec:
/// fds and values the launcher prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DaemonSide {
    /// Put at 0, 1 and 2 (dup2, before the fds are laid out at 3..).
    pub(crate) stdio: [RawFd; 3],
    /// The working directory (`O_PATH` fd).
    pub(crate) dir: RawFd,
    /// The umask.
    pub(crate) umask: u32,
    /// RLIMIT_NOFILE to raise to (never lowered; the hard limit only when allowed).
    pub(crate) nofile: Option<(u64, u64)>,
    /// The locked pid file to write our pid into.
    pub(crate) pid_file: Option<RawFd>,
}

impl DaemonSide {
    fn before_creds(&self) -> SysResult<()> {
        fs::umask(self.umask as libc::mode_t);
        fs::fchdir(self.dir)?;
        for (i, f) in self.stdio.iter().enumerate() {
            fd::redirect_stdio(*f, i as RawFd)?;
        }
        if let Some((soft, hard)) = self.nofile {
            raise_nofile_raw(soft, hard).map_err(|r| r.errno())?;
        }
        Ok(())
    }

    fn after_creds(&self) -> SysResult<()> {
        match self.pid_file {
            Some(pf) => pidfile::write_pid_raw(pf, process::getpid()).map_err(|(_, e)| e),
            None => Ok(()),
        }
    }
}

/// Which step of [`raise_nofile_raw`] was refused, and how.
pub(crate) enum NofileRefused {
    Get(Errno),
    /// The hard limit asked for.
    Hard(u64, Errno),
    /// The soft limit tried (capped by the hard one).
    Soft(u64, Errno),
}

impl NofileRefused {
    fn errno(&self) -> Errno {
        match self {
            NofileRefused::Get(e) | NofileRefused::Hard(_, e) | NofileRefused::Soft(_, e) => *e,
        }
    }
}

/// Raise RLIMIT_NOFILE towards `(soft, hard)`: never lowers; the hard limit
/// only rises when allowed (EPERM is not an error); the soft one is capped
/// by the hard one. System calls only, no message: a child between clone
/// and exec calls it ([`raise_nofile`] words the refusal).
pub(crate) fn raise_nofile_raw(soft: u64, hard: u64) -> core::result::Result<(), NofileRefused> {
    let cur = rlimit::getrlimit(libc::RLIMIT_NOFILE).map_err(NofileRefused::Get)?;
    let mut new_hard = cur.rlim_max;
    if hard > cur.rlim_max {
        match rlimit::setrlimit(libc::RLIMIT_NOFILE, libc::rlimit { rlim_cur: cur.rlim_cur, rlim_max: hard }) {
            Ok(()) => new_hard = hard,
            // Raising the hard limit needs privilege: "when allowed".
            Err(Errno(libc::EPERM)) => {}
            Err(e) => return Err(NofileRefused::Hard(hard, e)),
        }
    }
    let want = soft.min(new_hard);
    if want > cur.rlim_cur {
        rlimit::setrlimit(libc::RLIMIT_NOFILE, libc::rlimit { rlim_cur: want, rlim_max: new_hard }).map_err(|e| NofileRefused::Soft(want, e))?;
    }
    Ok(())
}

/// [`raise_nofile_raw`], its refusal as a message (the daemon of fork and
/// re-exec modes, which may format one).
pub(crate) fn raise_nofile(soft: u64, hard: u64) -> Result<()> {
    raise_nofile_raw(soft, hard).map_err(|r| match r {
        NofileRefused::Get(e) => crate::Error::sys(e, "getrlimit RLIMIT_NOFILE"),
        NofileRefused::Hard(hard, e) => err!(EINVAL, "RLIMIT_NOFILE hard limit {}: {} (is it above fs.nr_open?)", hard, e),
        NofileRefused::Soft(want, e) => err!(EINVAL, "RLIMIT_NOFILE soft limit {}: {}", want, e),
    })
}

/// Status of a child whose parent was already gone when it asked for its
/// parent-death signal (it never runs the program).
pub(crate) const ORPHANED_STATUS: i32 = 127;

impl ChildSetup {
    /// Ask for `sig` when the calling process (the parent-to-be) dies.
    pub(crate) fn die_with_parent(&mut self, sig: i32) -> &mut Self {
        self.death_signal = Some((sig, process::getpid()));
        self
    }

    /// Switch to `creds` before exec.
    pub(crate) fn switch_to(&mut self, creds: Creds) -> &mut Self {
        self.creds = Some(creds);
        self
    }

    /// In the child: apply everything. `Err` is the errno of the step that
    /// failed (the child reports it and exits). Async-signal-safe.
    pub(crate) fn apply(&self) -> SysResult<()> {
        if let Some(d) = self.dir {
            fs::fchdir(d)?;
        }
        // The daemon's files and limits while we still have the rights.
        if let Some(d) = &self.daemon {
            d.before_creds()?;
        }
        // Credentials before the death signal: the kernel clears the
        // parent-death signal when they change.
        if let Some(c) = &self.creds {
            process::setgroups_raw(&c.groups)?;
            process::setgid_raw(c.gid)?;
            if let Some(u) = c.uid {
                process::setuid_raw(u)?;
            }
        }
        if let Some(d) = &self.daemon {
            d.after_creds()?;
        }
        if let Some((sig, parent)) = self.death_signal {
            process::set_parent_death_signal(sig)?;
            // The race: the parent died between fork and prctl, so the
            // signal will never come. Whoever adopted us is not our parent.
            if process::getppid_raw() != parent {
                process::exit_now(ORPHANED_STATUS);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spawn::Spawn;
    use crate::sys::process::Exit;

    fn run_true(setup: ChildSetup) -> Exit {
        let mut sp = Spawn::new(b"/bin/sh");
        sp.arg(b"sh").arg(b"-c").arg(b"exit 0");
        sp.child_setup(setup);
        let pid = sp.spawn().unwrap();
        process::wait(pid).unwrap()
    }

    #[test]
    fn a_child_whose_parent_is_already_gone_never_runs_the_program() {
        // Our pid as the parent: the program runs.
        let mut ok = ChildSetup::default();
        ok.die_with_parent(libc::SIGKILL);
        assert_eq!(run_true(ok), Exit::Code(0));
        // Another pid (as when the parent died before prctl and the child was
        // adopted): it exits at once with ORPHANED_STATUS, never running sh.
        let gone = ChildSetup { death_signal: Some((libc::SIGKILL, 0x3fff_fff0)), ..ChildSetup::default() };
        assert_eq!(run_true(gone), Exit::Code(ORPHANED_STATUS));
    }

    fn dumpable() -> i32 {
        // SAFETY: PR_GET_DUMPABLE takes no pointer.
        unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }
    }

    #[test]
    fn a_user_switch_in_the_child_leaves_the_parent_dumpable() {
        // A child sharing our memory (the vfork-style clone) that changes
        // its uid has the kernel mark the shared memory non-dumpable (as
        // fs.suid_dumpable says): the parent would be left non-dumpable
        // (no core dumps, /proc/PID owned by root, no ptrace by its user).
        assert_eq!(process::geteuid(), 0, "this test needs root (the child switches to nobody)");
        assert_eq!(dumpable(), 1);
        let mut setup = ChildSetup::default();
        setup.switch_to(Creds { uid: Some(65534), gid: 65534, groups: alloc::vec::Vec::new() });
        assert_eq!(run_true(setup), Exit::Code(0));
        assert_eq!(dumpable(), 1, "a user switch in the child made the parent non-dumpable");
    }

    #[test]
    fn a_detached_start_refuses_a_parent_death_signal() {
        // The detached child is started as the middle process's sibling:
        // its parent is the caller, whose exit (its thread's, even) would
        // then kill the daemon that was detached to outlive it.
        let (ours, theirs) = crate::sys::socket::socketpair(libc::SOCK_SEQPACKET).unwrap();
        let mut sp = Spawn::new(b"/bin/sh");
        sp.arg(b"sh").arg(b"-c").arg(b"exit 0");
        sp.pass_report_fd(theirs.raw());
        sp.detach();
        let mut setup = ChildSetup::default();
        setup.die_with_parent(libc::SIGKILL);
        sp.child_setup(setup);
        match sp.spawn() {
            Ok(middle) => {
                let _ = process::wait(middle);
                panic!("a detached start with a parent-death signal was started");
            }
            Err(e) => assert_eq!(e.errno.0, libc::EINVAL),
        }
        drop(ours);
    }
}
