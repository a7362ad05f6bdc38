//! Unit tests with hostile input; the parent module includes this file under #[cfg(test)].

use super::*;

/// The error is EBADMSG; its message (also used by proto/control's tests).
pub(in crate::proto) fn ebadmsg<T: core::fmt::Debug>(r: Result<T>) -> String {
    let e = r.unwrap_err();
    assert_eq!(e.errno.0, libc::EBADMSG, "{:?}", e);
    e.message().to_string()
}

/// A whole frame's head and body (also used by proto/control's tests).
pub(in crate::proto) fn body(frame: &[u8]) -> (Head, &[u8]) {
    let h = decode_head(&frame[..HEAD_LEN]).unwrap();
    assert_eq!(frame.len(), HEAD_LEN + h.len);
    (h, &frame[HEAD_LEN..])
}

#[test]
fn header_round_trip() {
    let names: Vec<&[u8]> = vec![b"http", b"https", b"a b", b"~", b"http"];
    let f = encode_header(&names).unwrap();
    let (h, b) = body(&f);
    assert_eq!(h.kind, HandoffMsg::Header);
    assert_eq!(check_header(b).unwrap(), names.len());
    assert_eq!(header_names(b).collect::<Vec<_>>(), names);
    // Zero fds is a valid transfer.
    let f = encode_header::<&[u8]>(&[]).unwrap();
    assert_eq!(check_header(body(&f).1).unwrap(), 0);
    assert_eq!(header_names(body(&f).1).count(), 0);
}

#[test]
fn header_of_max_size_round_trips() {
    let name = vec![b'n'; NAME_MAX];
    let names = vec![name.clone(); MAX_FDS];
    let f = encode_header(&names).unwrap();
    assert_eq!(f.len(), HEAD_LEN + HEADER_BODY_MAX);
    let (h, b) = body(&f);
    assert_eq!(h.len, HEADER_BODY_MAX);
    assert_eq!(check_header(b).unwrap(), MAX_FDS);
    assert!(header_names(b).all(|n| n == &name[..]));
    let too_many = vec![b"x".to_vec(); MAX_FDS + 1];
    assert_eq!(encode_header(&too_many).unwrap_err().errno.0, libc::EINVAL);
}

#[test]
fn names_validated() {
    for bad in [&b""[..], b"a:b", b"a\nb", b"\x7f", b"caf\xc3\xa9", b"\0"] {
        assert_eq!(validate_name(bad).unwrap_err().errno.0, libc::EINVAL, "{:?}", bad);
        assert!(encode_header(&[bad]).is_err());
    }
    assert!(validate_name(&[b'a'; 256]).is_err());
    assert!(validate_name(&[b'a'; 255]).is_ok());
    assert!(validate_name(b" !~").is_ok());
}

#[test]
fn head_rejects_garbage() {
    let good = encode_head(HandoffMsg::Take, 0);
    assert_eq!(decode_head(&good).unwrap(), Head { kind: HandoffMsg::Take, len: 0 });
    let mut bad_magic = good;
    bad_magic[0] = b'X';
    assert!(ebadmsg(decode_head(&bad_magic)).contains("magic"));
    let mut bad_kind = good;
    bad_kind[5] = 9;
    assert!(ebadmsg(decode_head(&bad_kind)).contains("unknown kind 9"));
    bad_kind[5] = 0;
    ebadmsg(decode_head(&bad_kind));
    let mut flags = good;
    flags[7] = 1;
    assert!(ebadmsg(decode_head(&flags)).contains("flags"));
    ebadmsg(decode_head(&good[..11]));
    ebadmsg(decode_head(&[]));
    let mut v2 = good;
    v2[4] = 2;
    let e = decode_head(&v2).unwrap_err();
    assert_eq!(e.errno.0, libc::EPROTONOSUPPORT);
    assert!(e.message().contains("version 2"));
}

