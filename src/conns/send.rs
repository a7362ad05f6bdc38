//! The old generation's side of the connection pass.

use alloc::vec::Vec;

use crate::error::Result;
use crate::proto::conns::{self as wire, Frame, Kind};
use crate::sync::Mutex;
use crate::sys::fd::{Fd, RawFd};
use crate::sys::process::Pid;
use crate::sys::time::Deadline;
use crate::sys::{poll, socket, Errno};
use crate::{err, log};

/// One connection to pass.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// The connection (borrowed: the caller closes it once it was passed).
    pub fd: RawFd,
    /// The application's tag, handed to the new generation as is.
    pub tag: u64,
    /// The application's state, at most [`wire::STATE_MAX`] bytes.
    pub state: &'a [u8],
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
    /// The new generation whose ready frame said it takes connections.
    peer_takes: Option<Pid>,
}

static STATE: Mutex<State> = Mutex::new(State { sender: None, busy: false, peer_takes: None });

/// Called when a started process reported ready with this status.
pub fn note_ready(pid: Pid, status: i32) {
    let mut st = STATE.lock();
    if status & wire::READY_TAKES_CONNS != 0 {
        st.peer_takes = Some(pid);
    } else if st.peer_takes == Some(pid) {
        st.peer_takes = None;
    }
}

/// The upgrade to `pid` succeeded: keep its readiness channel if it takes
/// connections (else close it, as before). Replaces an older channel.
pub fn adopt(waiter: Fd, pid: Pid) {
    let mut st = STATE.lock();
    if st.peer_takes.take() == Some(pid) {
        st.sender = Some(Sender { ch: waiter, pid, next_id: 1 });
    }
}

/// A hand-off taker (`pid`) that is ready sent `ch`, a unix seqpacket socket
/// of its making, to take connections over (the hand-off CONNS frame): keep it
/// as the channel of later passes. Replaces an older channel.
pub fn adopt_handoff(ch: Fd, pid: Pid) {
    STATE.lock().sender = Some(Sender { ch, pid, next_id: 1 });
}

/// The new generation that takes connections. `ENOTCONN` if there is none
/// (no upgrade finished, it did not enable the pass, or a failed pass
/// closed the channel).
pub fn can_pass() -> Result<Pid> {
    let st = STATE.lock();
    match (&st.sender, st.busy) {
        (Some(s), _) => Ok(s.pid),
        (None, true) => Err(err!(EBUSY, "a connection pass is running")),
        (None, false) => Err(err!(ENOTCONN, "no new generation takes connections")),
    }
}

/// Close the channel to the new generation (no more connections will be
/// passed; its receiving thread ends).
pub fn release() {
    let s = STATE.lock().sender.take();
    drop(s);
}

