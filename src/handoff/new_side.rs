//! The new side: take the fds of the process serving at a path, and tell it
//! to drain once this process is ready.

use alloc::vec::Vec;

use super::receive::Rx;
use super::send::send_frame;
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
    let r = take_inner(path, Deadline::after_ms(timeout_ms));
    let mut t = TAKEN.lock();
    match r {
        Ok((sock, n, old_pid)) => {
            *t = Taken::Pending { sock, path: path.to_vec(), old_pid };
            // An old side may now pass us connections (`conns::enable` asks).
            crate::conns::set_handoff_pending(true);
            drop(t);
            log!(log::NOTICE, "hand-off: took {} fds from pid {} at {}", n, old_pid, Shown(path));
            Ok(n)
        }
        Err(e) => {
            *t = Taken::None;
            drop(t);
            let e = e.context(format_args!("hand-off from {}", Shown(path)));
            log!(log::WARNING, "{}", e.message());
            Err(e)
        }
    }
}

fn take_inner(path: &[u8], deadline: Deadline) -> Result<(Fd, usize, Pid)> {
    let addr = socket::SockAddr::unix(path, false).map_err(|e| crate::Error::sys(e, "path"))?;
    let sock = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0).map_err(|e| crate::Error::sys(e, "socket"))?;
    loop {
        match socket::connect(sock.raw(), &addr) {
            Ok(()) => break,
            // The backlog is full: the server is busy; retry until the deadline.
            Err(Errno(libc::EAGAIN)) if !deadline.expired() => time::sleep_ms(1),
            Err(Errno(libc::EAGAIN)) => return Err(err!(ETIMEDOUT, "timed out connecting (the server's backlog is full)")),
            Err(e @ Errno(libc::ENOENT)) | Err(e @ Errno(libc::ECONNREFUSED)) => {
                return Err(crate::Error::new(e, format_args!("nobody serves there: connect: {}", e)))
            }
            Err(e) => return Err(crate::Error::sys(e, "connect")),
        }
    }
    let cred = socket::peer_cred(sock.raw()).map_err(|e| crate::Error::sys(e, "SO_PEERCRED"))?;
    if !trusted(cred.uid) {
        return Err(err!(
            EACCES,
            "the serving process (pid {}) runs as uid {}: only our uid {} or root is trusted",
            cred.pid,
            cred.uid,
            process::geteuid()
        ));
    }
    match send_frame(sock.raw(), &wire::encode_take(), deadline) {
        Ok(()) => {}
        // Refused at once (it need not read our TAKE first): its refusal, if
        // any, is waiting in our receive queue; read on.
        Err(e) if matches!(e.errno.0, libc::EPIPE | libc::ECONNRESET) => {}
        Err(e) => return Err(e),
    }
    let mut rx = Rx::new(sock.raw(), deadline);
    let Some((h, body)) = rx.first_frame() else { return Err(rx.why) };
    if h.kind == HandoffMsg::Refuse {
        let (e, why) = wire::decode_refuse(&body)?;
        return Err(crate::Error::new(Errno(e), format_args!("refused by pid {}: {}", cred.pid, why.as_str())));
    }
    let Some(mut got) = rx.transfer(body, wire::MAX_FDS) else { return Err(rx.why) };
    // Received with MSG_CMSG_CLOEXEC: CLOEXEC from the moment they exist.
    let n = registry::import_received(got.drain().map(|(name, fd)| (name.to_vec(), fd)).collect())?;
    Ok((sock, n, cred.pid))
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
        Err(e) if matches!(e.errno.0, libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN) => {
            log!(log::NOTICE, "hand-off: pid {} is gone; nothing to drain", old_pid);
            Ok(true)
        }
        Err(e) => Err(e.context(format_args!("hand-off: telling pid {} to drain", old_pid))),
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
