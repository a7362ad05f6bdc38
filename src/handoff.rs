//! Hand-off between unrelated processes over a unix stream socket
//! (DESIGN §3): a new instance started by a supervisor takes the named fds of
//! the running one, instead of inheriting them.
//!
//! Three layers, one wire format (`proto::handoff`):
//!
//! - **One transfer** over any connected unix stream socket: [`send_fds`] /
//!   [`recv_fds`]. A header frame (count and names), then the fds in chunks of
//!   at most 252 per `sendmsg` (`MSG_NOSIGNAL`), received with
//!   `MSG_CMSG_CLOEXEC`. `MSG_CTRUNC`, a malformed frame or a count mismatch
//!   closes every fd received so far and fails `EBADMSG`; a peer that goes
//!   away fails `ECONNRESET`/`EPIPE`; every wait is bounded by a [`Deadline`].
//!   Neither side ever flips the socket's shared `O_NONBLOCK`: sends and
//!   receives are `MSG_DONTWAIT` plus `poll`.
//! - **The old side** ([`serve`], [`process()`], [`stop`]): a socket at a path
//!   (mode 0600), an epoll fd the program polls, no threads. Each connection
//!   is checked with `SO_PEERCRED` (same uid or root). One taker at a time
//!   gets every registry entry; when it reports ready the hand-off is done:
//!   `events::DRAIN` is posted, the serving socket closed and its path removed
//!   (if it is still ours). A taker that dies first changes nothing: the
//!   next one is served.
//! - **The new side** ([`take`]): connect, receive every named fd into the
//!   registry (`registry::import`, as if inherited), keep the connection; the
//!   program's `gracefd_ready()` ends up in [`report_ready`], which tells the
//!   old side to drain.

use alloc::vec::Vec;

use crate::error::{Msg, Result};
use crate::proto::addr::Shown;
use crate::proto::handoff::{self as wire, Head, Kind};
use crate::sync::Mutex;
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::process::{self, Pid};
use crate::sys::time::{self, Deadline};
use crate::sys::{fs, poll, socket, Errno};
use crate::{err, events, log, registry};

/// Backlog of the serving socket.
const BACKLOG: i32 = 64;
/// How long the taker's READY may take to leave (it is 12 bytes on an idle socket).
const READY_SEND_MS: i64 = 1_000;

// ---------------------------------------------------------------------------
// One transfer
// ---------------------------------------------------------------------------

/// One message of a transfer: bytes, and the fds that ride with its first byte.
struct Out {
    data: Vec<u8>,
    fds: Vec<RawFd>,
    off: usize,
}

/// The messages of a transfer of `fds` named `names`: the header frame, then
/// one chunk frame per 252 fds. EINVAL for a bad name, a count mismatch or
/// too many fds.
fn plan<N: AsRef<[u8]>>(fds: &[RawFd], names: &[N]) -> Result<Vec<Out>> {
    if fds.len() != names.len() {
        return Err(err!(EINVAL, "{} fds but {} names", fds.len(), names.len()));
    }
    let mut q = Vec::new();
    q.push(Out { data: wire::encode_header(names)?, fds: Vec::new(), off: 0 });
    for c in wire::chunks(fds.len()) {
        let start = c.first as usize;
        let part = fds.get(start..start + c.count as usize).unwrap_or(&[]);
        q.push(Out { data: wire::encode_chunk(c).to_vec(), fds: part.to_vec(), off: 0 });
    }
    Ok(q)
}

/// Whether a queue was sent entirely or the socket is full.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    Done,
    Blocked,
}

