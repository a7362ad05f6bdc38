//! The launcher after the start: wait for the daemon's verdict on the
//! readiness channel, make sure no daemon survives a failed start, reap the
//! middle process, say what happened, and exit.

use alloc::vec::Vec;

use super::notify_socket::NotifySocket;
use super::options::Ready;
use super::state::{EXIT_DIED, EXIT_LOST, EXIT_SETUP, EXIT_TIMEOUT};
use crate::error::{Error, Msg};
use crate::msg::Plain;
use crate::proto::addr::Shown;
use crate::proto::ready::{self as frame, Frame, ReadyReport};
use crate::sys::cpath::CPath;
use crate::sys::fd::{self, Fd};
use crate::sys::process::{self, Exit, Pid};
use crate::sys::time::{self, Deadline};
use crate::sys::{fs, poll, signal, socket, Errno};
use crate::{err, log, startup};

/// How long a daemon that reported failure (or timed out) gets to exit after
/// each step (its own exit, SIGTERM) before the next (SIGTERM, SIGKILL).
const STOP_GRACE_MS: i64 = 2_000;

/// What the launcher watches, and how it judges.
pub(super) struct Watch {
    /// How long the daemon has to report (negative: forever).
    pub(crate) timeout_ms: i64,
    /// When it counts as started.
    pub(crate) ready: Ready,
    /// The private NOTIFY_SOCKET given to a started program.
    pub(crate) notify: Option<NotifySocket>,
    /// The executable started, named when its exec fails.
    pub(crate) exe: Vec<u8>,
    /// Command mode's additions, which only `command` sets (so a program
    /// without command mode links none of what they reach).
    pub(crate) command: Option<CommandWatch>,
}

/// What command mode adds to the launcher's watch.
pub(super) struct CommandWatch {
    /// The pid file (our copy of the locked fd, its path): removed after a
    /// failed start if it is still the same file (the program started knows
    /// nothing of it; a daemon of ours removes its own).
    pub(super) pid_file: Option<(Fd, Vec<u8>)>,
    /// How to remove it ([`remove_pid_file`]).
    pub(super) remove: fn(&(Fd, Vec<u8>)),
    /// How to say the timeout: in seconds, as `DaemonOptions::set_command`
    /// says (the command line gives seconds; [`in_seconds`]). Without a
    /// command it is said in ms, as set.
    pub(super) show_timeout: fn(i64, &mut core::fmt::Formatter<'_>) -> core::fmt::Result,
}

enum Next {
    Frame(Frame),
    /// `READY=1` on the notify socket.
    NotifyReady,
    /// The daemon, our own child, died (re-exec mode).
    Died(Exit),
    Timeout,
    Eof,
    Bad(Error),
}

/// The daemon as the launcher knows it: our child in every mode (the middle
/// process started it as a sibling of its own and left), so we watch it
/// here, through a pidfd, and reap it if it dies.
struct Daemon {
    pid: Option<Pid>,
    pidfd: Option<Fd>,
    /// The readiness channel closed while the daemon lives, and the rule
    /// lets it report otherwise (a program that closed an fd it did not
    /// know): stop reading it.
    channel_closed: bool,
}

impl Daemon {
    /// Its pid arrived (a `Pid` frame).
    fn learn(&mut self, pid: Pid) {
        self.pid = Some(pid).filter(|p| *p > 0);
        if let Some(p) = self.pid {
            self.pidfd = process::pidfd(p);
        }
    }

