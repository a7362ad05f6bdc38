//! Readiness: one call tells everyone who waits that this process serves, and
//! the waiting side learns exactly what happened to the process it started.
//!
//! The channel is a `SOCK_SEQPACKET` socketpair: the starter keeps one end,
//! the started process gets the other as `GRACEFD_READY_FD`. The child sends
//! one frame (ready, or failed with a status and message; see
//! `proto::ready`). EOF without a frame means it died or gave the channel up.
//! Sends use `MSG_NOSIGNAL`, so a starter that died never kills the child.

use crate::error::{Msg, Result};
use crate::msg::Plain;
use crate::proto::ready::{self, Frame, ReadyReport};
use crate::sync::OptIn;
use crate::sys::fd::Fd;
use crate::sys::process::{self, Exit, Pid};
use crate::sys::time::Deadline;
use crate::sys::{poll, socket, Errno};
use crate::{err, lineage};

/// A fresh channel: (the waiter's end, the end to pass to the child). Both CLOEXEC.
pub(crate) fn channel() -> Result<(Fd, Fd)> {
    socket::socketpair(libc::SOCK_SEQPACKET).map_err(|e| crate::Error::sys(e, "readiness socketpair"))
}

/// Report to whoever started us. `Ok(true)` if a waiter existed (and the frame
/// was sent or the waiter is gone), `Ok(false)` if nobody waits. The channel is
/// consumed either way: readiness is reported once.
fn report(kind: ReadyReport, status: i32, msg: &[u8]) -> Result<bool> {
    let Some(ch) = lineage::take_ready_channel() else { return Ok(false) };
    let mut buf = [0u8; ready::FRAME_MAX];
    let n = ready::encode(kind, status, msg, &mut buf);
    match socket::send(ch.raw(), buf.get(..n).unwrap_or(&[]), 0) {
        Ok(_) if kind == ReadyReport::Ready => {
            // The old generation may pass its connections on this channel.
            crate::conns::keep_ready_channel(ch);
            Ok(true)
        }
        Ok(_) => Ok(true),
        // The starter is gone (killed mid-upgrade, say): nobody to tell, and
        // that is no reason for us to stop serving.
        Err(Errno(libc::EPIPE)) | Err(Errno(libc::ECONNRESET)) | Err(Errno(libc::ENOTCONN)) => {
            crate::log!(crate::log::NOTICE, "readiness: the process that started us is gone");
            Ok(true)
        }
        Err(e) => Err(crate::Error::sys(e, "readiness: send")),
    }
}

/// The hand-off's "tell the process we took our fds from to drain"
/// (`handoff::report_ready`), installed by its take: only a process that took
/// fds has such a peer, and only a program that links the take links the
/// telling (`sync::OptIn`).
pub(crate) static HANDOFF_PEER: OptIn<fn() -> Result<bool>> = OptIn::new();

/// Tell everyone who waits that we are ready: the starter (readiness frame),
/// the process we took our fds from by hand-off (it drains), and systemd
/// (`READY=1`, plus `MAINPID=` when we are a new generation, so systemd follows
/// us even before the old generation hands over).
/// Returns whether a starter or hand-off peer was told.
pub fn report_ready() -> Result<bool> {
    let old_side = HANDOFF_PEER.get().map_or(Ok(false), |tell| tell());
    let starter = report(ReadyReport::Ready, crate::conns::ready_status(), b"");
    crate::notify::ready(lineage::is_upgrade())?;
    Ok(starter? | old_side?)
}

/// Tell the starter we failed, with the exit status it should use and why.
/// EINVAL if `status` is not 1..=255 or the message has NUL/newline.
pub fn report_failed(status: i32, msg: &[u8]) -> Result<bool> {
    if !(1..=255).contains(&status) {
        return Err(err!(EINVAL, "fail status {} is not an exit status (1 to 255)", status));
    }
    if msg.contains(&0) || msg.contains(&b'\n') {
        return Err(err!(EINVAL, "fail message contains a NUL or newline"));
    }
    let told = report(ReadyReport::Failed, status, msg)?;
    // systemd shows the reason in `systemctl status`; a failure to tell it is
    // not worth hiding the starter's result for.
    if let Err(e) = crate::notify::status(msg) {
        crate::log!(crate::log::WARNING, "could not send STATUS to systemd: {}", e);
    }
    Ok(told)
}

