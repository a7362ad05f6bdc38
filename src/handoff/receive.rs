//! One transfer, the receiving end: frames read with `MSG_DONTWAIT` plus
//! `poll` until a deadline, fds received with `MSG_CMSG_CLOEXEC` and owned
//! from the moment they arrive (closed if the transfer fails).
//!
//! The cost per fd is the kernel's: a chunk frame is read with its fds in one
//! `recvmsg`, the fds go straight into one vector sized for the transfer, and
//! the names stay in the header's body (checked once, walked when delivered)
//! instead of one allocation each.

use alloc::vec::Vec;

use core::fmt;

use crate::error::{Error, Result};
use crate::proto::handoff::{self as wire, Head, HandoffMsg};
use crate::sys::fd::{Fd, RawFd};
use crate::sys::time::Deadline;
use crate::sys::{poll, socket, Errno};

/// The receiving end of a transfer. A method that fails records why in
/// [`Rx::why`] and returns `None`: the error is built once, in place, and
/// not copied up through every step (each copy of an `Error` is code).
pub(super) struct Rx<'a> {
    sock: RawFd,
    deadline: Deadline,
    /// Why the last method that returned `None` failed (the caller's slot).
    why: &'a mut Error,
}

impl<'a> Rx<'a> {
    pub(super) fn new(sock: RawFd, deadline: Deadline, why: &'a mut Error) -> Rx<'a> {
        Rx { sock, deadline, why }
    }

    /// Record why the transfer failed (the caller returns `None`).
    fn fail(&mut self, errno: i32, args: fmt::Arguments<'_>) {
        self.why.set(errno, args);
    }

    /// [`Rx::fail`] for a failed syscall.
    fn fail_sys(&mut self, e: Errno, what: &str) {
        self.why.set_sys(e, what);
    }

    /// The value of a wire check, or `None` with its error recorded.
    fn check<T>(&mut self, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                *self.why = e;
                None
            }
        }
    }

    /// One `recvmsg` (`MSG_DONTWAIT | MSG_CMSG_CLOEXEC`), waiting for data until
    /// the deadline. Fds that arrive are appended to `fds` (owned: closed if
    /// the transfer fails). Returns the byte count; 0 is end of stream.
    fn read_some(&mut self, buf: &mut [u8], fds: &mut Vec<Fd>) -> Option<usize> {
        loop {
            let mut raw = [-1 as RawFd; socket::SCM_MAX_FD];
            match socket::recv_with_fds(self.sock, buf, &mut raw, libc::MSG_DONTWAIT) {
                Ok(r) => {
                    for &f in raw.get(..r.nfds).unwrap_or(&[]) {
                        // SAFETY: the kernel just installed f for us; nothing else owns it.
                        fds.push(unsafe { Fd::from_raw(f) });
                    }
                    if r.fds_truncated {
                        self.fail(
                            libc::EBADMSG,
                            format_args!("control data truncated (MSG_CTRUNC): fds were lost (is RLIMIT_NOFILE too low?)"),
                        );
                        return None;
                    }
                    return Some(r.len);
                }
                Err(Errno(libc::EAGAIN)) => match poll::wait(self.sock, libc::POLLIN, self.deadline) {
                    Ok(0) => {
                        self.fail(libc::ETIMEDOUT, format_args!("timed out waiting for the sending side"));
                        return None;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.fail_sys(e, "poll");
                        return None;
                    }
                },
                Err(Errno(libc::ECONNRESET)) => return Some(0),
                Err(e) => {
                    self.fail_sys(e, "recvmsg");
                    return None;
                }
            }
        }
    }

    /// Fill `buf`; returns how many bytes arrived before end of stream.
    fn read_full(&mut self, buf: &mut [u8], fds: &mut Vec<Fd>) -> Option<usize> {
        let mut got = 0;
        while got < buf.len() {
            let n = self.read_some(buf.get_mut(got..).unwrap_or(&mut []), fds)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Some(got)
    }

    /// A frame head that came short: `n` of its bytes before end of stream.
    #[cold]
    #[inline(never)]
    fn short_head(&mut self, n: usize) {
        self.fail(
            libc::EBADMSG,
            format_args!("truncated hand-off frame: the stream ended after {} of {} head bytes", n, wire::HEAD_LEN),
        );
    }

    /// A frame head. `Some(None)` at a clean end of stream (between frames).
    fn head(&mut self, fds: &mut Vec<Fd>) -> Option<Option<Head>> {
        let mut b = [0u8; wire::HEAD_LEN];
        match self.read_full(&mut b, fds)? {
            0 => Some(None),
            n if n < wire::HEAD_LEN => {
                self.short_head(n);
                None
            }
            _ => self.check(wire::decode_head(&b)).map(Some),
        }
    }

    /// A body of `len` bytes (read in pieces, so a lying length allocates
    /// no more than what actually arrives).
    fn body(&mut self, kind: HandoffMsg, len: usize, fds: &mut Vec<Fd>) -> Option<Vec<u8>> {
        let mut v = Vec::new();
        while v.len() < len {
            let at = v.len();
            let step = (len - at).min(64 * 1024);
            v.resize(at + step, 0);
            let n = self.read_full(v.get_mut(at..).unwrap_or(&mut []), fds)?;
            if n < step {
                self.fail(
                    libc::EBADMSG,
                    format_args!("truncated hand-off {} frame: the stream ended after {} of {} bytes", kind.name(), at + n, len),
                );
                return None;
            }
        }
        Some(v)
    }

    /// The first frame of an exchange: a HEADER or a REFUSE. Fds must not
    /// ride on either.
    pub(super) fn first_frame(&mut self) -> Option<(Head, Vec<u8>)> {
        let mut stray = Vec::new();
        let Some(h) = self.head(&mut stray)? else {
            self.fail(libc::ECONNRESET, format_args!("the sending side closed the connection before sending anything"));
            return None;
        };
        if h.kind != HandoffMsg::Header && h.kind != HandoffMsg::Refuse {
            self.not_header(h.kind);
            return None;
        }
        let body = self.body(h.kind, h.len, &mut stray)?;
        if !stray.is_empty() {
            self.fail(libc::EBADMSG, format_args!("{} fds arrived with a hand-off {} frame", stray.len(), h.kind.name()));
            return None;
        }
        Some((h, body))
    }

    /// The first frame was a `kind` frame, not a HEADER.
    #[cold]
    #[inline(never)]
    pub(super) fn not_header(&mut self, kind: HandoffMsg) {
        self.fail(libc::EBADMSG, format_args!("expected a hand-off header frame, got a {} frame", kind.name()));
    }

    /// The fds announced by a HEADER body, chunk after chunk. At most `cap`
    /// fds are accepted: a larger transfer fails EMSGSIZE before any fd is read.
    pub(super) fn transfer(&mut self, header: Vec<u8>, cap: usize) -> Option<Received> {
        let total = self.check(wire::check_header(&header))?;
        if total > cap {
            self.fail(libc::EMSGSIZE, format_args!("the sender announces {} fds but there is room for {}", total, cap));
            return None;
        }
        let mut fds: Vec<Fd> = Vec::new();
        if fds.try_reserve_exact(total).is_err() {
            self.fail(libc::ENOMEM, format_args!("room for {} fds", total));
            return None;
        }
        while fds.len() < total {
            self.chunk(&mut fds, total)?;
        }
        Some(Received { header, fds })
    }

    /// One CHUNK frame and its fds, appended to `fds` (the `got` so far).
    /// The whole frame is read at once: its fds ride on its first byte and a
    /// read never goes past an fd-carrying message, so they are this frame's.
    /// Any other frame, a short one, or a count that does not match what
    /// arrived fails EBADMSG.
    fn chunk(&mut self, fds: &mut Vec<Fd>, total: usize) -> Option<()> {
        let got = fds.len();
        let mut frame = [0u8; wire::CHUNK_FRAME];
        let n = self.read_full(&mut frame, fds)?;
        if n == 0 {
            self.fail(libc::ECONNRESET, format_args!("the sending side closed the connection after {} of {} fds", got, total));
            return None;
        }
        let (head, body) = frame.split_at(wire::HEAD_LEN);
        if n < wire::HEAD_LEN {
            self.short_head(n);
            return None;
        }
        let h = self.check(wire::decode_head(head))?;
        if h.kind == HandoffMsg::Refuse {
            self.refused_midway(body.get(..n - wire::HEAD_LEN).unwrap_or(&[]), h.len, fds);
            return None;
        }
        if h.kind != HandoffMsg::Chunk {
            self.fail(
                libc::EBADMSG,
                format_args!("expected a hand-off chunk frame after {} of {} fds, got a {} frame", got, total, h.kind.name()),
            );
            return None;
        }
        if n < wire::CHUNK_FRAME {
            self.fail(
                libc::EBADMSG,
                format_args!("truncated hand-off chunk frame: the stream ended after {} of {} bytes", n - wire::HEAD_LEN, h.len),
            );
            return None;
        }
        let c = self.check(wire::decode_chunk(body, got, total))?;
        let arrived = fds.len() - got;
        if arrived != c.count as usize {
            self.fail(
                libc::EBADMSG,
                format_args!("hand-off chunk at fd #{} announces {} fds but {} arrived", c.first, c.count, arrived),
            );
            return None;
        }
        Some(())
    }
}

