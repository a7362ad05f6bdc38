//! The readiness frame: what a started process sends back, once, on the
//! `SOCK_SEQPACKET` channel whose fd is in `GRACEFD_READY_FD`.
//!
//! Layout (little-endian): `b"GFD1"`, kind (u8), status (i32), then up to
//! [`MSG_MAX`] bytes of UTF-8 message. One frame per `send` (seqpacket keeps
//! the boundary). Anything else is rejected as `EBADMSG`.

use crate::error::{Msg, Result};
use crate::err;
use crate::proto::utf8;

const MAGIC: &[u8; 4] = b"GFD1";
const HEAD: usize = 9;
/// Longest message carried.
pub const MSG_MAX: usize = 200;
/// Largest frame.
pub const FRAME_MAX: usize = HEAD + MSG_MAX;

/// What a frame says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyReport {
    /// The process is ready to serve.
    Ready = 1,
    /// The process failed to start: `status` is its exit status, the message why.
    Failed = 2,
    /// The exec itself failed (sent by the forked child): `status` is the errno.
    ExecFailed = 3,
    /// Sent by the middle process of a detached start (daemonize's double
    /// fork): the process that will report is `status` (its pid).
    Pid = 4,
    /// The detached process exited with `status` before the waiter was done.
    /// Sent by no current sender (the daemonize launcher is the daemon's
    /// parent and sees its death itself; it ignores this frame); kept so the
    /// number is never reused with another meaning.
    Exited = 5,
    /// The detached process was killed by signal `status`. As `Exited`.
    Signaled = 6,
}

/// A decoded frame.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// What happened.
    pub kind: ReadyReport,
    /// Exit status (Failed, Exited), errno (ExecFailed), pid (Pid), signal
    /// (Signaled); 0 for Ready.
    pub status: i32,
    /// The sender's one-line message (may be empty).
    pub msg: Msg,
}

/// Encode into `buf`, returning the frame length. The message is cut to
/// [`MSG_MAX`] bytes at a char boundary. Allocation-free and async-signal-safe.
pub fn encode(kind: ReadyReport, status: i32, msg: &[u8], buf: &mut [u8; FRAME_MAX]) -> usize {
    let mut n = msg.len().min(MSG_MAX);
    if utf8::valid(msg) {
        while n > 0 && !utf8::is_char_boundary(msg, n) {
            n -= 1;
        }
    }
    put(buf, 0, MAGIC);
    put(buf, 4, &[kind as u8]);
    put(buf, 5, &status.to_le_bytes());
    put(buf, HEAD, msg.get(..n).unwrap_or(&[]));
    HEAD + n
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    for (d, s) in buf.iter_mut().skip(at).zip(bytes) {
        *d = *s;
    }
}

