//! Processes: fork, exec, wait, kill, identities and limits.
//! Functions marked async-signal-safe may run between fork and exec.

use super::{cvt, retry, Errno, SysResult};

/// A process id.
pub type Pid = libc::pid_t;

/// `fork`. Returns 0 in the child, the child's pid in the parent.
///
/// # Safety
/// In a multi-threaded process the child may only call async-signal-safe
/// functions until it execs or exits.
pub unsafe fn fork() -> SysResult<Pid> {
    // SAFETY: caller upholds the post-fork rules.
    cvt(unsafe { libc::fork() })
}

/// A bare `fork` (the `clone(SIGCHLD)` system call): no `pthread_atfork`
/// handlers, no malloc lock dance, nothing of libc's bookkeeping. For a child
/// of a possibly multi-threaded process that must fork again before exec
/// (glibc's `fork()` would run the program's atfork handlers there).
/// Async-signal-safe.
///
/// # Safety
/// Both processes may only make plain system calls (libc's cached thread
/// state is not updated in the child) until the child execs or `_exit`s.
pub unsafe fn fork_raw() -> SysResult<Pid> {
    // SAFETY: clone with only the exit signal set and no stack behaves like
    // fork; the caller upholds the post-fork rules. (The argument order of
    // clone differs between architectures, but every other argument is 0.)
    let r = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0 as libc::c_long, 0 as libc::c_long, 0 as libc::c_long, 0 as libc::c_long) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as Pid)
    }
}

/// `execve`; only returns on failure. Async-signal-safe.
///
/// # Safety
/// `path`, `argv` and `envp` must be NUL-terminated strings / NULL-terminated arrays.
pub(crate) unsafe fn execve(path: *const libc::c_char, argv: *const *const libc::c_char, envp: *const *const libc::c_char) -> Errno {
    // SAFETY: caller guarantees the pointers.
    unsafe { libc::execve(path, argv, envp) };
    Errno::last()
}

/// `_exit`: leaves without running atexit handlers or flushing stdio. Async-signal-safe.
pub fn exit_now(status: i32) -> ! {
    // SAFETY: no preconditions.
    unsafe { libc::_exit(status) }
}

/// `abort`: the last line of defence where continuing would be wrong.
pub fn abort() -> ! {
    // SAFETY: no preconditions.
    unsafe { libc::abort() }
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

/// How it ended, in words every report uses: `exited with status 3`,
/// `was killed by signal 11 (SIGSEGV)`.
impl core::fmt::Display for Exit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Exit::Code(c) => write!(f, "exited with status {}", c),
            Exit::Signal(s) => write!(f, "was killed by signal {} ({})", s, crate::msg::Plain(super::signal::name(s))),
        }
    }
}

impl Exit {
    /// A child that is gone but was not reaped here (another `waitpid`, an
    /// ignored SIGCHLD): how it ended is unknown, and its pid (so a process
    /// group of that number) may already be another's. Reports say it as
    /// `exited with status -1`.
    pub const NOT_OURS: Exit = Exit::Code(-1);

    /// Whether the child was reaped here, so that its number is known to
    /// have been its own until now (not [`Exit::NOT_OURS`]).
    pub fn reaped_here(self) -> bool {
        self != Exit::NOT_OURS
    }

    fn from_status(st: libc::c_int) -> Exit {
        if libc::WIFSIGNALED(st) {
            Exit::Signal(libc::WTERMSIG(st))
        } else {
            Exit::Code(libc::WEXITSTATUS(st))
        }
    }
}

/// `waitpid(pid, WNOHANG)`: `Ok(None)` if still running. Async-signal-safe.
pub fn try_wait(pid: Pid) -> SysResult<Option<Exit>> {
    let mut st: libc::c_int = 0;
    // SAFETY: valid out-pointer.
    let r = retry(|| cvt(unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) }))?;
    if r == 0 {
        Ok(None)
    } else {
        Ok(Some(Exit::from_status(st)))
    }
}

/// Blocking `waitpid(pid)`.
pub fn wait(pid: Pid) -> SysResult<Exit> {
    let mut st: libc::c_int = 0;
    // SAFETY: valid out-pointer.
    retry(|| cvt(unsafe { libc::waitpid(pid, &mut st, 0) }))?;
    Ok(Exit::from_status(st))
}

