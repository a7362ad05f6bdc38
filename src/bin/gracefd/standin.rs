//! STAND-INS for the library's daemonize and pid-file modules
//! (`src/daemon.rs`, `src/pidfile.rs`, written on another branch). The CLI
//! calls only the four functions below; once those modules are merged,
//! replace the bodies (not the callers):
//!
//! - [`lock_pid_file`] → `gracefd::pidfile::acquire(path)` (+ `write_pid`,
//!   and its `remove()` on exit);
//! - [`daemonize_self`] → `gracefd::daemon::daemonize(&Options { workdir:
//!   <cwd>, umask: <current>, log_file, timeout_ms, mode: Mode::Fork, .. })`,
//!   which hands the readiness channel to `lineage`;
//! - [`report_ready`] / [`report_failed`] → `gracefd::ready::report_ready()` /
//!   `report_failed()` only (they then reach the launcher through `lineage`).
//!
//! Both keep the contract the CLI's tests check: the pid file is flock'ed
//! for gracefd's whole life (a second instance gets exit status 242, and
//! `start_server --stop` waits on that lock), holds gracefd's pid, and is
//! removed on exit if it is still ours; the launching shell of `--daemonize`
//! exits 0 only once the first worker is ready, and otherwise with the
//! launcher statuses of `exit.rs` and the reason on stderr.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gracefd::proto::ready::{self as frame, Kind};
use gracefd::ready::Outcome;
use gracefd::sys::fd::{self, Fd, RawFd};
use gracefd::sys::process::{self, Exit, Pid};
use gracefd::sys::time::Deadline;
use gracefd::sys::{fs, signal, socket, Errno};

use crate::exit;

// ---- pid file ---------------------------------------------------------------

/// A locked pid file (the lock lives as long as this process holds the fd).
pub struct PidFile {
    fd: Fd,
    path: PathBuf,
}

fn nul(path: &Path) -> Vec<u8> {
    let mut v = path.as_os_str().as_bytes().to_vec();
    v.push(0);
    v
}

/// Open and lock `path` (created 0644, never through a symbolic link).
/// `EEXIST` when a live instance holds the lock (the message names its pid).
pub fn lock_pid_file(path: &Path) -> gracefd::Result<PidFile> {
    let shown = path.display();
    let z = nul(path);
    let f = fs::open(&z, libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW, 0o644)
        .map_err(|e| gracefd::Error::new(e, format_args!("pid file {}: open: {}", shown, e)))?;
    let st = fd::fstat(f.raw()).map_err(|e| gracefd::Error::new(e, format_args!("pid file {}: fstat: {}", shown, e)))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(gracefd::Error::new(Errno(libc::EINVAL), format_args!("pid file {}: not a regular file", shown)));
    }
    if let Err(e) = fs::flock(f.raw(), libc::LOCK_EX | libc::LOCK_NB) {
        if e.0 == libc::EWOULDBLOCK {
            let mut buf = [0u8; 32];
            let n = fs::pread_full(f.raw(), &mut buf, 0).unwrap_or(0);
            let text = String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).trim().to_string();
            return Err(gracefd::Error::new(
                Errno(libc::EEXIST),
                format_args!("pid file {} is locked: already running as pid {}", shown, if text.is_empty() { "?" } else { &text }),
            ));
        }
        return Err(gracefd::Error::new(e, format_args!("pid file {}: flock: {}", shown, e)));
    }
    Ok(PidFile { fd: f, path: path.to_path_buf() })
}

impl PidFile {
    /// Write `pid` (the lock is untouched).
    pub fn write_pid(&self, pid: Pid) -> gracefd::Result<()> {
        gracefd::upgrade::write_pid(self.fd.raw(), pid).map_err(|e| e.context(format_args!("pid file {}", self.path.display())))
    }

    /// The fd (to pass the lock on to a daemonized program).
    pub fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// Remove the file if it is still the one we hold, then drop the lock.
    pub fn remove(self) {
        let z = nul(&self.path);
        if let (Ok(a), Ok(b)) = (fs::lstat(&z), fd::fstat(self.fd.raw())) {
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) {
                let _ = fs::unlink(&z);
            }
        }
    }
}

// ---- daemonize --------------------------------------------------------------

/// Options of [`daemonize_self`].
pub struct DaemonOpts {
    /// The daemon's stdout and stderr (None: /dev/null).
    pub log_fd: Option<RawFd>,
    /// How long the launcher waits for [`report_ready`] (negative: forever).
    pub timeout_ms: i64,
    /// How long the daemon gets to stop after SIGTERM when it timed out.
    pub stop_grace_ms: i64,
}

static CHANNEL: Mutex<Option<Fd>> = Mutex::new(None);

