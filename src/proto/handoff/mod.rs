//! The hand-off wire format: what crosses the unix stream socket when one
//! process hands its named fds to another (docs/architecture.md,
//! "Hand-off framing"; docs/handoff.md). Pure code: encoders and strict decoders only.
//!
//! Every frame starts with a 12-byte head, then `len` bytes of body:
//!
//! ```text
//! offset 0  magic    "GFDH"
//!        4  version  u8 (1)
//!        5  kind     u8 (below)
//!        6  flags    u16, must be 0
//!        8  len      u32 LE, body length, bounded per kind
//! ```
//!
//! | kind | name   | body                                                   | direction |
//! |------|--------|--------------------------------------------------------|-----------|
//! | 1    | HEADER | count u32 LE, then count × (name len u8 ≥ 1, name)    | sender → receiver |
//! | 2    | CHUNK  | first u32 LE, count u32 LE (1..=252); the fds ride as `SCM_RIGHTS` on the same `sendmsg` | sender → receiver |
//! | 3    | TAKE   | empty: "send me your fds"                              | taker → old side |
//! | 4    | READY  | empty: "I serve now: drain"                            | taker → old side |
//! | 5    | REFUSE | errno u32 LE (1..=4095), then a one-line UTF-8 reason (≤ 200 bytes) | old side → taker, or control server → client |
//! | 6    | CONTROL | a command name, 1–32 bytes of `a-z` and `-`: `status`, `reload` or `stop` | control client → server |
//! | 7    | REPLY  | status u32 LE (0: done; else an errno 1..=4095), then UTF-8 text (≤ 65536 bytes): lines ended by `\n` when 0, one line otherwise | control server → client |
//! | 8    | CONNS  | empty; exactly one fd rides on it as `SCM_RIGHTS`: a unix `SOCK_SEQPACKET` socket over which the old side may pass its connections (`proto::conns`) | taker → old side, only right after READY |
//!
//! A transfer is one HEADER then CHUNK frames whose `first` runs 0, 252, …
//! until `count` fds arrived. A chunk carries at most 252 fds (musl's limit,
//! one below Linux's `SCM_MAX_FD` 253). Names follow systemd's
//! `LISTEN_FDNAMES` rule: 1–255 bytes of printable ASCII (space included),
//! no `:`. At most [`MAX_FDS`] fds per transfer.
//!
//! CONNS is an addition within version 1, backward compatible both ways: a
//! taker that takes connections sends it right after READY (a separate
//! `sendmsg`, so an old side that reads READY's 12 bytes never sees the fd)
//! and then closes; an old side of an earlier version has closed the
//! connection on READY, which discards the frame and closes the fd in flight.
//! A current old side waits after READY for CONNS or EOF (a taker of an
//! earlier version closes right after READY), bounded by the taker timeout.
//!
//! The control commands of the `gracefd` command (`gracefd ctl`) ride on the
//! same framing (CONTROL, REPLY, and REFUSE for a request not taken); their
//! bodies are encoded and decoded in [`crate::proto::control`].
//!
//! Decoding is strict: a bad magic, unknown kind, non-zero flags, a length
//! outside the kind's bounds, a bad count or name, trailing bytes, text that
//! is not UTF-8 or holds control characters — each is `EBADMSG` with a
//! reason. Only a different protocol version is told apart, as
//! `EPROTONOSUPPORT`, and a well-formed but unknown control command, as
//! `EOPNOTSUPP`, so mixed deployments say what is wrong.

use alloc::vec::Vec;

