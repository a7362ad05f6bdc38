//! The transfer ([`send_fds`], [`recv_fds`]) against honest and hostile peers.
//! (The parent module includes this file under #[cfg(test)].)

use super::*;
use crate::proto::handoff::{self as wire, HandoffMsg};
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::socket;
use crate::sys::time::Deadline;

fn pair() -> (Fd, Fd) {
    socket::socketpair(libc::SOCK_STREAM).unwrap()
}

fn inode(f: RawFd) -> (u64, u64) {
    let st = fd::fstat(f).unwrap();
    (st.st_dev, st.st_ino)
}

fn far() -> Deadline {
    Deadline::after_ms(10_000)
}

/// Send raw bytes with these fds in one sendmsg.
fn raw_send(s: &Fd, data: &[u8], fds: &[RawFd]) {
    let n = socket::send_with_fds(s.raw(), data, fds, None).unwrap();
    assert_eq!(n, data.len());
}

#[test]
fn round_trip_in_chunks() {
    let (a, b) = pair();
    let pipes: Vec<(Fd, Fd)> = (0..300).map(|_| fd::pipe().unwrap()).collect();
    let fds: Vec<RawFd> = pipes.iter().map(|p| p.0.raw()).collect();
    let names: Vec<Vec<u8>> = (0..300).map(|i| format!("fd{}", i).into_bytes()).collect();
    let want: Vec<(u64, u64)> = fds.iter().map(|&f| inode(f)).collect();
    let t = std::thread::spawn(move || recv_fds(b.raw(), 1000, far()).map(|v| (v, b)));
    send_fds(a.raw(), &fds, &names, far()).unwrap();
    let (mut got, _b) = t.join().unwrap().unwrap();
    assert_eq!(got.len(), 300);
    let got: Vec<(Vec<u8>, Fd)> = got.drain().map(|(n, f)| (n.to_vec(), f)).collect();
    assert_eq!(got.len(), 300);
    for (i, (name, f)) in got.iter().enumerate() {
        assert_eq!(name, &names[i]);
        assert_eq!(inode(f.raw()), want[i]);
        assert!(fd::is_cloexec(f.raw()).unwrap());
    }
}

#[test]
fn a_long_header_arrives_whole() {
    // 400 names of 255 bytes: a header of some 100 KiB, read in pieces.
    let (a, b) = pair();
    let (p, _q) = fd::pipe().unwrap();
    let fds = vec![p.raw(); 400];
    let names: Vec<Vec<u8>> = (0..400).map(|i| format!("{:0>255}", i).into_bytes()).collect();
    let t = std::thread::spawn(move || recv_fds(b.raw(), 1000, far()).map(|v| (v, b)));
    send_fds(a.raw(), &fds, &names, far()).unwrap();
    let (mut got, _b) = t.join().unwrap().unwrap();
    let got: Vec<Vec<u8>> = got.drain().map(|(n, _)| n.to_vec()).collect();
    assert_eq!(got, names);
}

#[test]
fn a_chunk_frame_split_across_messages_is_received() {
    // The fds ride on the frame's first byte; the rest comes in another message.
    let (a, b) = pair();
    let (p, _q) = fd::pipe().unwrap();
    raw_send(&a, &wire::encode_header(&[b"a", b"b"]).unwrap(), &[]);
    let chunk = wire::encode_chunk(wire::Chunk { first: 0, count: 2 });
    raw_send(&a, &chunk[..5], &[p.raw(), p.raw()]);
    raw_send(&a, &chunk[5..], &[]);
    let mut got = recv_fds(b.raw(), 10, far()).unwrap();
    let got: Vec<(Vec<u8>, Fd)> = got.drain().map(|(n, f)| (n.to_vec(), f)).collect();
    assert_eq!(got.iter().map(|(n, _)| n.as_slice()).collect::<Vec<_>>(), [&b"a"[..], b"b"]);
    for (_, f) in &got {
        assert_eq!(inode(f.raw()), inode(p.raw()));
    }
}