/// Send as much of `q[*pos..]` as the socket takes now (`MSG_DONTWAIT`).
fn flush(sock: RawFd, q: &mut [Out], pos: &mut usize) -> core::result::Result<Progress, Errno> {
    while let Some(m) = q.get_mut(*pos) {
        let rest = m.data.get(m.off..).unwrap_or(&[]);
        if rest.is_empty() {
            *pos += 1;
            continue;
        }
        // On a stream socket the fds travel with the first byte of the message.
        let fds: &[RawFd] = if m.off == 0 { &m.fds } else { &[] };
        match socket::send_with_fds_flags(sock, rest, fds, None, libc::MSG_DONTWAIT) {
            Ok(0) => return Err(Errno(libc::EIO)),
            Ok(n) => m.off += n,
            Err(Errno(libc::EAGAIN)) => return Ok(Progress::Blocked),
            Err(e) => return Err(e),
        }
    }
    Ok(Progress::Done)
}

/// How many fds of the queue have left.
fn fds_sent(q: &[Out], pos: usize) -> usize {
    q.iter().enumerate().filter(|(i, m)| *i < pos || m.off > 0).map(|(_, m)| m.fds.len()).sum()
}

/// The error for a send that failed with `e` after `sent` of `total` fds.
fn send_error(e: Errno, sent: usize, total: usize) -> crate::Error {
    match e.0 {
        libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN => crate::Error::new(
            e,
            format_args!("the receiving side closed the connection after {} of {} fds", sent, total),
        ),
        libc::ETOOMANYREFS => crate::Error::new(
            e,
            format_args!("too many fds in flight for this user after {} of {} (raise RLIMIT_NOFILE)", sent, total),
        ),
        _ => crate::Error::sys(e, "sendmsg"),
    }
}

/// Send a whole queue, waiting for room until `deadline`.
fn send_queue(sock: RawFd, q: &mut [Out], total: usize, deadline: Deadline) -> Result<()> {
    let mut pos = 0;
    loop {
        match flush(sock, q, &mut pos) {
            Ok(Progress::Done) => return Ok(()),
            Ok(Progress::Blocked) => {
                let r = poll::wait(sock, libc::POLLOUT, deadline).map_err(|e| crate::Error::sys(e, "poll"))?;
                if r == 0 {
                    return Err(err!(
                        ETIMEDOUT,
                        "timed out: the receiving side took {} of {} fds",
                        fds_sent(q, pos),
                        total
                    ));
                }
            }
            Err(e) => return Err(send_error(e, fds_sent(q, pos), total)),
        }
    }
}

/// Send `fds` with their `names` over the connected unix stream socket `sock`:
/// the header frame, then chunks of at most 252 fds. The fds stay the
/// caller's (the kernel passes duplicates). Never raises SIGPIPE; never
/// changes the socket's `O_NONBLOCK`.
///
/// Errors: EINVAL (a name is invalid, the counts differ, more than
/// `MAX_FDS`), EBADF (an fd is not open: found when its chunk is sent, so
/// the stream is then mid-transfer), EPIPE/ECONNRESET (the receiver
/// went away; the message says after how many fds), ETIMEDOUT, ETOOMANYREFS,
/// or what `sendmsg` failed with.
pub fn send_fds<N: AsRef<[u8]>>(sock: RawFd, fds: &[RawFd], names: &[N], deadline: Deadline) -> Result<()> {
    if let Some(i) = fds.iter().position(|&f| f < 0) {
        return Err(err!(EBADF, "fd #{} ({}) is not an fd", i, fds.get(i).copied().unwrap_or(-1)));
    }
    let mut q = plan(fds, names)?;
    send_queue(sock, &mut q, fds.len(), deadline).map_err(|e| {
        // Which fd was closed is looked up only now: checking 10,000 fds
        // beforehand would cost a syscall each on every transfer.
        match fds.iter().position(|&f| e.errno.0 == libc::EBADF && !fd::is_open(f)) {
            Some(i) => err!(EBADF, "fd #{} ({}) is not open", i, fds.get(i).copied().unwrap_or(-1)),
            None => e,
        }
    })
}