/// What became of a started child. (The message is inline on purpose: no
/// allocation on this path; the enum is short-lived.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    /// It reported ready (still running).
    Ready,
    /// It reported failure with this status and message (may still be running).
    Failed(i32, Msg),
    /// exec failed with this errno (the child has exited 127).
    ExecFailed(Errno),
    /// It exited or was killed without reporting (already reaped).
    Died(Exit),
    /// It closed the channel without reporting but is still running.
    Abandoned,
    /// It said exec failed (with this errno) but is still running: a
    /// protocol violation (some other holder of the channel forged the frame,
    /// or the program misused it). Still running: the caller kills it.
    ExecFailedButAlive(Errno),
    /// Nothing before the deadline (still running).
    TimedOut,
}

impl Outcome {
    /// One line describing a non-ready outcome, for last-error texts.
    pub(crate) fn describe(&self, what: &str, pid: Pid) -> crate::Error {
        match self {
            Outcome::Failed(st, m) => err!(ECANCELED, "{} (pid {}) failed with status {}: {}", Plain(what), pid, st, Plain(m.as_str())),
            Outcome::ExecFailed(e) => err!(ENOEXEC, "{} could not be executed: {}", Plain(what), e),
            Outcome::Died(x) => err!(ECHILD, "{} (pid {}) {} before it was ready", Plain(what), pid, x),
            Outcome::ExecFailedButAlive(e) => err!(
                EPROTO,
                "{} (pid {}) broke the readiness protocol: its channel said exec failed ({}) but it is still running",
                Plain(what),
                pid,
                Plain(e.name())
            ),
            // Said in fixed words: one formatting site for the three.
            Outcome::Ready | Outcome::Abandoned | Outcome::TimedOut => {
                let (errno, words) = match self {
                    Outcome::Ready => (libc::EINVAL, "is ready"),
                    Outcome::Abandoned => (libc::EPROTO, "closed its readiness channel without reporting"),
                    _ => (libc::ETIMEDOUT, "was not ready in time"),
                };
                crate::Error::new(Errno(errno), format_args!("{} (pid {}) {}", Plain(what), pid, Plain(words)))
            }
        }
    }
}

/// Check the waiter's end once without blocking: `None` if nothing happened yet.
pub(crate) fn poll_outcome(waiter: &Fd, pid: Pid) -> Result<Option<Outcome>> {
    // No pidfd: the supervisor sees its workers' exits itself (SIGCHLD).
    wait_inner(waiter, pid, None, Deadline::after_ms(0), false)
}

/// Wait for the child's frame, its death, or the deadline (`block`), or look
/// once: `Ok(None)` only without `block`, when nothing happened yet. With
/// `pidfd` (the child's, from `process::pidfd`) the death is seen when it
/// happens, even while a process the child forked (without exec) holds the
/// channel open: a prefork master that dies before it is ready leaves its
/// workers holding it, and the channel then never reaches EOF. Without (no
/// pidfds: Linux < 5.3), only when the channel reaches EOF. A frame already
/// sent wins over the death that followed it.
// Out of line: inlined into `upgrade::finish`, it made that function's
// frame (and so every stack offset in it) larger, 0.1 KB in all.
#[inline(never)]
pub(crate) fn wait_inner(waiter: &Fd, pid: Pid, pidfd: Option<&Fd>, deadline: Deadline, block: bool) -> Result<Option<Outcome>> {
    let (channel, died) = wait_either(waiter, pidfd, deadline).map_err(|e| crate::Error::sys(e, "readiness: poll"))?;
    if channel == 0 {
        if died {
            // Reaped and said as an exit seen after EOF is.
            return Ok(Some(after_eof(pid)));
        }
        return Ok(if block { Some(Outcome::TimedOut) } else { None });
    }
    let mut buf = [0u8; ready::FRAME_MAX + 1];
    let n = match socket::recv(waiter.raw(), &mut buf, libc::MSG_DONTWAIT) {
        Ok(n) => n,
        Err(Errno(libc::EAGAIN)) => return Ok(if block { Some(Outcome::TimedOut) } else { None }),
        Err(Errno(libc::ECONNRESET)) => 0,
        Err(e) => return Err(crate::Error::sys(e, "readiness: recv")),
    };
    if n == 0 {
        return Ok(Some(after_eof(pid)));
    }
    let frame: Frame = match ready::decode(buf.get(..n).unwrap_or(&[])) {
        Ok(f) => f,
        Err(e) => return Ok(Some(Outcome::Failed(1, e.msg))),
    };
    Ok(Some(match frame.kind {
        ReadyReport::Ready => {
            crate::conns::note_ready(pid, frame.status);
            Outcome::Ready
        }
        ReadyReport::Failed => Outcome::Failed(frame.status, frame.msg),
        // A claim, not a fact: any process holding the channel can send it.
        // Never block on it: look for the exit within a bound.
        ReadyReport::ExecFailed => after_exec_failed(pid, Errno(frame.status)),
        // Only a detached start (daemonize) has a middle process that sends
        // these; a plain child never does.
        ReadyReport::Pid | ReadyReport::Exited | ReadyReport::Signaled => {
            // The variant's name, as `{:?}` would print it, without linking the derived Debug.
            let kind = match frame.kind {
                ReadyReport::Pid => "Pid",
                ReadyReport::Exited => "Exited",
                _ => "Signaled",
            };
            Outcome::Failed(1, err!(EPROTO, "unexpected readiness frame {} from pid {}", Plain(kind), pid).msg)
        }
    }))
}

