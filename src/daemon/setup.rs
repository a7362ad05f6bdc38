//! The daemon side (both modes): umask, working directory, stdio,
//! RLIMIT_NOFILE, user switch and pid file, applied in the daemon; a failure
//! is reported to the launcher.

use super::state::EXIT_SETUP;
use crate::err;
use crate::error::{Error, Result};
use crate::pidfile;
use crate::proto::daemon::Creds;
use crate::proto::ready::{self as frame, ReadyReport};
use crate::sys::fd::{self, RawFd};
use crate::sys::process;
use crate::sys::{fs, socket};

/// What the daemon applies; raw fds, so fork mode can run it with nothing to
/// allocate.
pub(super) struct Side<'a> {
    pub(super) stdin: RawFd,
    pub(super) stdout: RawFd,
    pub(super) stderr: RawFd,
    pub(super) dir: RawFd,
    pub(super) umask: u32,
    pub(super) nofile: Option<(u64, u64)>,
    pub(super) creds: Option<&'a Creds>,
}

/// umask, chdir, stdio, RLIMIT_NOFILE, user switch, pid. Syscalls only; the
/// error path formats a message into an inline buffer (no allocation).
pub(super) fn apply(s: &Side<'_>, pid_fd: Option<RawFd>) -> Result<()> {
    fs::umask(s.umask as libc::mode_t);
    fs::fchdir(s.dir).map_err(|e| Error::sys(e, "chdir to the working directory"))?;
    fd::redirect_stdio(s.stdin, 0).map_err(|e| Error::sys(e, "dup2 stdin"))?;
    fd::redirect_stdio(s.stdout, 1).map_err(|e| Error::sys(e, "dup2 stdout"))?;
    fd::redirect_stdio(s.stderr, 2).map_err(|e| Error::sys(e, "dup2 stderr"))?;
    if let Some((soft, hard)) = s.nofile {
        crate::child_setup::raise_nofile(soft, hard)?;
    }
    if let Some(c) = s.creds {
        switch_creds(c)?;
    }
    if let Some(pf) = pid_fd {
        pidfile::write_pid(pf, process::getpid())?;
    }
    Ok(())
}

fn switch_creds(c: &Creds) -> Result<()> {
    let uid_now = process::getuid();
    let same_uid = match c.uid {
        None => true,
        Some(u) => u == uid_now && u == process::geteuid(),
    };
    let same_gid = c.gid == process::getgid() && c.gid == process::getegid();
    if process::geteuid() != 0 && same_uid && same_gid {
        // Already there, and without the right to touch the group list.
        return Ok(());
    }
    process::setgroups(&c.groups).map_err(|e| Error::sys(e, "setgroups"))?;
    process::setgid(c.gid).map_err(|e| err!(EPERM, "switching to group {}: {}", c.gid, e))?;
    if let Some(u) = c.uid {
        process::setuid(u).map_err(|e| err!(EPERM, "switching to user {}: {}", u, e))?;
    }
    Ok(())
}

/// Tell the launcher the setup failed (status [`EXIT_SETUP`], the message).
pub(super) fn send_failed(ch: RawFd, msg: &str) {
    let mut buf = [0u8; frame::FRAME_MAX];
    let n = frame::encode(ReadyReport::Failed, EXIT_SETUP, msg.as_bytes(), &mut buf);
    let _ = socket::send(ch, buf.get(..n).unwrap_or(&[]), 0);
}
