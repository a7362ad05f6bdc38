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
//! The states can be given as text ([`notify()`]) or typed ([`State`],
//! [`send`]).
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

use std::fmt::{self, Write as _};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use super::error::{invalid, io};
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
    sent(core_notify::barrier(super::timeout::timeout_ms(timeout)))
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

/// One state for systemd, typed: the same `KEY=VALUE` lines as
/// [`notify()`], without spelling them. Several go in one message with
/// [`send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State<'a> {
    /// `READY=1`. (Prefer [`crate::ready()`], which also tells an old
    /// generation or a launcher, and sends `MAINPID` after an upgrade.)
    Ready,
    /// `RELOADING=1` (the current `MONOTONIC_USEC` is added).
    Reloading,
    /// `STOPPING=1`.
    Stopping,
    /// `STATUS=<text>`: one line.
    Status(&'a str),
    /// `WATCHDOG=1`: the watchdog ping.
    Watchdog,
    /// `WATCHDOG=trigger`: ask systemd to act as if the watchdog expired.
    WatchdogTrigger,
    /// `EXTEND_TIMEOUT_USEC=<µs>`: more time for the current start, reload
    /// or stop (rounded up to whole microseconds).
    ExtendTimeout(Duration),
    /// `MAINPID=<pid>`.
    MainPid(u32),
    /// `ERRNO=<n>`: the errno of a failure, for `systemctl status`.
    Errno(i32),
    /// Any other `KEY=VALUE` line (the key without `=`, neither with a
    /// newline).
    Other(&'a str, &'a str),
}

impl State<'_> {
    /// Checks what the core cannot see once the lines are joined: a text
    /// that is one line, a key without `=`.
    fn check(&self) -> Result<(), String> {
        let one_line = |what: &str, v: &str| if v.contains(['\n', '\0']) { Err(format!("{what} {v:?} must be one line without NUL")) } else { Ok(()) };
        match *self {
            State::Status(t) => one_line("STATUS", t),
            State::Other(k, v) => {
                one_line("key", k)?;
                one_line("value", v)?;
                if k.is_empty() || k.contains('=') {
                    return Err(format!("key {k:?} must be non-empty and without '='"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for State<'_> {
    /// The `KEY=VALUE` line (without the newline).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            State::Ready => f.write_str("READY=1"),
            State::Reloading => f.write_str("RELOADING=1"),
            State::Stopping => f.write_str("STOPPING=1"),
            State::Status(t) => write!(f, "STATUS={t}"),
            State::Watchdog => f.write_str("WATCHDOG=1"),
            State::WatchdogTrigger => f.write_str("WATCHDOG=trigger"),
            State::ExtendTimeout(d) => write!(f, "EXTEND_TIMEOUT_USEC={}", d.as_nanos().div_ceil(1000)),
            State::MainPid(p) => write!(f, "MAINPID={p}"),
            State::Errno(n) => write!(f, "ERRNO={n}"),
            State::Other(k, v) => write!(f, "{k}={v}"),
        }
    }
}

/// Send these states in one message. Returns whether it was sent (`false`
/// outside systemd; the states are checked either way).
///
/// Errors: `EINVAL` (kind `InvalidInput`) for no state at all, a
/// [`State::Status`] or [`State::Other`] with a newline or NUL, or an
/// `Other` key that is empty or has `=`; then as [`notify()`].
///
/// ```
/// use gracefd::api::notify::{self, State};
/// use std::time::Duration;
/// assert_eq!(notify::send(&[State::Reloading, State::Status("reloading the config")])?, false);
/// assert_eq!(notify::send(&[State::ExtendTimeout(Duration::from_secs(10))])?, false);
/// assert!(notify::send(&[State::Status("two\nlines")]).is_err());
/// assert_eq!(State::MainPid(42).to_string(), "MAINPID=42");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn send(states: &[State<'_>]) -> io::Result<bool> {
    if states.is_empty() {
        return Err(invalid(format_args!("sd_notify: no state to send")));
    }
    let mut text = String::new();
    for st in states {
        st.check().map_err(|why| invalid(format_args!("sd_notify: {why}")))?;
        if !text.is_empty() {
            text.push('\n');
        }
        let _ = write!(text, "{st}");
    }
    notify(&text)
}