/// Pass `items` to the new generation, in order, in batches; wait at most
/// `timeout_ms` in all (negative: no limit). Returns how many were passed —
/// always a prefix of `items`: those belong to the new generation now, and
/// the caller stops serving them and closes its fds — and the error that
/// stopped the rest (which stay with the caller, untouched).
///
/// Errors: `EINVAL` (nothing passed) for an fd that is not a connected
/// stream socket, the same fd twice, or a state above `STATE_MAX`;
/// `ENOTCONN` if no new generation takes connections; `EBUSY` if another
/// pass is running; `ETIMEDOUT` if the new generation did not acknowledge a
/// batch in time; `EPIPE` if it is gone; the errno of a batch it refused,
/// with its reason; `EBADMSG` if it answered nonsense. After any error but
/// `EINVAL`/`EBUSY`/a refusal the channel is closed: fall back to the drain.
pub fn pass(items: &[Item<'_>], timeout_ms: i64) -> (usize, Result<()>) {
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
    let mut res = Ok(());
    let mut keep = true;
    for end in ends {
        let batch = items.get(start..end).unwrap_or(&[]);
        match one_batch(&mut sender, batch, deadline) {
            Ok(()) => passed += batch.len(),
            Err((e, still_usable)) => {
                keep = still_usable;
                res = Err(e);
                break;
            }
        }
        start = end;
    }
    match &res {
        Err(e) => log!(log::WARNING, "connection pass to pid {}: {} of {} passed: {}", sender.pid, passed, items.len(), e),
        Ok(()) => log!(log::INFO, "connection pass: {} connections to pid {} in {} us", passed, sender.pid, crate::sys::time::monotonic_us().saturating_sub(t0)),
    }
    let mut st = STATE.lock();
    st.busy = false;
    if keep && st.sender.is_none() {
        st.sender = Some(sender);
    }
    (passed, res)
}

/// Validate everything before the first byte goes out; returns the batch ends.
fn check(items: &[Item<'_>]) -> Result<Vec<usize>> {
    let mut fds: Vec<RawFd> = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let ty = socket::getsockopt_int(it.fd, libc::SOL_SOCKET, libc::SO_TYPE);
        let listening = socket::getsockopt_int(it.fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN);
        if ty != Ok(libc::SOCK_STREAM) || listening != Ok(0) {
            return Err(err!(EINVAL, "connection {} (fd {}) is not a connected stream socket", i, it.fd));
        }
        fds.push(it.fd);
    }
    fds.sort_unstable();
    if let Some(w) = fds.windows(2).find(|w| w.first() == w.get(1)) {
        return Err(err!(EINVAL, "fd {} is given twice", w.first().copied().unwrap_or(-1)));
    }
    wire::plan(items.iter().map(|i| i.state.len()))
}

/// Why a batch failed, and what that means for the channel.
struct Fail {
    e: crate::Error,
    /// The receiver may still read the batch: tell it to close its copies.
    abort: bool,
    /// The channel is still in step (a refusal): later passes may use it.
    keep: bool,
}

fn fail(e: crate::Error, abort: bool, keep: bool) -> Fail {
    Fail { e, abort, keep }
}

/// Send one batch and see it committed. On error: the error, and whether the
/// channel is still in step (a refusal) or must be closed.
fn one_batch(s: &mut Sender, batch: &[Item<'_>], deadline: Deadline) -> core::result::Result<(), (crate::Error, bool)> {
    let id = s.next_id;
    s.next_id = s.next_id.wrapping_add(1).max(1);
    let conns: Vec<(u64, &[u8])> = batch.iter().map(|i| (i.tag, i.state)).collect();
    let fds: Vec<RawFd> = batch.iter().map(|i| i.fd).collect();
    let mut frame = Vec::new();
    wire::encode_batch(id, &conns, &mut frame).map_err(|e| (e, true))?;
    send_frame(&s.ch, &frame, &fds, deadline).map_err(|e| (e, false))?;
    if let Err(f) = await_reply(&s.ch, id, deadline) {
        if f.abort {
            // The new generation may read the batch later: tell it to close
            // its copies (best effort: the EOF that follows says the same).
            let mut a = Vec::new();
            if wire::encode_id(Kind::Abort, id, &mut a).is_ok() {
                let _ = socket::send(s.ch.raw(), &a, libc::MSG_DONTWAIT);
            }
        }
        return Err((f.e, f.keep));
    }
    wire::encode_id(Kind::Commit, id, &mut frame).map_err(|e| (e, false))?;
    // The receiver just read the batch, so there is room for these 16 bytes:
    // do not let an expired deadline turn a done pass into a failure.
    send_frame(&s.ch, &frame, &[], Deadline::after_ms(1_000)).map_err(|e| (e, false))
}

fn gone(e: Errno) -> bool {
    matches!(e, Errno(libc::EPIPE) | Errno(libc::ECONNRESET) | Errno(libc::ENOTCONN))
}

fn send_frame(ch: &Fd, frame: &[u8], fds: &[RawFd], deadline: Deadline) -> Result<()> {
    loop {
        match socket::send_with_fds_flags(ch.raw(), frame, fds, None, libc::MSG_DONTWAIT) {
            Ok(_) => return Ok(()),
            Err(Errno(libc::EAGAIN)) => {}
            Err(e) if gone(e) => return Err(err!(EPIPE, "the new generation is gone (send: {})", e)),
            Err(e) => return Err(crate::Error::sys(e, "connection pass: send")),
        }
        let r = poll::wait(ch.raw(), libc::POLLOUT, deadline).map_err(|e| crate::Error::sys(e, "connection pass: poll"))?;
        if r == 0 {
            return Err(err!(ETIMEDOUT, "the new generation did not read the connections in time"));
        }
    }
}

/// Wait for the ACK of batch `id`.
fn await_reply(ch: &Fd, id: u32, deadline: Deadline) -> core::result::Result<(), Fail> {
    let mut buf = [0u8; wire::REPLY_MAX + 1];
    loop {
        let r = poll::wait(ch.raw(), libc::POLLIN, deadline).map_err(|e| fail(crate::Error::sys(e, "connection pass: poll"), true, false))?;
        if r == 0 {
            return Err(fail(err!(ETIMEDOUT, "the new generation did not acknowledge the connections in time"), true, false));
        }
        let n = match socket::recv(ch.raw(), &mut buf, libc::MSG_DONTWAIT) {
            Ok(n) => n,
            Err(Errno(libc::EAGAIN)) => continue,
            Err(e) if gone(e) => 0,
            Err(e) => return Err(fail(crate::Error::sys(e, "connection pass: recv"), true, false)),
        };
        if n == 0 {
            return Err(fail(err!(EPIPE, "the new generation is gone (it closed the channel before acknowledging)"), false, false));
        }
        match wire::decode(buf.get(..n).unwrap_or(&[])) {
            Ok(Frame::Ack(got)) if got == id => return Ok(()),
            // It closed its copies; the channel stays in step.
            Ok(Frame::Refuse { id: got, errno, reason }) if got == id || got == 0 => {
                let e = crate::Error::new(Errno(errno), format_args!("the new generation refused batch {}: {}", id, reason.as_str()));
                return Err(fail(e, false, true));
            }
            // A late answer about an earlier batch.
            Ok(Frame::Ack(_)) | Ok(Frame::Refuse { .. }) => continue,
            Ok(f) => return Err(fail(err!(EBADMSG, "the new generation sent {:?} instead of an acknowledgement", kind_of(&f)), true, false)),
            Err(e) => return Err(fail(e.context(format_args!("the new generation's answer")), true, false)),
        }
    }
}

fn kind_of(f: &Frame) -> Kind {
    match f {
        Frame::Batch { .. } => Kind::Batch,
        Frame::Ack(_) => Kind::Ack,
        Frame::Refuse { .. } => Kind::Refuse,
        Frame::Commit(_) => Kind::Commit,
        Frame::Abort(_) => Kind::Abort,
    }
}
