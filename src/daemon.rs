//! Daemonize, and tell the launching shell the truth (DESIGN §4).
//!
//! [`daemonize`] returns `Ok` in the daemon. The process that called it — the
//! *launcher* — never returns: it waits on a readiness channel and exits 0
//! once the daemon calls `ready`, or exits with the daemon's status printing
//! its message if it calls `fail`, or says how the daemon died, or kills it
//! when it stays silent past the timeout.
//!
//! ## The processes
//!
//! ```text
//! launcher ──fork──▶ middle (setsid) ──fork──▶ daemon
//!    ▲  waits on the channel  │ watches the daemon   │ reports ready/failed
//!    └────────────────────────┴──────────────────────┘   on the same channel
//! ```
//!
//! The middle process is the session leader of the daemon's new session; the
//! daemon is not a leader, so it can never acquire a controlling terminal. The
//! middle process does not `_exit` at once as in the textbook double fork: it
//! stays the daemon's parent until the launcher is done, because only a parent
//! can learn *how* a process died. It sends the daemon's pid (frame `Pid`),
//! then waits for either the daemon's death (it reaps it and sends `Exited` or
//! `Signaled`) or the launcher's end of the channel closing (the launcher is
//! done or gone): then it exits and the daemon is re-parented to init (or the
//! nearest subreaper). While it lives the daemon's pid cannot be reused, so the
//! launcher may kill the daemon by pid safely. It makes async-signal-safe calls
//! only, allocates nothing, and closes every fd but the channel first.
//!
//! ## Modes
//!
//! - **fork**: the calling process is forked (twice, as above) and the
//!   daemon returns from `daemonize`. Legal only in a single-threaded process
//!   (`Threads: 1` in /proc/self/status): after a fork only the calling thread
//!   exists in the child, so any lock another thread held (malloc's, stdio's) is
//!   held forever there. Refused with `EBUSY` otherwise.
//! - **reexec**: the recorded executable is started again with the same argv
//!   (through [`Spawn`], detached: setsid + second fork before exec, with the
//!   same middle process), with `GRACEFD_DAEMON=<plan>` in its environment
//!   and the prepared fds at 3.. (`proto::daemon`). Its own `daemonize` call
//!   sees the marker (only if `LISTEN_PID` names it) and applies the plan
//!   instead of launching. Safe in any process: the launcher only forks to exec.
//! - **auto**: fork when single-threaded, reexec otherwise.
//!
//! ## Order (both modes)
//!
//! Before any fork, in the launcher: resolve user and group (names or
//! numbers, supplementary groups as `initgroups` would set them), open the
//! working directory (`O_PATH`), lock the pid file, open `/dev/null` and the log
//! file, create the channel. In the daemon: umask, chdir, stdin to /dev/null
//! and stdout/stderr to the log file or /dev/null (`dup2`, never just closed),
//! RLIMIT_NOFILE, then the user switch (so the files were opened with the
//! launcher's rights and the limit raised while still allowed), then the pid
//! written (after the last fork, so it is the daemon's). In fork mode the
//! daemon also resets every signal disposition and empties its signal mask
//! (reexec mode gets that from `Spawn`).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Msg, Result};
use crate::pidfile;
use crate::proto::addr::Shown;
use crate::proto::daemon::{self as plan, Creds, Plan};
use crate::proto::ready::{self as frame, Frame, Kind};
use crate::ready;
use crate::spawn::Spawn;
use crate::sync::{Mutex, Once};
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::process::{self, Exit, Pid};
use crate::sys::time::{self, Deadline};
use crate::sys::{fs, poll, signal, socket, Errno};
use crate::{err, lineage, log, startup};

/// Default time the daemon has to call ready.
pub const DEFAULT_TIMEOUT_MS: i64 = 30_000;
/// Default umask of the daemon.
pub const DEFAULT_UMASK: u32 = 0o022;

/// Launcher exit status: the daemon exited or was killed before it reported.
pub const EXIT_DIED: i32 = 240;
/// Launcher exit status: the daemon was not ready in time (it was killed).
pub const EXIT_TIMEOUT: i32 = 241;
/// Exit status for "already running" (the pid file is locked by a running
/// instance). `daemonize` itself returns `EEXIST` before forking; programs and
/// the Go constructor exit with this.
pub const EXIT_ALREADY_RUNNING: i32 = 242;
/// Launcher exit status: the daemon could not be set up (chdir, the user
/// switch, exec…); also used for errors before forking by the Go constructor.
pub const EXIT_SETUP: i32 = 243;
/// Launcher exit status: the launcher lost track of the daemon (the channel
/// closed without a report).
pub const EXIT_LOST: i32 = 244;