#[test]
fn head_rejects_oversized_and_short_bodies() {
    let oversized_header = encode_head(HandoffMsg::Header, HEADER_BODY_MAX + 1);
    assert!(ebadmsg(decode_head(&oversized_header)).contains("oversized"));
    let mut huge = encode_head(HandoffMsg::Header, 0);
    huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    ebadmsg(decode_head(&huge));
    ebadmsg(decode_head(&encode_head(HandoffMsg::Header, 3)));
    ebadmsg(decode_head(&encode_head(HandoffMsg::Chunk, 7)));
    ebadmsg(decode_head(&encode_head(HandoffMsg::Chunk, 9)));
    ebadmsg(decode_head(&encode_head(HandoffMsg::Take, 1)));
    ebadmsg(decode_head(&encode_head(HandoffMsg::Ready, 4)));
    ebadmsg(decode_head(&encode_head(HandoffMsg::Refuse, 3)));
    ebadmsg(decode_head(&encode_head(HandoffMsg::Refuse, 4 + REASON_MAX + 1)));
}

#[test]
fn header_body_rejects_hostile_input() {
    ebadmsg(check_header(b""));
    ebadmsg(check_header(b"\x01\x00\x00"));
    // count above the maximum
    let mut b = ((MAX_FDS + 1) as u32).to_le_bytes().to_vec();
    b.extend(std::iter::repeat(b'a').take(64));
    assert!(ebadmsg(check_header(&b)).contains("at most"));
    // count larger than the body can hold (no huge allocation)
    let mut b = 60000u32.to_le_bytes().to_vec();
    b.extend_from_slice(b"\x01a");
    ebadmsg(check_header(&b));
    // name runs past the end
    let mut b = 1u32.to_le_bytes().to_vec();
    b.extend_from_slice(b"\x05abc");
    assert!(ebadmsg(check_header(&b)).contains("past the end"));
    // zero-length name
    let mut b = 1u32.to_le_bytes().to_vec();
    b.extend_from_slice(b"\x00a");
    ebadmsg(check_header(&b));
    // bad characters
    for bad in [&b"\x03a:b"[..], b"\x03a\nb", b"\x01\xff"] {
        let mut b = 1u32.to_le_bytes().to_vec();
        b.extend_from_slice(bad);
        ebadmsg(check_header(&b));
    }
    // trailing bytes
    let mut b = 1u32.to_le_bytes().to_vec();
    b.extend_from_slice(b"\x01ab");
    assert!(ebadmsg(check_header(&b)).contains("trailing"));
    // fewer names than announced
    let mut b = 2u32.to_le_bytes().to_vec();
    b.extend_from_slice(b"\x01a\x01");
    ebadmsg(check_header(&b));
}

#[test]
fn chunks_cover_the_transfer() {
    assert_eq!(chunks(0).count(), 0);
    let c: Vec<Chunk> = chunks(505).collect();
    assert_eq!(c, vec![Chunk { first: 0, count: 252 }, Chunk { first: 252, count: 252 }, Chunk { first: 504, count: 1 }]);
    let total: u32 = chunks(10_000).map(|c| c.count).sum();
    assert_eq!(total, 10_000);
    assert!(chunks(10_000).all(|c| c.count as usize <= CHUNK_MAX));
}

#[test]
fn chunk_round_trip_and_hostile() {
    let f = encode_chunk(Chunk { first: 252, count: 3 });
    let (h, b) = body(&f);
    assert_eq!(h.kind, HandoffMsg::Chunk);
    assert_eq!(decode_chunk(b, 252, 255).unwrap(), Chunk { first: 252, count: 3 });
    // out of sequence
    assert!(ebadmsg(decode_chunk(b, 0, 255)).contains("so far"));
    // beyond the announced total
    assert!(ebadmsg(decode_chunk(b, 252, 254)).contains("exceeds"));
    for count in [0u32, 253, u32::MAX] {
        let f = encode_chunk(Chunk { first: 0, count });
        ebadmsg(decode_chunk(&f[HEAD_LEN..], 0, 100_000));
    }
    ebadmsg(decode_chunk(&f[HEAD_LEN..HEAD_LEN + 7], 252, 255));
    ebadmsg(decode_chunk(&[], 0, 1));
}