use crate::error::{Msg, Result};
use crate::err;
use crate::msg::Plain;
use crate::proto::addr::Shown;

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = *b"GFDH";
/// The protocol version this code speaks.
pub(crate) const VERSION: u8 = 1;
/// Length of a frame head.
pub const HEAD_LEN: usize = 12;
/// Most fds in one transfer.
pub const MAX_FDS: usize = 65536;
/// Longest fd name (systemd's limit, [`crate::proto::listen_env::FDNAME_MAX`]).
pub(crate) const NAME_MAX: usize = crate::proto::listen_env::FDNAME_MAX;
/// Most fds per `sendmsg` (musl's limit; Linux allows 253).
pub(crate) const CHUNK_MAX: usize = 252;
/// Largest HEADER body: the count, then `MAX_FDS` names of `NAME_MAX` bytes.
pub const HEADER_BODY_MAX: usize = 4 + MAX_FDS * (1 + NAME_MAX);
/// Longest reason in a REFUSE frame.
pub const REASON_MAX: usize = 200;
/// Length of a CHUNK body.
pub(crate) const CHUNK_BODY: usize = 8;
/// Length of a whole CHUNK frame.
pub const CHUNK_FRAME: usize = HEAD_LEN + CHUNK_BODY;
/// Longest command name in a CONTROL frame (its body: `proto::control`).
pub const COMMAND_MAX: usize = 32;
/// Longest text in a REPLY frame (a `status` report is several lines).
pub const REPLY_TEXT_MAX: usize = 65536;
/// Largest errno a REFUSE or REPLY carries.
pub(crate) const ERRNO_MAX: u32 = 4095;

/// What a hand-off frame is (the socket also carries control commands and replies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoffMsg {
    /// Count and names of the fds that follow.
    Header = 1,
    /// Announces the fds riding on this `sendmsg`.
    Chunk = 2,
    /// A taker asks for the fds.
    Take = 3,
    /// The taker serves now: the old side should drain.
    Ready = 4,
    /// The old side refuses, with an errno and a reason.
    Refuse = 5,
    /// A control command (`gracefd ctl`).
    Control = 6,
    /// The outcome of a control command: 0 or an errno, and text.
    Reply = 7,
    /// After READY: the taker takes connections over the socket riding on it.
    Conns = 8,
}

impl HandoffMsg {
    fn from_u8(b: u8) -> Option<HandoffMsg> {
        match b {
            1 => Some(HandoffMsg::Header),
            2 => Some(HandoffMsg::Chunk),
            3 => Some(HandoffMsg::Take),
            4 => Some(HandoffMsg::Ready),
            5 => Some(HandoffMsg::Refuse),
            6 => Some(HandoffMsg::Control),
            7 => Some(HandoffMsg::Reply),
            8 => Some(HandoffMsg::Conns),
            _ => None,
        }
    }

    /// Smallest and largest body this kind may have.
    pub fn body_bounds(self) -> (usize, usize) {
        match self {
            HandoffMsg::Header => (4, HEADER_BODY_MAX),
            HandoffMsg::Chunk => (CHUNK_BODY, CHUNK_BODY),
            HandoffMsg::Take | HandoffMsg::Ready | HandoffMsg::Conns => (0, 0),
            HandoffMsg::Refuse => (4, 4 + REASON_MAX),
            HandoffMsg::Control => (1, COMMAND_MAX),
            HandoffMsg::Reply => (4, 4 + REPLY_TEXT_MAX),
        }
    }

    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            HandoffMsg::Header => "header",
            HandoffMsg::Chunk => "chunk",
            HandoffMsg::Take => "take",
            HandoffMsg::Ready => "ready",
            HandoffMsg::Refuse => "refuse",
            HandoffMsg::Control => "control",
            HandoffMsg::Reply => "reply",
            HandoffMsg::Conns => "conns",
        }
    }
}

/// A decoded frame head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The kind.
    pub kind: HandoffMsg,
    /// Body length (already checked against the kind's bounds).
    pub len: usize,
}

pub(in crate::proto) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

/// Encode a head. `len` is at most [`HEADER_BODY_MAX`] for the frames this
/// module builds, so it always fits the u32 field.
pub fn encode_head(kind: HandoffMsg, len: usize) -> [u8; HEAD_LEN] {
    let mut h = [0u8; HEAD_LEN];
    let l = (len.min(u32::MAX as usize) as u32).to_le_bytes();
    for (d, s) in h.iter_mut().zip(MAGIC.iter().chain([VERSION, kind as u8, 0, 0].iter()).chain(l.iter())) {
        *d = *s;
    }
    h
}

