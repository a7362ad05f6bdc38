//! `start_server` (gracefd invoked through a symbolic link of that name):
//! Server::Starter's command line, so a deployment switches by changing
//! one path.
//!
//! Options are read as Perl's Getopt::Long reads them (a single dash works,
//! unique prefixes work) and mean what start_server's documentation says:
//! `--port`, `--path`, `--interval` (readiness rule *and* first respawn
//! delay; default 1 s), `--signal-on-hup`, `--signal-on-term`, `--pid-file`,
//! `--status-file`, `--envdir` (also `$ENVDIR`), `--log-file` (a file or
//! `| command`), `--daemonize` (needs `--log-file`), `--kill-old-delay`
//! (also `$KILL_OLD_DELAY`; default 0, 5 with auto-restart),
//! `--enable-auto-restart` / `--auto-restart-interval` (also
//! `$ENABLE_AUTO_RESTART` / `$AUTO_RESTART_INTERVAL`; default 360 s),
//! `--dir`, `--backlog`, `--restart`, `--stop`, `--version`, `--help`;
//! every `gracefd run` option is accepted too.
//!
//! `--restart` and `--stop` talk to a running start_server *or* gracefd:
//!
//! - `--restart --pid-file P --status-file S`: send SIGHUP to the pid in P,
//!   then wait until S names a single generation newer than before (the new
//!   worker is ready and the old ones are gone). With `--control-socket`
//!   (a gracefd extension) the reload goes through the control socket
//!   instead and a failed reload is reported (status 1) rather than waited
//!   on. Fails (3) when P or S is unreadable or the process is gone, (1) if
//!   the superdaemon exits while waiting.
//! - `--stop --pid-file P`: send SIGTERM to the pid in P, then wait until
//!   the pid file's lock is released (the superdaemon has exited).

use std::path::Path;

use gracefd::__cli::sys::fd::Fd;
use gracefd::__cli::sys::{fs, process, Errno};

use crate::args::{self, Spec, Style};
use gracefd::__cli::supervise::control::{self, Command};
use crate::opts::{self, Face};
use crate::{exit, say};
use gracefd::__cli::supervise::status_file as status;

/// start_server's options: `gracefd run`'s plus `--restart` and `--stop`.
fn specs() -> Vec<Spec> {
    let mut v = opts::RUN_SPECS.to_vec();
    v.push(Spec { name: "restart", value: false });
    v.push(Spec { name: "stop", value: false });
    v
}

/// Run as `start_server` with `argv` (without argv[0]).
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let parsed = match args::parse(argv, &specs(), Style { getopt_long: true, ..Style::default() }) {
        Ok(p) => p,
        Err(e) => return crate::usage_error(&e),
    };
    if parsed.has("help") {
        crate::help::show(crate::help::START_SERVER);
        return exit::OK;
    }
    if parsed.has("version") {
        println!("{} (gracefd, start_server compatible)", gracefd::__cli::version::string());
        return exit::OK;
    }
    say::init("start_server", if parsed.has("verbose") { say::DEBUG } else { say::INFO });
    let path = |name: &str| parsed.last(name).filter(|v| !v.is_empty()).map(opts::absolute);
    if parsed.has("restart") {
        let (Some(pid_file), Some(status_file)) = (path("pid-file"), path("status-file")) else {
            return crate::usage_error(&crate::usage!("--restart needs --pid-file and --status-file"));
        };
        return restart(&pid_file, &status_file, path("control-socket").as_deref());
    }
    if parsed.has("stop") {
        let Some(pid_file) = path("pid-file") else {
            return crate::usage_error(&crate::usage!("--stop needs --pid-file"));
        };
        return stop(&pid_file);
    }
    match opts::run_options(&parsed, Face::StartServer) {
        Ok(o) => {
            say::init("start_server", if o.verbose { say::DEBUG } else { say::INFO });
            gracefd::__cli::supervise::run(o)
        }
        Err(e) => crate::usage_error(&e),
    }
}