/// How long a daemon that reported failure (or timed out) gets to exit after
/// each step (its own exit, SIGTERM) before the next (SIGTERM, SIGKILL).
const STOP_GRACE_MS: i64 = 2_000;

/// How to detach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Fork when the process is single-threaded, re-exec otherwise.
    Auto,
    /// Fork (twice). Refused in a multi-threaded process.
    Fork,
    /// Start the recorded executable again as the daemon.
    Reexec,
}

/// Daemonize options (the C handle wraps this; builder-style setters).
#[derive(Clone, Debug)]
pub struct Options {
    /// Pid file to lock and write (None: no pid file).
    pub pid_file: Option<Vec<u8>>,
    /// Working directory of the daemon (default `/`).
    pub workdir: Vec<u8>,
    /// Umask of the daemon (default 022).
    pub umask: u32,
    /// File for the daemon's stdout and stderr, opened for append and created
    /// 0640 (None: /dev/null).
    pub log_file: Option<Vec<u8>>,
    /// User to switch to: a name, or a number (None: stay).
    pub user: Option<Vec<u8>>,
    /// Group to switch to: a name, or a number (None: the user's primary group).
    pub group: Option<Vec<u8>>,
    /// RLIMIT_NOFILE to raise to: (soft, hard). Never lowers; the hard limit
    /// only rises when allowed; the soft one is capped by the hard one.
    pub nofile: Option<(u64, u64)>,
    /// How long the daemon has to report, in ms (negative: forever).
    pub timeout_ms: i64,
    /// How to detach.
    pub mode: Mode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pid_file: None,
            workdir: b"/".to_vec(),
            umask: DEFAULT_UMASK,
            log_file: None,
            user: None,
            group: None,
            nofile: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            mode: Mode::Auto,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Options {
        Options::default()
    }
    /// Lock and write this pid file.
    pub fn pid_file(mut self, p: &[u8]) -> Self {
        self.pid_file = Some(p.to_vec());
        self
    }
    /// Working directory.
    pub fn workdir(mut self, p: &[u8]) -> Self {
        self.workdir = p.to_vec();
        self
    }
    /// Umask.
    pub fn umask(mut self, m: u32) -> Self {
        self.umask = m;
        self
    }
    /// Log file for stdout and stderr (None: /dev/null).
    pub fn log_file(mut self, p: Option<&[u8]>) -> Self {
        self.log_file = p.map(<[u8]>::to_vec);
        self
    }
    /// User to switch to.
    pub fn user(mut self, u: &[u8]) -> Self {
        self.user = Some(u.to_vec());
        self
    }
    /// Group to switch to.
    pub fn group(mut self, g: &[u8]) -> Self {
        self.group = Some(g.to_vec());
        self
    }
    /// RLIMIT_NOFILE to raise to.
    pub fn nofile(mut self, soft: u64, hard: u64) -> Self {
        self.nofile = Some((soft, hard));
        self
    }
    /// Readiness timeout in ms (negative: forever).
    pub fn timeout_ms(mut self, ms: i64) -> Self {
        self.timeout_ms = ms;
        self
    }
    /// Mode.
    pub fn mode(mut self, m: Mode) -> Self {
        self.mode = m;
        self
    }
}

/// Set once this process is the daemon: `daemonize` is then a no-op.
static IS_DAEMON: AtomicBool = AtomicBool::new(false);
/// A `daemonize` call is running (a second thread gets `EBUSY`).
static BUSY: AtomicBool = AtomicBool::new(false);

/// The re-exec marker adopted at load time.
struct Pending {
    plan: Plan,
    /// The adopted fds (each distinct number once), held to be closed after use.
    _fds: Vec<Fd>,
}

static PENDING: Mutex<Option<Result<Pending>>> = Mutex::new(None);
static INIT: Once = Once::new();

/// Called from the start-up constructor (and on first use, in case another
/// constructor — the Go package's — runs first): if a re-exec launcher started
/// us (`GRACEFD_DAEMON` present and `LISTEN_PID` is us), validate the fds it
/// passed and make them CLOEXEC at once, so they never leak into a child the
/// program starts before it calls `daemonize`.
pub fn init() {
    INIT.call(adopt_marker);
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
    *PENDING.lock() = Some(r);
}

