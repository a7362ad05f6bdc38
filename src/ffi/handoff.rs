//! Hand-off between unrelated processes: serve, take, and the low-level
//! transfer over a caller's own socket.

use core::ffi::{c_char, c_int};

use super::boundary::{self, run};
use crate::err;
use crate::handoff::{self, Status};
use crate::proto::handoff as wire;
use crate::sys::time::Deadline;

/// Bytes of one name slot in gracefd_recv_fds()'s `names_out`: a name of up
/// to `GRACEFD_NAME_MAX` bytes and its NUL.
pub const GRACEFD_FD_NAME_SIZE: usize = 256;
/// Most fds one hand-off (or gracefd_send_fds()) carries.
pub const GRACEFD_HANDOFF_MAX_FDS: c_int = 65536;
/// gracefd_handoff_process(): still serving (no taker is ready yet).
pub const GRACEFD_HANDOFF_SERVING: c_int = 0;
/// gracefd_handoff_process(): a taker took the fds and is ready; drain now.
pub const GRACEFD_HANDOFF_DONE: c_int = 1;

// The C values are the core's; checked at compile time (cbindgen needs literals).
const _: () = assert!(
    GRACEFD_FD_NAME_SIZE == crate::proto::listen_env::FDNAME_MAX + 1
        && GRACEFD_HANDOFF_MAX_FDS as usize == crate::proto::handoff::MAX_FDS
);

/// Serve this process's registered fds (everything gracefd_listen() opened or
/// gracefd_add_fd() added, with their names) to one new instance of the
/// program that calls gracefd_handoff_take() on the same `path` — for
/// supervisors that start the new version themselves (runit, supervisord,
/// `systemctl restart`, a container replacement).
///
/// The socket at `path` is mode 0600. It is created under a temporary name
/// beside `path`, made 0600, set listening and renamed over `path`, so the
/// path never shows another mode and never disappears. A socket nobody
/// listens on at `path` (left by a process that died) is replaced; a live one
/// is refused, unless this process took its own fds from that very path with
/// gracefd_handoff_take() (then it takes the path over: call
/// gracefd_handoff_serve() before gracefd_ready() in that case), or the live
/// socket belongs to this process's older generation (this process was
/// started by its gracefd_upgrade()): then too the path is taken over, and
/// the older generation leaves it alone when it goes.
///
/// Returns an fd (CLOEXEC, owned by the caller: close it when done) to poll
/// for `POLLIN`; it never blocks anything. Whenever it is readable, call
/// gracefd_handoff_process(), which does all the work without blocking and
/// without threads: it accepts connections, refuses peers whose uid
/// (`SO_PEERCRED`) is neither this process's nor root (they get the reason,
/// and the log hook a `GRACEFD_LOG_WARNING` line), refuses everyone while one
/// taker is being served (`-EBUSY` on their side), sends every registered fd
/// to the taker, and waits for the taker's gracefd_ready(). When it arrives,
/// gracefd_handoff_process() returns `GRACEFD_HANDOFF_DONE`,
/// `GRACEFD_EVENT_DRAIN` is posted on the event fd (gracefd_event_fd(),
/// gracefd_signals_install()), the serving socket is closed and `path`
/// removed if it is still this process's socket: stop accepting and drain.
/// A taker that dies or misbehaves first changes nothing: serving goes on
/// and the next taker is served. A taker that called gracefd_conns_enable()
/// also hands over a channel for connections with its ready report: from
/// `GRACEFD_HANDOFF_DONE` on, gracefd_conns_can_pass() returns its pid and
/// gracefd_conns_pass() passes idle connections to it instead of draining
/// them (docs/zero-drain.md).
///
/// The process needs room for a second copy of its registered fds while a
/// transfer runs (RLIMIT_NOFILE).
///
/// Errors: `-EINVAL` `path` NULL or empty; `-EALREADY` already serving;
/// `-ENAMETOOLONG` `path` does not fit a unix socket address (about 100
/// bytes; the socket is bound in a private 0700 directory beside `path` and
/// renamed into place, so no link swapped in can redirect its mode); `-EEXIST` something that
/// is not a socket is at `path`; `-EADDRINUSE` another process serves at
/// `path`; others from socket, bind, chmod, listen, rename or epoll (e.g.
/// `-EACCES`, `-ENOENT` for a missing directory, `-EMFILE`).
///
/// Thread-safe; one serving socket per process.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_handoff_serve(path: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let p = unsafe { boundary::cstr(path, "path") }?;
        Ok(handoff::serve(p)?.into_raw())
    })
}