/// The pid of the server holding `pid_file`, and the open file. The file is
/// opened `O_NOFOLLOW` and the pid read from that very fd; it must be locked
/// (the server, gracefd's or Perl's, holds its pid file locked for life): an
/// unlocked file is stale and its pid may be another process's by now, so
/// nothing is signalled.
fn server_pid(pid_file: &Path) -> Result<(Fd, i32), String> {
    use std::os::unix::ffi::OsStrExt;
    let shown = pid_file.display();
    let mut z = pid_file.as_os_str().as_bytes().to_vec();
    z.push(0);
    let f = fs::open(&z, libc::O_RDONLY | libc::O_NOFOLLOW, 0).map_err(|e| format!("--pid-file {}: {}", shown, e))?;
    match fs::flock(f.raw(), libc::LOCK_SH | libc::LOCK_NB) {
        Err(Errno(libc::EWOULDBLOCK)) => {}
        Ok(()) => return Err(format!("--pid-file {}: no server holds it (it is not locked): stale, nothing signalled", shown)),
        Err(e) => return Err(format!("--pid-file {}: flock: {}", shown, e)),
    }
    let pid = gracefd::__cli::pidfile::read_pid(f.raw()).ok_or_else(|| format!("--pid-file {}: no pid in it", shown))?;
    Ok((f, pid))
}

fn alive(pid: i32) -> bool {
    !matches!(process::kill(pid, 0), Err(Errno(libc::ESRCH)))
}

/// `--restart`.
pub fn restart(pid_file: &Path, status_file: &Path, control_socket: Option<&Path>) -> i32 {
    if let Some(sock) = control_socket {
        return match control::request(sock, Command::Reload, None) {
            Ok((true, text)) => {
                say!(say::INFO, "restarted: {}", text.trim());
                exit::OK
            }
            Ok((false, text)) => {
                say!(say::ERR, "restart failed: {}", text.trim());
                exit::FAILED
            }
            Err(e) => {
                say!(say::ERR, "{}", e.msg);
                if e.unreachable {
                    exit::UNREACHABLE
                } else {
                    exit::FAILED
                }
            }
        };
    }
    let pid = match server_pid(pid_file) {
        Ok((_, p)) => p,
        Err(e) => {
            say!(say::ERR, "{}", e);
            return exit::UNREACHABLE;
        }
    };
    let read_gens = || std::fs::read_to_string(status_file).map(|t| status::generations(&t));
    let before = match read_gens() {
        Ok(g) => g,
        Err(e) => {
            say!(say::ERR, "--status-file {}: {}", status_file.display(), e);
            return exit::UNREACHABLE;
        }
    };
    let Some(&newest) = before.last() else {
        say!(say::ERR, "--status-file {}: no active process found in the status file", status_file.display());
        return exit::UNREACHABLE;
    };
    if let Err(e) = process::kill(pid, libc::SIGHUP) {
        say!(say::ERR, "cannot send SIGHUP to pid {} (from --pid-file {}): {}", pid, pid_file.display(), e);
        return exit::UNREACHABLE;
    }
    loop {
        gracefd::__cli::sys::time::sleep_ms(50);
        if let Ok(g) = read_gens() {
            if g.len() == 1 && g.first().is_some_and(|&x| x > newest) {
                return exit::OK;
            }
        }
        if !alive(pid) {
            say!(say::ERR, "the server (pid {}) exited before the restart completed", pid);
            return exit::FAILED;
        }
    }
}

/// `--stop`.
pub fn stop(pid_file: &Path) -> i32 {
    let (f, pid) = match server_pid(pid_file) {
        Ok(x) => x,
        Err(e) => {
            say!(say::ERR, "{}", e);
            return exit::UNREACHABLE;
        }
    };
    say!(say::INFO, "stopping the server (pid {})", pid);
    if let Err(e) = process::kill(pid, libc::SIGTERM) {
        say!(say::ERR, "cannot send SIGTERM to pid {} (from --pid-file {}): {}", pid, pid_file.display(), e);
        return exit::UNREACHABLE;
    }
    // The server holds the lock until it exits.
    match fs::flock(f.raw(), libc::LOCK_EX) {
        Ok(()) => exit::OK,
        Err(e) => {
            say!(say::ERR, "--pid-file {}: flock: {}", pid_file.display(), e);
            exit::FAILED
        }
    }
}
