//! Round trips and hostile input for the connection-pass frames; the parent
//! module includes this file under #[cfg(test)].

use super::*;

fn batch(id: u32, conns: &[(u64, &[u8])]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_batch(id, conns, &mut v).unwrap();
    v
}

fn errno(b: &[u8]) -> i32 {
    decode(b).unwrap_err().errno.0
}

#[test]
fn batch_round_trip() {
    let f = batch(7, &[(1, b"GET / HTTP/1.1\r\n"), (u64::MAX, b""), (42, b"x")]);
    let Frame::Batch { id, entries } = decode(&f).unwrap() else { panic!("not a batch") };
    assert_eq!(id, 7);
    let got: Vec<(u64, &[u8])> = entries.iter().map(|e| (e.tag, &f[e.at..e.at + e.len])).collect();
    assert_eq!(got, vec![(1, &b"GET / HTTP/1.1\r\n"[..]), (u64::MAX, &b""[..]), (42, &b"x"[..])]);
}

#[test]
fn id_frames_round_trip() {
    let mut v = Vec::new();
    for (k, want) in [(PassStep::Ack, 2u8), (PassStep::Commit, 4), (PassStep::Abort, 5)] {
        encode_id(k, 99, &mut v).unwrap();
        assert_eq!(v[5], want);
        match (k, decode(&v).unwrap()) {
            (PassStep::Ack, Frame::Ack(99)) | (PassStep::Commit, Frame::Commit(99)) | (PassStep::Abort, Frame::Abort(99)) => {}
            (k, f) => panic!("{:?} decoded as {:?}", k, f),
        }
    }
    assert!(encode_id(PassStep::Batch, 1, &mut v).is_err());
}

#[test]
fn refuse_round_trip_and_sanitised() {
    let mut v = Vec::new();
    encode_refuse(3, libc::EBADMSG, "bad\nthing", &mut v);
    let Frame::Refuse { id, errno, reason } = decode(&v).unwrap() else { panic!() };
    assert_eq!((id, errno, reason.as_str()), (3, libc::EBADMSG, "bad thing"));
    encode_refuse(3, -5, &"é".repeat(300), &mut v);
    let Frame::Refuse { errno, reason, .. } = decode(&v).unwrap() else { panic!() };
    assert_eq!(errno, 1);
    assert!(reason.as_str().len() <= REASON_MAX);
}

#[test]
fn encode_checks_limits() {
    let mut v = Vec::new();
    assert!(encode_batch(1, &[], &mut v).is_err());
    let big = vec![0u8; STATE_MAX + 1];
    assert!(encode_batch(1, &[(1, &big)], &mut v).is_err());
    let half = vec![0u8; STATE_MAX / 2 + 1];
    assert!(encode_batch(1, &[(1, &half), (2, &half)], &mut v).is_err());
    let many: Vec<(u64, &[u8])> = (0..BATCH_MAX as u64 + 1).map(|t| (t, &b""[..])).collect();
    assert!(encode_batch(1, &many, &mut v).is_err());
    assert!(encode_batch(1, &many[..BATCH_MAX], &mut v).is_ok());
    let full = vec![0u8; STATE_MAX];
    encode_batch(1, &[(1, &full)], &mut v).unwrap();
    assert!(decode(&v).is_ok());
}

#[test]
fn plan_cuts_by_count_and_bytes() {
    assert_eq!(plan([].into_iter()).unwrap(), Vec::<usize>::new());
    assert_eq!(plan(core::iter::repeat(0).take(600)).unwrap(), vec![252, 504, 600]);
    assert_eq!(plan([40000, 40000, 10, 65536].into_iter()).unwrap(), vec![1, 3, 4]);
    assert_eq!(plan([STATE_MAX + 1].into_iter()).unwrap_err().errno.0, libc::EINVAL);
}

#[test]
fn rejects_bad_heads() {
    let good = batch(1, &[(5, b"ab")]);
    assert_eq!(errno(&[]), libc::EBADMSG);
    assert_eq!(errno(&good[..11]), libc::EBADMSG);
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(errno(&b), libc::EBADMSG);
    let mut b = good.clone();
    b[4] = 2;
    assert_eq!(errno(&b), libc::EPROTONOSUPPORT);
    for k in [0u8, 6, 255] {
        let mut b = good.clone();
        b[5] = k;
        assert_eq!(errno(&b), libc::EBADMSG, "kind {}", k);
    }
    let mut b = good.clone();
    b[7] = 1;
    assert_eq!(errno(&b), libc::EBADMSG);
    // Length field disagrees with the message, both ways.
    let mut b = good.clone();
    b.push(0);
    assert_eq!(errno(&b), libc::EBADMSG);
    assert_eq!(errno(&good[..good.len() - 1]), libc::EBADMSG);
    // A length above the kind's bound.
    let mut b = good.clone();
    b[8..12].copy_from_slice(&(BATCH_BODY_MAX as u32 + 1).to_le_bytes());
    assert_eq!(errno(&b), libc::EBADMSG);
    let mut b = good;
    b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(errno(&b), libc::EBADMSG);
}

