//! Hand-off between unrelated processes: the [`Handoff`] server (old side)
//! and [`take_from`] (new side), over the core's `handoff` module.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::error::io;
use crate::handoff::{self as core_handoff, Status};

/// Serving this process's registered fds to a new instance that a supervisor
/// starts (not this process's child) — the old side of the hand-off.
///
/// Poll [`as_raw_fd`](AsRawFd::as_raw_fd) for readability and call
/// [`process`](Handoff::process) when it is readable. When a taker has the
/// fds and is ready, `process` returns `Ok(true)` and an
/// [`Event::Drain`](crate::Event::Drain) is posted: stop accepting, drain, exit.
#[derive(Debug)]
pub struct Handoff {
    fd: OwnedFd,
}

impl Handoff {
    /// Serve at `path` (a unix socket, mode 0600; peers must have our uid, or
    /// be root). A stale socket there is replaced; a live one is `EADDRINUSE`,
    /// anything else `EEXIST`.
    pub fn serve(path: impl AsRef<Path>) -> io::Result<Handoff> {
        let fd = io(core_handoff::serve(path.as_ref().as_os_str().as_bytes()))?;
        // SAFETY: a fresh fd owned by us from the core.
        Ok(Handoff { fd: unsafe { OwnedFd::from_raw_fd(fd.into_raw()) } })
    }

    /// How long one taker may hold the hand-off (one at a time; others get
    /// `EBUSY`) without asking for the fds or, while they are sent, without
    /// reading any; then it is dropped and the next one served. Default 5 s;
    /// not applied once all fds are sent (start-up may take its time).
    /// Process-wide, for connections accepted from then on. Errors:
    /// `EINVAL` unless 1 ms to a day.
    pub fn set_taker_timeout(timeout: Duration) -> io::Result<()> {
        io(core_handoff::set_taker_timeout_ms(super::timeout::timeout_ms(timeout)))
    }

    /// Accept takers and send them the fds; `Ok(true)` once one is ready (drain now).
    pub fn process(&self) -> io::Result<bool> {
        Ok(matches!(io(core_handoff::process())?, Status::Done(_)))
    }

    /// Stop serving (removes the socket if it is still ours).
    pub fn stop(self) -> io::Result<()> {
        io(core_handoff::stop()).map(|_| ())
    }
}

impl AsRawFd for Handoff {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Take every named fd from the instance serving hand-off at `path`, into
/// this process's registry: [`listen_tcp`](crate::listen_tcp) and friends
/// then find them by name, as if inherited. When this process calls
/// [`ready`](fn@crate::ready), the old instance is told to drain. Returns how
/// many fds were taken.
///
/// Errors: `ECONNREFUSED`/`ENOENT` nobody serves there; `EBUSY` another
/// taker is being served; `EACCES` refused (another uid); `EBADMSG` a
/// malformed or truncated transfer (everything received is closed);
/// `ECONNRESET` the old side died midway; `ETIMEDOUT`.
pub fn take_from(path: impl AsRef<Path>, timeout: Duration) -> io::Result<usize> {
    io(core_handoff::take(path.as_ref().as_os_str().as_bytes(), super::timeout::timeout_ms(timeout)))
}