/// The receiving end of a transfer.
struct Rx {
    sock: RawFd,
    deadline: Deadline,
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
    fn body(&self, kind: Kind, len: usize, fds: &mut Vec<Fd>) -> Result<Vec<u8>> {
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
    fn first_frame(&self) -> Result<(Head, Vec<u8>)> {
        let mut stray = Vec::new();
        let Some(h) = self.head(&mut stray)? else {
            return Err(err!(ECONNRESET, "the sending side closed the connection before sending anything"));
        };
        if h.kind != Kind::Header && h.kind != Kind::Refuse {
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
    fn transfer(&self, header_body: &[u8], cap: usize) -> Result<Vec<(Vec<u8>, Fd)>> {
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
            if h.kind != Kind::Chunk {
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
pub fn recv_fds(sock: RawFd, cap: usize, deadline: Deadline) -> Result<Vec<(Vec<u8>, Fd)>> {
    let rx = Rx { sock, deadline };
    let (h, body) = rx.first_frame()?;
    if h.kind != Kind::Header {
        return Err(err!(EBADMSG, "expected a hand-off header frame, got a {} frame", h.kind.name()));
    }
    rx.transfer(&body, cap)
}

/// Send a few bytes (a control frame) without fds, waiting until `deadline`.
fn send_frame(sock: RawFd, frame: &[u8], deadline: Deadline) -> Result<()> {
    let mut q = [Out { data: frame.to_vec(), fds: Vec::new(), off: 0 }];
    send_queue(sock, &mut q, 0, deadline).map_err(|e| match e.errno.0 {
        libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN => {
            crate::Error::new(e.errno, format_args!("the other side closed the connection"))
        }
        _ => e,
    })
}

/// Whether a peer with `uid` may exchange fds with us: same uid, or root.
fn trusted(uid: libc::uid_t) -> bool {
    uid == 0 || uid == process::geteuid()
}

/// `path` with a NUL, for the `sys::fs` calls.
fn with_nul(path: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(path.len() + 1);
    p.extend_from_slice(path);
    p.push(0);
    p
}

/// (st_dev, st_ino) of the file at `path_nul`, if any.
fn ident(path_nul: &[u8]) -> Option<(u64, u64)> {
    fs::lstat(path_nul).ok().map(|st| (st.st_dev, st.st_ino))
}

// ---------------------------------------------------------------------------
// The old side: serve the registry at a path
// ---------------------------------------------------------------------------

/// Where a serving loop stands (the return of [`process()`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Still serving: no taker has reported ready yet.
    Serving,
    /// A taker (this pid) took the fds and is ready: drain.
    Done(Pid),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Connected and trusted; waiting for its TAKE frame.
    AwaitTake,
    /// Sending the fds.
    Sending,
    /// Everything sent; waiting for READY.
    AwaitReady,
}

/// The one connection being served.
struct Conn {
    sock: Fd,
    pid: Pid,
    phase: Phase,
    inbuf: [u8; wire::HEAD_LEN],
    inlen: usize,
    queue: Vec<Out>,
    pos: usize,
    /// The registry dups riding in `queue`: kept open until sent.
    exported: Vec<Fd>,
    nfds: usize,
}

struct Server {
    /// The path, NUL-terminated.
    path: Vec<u8>,
    /// Our socket file at `path` (st_dev, st_ino), to remove only our own.
    ident: Option<(u64, u64)>,
    ep: Fd,
    listener: Option<Fd>,
    conn: Option<Conn>,
    done_by: Option<Pid>,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// Log lines gathered under the lock and emitted after it is released, so a
/// log hook that calls back into the library cannot deadlock.
struct Notes(Vec<(i32, Msg)>);

impl Notes {
    fn add(&mut self, level: i32, args: core::fmt::Arguments<'_>) {
        if log::enabled(level) {
            let mut m = Msg::new();
            let _ = core::fmt::write(&mut m, args);
            self.0.push((level, m));
        }
    }

    fn emit(self) {
        for (level, m) in self.0 {
            log::emit(level, format_args!("{}", m.as_str()));
        }
    }
}

/// Write a REFUSE frame (best effort: the socket is fresh, 12+ bytes fit) and
/// close the connection.
fn refuse(sock: Fd, e: &crate::Error) {
    let f = wire::encode_refuse(e.errno.0, e.message());
    let _ = socket::send(sock.raw(), &f, libc::MSG_DONTWAIT);
    drop(sock);
}

/// Serve this process's registry at `path` for one taker. Returns a new
/// CLOEXEC fd (owned by the caller) that becomes readable when
/// [`process()`] has work to do.
///
/// The socket is created at a temporary name beside `path`, made 0600, set
/// listening and renamed over `path`, so the path never shows a socket with
/// other permissions and never disappears. A socket nobody listens on at
/// `path` (stale) is replaced; a live one is refused, unless this process
/// took its fds from that very path, or the live one is this process's older
/// generation (this process is its upgrade): then it takes the path over.
///
/// Errors: EALREADY (already serving), EINVAL (empty path or NUL inside),
/// ENAMETOOLONG (the path, or the temporary name beside it, does not fit
/// `sun_path`), EEXIST (something that is not a socket is at `path`),
/// EADDRINUSE (a live socket is at `path`), or what socket, bind, chmod,
/// listen, rename or epoll failed with.
pub fn serve(path: &[u8]) -> Result<Fd> {
    let mut st = SERVER.lock();
    if let Some(s) = st.as_ref() {
        if s.done_by.is_none() {
            return Err(err!(EALREADY, "already serving hand-off at {}", Shown(s.path.strip_suffix(b"\0").unwrap_or(&s.path))));
        }
    }
    if path.is_empty() || path.contains(&0) {
        return Err(err!(EINVAL, "hand-off path {} is empty or contains NUL", Shown(path)));
    }
    let path_nul = with_nul(path);
    // The temporary name: "<path>.<pid>.tmp", in the same directory (rename needs it).
    let mut tmp = path.to_vec();
    let mut digits = [0u8; 20];
    tmp.push(b'.');
    tmp.extend_from_slice(crate::proto::num::fmt_u64(process::getpid() as u64, &mut digits));
    tmp.extend_from_slice(b".tmp");
    let tmp_addr = socket::SockAddr::unix(&tmp, false).map_err(|e| {
        crate::Error::new(e, format_args!("hand-off path {}: no room for the temporary name {} in sun_path", Shown(path), Shown(&tmp)))
    })?;
    let tmp_nul = with_nul(&tmp);

    check_existing(path, &path_nul)?;

    // A socket left at the temporary name by a process of our pid that died.
    if fs::lstat(&tmp_nul).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK) {
        let _ = fs::unlink(&tmp_nul);
    }
    let l = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0).map_err(|e| crate::Error::sys(e, "socket"))?;
    socket::bind(l.raw(), &tmp_addr).map_err(|e| crate::Error::sys(e, "bind hand-off socket"))?;
    // Until listen() nobody can connect, so the mode is right before anyone can.
    let placed = (|| -> Result<Option<(u64, u64)>> {
        fs::chmod(&tmp_nul, 0o600).map_err(|e| crate::Error::sys(e, "chmod 0600 hand-off socket"))?;
        socket::listen(l.raw(), BACKLOG).map_err(|e| crate::Error::sys(e, "listen"))?;
        let id = ident(&tmp_nul);
        fs::rename(&tmp_nul, &path_nul).map_err(|e| crate::Error::sys(e, "rename hand-off socket into place"))?;
        Ok(id)
    })();
    let id = match placed {
        Ok(id) => id,
        Err(e) => {
            let _ = fs::unlink(&tmp_nul);
            return Err(e.context(format_args!("hand-off socket {}", Shown(path))));
        }
    };
    let watch = (|| -> Result<(Fd, Fd)> {
        let ep = poll::epoll_create().map_err(|e| crate::Error::sys(e, "epoll_create"))?;
        poll::epoll_add(ep.raw(), l.raw(), libc::EPOLLIN as u32).map_err(|e| crate::Error::sys(e, "epoll_ctl"))?;
        let out = ep.try_clone().map_err(|e| crate::Error::sys(e, "dup"))?;
        Ok((ep, out))
    })();
    let (ep, out) = match watch {
        Ok(x) => x,
        Err(e) => {
            if id.is_some() && ident(&path_nul) == id {
                let _ = fs::unlink(&path_nul);
            }
            return Err(e);
        }
    };
    *st = Some(Server { path: path_nul, ident: id, ep, listener: Some(l), conn: None, done_by: None });
    drop(st);
    log!(log::INFO, "hand-off: serving at {}", Shown(path));
    Ok(out)
}

/// What is at the path already: nothing, a stale socket (fine: it will be
/// replaced), or something we must not replace.
fn check_existing(path: &[u8], path_nul: &[u8]) -> Result<()> {
    let st = match fs::lstat(path_nul) {
        Ok(st) => st,
        Err(Errno(libc::ENOENT)) => return Ok(()),
        Err(e) => return Err(crate::Error::sys(e, "lstat").context(format_args!("hand-off path {}", Shown(path)))),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(err!(EEXIST, "hand-off path {} exists and is not a socket", Shown(path)));
    }
    if took_from(path) {
        return Ok(());
    }
    let probe = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0).map_err(|e| crate::Error::sys(e, "socket"))?;
    let addr = socket::SockAddr::unix(path, false).map_err(|e| crate::Error::sys(e, "hand-off path"))?;
    match socket::connect(probe.raw(), &addr) {
        Err(Errno(libc::ECONNREFUSED)) => Ok(()),
        Ok(()) => {
            // Our own older generation (we are its upgrade) may be replaced:
            // the path is to name the newest generation.
            let server = socket::peer_cred(probe.raw()).map(|c| c.pid).ok();
            if server.is_some() && server == crate::lineage::get().parent_pid {
                return Ok(());
            }
            Err(err!(EADDRINUSE, "another process serves hand-off at {} (a live socket)", Shown(path)))
        }
        Err(Errno(libc::EAGAIN)) => {
            Err(err!(EADDRINUSE, "another process serves hand-off at {} (a live socket)", Shown(path)))
        }
        Err(e) => Err(crate::Error::new(
            Errno(libc::EADDRINUSE),
            format_args!("cannot tell whether the socket at {} is stale: connect: {}", Shown(path), e),
        )),
    }
}

/// Stop serving: close the socket and remove the path if it is still ours.
/// A taker in the middle of a transfer sees the connection close and fails;
/// one that took everything but is not ready yet cannot tell us any more.
/// Returns `Ok(false)` if nothing was being served.
pub fn stop() -> Result<bool> {
    let Some(s) = SERVER.lock().take() else { return Ok(false) };
    close_listener(&s);
    Ok(true)
}

/// Remove our socket file (if the path still names it).
fn close_listener(s: &Server) {
    if s.listener.is_some() && s.ident.is_some() && ident(&s.path) == s.ident {
        let _ = fs::unlink(&s.path);
    }
}

/// Do whatever the serving socket and the current taker need, without
/// blocking: accept (refusing untrusted peers, and everyone while a taker is
/// being served), send the fds, read the taker's frames. Call it when the fd
/// from [`serve`] is readable.
///
/// Returns [`Status::Done`] once a taker reported ready: `events::DRAIN` has
/// been posted, the serving socket closed and the path removed.
///
/// Errors: ENOENT (not serving), EMFILE/ENFILE (accept cannot get an fd: the
/// connection stays queued), or another accept/epoll failure. A taker that
/// misbehaves or goes away is not an error: it is logged and dropped, and
/// serving goes on.
pub fn process() -> Result<Status> {
    let mut notes = Notes(Vec::new());
    let r = process_locked(&mut notes);
    notes.emit();
    r
}

fn process_locked(notes: &mut Notes) -> Result<Status> {
    let mut guard = SERVER.lock();
    let Some(s) = guard.as_mut() else {
        return Err(err!(ENOENT, "not serving hand-off (call serve first)"));
    };
    if let Some(pid) = s.done_by {
        return Ok(Status::Done(pid));
    }
    // New connections.
    while let Some(l) = &s.listener {
        match socket::accept(l.raw(), libc::SOCK_NONBLOCK) {
            Ok(c) => admit(s, c, notes),
            Err(Errno(libc::EAGAIN)) => break,
            Err(Errno(libc::ECONNABORTED)) => continue,
            Err(e) => return Err(crate::Error::sys(e, "hand-off: accept")),
        }
    }
    // The taker.
    let step = match s.conn.as_mut() {
        Some(c) => step(c, notes),
        None => Step::Idle,
    };
    match step {
        Step::Idle => {}
        Step::Wait { out } => {
            if let Some(c) = &s.conn {
                let ev = libc::EPOLLIN as u32 | if out { libc::EPOLLOUT as u32 } else { 0 };
                poll::epoll_modify(s.ep.raw(), c.sock.raw(), ev).map_err(|e| crate::Error::sys(e, "epoll_ctl"))?;
            }
        }
        Step::Gone(e) => {
            if let Some(c) = s.conn.take() {
                notes.add(
                    log::NOTICE,
                    format_args!("hand-off: pid {} dropped ({}); still serving", c.pid, e.message()),
                );
                if e.errno.0 != libc::ECONNRESET {
                    refuse(c.sock, &e);
                }
            }
        }
        Step::Ready => {
            let (pid, nfds) = s.conn.as_ref().map(|c| (c.pid, c.nfds)).unwrap_or((0, 0));
            finish(s, pid, notes);
            notes.add(log::NOTICE, format_args!("hand-off: pid {} took {} fds and is ready: drain", pid, nfds));
            return Ok(Status::Done(pid));
        }
    }
    Ok(Status::Serving)
}

/// A new connection: check who it is, then serve it or refuse it.
fn admit(s: &mut Server, c: Fd, notes: &mut Notes) {
    let cred = match socket::peer_cred(c.raw()) {
        Ok(cred) => cred,
        Err(e) => {
            notes.add(log::WARNING, format_args!("hand-off: SO_PEERCRED failed ({}); connection dropped", e));
            return;
        }
    };
    if !trusted(cred.uid) {
        let e = err!(
            EACCES,
            "uid {} may not take the fds of this process (uid {}): only the same uid or root",
            cred.uid,
            process::geteuid()
        );
        notes.add(log::WARNING, format_args!("hand-off: refused pid {}: {}", cred.pid, e.message()));
        refuse(c, &e);
        return;
    }
    if let Some(cur) = &s.conn {
        let e = err!(EBUSY, "a hand-off to pid {} is in progress", cur.pid);
        notes.add(log::NOTICE, format_args!("hand-off: refused pid {}: {}", cred.pid, e.message()));
        refuse(c, &e);
        return;
    }
    if let Err(e) = poll::epoll_add(s.ep.raw(), c.raw(), libc::EPOLLIN as u32) {
        notes.add(log::WARNING, format_args!("hand-off: epoll_ctl failed ({}); connection from pid {} dropped", e, cred.pid));
        return;
    }
    notes.add(log::INFO, format_args!("hand-off: pid {} (uid {}) connected", cred.pid, cred.uid));
    s.conn = Some(Conn {
        sock: c,
        pid: cred.pid,
        phase: Phase::AwaitTake,
        inbuf: [0; wire::HEAD_LEN],
        inlen: 0,
        queue: Vec::new(),
        pos: 0,
        exported: Vec::new(),
        nfds: 0,
    });
}

/// What one step on the taker's connection came to. (The error is inline on
/// purpose, as everywhere: no allocation; the value is short-lived.)
#[allow(clippy::large_enum_variant)]
enum Step {
    Idle,
    /// Nothing more to do now; `out` if output is pending (wait for POLLOUT).
    Wait {
        out: bool,
    },
    /// Drop the taker, for this reason (told to it unless it is gone).
    Gone(crate::Error),
    /// It reported ready.
    Ready,
}

fn step(c: &mut Conn, notes: &mut Notes) -> Step {
    loop {
        // Read what the taker sent (its frames are heads without body).
        let mut progressed = false;
        if c.inlen < wire::HEAD_LEN {
            let mut raw = [-1 as RawFd; 4];
            let room = c.inbuf.get_mut(c.inlen..).unwrap_or(&mut []);
            match socket::recv_with_fds(c.sock.raw(), room, &mut raw, libc::MSG_DONTWAIT) {
                Ok(r) => {
                    for &f in raw.get(..r.nfds).unwrap_or(&[]) {
                        fd::close(f);
                    }
                    if r.nfds > 0 || r.fds_truncated {
                        return Step::Gone(err!(EBADMSG, "it sent fds"));
                    }
                    if r.len == 0 {
                        let what = match c.phase {
                            Phase::AwaitTake => "it closed the connection before asking",
                            Phase::Sending => "it closed the connection while the fds were being sent",
                            Phase::AwaitReady => "it closed the connection before it was ready",
                        };
                        return Step::Gone(err!(ECONNRESET, "{}", what));
                    }
                    c.inlen += r.len;
                    progressed = true;
                }
                Err(Errno(libc::EAGAIN)) => {}
                Err(Errno(libc::ECONNRESET)) => return Step::Gone(err!(ECONNRESET, "connection reset")),
                Err(e) => return Step::Gone(crate::Error::sys(e, "recvmsg")),
            }
        }
        if c.inlen == wire::HEAD_LEN {
            c.inlen = 0;
            let h = match wire::decode_head(&c.inbuf) {
                Ok(h) => h,
                Err(e) => return Step::Gone(e),
            };
            match (h.kind, c.phase) {
                (Kind::Take, Phase::AwaitTake) => {
                    if let Err(e) = start_sending(c) {
                        notes.add(log::ERR, format_args!("hand-off: cannot serve pid {}: {}", c.pid, e.message()));
                        return Step::Gone(e);
                    }
                    notes.add(log::INFO, format_args!("hand-off: sending {} fds to pid {}", c.nfds, c.pid));
                }
                (Kind::Ready, Phase::AwaitReady) => return Step::Ready,
                (k, _) => return Step::Gone(err!(EPROTO, "unexpected {} frame", k.name())),
            }
            progressed = true;
        }
        // Write what is pending.
        if c.phase == Phase::Sending {
            match flush(c.sock.raw(), &mut c.queue, &mut c.pos) {
                Ok(Progress::Done) => {
                    c.phase = Phase::AwaitReady;
                    c.queue = Vec::new();
                    c.exported = Vec::new();
                    notes.add(log::INFO, format_args!("hand-off: sent {} fds to pid {}; waiting for it to be ready", c.nfds, c.pid));
                }
                Ok(Progress::Blocked) => {
                    if !progressed {
                        return Step::Wait { out: true };
                    }
                }
                Err(e) => {
                    let sent = fds_sent(&c.queue, c.pos);
                    let mut e = send_error(e, sent, c.nfds);
                    if e.errno.0 == libc::EPIPE {
                        e.errno = Errno(libc::ECONNRESET);
                    }
                    return Step::Gone(e);
                }
            }
        }
        if !progressed {
            return Step::Wait { out: false };
        }
    }
}

/// TAKE arrived: queue every registry entry.
fn start_sending(c: &mut Conn) -> Result<()> {
    let exported = registry::export_for_child()?;
    let mut names = Vec::with_capacity(exported.len());
    let mut fds = Vec::with_capacity(exported.len());
    let mut owned = Vec::with_capacity(exported.len());
    for x in exported {
        fds.push(x.fd.raw());
        names.push(x.name);
        owned.push(x.fd);
    }
    c.queue = plan(&fds, &names)?;
    c.pos = 0;
    c.nfds = fds.len();
    c.exported = owned;
    c.phase = Phase::Sending;
    Ok(())
}

/// The taker is ready: post DRAIN, refuse whoever else queued up, close the
/// serving socket and remove its path if it is still ours.
fn finish(s: &mut Server, pid: Pid, notes: &mut Notes) {
    events::post(events::DRAIN);
    s.conn = None;
    if let Some(l) = &s.listener {
        while let Ok(c) = socket::accept(l.raw(), libc::SOCK_NONBLOCK) {
            let who = socket::peer_cred(c.raw()).map(|cr| cr.pid).unwrap_or(0);
            let e = err!(EBUSY, "already handed off to pid {}", pid);
            notes.add(log::NOTICE, format_args!("hand-off: refused pid {}: {}", who, e.message()));
            refuse(c, &e);
        }
        let _ = poll::epoll_remove(s.ep.raw(), l.raw());
    }
    close_listener(s);
    s.listener = None;
    s.done_by = Some(pid);
}

// ---------------------------------------------------------------------------
// The new side: take the fds of the process serving at a path
// ---------------------------------------------------------------------------

enum Taken {
    None,
    /// A take() is running (the lock is not held while it waits).
    Taking,
    /// Fds taken; the connection waits for our READY.
    Pending { sock: Fd, path: Vec<u8>, old_pid: Pid },
}

static TAKEN: Mutex<Taken> = Mutex::new(Taken::None);

/// Whether this process took its fds from `path` and has not reported ready yet.
fn took_from(path: &[u8]) -> bool {
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
pub fn take(path: &[u8], timeout_ms: i64) -> Result<usize> {
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
    let rx = Rx { sock: sock.raw(), deadline };
    let (h, body) = rx.first_frame()?;
    if h.kind == Kind::Refuse {
        let (e, why) = wire::decode_refuse(&body)?;
        return Err(crate::Error::new(Errno(e), format_args!("refused by pid {}: {}", cred.pid, why.as_str())));
    }
    let got = rx.transfer(&body, wire::MAX_FDS)?;
    let n = got.len();
    for (name, f) in got {
        registry::import(&name, f)?;
    }
    Ok((sock, n, cred.pid))
}

/// Called by `ready::report_ready`: if this process took its fds from
/// another one, tell it to drain. `Ok(true)` if there was one to tell (also
/// when it has gone meanwhile: nothing to drain then), `Ok(false)` if not.
pub fn report_ready() -> Result<bool> {
    let taken = {
        let mut t = TAKEN.lock();
        if !matches!(&*t, Taken::Pending { .. }) {
            return Ok(false);
        }
        core::mem::replace(&mut *t, Taken::None)
    };
    let Taken::Pending { sock, old_pid, .. } = taken else {
        return Ok(false);
    };
    match send_frame(sock.raw(), &wire::encode_ready(), Deadline::after_ms(READY_SEND_MS)) {
        Ok(()) => {
            log!(log::NOTICE, "hand-off: told pid {} to drain", old_pid);
            Ok(true)
        }
        Err(e) if matches!(e.errno.0, libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN) => {
            log!(log::NOTICE, "hand-off: pid {} is gone; nothing to drain", old_pid);
            Ok(true)
        }
        Err(e) => Err(e.context(format_args!("hand-off: telling pid {} to drain", old_pid))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (got, _b) = t.join().unwrap().unwrap();
        assert_eq!(got.len(), 300);
        for (i, (name, f)) in got.iter().enumerate() {
            assert_eq!(name, &names[i]);
            assert_eq!(inode(f.raw()), want[i]);
            assert!(fd::is_cloexec(f.raw()).unwrap());
        }
    }

    #[test]
    fn zero_fds_is_a_transfer() {
        let (a, b) = pair();
        send_fds::<&[u8]>(a.raw(), &[], &[], far()).unwrap();
        assert!(recv_fds(b.raw(), 0, far()).unwrap().is_empty());
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
            (vec![(wire::encode_head(Kind::Header, wire::HEADER_BODY_MAX + 1).to_vec(), vec![])], "oversized"),
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

    #[test]
    fn other_version_is_told_apart() {
        let (a, b) = pair();
        let mut h = wire::encode_header(&[b"a"]).unwrap();
        h[4] = 9;
        raw_send(&a, &h, &[]);
        assert_eq!(recv_fds(b.raw(), 10, far()).unwrap_err().errno.0, libc::EPROTONOSUPPORT);
    }
}