/// Reap our child `pid` if it exits before `until`, never waiting past it:
/// `Ok(None)` means it still runs. With its pidfd, sleep on that first (woken
/// at the exit); then, or without one, look every millisecond (a dying child
/// closes its fds a moment before it becomes waitable). `Err` if it cannot be
/// waited for. The one bounded reap of the readiness waits, the launcher and
/// `spawn::stop_led_group`.
pub(crate) fn exit_within(pid: Pid, pidfd: Option<super::fd::RawFd>, until: super::time::Deadline) -> SysResult<Option<Exit>> {
    if let Some(p) = pidfd {
        let _ = super::poll::wait(p, libc::POLLIN, until);
    }
    loop {
        match try_wait(pid)? {
            Some(x) => return Ok(Some(x)),
            None if !until.expired() => super::time::sleep_ms(1),
            None => return Ok(None),
        }
    }
}

/// `kill`. Async-signal-safe.
pub fn kill(pid: Pid, sig: i32) -> SysResult<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::kill(pid, sig) }).map(|_| ())
}

/// Whether a process `pid` exists (a zombie too): `kill(pid, 0)` does not
/// answer ESRCH. A pid of 0 or below names no single process: false.
pub(crate) fn exists(pid: Pid) -> bool {
    pid > 0 && !matches!(kill(pid, 0), Err(Errno(libc::ESRCH)))
}

/// `getpid`. Async-signal-safe.
pub fn getpid() -> Pid {
    // SAFETY: no preconditions.
    unsafe { libc::getpid() }
}

/// `getppid`. Async-signal-safe.
pub fn getppid() -> Pid {
    // SAFETY: no preconditions.
    unsafe { libc::getppid() }
}

/// `setsid`. Async-signal-safe.
pub fn setsid() -> SysResult<Pid> {
    // SAFETY: no preconditions.
    cvt(unsafe { libc::setsid() })
}

/// `setpgid(0, 0)`: this process leads a new process group, numbered as its
/// pid. Async-signal-safe. EPERM for a session leader.
pub fn new_group() -> SysResult<()> {
    // SAFETY: no preconditions.
    cvt(unsafe { libc::setpgid(0, 0) }).map(|_| ())
}

/// The signal that stopped our child `pid`, if it stopped since the last
/// look (`waitid(P_PID, pid, WSTOPPED | WNOHANG)`: each stop is reported
/// once, and an exit is left for `waitpid`). `None` if it did not, or is
/// not our child.
pub fn stopped_by(pid: Pid) -> Option<i32> {
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
    // SAFETY: valid out-pointer.
    let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WSTOPPED | libc::WNOHANG) };
    // SAFETY: filled by waitid for a child's state change (zeroed otherwise).
    let (who, sig) = unsafe { (info.si_pid(), info.si_status()) };
    if r != 0 || who == 0 {
        None
    } else {
        Some(sig)
    }
}

/// Whether process group `pgid` has no member left: `kill(-pgid, 0)` says
/// ESRCH. EPERM means members we may not signal (a set-user-ID program):
/// not empty.
pub fn group_is_empty(pgid: Pid) -> bool {
    kill_group(pgid, 0) == Err(Errno(libc::ESRCH))
}

/// `sig` to process `pid`, then SIGCONT (unless `sig` is SIGKILL): a
/// stopped process (SIGSTOP, or SIGTTIN/SIGTTOU: it used the terminal from
/// a process group that is not the terminal's foreground one) acts on no
/// other signal until it is continued. Errors: those of the first `kill`.
pub fn signal_awake(pid: Pid, sig: i32) -> SysResult<()> {
    kill(pid, sig)?;
    if sig != libc::SIGKILL {
        let _ = kill(pid, libc::SIGCONT);
    }
    Ok(())
}

/// [`signal_group_awake`] for the group our child `pid` leads, or, where it
/// leads none (yet: a child started by fork that has not reached `setpgid`;
/// or one started without a group of its own), [`signal_awake`] for it
/// alone. Errors: those of the second `kill` (ESRCH: gone).
pub fn signal_led_group(pid: Pid, sig: i32) -> SysResult<()> {
    signal_group_awake(pid, sig).or_else(|_| signal_awake(pid, sig))
}

/// [`signal_awake`] for every process of group `pgid`. Errors: those of
/// [`kill_group`] (ESRCH: the group is empty).
pub fn signal_group_awake(pgid: Pid, sig: i32) -> SysResult<()> {
    kill_group(pgid, sig)?;
    if sig != libc::SIGKILL {
        let _ = kill_group(pgid, libc::SIGCONT);
    }
    Ok(())
}

