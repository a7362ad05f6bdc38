//! One transfer, the receiving end: frames read with `MSG_DONTWAIT` plus
//! `poll` until a deadline, fds received with `MSG_CMSG_CLOEXEC` and owned
//! from the moment they arrive (closed if the transfer fails).
//!
//! The cost per fd is the kernel's: a chunk frame is read with its fds in one
//! `recvmsg`, the fds go straight into one vector sized for the transfer, and
//! the names stay in the header's body (checked once, walked when delivered)
//! instead of one allocation each.

use alloc::vec::Vec;

use crate::err;
use crate::error::Result;
use crate::proto::handoff::{self as wire, Head, HandoffMsg};
use crate::sys::fd::{Fd, RawFd};
use crate::sys::time::Deadline;
use crate::sys::{poll, socket, Errno};

/// The receiving end of a transfer.
pub(super) struct Rx {
    pub(super) sock: RawFd,
    pub(super) deadline: Deadline,
}

impl Rx {
    /// One `recvmsg` (`MSG_DONTWAIT | MSG_CMSG_CLOEXEC`), waiting for data until
    /// the deadline. Fds that arrive are appended to `fds` (owned: closed if
    /// the transfer fails). Returns the byte count; 0 is end of stream.
    fn read_some(&self, buf: &mut [u8], fds: &mut Vec<Fd>) -> Result<usize> {
        loop {
            let mut raw = [-1 as RawFd; socket::SCM_MAX_FD];
            match socket::recv_with_fds(self.sock, buf, &mut raw, libc::MSG_DONTWAIT) {
                Ok(r) => {
                    for &f in raw.get(..r.nfds).unwrap_or(&[]) {
                        // SAFETY: the kernel just installed f for us; nothing else owns it.
                        fds.push(unsafe { Fd::from_raw(f) });
                    }
                    if r.fds_truncated {
                        return Err(err!(
                            EBADMSG,
                            "control data truncated (MSG_CTRUNC): fds were lost (is RLIMIT_NOFILE too low?)"
                        ));
                    }
                    return Ok(r.len);
                }
                Err(Errno(libc::EAGAIN)) => {
                    let r = poll::wait(self.sock, libc::POLLIN, self.deadline).map_err(|e| crate::Error::sys(e, "poll"))?;
                    if r == 0 {
                        return Err(err!(ETIMEDOUT, "timed out waiting for the sending side"));
                    }
                }
                Err(Errno(libc::ECONNRESET)) => return Ok(0),
                Err(e) => return Err(crate::Error::sys(e, "recvmsg")),
            }
        }
    }