/// Decode and check a head. EBADMSG for anything malformed or oversized,
/// EPROTONOSUPPORT for another protocol version.
pub fn decode_head(b: &[u8]) -> Result<Head> {
    if b.len() != HEAD_LEN {
        return Err(err!(EBADMSG, "hand-off frame head of {} bytes (expected {})", b.len(), HEAD_LEN));
    }
    if b.get(..4) != Some(&MAGIC[..]) {
        return Err(err!(EBADMSG, "not a gracefd hand-off frame (magic {})", Shown(b.get(..4).unwrap_or(&[]))));
    }
    let version = b.get(4).copied().unwrap_or(0);
    if version != VERSION {
        return Err(err!(
            EPROTONOSUPPORT,
            "hand-off protocol version {} is not supported (this side speaks {})",
            u32::from(version),
            u32::from(VERSION)
        ));
    }
    let k = b.get(5).copied().unwrap_or(0);
    let Some(kind) = HandoffMsg::from_u8(k) else {
        return Err(err!(EBADMSG, "hand-off frame of unknown kind {}", u32::from(k)));
    };
    if b.get(6..8) != Some(&[0u8, 0][..]) {
        return Err(err!(EBADMSG, "hand-off {} frame has non-zero flags", Plain(kind.name())));
    }
    let len = u32_at(b, 8).unwrap_or(0) as usize;
    let (min, max) = kind.body_bounds();
    if len > max {
        return Err(err!(EBADMSG, "hand-off {} frame of {} bytes is oversized (at most {})", Plain(kind.name()), len, max));
    }
    if len < min {
        return Err(err!(EBADMSG, "hand-off {} frame of {} bytes is too short (at least {})", Plain(kind.name()), len, min));
    }
    Ok(Head { kind, len })
}

/// Check an fd name: the rule of `LISTEN_FDNAMES`
/// ([`listen_env::validate_fdname`](crate::proto::listen_env::validate_fdname)).
pub use crate::proto::listen_env::validate_fdname as validate_name;

/// A whole HEADER frame for the `count` names that `name(i)` gives (`i` in
/// `0..count`), each checked as it is appended: one pass over the names,
/// the head written last. EINVAL for a bad name (or the error `name`
/// returned) or more than [`MAX_FDS`] names.
pub fn encode_header_with<'a>(count: usize, name: impl Fn(usize) -> Result<&'a [u8]>) -> Result<Vec<u8>> {
    if count > MAX_FDS {
        return Err(err!(EINVAL, "{} fds are more than one hand-off carries ({})", count, MAX_FDS));
    }
    let mut out = Vec::new();
    // Room for names of up to 7 bytes; longer ones make it grow.
    let guess = HEAD_LEN + 4 + count * 8;
    out.try_reserve_exact(guess).map_err(|_| err!(ENOMEM, "hand-off header of {} bytes", guess))?;
    out.extend_from_slice(&[0u8; HEAD_LEN]);
    out.extend_from_slice(&(count as u32).to_le_bytes());
    for i in 0..count {
        let n = name(i)?;
        validate_name(n).map_err(|e| e.context(format_args!("name #{}", i)))?;
        // validate_name bounded it to 255 bytes.
        out.push(n.len() as u8);
        out.extend_from_slice(n);
    }
    let head = encode_head(HandoffMsg::Header, out.len() - HEAD_LEN);
    if let Some(h) = out.get_mut(..HEAD_LEN) {
        h.copy_from_slice(&head);
    }
    Ok(out)
}

/// A whole HEADER frame for these names. EINVAL for a bad name or more than
/// [`MAX_FDS`] names.
pub fn encode_header<N: AsRef<[u8]>>(names: &[N]) -> Result<Vec<u8>> {
    encode_header_with(names.len(), |i| Ok(names.get(i).map_or(&[][..], |n| n.as_ref())))
}