fn adopt(p: Plan) -> Result<Pending> {
    let mut fds: Vec<Fd> = Vec::new();
    for (what, n) in [("in", p.stdin), ("out", p.stdout), ("err", p.stderr), ("dir", p.dir)] {
        if n < 3 || !fd::is_open(n) {
            return Err(err!(EBADF, "{}: {}={} is not an open fd above 2", Shown(plan::VAR), what, n));
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
pub fn pending() -> bool {
    init();
    PENDING.lock().is_some()
}

/// Whether this process is a daemon made by [`daemonize`].
pub fn is_daemon() -> bool {
    IS_DAEMON.load(Ordering::Acquire)
}

/// Daemonize. Returns `Ok(())` in the daemon; in the launcher it never
/// returns (see the module docs for its exit statuses).
///
/// A no-op returning `Ok` when this process already is the daemon, or is a new
/// generation started by an upgrade (it inherited a daemon's state). In a
/// process re-executed by a launcher, the launcher's plan is applied and
/// `opts` is not used.
///
/// Errors, all before any fork: `EBUSY` fork mode in a multi-threaded
/// process, or another thread is inside `daemonize`; `EEXIST` already running (pid file locked); `ELOOP`/`EPERM`/…
/// pid file refused (see [`pidfile::acquire`]); `ENOENT` unknown user or
/// group, missing working directory, or no recorded executable (reexec);
/// `EINVAL` bad options; whatever open, socketpair or fork fail with.
/// In a re-executed daemon whose setup fails, the launcher is told (it exits
/// with [`EXIT_SETUP`] and the message) and the error is returned: exit then.
pub fn daemonize(opts: &Options) -> Result<()> {
    if is_daemon() {
        return Ok(());
    }
    if BUSY.swap(true, Ordering::AcqRel) {
        return Err(err!(EBUSY, "daemonize is already running on another thread"));
    }
    let r = daemonize_once(opts);
    // Only errors come back in the launcher; in the daemon IS_DAEMON is set.
    BUSY.store(false, Ordering::Release);
    r
}

fn daemonize_once(opts: &Options) -> Result<()> {
    init();
    if let Some(p) = PENDING.lock().take() {
        return reexec_daemon_side(p);
    }
    if lineage::is_upgrade() {
        log!(log::INFO, "daemonize: generation {} inherited the daemon's state; nothing to do", lineage::generation());
        IS_DAEMON.store(true, Ordering::Release);
        return Ok(());
    }
    if opts.umask > 0o777 {
        return Err(err!(EINVAL, "umask {:o} is above 0777", opts.umask));
    }
    if opts.timeout_ms == 0 {
        return Err(err!(EINVAL, "a readiness timeout of 0 ms would fail every start (negative: no timeout)"));
    }
    let mode = pick_mode(opts.mode)?;
    let prepared = prepare(opts)?;
    match mode {
        Mode::Reexec => reexec_launch(prepared, opts.timeout_ms),
        _ => fork_launch(prepared, opts.timeout_ms),
    }
}

fn pick_mode(m: Mode) -> Result<Mode> {
    let threads = process::thread_count();
    match (m, threads) {
        (Mode::Reexec, _) => Ok(Mode::Reexec),
        (_, Ok(1)) => Ok(Mode::Fork),
        (Mode::Auto, _) => Ok(Mode::Reexec),
        (_, Ok(n)) => Err(err!(
            EBUSY,
            "fork mode needs a single-threaded process, but this one has {} threads (a fork would copy locks other threads hold); use re-exec mode (GRACEFD_DAEMON_REEXEC) or auto",
            n
        )),
        (_, Err(e)) => Err(err!(EBUSY, "fork mode needs a single-threaded process, and the thread count is unknown (/proc/self/status: {}); use re-exec mode", e)),
    }
}

/// Everything opened and resolved before the first fork.
struct Prepared {
    dir: Fd,
    pidfile: Option<Fd>,
    devnull: Fd,
    log: Option<Fd>,
    umask: u32,
    nofile: Option<(u64, u64)>,
    creds: Option<Creds>,
}

impl Prepared {
    fn out(&self) -> RawFd {
        self.log.as_ref().unwrap_or(&self.devnull).raw()
    }
}

fn prepare(o: &Options) -> Result<Prepared> {
    let creds = resolve_creds(o.user.as_deref(), o.group.as_deref())?;
    let wd = pidfile::nul_terminated(&o.workdir, "working directory")?;
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
            let c = pidfile::nul_terminated(p, "log file path")?;
            let f = fs::open(&c, libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT, 0o640)
                .map_err(|e| Error::sys(e, "open").context(format_args!("log file {}", Shown(p))))?;
            Some(above_stdio(f)?)
        }
        None => None,
    };
    Ok(Prepared { dir, pidfile, devnull, log, umask: o.umask, nofile: o.nofile, creds })
}

/// Move an fd above 0–2 (a launcher started with a closed stdin would
/// otherwise get fd 0 for /dev/null and then close it after the dup2).
fn above_stdio(f: Fd) -> Result<Fd> {
    if f.raw() > 2 {
        return Ok(f);
    }
    fd::dup_cloexec_min(f.raw(), 3).map_err(|e| Error::sys(e, "dup"))
}

// ---- users and groups ------------------------------------------------------

/// Run an NSS lookup with a growing buffer (ERANGE → double, up to 1 MiB).
fn with_buf<T>(mut f: impl FnMut(&mut [u8]) -> core::result::Result<T, Errno>) -> core::result::Result<T, Errno> {
    let mut size = 1024;
    loop {
        let mut buf = alloc::vec![0u8; size];
        match f(&mut buf) {
            Err(Errno(libc::ERANGE)) if size < (1 << 20) => size *= 2,
            r => return r,
        }
    }
}

/// A user: (uid, primary gid if known, name if known).
fn lookup_user(u: &[u8]) -> Result<(u32, Option<u32>, Option<Vec<u8>>)> {
    let c = pidfile::nul_terminated(u, "user")?;
    let by_name = with_buf(|b| process::getpwnam(&c, b).map(|e| e.map(|e| (e.uid, e.gid, e.name.to_vec()))))
        .map_err(|e| Error::sys(e, "getpwnam").context(format_args!("user {}", Shown(u))))?;
    if let Some((uid, gid, name)) = by_name {
        return Ok((uid, Some(gid), Some(name)));
    }
    let Some(uid) = crate::proto::num::parse_u32(u) else {
        return Err(err!(ENOENT, "user {} does not exist", Shown(u)));
    };
    let by_id = with_buf(|b| process::getpwuid(uid, b).map(|e| e.map(|e| (e.gid, e.name.to_vec()))))
        .map_err(|e| Error::sys(e, "getpwuid").context(format_args!("user {}", uid)))?;
    Ok(match by_id {
        Some((gid, name)) => (uid, Some(gid), Some(name)),
        None => (uid, None, None),
    })
}

fn lookup_group(g: &[u8]) -> Result<u32> {
    let c = pidfile::nul_terminated(g, "group")?;
    let by_name = with_buf(|b| process::getgrnam(&c, b)).map_err(|e| Error::sys(e, "getgrnam").context(format_args!("group {}", Shown(g))))?;
    if let Some(gid) = by_name {
        return Ok(gid);
    }
    crate::proto::num::parse_u32(g).ok_or_else(|| err!(ENOENT, "group {} does not exist", Shown(g)))
}

/// Resolve user and group as `chown` does (a name first, then a number);
/// supplementary groups as `initgroups(user, gid)` would set them.
fn resolve_creds(user: Option<&[u8]>, group: Option<&[u8]>) -> Result<Option<Creds>> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let u = user.map(lookup_user).transpose()?;
    let gid = match (group, &u) {
        (Some(g), _) => lookup_group(g)?,
        (None, Some((_, Some(gid), _))) => *gid,
        (None, Some((uid, None, _))) => {
            return Err(err!(EINVAL, "user {} has no passwd entry, so its group is unknown: set a group too", uid));
        }
        (None, None) => return Ok(None),
    };
    let groups = match &u {
        Some((_, _, Some(name))) => {
            let mut cname = name.clone();
            cname.push(0);
            let mut list: Vec<libc::gid_t> = alloc::vec![0; 32];
            loop {
                let n = process::getgrouplist(&cname, gid, &mut list).map_err(|e| Error::sys(e, "getgrouplist"))?;
                if n <= list.len() {
                    list.truncate(n);
                    break;
                }
                if n > 65536 {
                    return Err(err!(E2BIG, "user {} is in {} groups", Shown(name), n));
                }
                list.resize(n, 0);
            }
            list
        }
        _ => alloc::vec![gid],
    };
    Ok(Some(Creds { uid: u.map(|(uid, _, _)| uid), gid, groups }))
}