    /// Our child's end, if it has come (reaped here).
    fn ended(&self) -> Option<core::result::Result<Exit, Errno>> {
        let pid = self.pid?;
        match process::try_wait(pid) {
            Ok(None) => None,
            Ok(Some(x)) => Some(Ok(x)),
            Err(e) => Some(Err(e)),
        }
    }
}

fn next_frame(waiter: &Fd, deadline: Deadline, d: &mut Daemon, w: &Watch) -> Next {
    loop {
        let watching = d.pid.is_some();
        let ms = deadline.poll_ms();
        let mut fds = [
            libc::pollfd { fd: if d.channel_closed { -1 } else { waiter.raw() }, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: d.pidfd.as_ref().map(Fd::raw).filter(|_| watching).unwrap_or(-1), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: w.notify.as_ref().map(NotifySocket::raw).unwrap_or(-1), events: libc::POLLIN, revents: 0 },
        ];
        // Without pidfds (Linux < 5.3), look at our child every 20 ms.
        let slice = if watching && d.pidfd.is_none() && !(0..=20).contains(&ms) { 20 } else { ms };
        match poll::poll(&mut fds, slice) {
            Ok(_) | Err(Errno(libc::EINTR)) => {}
            Err(e) => return Next::Bad(Error::sys(e, "poll")),
        }
        let [channel, _, notify] = fds;
        if notify.revents != 0 && w.notify.as_ref().is_some_and(NotifySocket::said_ready) {
            return Next::NotifyReady;
        }
        if channel.revents == 0 {
            match d.ended() {
                Some(Ok(x)) => return Next::Died(x),
                Some(Err(e)) => return Next::Bad(Error::sys(e, "waitpid (the daemon)")),
                None if deadline.expired() => return Next::Timeout,
                None => continue,
            }
        }
        let mut buf = [0u8; frame::FRAME_MAX + 1];
        match socket::recv(waiter.raw(), &mut buf, libc::MSG_DONTWAIT) {
            Ok(0) | Err(Errno(libc::ECONNRESET)) => {
                if (w.notify.is_some() || matches!(w.ready, Ready::Interval(_))) && watching {
                    // It may still say READY=1, or live out the interval.
                    d.channel_closed = true;
                    continue;
                }
                return eof(d);
            }
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

/// The channel closed. Once the daemon's pid is known, its end usually
/// follows within moments (it closed its fds while dying): say how it died.
fn eof(d: &Daemon) -> Next {
    let Some(pid) = d.pid else { return Next::Eof };
    match process::exit_within(pid, d.pidfd.as_ref().map(Fd::raw), Deadline::after_ms(1_000)) {
        Ok(Some(x)) => Next::Died(x),
        Ok(None) | Err(_) => Next::Eof,
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
pub(super) fn launcher(middle: Pid, waiter: Fd, w: Watch) -> ! {
    let started = time::monotonic_ns();
    let interval = match w.ready {
        Ready::Interval(ms) => Some(ms),
        _ => None,
    };
    let mut deadline = Deadline::after_ms(interval.unwrap_or(w.timeout_ms));
    // The interval ran out before the daemon's pid was known (an interval
    // of 0, or a slow start): its pid is then waited for, within the timeout.
    let mut interval_over = false;
    let mut daemon = Daemon { pid: None, pidfd: None, channel_closed: false };
    let verdict = loop {
        match next_frame(&waiter, deadline, &mut daemon, &w) {
            Next::Died(x) => break Verdict::Died(x),
            Next::NotifyReady if interval.is_none() => break Verdict::Ready,
            Next::NotifyReady => {}
            Next::Frame(f) => match f.kind {
                ReadyReport::Pid => {
                    daemon.learn(f.status);
                    if interval_over && daemon.ended().is_none() {
                        break Verdict::Ready;
                    }
                }
                ReadyReport::Ready if interval.is_none() => break Verdict::Ready,
                ReadyReport::Ready => {}
                ReadyReport::Failed => break Verdict::Failed(f.status, f.msg),
                ReadyReport::ExecFailed => break Verdict::ExecFailed(Errno(f.status)),
                // Only a parent knows how a process died, and we are the
                // daemon's: such a frame is a claim, not news.
                ReadyReport::Exited | ReadyReport::Signaled => {}
            },
            // The interval passed with the daemon alive (its end is looked
            // for before a timeout is reported): started.
            Next::Timeout if interval.is_some() && daemon.pid.is_some() => break Verdict::Ready,
            Next::Timeout if interval.is_some() && !interval_over => {
                interval_over = true;
                deadline = Deadline::after_ms(w.timeout_ms);
            }
            Next::Timeout => break Verdict::TimedOut,
            Next::Eof => break Verdict::Lost(err!(EPROTO, "the readiness channel closed without a report")),
            Next::Bad(e) => break Verdict::Lost(e),
        }
    };
    let mut stopped: Option<Exit> = None;
    match &verdict {
        Verdict::Ready | Verdict::Died(_) => {}
        Verdict::Failed(..) | Verdict::ExecFailed(_) => stopped = stop(&waiter, &mut daemon, false, &w),
        Verdict::TimedOut | Verdict::Lost(_) => stopped = stop(&waiter, &mut daemon, true, &w),
    }
    drop(waiter);
    reap(middle);
    let us = time::monotonic_ns().saturating_sub(started) / 1000;
    let pid = daemon.pid.unwrap_or(0);
    if let Verdict::Ready = verdict {
        log!(log::NOTICE, "daemonize: daemon pid {} is ready after {} us", pid, us);
    }
    let (code, msg) = conclusion(verdict, pid, stopped, &w);
    if let (true, Some(CommandWatch { pid_file: Some(pf), remove, .. })) = (code != 0, &w.command) {
        remove(pf);
    }
    drop(w);
    if let Some(e) = msg {
        log!(log::ERR, "daemonize: {}", e.message());
        say(e.message());
    }
    process::exit_now(code)
}

/// The launcher's exit status for `verdict`, and what it says (on stderr
/// and in the log) when the start failed.
fn conclusion(verdict: Verdict, pid: Pid, stopped: Option<Exit>, w: &Watch) -> (i32, Option<Error>) {
    match verdict {
        Verdict::Ready => (0, None),
        // A status outside 1..=255 cannot come from gracefd_fail: never exit 0 on it.
        Verdict::Failed(st, m) => (if (1..=255).contains(&st) { st } else { EXIT_LOST }, Some(err!(ECANCELED, "{}", m.as_str()))),
        Verdict::ExecFailed(e) => (EXIT_SETUP, Some(err!(ENOEXEC, "daemon could not be executed ({}): {}", Shown(&w.exe), e))),
        Verdict::Died(x) => (EXIT_DIED, Some(err!(ECHILD, "daemon (pid {}) {} before it was ready", pid, x))),
        Verdict::TimedOut => (
            EXIT_TIMEOUT,
            Some(err!(ETIMEDOUT, "daemon (pid {}) was not ready within {}; {}", pid, Within(w), describe_stop(stopped))),
        ),
        Verdict::Lost(e) => (EXIT_LOST, Some(e.context(format_args!("daemonize: lost track of the daemon (pid {}); {}", pid, describe_stop(stopped))))),
    }
}

/// The timeout, as [`Watch`] says it: in ms, as set (`300 ms`), or as
/// command mode says it ([`in_seconds`]).
struct Within<'a>(&'a Watch);

impl core::fmt::Display for Within<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ms = self.0.timeout_ms;
        if let Some(c) = &self.0.command {
            return (c.show_timeout)(ms, f);
        }
        // u64's Display, which is linked anyway, rather than i64's (the
        // sign by hand: the same text).
        let sign = if ms < 0 { "-" } else { "" };
        write!(f, "{}{} ms", Plain(sign), ms.unsigned_abs())
    }
}

/// A timeout in seconds (`30 s`, `0.5 s`), or in ms if negative (command
/// mode's [`CommandWatch::show_timeout`]).
pub(super) fn in_seconds(ms: i64, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    match u64::try_from(ms) {
        Ok(ms) => write!(f, "{}", crate::num::Secs(ms)),
        Err(_) => write!(f, "-{} ms", ms.unsigned_abs()),
    }
}

/// After a failed start: remove the pid file if the path still names the
/// file we locked (the daemon is gone; a file someone put there since is
/// left alone).
pub(super) fn remove_pid_file(pf: &(Fd, Vec<u8>)) {
    let (f, path) = pf;
    let (Ok(z), Ok(st)) = (CPath::new(path), fd::fstat(f.raw())) else { return };
    let _ = fs::unlink_if_same(&z, st.st_dev, st.st_ino);
}

fn describe_stop(s: Option<Exit>) -> &'static str {
    match s {
        Some(_) => "it was killed",
        None => "it could not be confirmed gone",
    }
}

/// After a failed start: let the daemon exit on its own (it reported
/// failure) or send SIGTERM at once (timed out), then SIGKILL; each step
/// waits for the death (seen here: the daemon is our child). Returns how it
/// ended, if that was seen. The pid cannot have been reused: we, its parent,
/// have not reaped it until then.
fn stop(waiter: &Fd, daemon: &mut Daemon, term_now: bool, w: &Watch) -> Option<Exit> {
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
            if let Some(d) = daemon.pid {
                let _ = process::kill(d, sig);
            }
        }
        let deadline = Deadline::after_ms(wait_ms);
        loop {
            match next_frame(waiter, deadline, daemon, w) {
                Next::Died(x) => return Some(x),
                Next::Frame(f) if f.kind == ReadyReport::Pid => {
                    daemon.learn(f.status);
                    if let (Some(d), true) = (daemon.pid, sig != 0) {
                        let _ = process::kill(d, sig);
                    }
                }
                Next::Frame(_) => {}
                Next::NotifyReady => {}
                Next::Timeout => break,
                Next::Eof | Next::Bad(_) => return None,
            }
        }
    }
    None
}

