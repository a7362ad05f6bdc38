//! The control protocol of `gracefd run --control-socket` (`gracefd ctl`):
//! the bodies of its frames, and the server's strict reading of a request.
//! Pure code: no syscalls (the sockets are in `supervise::control`).
//!
//! It rides on the hand-off framing ([`crate::proto::handoff`]: a 12-byte
//! head — `"GFDH"`, version 1, kind, zero flags, body length bounded per
//! kind), so one wire format, with one strict decoder, covers both. One
//! request per connection: a CONTROL frame naming the command, answered by
//! one REPLY (the command ran: its outcome) or one REFUSE (the request was
//! not taken: the peer's uid, a malformed frame, an unknown command). `stop`
//! keeps the connection open after its REPLY until the server has exited
//! (EOF).
//!
//! | kind | body |
//! |---|---|
//! | CONTROL (6) | a command name, 1–32 bytes of `a-z` and `-`: `status`, `status-json`, `reload` or `stop` |
//! | REPLY (7) | status u32 LE (0: done; else an errno 1..=4095), then UTF-8 text (≤ 65536 bytes): lines ended by `\n` when 0, one line otherwise |
//!
//! Decoding is strict: anything malformed is `EBADMSG` with a reason; only
//! another protocol version (`EPROTONOSUPPORT`), a frame of another kind
//! (`EPROTO`) and a well-formed but unknown command (`EOPNOTSUPP`) are told
//! apart, so mixed deployments say what is wrong.

use alloc::vec::Vec;

use crate::err;
use crate::error::Result;
use crate::proto::addr::Shown;
use crate::proto::handoff::{check_text, decode_head, encode_head, errno_ok, errno_text_frame, u32_at, HandoffMsg, ERRNO_MAX, HEAD_LEN, MAGIC};

// The bodies' bounds are the framing's (it checks every kind's length).
pub use crate::proto::handoff::{COMMAND_MAX, REPLY_TEXT_MAX};

/// A control command: what a CONTROL frame asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Report the state.
    Status,
    /// Report the state as one JSON object (`gracefd ctl status --json`).
    StatusJson,
    /// Start a new worker; answer when it is ready or failed.
    Reload,
    /// Stop the workers and exit.
    Stop,
}

impl Command {
    /// Every command, in the order help texts list them.
    pub const ALL: [Command; 4] = [Command::Status, Command::StatusJson, Command::Reload, Command::Stop];

    /// The wire name (also the `gracefd ctl` argument).
    pub fn name(self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::StatusJson => "status-json",
            Command::Reload => "reload",
            Command::Stop => "stop",
        }
    }

    /// The command of this name, if there is one.
    pub fn from_name(name: &[u8]) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name().as_bytes() == name)
    }

    /// The names of `commands`, for messages: `status, reload, stop`.
    pub fn names(commands: &[Command]) -> alloc::string::String {
        commands.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
    }
}

/// A whole CONTROL frame.
pub fn encode_control(c: Command) -> Vec<u8> {
    let name = c.name().as_bytes();
    let mut out = Vec::with_capacity(HEAD_LEN + name.len());
    out.extend_from_slice(&encode_head(HandoffMsg::Control, name.len()));
    out.extend_from_slice(name);
    out
}

/// Decode a CONTROL body. EBADMSG for an empty or oversized name or one
/// with bytes outside `a-z` and `-`; EOPNOTSUPP for a well-formed name this
/// side does not know (a newer client, say).
pub fn decode_control(body: &[u8]) -> Result<Command> {
    if body.is_empty() || body.len() > COMMAND_MAX {
        return Err(err!(EBADMSG, "control command of {} bytes (1 to {})", body.len(), COMMAND_MAX));
    }
    if !body.iter().all(|&b| b.is_ascii_lowercase() || b == b'-') {
        return Err(err!(EBADMSG, "control command {} is not made of a-z and '-'", Shown(body)));
    }
    Command::from_name(body).ok_or_else(|| err!(EOPNOTSUPP, "unknown control command {} (known: {})", Shown(body), Command::names(&Command::ALL)))
}