/// Do the pending work of the hand-off socket opened by
/// gracefd_handoff_serve(), without blocking: call it whenever that fd is
/// readable. Returns `GRACEFD_HANDOFF_SERVING` (0) while no taker is ready,
/// and `GRACEFD_HANDOFF_DONE` (1) once one took the fds and called
/// gracefd_ready() (then, and on every later call, until
/// gracefd_handoff_stop() or a new gracefd_handoff_serve()): stop accepting
/// and drain. `GRACEFD_EVENT_DRAIN` is also posted on the event fd at that
/// moment, so a program may rely on either.
///
/// Takers that fail (they die, close early, send garbage) are not errors of
/// this call: they are dropped, logged through the log hook, and serving goes
/// on. Errors: `-ENOENT` not serving; `-EMFILE`/`-ENFILE` no fd for a new
/// connection (it stays queued; the fd stays readable); other accept or
/// epoll errors.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_handoff_process() -> c_int {
    run(|| {
        Ok(match handoff::process()? {
            Status::Serving => GRACEFD_HANDOFF_SERVING,
            Status::Done(_) => GRACEFD_HANDOFF_DONE,
        })
    })
}

/// Default of gracefd_handoff_set_taker_timeout_ms(): 5 s.
pub const GRACEFD_HANDOFF_TAKER_TIMEOUT_MS: i64 = 5000;
const _: () = assert!(GRACEFD_HANDOFF_TAKER_TIMEOUT_MS == handoff::DEFAULT_TAKER_TIMEOUT_MS);

/// How long one taker may hold the hand-off (only one is served at a time;
/// others get `-EBUSY`) without asking for the fds, or, while they are sent,
/// without reading any: then it is dropped (told `ETIMEDOUT`, logged) and the
/// next one is served, so an idle connection cannot block every taker.
/// Default `GRACEFD_HANDOFF_TAKER_TIMEOUT_MS` (5 s). Not applied once all fds
/// are sent: a taker that has them may take as long as its start-up needs to
/// call gracefd_ready() (if it dies, the slot frees at once). Applies to
/// connections accepted from then on; the deadline wakes the fd of
/// gracefd_handoff_serve(), so keep calling gracefd_handoff_process() when it
/// is readable. Errors: `-EINVAL` unless 1 ms to a day (86400000).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_handoff_set_taker_timeout_ms(timeout_ms: i64) -> c_int {
    run(|| {
        handoff::set_taker_timeout_ms(timeout_ms)?;
        Ok(0)
    })
}

/// Stop serving hand-off: close the socket and remove its path if it is
/// still this process's socket. A taker in the middle of a transfer fails
/// (`-ECONNRESET` on its side); one that took everything but has not called
/// gracefd_ready() yet can no longer tell this process to drain. The fd
/// returned by gracefd_handoff_serve() stays the caller's to close; it
/// becomes readable no more. Returns 1 if something was being served (or a
/// hand-off had completed), 0 if not. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_handoff_stop() -> c_int {
    run(|| Ok(c_int::from(handoff::stop()?)))
}

