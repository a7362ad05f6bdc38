//! sd_notify: tell systemd about readiness, reloads, stopping, status, the
//! watchdog, and give it fds to keep.
//!
//! Each call sends one datagram of `KEY=VALUE` lines to `$NOTIFY_SOCKET` (a
//! path, or `@name` in the abstract namespace), read once at start-up. Not
//! under systemd (`NOTIFY_SOCKET` unset), every call succeeds and does
//! nothing, returning `false` (or 0); arguments are still checked, so
//! mistakes show up in development too. libsystemd is not needed.
//!
//! Errors common to every call: `EINVAL` (or `ENAMETOOLONG`) for a
//! malformed `NOTIFY_SOCKET`, quoted in the message; the `sendmsg` errno
//! (`ENOENT`, `ECONNREFUSED` when nothing listens there…) with the socket
//! named. A send blocks, like libsystemd's, if systemd's queue is full.
//!
//! [`crate::ready()`] already sends `READY=1` (and `MAINPID` after an upgrade),
//! and an upgrade hands `MAINPID` over to the new generation by itself: most
//! programs only add [`status`], [`reloading`]/[`stopping`] and the
//! [`watchdog`].
//!
//! ```
//! use gracefd::api::notify;
//! // Doctests run outside systemd: nothing is sent, nothing fails.
//! assert_eq!(notify::status("serving 3 sites")?, false);
//! assert_eq!(notify::reloading()?, false);
//! assert_eq!(notify::watchdog_interval()?, None);
//! // Still checked: a status is one line.
//! assert!(notify::status("two\nlines").is_err());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use super::error::io;
use crate::notify as core_notify;

fn sent(r: crate::Result<usize>) -> io::Result<bool> {
    io(r).map(|n| n > 0)
}

fn raw(fds: &[BorrowedFd<'_>]) -> Vec<RawFd> {
    fds.iter().map(AsRawFd::as_raw_fd).collect()
}

/// `READY=1`, plus `MAINPID=<pid>` when this process is a new generation
/// (systemd still takes the old one for the main process). Only the systemd
/// part of [`crate::ready()`], which is what most programs want instead.
/// Returns whether it was sent.
pub fn ready() -> io::Result<bool> {
    sent(core_notify::ready(crate::lineage::is_upgrade()))
}

/// `RELOADING=1` with `MONOTONIC_USEC=<now>` (systemd needs both for
/// `Type=notify-reload`); send [`ready`] when the reload is done. Returns
/// whether it was sent.
pub fn reloading() -> io::Result<bool> {
    sent(core_notify::reloading())
}

/// `STOPPING=1`: the service is shutting down. Returns whether it was sent.
pub fn stopping() -> io::Result<bool> {
    sent(core_notify::stopping())
}

/// `STATUS=<text>`, the line `systemctl status` shows (empty clears it).
/// `EINVAL` if `text` has a newline or NUL. Returns whether it was sent.
pub fn status(text: &str) -> io::Result<bool> {
    sent(core_notify::status(text.as_bytes()))
}

/// Any state, as `KEY=VALUE` lines (`"WATCHDOG=1"`, `"EXTEND_TIMEOUT_USEC=…"`),
/// sent as given, except that `RELOADING=1` without `MONOTONIC_USEC=` gets
/// the current time appended. Returns whether it was sent.
///
/// Errors: `EINVAL` for a malformed state (not `KEY=VALUE` lines, an empty
/// line, a NUL); `EMSGSIZE` above 4096 bytes.
pub fn notify(state: &str) -> io::Result<bool> {
    sent(core_notify::notify(state.as_bytes()))
}

/// Like [`notify`], with `fds` (borrowed: systemd gets duplicates) as
/// `SCM_RIGHTS`, typically `"FDSTORE=1\nFDNAME=name"`. More than 253 fds go
/// in several messages, each with the whole state. Returns the number of
/// messages sent (0 outside systemd).
///
/// Errors: as [`notify`]; `EBADF` if an fd is not open (nothing is sent).
/// If a later message fails, the earlier ones were delivered: the message
/// says how many fds went out.
pub fn notify_with_fds(state: &str, fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    io(core_notify::notify_with_fds(state.as_bytes(), &raw(fds)))
}

/// Keep `fds` in systemd's fd store (`FDSTORE=1`, `FDNAME=<name>` if
/// given): systemd passes them back at the next start, named in
/// `LISTEN_FDNAMES` ([`crate::inherited`] finds them). Returns the number of
/// messages sent (0 outside systemd). Errors: `EINVAL` for a bad name;
/// otherwise as [`notify_with_fds`].
pub fn fd_store(fds: &[BorrowedFd<'_>], name: Option<&str>) -> io::Result<usize> {
    io(core_notify::fd_store(&raw(fds), name.map(str::as_bytes)))
}

/// Wait until systemd has processed everything this process sent before
/// (`BARRIER=1`, like `sd_notify_barrier`), at most `timeout`. Returns
/// whether there was a systemd to wait for. `ETIMEDOUT` when it did not
/// confirm in time.
pub fn barrier(timeout: Duration) -> io::Result<bool> {
    let ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    sent(core_notify::barrier(ms))
}

/// The watchdog interval systemd expects pings within (`WATCHDOG_USEC`,
/// honouring `WATCHDOG_PID`), or `None` if there is no watchdog for this
/// process. Ping with [`watchdog`], customarily every half interval.
/// `EINVAL` if either variable is malformed.
pub fn watchdog_interval() -> io::Result<Option<Duration>> {
    io(core_notify::watchdog_usec()).map(|us| (us > 0).then(|| Duration::from_micros(us)))
}

/// `WATCHDOG=1`: the watchdog ping. Returns whether it was sent.
pub fn watchdog() -> io::Result<bool> {
    sent(core_notify::notify(b"WATCHDOG=1"))
}