#[test]
fn a_name_that_fails_sends_nothing() {
    let (a, b) = pair();
    let (p, _q) = fd::pipe().unwrap();
    let e = send_fds_with(
        a.raw(),
        &[p.raw(); 300],
        |i| if i == 299 { Err(crate::err!(EINVAL, "name #299 is NULL")) } else { Ok(&b"ok"[..]) },
        far(),
    )
    .unwrap_err();
    assert_eq!(e.errno.0, libc::EINVAL);
    let mut buf = [0u8; 16];
    assert_eq!(socket::recv(b.raw(), &mut buf, libc::MSG_DONTWAIT).unwrap_err().0, libc::EAGAIN);
}

#[test]
fn a_small_send_buffer_takes_batches_in_part() {
    // Chunk frames go several to a sendmmsg; with a tiny send buffer the
    // kernel takes a batch in part and the rest follows after a wait.
    let (a, b) = pair();
    socket::setsockopt_int(a.raw(), libc::SOL_SOCKET, libc::SO_SNDBUF, 4096).unwrap();
    let pipes: Vec<(Fd, Fd)> = (0..20).map(|_| fd::pipe().unwrap()).collect();
    let fds: Vec<RawFd> = (0..3000).map(|i| pipes[i % 20].0.raw()).collect();
    let names: Vec<Vec<u8>> = (0..3000).map(|i| format!("n{}", i).into_bytes()).collect();
    let want: Vec<(u64, u64)> = fds.iter().map(|&f| inode(f)).collect();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        recv_fds(b.raw(), 5000, far()).map(|v| (v, b))
    });
    send_fds(a.raw(), &fds, &names, far()).unwrap();
    let (mut got, _b) = t.join().unwrap().unwrap();
    let got: Vec<(Vec<u8>, Fd)> = got.drain().map(|(n, f)| (n.to_vec(), f)).collect();
    assert_eq!(got.len(), 3000);
    for (i, (name, f)) in got.iter().enumerate() {
        assert_eq!(name, &names[i]);
        assert_eq!(inode(f.raw()), want[i]);
    }
}

#[test]
fn a_closed_fd_is_named_by_its_index() {
    let (a, b) = pair();
    let (p, _q) = fd::pipe().unwrap();
    let mut fds = vec![p.raw(); 1000];
    // A number no fd has (a closed one could be reused by the receiver, in this very process).
    fds[600] = 999_999;
    let names = vec![b"x".to_vec(); 1000];
    let t = std::thread::spawn(move || recv_fds(b.raw(), 1000, far()).map(|v| v.len()));
    let e = send_fds(a.raw(), &fds, &names, far()).unwrap_err();
    assert_eq!(e.errno.0, libc::EBADF, "{:?}", e);
    assert!(e.message().contains("fd #600 "), "{}", e.message());
    drop(a);
    // The receiver saw 504 fds, then the end of the stream: an error, nothing leaked.
    assert_eq!(t.join().unwrap().unwrap_err().errno.0, libc::ECONNRESET);
}

#[test]
fn zero_fds_is_a_transfer() {
    let (a, b) = pair();
    send_fds::<&[u8]>(a.raw(), &[], &[], far()).unwrap();
    assert_eq!(recv_fds(b.raw(), 0, far()).unwrap().len(), 0);
}

#[test]
fn bad_arguments() {
    let (a, _b) = pair();
    let (p, _q) = fd::pipe().unwrap();
    assert_eq!(send_fds(a.raw(), &[p.raw()], &[b"a:b"], far()).unwrap_err().errno.0, libc::EINVAL);
    assert_eq!(send_fds(a.raw(), &[p.raw()], &[b"a", b"b"], far()).unwrap_err().errno.0, libc::EINVAL);
    assert_eq!(send_fds(a.raw(), &[-1], &[b"a"], far()).unwrap_err().errno.0, libc::EBADF);
}

