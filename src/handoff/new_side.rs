//! The new side: take the fds of the process serving at a path, and tell it
//! to drain once this process is ready.

use alloc::vec::Vec;

use super::receive::Rx;
use super::send::{frame_error, peer_gone, send_frame};
use super::trusted;
use crate::error::Result;
use crate::proto::addr::Shown;
use crate::proto::handoff::{self as wire, HandoffMsg};
use crate::sync::Mutex;
use crate::sys::fd::Fd;
use crate::sys::process::{self, Pid};
use crate::sys::time::{self, Deadline};
use crate::sys::{socket, Errno};
use crate::{err, log, registry};

/// How long the taker's READY may take to leave (it is 12 bytes on an idle socket).
const READY_SEND_MS: i64 = 1_000;

enum Taken {
    None,
    /// A take() is running (the lock is not held while it waits).
    Taking,
    /// Fds taken; the connection waits for our READY.
    Pending { sock: Fd, path: Vec<u8>, old_pid: Pid },
}

static TAKEN: Mutex<Taken> = Mutex::new(Taken::None);

/// Whether this process took its fds from `path` and has not reported ready yet.
pub(super) fn took_from(path: &[u8]) -> bool {
    matches!(&*TAKEN.lock(), Taken::Pending { path: p, .. } if p == path)
}

/// Connect to the process serving at `path`, receive every named fd into the
/// registry (as if inherited), and keep the connection until
/// [`report_ready`]. Returns the number of fds taken. `timeout_ms` bounds the
/// whole exchange (negative: no limit).
///
/// The serving process must run as our uid or as root (checked with
/// `SO_PEERCRED`), as it checks us.
///
/// Errors: EALREADY (fds were taken and ready was not reported yet, or a
/// take is running), EINVAL/ENAMETOOLONG (bad path), ENOENT or
/// ECONNREFUSED (nobody serves there), EACCES (the path's permissions, or
/// the server's uid, or the server refused our uid), EBUSY (the server is
/// handing off to another process, or already did), ETIMEDOUT, the errors of
/// [`recv_fds`], or another errno the server refused with (the message is
/// the server's reason).
///
/// [`recv_fds`]: super::recv_fds
pub(crate) fn take(path: &[u8], timeout_ms: i64) -> Result<usize> {
    crate::ready::HANDOFF_PEER.install(&(report_ready as fn() -> Result<bool>));
    {
        let mut t = TAKEN.lock();
        match &*t {
            Taken::None => *t = Taken::Taking,
            Taken::Taking => return Err(err!(EALREADY, "a hand-off take is already running")),
            Taken::Pending { old_pid, .. } => {
                return Err(err!(EALREADY, "fds were already taken from pid {}; report ready first", old_pid))
            }
        }
    }
    let mut why = crate::Error::unset();
    let r = take_inner(path, Deadline::after_ms(timeout_ms), &mut why);
    let mut t = TAKEN.lock();
    match r {
        Some((sock, n, old_pid)) => {
            *t = Taken::Pending { sock, path: path.to_vec(), old_pid };
            // An old side may now pass us connections (`conns::enable` asks).
            crate::conns::set_handoff_pending(true);
            drop(t);
            log!(log::NOTICE, "hand-off: took {} fds from pid {} at {}", n, old_pid, Shown(path));
            Ok(n)
        }
        None => {
            *t = Taken::None;
            drop(t);
            why.prefix(format_args!("hand-off from {}", Shown(path)));
            log!(log::WARNING, "{}", why.message());
            Err(why)
        }
    }
}

