//! start_server's `--restart` and `--stop`: they talk to a running
//! start_server *or* gracefd. Each returns the command's exit status.
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

use crate::supervise::control::{self, Command};
use crate::supervise::exit;
use crate::supervise::say::{self, say};
use crate::supervise::status_file as status;
use crate::sys::fd::Fd;
use crate::sys::cpath::CPath;
use crate::sys::{fs, process, Errno};

/// The pid of the server holding `pid_file`, and the open file. The file is
/// opened `O_NOFOLLOW` and the pid read from that very fd; it must be locked
/// (the server, gracefd's or Perl's, holds its pid file locked for life): an
/// unlocked file is stale and its pid may be another process's by now, so
/// nothing is signalled.
fn server_pid(pid_file: &Path) -> Result<(Fd, i32), String> {
    use std::os::unix::ffi::OsStrExt;
    let shown = pid_file.display();
    let z = CPath::new(pid_file.as_os_str().as_bytes()).map_err(|e| format!("--pid-file {}: {}", shown, e))?;
    let f = fs::open(&z, libc::O_RDONLY | libc::O_NOFOLLOW, 0).map_err(|e| format!("--pid-file {}: {}", shown, e))?;
    match fs::flock(f.raw(), libc::LOCK_SH | libc::LOCK_NB) {
        Err(Errno(libc::EWOULDBLOCK)) => {}
        Ok(()) => return Err(format!("--pid-file {}: no server holds it (it is not locked): stale, nothing signalled", shown)),
        Err(e) => return Err(format!("--pid-file {}: flock: {}", shown, e)),
    }
    let pid = crate::pidfile::read_pid(f.raw()).ok_or_else(|| format!("--pid-file {}: no pid in it", shown))?;
    Ok((f, pid))
}

/// `start_server --restart`: have the server running with `pid_file` start
/// a new generation. With its control socket, one `reload` request, answered
/// when the new worker is ready or failed. Without, as Server::Starter does:
/// SIGHUP, then wait until the status file lists a single, newer generation;
/// like Server::Starter's this wait has no time limit (a reload that fails
/// leaves the old generation listed, and it waits on; stop it with a signal).
/// Returns `exit::OK`; `exit::FAILED` (the reload failed, the server exited
/// meanwhile); `exit::UNREACHABLE` (no pid file or live process, no control
/// socket answering, no status file or no generation in it, the signal
/// refused).
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
        crate::sys::time::sleep_ms(50);
        if let Ok(g) = read_gens() {
            if g.len() == 1 && g.first().is_some_and(|&x| x > newest) {
                return exit::OK;
            }
        }
        if !process::exists(pid) {
            say!(say::ERR, "the server (pid {}) exited before the restart completed", pid);
            return exit::FAILED;
        }
    }
}

/// `start_server --stop`: SIGTERM to the server running with `pid_file`,
/// then wait, with no time limit, until it has exited (its lock on the pid
/// file is released). Returns `exit::OK`; `exit::UNREACHABLE` (no pid file,
/// no live process, the signal refused); `exit::FAILED` (the wait failed).
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
