//! Hand-off between unrelated processes over a unix stream socket
//! (docs/handoff.md): a new instance started by a supervisor takes the named fds of
//! the running one, instead of inheriting them.
//!
//! Three layers, one wire format (`proto::handoff`):
//!
//! - **One transfer** over any connected unix stream socket: [`send_fds_with`] /
//!   [`recv_fds`]. A header frame (count and names), then the fds in chunks of
//!   at most 252 per `sendmsg` (`MSG_NOSIGNAL`), received with
//!   `MSG_CMSG_CLOEXEC`. `MSG_CTRUNC`, a malformed frame or a count mismatch
//!   closes every fd received so far and fails `EBADMSG`; a peer that goes
//!   away fails `ECONNRESET`/`EPIPE`; every wait is bounded by a [`Deadline`].
//!   Neither side ever flips the socket's shared `O_NONBLOCK`: sends and
//!   receives are `MSG_DONTWAIT` plus `poll`.
//! - **The old side** ([`serve`], [`process()`], [`stop`]; `serve.rs` its
//!   socket, `old_side.rs` serving the takers, `taker.rs` the one being served): a socket at a path
//!   (mode 0600), an epoll fd the program polls, no threads. Each connection
//!   is checked with `SO_PEERCRED` (same uid or root). One taker at a time
//!   gets every registry entry; when it reports ready the hand-off is done:
//!   `events::DRAIN` is posted, the serving socket closed and its path removed
//!   (if it is still ours). A taker that dies first changes nothing: the
//!   next one is served.
//! - **The new side** ([`take`], `new_side.rs`): connect, receive every named fd into the
//!   registry (`registry::import_received`, as if inherited), keep the connection; the
//!   program's `gracefd_ready()` ends up in [`report_ready`], which tells the
//!   old side to drain.
//!
//! [`Deadline`]: crate::sys::time::Deadline

mod receive;
mod send;
mod new_side;
mod old_side;
mod serve;
mod taker;
#[cfg(test)]
mod tests;

pub(crate) use receive::recv_fds;
pub(crate) use send::send_fds_with;
#[cfg(test)]
pub(crate) use send::send_fds;
pub(crate) use serve::{serve, stop};
pub(crate) use new_side::take;
pub(crate) use old_side::{process, set_taker_timeout_ms, Status, DEFAULT_TAKER_TIMEOUT_MS};

use crate::sys::process;

/// Whether a peer with `uid` may exchange fds with us: same uid, or root.
fn trusted(uid: libc::uid_t) -> bool {
    uid == 0 || uid == process::geteuid()
}