/// Take the registered fds of the process serving hand-off at `path`
/// (gracefd_handoff_serve()): connect, receive every fd with its name into
/// this process's registry, so that gracefd_listen(name, …) finds each one
/// exactly as if it had been inherited, and keep the connection open. When
/// this process later calls gracefd_ready(), the old process is told to drain
/// (it gets `GRACEFD_EVENT_DRAIN`). Until then both serve.
///
/// Returns the number of fds taken (0 is possible: the old process had none).
/// `timeout_ms` bounds the whole exchange (negative: no limit). If the
/// exchange fails, nothing is added to the registry, every fd received is
/// closed, and the old process goes on serving.
///
/// The serving process must run as this process's uid or as root
/// (`SO_PEERCRED`), and it checks this process the same way.
///
/// Errors: `-EINVAL` `path` NULL or bad; `-ENAMETOOLONG` `path` too long for a
/// unix socket; `-ENOENT`/`-ECONNREFUSED` nobody serves at `path`; `-EACCES`
/// no permission on `path`, or the server runs as another uid, or it refused
/// this uid; `-EBUSY` the server is handing off to another process or already
/// did (the message has its pid); `-EALREADY` fds were already taken and
/// gracefd_ready() not called yet; `-ETIMEDOUT`; `-EBADMSG` a malformed or
/// truncated frame, lost fds (`MSG_CTRUNC`: is RLIMIT_NOFILE high enough?) or
/// a count mismatch; `-EPROTONOSUPPORT` the server speaks another protocol
/// version; `-ECONNRESET` the server closed the connection or died midway;
/// another `-errno` the server refused with (the message is its reason).
///
/// Thread-safe. Blocks up to `timeout_ms`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_handoff_take(path: *const c_char, timeout_ms: i64) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let p = unsafe { boundary::cstr(path, "path") }?;
        boundary::count(handoff::take(p, timeout_ms)?)
    })
}

/// Send `n` fds with their names over `sock`, a connected unix stream
/// socket of the caller's own (a socketpair, a control connection), in the
/// hand-off wire format: a header frame with the count and names, then the
/// fds in chunks of at most 252 per `sendmsg` (`SCM_RIGHTS`). The other side
/// receives them with gracefd_recv_fds(). `names[i]` names `fds[i]`: 1–255
/// bytes of printable ASCII (space included), no ':'.
///
/// The fds stay the caller's (the receiver gets duplicates). Never raises
/// SIGPIPE; never changes the socket's `O_NONBLOCK` (waits use `poll`).
/// `timeout_ms` bounds the whole transfer (negative: no limit): a receiver
/// that stops reading cannot block the caller longer. Returns 0.
///
/// Errors: `-EINVAL` `fds` or `names` NULL with `n` > 0, a NULL or invalid
/// name (the message says which), `n` above `GRACEFD_HANDOFF_MAX_FDS`;
/// `-EBADF` an fd is not open (the message has its index; it is found
/// when its chunk is sent, so earlier chunks may have gone); `-EPIPE` or
/// `-ECONNRESET` the receiver closed the connection (the message says after
/// how many fds); `-ETIMEDOUT`; `-ETOOMANYREFS` too many fds in flight for
/// this user; `-ENOTSOCK` and others from `sendmsg`. After a failure the
/// stream is mid-transfer: close it.
///
/// Thread-safe (do not use one socket from two threads at once).
///
/// # Safety
/// `fds` and `names` hold `n` elements; each name is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_send_fds(
    sock: c_int,
    fds: *const c_int,
    names: *const *const c_char,
    n: usize,
    timeout_ms: i64,
) -> c_int {
    run(|| {
        if n > wire::MAX_FDS {
            return Err(err!(EINVAL, "{} fds are more than one transfer carries ({})", n, wire::MAX_FDS));
        }
        // SAFETY: caller's promise.
        let fds = unsafe { boundary::slice(fds, n, "fds") }?;
        // SAFETY: caller's promise.
        let name_ptrs = unsafe { boundary::slice(names, n, "names") }?;
        // Read where they are (no copy of 10,000 pointers): checked before anything is sent.
        let name = |i: usize| {
            let p = name_ptrs.get(i).copied().unwrap_or(core::ptr::null());
            // SAFETY: caller's promise: each entry is a NUL-terminated string.
            unsafe { boundary::cstr(p, "name") }.map_err(|e| e.context(format_args!("names[{}]", i)))
        };
        handoff::send_fds_with(sock, fds, name, Deadline::after_ms(timeout_ms))?;
        Ok(0)
    })
}