    /// Fill `buf`; returns how many bytes arrived before end of stream.
    fn read_full(&self, buf: &mut [u8], fds: &mut Vec<Fd>) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            let n = self.read_some(buf.get_mut(got..).unwrap_or(&mut []), fds)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok(got)
    }

    /// A frame head. `Ok(None)` at a clean end of stream (between frames).
    fn head(&self, fds: &mut Vec<Fd>) -> Result<Option<Head>> {
        let mut b = [0u8; wire::HEAD_LEN];
        match self.read_full(&mut b, fds)? {
            0 => Ok(None),
            n if n < wire::HEAD_LEN => Err(err!(EBADMSG, "truncated hand-off frame: the stream ended after {} of {} head bytes", n, wire::HEAD_LEN)),
            _ => wire::decode_head(&b).map(Some),
        }
    }

    /// A body of `len` bytes (read in pieces, so a lying length allocates
    /// no more than what actually arrives).
    fn body(&self, kind: HandoffMsg, len: usize, fds: &mut Vec<Fd>) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        while v.len() < len {
            let at = v.len();
            let step = (len - at).min(64 * 1024);
            v.resize(at + step, 0);
            let n = self.read_full(v.get_mut(at..).unwrap_or(&mut []), fds)?;
            if n < step {
                return Err(err!(
                    EBADMSG,
                    "truncated hand-off {} frame: the stream ended after {} of {} bytes",
                    kind.name(),
                    at + n,
                    len
                ));
            }
        }
        Ok(v)
    }

    /// The first frame of an exchange: a HEADER or a REFUSE. Fds must not
    /// ride on either.
    pub(super) fn first_frame(&self) -> Result<(Head, Vec<u8>)> {
        let mut stray = Vec::new();
        let Some(h) = self.head(&mut stray)? else {
            return Err(err!(ECONNRESET, "the sending side closed the connection before sending anything"));
        };
        if h.kind != HandoffMsg::Header && h.kind != HandoffMsg::Refuse {
            return Err(err!(EBADMSG, "expected a hand-off header frame, got a {} frame", h.kind.name()));
        }
        let body = self.body(h.kind, h.len, &mut stray)?;
        if !stray.is_empty() {
            return Err(err!(EBADMSG, "{} fds arrived with a hand-off {} frame", stray.len(), h.kind.name()));
        }
        Ok((h, body))
    }

    /// The fds announced by a HEADER body, chunk after chunk. At most `cap`
    /// fds are accepted: a larger transfer fails EMSGSIZE before any fd is read.
    pub(super) fn transfer(&self, header: Vec<u8>, cap: usize) -> Result<Received> {
        let total = wire::check_header(&header)?;
        if total > cap {
            return Err(err!(EMSGSIZE, "the sender announces {} fds but there is room for {}", total, cap));
        }
        let mut fds: Vec<Fd> = Vec::new();
        fds.try_reserve_exact(total).map_err(|_| err!(ENOMEM, "room for {} fds", total))?;
        while fds.len() < total {
            self.chunk(&mut fds, total)?;
        }
        Ok(Received { header, fds })
    }

    /// One CHUNK frame and its fds, appended to `fds` (the `got` so far).
    /// The whole frame is read at once: its fds ride on its first byte and a
    /// read never goes past an fd-carrying message, so they are this frame's.
    /// Any other frame, a short one, or a count that does not match what
    /// arrived fails EBADMSG.
    fn chunk(&self, fds: &mut Vec<Fd>, total: usize) -> Result<()> {
        let got = fds.len();
        let mut frame = [0u8; wire::CHUNK_FRAME];
        let n = self.read_full(&mut frame, fds)?;
        if n == 0 {
            return Err(err!(ECONNRESET, "the sending side closed the connection after {} of {} fds", got, total));
        }
        let (head, body) = frame.split_at(wire::HEAD_LEN);
        if n < wire::HEAD_LEN {
            return Err(err!(EBADMSG, "truncated hand-off frame: the stream ended after {} of {} head bytes", n, wire::HEAD_LEN));
        }
        let h = wire::decode_head(head)?;
        if h.kind != HandoffMsg::Chunk {
            return Err(err!(
                EBADMSG,
                "expected a hand-off chunk frame after {} of {} fds, got a {} frame",
                got,
                total,
                h.kind.name()
            ));
        }
        if n < wire::CHUNK_FRAME {
            return Err(err!(
                EBADMSG,
                "truncated hand-off chunk frame: the stream ended after {} of {} bytes",
                n - wire::HEAD_LEN,
                h.len
            ));
        }
        let c = wire::decode_chunk(body, got, total)?;
        let arrived = fds.len() - got;
        if arrived != c.count as usize {
            return Err(err!(EBADMSG, "hand-off chunk at fd #{} announces {} fds but {} arrived", c.first, c.count, arrived));
        }
        Ok(())
    }
}

/// One transfer received: the HEADER body (its names, checked) and the fds
/// in the same order, owned (closed when dropped).
#[derive(Debug)]
pub(crate) struct Received {
    header: Vec<u8>,
    fds: Vec<Fd>,
}

impl Received {
    /// How many fds arrived.
    pub(crate) fn len(&self) -> usize {
        self.fds.len()
    }

    /// The names and fds, in transfer order. The fds move out to the
    /// caller; those the caller does not take are closed.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (&[u8], Fd)> + '_ {
        wire::header_names(&self.header).zip(self.fds.drain(..))
    }
}

/// Receive one transfer (a header frame, then its chunks) from the connected
/// unix stream socket `sock`. Every fd arrives CLOEXEC and belongs to the
/// caller. On any failure every fd received so far is closed.
///
/// Errors: EMSGSIZE (more than `cap` fds announced; checked before any fd is
/// read, the rest of the transfer stays unread), EBADMSG (malformed or
/// truncated frame, `MSG_CTRUNC`, fd count mismatch), EPROTONOSUPPORT
/// (another protocol version), ECONNRESET (the sender closed the connection
/// midway), ETIMEDOUT, or what `recvmsg`/`poll` failed with.
pub(crate) fn recv_fds(sock: RawFd, cap: usize, deadline: Deadline) -> Result<Received> {
    let rx = Rx { sock, deadline };
    let (h, body) = rx.first_frame()?;
    if h.kind != HandoffMsg::Header {
        return Err(err!(EBADMSG, "expected a hand-off header frame, got a {} frame", h.kind.name()));
    }
    rx.transfer(body, cap)
}
