//! Starting the daemon: everything opened and resolved before the first
//! fork, then fork mode (fork, setsid, fork) or re-exec mode (the recorded
//! executable started again, detached). The launcher then waits in
//! [`launcher`].

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::creds::RESOLVE;
use super::middle::start_daemon;
use super::options::DaemonOptions;
use super::setup::{apply, send_failed, Side};
use super::notify_socket::NotifySocket;
use super::verdict::{launcher, Watch};
use super::state::{EXIT_SETUP, IS_DAEMON};
use crate::error::{Error, Result};
use crate::pidfile;
use crate::proto::addr::Shown;
use crate::proto::daemon::{self as plan, Creds, Plan};
use crate::ready;
use crate::registry::Exported;
use crate::spawn::Spawn;
use crate::sys::cpath::CPath;
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::process;
use crate::sys::{fs, signal};
use crate::{err, lineage, log, startup};

/// Everything opened and resolved before the first fork.
pub(super) struct Prepared {
    pub(super) dir: Fd,
    pub(super) pidfile: Option<Fd>,
    pub(super) devnull: Fd,
    pub(super) log: Option<Fd>,
    pub(super) umask: u32,
    pub(super) nofile: Option<(u64, u64)>,
    pub(super) creds: Option<Creds>,
}

impl Prepared {
    pub(super) fn out(&self) -> RawFd {
        self.log.as_ref().unwrap_or(&self.devnull).raw()
    }

    /// What the launcher watches; `notify` is the program's private notify
    /// socket, if it has one. (Command mode adds its part: `command`.)
    pub(super) fn watch(&self, o: &DaemonOptions, exe: &[u8], notify: Option<NotifySocket>) -> Watch {
        Watch { timeout_ms: o.timeout_ms, ready: o.ready, notify, exe: exe.to_vec(), command: None }
    }
}

/// Resolve, open and lock everything the daemon needs, before any fork.
// Out of line (footprint): inlined, its error copies land in a caller's larger frame.
#[inline(never)]
pub(super) fn prepare(o: &DaemonOptions) -> Result<Prepared> {
    let creds = match (&o.user, &o.group) {
        (None, None) => None,
        // Installed by `set_user`/`set_group`, the only ways these are set.
        _ => match RESOLVE.get() {
            Some(resolve) => resolve(o.user.as_deref(), o.group.as_deref())?,
            None => return Err(err!(EINVAL, "daemonize: a user or group was set without DaemonOptions::set_user/set_group")),
        },
    };
    let wd = CPath::checked(&o.workdir, "working directory")?;
    let dir = fs::open(&wd, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| Error::sys(e, "open").context(format_args!("working directory {}", Shown(&o.workdir))))
        .and_then(above_stdio)?;
    let pidfile = match &o.pid_file {
        Some(p) => Some(pidfile::acquire(p).and_then(above_stdio)?),
        None => None,
    };
    let devnull = fs::open(b"/dev/null\0", libc::O_RDWR, 0).map_err(|e| Error::sys(e, "open /dev/null")).and_then(above_stdio)?;
    let log = match &o.log_file {
        Some(p) => {
            // O_NOFOLLOW: a link planted at the name is refused, not appended through.
            let f = crate::safe_path::open_append(p, 0o640).map_err(|e| e.context(format_args!("log file")))?;
            Some(above_stdio(f)?)
        }
        None => None,
    };
    Ok(Prepared { dir, pidfile, devnull, log, umask: o.umask, nofile: o.nofile, creds })
}

/// Move an fd above 0–2 (a launcher started with a closed stdin would
/// otherwise get fd 0 for /dev/null and then close it after the dup2).
pub(super) fn above_stdio(f: Fd) -> Result<Fd> {
    if f.raw() > 2 {
        return Ok(f);
    }
    fd::dup_cloexec_min(f.raw(), 3).map_err(|e| Error::sys(e, "dup"))
}

/// Pass the registered fds (listeners) in systemd's format, so the daemon
/// inherits them instead of binding again while the launcher holds them.
/// Returns the duplicates the child will get: keep them until it is started.
pub(super) fn pass_listeners(sp: &mut Spawn) -> Result<Vec<Exported>> {
    let (exported, names) = sp.pass_registered_fds()?;
    if !exported.is_empty() {
        sp.env_set(b"LISTEN_FDNAMES", &names);
    }
    sp.env_child_pid_ours(b"LISTEN_PID");
    Ok(exported)
}

