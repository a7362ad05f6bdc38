//! Waiting for an fd with a timeout.

use super::fd::RawFd;
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
