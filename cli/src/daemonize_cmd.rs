//! `gracefd daemonize [options] -- COMMAND [ARGS]`: run any program as a
//! daemon, and exit only when it is known to be up (0) or known not to be
//! (with the reason on stderr and a status that says which way it failed).
//!
//! ```text
//! gracefd (launcher) ──fork──▶ middle (setsid) ──fork+exec──▶ COMMAND
//!   waits for the middle's     watches COMMAND's readiness,   the daemon: a new session,
//!   exit status, exits with it  writes the pid file, exits     not its leader; stdin
//!                                                             /dev/null, out/err the log
//! ```
//!
//! The middle process is COMMAND's parent until it is ready, so it knows how
//! COMMAND died if it does; then it exits and COMMAND is re-parented to init.
//! COMMAND holds the pid file's lock through an inherited fd
//! (`GRACEFD_PIDFILE_FD`): the file stays locked as long as COMMAND runs
//! (unless it closes every fd), so a second `gracefd daemonize` with the
//! same pid file is refused (242) and a stale file is taken over.
//!
//! Readiness: `--ready notify` (COMMAND calls `gracefd_ready()` on
//! `GRACEFD_READY_FD` or sends sd_notify `READY=1` to the `NOTIFY_SOCKET`
//! given for the start; `gracefd_fail(status, msg)` makes gracefd exit with
//! that status), or `--ready interval:SECS` (alive after SECS).
//!
//! Why not the library's `daemon::daemonize` (which `run --daemonize` uses):
//! its launcher hears only the readiness channel, so a program could report
//! only through `gracefd_ready()`. Here the middle process also reads
//! sd_notify `READY=1` and applies the interval rule, so programs that link
//! nothing work too; the pid file follows the library's rules
//! (`pidfile::acquire`), and the exit statuses are the same (`exit.rs`).

// Default `--ready-timeout`: the library's daemonize default (a shell script is waiting on it).
pub use gracefd::__cli::daemon::DEFAULT_TIMEOUT_MS as DEFAULT_READY_TIMEOUT_MS;
use gracefd::__cli::sys::fd::{self, Fd};
use gracefd::__cli::sys::process::{self, Exit};
use gracefd::__cli::sys::time::{monotonic_ns, Deadline};
use gracefd::__cli::sys::{fs, poll, signal};

use crate::args::{self, Parsed, Spec, Style, UsageError};
use gracefd::__cli::supervise::worker_notify::NotifyDir;
use crate::opts::{absolute, ParseReadyRule, ReadyRule};
use crate::detach::{self, PidFile};
use crate::worker::{self, describe_exit, Event};
use crate::{exit, say, usage};


const fn o(name: &'static str) -> Spec {
    Spec { name, value: true }
}
const fn f(name: &'static str) -> Spec {
    Spec { name, value: false }
}

/// Options of `gracefd daemonize`.
pub const SPECS: [Spec; 9] =
    [o("pid-file"), o("ready"), o("ready-timeout"), o("log-file"), o("dir"), o("env"), o("envdir"), f("verbose"), f("help")];

struct Opts {
    pid_file: Option<std::path::PathBuf>,
    ready: ReadyRule,
    ready_timeout_ms: u64,
    log_file: Option<std::path::PathBuf>,
    dir: std::path::PathBuf,
    env: Vec<Vec<u8>>,
    envdir: Option<std::path::PathBuf>,
    verbose: bool,
    command: Vec<Vec<u8>>,
}

fn opts(p: &Parsed) -> Result<Opts, UsageError> {
    let ready = match p.last("ready") {
        Some(v) => ReadyRule::parse("ready", v)?,
        None => crate::opts::DEFAULT_READY,
    };
    let ready_timeout_ms = match p.last("ready-timeout") {
        Some(v) => args::secs("ready-timeout", v)?,
        None => DEFAULT_READY_TIMEOUT_MS.unsigned_abs(),
    };
    if ready_timeout_ms == 0 {
        return Err(usage!("--ready-timeout 0: must be above 0"));
    }
    let path = |name: &str| -> Result<Option<std::path::PathBuf>, UsageError> {
        match p.last(name) {
            None => Ok(None),
            Some([]) => Err(usage!("--{} \"\": the path is empty", name)),
            Some(v) => Ok(Some(absolute(v))),
        }
    };
    let env = p.all("env").map(|v| args::env_entry("env", v)).collect::<Result<Vec<_>, _>>()?;
    let mut command = p.rest.clone();
    if command.is_empty() || command.first().is_some_and(|c| c.is_empty()) {
        return Err(usage!("no command given: gracefd daemonize [options] -- COMMAND [ARGS...]"));
    }
    // `./server` means the one here, not in --dir (default /).
    if let Some(c) = command.first_mut() {
        if c.contains(&b'/') && c.first() != Some(&b'/') {
            use std::os::unix::ffi::OsStrExt;
            *c = absolute(c).as_os_str().as_bytes().to_vec();
        }
    }
    Ok(Opts {
        pid_file: path("pid-file")?,
        ready,
        ready_timeout_ms,
        log_file: path("log-file")?,
        dir: path("dir")?.unwrap_or_else(|| "/".into()),
        env,
        envdir: path("envdir")?,
        verbose: p.has("verbose"),
        command,
    })
}

