//! The connection-pass wire format: what crosses the readiness channel (a
//! `SOCK_SEQPACKET` socketpair, so one frame is one message) when an old
//! generation hands its live connections to the new one after it reported
//! ready. Pure code: encoders and strict decoders only.
//!
//! Every frame starts with a 12-byte head, then `len` bytes of body; the
//! message is exactly `12 + len` bytes:
//!
//! ```text
//! offset 0  magic    "GFDC"
//!        4  version  u8 (1)
//!        5  kind     u8 (below)
//!        6  flags    u16, must be 0
//!        8  len      u32 LE, body length, bounded per kind
//! ```
//!
//! | kind | name   | body | direction |
//! |------|--------|------|-----------|
//! | 1    | BATCH  | id u32, count u32 (1..=252), count × (tag u64, state length u32 ≤ 65536), then the states back to back (≤ 65536 bytes in all); the `count` fds ride as `SCM_RIGHTS` on the same message, in the same order | old → new |
//! | 2    | ACK    | id u32: "I hold them, not yet serving" | new → old |
//! | 3    | REFUSE | id u32, errno u32 (1..=4095), then a one-line UTF-8 reason (≤ 200 bytes) | new → old |
//! | 4    | COMMIT | id u32: "they are yours; I closed mine" | old → new |
//! | 5    | ABORT  | id u32: "I keep them; close yours" | old → new |
//!
//! Ownership moves only at COMMIT: a receiver serves nothing of a batch it
//! has not seen committed, and closes an uncommitted batch on ABORT or EOF.
//! So a sender that gives up waiting (ACK late or never) keeps its
//! connections, and nothing is served twice.
//!
//! Decoding is strict: a bad magic, unknown kind, non-zero flags, a length
//! outside the kind's bounds or not matching the message, a count of 0 or
//! above 252, a state too long, states above 65536 bytes in all or whose
//! lengths do not add up to the rest of the body, a reason that is not UTF-8
//! or holds control characters — each is `EBADMSG` with a reason. A different version is
//! `EPROTONOSUPPORT`, so mixed deployments say what is wrong.

use alloc::vec::Vec;

use crate::err;
use crate::error::{Msg, Result};

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = *b"GFDC";
/// The protocol version this code speaks.
pub(crate) const VERSION: u8 = 1;
/// Length of a frame head.
pub const HEAD_LEN: usize = 12;
/// Most connections in one BATCH (fds per `sendmsg`: musl's limit, one
/// below Linux's `SCM_MAX_FD`).
pub(crate) const BATCH_MAX: usize = 252;
/// Longest state of one connection.
pub const STATE_MAX: usize = 65536;
/// Most state bytes in one BATCH (all its connections together).
pub(crate) const BATCH_STATE_MAX: usize = 65536;
/// Bytes per connection in a BATCH's table: tag u64, state length u32.
pub(crate) const ENTRY_LEN: usize = 12;
/// Largest BATCH body.
pub(crate) const BATCH_BODY_MAX: usize = 8 + BATCH_MAX * ENTRY_LEN + BATCH_STATE_MAX;
/// Largest frame of any kind.
pub const FRAME_MAX: usize = HEAD_LEN + BATCH_BODY_MAX;
/// Longest reason in a REFUSE frame.
pub const REASON_MAX: usize = 200;
/// Largest REFUSE frame (what a sender needs to receive any reply).
pub(crate) const REPLY_MAX: usize = HEAD_LEN + 8 + REASON_MAX;
/// Largest errno a REFUSE carries.
pub(crate) const ERRNO_MAX: u32 = 4095;
/// Bit of a readiness frame's status (`proto::ready`, kind Ready; 0 from
/// versions before the connection pass) saying "I take passed connections":
/// the old generation keeps the readiness channel open to pass them on it.
pub(crate) const READY_TAKES_CONNS: i32 = 1;

/// What a frame is: a step of the connection pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PassStep {
    /// Connections (fds on the same message), tags and states.
    Batch = 1,
    /// The receiver holds the batch (not serving it yet).
    Ack = 2,
    /// The receiver rejected the batch (it closed the fds it got).
    Refuse = 3,
    /// The sender gave the batch up: the receiver owns it now.
    Commit = 4,
    /// The sender keeps the batch: the receiver closes its copies.
    Abort = 5,
}

impl PassStep {
    fn from_u8(b: u8) -> Option<PassStep> {
        match b {
            1 => Some(PassStep::Batch),
            2 => Some(PassStep::Ack),
            3 => Some(PassStep::Refuse),
            4 => Some(PassStep::Commit),
            5 => Some(PassStep::Abort),
            _ => None,
        }
    }

    fn body_bounds(self) -> (usize, usize) {
        match self {
            PassStep::Batch => (8 + ENTRY_LEN, BATCH_BODY_MAX),
            PassStep::Ack | PassStep::Commit | PassStep::Abort => (4, 4),
            PassStep::Refuse => (8, 8 + REASON_MAX),
        }
    }
}

/// One connection of a decoded BATCH: its tag and where its state is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The application's tag.
    pub tag: u64,
    /// Offset of the state in the frame.
    pub at: usize,
    /// Length of the state.
    pub len: usize,
}