#[test]
fn cap_checked_before_fds_are_read() {
    let (a, b) = pair();
    let (p, _q) = fd::pipe().unwrap();
    send_fds(a.raw(), &[p.raw(), p.raw()], &[b"a", b"b"], far()).unwrap();
    let e = recv_fds(b.raw(), 1, far()).unwrap_err();
    assert_eq!(e.errno.0, libc::EMSGSIZE, "{:?}", e);
}

#[test]
fn timeout_when_nothing_comes() {
    let (_a, b) = pair();
    let e = recv_fds(b.raw(), 10, Deadline::after_ms(50)).unwrap_err();
    assert_eq!(e.errno.0, libc::ETIMEDOUT);
}

#[test]
fn send_timeout_when_nobody_reads() {
    let (a, _b) = pair();
    socket::setsockopt_int(a.raw(), libc::SOL_SOCKET, libc::SO_SNDBUF, 4096).unwrap();
    let (p, _q) = fd::pipe().unwrap();
    let fds = vec![p.raw(); 5000];
    let names = vec![b"x".to_vec(); 5000];
    let e = send_fds(a.raw(), &fds, &names, Deadline::after_ms(100)).unwrap_err();
    assert_eq!(e.errno.0, libc::ETIMEDOUT, "{:?}", e);
    assert!(e.message().contains("of 5000 fds"), "{}", e.message());
}

#[test]
fn peer_gone_midway() {
    let (a, b) = pair();
    raw_send(&a, &wire::encode_header(&[b"a", b"b"]).unwrap(), &[]);
    drop(a);
    let e = recv_fds(b.raw(), 10, far()).unwrap_err();
    assert_eq!(e.errno.0, libc::ECONNRESET, "{:?}", e);
    assert!(e.message().contains("after 0 of 2 fds"), "{}", e.message());

    let (a, b) = pair();
    drop(b);
    let (p, _q) = fd::pipe().unwrap();
    let e = send_fds(a.raw(), &[p.raw()], &[b"a"], far()).unwrap_err();
    assert_eq!(e.errno.0, libc::EPIPE, "{:?}", e);

    let (_a, b) = pair();
    drop(_a);
    let e = recv_fds(b.raw(), 10, far()).unwrap_err();
    assert_eq!(e.errno.0, libc::ECONNRESET, "{:?}", e);
}