#[test]
fn refuse_round_trip_and_hostile() {
    let f = encode_refuse(libc::EBUSY, "hand-off in progress\nto pid 7");
    let (h, b) = body(&f);
    assert_eq!(h.kind, HandoffMsg::Refuse);
    let (e, m) = decode_refuse(b).unwrap();
    assert_eq!(e, libc::EBUSY);
    assert_eq!(m.as_str(), "hand-off in progress to pid 7");
    let long = "é".repeat(300);
    let f = encode_refuse(libc::EACCES, &long);
    let (_, b) = body(&f);
    assert!(decode_refuse(b).unwrap().1.as_str().len() <= REASON_MAX);
    // a bogus errno is replaced when encoding, rejected when decoding
    let f = encode_refuse(0, "x");
    assert_eq!(decode_refuse(&f[HEAD_LEN..]).unwrap().0, libc::EPERM);
    ebadmsg(decode_refuse(b"\0\0\0\0why"));
    ebadmsg(decode_refuse(b"\x00\x10\x00\x00why"));
    ebadmsg(decode_refuse(b"\x01\0\0\0\xff"));
    ebadmsg(decode_refuse(b"\x01\0\0\0a\0b"));
    ebadmsg(decode_refuse(b"\x01\0"));
}

#[test]
fn refusal_text_errors_say_what_is_wrong() {
    // The whole text of each check_text message (its subject is written with msg::Plain).
    let long = [b'a'; REASON_MAX + 1];
    let mut f = b"\x01\0\0\0".to_vec();
    f.extend_from_slice(&long);
    assert_eq!(ebadmsg(decode_refuse(&f)), format!("hand-off refusal reason of {} bytes (at most {})", REASON_MAX + 1, REASON_MAX));
    assert_eq!(ebadmsg(decode_refuse(b"\x01\0\0\0\xff")), "hand-off refusal reason is not UTF-8");
    assert_eq!(ebadmsg(decode_refuse(b"\x01\0\0\0a\nb")), "hand-off refusal reason contains a newline (one line expected)");
    assert_eq!(ebadmsg(decode_refuse(b"\x01\0\0\0a\0b")), "hand-off refusal reason contains control characters");
}

#[test]
fn control_frames() {
    assert_eq!(decode_head(&encode_take()).unwrap().kind, HandoffMsg::Take);
    assert_eq!(decode_head(&encode_ready()).unwrap().kind, HandoffMsg::Ready);
    assert_eq!(decode_head(&encode_conns()).unwrap().kind, HandoffMsg::Conns);
    // CONNS has no body: a length is malformed.
    assert!(ebadmsg(decode_head(&encode_head(HandoffMsg::Conns, 1))).contains("oversized"));
}

#[test]
fn kind_numbers_are_fixed() {
    // The wire numbers never change: new kinds are appended.
    let kinds = [HandoffMsg::Header, HandoffMsg::Chunk, HandoffMsg::Take, HandoffMsg::Ready, HandoffMsg::Refuse, HandoffMsg::Control, HandoffMsg::Reply, HandoffMsg::Conns];
    for (i, k) in kinds.into_iter().enumerate() {
        assert_eq!(k as u8 as usize, i + 1);
        assert_eq!(HandoffMsg::from_u8(k as u8), Some(k));
    }
    assert_eq!(HandoffMsg::from_u8(9), None);
}

#[test]
fn refuse_control_characters_become_spaces() {
    // C1 controls (U+0085 NEL) are control characters too: what the
    // encoder writes, the decoder takes.
    let f = encode_refuse(libc::EIO, "a\u{85}b\tc\u{7f}d");
    let (_, m) = decode_refuse(body(&f).1).unwrap();
    assert_eq!(m.as_str(), "a b c d");
}

/// Pseudo-random frames, deterministic: every third one has the magic and
/// version of a real head (also used by proto/control's tests), so decoders
/// get past the first check.
pub(in crate::proto) fn each_random_frame(mut f: impl FnMut(&[u8])) {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for round in 0..20_000 {
        let len = (round % 40) as usize;
        let mut b = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.push(x as u8);
        }
        if round % 3 == 0 && b.len() >= 6 {
            b[..4].copy_from_slice(&MAGIC);
            b[4] = VERSION;
            b[5] %= 9;
        }
        f(&b);
    }
}

#[test]
fn random_bytes_never_panic() {
    // A tiny deterministic fuzz: every decoder over pseudo-random input.
    each_random_frame(|b| {
        let _ = decode_head(b);
        if check_header(b).is_ok() {
            let _ = header_names(b).count();
        }
        let _ = decode_chunk(b, 0, 1000);
        let _ = decode_refuse(b);
    });
}
