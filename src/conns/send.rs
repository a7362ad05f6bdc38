//! The old generation's side of the connection pass.

use alloc::vec::Vec;

use crate::error::Result;
use crate::proto::conns::{self as wire, Frame, PassStep};
use crate::sync::Mutex;
use crate::sys::fd::{Fd, RawFd};
use crate::sys::process::Pid;
use crate::sys::time::Deadline;
use crate::sys::poll::{self, SendShort};
use crate::sys::{socket, Errno};
use crate::{err, log};

/// One connection to pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item<'a> {
    /// The connection (borrowed: the caller closes it once it was passed).
    pub(crate) fd: RawFd,
    /// The application's tag, handed to the new generation as is.
    pub(crate) tag: u64,
    /// The application's state, at most [`wire::STATE_MAX`] bytes.
    pub(crate) state: &'a [u8],
}

struct Sender {
    ch: Fd,
    pid: Pid,
    next_id: u32,
}

struct State {
    sender: Option<Sender>,
    /// A pass is running with the sender taken out of the lock.
    busy: bool,
    /// [`release`] was called while a pass ran: its sender is closed when
    /// that pass ends instead of being put back.
    release_after_pass: bool,
    /// The new generation whose ready frame said it takes connections.
    peer_takes: Option<Pid>,
}

static STATE: Mutex<State> = Mutex::new(State { sender: None, busy: false, release_after_pass: false, peer_takes: None });

/// Called when a started process reported ready with this status.
pub(crate) fn note_ready(pid: Pid, status: i32) {
    let mut st = STATE.lock();
    if status & wire::READY_TAKES_CONNS != 0 {
        st.peer_takes = Some(pid);
    } else if st.peer_takes == Some(pid) {
        st.peer_takes = None;
    }
}

/// The upgrade to `pid` succeeded: keep its readiness channel if it takes
/// connections (else close it, as before). Replaces an older channel.
pub(crate) fn adopt(waiter: Fd, pid: Pid) {
    let mut st = STATE.lock();
    if st.peer_takes.take() == Some(pid) {
        st.sender = Some(Sender { ch: waiter, pid, next_id: 1 });
    }
}

/// A hand-off taker (`pid`) that is ready sent `ch`, a unix seqpacket socket
/// of its making, to take connections over (the hand-off CONNS frame): keep it
/// as the channel of later passes. Replaces an older channel.
pub(crate) fn adopt_handoff(ch: Fd, pid: Pid) {
    STATE.lock().sender = Some(Sender { ch, pid, next_id: 1 });
}

/// The new generation that takes connections. `ENOTCONN` if there is none
/// (no upgrade finished, it did not enable the pass, or a failed pass
/// closed the channel).
pub(crate) fn can_pass() -> Result<Pid> {
    let st = STATE.lock();
    match (&st.sender, st.busy) {
        (Some(s), _) => Ok(s.pid),
        (None, true) => Err(err!(EBUSY, "a connection pass is running")),
        (None, false) => Err(err!(ENOTCONN, "no new generation takes connections")),
    }
}

/// Close the channel to the new generation (no more connections will be
/// passed; its receiving thread ends). During a pass (another thread), the
/// channel closes when that pass ends.
pub(crate) fn release() {
    let s = {
        let mut st = STATE.lock();
        st.release_after_pass = st.busy;
        st.sender.take()
    };
    drop(s);
}

