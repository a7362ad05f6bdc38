//! What the registry does before `main` (called from the library's
//! constructor): make CLOEXEC the announced fds, so that none leaks into a
//! child the program starts before the registry is first used. It builds no
//! entry, says nothing and reaches no formatting code (every program linking
//! the library carries what the constructor reaches): the entries, and the
//! messages about rejected fds, wait for first use (`load.rs`).
//!
//! - `LISTEN_FDS`: it decides exactly as the load does, by the parser's
//!   message-free verdict (`listen_env::systemd_count`, `pidfdid_allows`)
//!   and the same fd checks, so an fd the load will reject is never
//!   touched. What it found about each fd is kept for the load, so no fd is
//!   inspected twice (an upgrade may pass thousands).
//! - `SERVER_STARTER_PORT`: the full check (the key's address against the
//!   socket's) would double what the constructor reaches, so it makes
//!   CLOEXEC each announced fd that is a socket and records whether it was
//!   CLOEXEC before and which file it is; the load puts the flag back on
//!   each one it rejects (if it is still that file), so in the end a
//!   rejected fd is as it was.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use super::fd_kind::{classify, FdKind};
use super::load::{EnvVars, StarterMark};
use crate::proto::listen_env;
use crate::sync::Mutex;
use crate::sys::fd::{self, RawFd};

/// `LISTEN_FDS`' bound at load time, + 1 (0: the constructor did not run).
static MAX_FDS: AtomicU32 = AtomicU32::new(0);

/// What the constructor did, for the load (one lock for both lists).
#[derive(Default)]
pub(super) struct Found {
    /// The `LISTEN_FDS` fds protected, with their kinds, in fd order.
    pub(super) protected: Vec<(RawFd, FdKind)>,
    /// The `SERVER_STARTER_PORT` fds made CLOEXEC, for the load to undo.
    pub(super) starter_marks: Vec<StarterMark>,
}

static FOUND: Mutex<Found> = Mutex::new(Found { protected: Vec::new(), starter_marks: Vec::new() });

/// What the constructor found, handed over once (to the load).
pub(super) fn take_found() -> Found {
    core::mem::take(&mut *FOUND.lock())
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
        // Not open (EBADF) or not inspectable: not adopted, left alone.
        let Ok(kind) = classify(raw) else { continue };
        if fd::set_cloexec(raw, true).is_ok() {
            found.push((raw, kind));
        }
    }
    // Nothing logs under it (see `sync::Mutex::with_leaf`).
    FOUND.with_leaf(|f| f.protected = found);
}

/// Each announced fd above 2 that is a socket (the load adopts nothing
/// else) is made CLOEXEC, and marked for the load.
fn protect_server_starter(env: EnvVars<'_>) {
    let Some(value) = env.server_starter_port else { return };
    let mut marks = Vec::new();
    listen_env::for_each_starter_fd(value, |raw| {
        if raw < 3 {
            return;
        }
        let (Ok(st), Ok(flags)) = (fd::fstat(raw), fd::get_fd_flags(raw)) else { return };
        if st.st_mode & libc::S_IFMT != libc::S_IFSOCK || fd::set_cloexec(raw, true).is_err() {
            return;
        }
        marks.push(StarterMark { fd: raw, was_cloexec: flags & libc::FD_CLOEXEC != 0, dev: st.st_dev, ino: st.st_ino });
    });
    FOUND.with_leaf(|f| f.starter_marks = marks);
}