/// Whether this process is in the foreground job of its controlling
/// terminal: the first of fds 0, 1, 2 that is that terminal names our
/// process group as its foreground one. False without a controlling
/// terminal on them (a daemon, a service, a pipe: `tcgetpgrp` fails).
pub fn in_terminal_foreground() -> bool {
    // SAFETY: no preconditions.
    let me = unsafe { libc::getpgrp() };
    for fd in 0..3 {
        // SAFETY: any fd number: a closed or non-terminal one fails.
        let fg = unsafe { libc::tcgetpgrp(fd) };
        if fg > 0 {
            return fg == me;
        }
    }
    false
}

/// `kill(-pgid, sig)`: every process of group `pgid` (`sig` 0 asks whether
/// it has any). ESRCH if it has none; EINVAL for a `pgid` below 2 (which
/// would mean "our own group" or "everyone").
pub fn kill_group(pgid: Pid, sig: i32) -> SysResult<()> {
    if pgid < 2 {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: plain syscall.
    cvt(unsafe { libc::kill(-pgid, sig) }).map(|_| ())
}

/// `getuid`. Async-signal-safe.
pub(crate) fn getuid() -> libc::uid_t {
    // SAFETY: no preconditions.
    unsafe { libc::getuid() }
}

/// `geteuid`. Async-signal-safe.
pub fn geteuid() -> libc::uid_t {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() }
}

/// `getgid`. Async-signal-safe.
pub(crate) fn getgid() -> libc::gid_t {
    // SAFETY: no preconditions.
    unsafe { libc::getgid() }
}

/// `getegid`.
pub fn getegid() -> libc::gid_t {
    // SAFETY: no preconditions.
    unsafe { libc::getegid() }
}

/// `getsid(0)`: this process's session id. Async-signal-safe.
pub fn getsid() -> SysResult<Pid> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::getsid(0) })
}

/// `pidfd_open(pid, 0)`: a CLOEXEC fd that becomes readable when `pid` exits
/// (Linux 5.3+; ENOSYS before). The caller owns the returned fd.
/// Async-signal-safe (a raw syscall).
pub fn pidfd_open(pid: Pid) -> SysResult<super::fd::RawFd> {
    // SAFETY: raw syscall with plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as super::fd::RawFd)
    }
}

/// `pidfd_send_signal(fd, sig, NULL, 0)`: signal the process `fd` pins (or
/// none: ESRCH once it exited; it cannot reach a process that reused its
/// pid). Async-signal-safe (a raw syscall).
pub fn pidfd_send_signal(fd: super::fd::RawFd, sig: i32) -> SysResult<()> {
    // SAFETY: raw syscall on the caller's fd; no siginfo (NULL), no flags.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd, sig, core::ptr::null::<libc::siginfo_t>(), 0 as libc::c_uint) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// pidfs's magic number (`PID_FS_MAGIC`): pidfds on it have an inode number
/// unique to their process for the life of the system (Linux 6.9+).
const PID_FS_MAGIC: i64 = 0x5049_4446;

/// The id systemd puts in `LISTEN_PIDFDID`: the inode number of a pidfd of
/// this process. `None` when the kernel cannot tell: no `pidfd_open`, or
/// pidfds that are not on pidfs (before Linux 6.9 they all share one anonymous
/// inode, so their number says nothing about the process).
pub(crate) fn own_pidfd_id() -> Option<u64> {
    let raw = pidfd_open(getpid()).ok()?;
    // SAFETY: a fresh fd from pidfd_open, owned (and closed) here.
    let f = unsafe { super::fd::Fd::from_raw(raw) };
    // SAFETY: zeroed statfs is a valid out-buffer.
    let mut sfs: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: valid fd and out-pointer.
    if unsafe { libc::fstatfs(f.raw(), &mut sfs) } != 0 || sfs.f_type as i64 != PID_FS_MAGIC {
        return None;
    }
    super::fd::fstat(f.raw()).ok().map(|st| st.st_ino)
}

/// `fflush(NULL)`: write out every C stdio buffer, so that nothing buffered is
/// duplicated by a fork (the parent and the child would both flush it later).
/// Not async-signal-safe (stdio locks): call before fork.
pub(crate) fn flush_stdio() {
    // SAFETY: fflush(NULL) flushes all streams; no pointer is dereferenced.
    unsafe { libc::fflush(core::ptr::null_mut()) };
}

/// A user database entry: ids and the name (borrowed from the caller's buffer).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PwEntry<'a> {
    /// `pw_uid`.
    pub uid: libc::uid_t,
    /// `pw_gid` (the primary group).
    pub gid: libc::gid_t,
    /// `pw_name`, without its NUL.
    pub name: &'a [u8],
}