/// Check a HEADER body and return its count: at most [`MAX_FDS`], then that
/// many valid names filling the body exactly. EBADMSG otherwise. Nothing is
/// allocated (a transfer of 10,000 fds would otherwise cost 10,000 small
/// allocations); [`header_names`] then walks the names.
pub fn check_header(body: &[u8]) -> Result<usize> {
    let Some(count) = u32_at(body, 0) else {
        return Err(err!(EBADMSG, "hand-off header of {} bytes has no count", body.len()));
    };
    let count = count as usize;
    if count > MAX_FDS {
        return Err(err!(EBADMSG, "hand-off header announces {} fds (at most {})", count, MAX_FDS));
    }
    // Each name takes at least 2 bytes: an impossible count fails before any walk.
    if count.saturating_mul(2) > body.len().saturating_sub(4) {
        return Err(err!(EBADMSG, "hand-off header announces {} fds but holds only {} bytes of names", count, body.len() - 4));
    }
    let mut at = 4usize;
    for i in 0..count {
        let Some(&len) = body.get(at) else {
            return Err(err!(EBADMSG, "hand-off header ends before name #{} of {}", i, count));
        };
        let len = len as usize;
        let Some(name) = body.get(at + 1..at + 1 + len) else {
            return Err(err!(EBADMSG, "hand-off header: name #{} of {} bytes runs past the end", i, len));
        };
        validate_name(name).map_err(|e| err!(EBADMSG, "hand-off header: name #{}: {}", i, Plain(e.message())))?;
        at += 1 + len;
    }
    if at != body.len() {
        return Err(err!(EBADMSG, "hand-off header has {} trailing bytes after {} names", body.len() - at, count));
    }
    Ok(count)
}

/// The names of a HEADER body, in order. Meant for a body [`check_header`]
/// accepted; on any other the walk stops where the body stops making sense.
pub fn header_names(body: &[u8]) -> HeaderNames<'_> {
    HeaderNames { rest: body.get(4..).unwrap_or(&[]) }
}

/// The iterator of [`header_names`].
pub struct HeaderNames<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for HeaderNames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let name = tail.get(..len as usize)?;
        self.rest = tail.get(len as usize..).unwrap_or(&[]);
        Some(name)
    }
}

/// A CHUNK announcement: fds `first .. first + count` ride on this message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Index of the first fd in the transfer.
    pub first: u32,
    /// How many fds ride on this message (1..=252).
    pub count: u32,
}

/// A whole CHUNK frame.
pub fn encode_chunk(c: Chunk) -> [u8; CHUNK_FRAME] {
    let mut f = [0u8; CHUNK_FRAME];
    let body = c.first.to_le_bytes();
    let cnt = c.count.to_le_bytes();
    for (d, s) in f.iter_mut().zip(encode_head(HandoffMsg::Chunk, CHUNK_BODY).iter().chain(body.iter()).chain(cnt.iter())) {
        *d = *s;
    }
    f
}

/// Decode a CHUNK body, checking it continues the transfer: `first` must be
/// `received` (the fds arrived so far), `count` 1..=252 and within `total`.
pub fn decode_chunk(body: &[u8], received: usize, total: usize) -> Result<Chunk> {
    let (Some(first), Some(count), true) = (u32_at(body, 0), u32_at(body, 4), body.len() == CHUNK_BODY) else {
        return Err(err!(EBADMSG, "hand-off chunk body of {} bytes (expected {})", body.len(), CHUNK_BODY));
    };
    if first as usize != received {
        return Err(err!(EBADMSG, "hand-off chunk starts at fd #{} but {} fds arrived so far", first, received));
    }
    if count == 0 || count as usize > CHUNK_MAX {
        return Err(err!(EBADMSG, "hand-off chunk announces {} fds (1 to {})", count, CHUNK_MAX));
    }
    if received + count as usize > total {
        return Err(err!(EBADMSG, "hand-off chunk of {} fds after {} exceeds the {} announced", count, received, total));
    }
    Ok(Chunk { first, count })
}

/// The chunks a transfer of `n` fds is cut into.
pub(crate) fn chunks(n: usize) -> impl Iterator<Item = Chunk> {
    (0..n).step_by(CHUNK_MAX).map(move |first| Chunk { first: first as u32, count: (n - first).min(CHUNK_MAX) as u32 })
}

/// A TAKE frame.
pub fn encode_take() -> [u8; HEAD_LEN] {
    encode_head(HandoffMsg::Take, 0)
}