/// Decode one received frame. `EBADMSG` with a reason for anything malformed.
pub fn decode(b: &[u8]) -> Result<Frame> {
    let (Some(magic), Some(&kind), Some(st)) = (b.get(..4), b.get(4), b.get(5..9)) else {
        return Err(err!(EBADMSG, "readiness frame of {} bytes is too short", b.len()));
    };
    if magic != MAGIC {
        return Err(err!(EBADMSG, "readiness frame has a bad magic"));
    }
    let kind = match kind {
        1 => ReadyReport::Ready,
        2 => ReadyReport::Failed,
        3 => ReadyReport::ExecFailed,
        4 => ReadyReport::Pid,
        5 => ReadyReport::Exited,
        6 => ReadyReport::Signaled,
        k => return Err(err!(EBADMSG, "readiness frame has unknown kind {}", u32::from(k))),
    };
    let mut s4 = [0u8; 4];
    s4.copy_from_slice(st);
    let status = i32::from_le_bytes(s4);
    let body = b.get(HEAD..).unwrap_or(&[]);
    if body.len() > MSG_MAX {
        return Err(err!(EBADMSG, "readiness frame message of {} bytes is too long", body.len()));
    }
    let Some(text) = utf8::as_str(body) else {
        return Err(err!(EBADMSG, "readiness frame message is not UTF-8"));
    };
    // Bytes, not chars: both are ASCII, which UTF-8 never uses inside a
    // longer character (and a char search links a decoder and a searcher).
    if body.iter().any(|&c| c == 0 || c == b'\n') {
        return Err(err!(EBADMSG, "readiness frame message contains a NUL or newline"));
    }
    let mut msg = Msg::new();
    let _ = core::fmt::Write::write_str(&mut msg, text);
    Ok(Frame { kind, status, msg })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = [0u8; FRAME_MAX];
        let n = encode(ReadyReport::Failed, 3, b"cannot bind 127.0.0.1:80: permission denied", &mut buf);
        let f = decode(&buf[..n]).unwrap();
        assert_eq!(f.kind, ReadyReport::Failed);
        assert_eq!(f.status, 3);
        assert_eq!(f.msg.as_str(), "cannot bind 127.0.0.1:80: permission denied");
        let n = encode(ReadyReport::Ready, 0, b"", &mut buf);
        assert_eq!(decode(&buf[..n]).unwrap().kind, ReadyReport::Ready);
    }

    #[test]
    fn detach_kinds_round_trip() {
        let mut buf = [0u8; FRAME_MAX];
        for (k, st) in [(ReadyReport::Pid, 4242), (ReadyReport::Exited, 7), (ReadyReport::Signaled, libc::SIGSEGV)] {
            let n = encode(k, st, b"", &mut buf);
            let f = decode(&buf[..n]).unwrap();
            assert_eq!((f.kind, f.status), (k, st));
        }
    }

    #[test]
    fn long_message_cut_at_char_boundary() {
        let mut buf = [0u8; FRAME_MAX];
        let long = "é".repeat(300);
        let n = encode(ReadyReport::Failed, 1, long.as_bytes(), &mut buf);
        let f = decode(&buf[..n]).unwrap();
        assert!(f.msg.as_str().len() <= MSG_MAX);
    }

    #[test]
    fn multibyte_text_is_no_nul_or_newline() {
        let mut buf = [0u8; FRAME_MAX];
        let n = encode(ReadyReport::Failed, 2, "é—ü 日本 \u{10a0a}".as_bytes(), &mut buf);
        assert_eq!(decode(&buf[..n]).unwrap().msg.as_str(), "é—ü 日本 \u{10a0a}");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [&b""[..], b"GFD", b"XXXX\x01\0\0\0\0", b"GFD1\x09\0\0\0\0", b"GFD1\x00\0\0\0\0", b"GFD1\x07\0\0\0\0", b"GFD1\x02\0\0\0\0\xff", b"GFD1\x02\0\0\0\0a\nb", b"GFD1\x02\0\0\0\0a\0b"] {
            assert_eq!(decode(bad).unwrap_err().errno.0, libc::EBADMSG, "{:?}", bad);
        }
        let mut big = b"GFD1\x02\0\0\0\0".to_vec();
        big.extend(std::iter::repeat(b'a').take(MSG_MAX + 1));
        assert!(decode(&big).is_err());
    }

    #[test]
    fn each_rejection_says_why_in_full() {
        let says = |b: &[u8]| decode(b).unwrap_err().msg.as_str().to_string();
        assert_eq!(says(b"GFD"), "readiness frame of 3 bytes is too short");
        assert_eq!(says(b"XXXX\x01\0\0\0\0"), "readiness frame has a bad magic");
        assert_eq!(says(b"GFD1\x09\0\0\0\0"), "readiness frame has unknown kind 9");
        assert_eq!(says(b"GFD1\x00\0\0\0\0"), "readiness frame has unknown kind 0");
        let mut big = b"GFD1\x02\0\0\0\0".to_vec();
        big.extend(std::iter::repeat(b'a').take(MSG_MAX + 1));
        assert_eq!(says(&big), "readiness frame message of 201 bytes is too long");
        assert_eq!(says(b"GFD1\x02\0\0\0\0\xff"), "readiness frame message is not UTF-8");
        assert_eq!(says(b"GFD1\x02\0\0\0\0a\nb"), "readiness frame message contains a NUL or newline");
        assert_eq!(says(b"GFD1\x02\0\0\0\0a\0b"), "readiness frame message contains a NUL or newline");
    }
}
