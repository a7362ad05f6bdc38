//! `gracefd daemonize [options] -- COMMAND [ARGS]`: run any program as a
//! daemon, and exit only when it is known to be up (0) or known not to be
//! (with the reason on stderr and a status that says which way it failed).
//!
//! This file is the command's arguments, one call of the library's
//! daemonizer (`daemon::daemonize` with a `Command`: the same launcher as
//! `gracefd_daemonize`, the Rust `Daemon` and the Go package) and the exit
//! status. The library starts COMMAND in a new session it does not lead
//! (stdin /dev/null, stdout and stderr the log file or /dev/null), with the
//! pid file's locked fd (`GRACEFD_PIDFILE_FD`, so the file stays locked while
//! COMMAND runs: a second start is refused with 242) and its pid written
//! before it can be ready, and watches it:
//!
//! - `--ready notify`: COMMAND calls `gracefd_ready()` on `GRACEFD_READY_FD`,
//!   or sends sd_notify `READY=1` to the private `NOTIFY_SOCKET` given for
//!   the start; `gracefd_fail(status, msg)` makes gracefd exit with that
//!   status;
//! - `--ready interval:SECS`: alive after SECS.
//!
//! The launcher's statuses are the library's (`exit.rs` names the same
//! numbers); after a failed start no COMMAND is left running and the pid
//! file is removed.

// Default `--ready-timeout`: the library's daemonize default (a shell script is waiting on it).
pub use gracefd::__cli::daemon::DEFAULT_TIMEOUT_MS as DEFAULT_READY_TIMEOUT_MS;
use gracefd::__cli::daemon::{self, Command, DaemonOptions, Ready};

use crate::args::{self, Parsed, Spec, Style, UsageError};
use gracefd::__cli::supervise::{envdir, path_lookup};

use crate::opts::{absolute, refused, ReadyRule};
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
        Some(v) => ReadyRule::parse("ready", v).map_err(refused)?,
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
    if !o.verbose {
        // The launcher says what went wrong itself (`gracefd: <reason>`);
        // the library's log lines on the way are for --verbose.
        let _ = gracefd::__cli::log::set_hook(None, core::ptr::null_mut(), 0); // removing is never refused
    }
    match start(&o) {
        // Only the daemon's verdict ends the launcher: it exits in the library.
        Ok(()) => exit::OK,
        Err((code, msg)) => {
            say!(say::ERR, "{}", msg);
            code
        }
    }
}

/// The library's options for `o`, and the call. Errors come from before
/// anything was started: (exit status, message).
fn start(o: &Opts) -> Result<(), (i32, String)> {
    let setup = |m: String| (exit::SETUP, m);
    let mut env = match &o.envdir {
        Some(d) => envdir::read(d).map_err(setup)?,
        None => Vec::new(),
    };
    env.extend(o.env.iter().cloned());
    let argv0 = o.command.first().map(Vec::as_slice).unwrap_or(b"");
    // execvp's lookup, in COMMAND's PATH (the library execs a path).
    let exe = path_lookup::resolve(argv0, path_lookup::worker_path(&env), None).map_err(|e| setup(format!("{}: {}", String::from_utf8_lossy(argv0), e)))?;
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.as_os_str().as_encoded_bytes().to_vec());
    let lib = |e: gracefd::Error| setup(e.to_string());
    let mut opts = DaemonOptions::new();
    opts.set_pid_file(path(&o.pid_file).as_deref()).map_err(lib)?;
    opts.set_log_file(path(&o.log_file).as_deref()).map_err(lib)?;
    opts.set_workdir(o.dir.as_os_str().as_encoded_bytes()).map_err(lib)?;
    opts.set_timeout_ms(i64::try_from(o.ready_timeout_ms).unwrap_or(i64::MAX)).map_err(lib)?;
    opts.set_ready(match o.ready {
        ReadyRule::Notify => Ready::Notify,
        ReadyRule::Interval(ms) => Ready::Interval(i64::try_from(ms).unwrap_or(i64::MAX)),
    })
    .map_err(lib)?;
    opts.set_command(Some(Command { exe, argv: o.command.clone(), env })).map_err(lib)?;
    daemon::daemonize(&opts).map_err(|e| {
        let code = if e.errno.0 == libc::EEXIST { exit::ALREADY_RUNNING } else { exit::SETUP };
        match &o.pid_file {
            Some(p) if e.errno.0 == libc::EEXIST => (code, format!("--pid-file {}: {}", p.display(), e)),
            _ => (code, e.to_string()),
        }
    })
}