/// Detach (fork, setsid, fork) and return in the daemon. The launching
/// process never returns: it exits 0 once the daemon calls [`report_ready`],
/// the status given to [`report_failed`] (its message on stderr), 240 if the
/// daemon died first, 241 if it stayed silent past the timeout (it is then
/// stopped), 244 if the channel closed without a report. Refused (`EBUSY`) in
/// a multi-threaded process.
pub fn daemonize_self(opts: &DaemonOpts) -> gracefd::Result<()> {
    if process::thread_count().unwrap_or(1) != 1 {
        return Err(gracefd::Error::new(Errno(libc::EBUSY), format_args!("--daemonize: the process has more than one thread")));
    }
    let devnull = fs::open(b"/dev/null\0", libc::O_RDWR, 0).map_err(|e| gracefd::Error::sys(e, "--daemonize: open /dev/null"))?;
    let (waiter, child_end) = gracefd::ready::channel()?;
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: single-threaded (checked above), so the child may do anything.
    let middle = unsafe { process::fork() }.map_err(|e| gracefd::Error::sys(e, "--daemonize: fork"))?;
    if middle != 0 {
        // The launcher: exit as the middle process says.
        drop(waiter);
        drop(child_end);
        let _ = signal::unblock_all();
        let code = match process::wait(middle) {
            Ok(Exit::Code(c)) => c,
            _ => exit::LOST,
        };
        std::process::exit(code);
    }
    let _ = process::setsid();
    // SAFETY: still single-threaded.
    let daemon = match unsafe { process::fork() } {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}: --daemonize: second fork: {}", crate::say::prog(), e);
            process::exit_now(exit::SETUP);
        }
    };
    if daemon != 0 {
        drop(child_end);
        let _ = signal::unblock_all();
        let code = watch(daemon, &waiter, opts);
        process::exit_now(code);
    }
    // The daemon.
    drop(waiter);
    let out = opts.log_fd.unwrap_or(devnull.raw());
    let _ = fd::dup2(devnull.raw(), 0);
    let _ = fd::dup2(out, 1);
    let _ = fd::dup2(out, 2);
    if let Ok(mut c) = CHANNEL.lock() {
        *c = Some(child_end);
    }
    Ok(())
}

/// The middle process: wait for the daemon's report; return the launcher's status.
fn watch(daemon: Pid, waiter: &Fd, opts: &DaemonOpts) -> i32 {
    let prog = crate::say::prog();
    let outcome = match gracefd::ready::wait_outcome(waiter, daemon, Deadline::after_ms(opts.timeout_ms)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{}: --daemonize: {}", prog, e);
            return exit::LOST;
        }
    };
    match outcome {
        Outcome::Ready => exit::OK,
        Outcome::Failed(st, m) => {
            eprintln!("{}: {}", prog, m.as_str());
            st
        }
        Outcome::Died(x) => {
            eprintln!("{}: the daemon (pid {}) {} before it was ready", prog, daemon, crate::worker::describe_exit(x));
            exit::DIED
        }
        Outcome::ExecFailed(e) => {
            eprintln!("{}: the daemon could not start: {}", prog, e);
            exit::SETUP
        }
        Outcome::Abandoned => {
            eprintln!("{}: the daemon (pid {}) closed its readiness channel without reporting", prog, daemon);
            exit::LOST
        }
        Outcome::TimedOut => {
            eprintln!("{}: the daemon (pid {}) was not ready in time; stopping it", prog, daemon);
            gracefd::spawn::kill_and_reap(daemon, libc::SIGTERM, opts.stop_grace_ms);
            exit::TIMEOUT
        }
    }
}

fn send(kind: Kind, status: i32, msg: &str) {
    let ch = CHANNEL.lock().ok().and_then(|mut c| c.take());
    if let Some(ch) = ch {
        let mut buf = [0u8; frame::FRAME_MAX];
        let clean: String = msg.chars().map(|c| if c == '\n' || c == '\0' { ' ' } else { c }).collect();
        let n = frame::encode(kind, status, clean.as_bytes(), &mut buf);
        let _ = socket::send(ch.raw(), buf.get(..n).unwrap_or(&[]), 0);
    }
}

/// Tell whoever waits that gracefd is ready: the `--daemonize` launcher,
/// a starter that gave us `GRACEFD_READY_FD`, and systemd (`READY=1`).
pub fn report_ready() {
    send(Kind::Ready, 0, "");
    if let Err(e) = gracefd::ready::report_ready() {
        crate::say!(crate::say::WARNING, "could not report readiness: {}", e);
    }
}

/// Tell whoever waits that gracefd failed to come up (exit status, reason).
pub fn report_failed(status: i32, msg: &str) {
    send(Kind::Failed, status, msg);
    let clean: String = msg.chars().map(|c| if c == '\n' || c == '\0' { ' ' } else { c }).collect();
    let status = if (1..=255).contains(&status) { status } else { 1 };
    let _ = gracefd::ready::report_failed(status, clean.as_bytes());
}