/// A decoded frame; a BATCH's states are read from the frame it came from.
/// (Short-lived; the REFUSE reason is inline on purpose: no allocation.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Frame {
    /// Connections: `entries.len()` fds must have come with it.
    Batch {
        /// Batch id (the sender's counter).
        id: u32,
        /// One entry per fd, in fd order.
        entries: Vec<Entry>,
    },
    /// The receiver holds batch `id`.
    Ack(u32),
    /// The receiver rejected batch `id` (0: a frame it could not read).
    Refuse {
        /// The batch.
        id: u32,
        /// Why, as an errno (1..=4095).
        errno: i32,
        /// And in words.
        reason: Msg,
    },
    /// The sender commits batch `id`.
    Commit(u32),
    /// The sender aborts batch `id`.
    Abort(u32),
}

fn head(out: &mut Vec<u8>, kind: PassStep, body_len: usize) {
    out.clear();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&[0, 0]);
    // Callers bound body_len by FRAME_MAX, far below u32::MAX.
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
}

/// Encode a BATCH of `(tag, state)` into `out` (cleared first). `EINVAL`
/// for 0 or more than [`BATCH_MAX`] connections, a state above
/// [`STATE_MAX`], or states above [`BATCH_STATE_MAX`] in all: use
/// [`plan`] to cut a list into batches that fit. The checked form, kept for
/// the tests: the pass encodes the batches `plan` cut with [`encode_planned`].
#[cfg(test)]
pub(crate) fn encode_batch(id: u32, conns: &[(u64, &[u8])], out: &mut Vec<u8>) -> Result<()> {
    if conns.is_empty() || conns.len() > BATCH_MAX {
        return Err(err!(EINVAL, "a batch holds 1 to {} connections, not {}", BATCH_MAX, conns.len()));
    }
    let mut total = 0usize;
    for (_, s) in conns {
        if s.len() > STATE_MAX {
            return Err(err!(EINVAL, "connection state of {} bytes is above {}", s.len(), STATE_MAX));
        }
        total = total.saturating_add(s.len());
    }
    if total > BATCH_STATE_MAX {
        return Err(err!(EINVAL, "batch state of {} bytes is above {}", total, BATCH_STATE_MAX));
    }
    head(out, PassStep::Batch, 8 + conns.len() * ENTRY_LEN + total);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(conns.len() as u32).to_le_bytes());
    for (tag, s) in conns {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    for (_, s) in conns {
        out.extend_from_slice(s);
    }
    Ok(())
}