/// Receive one transfer sent by gracefd_send_fds() (or by a hand-off server)
/// over `sock`, a connected unix stream socket of the caller's own.
///
/// The caller passes room for `cap` fds: `fds_out` holds `cap` ints and
/// `names_out`, if not NULL, `cap` slots of `GRACEFD_FD_NAME_SIZE` bytes
/// (declare it `char names[CAP][GRACEFD_FD_NAME_SIZE]`). On success the
/// return value `n` (0 ≤ n ≤ cap) is the number of fds received, `fds_out[i]`
/// is the i-th fd and `names_out[i]` its NUL-terminated name. Nothing is
/// written on failure.
///
/// Every received fd is CLOEXEC and belongs to the caller (close it). On any
/// failure every fd received so far has been closed: nothing leaks.
/// `timeout_ms` bounds the whole transfer (negative: no limit). The
/// socket's `O_NONBLOCK` is never changed.
///
/// Errors: `-EINVAL` `fds_out` NULL with `cap` > 0; `-EMSGSIZE` the sender
/// announced more than `cap` fds (found out before any fd is received; the
/// transfer stays unread: close the socket); `-EBADMSG` a malformed,
/// oversized or truncated frame, fds where none belong, a chunk whose fds do
/// not match its count, or lost fds (`MSG_CTRUNC`, e.g. RLIMIT_NOFILE too
/// low); `-EPROTONOSUPPORT` another protocol version; `-ECONNRESET` the sender
/// closed the connection (or died) before the transfer was complete (the
/// message says after how many fds); `-ETIMEDOUT`; `-ENOTSOCK` and others
/// from `recvmsg`. After a failure the stream is mid-transfer: close it.
///
/// Thread-safe (do not use one socket from two threads at once).
///
/// # Safety
/// `fds_out` is writable for `cap` ints; `names_out` is NULL or writable for `cap` slots.
#[no_mangle]
pub unsafe extern "C" fn gracefd_recv_fds(
    sock: c_int,
    timeout_ms: i64,
    cap: usize,
    fds_out: *mut c_int,
    names_out: *mut [c_char; GRACEFD_FD_NAME_SIZE],
) -> c_int {
    run(|| {
        // SAFETY: caller's promise: cap writable ints.
        let fds = unsafe { boundary::slice_mut(fds_out, cap, "fds_out") }?;
        let mut names = if names_out.is_null() {
            None
        } else {
            // SAFETY: caller's promise: cap writable name slots.
            Some(unsafe { boundary::slice_mut(names_out, cap, "names_out") }?)
        };
        let mut got = handoff::recv_fds(sock, cap.min(wire::MAX_FDS), Deadline::after_ms(timeout_ms))?;
        let n = boundary::count(got.len())?;
        // recv_fds returned at most cap entries, so every slot below exists.
        for (i, (name, fd)) in got.drain().enumerate() {
            if let Some(slot) = fds.get_mut(i) {
                *slot = fd.into_raw();
            }
            if let Some(slot) = names.as_mut().and_then(|ns| ns.get_mut(i)) {
                // Names are at most 255 bytes (checked when decoded), so the NUL fits.
                for (d, s) in slot.iter_mut().zip(name.iter().chain(core::iter::once(&0u8))) {
                    *d = *s as c_char;
                }
            }
        }
        Ok(n)
    })
}
