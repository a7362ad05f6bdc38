//! The child side of a start: what runs between clone (or fork) and exec.
//!
//! With the vfork-style clone this code runs in the parent's address space,
//! on a stack of its own, while the parent's thread is suspended. So besides
//! the rule for any forked child of a threaded process (async-signal-safe
//! calls only: no allocation, no locks, no log, no error formatting) it
//! writes nothing but its own stack and the buffers of [`Plan`], which the
//! parent built for this one start and does not read until the child has
//! exec'd or exited.

use core::ffi::{c_char, c_int, c_void};

use crate::child_setup::ChildSetup;
use crate::proto::ready::{self, ReadyReport};
use crate::sys::clone::{self, ChildStack, Parent};
use crate::sys::fd::{self, RawFd};
use crate::sys::process::{self, Pid};
use crate::sys::{signal, socket, Errno};

/// Width reserved for a number written by the child (a pid, a pidfd inode):
/// enough for any u64 in decimal.
pub(super) const SLOT_WIDTH: usize = 20;

/// Everything the child needs, prepared by the parent for one start.
pub(super) struct Plan<'a> {
    pub(crate) exe: *const c_char,
    pub(crate) argv: *const *const c_char,
    /// NULL-terminated; the child may end it early (see `pidfd_slot`).
    pub(crate) envp: *mut *const c_char,
    /// Sources of the fds to place at 3, 4, …
    pub(crate) fds: &'a [RawFd],
    /// As long as `fds`: the two-phase dup's first copies.
    pub(crate) scratch: &'a mut [RawFd],
    /// `(fd now, fd after the layout)` of the channel exec failure is reported on.
    pub(crate) report: Option<(RawFd, RawFd)>,
    /// Every fd from here up is closed before exec.
    pub(crate) first_free: RawFd,
    /// Each points at [`SLOT_WIDTH`] bytes of an env entry the child fills
    /// with its pid (NUL-padded).
    pub(crate) pid_slots: &'a [*mut u8],
    /// The `LISTEN_PIDFDID` value (SLOT_WIDTH bytes) and the index of its
    /// entry in `envp`, which is the last one: without pidfs the child drops
    /// it by putting NULL there.
    pub(crate) pidfd_slot: Option<(*mut u8, usize)>,
    /// Detached start: the grandchild's stack, and whether to try the
    /// vfork-style clone for it.
    pub(crate) detach: Option<(&'a mut ChildStack, bool)>,
    /// Parent-death signal and user switch (raw system calls only).
    pub(crate) setup: &'a ChildSetup,
    /// How to apply `setup`; `None` when no start was ever given a setup,
    /// so `setup` is the default, which applies nothing (read by the
    /// parent: the child calls it, or not, with no lookup of its own).
    pub(crate) apply: Option<&'static fn(&ChildSetup) -> crate::sys::SysResult<()>>,
    /// Lead a new process group (`Spawn::own_group`).
    pub(crate) own_group: bool,
}

