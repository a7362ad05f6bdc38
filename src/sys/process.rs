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

/// `execve`; only returns on failure. Async-signal-safe.
///
/// # Safety
/// `path`, `argv` and `envp` must be NUL-terminated strings / NULL-terminated arrays.
pub unsafe fn execve(path: *const libc::c_char, argv: *const *const libc::c_char, envp: *const *const libc::c_char) -> Errno {
    // SAFETY: caller guarantees the pointers.
    unsafe { libc::execve(path, argv, envp) };
    Errno::last()
}

/// `_exit`: leaves without running atexit handlers or flushing stdio. Async-signal-safe.
pub fn exit_now(status: i32) -> ! {
    // SAFETY: no preconditions.
    unsafe { libc::_exit(status) }
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

impl Exit {
    fn from_status(st: libc::c_int) -> Exit {
        if libc::WIFSIGNALED(st) {
            Exit::Signal(libc::WTERMSIG(st))
        } else {
            Exit::Code(libc::WEXITSTATUS(st))
        }
    }
}

/// `waitpid(pid, WNOHANG)`: `Ok(None)` if still running.
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

/// `kill`. Async-signal-safe.
pub fn kill(pid: Pid, sig: i32) -> SysResult<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::kill(pid, sig) }).map(|_| ())
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

/// `getuid`.
pub fn getuid() -> libc::uid_t {
    // SAFETY: no preconditions.
    unsafe { libc::getuid() }
}

/// `geteuid`.
pub fn geteuid() -> libc::uid_t {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() }
}

/// `getgid`.
pub fn getgid() -> libc::gid_t {
    // SAFETY: no preconditions.
    unsafe { libc::getgid() }
}

/// `setgroups`.
pub fn setgroups(groups: &[libc::gid_t]) -> SysResult<()> {
    // SAFETY: valid slice.
    cvt(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) }).map(|_| ())
}

/// `setgid` (real, effective and saved, via setresgid).
pub fn setgid(gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::setresgid(gid, gid, gid) }).map(|_| ())
}

/// `setuid` (real, effective and saved, via setresuid).
pub fn setuid(uid: libc::uid_t) -> SysResult<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::setresuid(uid, uid, uid) }).map(|_| ())
}

/// `getrlimit(RLIMIT_*)`.
pub fn getrlimit(res: libc::__rlimit_resource_t) -> SysResult<libc::rlimit> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer.
    cvt(unsafe { libc::getrlimit(res, &mut r) })?;
    Ok(r)
}

/// `setrlimit(RLIMIT_*)`.
pub fn setrlimit(res: libc::__rlimit_resource_t, lim: libc::rlimit) -> SysResult<()> {
    // SAFETY: valid pointer.
    cvt(unsafe { libc::setrlimit(res, &lim) }).map(|_| ())
}

/// The number of threads of this process (`Threads:` in /proc/self/status).
pub fn thread_count() -> SysResult<u32> {
    let mut buf = [0u8; 4096];
    let n = super::fs::read_file(b"/proc/self/status\0", &mut buf)?;
    let text = buf.get(..n).unwrap_or(&[]);
    for line in text.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"Threads:") {
            let digits: &[u8] = trim_ascii(rest);
            return crate::proto::num::parse_u32(digits).ok_or(Errno(libc::EPROTO));
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

#[cfg(test)]
mod tests {
    #[test]
    fn threads_counted() {
        let n = super::thread_count().unwrap();
        assert!(n >= 1);
    }
}
