//! Unit tests with hostile input; the parent module includes this file under #[cfg(test)].

use super::*;
use crate::proto::handoff::tests::{body, each_random_frame, ebadmsg};
use crate::proto::handoff::{decode_refuse, encode_refuse, encode_take};

#[test]
fn control_round_trip() {
    for c in Command::ALL {
        let f = encode_control(c);
        let (h, b) = body(&f);
        assert_eq!(h.kind, HandoffMsg::Control);
        assert_eq!(decode_control(b).unwrap(), c);
        assert_eq!(Command::from_name(c.name().as_bytes()), Some(c));
    }
    assert_eq!(encode_control(Command::Status), b"GFDH\x01\x06\0\0\x06\0\0\0status");
}

#[test]
fn control_rejects_hostile_input() {
    // unknown but well-formed: told apart
    let e = decode_control(b"restart").unwrap_err();
    assert_eq!(e.errno.0, libc::EOPNOTSUPP);
    assert!(e.message().contains("\"restart\""), "{}", e.message());
    assert_eq!(decode_control(b"status-all").unwrap_err().errno.0, libc::EOPNOTSUPP);
    // malformed
    for bad in [&b""[..], b"STATUS", b"status\n", b"stat us", b"status\0", b"\xff\xfe", b"st\xc3\xa9"] {
        ebadmsg(decode_control(bad));
    }
    ebadmsg(decode_control(&[b'a'; COMMAND_MAX + 1]));
    assert_eq!(decode_control(&[b'a'; COMMAND_MAX]).unwrap_err().errno.0, libc::EOPNOTSUPP);
    // heads: empty and oversized bodies, wrong version
    assert!(ebadmsg(decode_head(&encode_head(HandoffMsg::Control, 0))).contains("too short"));
    assert!(ebadmsg(decode_head(&encode_head(HandoffMsg::Control, COMMAND_MAX + 1))).contains("oversized"));
    let mut v0 = encode_head(HandoffMsg::Control, 6);
    v0[4] = 0;
    assert_eq!(decode_head(&v0).unwrap_err().errno.0, libc::EPROTONOSUPPORT);
    // truncated heads
    let f = encode_control(Command::Stop);
    for n in 0..HEAD_LEN {
        ebadmsg(decode_head(&f[..n]));
    }
    // a line of the old text protocol is no frame
    assert!(ebadmsg(decode_head(b"status\nstatu")).contains("magic"));
    ebadmsg(decode_head(b"status\n\0\0\0\0\0"));
}

#[test]
fn reply_round_trip() {
    let text = "pid: 42\nstate: serving\nworker: pid 43 status \"caf\u{e9}\"\n";
    let f = encode_reply(0, text);
    let (h, b) = body(&f);
    assert_eq!(h.kind, HandoffMsg::Reply);
    assert_eq!(decode_reply(b).unwrap(), (0, text));
    assert_eq!(decode_reply(body(&encode_reply(0, "")).1).unwrap(), (0, ""));
    // a failure is one line: newlines and other controls become spaces
    let f = encode_reply(libc::ETIMEDOUT, "worker generation 2\nnot ready\x07 in time\n");
    assert_eq!(decode_reply(body(&f).1).unwrap(), (libc::ETIMEDOUT, "worker generation 2 not ready  in time"));
    // in a success, only the newlines stay
    let f = encode_reply(0, "a\tb\r\n");
    assert_eq!(decode_reply(body(&f).1).unwrap(), (0, "a b \n"));
    // bogus errnos become EPERM
    for e in [-1, 4096, i32::MIN, i32::MAX] {
        assert_eq!(decode_reply(body(&encode_reply(e, "x")).1).unwrap().0, libc::EPERM);
    }
    assert_eq!(decode_reply(body(&encode_reply(4095, "x")).1).unwrap().0, 4095);
}

#[test]
fn reply_of_max_size_is_cut_at_a_char_boundary() {
    let long = "\u{e9}".repeat(REPLY_TEXT_MAX); // 2 bytes each
    let f = encode_reply(0, &long);
    let (h, b) = body(&f);
    assert_eq!(h.len, 4 + REPLY_TEXT_MAX);
    assert_eq!(decode_reply(b).unwrap().1.len(), REPLY_TEXT_MAX);
    let f = encode_reply(0, &"\u{20ac}".repeat(REPLY_TEXT_MAX)); // 3 bytes each
    let (h, b) = body(&f);
    assert_eq!(h.len, 4 + REPLY_TEXT_MAX - REPLY_TEXT_MAX % 3);
    assert!(decode_reply(b).is_ok());
}

