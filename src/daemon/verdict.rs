//! The launcher after the start: wait for the daemon's verdict on the
//! readiness channel, make sure no daemon survives a failed start, reap the
//! middle process, say what happened, and exit.

use alloc::vec::Vec;

use super::{EXIT_DIED, EXIT_LOST, EXIT_SETUP, EXIT_TIMEOUT};
use crate::error::{Error, Msg};
use crate::proto::addr::Shown;
use crate::proto::ready::{self as frame, Frame, Kind};
use crate::sys::fd::{self, Fd};
use crate::sys::process::{self, Exit, Pid};
use crate::sys::time::{self, Deadline};
use crate::sys::{poll, signal, socket, Errno};
use crate::{err, log, startup};

/// How long a daemon that reported failure (or timed out) gets to exit after
/// each step (its own exit, SIGTERM) before the next (SIGTERM, SIGKILL).
const STOP_GRACE_MS: i64 = 2_000;

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
pub(super) fn launcher(middle: Pid, waiter: Fd, timeout_ms: i64) -> ! {
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