#[test]
fn rejects_bad_batches() {
    let good = batch(1, &[(5, b"ab"), (6, b"c")]);
    // count 0, count above the limit, count larger than the table.
    for count in [0u32, BATCH_MAX as u32 + 1, 3, u32::MAX] {
        let mut b = good.clone();
        b[16..20].copy_from_slice(&count.to_le_bytes());
        assert_eq!(errno(&b), libc::EBADMSG, "count {}", count);
    }
    // A state length beyond the body, above STATE_MAX, or leaving bytes over.
    for (at, v) in [(28usize, 3u32), (28, STATE_MAX as u32 + 1), (28, u32::MAX), (40, 0), (28, 1)] {
        let mut b = good.clone();
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        assert_eq!(errno(&b), libc::EBADMSG, "len {} at {}", v, at);
    }
}

#[test]
fn rejects_bad_replies() {
    let mut v = Vec::new();
    encode_refuse(1, 5, "ok", &mut v);
    for e in [0u32, ERRNO_MAX + 1] {
        let mut b = v.clone();
        b[16..20].copy_from_slice(&e.to_le_bytes());
        assert_eq!(errno(&b), libc::EBADMSG);
    }
    let mut b = v.clone();
    b[20] = 0xff;
    assert_eq!(errno(&b), libc::EBADMSG);
    let mut b = v.clone();
    b[20] = b'\n';
    assert_eq!(errno(&b), libc::EBADMSG);
    encode_id(PassStep::Ack, 1, &mut v).unwrap();
    v.push(0);
    v[8] = 5;
    assert_eq!(errno(&v), libc::EBADMSG);
}

#[test]
fn no_input_panics() {
    // Every prefix and every single-byte corruption of a valid batch decodes
    // to a frame or an error, never a panic.
    let good = batch(9, &[(1, b"hello"), (2, b""), (3, b"world!")]);
    for n in 0..good.len() {
        let _ = decode(&good[..n]);
    }
    for i in 0..good.len() {
        for x in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] = x;
            let _ = decode(&b);
        }
    }
}

/// Hand-made BATCH (the encoder refuses what this builds): `states` back to
/// back after the table, lengths as given.
fn raw_batch(id: u32, states: &[&[u8]]) -> Vec<u8> {
    let total: usize = states.iter().map(|s| s.len()).sum();
    let mut v = Vec::new();
    head(&mut v, PassStep::Batch, 8 + states.len() * ENTRY_LEN + total);
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&(states.len() as u32).to_le_bytes());
    for (t, s) in states.iter().enumerate() {
        v.extend_from_slice(&(t as u64).to_le_bytes());
        v.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    for s in states {
        v.extend_from_slice(s);
    }
    v
}

#[test]
fn decode_refuses_a_batch_whose_states_add_up_above_the_batch_limit() {
    // Each state within STATE_MAX, the body within BATCH_BODY_MAX (the table
    // is short), but the states together above BATCH_STATE_MAX: the format
    // says a batch carries at most that many state bytes in all.
    let full = vec![b'a'; STATE_MAX];
    let more = vec![b'b'; 1000];
    let f = raw_batch(1, &[&full, &more]);
    assert!(f.len() - HEAD_LEN <= BATCH_BODY_MAX);
    assert_eq!(errno(&f), libc::EBADMSG);
    // Exactly at the limit is fine.
    let f = raw_batch(1, &[&full[..BATCH_STATE_MAX - 1000], &more]);
    assert!(decode(&f).is_ok());
}

#[test]
fn a_refuse_reason_with_any_control_character_is_encoded_so_it_decodes() {
    // C1 controls (U+0080..U+009F) are control characters to the decoder;
    // the encoder must not send them as they are, or the refusal itself
    // becomes unreadable (EBADMSG instead of the real errno).
    let mut v = Vec::new();
    encode_refuse(4, libc::ENOBUFS, "queue\u{85}full\u{9b}", &mut v);
    let Frame::Refuse { id, errno, reason } = decode(&v).unwrap() else { panic!("not a refuse") };
    assert_eq!((id, errno, reason.as_str()), (4, libc::ENOBUFS, "queue full "));
}

/// The pass encodes its planned batches with `encode_planned`: byte for
/// byte what `encode_batch` makes of the same connections, at the limits too.
#[test]
fn planned_batches_encode_as_checked_ones() {
    let full = vec![7u8; STATE_MAX];
    let many: Vec<(u64, &[u8])> = (0..BATCH_MAX as u64).map(|t| (t * 3, &b"ab"[..])).collect();
    let cases: [&[(u64, &[u8])]; 4] =
        [&[(1, b"GET / HTTP/1.1\r\n"), (u64::MAX, b""), (42, b"x")], &[(9, b"")], &[(5, &full)], &many];
    for conns in cases {
        let mut planned = vec![1, 2, 3];
        encode_planned(77, conns.len(), |i| conns[i], &mut planned);
        assert_eq!(planned, batch(77, conns));
    }
}