impl Rx<'_> {
    /// The sender gave up midway and said why (a REFUSE where a chunk was
    /// due: its registry changed, or we read too slowly; its reason says
    /// how far it came).
    /// `start` is what of its body was read with the head; the rest is read
    /// now. The error is the sender's errno and reason.
    #[cold]
    #[inline(never)]
    fn refused_midway(&mut self, start: &[u8], len: usize, fds: &mut Vec<Fd>) {
        let mut body = start.get(..len.min(start.len())).unwrap_or(&[]).to_vec();
        if body.len() < len {
            let Some(rest) = self.body(HandoffMsg::Refuse, len - body.len(), fds) else { return };
            body.extend_from_slice(&rest);
        }
        match wire::decode_refuse(&body) {
            Ok((e, reason)) => self.fail(e, format_args!("the sending side gave up: {}", reason.as_str())),
            Err(e) => *self.why = e,
        }
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

    /// The names (copied) and fds, in transfer order, for the registry.
    pub(crate) fn into_named(self) -> Vec<(Vec<u8>, Fd)> {
        let mut names = wire::header_names(&self.header);
        let mut out = Vec::with_capacity(self.fds.len());
        for fd in self.fds {
            // check_header made sure there is a name per fd.
            out.push((names.next().unwrap_or(&[]).to_vec(), fd));
        }
        out
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
/// midway), ETIMEDOUT, the errno of a refusal the sender sent midway (the
/// message gives its reason: ESTALE when its registry changed), or what
/// `recvmsg`/`poll` failed with.
pub(crate) fn recv_fds(sock: RawFd, cap: usize, deadline: Deadline) -> Result<Received> {
    let mut why = Error::unset();
    let mut rx = Rx::new(sock, deadline, &mut why);
    let got = match rx.first_frame() {
        Some((h, _)) if h.kind != HandoffMsg::Header => {
            rx.not_header(h.kind);
            None
        }
        Some((_, body)) => rx.transfer(body, cap),
        None => None,
    };
    got.ok_or(why)
}