/// `getpwnam_r(name)` (`name` ends in NUL) with the caller's scratch buffer.
/// `Ok(None)`: no such user. `Err(ERANGE)`: `buf` is too small (grow and retry).
pub(crate) fn getpwnam<'a>(name: &[u8], buf: &'a mut [u8]) -> SysResult<Option<PwEntry<'a>>> {
    if name.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: zeroed passwd is a valid out-buffer.
    let mut pw: libc::passwd = unsafe { core::mem::zeroed() };
    let mut res: *mut libc::passwd = core::ptr::null_mut();
    // SAFETY: name NUL-terminated; pw, buf and res valid for the call.
    let r = unsafe { libc::getpwnam_r(name.as_ptr().cast(), &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut res) };
    pw_result(r, res, &pw, buf)
}

/// `getpwuid_r(uid)`, as [`getpwnam`].
pub(crate) fn getpwuid(uid: libc::uid_t, buf: &mut [u8]) -> SysResult<Option<PwEntry<'_>>> {
    // SAFETY: zeroed passwd is a valid out-buffer.
    let mut pw: libc::passwd = unsafe { core::mem::zeroed() };
    let mut res: *mut libc::passwd = core::ptr::null_mut();
    // SAFETY: pw, buf and res valid for the call.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut res) };
    pw_result(r, res, &pw, buf)
}

fn pw_result<'a>(r: libc::c_int, res: *mut libc::passwd, pw: &libc::passwd, buf: &'a [u8]) -> SysResult<Option<PwEntry<'a>>> {
    if r != 0 {
        return Err(Errno(r));
    }
    if res.is_null() || pw.pw_name.is_null() {
        return Ok(None);
    }
    // pw_name points into buf: find its offset and length there.
    let start = (pw.pw_name as usize).wrapping_sub(buf.as_ptr() as usize);
    let tail = buf.get(start..).ok_or(Errno(libc::EFAULT))?;
    let len = tail.iter().position(|&b| b == 0).ok_or(Errno(libc::EFAULT))?;
    Ok(Some(PwEntry { uid: pw.pw_uid, gid: pw.pw_gid, name: tail.get(..len).unwrap_or(&[]) }))
}

/// `getgrnam_r(name)` (`name` ends in NUL): the group's id, `Ok(None)` if
/// there is no such group, `Err(ERANGE)` if `buf` is too small.
pub(crate) fn getgrnam(name: &[u8], buf: &mut [u8]) -> SysResult<Option<libc::gid_t>> {
    if name.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: zeroed group is a valid out-buffer.
    let mut gr: libc::group = unsafe { core::mem::zeroed() };
    let mut res: *mut libc::group = core::ptr::null_mut();
    // SAFETY: name NUL-terminated; gr, buf and res valid for the call.
    let r = unsafe { libc::getgrnam_r(name.as_ptr().cast(), &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut res) };
    if r != 0 {
        return Err(Errno(r));
    }
    Ok(if res.is_null() { None } else { Some(gr.gr_gid) })
}

/// `getgrouplist(user, gid)`: the groups `user` (NUL-terminated) belongs to,
/// `gid` included (what `initgroups` would set), written to `out`. Returns how
/// many there are; if that is more than `out.len()`, grow `out` and call again.
pub(crate) fn getgrouplist(user: &[u8], gid: libc::gid_t, out: &mut [libc::gid_t]) -> SysResult<usize> {
    if user.last() != Some(&0) {
        return Err(Errno(libc::EINVAL));
    }
    let mut n: libc::c_int = libc::c_int::try_from(out.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: user NUL-terminated; out has room for n entries; n is in/out.
    let r = unsafe { libc::getgrouplist(user.as_ptr().cast(), gid, out.as_mut_ptr(), &mut n) };
    let n = usize::try_from(n).map_err(|_| Errno(libc::EINVAL))?;
    if r < 0 && n <= out.len() {
        // glibc reports "too small" with the needed count; anything else is odd.
        return Ok(out.len() + 1);
    }
    Ok(n)
}

/// `setgroups`. Async-signal-safe in a single-threaded process (a syscall).
pub(crate) fn setgroups(groups: &[libc::gid_t]) -> SysResult<()> {
    // SAFETY: valid slice.
    cvt(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) }).map(|_| ())
}

