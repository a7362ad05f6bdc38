//! Lifecycle events for poll/epoll loops: signals become bytes on a pipe.
//!
//! `install()` sets handlers for SIGHUP and SIGUSR2 (upgrade requested) and
//! SIGTERM and SIGINT (shut down). Each handler writes one event byte to a
//! non-blocking, CLOEXEC pipe private to the library (so its O_NONBLOCK is
//! ours to set) and then chains to the handler that was installed before, if
//! that was a function. The program polls the read end and takes events with
//! `next()`. Other parts of the library post events too (a hand-off peer that
//! took over posts `Drain`).

use core::sync::atomic::{AtomicI32, Ordering};

use crate::error::Result;
use crate::sync::Mutex;
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::{signal, Errno};

/// No event pending.
pub(crate) const NONE: i32 = 0;
/// An upgrade was requested (SIGHUP or SIGUSR2).
pub(crate) const UPGRADE: i32 = 1;
/// Shutdown was requested (SIGTERM or SIGINT).
pub(crate) const SHUTDOWN: i32 = 2;
/// Another process took our sockets over: stop accepting and drain.
pub(crate) const DRAIN: i32 = 3;
/// Connections passed by the older generation wait to be taken
/// (`conns::next`).
pub(crate) const CONNS: i32 = 4;

const SIGNALS: [(i32, i32); 4] = [
    (libc::SIGHUP, UPGRADE),
    (libc::SIGUSR2, UPGRADE),
    (libc::SIGTERM, SHUTDOWN),
    (libc::SIGINT, SHUTDOWN),
];

static WRITE_END: AtomicI32 = AtomicI32::new(-1);
/// Events written to the pipe and not yet taken: lets `next()` answer "none"
/// without a syscall (it may lag a byte in the pipe by an instant; the byte
/// keeps the fd readable, so the caller's next poll comes back for it).
static PENDING: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

struct State {
    read: Option<Fd>,
    write: Option<Fd>,
    installed: bool,
    old: [Option<libc::sigaction>; 4],
}

static STATE: Mutex<State> = Mutex::new(State { read: None, write: None, installed: false, old: [None; 4] });
// Previous handlers, for chaining from the signal handler (read-only once installed).
static OLD_HANDLERS: [core::sync::atomic::AtomicUsize; 4] = [
    core::sync::atomic::AtomicUsize::new(0),
    core::sync::atomic::AtomicUsize::new(0),
    core::sync::atomic::AtomicUsize::new(0),
    core::sync::atomic::AtomicUsize::new(0),
];

fn ensure_pipe(st: &mut State) -> Result<RawFd> {
    if let Some(r) = &st.read {
        return Ok(r.raw());
    }
    // One error site for the three steps: they fail with the same message.
    let (r, w) = fd::pipe()
        .and_then(|(r, w)| {
            fd::set_nonblocking(r.raw(), true)?;
            fd::set_nonblocking(w.raw(), true)?;
            Ok((r, w))
        })
        .map_err(|e| crate::Error::sys(e, "event pipe"))?;
    WRITE_END.store(w.raw(), Ordering::Release);
    let raw = r.raw();
    st.read = Some(r);
    st.write = Some(w);
    Ok(raw)
}

extern "C" fn on_signal(sig: libc::c_int) {
    let saved = Errno::last();
    let ev = SIGNALS.iter().find(|(s, _)| *s == sig).map(|(_, e)| *e).unwrap_or(NONE) as u8;
    let w = WRITE_END.load(Ordering::Acquire);
    if w >= 0 {
        // A full pipe drops the byte: events of one kind are idempotent.
        // Counted before the write: a reader woken by the byte must find
        // it counted (see post()).
        PENDING.fetch_add(1, Ordering::AcqRel);
        if fd::write_once(w, &[ev]) != Ok(1) {
            PENDING.fetch_sub(1, Ordering::AcqRel);
        }
    }
    if let Some(i) = SIGNALS.iter().position(|(s, _)| *s == sig) {
        let h = OLD_HANDLERS.get(i).map(|a| a.load(Ordering::Acquire)).unwrap_or(0);
        if h != 0 && h != libc::SIG_DFL && h != libc::SIG_IGN {
            // SAFETY: h was the program's own plain handler for this signal.
            let f: extern "C" fn(libc::c_int) = unsafe { core::mem::transmute(h) };
            f(sig);
        }
    }
    saved.set(); // the interrupted code's errno
}

/// Install the handlers (idempotent) and return a new CLOEXEC dup of the
/// event pipe's read end, owned by the caller.
pub(crate) fn install() -> Result<Fd> {
    let mut st = STATE.lock();
    let r = ensure_pipe(&mut st)?;
    if !st.installed {
        for (i, (sig, _)) in SIGNALS.iter().enumerate() {
            let old = signal::install(*sig, on_signal).map_err(|e| crate::Error::sys(e, "sigaction"))?;
            // Chain only to plain handlers: an SA_SIGINFO handler expects a
            // siginfo we do not have (documented in the header).
            let chain = if old.sa_flags & libc::SA_SIGINFO != 0 { 0 } else { old.sa_sigaction };
            if let Some(a) = OLD_HANDLERS.get(i) {
                a.store(chain, Ordering::Release);
            }
            if let Some(slot) = st.old.get_mut(i) {
                *slot = Some(old);
            }
        }
        st.installed = true;
    }
    fd::dup_cloexec(r).map_err(|e| crate::Error::sys(e, "dup event fd"))
}

/// Restore the handlers that were installed before `install()`.
pub(crate) fn uninstall() -> Result<()> {
    let mut st = STATE.lock();
    if !st.installed {
        return Ok(());
    }
    for (i, (sig, _)) in SIGNALS.iter().enumerate() {
        if let Some(Some(old)) = st.old.get(i) {
            signal::restore(*sig, old).map_err(|e| crate::Error::sys(e, "sigaction"))?;
        }
        if let Some(a) = OLD_HANDLERS.get(i) {
            a.store(0, Ordering::Release);
        }
    }
    st.installed = false;
    Ok(())
}

/// A poll-able fd for events posted by the library even without signal
/// handlers (a new CLOEXEC dup, owned by the caller).
pub(crate) fn fd() -> Result<Fd> {
    let mut st = STATE.lock();
    let r = ensure_pipe(&mut st)?;
    fd::dup_cloexec(r).map_err(|e| crate::Error::sys(e, "dup event fd"))
}

/// Post an event from library code (not from a signal handler).
pub(crate) fn post(ev: i32) {
    let mut st = STATE.lock();
    if ensure_pipe(&mut st).is_ok() {
        if let Some(w) = &st.write {
            let b = [ev as u8];
            // Counted before the write: a reader woken by the byte that
            // found it not yet counted would see no event and, with an
            // edge-triggered poller (Go's), wait for the next one.
            PENDING.fetch_add(1, Ordering::AcqRel);
            if fd::write_all(w.raw(), &b).is_err() {
                PENDING.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// Take the next pending event, or [`NONE`].
pub(crate) fn next() -> Result<i32> {
    if PENDING.load(Ordering::Acquire) == 0 {
        return Ok(NONE);
    }
    let st = STATE.lock();
    let Some(r) = &st.read else { return Ok(NONE) };
    let mut b = [0u8; 1];
    match fd::read(r.raw(), &mut b) {
        Ok(1) => {
            PENDING.fetch_sub(1, Ordering::AcqRel);
            Ok(i32::from(b[0]))
        }
        Ok(_) | Err(Errno(libc::EAGAIN)) => Ok(NONE),
        Err(e) => Err(crate::Error::sys(e, "read event pipe")),
    }
}