/// A REPLY frame. `errno` 0: the command was done, and `text` is lines
/// (each ended by `\n`); otherwise `errno` (1..=4095; anything else becomes
/// EPERM) says why it failed and `text` is one line (newlines become
/// spaces). The text is cut to [`REPLY_TEXT_MAX`] bytes at a char boundary;
/// control characters become spaces.
pub fn encode_reply(errno: i32, text: &str) -> Vec<u8> {
    if errno == 0 {
        return errno_text_frame(HandoffMsg::Reply, 0, text, REPLY_TEXT_MAX, true);
    }
    let e = if errno_ok(errno) { errno as u32 } else { libc::EPERM as u32 };
    errno_text_frame(HandoffMsg::Reply, e, text.trim_end_matches('\n'), REPLY_TEXT_MAX, false)
}

/// Decode a REPLY body: (0 or errno, text), the text borrowed from `body`.
/// EBADMSG for a status above 4095, text that is not UTF-8, holds control
/// characters other than `\n`, or a newline in a failure's one line.
pub fn decode_reply(body: &[u8]) -> Result<(i32, &str)> {
    let Some(e) = u32_at(body, 0) else {
        return Err(err!(EBADMSG, "control reply of {} bytes has no status", body.len()));
    };
    if e > ERRNO_MAX {
        return Err(err!(EBADMSG, "control reply carries status {} (0 to {})", e, ERRNO_MAX));
    }
    let text = check_text(body.get(4..).unwrap_or(&[]), REPLY_TEXT_MAX, e == 0, "control reply text")?;
    Ok((e as i32, text))
}

/// The server's reading of one request: bytes in as they arrive, a verdict
/// out as soon as they give one. Garbage is refused at once (a client of an
/// older line protocol hears at once, not after a head that never comes);
/// nothing past the one frame is asked for.
#[derive(Debug)]
pub struct RequestReader {
    /// The frame so far: its head, then its body.
    buf: Vec<u8>,
    /// How long the frame is: the head until it is decoded, then head and body.
    want: usize,
}

impl Default for RequestReader {
    fn default() -> Self {
        RequestReader::new()
    }
}

impl RequestReader {
    /// Longest frame a request can be.
    pub const FRAME_MAX: usize = HEAD_LEN + COMMAND_MAX;

    /// Nothing read yet.
    pub fn new() -> RequestReader {
        RequestReader { buf: Vec::new(), want: HEAD_LEN }
    }

    /// How many more bytes to read (never past the one frame).
    pub fn room(&self) -> usize {
        self.want.saturating_sub(self.buf.len())
    }

    /// Take bytes that arrived; `Some` once they give a verdict: the
    /// command, or why the request is refused (its errno and reason). Bytes
    /// past the one frame are not looked at.
    pub fn push(&mut self, mut bytes: &[u8]) -> Option<Result<Command>> {
        while !bytes.is_empty() {
            let n = bytes.len().min(self.room());
            self.buf.extend_from_slice(bytes.get(..n).unwrap_or(&[]));
            bytes = bytes.get(n..).unwrap_or(&[]);
            if let Some(v) = self.verdict() {
                return Some(v);
            }
        }
        None
    }

    /// The stream ended: why the bytes so far are no request (EBADMSG,
    /// truncated), or `None` when nothing was sent (no refusal owed).
    pub fn end(&self) -> Option<crate::Error> {
        if self.buf.is_empty() {
            return None;
        }
        Some(err!(EBADMSG, "truncated control frame: the stream ended after {} of {} bytes", self.buf.len(), self.want))
    }

    fn verdict(&mut self) -> Option<Result<Command>> {
        let b = &self.buf;
        let n = b.len().min(MAGIC.len());
        if b.get(..n) != MAGIC.get(..n) {
            return Some(Err(err!(EBADMSG, "not a gracefd frame: it starts with {}", Shown(b))));
        }
        if b.len() == HEAD_LEN && self.want == HEAD_LEN {
            let h = match decode_head(b) {
                Ok(h) => h,
                Err(e) => return Some(Err(e)),
            };
            if h.kind != HandoffMsg::Control {
                return Some(Err(err!(EPROTO, "a {} frame on the control socket (expected control)", crate::msg::Plain(h.kind.name()))));
            }
            // decode_head bounded it: at most COMMAND_MAX.
            self.want = HEAD_LEN + h.len;
        }
        if self.want > HEAD_LEN && self.buf.len() == self.want {
            return Some(decode_control(self.buf.get(HEAD_LEN..).unwrap_or(&[])));
        }
        None
    }
}

#[cfg(test)]
mod tests;