/// Poll the channel and, if given, the child's pidfd until either is ready or
/// the deadline passes (EINTR: again with the time left). Returns the
/// channel's revents and whether the child has exited.
fn wait_either(waiter: &Fd, pidfd: Option<&Fd>, deadline: Deadline) -> core::result::Result<(libc::c_short, bool), Errno> {
    let Some(pidfd) = pidfd else {
        return poll::wait(waiter.raw(), libc::POLLIN, deadline).map(|r| (r, false));
    };
    loop {
        let mut fds = [
            libc::pollfd { fd: waiter.raw(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: pidfd.raw(), events: libc::POLLIN, revents: 0 },
        ];
        match poll::poll(&mut fds, deadline.poll_ms()) {
            Ok(_) => {
                let [channel, child] = fds;
                return Ok((channel.revents, child.revents != 0));
            }
            Err(Errno(libc::EINTR)) if deadline.expired() => return Ok((0, false)),
            Err(Errno(libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
    }
}

/// How long a child that closed its channel or said exec failed gets to be
/// seen exiting: a dying child closes its fds (and a failed exec sends its
/// frame, then `_exit`s) a moment before it becomes waitable.
const EXIT_AFTER_CLAIM_MS: i64 = 200;

/// Reap `pid` if it exits within [`EXIT_AFTER_CLAIM_MS`] (never a blocking
/// wait: `Ok(None)` means it still runs). `Err` if it cannot be waited for.
fn exit_within_grace(pid: Pid) -> core::result::Result<Option<Exit>, Errno> {
    process::exit_within(pid, None, Deadline::after_ms(EXIT_AFTER_CLAIM_MS))
}

/// The channel hit EOF: the child died, or closed the channel and lives on.
fn after_eof(pid: Pid) -> Outcome {
    match exit_within_grace(pid) {
        Ok(Some(x)) => Outcome::Died(x),
        Ok(None) => Outcome::Abandoned,
        Err(_) => Outcome::Died(Exit::NOT_OURS),
    }
}

/// The channel said exec failed: believe it only if the child exits (127,
/// as the spawn child does after a failed exec) within the grace. A child
/// the caller has already reaped (ECHILD: a supervisor that saw the exit
/// first and reads the channel after) is gone, so the claim cannot hold
/// anything up: it is reported as said, and the caller, who has the exit
/// status, checks it was 127.
fn after_exec_failed(pid: Pid, e: Errno) -> Outcome {
    match exit_within_grace(pid) {
        Ok(Some(Exit::Code(127))) | Err(Errno(libc::ECHILD)) => Outcome::ExecFailed(e),
        Ok(Some(x)) => Outcome::Died(x),
        Ok(None) => Outcome::ExecFailedButAlive(e),
        Err(_) => Outcome::Died(Exit::NOT_OURS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A channel with `bytes` sent on the child's end (`None`: the end
    /// closed), as a child would leave it.
    fn channel_with(bytes: Option<&[u8]>) -> Fd {
        let (waiter, child) = channel().unwrap();
        if let Some(b) = bytes {
            socket::send(child.raw(), b, 0).unwrap();
        }
        waiter
    }

    fn frame(kind: ReadyReport, status: i32) -> ([u8; ready::FRAME_MAX], usize) {
        let mut buf = [0u8; ready::FRAME_MAX];
        let n = ready::encode(kind, status, b"", &mut buf);
        (buf, n)
    }

    fn said(o: Outcome) -> (i32, std::string::String) {
        match o {
            Outcome::Failed(st, m) => (st, m.as_str().into()),
            other => panic!("not a failure: {:?}", other),
        }
    }

    // A malformed frame is refused, never trusted: a failure with its reason.
    #[test]
    fn a_malformed_frame_is_a_failure() {
        let waiter = channel_with(Some(b"XXXX\x01\0\0\0\0"));
        let o = wait_inner(&waiter, 1, None, Deadline::after_ms(5_000), true).unwrap().unwrap();
        assert_eq!(said(o), (1, "readiness frame has a bad magic".into()));
    }

    // Only a detached start has a middle process that sends a pid.
    #[test]
    fn a_pid_frame_from_a_plain_child_is_a_failure() {
        let (buf, n) = frame(ReadyReport::Pid, 77);
        let waiter = channel_with(buf.get(..n));
        let o = wait_inner(&waiter, 4321, None, Deadline::after_ms(5_000), true).unwrap().unwrap();
        assert_eq!(said(o), (1, "unexpected readiness frame Pid from pid 4321".into()));
    }

    // Nothing yet: a look says so, a wait says the deadline passed.
    #[test]
    fn nothing_is_none_or_a_timeout() {
        let (waiter, _child) = channel().unwrap();
        assert!(poll_outcome(&waiter, 1).unwrap().is_none());
        let o = wait_inner(&waiter, 1, None, Deadline::after_ms(20), true).unwrap();
        assert!(matches!(o, Some(Outcome::TimedOut)), "{:?}", o);
    }

    // EOF: the child that closed it is seen dead, with its status.
    // (Reaped by the code under test when it passes; killed and reaped here otherwise.)
    #[allow(clippy::zombie_processes)]
    #[test]
    fn eof_from_a_dead_child_says_how_it_died() {
        let mut child = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let pid = child.id() as Pid;
        // Exited, not reaped: the grace then only has to reap it.
        let pidfd = process::pidfd(pid).unwrap();
        assert_ne!(poll::wait(pidfd.raw(), libc::POLLIN, Deadline::after_ms(5_000)).unwrap(), 0);
        let waiter = channel_with(None);
        let o = wait_inner(&waiter, pid, None, Deadline::after_ms(5_000), true).unwrap();
        if !matches!(o, Some(Outcome::Died(Exit::Code(3)))) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{:?}", o);
        }
    }

    // The child died but another process (its forked worker, here the test)
    // still holds the channel: no EOF, yet its pidfd says it died, in one look
    // as in a wait. (Reaped by the code under test when it passes.)
    #[allow(clippy::zombie_processes)]
    #[test]
    fn a_death_is_seen_by_its_pidfd_while_the_channel_is_held() {
        for block in [false, true] {
            let mut child = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
            let pid = child.id() as Pid;
            let pidfd = process::pidfd(pid).expect("pidfd_open (Linux 5.3+)");
            assert_ne!(poll::wait(pidfd.raw(), libc::POLLIN, Deadline::after_ms(5_000)).unwrap(), 0);
            let (waiter, _held) = channel().unwrap();
            let o = wait_inner(&waiter, pid, Some(&pidfd), Deadline::after_ms(if block { 20_000 } else { 0 }), block).unwrap();
            if !matches!(o, Some(Outcome::Died(Exit::Code(3)))) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("block={}: {:?}", block, o);
            }
        }
    }

    // A frame that says exec failed from a child that lives on is a broken
    // protocol, seen within the grace (never waited on beyond it).
    #[test]
    fn exec_failed_from_a_live_child_is_not_believed() {
        let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
        let pid = child.id() as Pid;
        let (buf, n) = frame(ReadyReport::ExecFailed, libc::ENOENT);
        let waiter = channel_with(buf.get(..n));
        let o = wait_inner(&waiter, pid, None, Deadline::after_ms(5_000), true).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(matches!(o, Some(Outcome::ExecFailedButAlive(Errno(libc::ENOENT)))), "{:?}", o);
    }
}
