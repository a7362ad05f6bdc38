//! The middle process: the session leader between the launcher and the
//! daemon, and the daemon's parent until the launcher is done.

use crate::proto::ready::{self as frame, ReadyReport};
use crate::sys::fd::{self, RawFd};
use crate::sys::process::{self, Exit, Pid};
use crate::sys::{poll, socket};

/// The middle process: tell the launcher the daemon's pid, then wait for the
/// daemon's death (report it) or for the launcher's end to close (leave).
/// Async-signal-safe only; never returns.
pub(super) fn watch(daemon: Pid, ch: RawFd) -> ! {
    fd::close_all_but(ch);
    let mut buf = [0u8; frame::FRAME_MAX];
    let n = frame::encode(ReadyReport::Pid, daemon, b"", &mut buf);
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
                    Exit::Code(c) => (ReadyReport::Exited, c),
                    Exit::Signal(s) => (ReadyReport::Signaled, s),
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
