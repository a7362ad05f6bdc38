//! What the registry does before `main` (called from the library's
//! constructor): make CLOEXEC each announced fd that the load (`load.rs`)
//! will adopt, so that none leaks into a child the program starts before
//! the registry is first used. It decides as the load does, by the same
//! rules (the parsers' message-free verdicts, `listen_env::systemd_count`
//! and friends, and the same fd checks), but builds no entry and says
//! nothing, and reaches no formatting code: the entries,
//! and the messages about rejected fds, wait for first use. An fd the load
//! will reject is left exactly as it was, as the load leaves it. What it
//! found about each `LISTEN_FDS` fd is kept for the load, so no fd is
//! inspected twice (an upgrade may pass thousands).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use super::fd_kind::{classify, FdKind};
use super::load::{starter_fd_kind, EnvVars};
use crate::proto::listen_env;
use crate::sync::Mutex;
use crate::sys::fd::{self, RawFd};

/// `LISTEN_FDS`' bound at load time, + 1 (0: the constructor did not run).
static MAX_FDS: AtomicU32 = AtomicU32::new(0);

/// The `LISTEN_FDS` fds protected, with their kinds, in fd order.
static PROTECTED: Mutex<Vec<(RawFd, FdKind)>> = Mutex::new(Vec::new());

/// What the constructor found, handed over once (to the load).
pub(super) fn take_protected() -> Vec<(RawFd, FdKind)> {
    core::mem::take(&mut *PROTECTED.lock())
}

/// The bound on `LISTEN_FDS` the constructor used, for the load to use too.
pub(super) fn max_listen_fds() -> Option<u32> {
    MAX_FDS.load(Ordering::Acquire).checked_sub(1)
}

pub(super) fn protect(env: EnvVars<'_>, our_pid: i32, first_fd: RawFd, max_fds: u32) {
    MAX_FDS.store(max_fds.saturating_add(1), Ordering::Release);
    protect_systemd(env, our_pid, first_fd, max_fds);
    protect_server_starter(env);
}

/// The load adopts `LISTEN_FDS` only when the variables parse, name us
/// (`LISTEN_PID`, and `LISTEN_PIDFDID` unless the kernel cannot tell), and
/// then each fd that is open and can be inspected.
fn protect_systemd(env: EnvVars<'_>, our_pid: i32, first_fd: RawFd, max_fds: u32) {
    let Some(count) = listen_env::systemd_count(env.listen_pid, env.listen_fds, env.listen_fdnames, our_pid, max_fds) else {
        return;
    };
    if !listen_env::pidfdid_allows(env.listen_pidfdid, env.our_pidfd_id) {
        return;
    }
    let mut found = Vec::new();
    for i in 0..count {
        let raw = first_fd.saturating_add(i as RawFd);
        if fd::get_fd_flags(raw).is_err() {
            continue;
        }
        let Ok(kind) = classify(raw) else { continue };
        if fd::set_cloexec(raw, true).is_ok() {
            found.push((raw, kind));
        }
    }
    // Nothing logs under it (see `sync::Mutex::with_leaf`).
    PROTECTED.with_leaf(|p| *p = found);
}

/// The load adopts a `SERVER_STARTER_PORT` fd when the variable parses and
/// the fd is above 2, open, and the socket its key announces.
fn protect_server_starter(env: EnvVars<'_>) {
    let Some(value) = env.server_starter_port else { return };
    listen_env::for_each_starter_entry(value, |entry| {
        if entry.fd >= 3 && fd::is_open(entry.fd) && starter_fd_kind(entry).is_ok() {
            let _ = fd::set_cloexec(entry.fd, true);
        }
    });
}
