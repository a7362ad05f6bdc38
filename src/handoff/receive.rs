//! One transfer, the receiving end: frames read with `MSG_DONTWAIT` plus
//! `poll` until a deadline, fds received with `MSG_CMSG_CLOEXEC` and owned
//! from the moment they arrive (closed if the transfer fails).

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
    pub(super) fn transfer(&self, header_body: &[u8], cap: usize) -> Result<Vec<(Vec<u8>, Fd)>> {
        let names = wire::decode_header(header_body)?;
        let total = names.len();
        if total > cap {
            return Err(err!(EMSGSIZE, "the sender announces {} fds but there is room for {}", total, cap));
        }
        let mut got: Vec<Fd> = Vec::new();
        got.try_reserve_exact(total).map_err(|_| err!(ENOMEM, "room for {} fds", total))?;
        while got.len() < total {
            let mut pending = Vec::new();
            let Some(h) = self.head(&mut pending)? else {
                return Err(err!(
                    ECONNRESET,
                    "the sending side closed the connection after {} of {} fds",
                    got.len(),
                    total
                ));
            };
            if h.kind != HandoffMsg::Chunk {
                return Err(err!(
                    EBADMSG,
                    "expected a hand-off chunk frame after {} of {} fds, got a {} frame",
                    got.len(),
                    total,
                    h.kind.name()
                ));
            }
            let body = self.body(h.kind, h.len, &mut pending)?;
            let c = wire::decode_chunk(&body, got.len(), total)?;
            if pending.len() != c.count as usize {
                return Err(err!(
                    EBADMSG,
                    "hand-off chunk at fd #{} announces {} fds but {} arrived",
                    c.first,
                    c.count,
                    pending.len()
                ));
            }
            got.append(&mut pending);
        }
        Ok(names.into_iter().zip(got).collect())
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
pub(crate) fn recv_fds(sock: RawFd, cap: usize, deadline: Deadline) -> Result<Vec<(Vec<u8>, Fd)>> {
    let rx = Rx { sock, deadline };
    let (h, body) = rx.first_frame()?;
    if h.kind != HandoffMsg::Header {
        return Err(err!(EBADMSG, "expected a hand-off header frame, got a {} frame", h.kind.name()));
    }
    rx.transfer(&body, cap)
}
