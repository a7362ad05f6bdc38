//! The receiving end of a private `NOTIFY_SOCKET`: a non-blocking unix
//! datagram socket bound at a path the caller chose (inside a directory only
//! it can write), and the drain that reads what arrived with the library's
//! sd_notify parser (`proto::notify::parse_received`). Shared by the
//! daemonizer's launcher (`daemon/notify_socket.rs`: one socket in a 0700
//! directory) and the supervisor (`supervise/worker_notify.rs`: a locked
//! directory of per-worker sockets); each keeps its own directory rules.
//! `#![no_std]`: `sys` only.

use crate::proto::notify::{self, Received};
use crate::sys::fd::{Fd, RawFd};
use crate::sys::socket::{self, SockAddr};
use crate::sys::SysResult;

/// Longest datagram read whole (a longer one is cut: its first lines count).
const DATAGRAM_MAX: usize = 4096;
/// Fds taken per datagram (e.g. `FDSTORE=1`); all are closed here.
const FDS_MAX: usize = 16;

/// Longest base directory used for the sockets' directories: a socket path
/// must fit in `sun_path` (108 bytes) with the directory and socket names
/// below it.
const BASE_MAX: usize = 60;

/// Where the private directories for the sockets go: `$TMPDIR` (from the
/// start-up environment) when it is absolute and short enough, else `/tmp`.
pub(crate) fn base_dir() -> &'static [u8] {
    match crate::startup::get().var(b"TMPDIR") {
        Some(t) if t.first() == Some(&b'/') && t.len() <= BASE_MAX && !t.contains(&0) => t,
        _ => b"/tmp",
    }
}

/// A non-blocking, CLOEXEC unix datagram socket bound at `path`.
pub(crate) fn bind(path: &[u8]) -> SysResult<Fd> {
    let addr = SockAddr::unix(path, false)?;
    let s = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK, 0)?;
    socket::bind(s.raw(), &addr)?;
    Ok(s)
}

/// Datagrams read per [`drain`]: a sender that never stops cannot keep the
/// caller's loop (signals, timers, the control socket) waiting; the socket
/// stays readable, so the caller's next poll comes back for the rest.
const PER_DRAIN: usize = 8;

/// Read the pending datagrams on `sock`, at most [`PER_DRAIN`], handing each,
/// parsed, to `each`. Fds sent along are closed: nobody here keeps an fd
/// store. Stops at the first error (`EAGAIN`: nothing more is pending).
pub(crate) fn drain(sock: RawFd, mut each: impl FnMut(Received<'_>)) {
    let mut buf = [0u8; DATAGRAM_MAX];
    let mut fds = [0 as RawFd; FDS_MAX];
    for _ in 0..PER_DRAIN {
        let Ok(r) = socket::recv_with_fds(sock, &mut buf, &mut fds, libc::MSG_DONTWAIT) else { break };
        for f in fds.iter().take(r.nfds) {
            // SAFETY: just received with this datagram: ours alone, closed here.
            drop(unsafe { Fd::from_raw(*f) });
        }
        each(notify::parse_received(buf.get(..r.len).unwrap_or(&[])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fd;

    #[test]
    fn hands_over_each_datagram_and_closes_the_fds_sent_along() {
        let path = std::env::temp_dir().join(format!("gracefd-inbox-test-{}", std::process::id()));
        let path = path.to_str().unwrap().as_bytes().to_vec();
        let _ = std::fs::remove_file(std::str::from_utf8(&path).unwrap());
        let inbox = bind(&path).unwrap();
        let to = SockAddr::unix(&path, false).unwrap();
        let sender = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
        let (pipe_r, pipe_w) = fd::pipe().unwrap();
        fd::set_nonblocking(pipe_r.raw(), true).unwrap(); // an fd left open fails the read (EAGAIN), never hangs it
        socket::send_with_fds(sender.raw(), b"STATUS=one", &[pipe_w.raw()], Some(&to)).unwrap();
        drop(pipe_w); // the only writer left is the copy in flight
        socket::send_with_fds(sender.raw(), b"READY=1\nSTATUS=two", &[], Some(&to)).unwrap();
        let mut seen = Vec::new();
        drain(inbox.raw(), |r| seen.push((r.ready, r.status.map(<[u8]>::to_vec))));
        assert_eq!(seen, vec![(false, Some(b"one".to_vec())), (true, Some(b"two".to_vec()))]);
        let mut b = [0u8; 1];
        assert_eq!(fd::read(pipe_r.raw(), &mut b).unwrap(), 0, "the fd sent along was closed by drain");
        let mut more = 0;
        drain(inbox.raw(), |_| more += 1);
        assert_eq!(more, 0, "nothing pending: drain returns at once");
        // A sender that keeps sending: one drain reads a bounded batch, the
        // next one the rest.
        // (9 fit in the kernel's default queue of 10 datagrams; the sender
        // does not block, so a full queue fails the send instead of hanging.)
        fd::set_nonblocking(sender.raw(), true).unwrap();
        for _ in 0..PER_DRAIN + 1 {
            socket::send_with_fds(sender.raw(), b"STATUS=busy", &[], Some(&to)).unwrap();
        }
        let (mut first, mut second) = (0, 0);
        drain(inbox.raw(), |_| first += 1);
        drain(inbox.raw(), |_| second += 1);
        let _ = std::fs::remove_file(std::str::from_utf8(&path).unwrap());
        assert_eq!((first, second), (PER_DRAIN, 1));
    }
}