/// `setgid` (real, effective and saved, via setresgid). Async-signal-safe in a
/// single-threaded process; in a multi-threaded one glibc applies it to every thread.
pub(crate) fn setgid(gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::setresgid(gid, gid, gid) }).map(|_| ())
}

/// `setuid` (real, effective and saved, via setresuid). As [`setgid`].
pub(crate) fn setuid(uid: libc::uid_t) -> SysResult<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::setresuid(uid, uid, uid) }).map(|_| ())
}

/// A raw system call with up to three arguments: `Ok(return value)` or the
/// errno. Nothing of libc's per-thread bookkeeping is touched but errno, so
/// it may run in a child that shares its parent's memory.
fn raw3(nr: libc::c_long, a: libc::c_long, b: libc::c_long, c: libc::c_long) -> SysResult<libc::c_long> {
    // SAFETY: the callers below pass plain integers or valid pointers.
    let r = unsafe { libc::syscall(nr, a, b, c) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: the calling process gets `sig` when the
/// thread that created it exits. A raw system call; async-signal-safe.
pub(crate) fn set_parent_death_signal(sig: i32) -> SysResult<()> {
    raw3(libc::SYS_prctl, libc::PR_SET_PDEATHSIG as libc::c_long, sig as libc::c_long, 0).map(|_| ())
}

/// `getppid` as a raw system call (never a cached value). Async-signal-safe.
pub(crate) fn getppid_raw() -> Pid {
    raw3(libc::SYS_getppid, 0, 0, 0).map(|p| p as Pid).unwrap_or(-1)
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphaned descendants are re-parented
/// to this process instead of PID 1.
pub fn set_child_subreaper() -> SysResult<()> {
    raw3(libc::SYS_prctl, libc::PR_SET_CHILD_SUBREAPER as libc::c_long, 1, 0).map(|_| ())
}

/// `setgroups` as a raw system call: this thread only (for a child about to
/// exec). Async-signal-safe.
pub(crate) fn setgroups_raw(groups: &[libc::gid_t]) -> SysResult<()> {
    raw3(libc::SYS_setgroups, groups.len() as libc::c_long, groups.as_ptr() as libc::c_long, 0).map(|_| ())
}

/// `setresgid(gid, gid, gid)` as a raw system call: this thread only (glibc's
/// wrapper signals every thread of the process, which a child sharing its
/// parent's memory must never do). Async-signal-safe.
pub(crate) fn setgid_raw(gid: libc::gid_t) -> SysResult<()> {
    raw3(libc::SYS_setresgid, gid as libc::c_long, gid as libc::c_long, gid as libc::c_long).map(|_| ())
}

/// `setresuid(uid, uid, uid)` as a raw system call; as [`setgid_raw`].
pub(crate) fn setuid_raw(uid: libc::uid_t) -> SysResult<()> {
    raw3(libc::SYS_setresuid, uid as libc::c_long, uid as libc::c_long, uid as libc::c_long).map(|_| ())
}

/// `waitpid(-1, WNOHANG)`: any child that has ended, `Ok(None)` if none has
/// (ECHILD when there are no children at all).
pub fn try_wait_any() -> SysResult<Option<(Pid, Exit)>> {
    let mut st: libc::c_int = 0;
    // SAFETY: valid out-pointer.
    let r = retry(|| cvt(unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) }))?;
    if r == 0 {
        Ok(None)
    } else {
        Ok(Some((r, Exit::from_status(st))))
    }
}

/// The number of threads of this process (`Threads:` in /proc/self/status).
pub fn thread_count() -> SysResult<u32> {
    let mut buf = [0u8; 4096];
    let n = super::fs::read_file(b"/proc/self/status\0", &mut buf)?;
    let text = buf.get(..n).unwrap_or(&[]);
    for line in text.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"Threads:") {
            let digits: &[u8] = trim_ascii(rest);
            return crate::num::parse_u32(digits).ok_or(Errno(libc::EPROTO));
        }
    }
    Err(Errno(libc::EPROTO))
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// A pidfd of `pid`, owned; `None` where pidfds are unavailable (Linux < 5.3:
/// `ENOSYS`) or refused. Callers then fall back to what they did without one.
pub(crate) fn pidfd(pid: Pid) -> Option<super::fd::Fd> {
    // SAFETY: a fresh fd from pidfd_open, owned by the returned Fd.
    pidfd_open(pid).ok().map(|raw| unsafe { super::fd::Fd::from_raw(raw) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn threads_counted() {
        let n = super::thread_count().unwrap();
        assert!(n >= 1);
    }
}
