//! Zero-drain upgrades: the old generation hands its live connections to the
//! new one instead of draining them, over the core's `conns` module.
//!
//! New side: [`take_connections`] before [`ready`](fn@crate::ready); then,
//! each time [`Event::Conns`](crate::Event::Conns) arrives, take them with
//! [`next_connection`] until it returns `None`. Old side: once
//! [`Upgrade::run`](crate::Upgrade::run) (or a pending upgrade) succeeded,
//! [`pass_connections`] the ones with nothing in flight, close those that
//! went, and drain the rest.
//!
//! The same works between unrelated processes: a process that took its fds
//! by hand-off ([`take_from`](crate::take_from)) calls
//! [`take_connections`] after the take and before ready; the serving side
//! may pass once its hand-off is done.
//!
//! ```no_run
//! # fn f(idle: Vec<(std::net::TcpStream, Vec<u8>)>) -> std::io::Result<()> {
//! use std::os::fd::AsFd;
//! use std::time::Duration;
//! // Old generation, after a successful upgrade:
//! let list: Vec<gracefd::Connection<'_>> =
//!     idle.iter().map(|(s, buf)| gracefd::Connection { fd: s.as_fd(), tag: 0, state: buf }).collect();
//! let passed = match gracefd::pass_connections(&list, Duration::from_secs(2)) {
//!     Ok(()) => list.len(),
//!     Err(e) => e.passed, // the rest are still ours: drain them
//! };
//! drop(list);
//! let mut idle = idle;
//! idle.drain(..passed); // closes our copies: those connections live on in the new generation
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::error::io;
use crate::conns as core_conns;

/// A connection to pass: the socket (borrowed), a tag and the state the new
/// generation gets with it (at most [`CONNECTION_STATE_MAX`] bytes; for
/// HTTP/1.1, the bytes of the next request read so far).
#[derive(Clone, Copy, Debug)]
pub struct Connection<'a> {
    /// A connected stream socket (TCP or unix).
    pub fd: BorrowedFd<'a>,
    /// Handed to the new generation as is.
    pub tag: u64,
    /// Handed to the new generation as is.
    pub state: &'a [u8],
}

/// Longest state of one passed connection.
pub const CONNECTION_STATE_MAX: usize = core_conns::STATE_MAX;

/// A connection received from the older generation.
#[derive(Debug)]
pub struct PassedConnection {
    /// The socket (CLOEXEC; blocking mode as the old generation left it).
    pub fd: OwnedFd,
    /// The old generation's tag.
    pub tag: u64,
    /// The old generation's state bytes.
    pub state: Vec<u8>,
}

/// A pass that stopped early: the first `passed` connections went (close
/// yours), the rest did not (still yours: serve or drain them).
#[derive(Debug)]
pub struct PassError {
    /// How many connections, from the start of the list, were passed.
    pub passed: usize,
    /// Why the rest were not.
    pub error: io::Error,
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} connection(s) passed, then: {}", self.passed, self.error)
    }
}

impl std::error::Error for PassError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// New side: take the connections the older generation passes (call before
/// [`ready`](fn@crate::ready)). Returns whether this process was started by
/// an upgrade or took its fds by hand-off and is not ready yet (else nothing
/// will arrive). A library thread (signals blocked,
/// no callbacks) receives them after ready and posts
/// [`Event::Conns`](crate::Event::Conns). Never fails.
pub fn take_connections() -> io::Result<bool> {
    io(core_conns::enable())
}

/// New side: the next connection the older generation passed, if one waits.
pub fn next_connection() -> Option<PassedConnection> {
    // The state always fits: nothing longer than STATE_MAX is ever queued.
    match core_conns::next(usize::MAX) {
        // SAFETY: the core hands over an fd it owned.
        Ok(Some(p)) => Some(PassedConnection { fd: unsafe { OwnedFd::from_raw_fd(p.fd.into_raw()) }, tag: p.tag, state: p.state }),
        _ => None,
    }
}

/// New side: how many passed connections wait to be taken.
pub fn pending_connections() -> usize {
    core_conns::pending()
}

/// Old side: the pid of the new generation that takes connections. Errors:
/// `ENOTCONN` if none does (no upgrade or hand-off finished, it did not call
/// [`take_connections`], or a failed pass closed the channel); `EBUSY` while a
/// pass runs.
pub fn can_pass_connections() -> io::Result<u32> {
    io(core_conns::can_pass()).map(|p| p as u32)
}

/// Old side: pass `conns` to the new generation, in order, waiting at most
/// `timeout` in all. `Ok(())`: all went — close your copies (the connections
/// live on there). `Err(e)`: the first `e.passed` went, the rest are still
/// yours, untouched.
///
/// Errors (in `e.error`): `EINVAL` (nothing passed) for a socket that is not a
/// connected stream, one given twice (even as two fds of one socket), a state above
/// [`CONNECTION_STATE_MAX`]; `ENOTCONN` no new generation takes connections;
/// `EBUSY` another pass runs; `ETIMEDOUT` it stalled; `EPIPE` it is gone; the
/// errno of a batch it refused; `EBADMSG` it answered nonsense. After
/// `ETIMEDOUT`, `EPIPE` and `EBADMSG` further passes fail with `ENOTCONN`.
pub fn pass_connections(conns: &[Connection<'_>], timeout: Duration) -> Result<(), PassError> {
    let items: Vec<core_conns::Item<'_>> =
        conns.iter().map(|c| core_conns::Item { fd: c.fd.as_raw_fd(), tag: c.tag, state: c.state }).collect();
    let (passed, res) = core_conns::pass(&items, super::timeout::timeout_ms(timeout));
    res.map_err(|e| PassError { passed, error: e.into() })
}

/// Old side: close the channel to the new generation once nothing more will
/// be passed (exiting does the same). Called while a pass runs on another
/// thread, it closes the channel when that pass ends.
pub fn release_connections() {
    core_conns::release()
}
