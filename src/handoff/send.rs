//! One transfer, the sending end: the header frame, then the fds in chunks
//! of at most 252 per `sendmsg` (`MSG_NOSIGNAL`, `MSG_DONTWAIT` plus `poll`),
//! bounded by a deadline. The old side sends its registry piece by piece
//! with [`Outgoing::flush`]; [`send_fds_with`] sends a whole transfer at once.
//!
//! [`send_fds_with`] costs the kernel's work and little else: the header is
//! encoded in one pass over the names, checking each (nothing goes before
//! all passed), and each chunk frame goes with its fds straight from the
//! caller's array.
//!
//! The old side sends its registry in slices ([`Outgoing::plan`]): each chunk
//! carries the registry's own fds, checked and sent under the registry lock
//! (the registry's change counter says whether they are still the entries
//! the transfer was planned with when they go). Nothing is duplicated: a hand-off of N fds holds N of them, and
//! costs no `dup`/`close` pair per fd (the kernel takes its own references).

use alloc::vec::Vec;

use crate::err;
use crate::error::Result;
use crate::proto::handoff::{self as wire, Chunk};
use crate::sys::fd::{self, RawFd};
use crate::sys::time::Deadline;
use crate::sys::poll::{self, SendShort};
use crate::sys::{socket, Errno};

/// The old side's transfer of its registry, sent piece by piece with
/// [`Outgoing::flush`]: the header, then one chunk per 252 entries, each
/// chunk frame encoded when it goes and its fds taken from the registry then.
pub(super) struct Outgoing {
    header: Vec<u8>,
    /// How many entries the registry had when the transfer was planned.
    count: usize,
    /// The registry's change counter then (a chunk goes only while the
    /// registry has not changed since: [`send_slice`]).
    changes: u64,
    /// The message being sent: 0 is the header, `k` ≥ 1 is chunk `k - 1`.
    pos: usize,
    /// How many bytes of it went.
    off: usize,
}

impl Outgoing {
    /// Nothing to send.
    pub(super) const fn none() -> Outgoing {
        Outgoing { header: Vec::new(), count: 0, changes: 0, pos: 0, off: 0 }
    }

    /// The transfer of the registry as it is now (its names and fd
    /// numbers). EINVAL as [`wire::encode_header_with`].
    pub(super) fn plan() -> Result<Outgoing> {
        crate::registry::with_quiet(|r| {
            let e = &r.entries;
            let header = wire::encode_header_with(e.len(), |i| Ok(e.get(i).map_or(&[][..], |x| x.name.as_slice())))?;
            Ok(Outgoing { header, count: e.len(), changes: r.changes, pos: 0, off: 0 })
        })
    }

    /// How many fds the transfer carries.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// How far the sending has come (message, byte in it).
    pub(super) fn mark(&self) -> (usize, usize) {
        (self.pos, self.off)
    }

    /// Whether a message is half sent: then nothing else may go on the
    /// connection (the taker would read it as the rest of that message).
    pub(super) fn cut(&self) -> bool {
        self.off > 0
    }

    /// The chunk that message `pos` is, if it is one.
    fn chunk(&self, pos: usize) -> Option<Chunk> {
        let first = pos.checked_sub(1)?.checked_mul(wire::CHUNK_MAX)?;
        let count = self.count.checked_sub(first).filter(|&n| n > 0)?.min(wire::CHUNK_MAX);
        Some(Chunk { first: first as u32, count: count as u32 })
    }

    /// How many fds have left: those of the chunks before the current
    /// message, and its own once its first byte went.
    pub(super) fn fds_sent(&self) -> usize {
        let before = self.pos.saturating_sub(1).saturating_mul(wire::CHUNK_MAX).min(self.count);
        let current = if self.off > 0 { self.chunk(self.pos).map_or(0, |c| c.count as usize) } else { 0 };
        before + current
    }