/// Run `gracefd daemonize` with `argv` (after the subcommand).
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let parsed = match args::parse(argv, &SPECS, Style::default()) {
        Ok(p) => p,
        Err(e) => return crate::usage_error(&e),
    };
    if parsed.has("help") {
        crate::help::show(crate::help::DAEMONIZE);
        return exit::OK;
    }
    let o = match opts(&parsed) {
        Ok(o) => o,
        Err(e) => return crate::usage_error(&e),
    };
    say::init(say::prog(), if o.verbose { say::DEBUG } else { say::INFO });

    let pidfile = match &o.pid_file {
        None => None,
        Some(p) => match detach::lock_pid_file(p) {
            Ok(f) => Some(f),
            Err(e) if e.errno.0 == libc::EEXIST => {
                say!(say::ERR, "--pid-file {}: {}", p.display(), e);
                return exit::ALREADY_RUNNING;
            }
            Err(e) => {
                say!(say::ERR, "--pid-file {}: {}", p.display(), e);
                return exit::SETUP;
            }
        },
    };
    let out = match &o.log_file {
        None => fs::open(b"/dev/null\0", libc::O_WRONLY, 0).map_err(|e| format!("open /dev/null: {}", e)),
        // O_NOFOLLOW: a link planted at the name is refused, not appended through.
        Some(p) => gracefd::__cli::safe_path::open_append(p.as_os_str().as_encoded_bytes(), 0o666).map_err(|e| format!("--log-file: {}", e)),
    };
    let out = match out {
        Ok(f) => f,
        Err(e) => {
            say!(say::ERR, "{}", e);
            return exit::SETUP;
        }
    };
    if !o.dir.is_dir() {
        say!(say::ERR, "--dir {}: not a directory", o.dir.display());
        return exit::SETUP;
    }
    if process::thread_count().unwrap_or(1) != 1 {
        say!(say::ERR, "daemonize: the process has more than one thread");
        return exit::SETUP;
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: single-threaded (checked above): the child may do anything.
    let middle = match unsafe { process::fork() } {
        Ok(p) => p,
        Err(e) => {
            say!(say::ERR, "fork: {}", e);
            return exit::SETUP;
        }
    };
    if middle != 0 {
        // The launcher: the middle process's status is ours.
        return match process::wait(middle) {
            Ok(Exit::Code(c)) => c,
            Ok(Exit::Signal(s)) => {
                say!(say::ERR, "the watching process was killed by {}", args::signal_name(s));
                exit::LOST
            }
            Err(e) => {
                say!(say::ERR, "waitpid: {}", e);
                exit::LOST
            }
        };
    }
    let code = middle_process(&o, pidfile, out);
    process::exit_now(code);
}

/// The middle process: start COMMAND detached, watch it until ready.
fn middle_process(o: &Opts, pidfile: Option<PidFile>, out: Fd) -> i32 {
    let _ = process::setsid();
    let _ = signal::unblock_all();
    // stdin and stdout of COMMAND; its stderr is set around the spawn, ours
    // stays the terminal for the messages below.
    let Ok(devnull) = fs::open(b"/dev/null\0", libc::O_RDONLY, 0) else {
        say!(say::ERR, "open /dev/null failed");
        return exit::SETUP;
    };
    let _ = fd::redirect_stdio(devnull.raw(), 0);
    let _ = fd::redirect_stdio(out.raw(), 1);
    let r = start_and_watch(o, &pidfile, &out);
    match r {
        Ok(()) => exit::OK,
        Err((code, msg)) => {
            say!(say::ERR, "{}", msg);
            if let Some(pf) = pidfile {
                pf.remove();
            }
            code
        }
    }
}

