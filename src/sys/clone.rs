//! The vfork-style start of a child: `clone(CLONE_VM | CLONE_VFORK)` on a
//! stack of its own, so the cost of starting a process does not grow with
//! the parent's memory (fork copies the page tables; this shares them).
//!
//! The child runs in the parent's address space until it execs or exits, and
//! the calling thread is suspended until then. Everything the child may write
//! must therefore be its own stack or memory the caller prepared for this one
//! start. It also shares the calling thread's TLS (errno lives there): the
//! wrapper saves errno before the clone and puts it back after.

use core::ffi::c_void;

use super::process::Pid;
use super::{Errno, SysResult};

/// Usable size of a child stack. The child code is a few frames deep (signal
/// reset, fd layout, execve) and never allocates; 64 KiB leaves a wide margin
/// for unoptimised builds.
pub(crate) const STACK_SIZE: usize = 64 * 1024;

/// One page below the stack that faults on touch, so an overflow kills the
/// child instead of silently writing into the parent's memory.
const GUARD: usize = 4096;

/// A private anonymous mapping used as a child's stack, with a PROT_NONE
/// guard page at its low end. Unmapped on drop (only after the child has
/// exec'd or exited: the vfork-style clone waits for that).
pub(crate) struct ChildStack {
    base: *mut c_void,
    len: usize,
}

impl ChildStack {
    /// Map a fresh stack. ENOMEM (or whatever mmap/mprotect fail with).
    pub fn new() -> SysResult<ChildStack> {
        let len = STACK_SIZE + GUARD;
        // SAFETY: anonymous private mapping, no fd, address chosen by the kernel.
        let base = unsafe {
            libc::mmap(core::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK, -1, 0)
        };
        if base == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let s = ChildStack { base, len };
        // SAFETY: the first page of the mapping we just made.
        if unsafe { libc::mprotect(base, GUARD, libc::PROT_NONE) } != 0 {
            return Err(Errno::last());
        }
        Ok(s)
    }

    /// The initial stack pointer: the high end (stacks grow down on every
    /// Linux architecture Rust supports but hppa), 16-byte aligned.
    fn top(&self) -> *mut c_void {
        let end = (self.base as usize).saturating_add(self.len) & !15;
        end as *mut c_void
    }
}

#[cfg(test)]
impl ChildStack {
    /// How many bytes at the top of the stack a child dirtied (the mapping
    /// starts zeroed, and a child's frames are never all zero).
    pub fn used(&self) -> usize {
        let lo = (self.base as usize) + GUARD;
        let hi = self.top() as usize;
        // SAFETY: [lo, hi) is the readable part of our mapping.
        let bytes = unsafe { core::slice::from_raw_parts(lo as *const u8, hi - lo) };
        bytes.iter().position(|&b| b != 0).map_or(0, |i| hi - lo - i)
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no child runs on it any more (see the type).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Extra clone flags a caller may add.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parent {
    /// The child is the caller's child.
    Caller,
    /// `CLONE_PARENT`: the child is a sibling of the caller (its parent is
    /// the caller's parent), as a detached start needs.
    Callers,
}

/// `clone(CLONE_VM | CLONE_VFORK | SIGCHLD)`: run `entry(arg)` in a new
/// process on `stack`, sharing this address space; returns once the child
/// has exec'd or exited, with its pid. The calling thread's errno is
/// preserved across the call when it succeeds. Async-signal-safe (the
/// middle process of a detached start uses it).
///
/// Errors: whatever clone fails with: EINVAL/ENOSYS/EPERM where a sandbox
/// or the kernel refuses CLONE_VM (the caller falls back to fork), EAGAIN,
/// ENOMEM.
///
/// # Safety
/// `entry` must never return into anything but `_exit`/`execve` paths, and
/// may only make async-signal-safe calls and write to `stack` and to memory
/// the caller owns exclusively for this start; `arg` must stay valid until
/// this returns (it does: the caller is suspended until exec or exit). All
/// signals should be blocked in the calling thread, and `entry` must reset
/// the dispositions before unblocking them.
pub(crate) unsafe fn clone_vfork(stack: &mut ChildStack, parent: Parent, entry: extern "C" fn(*mut c_void) -> libc::c_int, arg: *mut c_void) -> SysResult<Pid> {
    let mut flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    if parent == Parent::Callers {
        flags |= libc::CLONE_PARENT;
    }
    let saved = Errno::last();
    // SAFETY: the stack is ours and unused; the caller upholds the rules above.
    let r = unsafe { libc::clone(entry, stack.top(), flags, arg) };
    if r < 0 {
        return Err(Errno::last());
    }
    // The child's libc calls wrote errno through our TLS pointer.
    saved.set();
    Ok(r as Pid)
}

/// A bare fork whose child is a sibling of the caller (`clone(CLONE_PARENT |
/// SIGCHLD)` with no stack: copy-on-write like fork, no atfork handlers).
/// Async-signal-safe. Returns 0 in the child.
///
/// # Safety
/// As [`super::process::fork_raw`].
pub(crate) unsafe fn fork_sibling_raw() -> SysResult<Pid> {
    let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_long;
    // SAFETY: clone with no stack behaves like fork; every other argument is
    // 0 (their order differs between architectures, their value does not).
    let r = unsafe { libc::syscall(libc::SYS_clone, flags, 0 as libc::c_long, 0 as libc::c_long, 0 as libc::c_long, 0 as libc::c_long) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as Pid)
    }
}

/// The id systemd ≥ 258 puts in `LISTEN_PIDFDID`: the inode number of a pidfd
/// for `pid`, when pidfds live on pidfs (Linux 6.9+, where that number names
/// one process for the life of the system). `None` on older kernels (there
/// all pidfds share one anonymous inode, so the number means nothing) or on
/// any error. Async-signal-safe: raw syscalls, the fd is closed again.
pub(crate) fn pidfd_inode(pid: Pid) -> Option<u64> {
    const PID_FS_MAGIC: i64 = 0x5049_4446;
    let fd = super::process::pidfd_open(pid).ok()?;
    // SAFETY: zeroed statfs/stat are valid out-buffers; fd is ours.
    let ino = unsafe {
        let mut fs: libc::statfs = core::mem::zeroed();
        let mut st: libc::stat = core::mem::zeroed();
        if libc::fstatfs(fd, &mut fs) == 0 && fs.f_type as i64 == PID_FS_MAGIC && libc::fstat(fd, &mut st) == 0 {
            Some(st.st_ino as u64)
        } else {
            None
        }
    };
    super::fd::close(fd);
    ino
}