/// The launcher learns how the daemon (its child in both modes) died from
/// waitpid: an ignored SIGCHLD (`SIG_IGN` or `SA_NOCLDWAIT`, which survive
/// exec) would have the kernel reap it unseen. So SIGCHLD gets its default
/// action before the daemon exists; the launcher never returns to the
/// program, and the daemon resets every disposition anyway. The old action
/// comes back only if the start fails before anything ran ([`put_back`]).
pub(super) fn watchable_children() -> Option<libc::sigaction> {
    signal::set_default_saving(libc::SIGCHLD).ok()
}

pub(super) fn put_back(old: Option<libc::sigaction>) {
    if let Some(old) = old {
        let _ = signal::restore(libc::SIGCHLD, &old);
    }
}

// ---- fork mode ---------------------------------------------------------------

// Out of line (footprint): inlined, its error copies land in a caller's larger frame.
#[inline(never)]
pub(super) fn fork_launch(p: Prepared, o: &DaemonOptions) -> Result<()> {
    let (waiter, child_end) = ready::channel()?;
    let side = Side {
        stdin: p.devnull.raw(),
        stdout: p.out(),
        stderr: p.out(),
        dir: p.dir.raw(),
        umask: p.umask,
        nofile: p.nofile,
        creds: p.creds.as_ref(),
    };
    let ch = child_end.raw();
    let pid_fd = p.pidfile.as_ref().map(Fd::raw);
    // Nothing buffered may cross the fork (both copies would flush it).
    process::flush_stdio();
    let old_mask = signal::block_all().map_err(|e| Error::sys(e, "block signals before fork"))?;
    let sigchld = watchable_children();
    // SAFETY: the process is single-threaded (checked), and the children below
    // use only what was prepared above.
    let middle = match unsafe { process::fork() } {
        Ok(m) => m,
        Err(e) => {
            put_back(sigchld);
            let _ = signal::set_mask(&old_mask);
            return Err(Error::sys(e, "fork"));
        }
    };
    if middle != 0 {
        let _ = signal::set_mask(&old_mask);
        drop(child_end);
        // Our copies go; the daemon holds the same open file descriptions
        // (the pid file's lock with them).
        let w = p.watch(o, &startup::get().exe, None);
        drop(p);
        launcher(middle, waiter, w);
    }
    // ---- the middle process (returns only in the daemon) ----
    start_daemon(ch);
    // ---- the daemon ----
    // Dispositions first, mask second: no handler of the program can run
    // before it is reset.
    signal::reset_all_dispositions();
    let _ = signal::unblock_all();
    drop(waiter);
    if let Err(e) = apply(&side, pid_fd) {
        send_failed(ch, e.context(format_args!("daemon setup")).message());
        process::exit_now(EXIT_SETUP);
    }
    let Prepared { pidfile, .. } = p;
    lineage::set_ready_channel(child_end);
    if let Some(pf) = pidfile {
        lineage::set_pidfile(pf);
    }
    IS_DAEMON.store(true, Ordering::Release);
    log!(log::NOTICE, "daemonize: running as daemon pid {}", process::getpid());
    Ok(())
}

// ---- reexec mode -------------------------------------------------------------

// Out of line (footprint): inlined, its error copies land in a caller's larger frame.
#[inline(never)]
pub(super) fn reexec_launch(p: Prepared, o: &DaemonOptions) -> Result<()> {
    let s = startup::get();
    if s.exe.is_empty() {
        return Err(err!(ENOENT, "re-exec mode: no executable path was recorded at start-up"));
    }
    // A refused input is recorded by the setters and returned by spawn
    // (these come from the kernel's argv: split at NULs, none inside).
    let mut sp = Spawn::again(&s.exe, &s.argv);
    // Duplicates of the registered fds: kept open until the child has them.
    let exported = pass_listeners(&mut sp)?;
    let (waiter, child_end) = ready::channel()?;
    sp.pass_lineage_fds(child_end.raw(), p.pidfile.as_ref().map(Fd::raw));
    let stdin = sp.pass_fd(p.devnull.raw());
    let out = sp.pass_fd(p.out());
    let dir = sp.pass_fd(p.dir.raw());
    let marker = plan::encode(&Plan { stdin, stdout: out, stderr: out, dir, umask: p.umask, nofile: p.nofile, creds: p.creds.clone() });
    sp.env_set(plan::VAR, &marker);
    sp.detach();
    let sigchld = watchable_children();
    let middle = sp.spawn().inspect_err(|_| put_back(sigchld))?;
    drop(child_end);
    drop(exported);
    let w = p.watch(o, &s.exe, None);
    drop(p);
    launcher(middle, waiter, w)
}