fn start_and_watch(o: &Opts, pidfile: &Option<PidFile>, out: &Fd) -> Result<(), (i32, String)> {
    let mut env = match &o.envdir {
        Some(d) => crate::envdir::read(d).map_err(|e| (exit::SETUP, e))?,
        None => Vec::new(),
    };
    env.extend(o.env.iter().cloned());
    let notify_dir = match o.ready {
        ReadyRule::Notify => Some(NotifyDir::create().map_err(|e| (exit::SETUP, format!("cannot create a NOTIFY_SOCKET directory: {}", e)))?),
        ReadyRule::Interval(_) => None,
    };
    let extra: Vec<(&[u8], i32)> = pidfile.iter().map(|pf| (&b"GRACEFD_PIDFILE_FD"[..], pf.raw())).collect();
    let keys = std::collections::HashMap::new();
    let plan = worker::Plan {
        command: &o.command,
        dir: Some(&o.dir),
        env: &env,
        generation: 1,
        listeners: false,
        starter_keys: &keys,
        notify_dir: notify_dir.as_ref(),
        extra_fds: &extra,
        seq: 1,
        child: None,
    };
    let cmd = String::from_utf8_lossy(o.command.first().map(Vec::as_slice).unwrap_or(b"")).into_owned();
    // COMMAND's stderr is the log; ours stays the terminal.
    let ours = fd::dup_cloexec(2).ok();
    let _ = fd::redirect_stdio(out.raw(), 2);
    let started = worker::start(&plan);
    if let Some(e) = &ours {
        let _ = fd::redirect_stdio(e.raw(), 2);
    }
    let mut w = started.map_err(|e| (exit::SETUP, format!("{}: {}", cmd, e)))?;
    let pid = w.pid;
    if let Some(pf) = pidfile {
        if let Err(e) = pf.write_pid(pid) {
            gracefd::__cli::spawn::kill_and_reap(pid, libc::SIGTERM, 2000);
            return Err((exit::SETUP, format!("{}", e)));
        }
    }
    let what = format!("{} (pid {})", cmd, pid);
    let deadline_ms = match o.ready {
        ReadyRule::Notify => o.ready_timeout_ms,
        ReadyRule::Interval(ms) => ms,
    };
    let deadline = Deadline::after_ms(deadline_ms as i64);
    let t0 = monotonic_ns();
    loop {
        let mut pfds: Vec<libc::pollfd> = Vec::new();
        for f in [w.waiter_fd(), w.notify_fd()].into_iter().flatten() {
            pfds.push(libc::pollfd { fd: f, events: libc::POLLIN, revents: 0 });
        }
        // A short slice: COMMAND's death is noticed by waitpid below even
        // when its readiness channel is already closed.
        let _ = poll::poll(&mut pfds, deadline.poll_ms().clamp(0, 50));
        if let Some(ev) = w.on_channel() {
            match ev {
                Event::Ready if o.ready == ReadyRule::Notify => break,
                Event::Ready => {}
                Event::Failed(st, m) => {
                    gracefd::__cli::spawn::kill_and_reap(pid, libc::SIGTERM, 2000);
                    let st = if (1..=255).contains(&st) { st } else { exit::FAILED };
                    return Err((st, format!("{} {}", what, m)));
                }
                Event::Exited(_, m) => {
                    let code = if m.starts_with("could not be executed") { exit::SETUP } else { exit::DIED };
                    let m = if m.starts_with("could not") { m } else { format!("{} before it was ready", m) };
                    return Err((code, format!("{} {}", what, m)));
                }
            }
        }
        if w.on_notify() == Some(Event::Ready) && o.ready == ReadyRule::Notify {
            break;
        }
        match process::try_wait(pid) {
            Ok(Some(x)) => return Err((exit::DIED, format!("{} {} before it was ready", what, describe_exit(x)))),
            Ok(None) => {}
            Err(e) => return Err((exit::LOST, format!("{}: waitpid: {}", what, e))),
        }
        if deadline.expired() {
            match o.ready {
                ReadyRule::Interval(_) => break,
                ReadyRule::Notify => {
                    gracefd::__cli::spawn::kill_and_reap(pid, libc::SIGTERM, 2000);
                    return Err((exit::TIMEOUT, format!("{} was not ready within {} (--ready-timeout); stopped", what, args::fmt_secs(o.ready_timeout_ms))));
                }
            }
        }
    }
    say!(say::DEBUG, "{} is ready after {} ms", what, (monotonic_ns() - t0) / 1_000_000);
    Ok(())
}