/// Entry point of the vfork-style clone: `arg` is the parent's `&mut Plan`.
pub(super) extern "C" fn entry(arg: *mut c_void) -> c_int {
    // SAFETY: the parent passed a live `&mut Plan` and is suspended until we
    // exec or exit, so nothing else touches it meanwhile.
    let plan = unsafe { &mut *(arg as *mut Plan<'_>) };
    start(plan)
}

/// The child (either path): signals to their defaults, then either the
/// detached dance or straight to exec. Never returns.
pub(super) fn start(plan: &mut Plan<'_>) -> ! {
    // Dispositions first, mask second: the mask inherited from the parent
    // blocks everything, so no handler of the parent can run here.
    signal::reset_all_dispositions();
    let _ = signal::unblock_all();
    if let Some((stack, fast)) = plan.detach.take() {
        middle(plan, stack, fast)
    }
    exec(plan)
}

/// The middle process of a detached start: a new session, then the daemon as
/// our *sibling* (CLONE_PARENT: the launcher is its parent, so it learns how
/// it dies), its pid on the report channel, and exit. The daemon is in our
/// session without leading it, so it can never get a controlling terminal.
fn middle(plan: &mut Plan<'_>, stack: &mut ChildStack, fast: bool) -> ! {
    let report = plan.report.map(|(now, _)| now);
    let started = process::setsid().and_then(|_| start_sibling(plan, stack, fast));
    let mut frame = [0u8; ready::FRAME_MAX];
    let (kind, status, code) = match started {
        Ok(pid) => (ReadyReport::Pid, pid, 0),
        Err(e) => (ReadyReport::ExecFailed, e.0, 127),
    };
    if let Some(r) = report {
        let n = ready::encode(kind, status, b"", &mut frame);
        let _ = socket::send(r, frame.get(..n).unwrap_or(&[]), 0);
    }
    process::exit_now(code)
}

/// Start the daemon: vfork-style when allowed (we resume once it has exec'd),
/// else a bare copy-on-write fork whose child goes straight to exec.
fn start_sibling(plan: &mut Plan<'_>, stack: &mut ChildStack, fast: bool) -> Result<Pid, Errno> {
    if fast {
        // SAFETY: `exec_entry` follows the child rules; `plan` stays valid
        // while we are suspended.
        if let Ok(pid) = unsafe { clone::clone_vfork(stack, Parent::Callers, exec_entry, plan as *mut Plan<'_> as *mut c_void) } {
            return Ok(pid);
        }
    }
    // SAFETY: the child below makes only async-signal-safe calls.
    match unsafe { clone::fork_sibling_raw() }? {
        0 => exec(plan),
        pid => Ok(pid),
    }
}

extern "C" fn exec_entry(arg: *mut c_void) -> c_int {
    // SAFETY: as in `entry`: the middle process is suspended meanwhile.
    let plan = unsafe { &mut *(arg as *mut Plan<'_>) };
    exec(plan)
}

/// Lay the fds out at 3.., close everything else, fill the env slots, exec.
/// On failure: errno on the report channel, `_exit(127)`.
fn exec(plan: &mut Plan<'_>) -> ! {
    let mut report = plan.report.map(|(now, _)| now);
    let mut res = if plan.own_group { process::new_group() } else { Ok(()) };
    if res.is_ok() {
        res = match plan.apply {
            Some(apply) => apply(plan.setup),
            None => Ok(()),
        };
    }
    if res.is_ok() {
        res = fd::dup_into_slots(plan.fds, 3, plan.scratch);
    }
    if res.is_ok() {
        report = plan.report.map(|(_, after)| after);
        fd::close_from(plan.first_free);
        let me = process::getpid();
        for p in plan.pid_slots {
            // SAFETY: each slot is SLOT_WIDTH writable bytes of a buffer
            // built for this start (see Plan).
            unsafe { fill(*p, me as u64) };
        }
        if let Some((p, index)) = plan.pidfd_slot {
            match clone::pidfd_inode(me) {
                // SAFETY: as above.
                Some(ino) => unsafe { fill(p, ino) },
                // SAFETY: index is the last entry of the NULL-terminated envp,
                // built for this start: the variable is simply not passed.
                None => unsafe { *plan.envp.add(index) = core::ptr::null() },
            }
        }
        // SAFETY: NUL-terminated strings and NULL-terminated arrays built by the parent.
        res = Err(unsafe { process::execve(plan.exe, plan.argv, plan.envp as *const *const c_char) });
    }
    if let (Err(e), Some(r)) = (res, report) {
        let mut frame = [0u8; ready::FRAME_MAX];
        let n = ready::encode(ReadyReport::ExecFailed, e.0, b"", &mut frame);
        let _ = socket::send(r, frame.get(..n).unwrap_or(&[]), 0);
    }
    process::exit_now(127)
}

/// Write `v` in decimal at `p`, NUL-padding the rest of the slot (so the
/// value is exactly the digits).
///
/// # Safety
/// `p` points at SLOT_WIDTH writable bytes.
unsafe fn fill(p: *mut u8, v: u64) {
    let mut digits = [0u8; 20];
    let d = crate::proto::num::fmt_u64(v, &mut digits);
    let n = d.len().min(SLOT_WIDTH);
    // SAFETY: n <= SLOT_WIDTH bytes at p, per the contract.
    unsafe {
        core::ptr::copy_nonoverlapping(d.as_ptr(), p, n);
        core::ptr::write_bytes(p.add(n), 0, SLOT_WIDTH - n);
    }
}
