//! The old side, its takers: [`process()`] accepts connections (one taker at
//! a time, same uid or root), sends the fds, reads the taker's frames, and
//! ends the hand-off when the taker is ready.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, Ordering};

use super::send::{send_error, Outgoing, Progress};
use super::serve::{close_listener, Server, SERVER};
use super::taker::{Conn, Phase};
use super::trusted;
use crate::error::{Msg, Result};
use crate::proto::handoff::{self as wire, HandoffMsg};
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::process::{self, Pid};
use crate::sys::{poll, socket, time, Errno};
use crate::{err, events, log};

/// Where a serving loop stands (the return of [`process()`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Still serving: no taker has reported ready yet.
    Serving,
    /// A taker (this pid) took the fds and is ready: drain.
    Done(Pid),
}

/// How long a taker may hold the one slot without asking (TAKE) or, while
/// the fds are sent, without reading any: then it is dropped (`ETIMEDOUT`)
/// and the next taker is served. Not applied once everything is sent: a
/// taker that has the fds may take as long as its start-up takes to report
/// ready (if it dies, its connection closes and the slot frees at once).
pub(crate) const DEFAULT_TAKER_TIMEOUT_MS: i64 = 5_000;
/// The most [`set_taker_timeout_ms`] accepts: a day.
pub(crate) const MAX_TAKER_TIMEOUT_MS: i64 = 86_400_000;

static TAKER_TIMEOUT_MS: AtomicI64 = AtomicI64::new(DEFAULT_TAKER_TIMEOUT_MS);

/// Set the per-taker deadline (see [`DEFAULT_TAKER_TIMEOUT_MS`]) for
/// connections accepted from now on. `EINVAL` unless 1 to
/// [`MAX_TAKER_TIMEOUT_MS`].
pub(crate) fn set_taker_timeout_ms(ms: i64) -> Result<()> {
    if !(1..=MAX_TAKER_TIMEOUT_MS).contains(&ms) {
        return Err(err!(EINVAL, "taker timeout {} ms is not between 1 ms and a day", ms));
    }
    TAKER_TIMEOUT_MS.store(ms, Ordering::Relaxed);
    Ok(())
}

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

/// Refuse a connection from `who` that is not served: log why (at `level`)
/// and tell it (one place for the three reasons, which share their wording).
#[inline(never)]
fn turn_away(notes: &mut Notes, level: i32, sock: Fd, who: Pid, e: &crate::Error) {
    notes.add(level, format_args!("hand-off: refused pid {}: {}", who, e.message()));
    refuse(sock, e);
}

/// Write a REFUSE frame and close the connection. Best effort, never
/// waiting (`MSG_DONTWAIT`): on a fresh connection it fits; on a taker
/// dropped mid-transfer the send buffer is often full of chunks it has not
/// read, and then the frame is lost and the taker sees the connection close
/// (docs/handoff.md, "When the old side drops a taker").
fn refuse(sock: Fd, e: &crate::Error) {
    let f = wire::encode_refuse(e.errno.0, e.message());
    let _ = socket::send(sock.raw(), &f, libc::MSG_DONTWAIT);
    drop(sock);
}