#[test]
fn hostile_senders_get_ebadmsg() {
    let (p, _q) = fd::pipe().unwrap();
    let header2 = wire::encode_header(&[b"a", b"b"]).unwrap();
    let chunk = |first, count| wire::encode_chunk(wire::Chunk { first, count });
    // (frames, each with its fds), expected substring
    type Case = (Vec<(Vec<u8>, Vec<RawFd>)>, &'static str);
    let cases: Vec<Case> = vec![
        (vec![(b"garbage garbage garbage".to_vec(), vec![])], "magic"),
        (vec![(header2.clone(), vec![p.raw()])], "arrived with"),
        (vec![(header2.clone(), vec![]), (chunk(0, 2).to_vec(), vec![p.raw()])], "but 1 arrived"),
        (vec![(header2.clone(), vec![]), (chunk(0, 1).to_vec(), vec![p.raw(), p.raw()])], "but 2 arrived"),
        (vec![(header2.clone(), vec![]), (chunk(1, 2).to_vec(), vec![p.raw(), p.raw()])], "so far"),
        (vec![(header2.clone(), vec![]), (chunk(0, 3).to_vec(), vec![p.raw(); 3])], "exceeds"),
        (vec![(header2.clone(), vec![]), (wire::encode_take().to_vec(), vec![])], "got a take frame"),
        (vec![(wire::encode_ready().to_vec(), vec![])], "got a ready frame"),
        (vec![(header2[..header2.len() - 1].to_vec(), vec![])], "truncated"),
        (vec![(header2.clone(), vec![]), (chunk(0, 2)[..15].to_vec(), vec![p.raw(), p.raw()])], "truncated"),
        (vec![(wire::encode_head(HandoffMsg::Header, wire::HEADER_BODY_MAX + 1).to_vec(), vec![])], "oversized"),
        (vec![(header2[..7].to_vec(), vec![])], "truncated"),
    ];
    for (frames, want) in cases {
        let (a, b) = pair();
        for (data, fds) in &frames {
            raw_send(&a, data, fds);
        }
        drop(a);
        let e = recv_fds(b.raw(), 100, far()).unwrap_err();
        assert_eq!(e.errno.0, libc::EBADMSG, "{:?}", e);
        assert!(e.message().contains(want), "{:?} does not say {:?}", e.message(), want);
    }
}

#[test]
fn refusal_is_not_a_transfer() {
    let (a, b) = pair();
    raw_send(&a, &wire::encode_refuse(libc::EBUSY, "busy"), &[]);
    assert_eq!(recv_fds(b.raw(), 10, far()).unwrap_err().errno.0, libc::EBADMSG);
}

/// The old side gives up midway (its registry changed, or the taker read too
/// slowly) and sends a REFUSE where a chunk was due: the receiver reports
/// the sender's errno and reason, not a malformed stream; the fds of the
/// chunk before it are closed with the rest.
#[test]
fn a_refusal_midway_is_reported_with_its_reason() {
    let (p, _q) = fd::pipe().unwrap();
    let names: Vec<Vec<u8>> = (0..300).map(|i| format!("n{}", i).into_bytes()).collect();
    // A reason shorter than a chunk's body and one longer (read past the head's frame).
    for reason in ["x", "the registry changed during the hand-off, after 252 of 300 fds"] {
        let (a, b) = pair();
        raw_send(&a, &wire::encode_header(&names).unwrap(), &[]);
        raw_send(&a, &wire::encode_chunk(wire::Chunk { first: 0, count: 252 }), &[p.raw(); 252]);
        raw_send(&a, &wire::encode_refuse(libc::ESTALE, reason), &[]);
        drop(a);
        let e = recv_fds(b.raw(), 1000, far()).unwrap_err();
        assert_eq!(e.errno.0, libc::ESTALE, "{:?}", e);
        assert!(e.message().ends_with(&format!("gave up: {}", reason)), "{}", e.message());
    }
}

#[test]
fn other_version_is_told_apart() {
    let (a, b) = pair();
    let mut h = wire::encode_header(&[b"a"]).unwrap();
    h[4] = 9;
    raw_send(&a, &h, &[]);
    assert_eq!(recv_fds(b.raw(), 10, far()).unwrap_err().errno.0, libc::EPROTONOSUPPORT);
}

/// Audit defect 1: the hand-off socket was bound at a predictable temporary
/// name and chmod'ed by path, so a link swapped in got mode 0600 applied to
/// its target.
#[test]
fn serve_mode_never_lands_on_a_swapped_in_link() {
    use crate::safe_path::tests::{mode_of, tmpdir, Racer};
    use std::os::unix::fs::PermissionsExt;
    let d = tmpdir("handoff-race");
    let victim = d.join("victim");
    std::fs::write(&victim, "secret").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let racer = Racer::start(&d, &victim);
    for i in 0..300 {
        let p = d.join(format!("h{}.sock", i));
        if super::serve(p.as_os_str().as_encoded_bytes()).is_ok() {
            let _ = super::stop();
        }
        assert_eq!(mode_of(&victim), 0o644, "attempt {}: the victim got the socket's mode", i);
    }
    assert!(racer.stop() > 0, "the racer never swapped anything: the test proves nothing");
    std::fs::remove_dir_all(&d).unwrap();
}

/// A control frame (TAKE, READY) that cannot leave in time: the error says
/// so, not a count of fds that no such frame carries.
#[test]
fn a_control_frame_timeout_says_what_timed_out() {
    let mut why = crate::Error::unset();
    super::send::frame_error(crate::sys::poll::SendShort::Timeout, &mut why);
    assert_eq!(why.errno.0, libc::ETIMEDOUT);
    assert!(why.message().contains("sending a control frame"), "{}", why.message());
    assert!(!why.message().contains("fds"), "{}", why.message());
}
