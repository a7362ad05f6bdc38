//! The new generation's side of the connection pass: a library thread reads
//! the readiness channel after ready, checks each batch, acknowledges it, and
//! queues its connections once the old generation commits them.
//!
//! The thread runs with every signal blocked, takes only the queue's lock
//! (briefly, calling nothing while it holds it), logs nothing (the log hook
//! would run on a thread the program did not make), and ends at EOF. It holds
//! an uncommitted batch apart: on ABORT, on EOF, or on any frame out of turn
//! those fds are closed, never served.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::error::Result;
use crate::proto::conns::{self as wire, Frame, PassStep};
use crate::sync::{Mutex, OptIn};
use crate::sys::fd::{Fd, RawFd};
use crate::sys::{socket, thread};
use crate::{err, lineage};

/// Most connections queued and not yet taken; a batch beyond it is refused
/// (`ENOBUFS`), so a hostile sender cannot exhaust our fds.
pub(crate) const QUEUE_MAX: usize = 65536;

/// A connection received from the old generation.
#[derive(Debug)]
pub(crate) struct Passed {
    /// The connection (owned: CLOEXEC, blocking mode as the old side left it).
    pub(crate) fd: Fd,
    /// The old side's tag.
    pub(crate) tag: u64,
    /// The old side's state bytes.
    pub(crate) state: Vec<u8>,
}

struct Queue {
    enabled: bool,
    conns: VecDeque<Passed>,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue { enabled: false, conns: VecDeque::new() });

/// Take connections passed by the older generation (call before reporting
/// ready: the ready frame says so). Returns whether an older generation
/// exists that may pass some (we were started by an upgrade, or took our fds
/// by hand-off and have not reported ready yet). Idempotent.
pub(crate) fn enable() -> Result<bool> {
    RECEIVER.install(&(start_receiving as fn(Fd)));
    QUEUE.lock().enabled = true;
    Ok(lineage::is_upgrade() || HANDOFF_PENDING.load(Ordering::Acquire))
}

/// Whether this process took its fds by hand-off and has not reported ready
/// yet: the hand-off, which sits above this module, says so when it takes
/// and when it reports ready ([`set_handoff_pending`]).
static HANDOFF_PENDING: AtomicBool = AtomicBool::new(false);

/// Called by the hand-off: fds were taken from an older side that may pass
/// connections (`true`), or ready was reported to it (`false`).
pub(crate) fn set_handoff_pending(pending: bool) {
    HANDOFF_PENDING.store(pending, Ordering::Release);
}

/// Whether [`enable`] was called.
pub(crate) fn is_enabled() -> bool {
    QUEUE.lock().enabled
}

/// The status bits of our ready frame.
pub(crate) fn ready_status() -> i32 {
    if QUEUE.lock().enabled && lineage::is_upgrade() {
        wire::READY_TAKES_CONNS
    } else {
        0
    }
}

/// [`start_receiving`], installed by [`enable`]: reporting ready reaches
/// the receiving thread through it, so a program that never enables the
/// pass does not link the thread (`sync::OptIn`).
static RECEIVER: OptIn<fn(Fd)> = OptIn::new();

/// We reported ready on `ch`: keep it and start the receiving thread if we
/// take connections (else it is closed, as before).
pub(crate) fn adopt_channel(ch: Fd) {
    if ready_status() == 0 {
        return;
    }
    // Installed: a nonzero status means `enable` ran.
    if let Some(start) = RECEIVER.get() {
        start(ch);
    }
}

/// Receive connections on `ch` with a library thread (the hand-off taker's
/// channel, or the readiness channel of an upgrade).
pub(crate) fn start_receiving(ch: Fd) {
    let arg = Box::into_raw(Box::new(ch)) as *mut c_void;
    // SAFETY: `run` takes the box back and owns it from then on.
    if let Err(e) = unsafe { thread::spawn_detached(run, arg) } {
        // SAFETY: the thread did not start, so the box is still ours.
        drop(unsafe { Box::from_raw(arg as *mut Fd) });
        crate::log!(crate::log::ERR, "connection pass: cannot start the receiving thread: {}; the old generation will drain instead", e);
    }
}

/// The next received connection, if any. `EMSGSIZE` (the connection stays
/// queued) if its state is longer than `state_cap`.
pub(crate) fn next(state_cap: usize) -> Result<Option<Passed>> {
    let mut q = QUEUE.lock();
    match q.conns.front() {
        None => Ok(None),
        Some(p) if p.state.len() > state_cap => {
            Err(err!(EMSGSIZE, "the next passed connection has {} bytes of state; the buffer holds {}", p.state.len(), state_cap))
        }
        Some(_) => Ok(q.conns.pop_front()),
    }
}

/// How many received connections wait to be taken.
pub(crate) fn pending() -> usize {
    QUEUE.lock().conns.len()
}

extern "C" fn run(arg: *mut c_void) -> *mut c_void {
    // SAFETY: made by Box::into_raw in adopt_channel, handed to us alone.
    let ch = unsafe { Box::from_raw(arg as *mut Fd) };
    serve(ch.raw());
    core::ptr::null_mut()
}