    /// Send as much as the socket takes now (`MSG_DONTWAIT`).
    pub(super) fn flush(&mut self, sock: RawFd) -> core::result::Result<Progress, Errno> {
        loop {
            let frame;
            let (data, chunk) = if self.pos == 0 {
                (&self.header[..], None)
            } else {
                let Some(c) = self.chunk(self.pos) else { return Ok(Progress::Done) };
                frame = wire::encode_chunk(c);
                (&frame[..], Some(c))
            };
            let rest = data.get(self.off..).unwrap_or(&[]);
            if rest.is_empty() {
                self.pos += 1;
                self.off = 0;
                continue;
            }
            // On a stream socket the fds travel with the first byte of the message.
            let sent = match chunk {
                Some(c) if self.off == 0 => send_slice(sock, rest, c, (self.changes, self.count)),
                _ => socket::send_with_fds_flags(sock, rest, &[], None, libc::MSG_DONTWAIT),
            };
            match sent {
                Ok(0) => return Err(Errno(libc::EIO)),
                Ok(n) => self.off += n,
                Err(Errno(libc::EAGAIN)) => return Ok(Progress::Blocked),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Send `data` with the fds of registry entries `c` (the chunk's) of the
/// transfer planned when the registry's change counter and length were
/// `planned`, if the registry has not changed since: checked and sent under
/// the registry lock, so no entry can be closed or replaced between the
/// check and the `sendmsg` (which does not block: `MSG_DONTWAIT`). ESTALE if the registry changed under the
/// transfer: an entry closed, forgotten or named meanwhile (its number may name
/// another file now, even one added since) or added (the taker would miss
/// it). The length catches an entry appended by code that does not count.
fn send_slice(sock: RawFd, data: &[u8], c: Chunk, planned: (u64, usize)) -> core::result::Result<usize, Errno> {
    crate::registry::with_quiet(|r| {
        if (r.changes, r.entries.len()) != planned {
            return Err(Errno(libc::ESTALE));
        }
        let first = c.first as usize;
        let mut raws = [-1 as RawFd; wire::CHUNK_MAX];
        for (slot, e) in raws.iter_mut().zip(r.entries.get(first..).unwrap_or(&[])) {
            *slot = e.fd.raw();
        }
        socket::send_with_fds_flags(sock, data, raws.get(..c.count as usize).unwrap_or(&[]), None, libc::MSG_DONTWAIT)
    })
}

/// Whether the transfer was sent entirely or the socket is full.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    Done,
    Blocked,
}

/// The error for a send that failed with `e` after `sent` of `total` fds.
pub(super) fn send_error(e: Errno, sent: usize, total: usize) -> crate::Error {
    match e.0 {
        _ if e.peer_closed() => crate::Error::new(
            e,
            format_args!("the receiving side closed the connection after {} of {} fds", sent, total),
        ),
        libc::ESTALE => crate::Error::new(
            e,
            format_args!("the registry changed during the hand-off, after {} of {} fds (an entry was added, named, closed or forgotten)", sent, total),
        ),
        libc::ETOOMANYREFS => crate::Error::new(
            e,
            format_args!("too many fds in flight for this user after {} of {} (raise RLIMIT_NOFILE)", sent, total),
        ),
        _ => crate::Error::sys(e, "sendmsg"),
    }
}

/// Send all of `data`, `fds` riding on its first byte, waiting for room
/// until `deadline` (`MSG_DONTWAIT` plus `poll`). `sent` of `total` fds went
/// before it (for the error's message).
fn send_message(sock: RawFd, data: &[u8], fds: &[RawFd], deadline: Deadline, sent: usize, total: usize) -> Result<()> {
    poll::send_all(sock, data, fds, deadline).map_err(|(why, off)| message_error(why, sent + if off > 0 { fds.len() } else { 0 }, total))
}

/// The error of a [`send_message`] that stopped short after `went` of `total` fds.
#[cold]
#[inline(never)]
fn message_error(why: SendShort, went: usize, total: usize) -> crate::Error {
    match why {
        SendShort::Send(e) => send_error(e, went, total),
        SendShort::Poll(e) => crate::Error::sys(e, "poll"),
        SendShort::Timeout => err!(ETIMEDOUT, "timed out: the receiving side took {} of {} fds", went, total),
    }
}

/// [`send_fds_with`] with the names in a slice (the tests' form). EINVAL
/// also when the counts differ.
#[cfg(test)]
pub(crate) fn send_fds<N: AsRef<[u8]>>(sock: RawFd, fds: &[RawFd], names: &[N], deadline: Deadline) -> Result<()> {
    if fds.len() != names.len() {
        return Err(err!(EINVAL, "{} fds but {} names", fds.len(), names.len()));
    }
    send_fds_with(sock, fds, |i| Ok(names.get(i).map_or(&[][..], |n| n.as_ref())), deadline)
}

/// Send `fds` over the connected unix stream socket `sock`, the name of
/// `fds[i]` given by `name(i)`: the header frame, then chunks of at most 252
/// fds. `name` may fail (a NULL from C): every name is checked before
/// anything is sent.
/// The fds stay the caller's (the kernel passes duplicates). Never raises
/// SIGPIPE; never changes the socket's `O_NONBLOCK`.
///
/// Errors: EINVAL (a name is invalid, more than `MAX_FDS`), what `name`
/// failed with, EBADF (an fd is not open: found when its chunk is sent, so
/// the stream is then mid-transfer), EPIPE/ECONNRESET (the receiver went
/// away; the message says after how many fds), ETIMEDOUT, ETOOMANYREFS, or
/// what `sendmsg` failed with.
pub(crate) fn send_fds_with<'a>(
    sock: RawFd,
    fds: &[RawFd],
    name: impl Fn(usize) -> Result<&'a [u8]>,
    deadline: Deadline,
) -> Result<()> {
    if let Some(i) = fds.iter().position(|&f| f < 0) {
        return Err(err!(EBADF, "fd #{} ({}) is not an fd", i, fds.get(i).copied().unwrap_or(-1)));
    }
    let total = fds.len();
    let header = wire::encode_header_with(total, name)?;
    send_message(sock, &header, &[], deadline, 0, total)?;
    for c in wire::chunks(total) {
        let first = c.first as usize;
        let part = fds.get(first..first + c.count as usize).unwrap_or(&[]);
        send_message(sock, &wire::encode_chunk(c), part, deadline, first, total).map_err(|e| {
            // Which fd was closed is looked up only now: checking 10,000 fds
            // beforehand would cost a syscall each on every transfer.
            match part.iter().position(|&f| e.errno.0 == libc::EBADF && !fd::is_open(f)) {
                Some(i) => err!(EBADF, "fd #{} ({}) is not open", first + i, part.get(i).copied().unwrap_or(-1)),
                None => e,
            }
        })?;
    }
    Ok(())
}

/// Send a few bytes (a control frame) without fds, waiting until `deadline`.
/// On failure, [`frame_error`] words it.
pub(super) fn send_frame(sock: RawFd, frame: &[u8], deadline: Deadline) -> core::result::Result<(), SendShort> {
    poll::send_all(sock, frame, &[], deadline).map_err(|(short, _)| short)
}

/// Whether a [`send_frame`] failed because the other side is gone.
pub(super) fn peer_gone(short: SendShort) -> bool {
    matches!(short, SendShort::Send(e) if e.peer_closed())
}

/// Put why a [`send_frame`] failed in `why`.
#[cold]
#[inline(never)]
pub(super) fn frame_error(short: SendShort, why: &mut crate::Error) {
    match short {
        SendShort::Send(e) if peer_gone(short) => why.set(e.0, format_args!("the other side closed the connection")),
        SendShort::Send(e) => why.set_sys(e, "sendmsg"),
        SendShort::Poll(e) => why.set_sys(e, "poll"),
        SendShort::Timeout => why.set(libc::ETIMEDOUT, format_args!("timed out sending a control frame: the other side does not read")),
    }
}
