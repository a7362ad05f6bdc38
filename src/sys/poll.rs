//! Waiting for an fd with a timeout.

use super::fd::{Fd, RawFd};
use super::time::Deadline;
use super::{cvt, Errno, SysResult};

/// Wait until `fd` has one of `events` (POLLIN, POLLOUT…) or the deadline passes.
/// Returns the revents, or 0 on timeout. EINTR is retried with the remaining time.
pub fn wait(fd: RawFd, events: libc::c_short, deadline: Deadline) -> SysResult<libc::c_short> {
    loop {
        let mut p = libc::pollfd { fd, events, revents: 0 };
        // SAFETY: one valid pollfd.
        match cvt(unsafe { libc::poll(&mut p, 1, deadline.poll_ms()) }) {
            Ok(0) => return Ok(0),
            Ok(_) => return Ok(p.revents),
            Err(Errno(libc::EINTR)) => {
                if deadline.expired() {
                    return Ok(0);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// `poll` over many fds with a timeout in ms (-1 = forever); returns the ready count.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> SysResult<usize> {
    // SAFETY: fds is a valid slice of pollfd.
    cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) }).map(|n| n as usize)
}

/// `epoll_create1(EPOLL_CLOEXEC)`: a poll-able set of fds. The epoll fd itself
/// is readable while any fd in the set is ready, so a program can poll one fd
/// for many the library watches.
pub(crate) fn epoll_create() -> SysResult<Fd> {
    // SAFETY: plain syscall.
    let r = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: fresh fd.
    Ok(unsafe { Fd::from_raw(r) })
}

fn epoll_ctl(ep: RawFd, op: libc::c_int, fd: RawFd, events: u32) -> SysResult<()> {
    let mut ev = libc::epoll_event { events, u64: fd as u64 };
    // SAFETY: ev is a valid epoll_event.
    cvt(unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) }).map(|_| ())
}

/// Add `fd` to the set with `events` (`EPOLLIN`…, level-triggered).
pub(crate) fn epoll_add(ep: RawFd, fd: RawFd, events: u32) -> SysResult<()> {
    epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, events)
}

/// Change the events watched for `fd`.
pub(crate) fn epoll_modify(ep: RawFd, fd: RawFd, events: u32) -> SysResult<()> {
    epoll_ctl(ep, libc::EPOLL_CTL_MOD, fd, events)
}

/// Remove `fd` from the set.
pub(crate) fn epoll_remove(ep: RawFd, fd: RawFd) -> SysResult<()> {
    epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, 0)
}

/// Why [`send_all`] stopped short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendShort {
    /// `sendmsg` failed (`EIO` for a send that took nothing).
    Send(Errno),
    /// `poll` failed.
    Poll(Errno),
    /// The deadline passed before the socket had room.
    Timeout,
}

/// Send all of `data` on `fd`, `fds` riding on its first byte, waiting for
/// room with `poll` until `deadline` (each send is `MSG_DONTWAIT`, so the
/// socket's shared `O_NONBLOCK` is never changed). On a seqpacket socket the
/// one send takes all. The one send-and-wait loop of the hand-off and the
/// connection pass: each caller words the failure itself. On failure, also
/// how many bytes of `data` had gone (the fds went with the first byte).
pub(crate) fn send_all(fd: RawFd, data: &[u8], fds: &[RawFd], deadline: Deadline) -> Result<(), (SendShort, usize)> {
    let mut off = 0;
    while let Some(rest) = data.get(off..).filter(|r| !r.is_empty()) {
        let carry = if off == 0 { fds } else { &[] };
        match super::socket::send_with_fds_flags(fd, rest, carry, None, libc::MSG_DONTWAIT) {
            Ok(0) => return Err((SendShort::Send(Errno(libc::EIO)), off)),
            Ok(n) => off += n,
            Err(Errno(libc::EAGAIN)) => match wait(fd, libc::POLLOUT, deadline) {
                Ok(0) => return Err((SendShort::Timeout, off)),
                Ok(_) => {}
                Err(e) => return Err((SendShort::Poll(e), off)),
            },
            Err(e) => return Err((SendShort::Send(e), off)),
        }
    }
    Ok(())
}