/// Reap the middle process: it leaves as soon as it has started the daemon;
/// SIGKILL after 5 s in case it is stuck.
fn reap(middle: Pid) {
    // It left as soon as it had started the daemon: usually gone already.
    if !matches!(process::try_wait(middle), Ok(None)) {
        return;
    }
    let pidfd = process::pidfd(middle);
    if let Ok(None) = process::exit_within(middle, pidfd.as_ref().map(Fd::raw), Deadline::after_ms(5_000)) {
        let _ = process::kill(middle, libc::SIGKILL);
        let _ = process::wait(middle);
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

    fn watch(timeout_ms: i64) -> Watch {
        Watch { timeout_ms, ready: Ready::Report, notify: None, exe: Vec::new(), command: None }
    }

    fn channel_with(bytes: Option<&[u8]>) -> Fd {
        let (waiter, child) = crate::ready::channel().unwrap();
        if let Some(b) = bytes {
            socket::send(child.raw(), b, 0).unwrap();
        }
        waiter
    }

    fn no_daemon() -> Daemon {
        Daemon { pid: None, pidfd: None, channel_closed: false }
    }

    // A malformed frame is refused with its reason (the launcher then says
    // it lost track of the daemon), never read as a report.
    #[test]
    fn a_malformed_frame_is_refused() {
        let waiter = channel_with(Some(b"XXXX\x01\0\0\0\0"));
        match next_frame(&waiter, Deadline::after_ms(5_000), &mut no_daemon(), &watch(5_000)) {
            Next::Bad(e) => assert_eq!(e.message(), "readiness frame has a bad magic"),
            _ => panic!("a malformed frame was not refused"),
        }
    }

    // Frames come through as sent; the launcher judges them.
    #[test]
    fn a_frame_is_passed_on() {
        let mut buf = [0u8; frame::FRAME_MAX];
        let n = frame::encode(ReadyReport::Pid, 77, b"", &mut buf);
        let waiter = channel_with(buf.get(..n));
        match next_frame(&waiter, Deadline::after_ms(5_000), &mut no_daemon(), &watch(5_000)) {
            Next::Frame(f) => assert_eq!((f.kind, f.status), (ReadyReport::Pid, 77)),
            _ => panic!("the frame was not passed on"),
        }
    }

    // Nothing before the deadline; EOF before the daemon's pid is known.
    #[test]
    fn nothing_is_a_timeout_and_eof_is_eof() {
        let (waiter, child) = crate::ready::channel().unwrap();
        assert!(matches!(next_frame(&waiter, Deadline::after_ms(20), &mut no_daemon(), &watch(20)), Next::Timeout));
        drop(child);
        assert!(matches!(next_frame(&waiter, Deadline::after_ms(5_000), &mut no_daemon(), &watch(5_000)), Next::Eof));
    }

    // EOF once the daemon (our child) is known: said as its death.
    #[test]
    fn eof_from_a_known_daemon_says_how_it_died() {
        let mut child = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let mut d = no_daemon();
        d.learn(child.id() as Pid);
        let waiter = channel_with(None);
        match next_frame(&waiter, Deadline::after_ms(5_000), &mut d, &watch(5_000)) {
            Next::Died(x) => assert_eq!(x, Exit::Code(3)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the daemon's death was not seen");
            }
        }
    }

    // Every verdict's exit status and whole text (the launcher prints it
    // after the program's name and logs it after "daemonize: ").
    #[test]
    fn each_verdict_is_said_in_full() {
        let say = |v: Verdict, stopped: Option<Exit>, w: &Watch| {
            let (code, e) = conclusion(v, 4321, stopped, w);
            (code, e.map(|e| std::string::String::from(e.message())))
        };
        let mut w = watch(300);
        w.exe = b"/usr/bin/srv".to_vec();
        assert_eq!(say(Verdict::Ready, None, &w), (0, None));
        let mut m = Msg::new();
        let _ = core::fmt::Write::write_str(&mut m, "port 80 is taken");
        assert_eq!(say(Verdict::Failed(3, m), None, &w), (3, Some("port 80 is taken".into())));
        assert_eq!(say(Verdict::Failed(0, m), None, &w), (EXIT_LOST, Some("port 80 is taken".into())));
        assert_eq!(say(Verdict::Failed(256, m), None, &w).0, EXIT_LOST);
        assert_eq!(
            say(Verdict::ExecFailed(Errno(libc::ENOENT)), None, &w),
            (EXIT_SETUP, Some(std::format!("daemon could not be executed (\"/usr/bin/srv\"): {}", Errno(libc::ENOENT))))
        );
        assert_eq!(
            say(Verdict::Died(Exit::Code(3)), None, &w),
            (EXIT_DIED, Some("daemon (pid 4321) exited with status 3 before it was ready".into()))
        );
        assert_eq!(
            say(Verdict::TimedOut, Some(Exit::Signal(libc::SIGTERM)), &w),
            (EXIT_TIMEOUT, Some("daemon (pid 4321) was not ready within 300 ms; it was killed".into()))
        );
        assert_eq!(
            say(Verdict::TimedOut, None, &w),
            (EXIT_TIMEOUT, Some("daemon (pid 4321) was not ready within 300 ms; it could not be confirmed gone".into()))
        );
        let lost = err!(EPROTO, "the readiness channel closed without a report");
        assert_eq!(
            say(Verdict::Lost(lost), None, &w),
            (
                EXIT_LOST,
                Some("daemonize: lost track of the daemon (pid 4321); it could not be confirmed gone: the readiness channel closed without a report".into())
            )
        );
        assert_eq!(
            say(Verdict::Lost(lost), Some(Exit::Signal(libc::SIGKILL)), &w),
            (EXIT_LOST, Some("daemonize: lost track of the daemon (pid 4321); it was killed: the readiness channel closed without a report".into()))
        );
        // Too long for a message: cut at its capacity, as one text.
        let long = err!(EIO, "{}", crate::msg::Plain(&"y".repeat(400)));
        let (_, got) = say(Verdict::Lost(long), None, &w);
        let got = got.unwrap();
        let full = std::format!("daemonize: lost track of the daemon (pid 4321); it could not be confirmed gone: {}", long.message());
        assert!(got.len() + 8 > crate::error::MSG_CAP && full.starts_with(&got), "{} of {}", got.len(), full.len());
    }

    // The timeout as the launcher says it: in ms as set; in seconds for a
    // command (the text is the same whichever integer Display prints it).
    #[test]
    fn timeout_is_said_as_set() {
        assert_eq!(std::format!("{}", Within(&watch(300))), "300 ms");
        assert_eq!(std::format!("{}", Within(&watch(-1))), "-1 ms");
        assert_eq!(std::format!("{}", Within(&watch(i64::MIN))), "-9223372036854775808 ms");
        let mut w = watch(500);
        w.command = Some(CommandWatch { pid_file: None, remove: remove_pid_file, show_timeout: in_seconds });
        assert_eq!(std::format!("{}", Within(&w)), "0.5 s");
        w.timeout_ms = 30_000;
        assert_eq!(std::format!("{}", Within(&w)), "30 s");
        w.timeout_ms = -2;
        assert_eq!(std::format!("{}", Within(&w)), "-2 ms");
    }
}