/// `encode_batch` for a batch that [`plan`] cut, so it fits (nothing to
/// check): its `n` connections are `conn(0..n)`, read where they are
/// instead of collected into a slice first.
pub(crate) fn encode_planned<'a>(id: u32, n: usize, conn: impl Fn(usize) -> (u64, &'a [u8]), out: &mut Vec<u8>) {
    let total: usize = (0..n).map(|i| conn(i).1.len()).sum();
    head(out, PassStep::Batch, 8 + n * ENTRY_LEN + total);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    for i in 0..n {
        let (tag, s) = conn(i);
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    for i in 0..n {
        out.extend_from_slice(conn(i).1);
    }
}

/// Encode an ACK, COMMIT or ABORT of batch `id`.
pub(crate) fn encode_id(kind: PassStep, id: u32, out: &mut Vec<u8>) -> Result<()> {
    if !matches!(kind, PassStep::Ack | PassStep::Commit | PassStep::Abort) {
        return Err(err!(EINVAL, "{:?} is not a frame of a batch id alone", kind));
    }
    head(out, kind, 4);
    out.extend_from_slice(&id.to_le_bytes());
    Ok(())
}

/// Encode a REFUSE of batch `id`. The errno is clamped into 1..=4095 and the
/// reason cut to [`REASON_MAX`] bytes at a char boundary, control characters
/// replaced by spaces, so any error can be reported.
pub fn encode_refuse(id: u32, errno: i32, reason: &str, out: &mut Vec<u8>) {
    let e = u32::try_from(errno).unwrap_or(0).clamp(1, ERRNO_MAX);
    let mut n = reason.len().min(REASON_MAX);
    while n > 0 && !reason.is_char_boundary(n) {
        n -= 1;
    }
    let text = reason.get(..n).unwrap_or("");
    // Every control character the decoder refuses (C0, DEL and C1) becomes a
    // space; a C1 one is two bytes, so the body is sized after the swap.
    let spaced = |c: char| if c.is_control() { ' ' } else { c };
    let len = text.chars().map(|c| spaced(c).len_utf8()).sum::<usize>();
    head(out, PassStep::Refuse, 8 + len);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&e.to_le_bytes());
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        out.extend_from_slice(spaced(c).encode_utf8(&mut utf8).as_bytes());
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// Decode one received message. The message must be exactly one frame.
pub fn decode(b: &[u8]) -> Result<Frame> {
    let (Some(magic), Some(&version), Some(&kind), Some(flags), Some(len)) =
        (b.get(..4), b.get(4), b.get(5), b.get(6..8), u32_at(b, 8))
    else {
        return Err(err!(EBADMSG, "connection-pass frame of {} bytes is shorter than its head", b.len()));
    };
    if magic != MAGIC {
        return Err(err!(EBADMSG, "connection-pass frame has a bad magic"));
    }
    if version != VERSION {
        return Err(err!(EPROTONOSUPPORT, "connection-pass frame of version {} (this side speaks {})", u32::from(version), u32::from(VERSION)));
    }
    let Some(kind) = PassStep::from_u8(kind) else {
        return Err(err!(EBADMSG, "connection-pass frame of unknown kind {}", u32::from(kind)));
    };
    if flags != [0, 0] {
        return Err(err!(EBADMSG, "connection-pass frame has unknown flags"));
    }
    let len = len as usize;
    let (lo, hi) = kind.body_bounds();
    if len < lo || len > hi {
        return Err(err!(EBADMSG, "{:?} frame body of {} bytes is outside {}..={}", kind, len, lo, hi));
    }
    let body = b.get(HEAD_LEN..).unwrap_or(&[]);
    if body.len() != len {
        return Err(err!(EBADMSG, "{:?} frame says {} body bytes but carries {}", kind, len, body.len()));
    }
    // Bounds were checked above: a u32 at offset 0 exists for every kind.
    let id = u32_at(body, 0).unwrap_or(0);
    match kind {
        PassStep::Ack => Ok(Frame::Ack(id)),
        PassStep::Commit => Ok(Frame::Commit(id)),
        PassStep::Abort => Ok(Frame::Abort(id)),
        PassStep::Refuse => decode_refuse(id, body),
        PassStep::Batch => decode_batch(id, body),
    }
}

fn decode_refuse(id: u32, body: &[u8]) -> Result<Frame> {
    let errno = u32_at(body, 4).unwrap_or(0);
    if errno == 0 || errno > ERRNO_MAX {
        return Err(err!(EBADMSG, "REFUSE carries errno {}, outside 1..={}", errno, ERRNO_MAX));
    }
    let Some(text) = crate::proto::utf8::as_str(body.get(8..).unwrap_or(&[])) else {
        return Err(err!(EBADMSG, "REFUSE reason is not UTF-8"));
    };
    if text.chars().any(char::is_control) {
        return Err(err!(EBADMSG, "REFUSE reason holds control characters"));
    }
    let mut reason = Msg::new();
    let _ = core::fmt::Write::write_str(&mut reason, text);
    Ok(Frame::Refuse { id, errno: errno as i32, reason })
}

fn decode_batch(id: u32, body: &[u8]) -> Result<Frame> {
    let count = u32_at(body, 4).unwrap_or(0) as usize;
    if count == 0 || count > BATCH_MAX {
        return Err(err!(EBADMSG, "BATCH of {} connections (1 to {} allowed)", count, BATCH_MAX));
    }
    let table_end = 8 + count * ENTRY_LEN;
    if body.len() < table_end {
        return Err(err!(EBADMSG, "BATCH of {} connections has a body of only {} bytes", count, body.len()));
    }
    let mut entries = Vec::with_capacity(count);
    let mut at = HEAD_LEN + table_end;
    for i in 0..count {
        let e = 8 + i * ENTRY_LEN;
        let (Some(tag), Some(len)) = (u64_at(body, e), u32_at(body, e + 8)) else {
            return Err(err!(EBADMSG, "BATCH table is cut short"));
        };
        let len = len as usize;
        if len > STATE_MAX {
            return Err(err!(EBADMSG, "BATCH connection {} has a state of {} bytes (at most {})", i, len, STATE_MAX));
        }
        entries.push(Entry { tag, at, len });
        at += len;
    }
    let states = at - HEAD_LEN - table_end;
    if at != HEAD_LEN + body.len() {
        return Err(err!(EBADMSG, "BATCH states add up to {} bytes but {} follow the table", states, body.len() - table_end));
    }
    // The body bound leaves room for a full table: a short table must not
    // buy more state than a batch may carry.
    if states > BATCH_STATE_MAX {
        return Err(err!(EBADMSG, "BATCH states add up to {} bytes (at most {} in a batch)", states, BATCH_STATE_MAX));
    }
    Ok(Frame::Batch { id, entries })
}

/// Cut connections with these state lengths into batches that fit: returns
/// the end index of each batch (the first starts at 0). A state above
/// [`STATE_MAX`] is `EINVAL` (nothing is cut).
pub fn plan(state_lens: impl Iterator<Item = usize>) -> Result<Vec<usize>> {
    let mut ends = Vec::new();
    let (mut n, mut bytes, mut i) = (0usize, 0usize, 0usize);
    for len in state_lens {
        if len > STATE_MAX {
            return Err(err!(EINVAL, "connection {} has a state of {} bytes (at most {})", i, len, STATE_MAX));
        }
        if n == BATCH_MAX || bytes + len > BATCH_STATE_MAX {
            ends.push(i);
            n = 0;
            bytes = 0;
        }
        n += 1;
        bytes += len;
        i += 1;
    }
    if n > 0 {
        ends.push(i);
    }
    Ok(ends)
}

#[cfg(test)]
mod tests;