// ---- the daemon side (both modes) ------------------------------------------

/// What the daemon applies; raw fds, so fork mode can run it with nothing to
/// allocate.
struct Side<'a> {
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    dir: RawFd,
    umask: u32,
    nofile: Option<(u64, u64)>,
    creds: Option<&'a Creds>,
}

/// umask, chdir, stdio, RLIMIT_NOFILE, user switch, pid. Syscalls only; the
/// error path formats a message into an inline buffer (no allocation).
fn apply(s: &Side<'_>, pid_fd: Option<RawFd>) -> Result<()> {
    fs::umask(s.umask as libc::mode_t);
    fs::fchdir(s.dir).map_err(|e| Error::sys(e, "chdir to the working directory"))?;
    fd::dup2(s.stdin, 0).map_err(|e| Error::sys(e, "dup2 stdin"))?;
    fd::dup2(s.stdout, 1).map_err(|e| Error::sys(e, "dup2 stdout"))?;
    fd::dup2(s.stderr, 2).map_err(|e| Error::sys(e, "dup2 stderr"))?;
    if let Some((soft, hard)) = s.nofile {
        raise_nofile(soft, hard)?;
    }
    if let Some(c) = s.creds {
        switch_creds(c)?;
    }
    if let Some(pf) = pid_fd {
        pidfile::write_pid(pf, process::getpid())?;
    }
    Ok(())
}