/// A batch acknowledged and not yet committed.
struct Held {
    id: u32,
    conns: Vec<Passed>,
}

/// What to answer a frame with.
enum Reply {
    Ack(u32),
    /// Refuse batch `id` (0: the frame) for the reason in the error slot.
    Refuse(u32),
    Nothing,
}

/// Read frames until EOF (or an error on the channel itself).
pub(crate) fn serve(ch: RawFd) {
    let mut buf: Vec<u8> = alloc::vec![0u8; wire::FRAME_MAX + 1];
    let mut raw = [-1 as RawFd; socket::SCM_MAX_FD];
    let mut held: Option<Held> = None;
    let mut out = Vec::new();
    let mut why = crate::Error::unset();
    while let Ok(r) = socket::recv_with_fds(ch, &mut buf, &mut raw, 0) {
        // Own what arrived at once, so every path below closes it.
        // SAFETY: fresh fds from SCM_RIGHTS, received CLOEXEC, ours alone.
        let fds: Vec<Fd> = raw.iter().take(r.nfds).map(|&f| unsafe { Fd::from_raw(f) }).collect();
        if r.len == 0 && r.nfds == 0 {
            break; // EOF: an uncommitted batch is closed below, never served.
        }
        let msg = buf.get(..r.len).unwrap_or(&[]);
        let reply = if r.data_truncated || r.fds_truncated {
            why.set(libc::EBADMSG, format_args!("a message was cut short (data or fds beyond the limits)"));
            Reply::Refuse(0)
        } else {
            step(&mut held, fds, msg, &mut why)
        };
        match reply {
            Reply::Ack(id) => {
                if wire::encode_id(PassStep::Ack, id, &mut out).is_ok() {
                    let _ = socket::send(ch, &out, 0);
                }
            }
            Reply::Refuse(id) => {
                wire::encode_refuse(id, why.errno.0, why.message(), &mut out);
                let _ = socket::send(ch, &out, 0);
            }
            Reply::Nothing => {}
        }
    }
    drop(held);
}

fn is_connection(f: &Fd) -> bool {
    socket::getsockopt_int(f.raw(), libc::SOL_SOCKET, libc::SO_TYPE) == Ok(libc::SOCK_STREAM)
        && socket::getsockopt_int(f.raw(), libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Ok(0)
}

/// One frame (and the fds that came with it, closed unless kept); a
/// refusal's reason goes to `why`.
fn step(held: &mut Option<Held>, fds: Vec<Fd>, msg: &[u8], why: &mut crate::Error) -> Reply {
    let frame = match wire::decode(msg) {
        Ok(f) => f,
        Err(e) => {
            *held = None; // out of turn: a held batch is closed, never served
            *why = e;
            return Reply::Refuse(0);
        }
    };
    let (id, entries) = match frame {
        Frame::Batch { id, entries } => (id, entries),
        _ if !fds.is_empty() => {
            why.set(libc::EBADMSG, format_args!("a frame other than BATCH carried {} fds", fds.len()));
            return Reply::Refuse(0);
        }
        Frame::Commit(id) => {
            // Not the batch we hold: out of turn, so the held one is closed
            // (the old generation still owns those connections).
            if let Some(h) = held.take().filter(|h| h.id == id) {
                commit(h);
            }
            return Reply::Nothing;
        }
        Frame::Abort(id) => {
            if held.as_ref().map(|h| h.id) == Some(id) {
                *held = None; // closes them: the old generation keeps serving these
            }
            return Reply::Nothing;
        }
        Frame::Ack(_) | Frame::Refuse { .. } => {
            why.set(libc::EBADMSG, format_args!("the old generation sent a frame only the new one sends"));
            return Reply::Refuse(0);
        }
    };
    if let Some(h) = held.take() {
        why.set(libc::EBADMSG, format_args!("batch {} came while batch {} was not committed (both closed)", id, h.id));
        return Reply::Refuse(id);
    }
    if fds.len() != entries.len() {
        why.set(libc::EBADMSG, format_args!("batch {} announces {} connections but carries {} fds", id, entries.len(), fds.len()));
        return Reply::Refuse(id);
    }
    if let Some(i) = fds.iter().position(|f| !is_connection(f)) {
        why.set(libc::EBADMSG, format_args!("connection {} of batch {} is not a connected stream socket", i, id));
        return Reply::Refuse(id);
    }
    if pending().saturating_add(entries.len()) > QUEUE_MAX {
        why.set(libc::ENOBUFS, format_args!("{} connections wait to be taken already (at most {})", pending(), QUEUE_MAX));
        return Reply::Refuse(id);
    }
    let mut conns = Vec::with_capacity(fds.len());
    for (fd, e) in fds.into_iter().zip(entries.iter()) {
        conns.push(Passed { fd, tag: e.tag, state: msg.get(e.at..e.at + e.len).unwrap_or(&[]).to_vec() });
    }
    *held = Some(Held { id, conns });
    Reply::Ack(id)
}

fn commit(h: Held) {
    let mut q = QUEUE.lock();
    for p in h.conns {
        q.conns.push_back(p);
    }
    drop(q);
    crate::events::post(crate::events::CONNS);
}