/// Pass `items` to the new generation, in order, in batches; wait at most
/// `timeout_ms` in all (negative: no limit). Returns how many were passed —
/// always a prefix of `items`: those belong to the new generation now, and
/// the caller stops serving them and closes its fds — and the error that
/// stopped the rest (which stay with the caller, untouched).
///
/// Errors: `EINVAL` (nothing passed) for an fd that is not a connected
/// stream socket, one connection twice (the same fd, or two fds of one
/// socket), or a state above `STATE_MAX`;
/// `ENOTCONN` if no new generation takes connections; `EBUSY` if another
/// pass is running; `ETIMEDOUT` if the new generation did not acknowledge a
/// batch in time; `EPIPE` if it is gone; the errno of a batch it refused,
/// with its reason; `EBADMSG` if it answered nonsense. After any error but
/// `EINVAL`/`EBUSY`/a refusal the channel is closed: fall back to the drain.
pub(crate) fn pass(items: &[Item<'_>], timeout_ms: i64) -> (usize, Result<()>) {
    if items.is_empty() {
        return (0, Ok(()));
    }
    let ends = match check(items) {
        Ok(e) => e,
        Err(e) => return (0, Err(e)),
    };
    let deadline = Deadline::after_ms(timeout_ms);
    let t0 = crate::sys::time::monotonic_us();
    let mut sender = {
        let mut st = STATE.lock();
        if st.busy {
            return (0, Err(err!(EBUSY, "another connection pass is running")));
        }
        match st.sender.take() {
            Some(s) => {
                st.busy = true;
                s
            }
            None => return (0, Err(err!(ENOTCONN, "no new generation takes connections (none is ready, or it did not enable the connection pass)"))),
        }
    };
    let mut passed = 0usize;
    let mut start = 0usize;
    let mut why = crate::Error::unset();
    let mut failed = false;
    let mut keep = true;
    for end in ends {
        let batch = items.get(start..end).unwrap_or(&[]);
        if let Err(still_usable) = one_batch(&mut sender, batch, deadline, &mut why) {
            keep = still_usable;
            failed = true;
            break;
        }
        passed += batch.len();
        start = end;
    }
    if failed {
        log!(log::WARNING, "connection pass to pid {}: {} of {} passed: {}", sender.pid, passed, items.len(), why);
    } else {
        log!(log::INFO, "connection pass: {} connections to pid {} in {} us", passed, sender.pid, crate::sys::time::monotonic_us().saturating_sub(t0));
    }
    let put_back = {
        let mut st = STATE.lock();
        st.busy = false;
        let released = core::mem::replace(&mut st.release_after_pass, false);
        // A newer channel adopted meanwhile replaces this one.
        if keep && !released && st.sender.is_none() {
            st.sender = Some(sender);
            None
        } else {
            Some(sender)
        }
    };
    drop(put_back); // closed outside the lock
    (passed, if failed { Err(why) } else { Ok(()) })
}

/// Validate everything before the first byte goes out; returns the batch ends.
fn check(items: &[Item<'_>]) -> Result<Vec<usize>> {
    // (socket inode, fd): two fds of one socket (a dup) are one connection,
    // which the new generation would otherwise get, and serve, twice.
    let mut socks: Vec<(libc::ino_t, RawFd)> = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let ty = socket::getsockopt_int(it.fd, libc::SOL_SOCKET, libc::SO_TYPE);
        let listening = socket::getsockopt_int(it.fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN);
        let st = crate::sys::fd::fstat(it.fd);
        match st {
            Ok(st) if ty == Ok(libc::SOCK_STREAM) && listening == Ok(0) => socks.push((st.st_ino, it.fd)),
            _ => return Err(err!(EINVAL, "connection {} (fd {}) is not a connected stream socket", i, it.fd)),
        }
    }
    // All sockets live on the one sockfs: the inode alone names the socket.
    // heapsort: sort_unstable's code is 2.6 KB in every program that passes connections.
    crate::proto::sort::heapsort(&mut socks);
    if let Some(w) = socks.windows(2).find(|w| w.first().map(|a| a.0) == w.get(1).map(|b| b.0)) {
        let (a, b) = (w.first().map(|a| a.1).unwrap_or(-1), w.get(1).map(|b| b.1).unwrap_or(-1));
        return Err(if a == b {
            err!(EINVAL, "fd {} is given twice", a)
        } else {
            err!(EINVAL, "fds {} and {} are the same connection", a, b)
        });
    }
    wire::plan(items.iter().map(|i| i.state.len()))
}

/// Why a batch failed (the error is in the caller's slot), and what that
/// means for the channel.
struct Fail {
    /// The receiver may still read the batch: tell it to close its copies.
    abort: bool,
    /// The channel is still in step (a refusal): later passes may use it.
    keep: bool,
}

const CLOSE: Fail = Fail { abort: true, keep: false };

/// Send one batch and see it committed. On error (in `why`): whether the
/// channel is still in step (a refusal) or must be closed.
fn one_batch(s: &mut Sender, batch: &[Item<'_>], deadline: Deadline, why: &mut crate::Error) -> core::result::Result<(), bool> {
    let id = s.next_id;
    s.next_id = s.next_id.wrapping_add(1).max(1);
    // `plan` cut the batch, so it fits one frame (at most BATCH_MAX fds).
    let mut frame = Vec::new();
    wire::encode_planned(id, batch.len(), |i| batch.get(i).map_or((0, &[][..]), |c| (c.tag, c.state)), &mut frame);
    let mut fds = [-1 as RawFd; wire::BATCH_MAX];
    for (d, c) in fds.iter_mut().zip(batch) {
        *d = c.fd;
    }
    send_frame(&s.ch, &frame, fds.get(..batch.len()).unwrap_or(&[]), deadline, why)?;
    if let Err(f) = await_reply(&s.ch, id, deadline, why) {
        if f.abort {
            // The new generation may read the batch later: tell it to close
            // its copies (best effort: the EOF that follows says the same).
            let mut a = Vec::new();
            if wire::encode_id(PassStep::Abort, id, &mut a).is_ok() {
                let _ = socket::send(s.ch.raw(), &a, libc::MSG_DONTWAIT);
            }
        }
        return Err(f.keep);
    }
    if let Err(e) = wire::encode_id(PassStep::Commit, id, &mut frame) {
        *why = e;
        return Err(false);
    }
    // The receiver just read the batch, so there is room for these 16 bytes:
    // do not let an expired deadline turn a done pass into a failure.
    send_frame(&s.ch, &frame, &[], Deadline::after_ms(1_000), why)
}

/// Send one frame; on failure (in `why`) the channel is out of step (`Err(false)`).
fn send_frame(ch: &Fd, frame: &[u8], fds: &[RawFd], deadline: Deadline, why: &mut crate::Error) -> core::result::Result<(), bool> {
    poll::send_all(ch.raw(), frame, fds, deadline).map_err(|(short, _)| frame_error(short, why))
}

/// Word why a [`send_frame`] failed.
#[cold]
#[inline(never)]
fn frame_error(short: SendShort, why: &mut crate::Error) -> bool {
    match short {
        SendShort::Send(e) if e.peer_closed() => why.set(libc::EPIPE, format_args!("the new generation is gone (send: {})", e)),
        SendShort::Send(e) => why.set_sys(e, "connection pass: send"),
        SendShort::Poll(e) => why.set_sys(e, "connection pass: poll"),
        SendShort::Timeout => why.set(libc::ETIMEDOUT, format_args!("the new generation did not read the connections in time")),
    }
    false
}

/// Wait for the ACK of batch `id` (on failure, why in `why`).
fn await_reply(ch: &Fd, id: u32, deadline: Deadline, why: &mut crate::Error) -> core::result::Result<(), Fail> {
    let mut buf = [0u8; wire::REPLY_MAX + 1];
    loop {
        match poll::wait(ch.raw(), libc::POLLIN, deadline) {
            Ok(0) => {
                why.set(libc::ETIMEDOUT, format_args!("the new generation did not acknowledge the connections in time"));
                return Err(CLOSE);
            }
            Ok(_) => {}
            Err(e) => {
                why.set_sys(e, "connection pass: poll");
                return Err(CLOSE);
            }
        }
        let n = match socket::recv(ch.raw(), &mut buf, libc::MSG_DONTWAIT) {
            Ok(n) => n,
            Err(Errno(libc::EAGAIN)) => continue,
            Err(e) if e.peer_closed() => 0,
            Err(e) => {
                why.set_sys(e, "connection pass: recv");
                return Err(CLOSE);
            }
        };
        if n == 0 {
            why.set(libc::EPIPE, format_args!("the new generation is gone (it closed the channel before acknowledging)"));
            return Err(Fail { abort: false, keep: false });
        }
        match wire::decode(buf.get(..n).unwrap_or(&[])) {
            Ok(Frame::Ack(got)) if got == id => return Ok(()),
            // It closed its copies; the channel stays in step.
            Ok(Frame::Refuse { id: got, errno, reason }) if got == id || got == 0 => {
                why.set(errno, format_args!("the new generation refused batch {}: {}", id, reason.as_str()));
                return Err(Fail { abort: false, keep: true });
            }
            // A late answer about an earlier batch.
            Ok(Frame::Ack(_)) | Ok(Frame::Refuse { .. }) => continue,
            Ok(f) => {
                why.set(libc::EBADMSG, format_args!("the new generation sent {:?} instead of an acknowledgement", kind_of(&f)));
                return Err(CLOSE);
            }
            Err(e) => {
                *why = e.context(format_args!("the new generation's answer"));
                return Err(CLOSE);
            }
        }
    }
}

fn kind_of(f: &Frame) -> PassStep {
    match f {
        Frame::Batch { .. } => PassStep::Batch,
        Frame::Ack(_) => PassStep::Ack,
        Frame::Refuse { .. } => PassStep::Refuse,
        Frame::Commit(_) => PassStep::Commit,
        Frame::Abort(_) => PassStep::Abort,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Two fds of one connection (a dup) would reach the new generation as
    /// two connections, both served: refused like the same fd twice.
    #[test]
    fn a_connection_given_twice_under_two_fds_is_refused() {
        let (conn, _client) = socket::socketpair(libc::SOCK_STREAM).unwrap();
        let (other, _client2) = socket::socketpair(libc::SOCK_STREAM).unwrap();
        let dup = crate::sys::fd::dup_cloexec(conn.raw()).unwrap();
        let item = |fd: RawFd| Item { fd, tag: 0, state: b"" };
        assert_eq!(check(&[item(conn.raw()), item(other.raw())]).unwrap(), vec![2]);
        let e = check(&[item(conn.raw()), item(other.raw()), item(dup.raw())]).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        let e = check(&[item(conn.raw()), item(conn.raw())]).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
    }

    /// A release() made while a pass runs (another thread) must hold: the
    /// channel is closed once the pass ends, not put back.
    #[test]
    fn a_release_during_a_pass_closes_the_channel_when_the_pass_ends() {
        let (old_end, new_end) = socket::socketpair(libc::SOCK_SEQPACKET).unwrap();
        let (conn, _client) = socket::socketpair(libc::SOCK_STREAM).unwrap();
        let peer: Pid = 0x3fff_0001;
        note_ready(peer, wire::READY_TAKES_CONNS);
        adopt(old_end, peer);
        assert_eq!(can_pass().unwrap(), peer);

        // The new generation, played by hand: it acknowledges only once the
        // release was made, then reads the COMMIT.
        let released = Arc::new(AtomicBool::new(false));
        let r = released.clone();
        let new_raw = new_end.raw();
        let receiver = std::thread::spawn(move || {
            let mut buf = vec![0u8; wire::FRAME_MAX + 1];
            let mut fds = [-1; socket::SCM_MAX_FD];
            let got = socket::recv_with_fds(new_raw, &mut buf, &mut fds, 0).unwrap();
            for f in fds.iter().take(got.nfds) {
                crate::sys::fd::close(*f);
            }
            let Ok(Frame::Batch { id, .. }) = wire::decode(&buf[..got.len]) else { panic!("not a batch") };
            while !r.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let mut ack = Vec::new();
            wire::encode_id(PassStep::Ack, id, &mut ack).unwrap();
            socket::send(new_raw, &ack, 0).unwrap();
            let n = socket::recv(new_raw, &mut buf, 0).unwrap();
            assert!(matches!(wire::decode(&buf[..n]), Ok(Frame::Commit(c)) if c == id));
        });

        let conn_raw = conn.raw();
        let passer = std::thread::spawn(move || pass(&[Item { fd: conn_raw, tag: 7, state: b"" }], 10_000));
        let deadline = Deadline::after_ms(10_000);
        while can_pass().map_err(|e| e.errno.0) != Err(libc::EBUSY) {
            assert!(!deadline.expired(), "the pass never started");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        release();
        released.store(true, Ordering::Release);
        let (passed, res) = passer.join().unwrap();
        assert_eq!(passed, 1);
        assert!(res.is_ok());
        receiver.join().unwrap();

        // Released: nothing more can be passed, and the new generation sees EOF.
        assert_eq!(can_pass().unwrap_err().errno.0, libc::ENOTCONN);
        assert_ne!(poll::wait(new_end.raw(), libc::POLLIN, Deadline::after_ms(5_000)).unwrap(), 0);
        let mut b = [0u8; 64];
        assert_eq!(socket::recv(new_end.raw(), &mut b, libc::MSG_DONTWAIT).unwrap(), 0);
    }
}