#[test]
fn reply_rejects_hostile_input() {
    ebadmsg(decode_reply(b""));
    ebadmsg(decode_reply(b"\0\0\0"));
    // status above 4095
    assert!(ebadmsg(decode_reply(b"\x00\x10\x00\x00oops")).contains("status 4096"));
    ebadmsg(decode_reply(b"\xff\xff\xff\xffx"));
    // bad UTF-8, truncated UTF-8
    assert!(ebadmsg(decode_reply(b"\0\0\0\0ok \xff\n")).contains("UTF-8"));
    ebadmsg(decode_reply(b"\0\0\0\0caf\xc3"));
    // control characters; a newline in a failure
    assert!(ebadmsg(decode_reply(b"\0\0\0\0a\0b")).contains("control"));
    ebadmsg(decode_reply(b"\0\0\0\0a\rb\n"));
    ebadmsg(decode_reply("\0\0\0\0a\u{85}b".as_bytes()));
    assert!(ebadmsg(decode_reply(b"\x05\0\0\0two\nlines")).contains("newline"));
    // oversized text
    let mut big = vec![0u8; 4];
    big.extend(std::iter::repeat(b'a').take(REPLY_TEXT_MAX + 1));
    assert!(ebadmsg(decode_reply(&big)).contains("at most"));
    // heads: bounds
    ebadmsg(decode_head(&encode_head(HandoffMsg::Reply, 3)));
    assert!(ebadmsg(decode_head(&encode_head(HandoffMsg::Reply, 4 + REPLY_TEXT_MAX + 1))).contains("oversized"));
    assert_eq!(decode_head(&encode_head(HandoffMsg::Reply, 4 + REPLY_TEXT_MAX)).unwrap().len, 4 + REPLY_TEXT_MAX);
}


/// Feed `bytes` to a reader in pieces of `step`; the verdict, if any.
fn read_in_pieces(bytes: &[u8], step: usize) -> Option<Result<Command>> {
    let mut r = RequestReader::new();
    for piece in bytes.chunks(step) {
        if let Some(v) = r.push(piece) {
            return Some(v);
        }
    }
    None
}

#[test]
fn reader_takes_one_control_frame() {
    for c in Command::ALL {
        for step in [1, 5, 100] {
            assert_eq!(read_in_pieces(&encode_control(c), step).unwrap().unwrap(), c);
        }
    }
    // Bytes after the frame are not asked for: the verdict is the frame's.
    let mut r = RequestReader::new();
    let mut two = encode_control(Command::Status);
    two.extend_from_slice(b"garbage");
    assert_eq!(r.push(&two).unwrap().unwrap(), Command::Status);
    assert_eq!(r.room(), 0);
}

#[test]
fn reader_refuses_at_once_and_strictly() {
    // The old line protocol: refused on its first byte, not after 12.
    let e = read_in_pieces(b"s", 1).unwrap().unwrap_err();
    assert_eq!(e.errno.0, libc::EBADMSG);
    assert!(e.message().contains("not a gracefd frame"), "{}", e.message());
    // Another version, another kind, bad lengths.
    let f = encode_control(Command::Status);
    let mut v2 = f.clone();
    v2[4] = 2;
    assert_eq!(read_in_pieces(&v2, 100).unwrap().unwrap_err().errno.0, libc::EPROTONOSUPPORT);
    let e = read_in_pieces(&encode_take(), 100).unwrap().unwrap_err();
    assert!(e.errno.0 == libc::EPROTO && e.message().contains("take frame"), "{}", e.message());
    ebadmsg(read_in_pieces(&encode_head(HandoffMsg::Control, COMMAND_MAX + 1), 100).unwrap());
    assert_eq!(read_in_pieces(&encode_refuse(libc::EIO, "x"), 100).unwrap().unwrap_err().errno.0, libc::EPROTO);
    // Truncated: no verdict from the bytes, EBADMSG at the end of the stream.
    let mut r = RequestReader::new();
    assert!(r.end().is_none(), "nothing sent: no refusal owed");
    assert!(r.push(&f[..f.len() - 1]).is_none());
    let e = r.end().unwrap();
    assert!(e.errno.0 == libc::EBADMSG && e.message().contains("17 of 18"), "{}", e.message());
    // Decoding the reply of a REFUSE still works for the client.
    assert_eq!(decode_refuse(body(&encode_refuse(libc::EACCES, "no")).1).unwrap().0, libc::EACCES);
}

#[test]
fn random_bytes_never_panic() {
    each_random_frame(|b| {
        let _ = decode_control(b);
        let _ = decode_reply(b);
        let _ = read_in_pieces(b, 7);
    });
}