/// The exchange of [`take`]: the connection, how many fds were taken and
/// from which pid, or `None` with the reason in `why`.
fn take_inner(path: &[u8], deadline: Deadline, why: &mut crate::Error) -> Option<(Fd, usize, Pid)> {
    let addr = match socket::SockAddr::unix(path, false) {
        Ok(a) => a,
        Err(e) => {
            why.set_sys(e, "path");
            return None;
        }
    };
    let sock = match socket::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) {
        Ok(s) => s,
        Err(e) => {
            why.set_sys(e, "socket");
            return None;
        }
    };
    loop {
        match socket::connect(sock.raw(), &addr) {
            Ok(()) => break,
            // The backlog is full: the server is busy; retry until the deadline.
            Err(Errno(libc::EAGAIN)) if !deadline.expired() => time::sleep_ms(1),
            Err(Errno(libc::EAGAIN)) => {
                why.set(libc::ETIMEDOUT, format_args!("timed out connecting (the server's backlog is full)"));
                return None;
            }
            Err(e @ Errno(libc::ENOENT)) | Err(e @ Errno(libc::ECONNREFUSED)) => {
                why.set(e.0, format_args!("nobody serves there: connect: {}", e));
                return None;
            }
            Err(e) => {
                why.set_sys(e, "connect");
                return None;
            }
        }
    }
    let cred = match socket::peer_cred(sock.raw()) {
        Ok(c) => c,
        Err(e) => {
            why.set_sys(e, "SO_PEERCRED");
            return None;
        }
    };
    if !trusted(cred.uid) {
        why.set(
            libc::EACCES,
            format_args!(
                "the serving process (pid {}) runs as uid {}: only our uid {} or root is trusted",
                cred.pid,
                cred.uid,
                process::geteuid()
            ),
        );
        return None;
    }
    match send_frame(sock.raw(), &wire::encode_take(), deadline) {
        Ok(()) => {}
        // Refused at once (it need not read our TAKE first): its refusal, if
        // any, is waiting in our receive queue; read on.
        Err(short) if peer_gone(short) => {}
        Err(short) => {
            frame_error(short, why);
            return None;
        }
    }
    let mut rx = Rx::new(sock.raw(), deadline, why);
    let (h, body) = rx.first_frame()?;
    if h.kind == HandoffMsg::Refuse {
        match wire::decode_refuse(&body) {
            Ok((e, reason)) => why.set(e, format_args!("refused by pid {}: {}", cred.pid, reason.as_str())),
            Err(e) => *why = e,
        }
        return None;
    }
    let got = rx.transfer(body, wire::MAX_FDS)?;
    // Received with MSG_CMSG_CLOEXEC: CLOEXEC from the moment they exist.
    match registry::import_received(got.into_named()) {
        Ok(n) => Some((sock, n, cred.pid)),
        Err(e) => {
            *why = e;
            None
        }
    }
}

/// Called by `ready::report_ready`: if this process took its fds from
/// another one, tell it to drain. `Ok(true)` if there was one to tell (also
/// when it has gone meanwhile: nothing to drain then), `Ok(false)` if not.
pub(crate) fn report_ready() -> Result<bool> {
    let taken = {
        let mut t = TAKEN.lock();
        if !matches!(&*t, Taken::Pending { .. }) {
            return Ok(false);
        }
        crate::conns::set_handoff_pending(false);
        core::mem::replace(&mut *t, Taken::None)
    };
    let Taken::Pending { sock, old_pid, .. } = taken else {
        return Ok(false);
    };
    match send_frame(sock.raw(), &wire::encode_ready(), Deadline::after_ms(READY_SEND_MS)) {
        Ok(()) => {
            log!(log::NOTICE, "hand-off: told pid {} to drain", old_pid);
            if crate::conns::is_enabled() {
                offer_conns(&sock, old_pid);
            }
            Ok(true)
        }
        Err(short) if peer_gone(short) => {
            log!(log::NOTICE, "hand-off: pid {} is gone; nothing to drain", old_pid);
            Ok(true)
        }
        Err(short) => {
            let mut why = crate::Error::unset();
            frame_error(short, &mut why);
            why.prefix(format_args!("hand-off: telling pid {} to drain", old_pid));
            Err(why)
        }
    }
}

/// We take connections: send the old side one end of a fresh seqpacket
/// socketpair with a CONNS frame (its own `sendmsg`, after READY, so an old
/// side of an earlier version never reads the fd: it closes on READY) and
/// receive on the other end. Best effort: if it fails, the old side drains.
fn offer_conns(sock: &Fd, old_pid: Pid) {
    let r = socket::socketpair(libc::SOCK_SEQPACKET).and_then(|(ours, theirs)| {
        socket::send_with_fds_flags(sock.raw(), &wire::encode_conns(), &[theirs.raw()], None, libc::MSG_DONTWAIT)?;
        Ok(ours)
    });
    match r {
        Ok(ours) => crate::conns::start_receiving(ours),
        Err(e) => log!(log::WARNING, "hand-off: cannot offer to take connections from pid {} ({}); it will drain them", old_pid, e),
    }
}