/// Do whatever the serving socket and the current taker need, without
/// blocking: accept (refusing untrusted peers, and everyone while a taker is
/// being served), send the fds, read the taker's frames. Call it when the fd
/// from `serve` is readable.
///
/// Returns [`Status::Done`] once a taker reported ready: `events::DRAIN` has
/// been posted, the serving socket closed and the path removed.
///
/// Errors: ENOENT (not serving), EMFILE/ENFILE (accept cannot get an fd: the
/// connection stays queued), or another accept/epoll failure. A taker that
/// misbehaves or goes away is not an error: it is logged and dropped, and
/// serving goes on.
pub(crate) fn process() -> Result<Status> {
    // The transfer reads the registry quietly under our lock: if that is the
    // registry's first use, its start-up lines (fds it rejected) wait in it.
    // Deliver them here, with no lock held, or a process that only serves
    // and then exits would never log them.
    crate::registry::with(|_| ());
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
    let mut why = crate::Error::unset();
    let step = match s.conn.as_mut() {
        Some(c) => match step(c, notes, &mut why) {
            // Ready already: whatever happens now only decides whether it
            // takes connections.
            Step::Wait { .. } if c.phase == Phase::AwaitConns && time::timerfd_expired(c.timer.raw()) => {
                notes.add(log::NOTICE, format_args!("hand-off: pid {} sent neither CONNS nor EOF within {} ms after ready: it gets no connections", c.pid, c.timeout_ms));
                Step::Ready
            }
            Step::Gone if c.phase == Phase::AwaitConns => {
                if why.errno.0 != libc::ECONNRESET {
                    notes.add(log::WARNING, format_args!("hand-off: pid {} is ready, but its CONNS frame is refused ({}): it gets no connections", c.pid, why.message()));
                }
                Step::Ready
            }
            Step::Wait { .. } if time::timerfd_expired(c.timer.raw()) => {
                why.set(
                    libc::ETIMEDOUT,
                    format_args!(
                        "it held the hand-off for {} ms without {}",
                        c.timeout_ms,
                        if c.phase == Phase::AwaitTake { "asking for the fds" } else { "reading them" }
                    ),
                );
                Step::Gone
            }
            x => x,
        },
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
        Step::Gone => {
            if let Some(c) = s.conn.take() {
                notes.add(
                    log::NOTICE,
                    format_args!("hand-off: pid {} dropped ({}); still serving", c.pid, why.message()),
                );
                // In the middle of a frame, a REFUSE would be read as the
                // rest of it: then the taker is told only by the close.
                if why.errno.0 != libc::ECONNRESET && !c.out.cut() {
                    refuse(c.sock, &why);
                }
            }
        }
        Step::Ready => {
            let (pid, nfds) = s.conn.as_ref().map(|c| (c.pid, c.nfds)).unwrap_or((0, 0));
            if let Some(ch) = s.conn.as_mut().and_then(|c| c.channel.take()) {
                crate::conns::adopt_handoff(ch, pid);
                notes.add(log::INFO, format_args!("hand-off: pid {} takes connections (gracefd_conns_pass)", pid));
            }
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
        turn_away(notes, log::WARNING, c, cred.pid, &e);
        return;
    }
    if let Some(cur) = &s.conn {
        let e = err!(EBUSY, "a hand-off to pid {} is in progress", cur.pid);
        turn_away(notes, log::NOTICE, c, cred.pid, &e);
        return;
    }
    let timeout_ms = TAKER_TIMEOUT_MS.load(Ordering::Relaxed);
    let timer = match time::timerfd() {
        Ok(t) => t,
        Err(e) => {
            notes.add(log::WARNING, format_args!("hand-off: timerfd failed ({}); connection from pid {} dropped", e, cred.pid));
            return;
        }
    };
    let watched = poll::epoll_add(s.ep.raw(), c.raw(), libc::EPOLLIN as u32)
        .and_then(|()| poll::epoll_add(s.ep.raw(), timer.raw(), libc::EPOLLIN as u32))
        .and_then(|()| time::timerfd_arm(timer.raw(), timeout_ms));
    if let Err(e) = watched {
        // Closing both (drop) takes them out of the epoll set.
        notes.add(log::WARNING, format_args!("hand-off: epoll_ctl/timerfd failed ({}); connection from pid {} dropped", e, cred.pid));
        return;
    }
    notes.add(log::INFO, format_args!("hand-off: pid {} (uid {}) connected", cred.pid, cred.uid));
    s.conn = Some(Conn {
        sock: c,
        pid: cred.pid,
        phase: Phase::AwaitTake,
        timer,
        timeout_ms,
        inbuf: [0; wire::HEAD_LEN],
        inlen: 0,
        out: Outgoing::none(),
        nfds: 0,
        infd: None,
        channel: None,
    });
}

/// What one step on the taker's connection came to.
enum Step {
    Idle,
    /// Nothing more to do now; `out` if output is pending (wait for POLLOUT).
    Wait {
        out: bool,
    },
    /// Drop the taker, for the reason in the error slot (told to it unless
    /// it is gone).
    Gone,
    /// It reported ready.
    Ready,
}

/// One step; when it comes to [`Step::Gone`], `why` says why.
fn step(c: &mut Conn, notes: &mut Notes, why: &mut crate::Error) -> Step {
    loop {
        // Read what the taker sent (its frames are heads without body).
        let mut progressed = false;
        if c.inlen < wire::HEAD_LEN {
            let mut raw = [-1 as RawFd; 4];
            let room = c.inbuf.get_mut(c.inlen..).unwrap_or(&mut []);
            match socket::recv_with_fds(c.sock.raw(), room, &mut raw, libc::MSG_DONTWAIT) {
                Ok(r) => {
                    // The one fd a CONNS frame may carry is kept; any other closed.
                    let one = c.phase == Phase::AwaitConns && c.infd.is_none() && r.nfds == 1 && !r.fds_truncated;
                    for &f in raw.get(..r.nfds).unwrap_or(&[]) {
                        if one {
                            // SAFETY: a fresh fd from SCM_RIGHTS (CLOEXEC), ours alone.
                            c.infd = Some(unsafe { Fd::from_raw(f) });
                        } else {
                            fd::close(f);
                        }
                    }
                    if !one && (r.nfds > 0 || r.fds_truncated) {
                        why.set(libc::EBADMSG, format_args!("it sent fds"));
                        return Step::Gone;
                    }
                    if r.len == 0 {
                        let what = match c.phase {
                            Phase::AwaitTake => "it closed the connection before asking",
                            Phase::Sending => "it closed the connection while the fds were being sent",
                            Phase::AwaitReady => "it closed the connection before it was ready",
                            Phase::AwaitConns => "it closed the connection after ready",
                        };
                        why.set(libc::ECONNRESET, format_args!("{}", what));
                        return Step::Gone;
                    }
                    c.inlen += r.len;
                    progressed = true;
                }
                Err(Errno(libc::EAGAIN)) => {}
                Err(Errno(libc::ECONNRESET)) => {
                    why.set(libc::ECONNRESET, format_args!("connection reset"));
                    return Step::Gone;
                }
                Err(e) => {
                    why.set_sys(e, "recvmsg");
                    return Step::Gone;
                }
            }
        }
        if c.inlen == wire::HEAD_LEN {
            c.inlen = 0;
            let h = match wire::decode_head(&c.inbuf) {
                Ok(h) => h,
                Err(e) => {
                    *why = e;
                    return Step::Gone;
                }
            };
            match (h.kind, c.phase) {
                (HandoffMsg::Take, Phase::AwaitTake) => {
                    if !start_sending(c, why) {
                        notes.add(log::ERR, format_args!("hand-off: cannot serve pid {}: {}", c.pid, why.message()));
                        return Step::Gone;
                    }
                    notes.add(log::INFO, format_args!("hand-off: sending {} fds to pid {}", c.nfds, c.pid));
                }
                (HandoffMsg::Ready, Phase::AwaitReady) => {
                    // Read on: a CONNS frame or EOF follows at once.
                    c.phase = Phase::AwaitConns;
                    let _ = time::timerfd_arm(c.timer.raw(), c.timeout_ms);
                }
                (HandoffMsg::Conns, Phase::AwaitConns) => match c.infd.take() {
                    Some(ch) if !is_channel(&ch) => {
                        why.set(libc::EBADMSG, format_args!("the fd of its CONNS frame is not a unix seqpacket socket"));
                        return Step::Gone;
                    }
                    Some(ch) if peer_is(&ch, c.pid) => {
                        c.channel = Some(ch);
                        return Step::Ready;
                    }
                    Some(_) => {
                        why.set(libc::EBADMSG, format_args!("the socket of its CONNS frame was not made by it"));
                        return Step::Gone;
                    }
                    None => {
                        why.set(libc::EBADMSG, format_args!("a CONNS frame without its socket"));
                        return Step::Gone;
                    }
                },
                (k, _) => {
                    why.set(libc::EPROTO, format_args!("unexpected {} frame", k.name()));
                    return Step::Gone;
                }
            }
            progressed = true;
        }
        if c.infd.is_some() && c.inlen == 0 {
            why.set(libc::EBADMSG, format_args!("an fd came with a frame other than CONNS"));
            return Step::Gone;
        }
        if progressed && c.phase != Phase::AwaitReady {
            // A frame, or fds read by the taker: its deadline starts over.
            let _ = time::timerfd_arm(c.timer.raw(), c.timeout_ms);
        }
        // Write what is pending.
        if c.phase == Phase::Sending {
            let before = sent_mark(c);
            match c.out.flush(c.sock.raw()) {
                Ok(Progress::Done) => {
                    c.phase = Phase::AwaitReady;
                    let _ = time::timerfd_arm(c.timer.raw(), 0);
                    c.out = Outgoing::none();
                    notes.add(log::INFO, format_args!("hand-off: sent {} fds to pid {}; waiting for it to be ready", c.nfds, c.pid));
                }
                Ok(Progress::Blocked) => {
                    if sent_mark(c) != before {
                        // It reads: its deadline starts over.
                        let _ = time::timerfd_arm(c.timer.raw(), c.timeout_ms);
                    }
                    if !progressed {
                        return Step::Wait { out: true };
                    }
                }
                Err(e) => {
                    let sent = c.out.fds_sent();
                    let mut e = send_error(e, sent, c.nfds);
                    if e.errno.0 == libc::EPIPE {
                        e.errno = Errno(libc::ECONNRESET);
                    }
                    *why = e;
                    return Step::Gone;
                }
            }
        }
        if !progressed {
            return Step::Wait { out: false };
        }
    }
}

/// Whether the fd of a CONNS frame is what it must be: a unix seqpacket socket.
fn is_channel(f: &Fd) -> bool {
    socket::getsockopt_int(f.raw(), libc::SOL_SOCKET, libc::SO_DOMAIN) == Ok(libc::AF_UNIX)
        && socket::getsockopt_int(f.raw(), libc::SOL_SOCKET, libc::SO_TYPE) == Ok(libc::SOCK_SEQPACKET)
}

/// Whether the other end of `ch` belongs to `pid` (a socketpair's peer
/// credentials are those of the process that made it).
fn peer_is(ch: &Fd, pid: Pid) -> bool {
    socket::peer_cred(ch.raw()).map(|cr| cr.pid) == Ok(pid)
}

/// How far the sending has come (message, byte in it).
fn sent_mark(c: &Conn) -> (usize, usize) {
    c.out.mark()
}

/// TAKE arrived: plan the transfer of the registry ([`Outgoing::plan`]: the
/// header and the registry's change count; each chunk takes its fds from
/// the registry when it goes, only if the registry has not changed since).
/// `false` (why in `why`) if the transfer cannot be planned.
fn start_sending(c: &mut Conn, why: &mut crate::Error) -> bool {
    match Outgoing::plan() {
        Ok(out) => c.out = out,
        Err(e) => {
            *why = e;
            return false;
        }
    }
    c.nfds = c.out.count();
    c.phase = Phase::Sending;
    true
}

/// The taker is ready: post DRAIN, refuse whoever else queued up, close the
/// serving socket and remove its path if it is still ours.
fn finish(s: &mut Server, pid: Pid, notes: &mut Notes) {
    events::post(events::DRAIN);
    // We drain and exit next, as after an upgrade (exit_yield.rs).
    if let Err(e) = crate::exit_yield::arm() {
        notes.add(log::WARNING, format_args!("hand-off: no exit handler to give the CPU away at exit: {}", e));
    }
    s.conn = None;
    if let Some(l) = &s.listener {
        while let Ok(c) = socket::accept(l.raw(), libc::SOCK_NONBLOCK) {
            let who = socket::peer_cred(c.raw()).map(|cr| cr.pid).unwrap_or(0);
            let e = err!(EBUSY, "already handed off to pid {}", pid);
            turn_away(notes, log::NOTICE, c, who, &e);
        }
        let _ = poll::epoll_remove(s.ep.raw(), l.raw());
    }
    close_listener(s);
    s.listener = None;
    s.done_by = Some(pid);
}