fn raise_nofile(soft: u64, hard: u64) -> Result<()> {
    let cur = process::getrlimit(libc::RLIMIT_NOFILE).map_err(|e| Error::sys(e, "getrlimit RLIMIT_NOFILE"))?;
    let mut new_hard = cur.rlim_max;
    if hard > cur.rlim_max {
        match process::setrlimit(libc::RLIMIT_NOFILE, libc::rlimit { rlim_cur: cur.rlim_cur, rlim_max: hard }) {
            Ok(()) => new_hard = hard,
            // Raising the hard limit needs privilege: "when allowed".
            Err(Errno(libc::EPERM)) => {}
            Err(e) => return Err(err!(EINVAL, "RLIMIT_NOFILE hard limit {}: {} (is it above fs.nr_open?)", hard, e)),
        }
    }
    let want = soft.min(new_hard);
    if want > cur.rlim_cur {
        process::setrlimit(libc::RLIMIT_NOFILE, libc::rlimit { rlim_cur: want, rlim_max: new_hard })
            .map_err(|e| err!(EINVAL, "RLIMIT_NOFILE soft limit {}: {}", want, e))?;
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
fn send_failed(ch: RawFd, msg: &str) {
    let mut buf = [0u8; frame::FRAME_MAX];
    let n = frame::encode(Kind::Failed, EXIT_SETUP, msg.as_bytes(), &mut buf);
    let _ = socket::send(ch, buf.get(..n).unwrap_or(&[]), 0);
}

fn reexec_daemon_side(p: Result<Pending>) -> Result<()> {
    let p = match p {
        Ok(p) => p,
        Err(e) => {
            let _ = ready::report_failed(EXIT_SETUP, e.message().as_bytes());
            return Err(e);
        }
    };
    let side = Side {
        stdin: p.plan.stdin,
        stdout: p.plan.stdout,
        stderr: p.plan.stderr,
        dir: p.plan.dir,
        umask: p.plan.umask,
        nofile: p.plan.nofile,
        creds: p.plan.creds.as_ref(),
    };
    if let Err(e) = apply(&side, lineage::pidfile_fd()) {
        let e = e.context(format_args!("daemon setup"));
        let _ = ready::report_failed(EXIT_SETUP, e.message().as_bytes());
        return Err(e);
    }
    drop(p);
    IS_DAEMON.store(true, Ordering::Release);
    log!(log::NOTICE, "daemonize: running as daemon pid {} (re-executed)", process::getpid());
    Ok(())
}

// ---- fork mode ---------------------------------------------------------------

fn fork_launch(p: Prepared, timeout_ms: i64) -> Result<()> {
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
    // SAFETY: the process is single-threaded (checked), and the children below
    // use only what was prepared above.
    let middle = match unsafe { process::fork() } {
        Ok(m) => m,
        Err(e) => {
            let _ = signal::set_mask(&old_mask);
            return Err(Error::sys(e, "fork"));
        }
    };
    if middle != 0 {
        let _ = signal::set_mask(&old_mask);
        drop(child_end);
        // Our copies go; the daemon holds the same open file descriptions
        // (the pid file's lock with them).
        drop(p);
        launcher(middle, waiter, timeout_ms);
    }
    // ---- the middle process ----
    signal::reset_all_dispositions();
    let _ = signal::unblock_all();
    if let Err(e) = process::setsid() {
        send_failed(ch, Error::sys(e, "daemonize: setsid").message());
        process::exit_now(EXIT_SETUP);
    }
    // SAFETY: single-threaded child; the daemon below uses prepared data.
    match unsafe { process::fork() } {
        Ok(0) => {}
        Ok(daemon) => watch(daemon, ch),
        Err(e) => {
            send_failed(ch, Error::sys(e, "daemonize: second fork").message());
            process::exit_now(EXIT_SETUP);
        }
    }
    // ---- the daemon ----
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

fn reexec_launch(p: Prepared, timeout_ms: i64) -> Result<()> {
    let s = startup::get();
    if s.exe.is_empty() {
        return Err(err!(ENOENT, "re-exec mode: no executable path was recorded at start-up"));
    }
    let mut sp = Spawn::new(&s.exe)?;
    if s.argv.is_empty() {
        sp.arg(&s.exe)?;
    }
    for a in &s.argv {
        sp.arg(a)?;
    }
    sp.env_inherit_scrubbed();
    let mut digits = [0u8; 20];
    // Registered fds (listeners) are passed in systemd's format, so the daemon
    // inherits them instead of binding again while the launcher holds them.
    let exported = crate::registry::export_for_child()?;
    let mut names: Vec<u8> = Vec::new();
    for (i, x) in exported.iter().enumerate() {
        if i > 0 {
            names.push(b':');
        }
        names.extend_from_slice(&x.name);
        sp.pass_fd(x.fd.raw());
    }
    sp.env_set(b"LISTEN_FDS", crate::proto::num::fmt_u64(exported.len() as u64, &mut digits))?;
    if !exported.is_empty() {
        sp.env_set(b"LISTEN_FDNAMES", &names)?;
    }
    sp.env_child_pid(b"LISTEN_PID")?;
    let (waiter, child_end) = ready::channel()?;
    let slot = sp.pass_report_fd(child_end.raw());
    sp.env_set(b"GRACEFD_READY_FD", crate::proto::num::fmt_u64(slot as u64, &mut digits))?;
    if let Some(pf) = &p.pidfile {
        let slot = sp.pass_fd(pf.raw());
        sp.env_set(b"GRACEFD_PIDFILE_FD", crate::proto::num::fmt_u64(slot as u64, &mut digits))?;
    }
    let stdin = sp.pass_fd(p.devnull.raw());
    let out = sp.pass_fd(p.out());
    let dir = sp.pass_fd(p.dir.raw());
    let marker = plan::encode(&Plan { stdin, stdout: out, stderr: out, dir, umask: p.umask, nofile: p.nofile, creds: p.creds.clone() });
    sp.env_set(plan::VAR, &marker)?;
    sp.detach(watch);
    let middle = sp.spawn()?;
    drop(child_end);
    drop(exported);
    drop(p);
    launcher(middle, waiter, timeout_ms)
}

// ---- the middle process --------------------------------------------------------

/// The middle process: tell the launcher the daemon's pid, then wait for the
/// daemon's death (report it) or for the launcher's end to close (leave).
/// Async-signal-safe only; never returns.
fn watch(daemon: Pid, ch: RawFd) -> ! {
    fd::close_all_but(ch);
    let mut buf = [0u8; frame::FRAME_MAX];
    let n = frame::encode(Kind::Pid, daemon, b"", &mut buf);
    let _ = socket::send(ch, buf.get(..n).unwrap_or(&[]), 0);
    let pidfd = process::pidfd_open(daemon).ok();
    loop {
        let mut fds = [
            libc::pollfd { fd: ch, events: libc::POLLIN | libc::POLLRDHUP, revents: 0 },
            libc::pollfd { fd: pidfd.unwrap_or(-1), events: libc::POLLIN, revents: 0 },
        ];
        // Without pidfds (Linux < 5.3), look at the child every 20 ms.
        let _ = poll::poll(&mut fds, if pidfd.is_some() { -1 } else { 20 });
        match process::try_wait(daemon) {
            Ok(None) => {}
            Ok(Some(x)) => {
                let (kind, st) = match x {
                    Exit::Code(c) => (Kind::Exited, c),
                    Exit::Signal(s) => (Kind::Signaled, s),
                };
                let n = frame::encode(kind, st, b"", &mut buf);
                let _ = socket::send(ch, buf.get(..n).unwrap_or(&[]), 0);
                process::exit_now(0);
            }
            Err(_) => process::exit_now(0),
        }
        let [launcher_end, _] = fds;
        if launcher_end.revents != 0 {
            // The launcher is done (or gone): the daemon is on its own now.
            process::exit_now(0);
        }
    }
}

// ---- the launcher --------------------------------------------------------------

enum Next {
    Frame(Frame),
    Timeout,
    Eof,
    Bad(Error),
}

fn next_frame(waiter: &Fd, deadline: Deadline) -> Next {
    loop {
        match poll::wait(waiter.raw(), libc::POLLIN, deadline) {
            Ok(0) => return Next::Timeout,
            Ok(_) => {}
            Err(e) => return Next::Bad(Error::sys(e, "poll")),
        }
        let mut buf = [0u8; frame::FRAME_MAX + 1];
        match socket::recv(waiter.raw(), &mut buf, libc::MSG_DONTWAIT) {
            Ok(0) | Err(Errno(libc::ECONNRESET)) => return Next::Eof,
            Ok(n) => {
                return match frame::decode(buf.get(..n).unwrap_or(&[])) {
                    Ok(f) => Next::Frame(f),
                    Err(e) => Next::Bad(e),
                }
            }
            Err(Errno(libc::EAGAIN)) => continue,
            Err(e) => return Next::Bad(Error::sys(e, "recv")),
        }
    }
}

#[allow(clippy::large_enum_variant)]
enum Verdict {
    Ready,
    Failed(i32, Msg),
    ExecFailed(Errno),
    Died(Exit),
    TimedOut,
    Lost(Error),
}

/// Wait for the daemon's verdict, make sure no daemon survives a failed
/// start, reap the middle process, say what happened, and exit.
fn launcher(middle: Pid, waiter: Fd, timeout_ms: i64) -> ! {
    let started = time::monotonic_ns();
    let deadline = Deadline::after_ms(timeout_ms);
    let mut daemon: Option<Pid> = None;
    let verdict = loop {
        match next_frame(&waiter, deadline) {
            Next::Frame(f) => match f.kind {
                Kind::Pid => daemon = Some(f.status).filter(|p| *p > 0),
                Kind::Ready => break Verdict::Ready,
                Kind::Failed => break Verdict::Failed(f.status, f.msg),
                Kind::ExecFailed => break Verdict::ExecFailed(Errno(f.status)),
                Kind::Exited => break Verdict::Died(Exit::Code(f.status)),
                Kind::Signaled => break Verdict::Died(Exit::Signal(f.status)),
            },
            Next::Timeout => break Verdict::TimedOut,
            Next::Eof => break Verdict::Lost(err!(EPROTO, "the readiness channel closed without a report")),
            Next::Bad(e) => break Verdict::Lost(e),
        }
    };
    let mut stopped: Option<Exit> = None;
    match &verdict {
        Verdict::Ready | Verdict::Died(_) => {}
        Verdict::Failed(..) | Verdict::ExecFailed(_) => stopped = stop(&waiter, &mut daemon, false),
        Verdict::TimedOut | Verdict::Lost(_) => stopped = stop(&waiter, &mut daemon, true),
    }
    drop(waiter);
    reap(middle);
    let us = time::monotonic_ns().saturating_sub(started) / 1000;
    let pid = daemon.unwrap_or(0);
    let (code, msg): (i32, Option<Error>) = match verdict {
        Verdict::Ready => {
            log!(log::NOTICE, "daemonize: daemon pid {} is ready after {} us", pid, us);
            (0, None)
        }
        // A status outside 1..=255 cannot come from gracefd_fail: never exit 0 on it.
        Verdict::Failed(st, m) => (if (1..=255).contains(&st) { st } else { EXIT_LOST }, Some(err!(ECANCELED, "{}", m.as_str()))),
        Verdict::ExecFailed(e) => (EXIT_SETUP, Some(err!(ENOEXEC, "daemon could not be executed ({}): {}", Shown(&startup::get().exe), e))),
        Verdict::Died(Exit::Code(c)) => (EXIT_DIED, Some(err!(ECHILD, "daemon (pid {}) exited with status {} before it was ready", pid, c))),
        Verdict::Died(Exit::Signal(s)) => {
            (EXIT_DIED, Some(err!(ECHILD, "daemon (pid {}) was killed by signal {} ({}) before it was ready", pid, s, signal::name(s))))
        }
        Verdict::TimedOut => (
            EXIT_TIMEOUT,
            Some(err!(ETIMEDOUT, "daemon (pid {}) was not ready within {} ms; {}", pid, timeout_ms, describe_stop(stopped))),
        ),
        Verdict::Lost(e) => (EXIT_LOST, Some(e.context(format_args!("daemonize: lost track of the daemon (pid {}); {}", pid, describe_stop(stopped))))),
    };
    if let Some(e) = msg {
        log!(log::ERR, "daemonize: {}", e.message());
        say(e.message());
    }
    process::exit_now(code)
}

fn describe_stop(s: Option<Exit>) -> &'static str {
    match s {
        Some(_) => "it was killed",
        None => "it could not be confirmed gone",
    }
}

/// After a failed start: let the daemon exit on its own (it reported
/// failure) or send SIGTERM at once (timed out), then SIGKILL; each step
/// waits for the middle process to report the death. Returns how it ended, if
/// that was seen. The pid cannot have been reused: the middle process has not
/// reaped it until it reports.
fn stop(waiter: &Fd, daemon: &mut Option<Pid>, term_now: bool) -> Option<Exit> {
    let steps: [(i32, i64); 3] = if term_now {
        [(libc::SIGTERM, STOP_GRACE_MS), (libc::SIGKILL, 5_000), (0, 0)]
    } else {
        [(0, STOP_GRACE_MS), (libc::SIGTERM, STOP_GRACE_MS), (libc::SIGKILL, 5_000)]
    };
    for (sig, wait_ms) in steps {
        if wait_ms == 0 {
            break;
        }
        if sig != 0 {
            if let Some(d) = *daemon {
                let _ = process::kill(d, sig);
            }
        }
        let deadline = Deadline::after_ms(wait_ms);
        loop {
            match next_frame(waiter, deadline) {
                Next::Frame(f) => match f.kind {
                    Kind::Pid => {
                        *daemon = Some(f.status).filter(|p| *p > 0);
                        if let (Some(d), true) = (*daemon, sig != 0) {
                            let _ = process::kill(d, sig);
                        }
                    }
                    Kind::Exited => return Some(Exit::Code(f.status)),
                    Kind::Signaled => return Some(Exit::Signal(f.status)),
                    _ => {}
                },
                Next::Timeout => break,
                Next::Eof | Next::Bad(_) => return None,
            }
        }
    }
    None
}

/// Reap the middle process: it leaves as soon as our end of the channel is
/// closed; SIGKILL after 5 s in case it is stuck.
fn reap(middle: Pid) {
    let d = Deadline::after_ms(5_000);
    if let Ok(raw) = process::pidfd_open(middle) {
        // SAFETY: a fresh fd from pidfd_open, owned here.
        let pidfd = unsafe { Fd::from_raw(raw) };
        let _ = poll::wait(pidfd.raw(), libc::POLLIN, d);
    }
    loop {
        match process::try_wait(middle) {
            Ok(None) if !d.expired() => time::sleep_ms(1),
            Ok(None) => {
                let _ = process::kill(middle, libc::SIGKILL);
                let _ = process::wait(middle);
                return;
            }
            _ => return,
        }
    }
}

/// `<program>: <message>\n` on stderr, with write(2) (no stdio: the launcher
/// leaves with `_exit`, so nothing buffered may be relied on). SIGPIPE is
/// blocked in this thread first: a closed stderr must not turn the launcher's
/// exit status into "killed by SIGPIPE" (the launcher exits right after).
fn say(msg: &str) {
    let _ = signal::block(&[libc::SIGPIPE]);
    let argv0 = startup::get().argv.first().map(Vec::as_slice).unwrap_or(b"gracefd");
    let prog = argv0.rsplit(|&b| b == b'/').next().unwrap_or(argv0);
    let mut line: Vec<u8> = Vec::with_capacity(prog.len() + msg.len() + 3);
    line.extend_from_slice(prog);
    line.extend_from_slice(b": ");
    line.extend_from_slice(msg.as_bytes());
    line.push(b'\n');
    let _ = fd::write_all(2, &line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_root_and_numbers() {
        let c = resolve_creds(Some(b"root"), None).unwrap().unwrap();
        assert_eq!((c.uid, c.gid), (Some(0), 0));
        assert!(c.groups.contains(&0));
        let c = resolve_creds(Some(b"0"), Some(b"0")).unwrap().unwrap();
        assert_eq!((c.uid, c.gid), (Some(0), 0));
        let c = resolve_creds(None, Some(b"12345")).unwrap().unwrap();
        assert_eq!((c.uid, c.gid, c.groups.as_slice()), (None, 12345, &[12345u32][..]));
        assert!(resolve_creds(None, None).unwrap().is_none());
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = resolve_creds(Some(b"no-such-user-gracefd"), None).unwrap_err();
        assert_eq!(e.errno.0, libc::ENOENT);
        assert!(e.message().contains("no-such-user-gracefd"), "{}", e.message());
        let e = resolve_creds(None, Some(b"no-such-group-gracefd")).unwrap_err();
        assert_eq!(e.errno.0, libc::ENOENT);
        // A numeric uid without a passwd entry needs a group.
        let e = resolve_creds(Some(b"3999999"), None).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        let c = resolve_creds(Some(b"3999999"), Some(b"3999999")).unwrap().unwrap();
        assert_eq!((c.uid, c.gid), (Some(3999999), 3999999));
    }

    #[test]
    fn options_are_checked_before_anything_happens() {
        // Make sure this process is multi-threaded even with --test-threads=1,
        // or the fork-mode call below would really fork.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        let e = daemonize(&Options::new().umask(0o1000)).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        let e = daemonize(&Options::new().timeout_ms(0)).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        // The test harness runs many threads: fork mode is refused, naming them.
        let e = daemonize(&Options::new().mode(Mode::Fork)).unwrap_err();
        assert_eq!(e.errno.0, libc::EBUSY);
        assert!(e.message().contains("threads") && e.message().contains("re-exec"), "{}", e.message());
        drop(tx);
        let _ = t.join();
    }

    #[test]
    fn builder_sets_fields() {
        let o = Options::new().pid_file(b"/run/x.pid").workdir(b"/tmp").umask(0o027).log_file(Some(b"/var/log/x")).nofile(10, 20).timeout_ms(5).mode(Mode::Reexec);
        assert_eq!(o.pid_file.as_deref(), Some(&b"/run/x.pid"[..]));
        assert_eq!((o.umask, o.nofile, o.timeout_ms, o.mode), (0o027, Some((10, 20)), 5, Mode::Reexec));
    }
}
