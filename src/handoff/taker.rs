//! The old side, the one taker being served: its connection and where it
//! stands. Its own file so that the serving socket (`serve.rs`), which holds
//! it, and the loop that drives it (`old_side.rs`) both take it from below.

use super::send::Outgoing;
use crate::proto::handoff as wire;
use crate::sys::fd::Fd;
use crate::sys::process::Pid;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Connected and trusted; waiting for its TAKE frame.
    AwaitTake,
    /// Sending the fds.
    Sending,
    /// Everything sent; waiting for READY.
    AwaitReady,
    /// READY came: waiting (at most the taker timeout) for a CONNS frame
    /// (the taker takes connections) or EOF (it does not: a taker of an
    /// earlier version closes right after READY).
    AwaitConns,
}

/// The one connection being served.
pub(super) struct Conn {
    pub(super) sock: Fd,
    pub(super) pid: Pid,
    pub(super) phase: Phase,
    /// Expires when the taker held the slot too long without progress (in
    /// the epoll set, so the caller's fd becomes readable then).
    pub(super) timer: Fd,
    pub(super) timeout_ms: i64,
    pub(super) inbuf: [u8; wire::HEAD_LEN],
    pub(super) inlen: usize,
    /// The transfer; each chunk takes its registry fds only when it goes.
    pub(super) out: Outgoing,
    pub(super) nfds: usize,
    /// An fd that came with the frame being read (only in `AwaitConns`).
    pub(super) infd: Option<Fd>,
    /// The taker's connection channel, from its CONNS frame.
    pub(super) channel: Option<Fd>,
}