/// A READY frame.
pub(crate) fn encode_ready() -> [u8; HEAD_LEN] {
    encode_head(HandoffMsg::Ready, 0)
}

/// A CONNS frame (its one fd rides beside it).
pub(crate) fn encode_conns() -> [u8; HEAD_LEN] {
    encode_head(HandoffMsg::Conns, 0)
}

/// Append `text` to `out`: at most `max` bytes, cut at a char boundary;
/// control characters (C0, DEL and C1) become spaces, except `\n` when
/// `newlines` is set. What it appends passes [`check_text`].
pub(in crate::proto) fn push_text(out: &mut Vec<u8>, text: &str, max: usize, newlines: bool) {
    let mut used = 0usize;
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        let c = if c.is_control() && !(newlines && c == '\n') { ' ' } else { c };
        let e = c.encode_utf8(&mut utf8).as_bytes();
        if used + e.len() > max {
            break;
        }
        out.extend_from_slice(e);
        used += e.len();
    }
}

/// Check the text of a REFUSE or REPLY: UTF-8, at most `max` bytes, no
/// control characters (`\n` allowed when `newlines` is set). EBADMSG naming `what`.
pub(in crate::proto) fn check_text<'a>(text: &'a [u8], max: usize, newlines: bool, what: &str) -> Result<&'a str> {
    if text.len() > max {
        return Err(err!(EBADMSG, "{} of {} bytes (at most {})", Plain(what), text.len(), max));
    }
    let Some(s) = crate::proto::utf8::as_str(text) else {
        return Err(err!(EBADMSG, "{} is not UTF-8", Plain(what)));
    };
    if let Some(c) = s.chars().find(|&c| c.is_control() && !(newlines && c == '\n')) {
        let kind = if c == '\n' { "a newline (one line expected)" } else { "control characters" };
        return Err(err!(EBADMSG, "{} contains {}", Plain(what), Plain(kind)));
    }
    Ok(s)
}

/// A whole frame of `kind`: `errno` as u32 LE, then `text` as [`push_text`]
/// makes it.
pub(in crate::proto) fn errno_text_frame(kind: HandoffMsg, errno: u32, text: &str, max: usize, newlines: bool) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + text.len().min(max));
    body.extend_from_slice(&errno.to_le_bytes());
    push_text(&mut body, text, max, newlines);
    let mut out = Vec::with_capacity(HEAD_LEN + body.len());
    out.extend_from_slice(&encode_head(kind, body.len()));
    out.extend_from_slice(&body);
    out
}

pub(in crate::proto) fn errno_ok(errno: i32) -> bool {
    errno >= 1 && errno as u32 <= ERRNO_MAX
}

/// A REFUSE frame: `errno` (1..=4095) and a reason, cut to [`REASON_MAX`]
/// bytes at a char boundary; newlines and other control characters become spaces.
pub fn encode_refuse(errno: i32, reason: &str) -> Vec<u8> {
    let e = if errno_ok(errno) { errno as u32 } else { libc::EPERM as u32 };
    errno_text_frame(HandoffMsg::Refuse, e, reason, REASON_MAX, false)
}

/// Decode a REFUSE body: (errno, reason). EBADMSG for an errno outside
/// 1..=4095 or a reason that is not one line of UTF-8.
pub fn decode_refuse(body: &[u8]) -> Result<(i32, Msg)> {
    let Some(e) = u32_at(body, 0) else {
        return Err(err!(EBADMSG, "hand-off refusal of {} bytes has no errno", body.len()));
    };
    if !(1..=ERRNO_MAX).contains(&e) {
        return Err(err!(EBADMSG, "hand-off refusal carries errno {} (1 to {})", e, ERRNO_MAX));
    }
    let s = check_text(body.get(4..).unwrap_or(&[]), REASON_MAX, false, "hand-off refusal reason")?;
    let mut m = Msg::new();
    let _ = core::fmt::Write::write_str(&mut m, s);
    Ok((e as i32, m))
}

#[cfg(test)]
pub(in crate::proto) mod tests;
