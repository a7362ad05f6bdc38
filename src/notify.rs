//! sd_notify: tell the service manager about readiness, reloads, stopping,
//! status, the main pid, and hand it fds to keep (docs/architecture.md, "sd_notify").
//!
//! Each call sends datagrams to `$NOTIFY_SOCKET` (read from the start-up
//! snapshot, never with getenv) from a fresh `AF_UNIX`/`SOCK_DGRAM`, CLOEXEC
//! socket, with `MSG_NOSIGNAL`, like libsystemd's `sd_notify`:
//!
//! - `NOTIFY_SOCKET` unset: every call succeeds and does nothing, returning 0
//!   (arguments are still checked, so a bad state shows up in development,
//!   outside systemd, too);
//! - set but malformed: `EINVAL`/`ENAMETOOLONG` naming the value;
//! - otherwise the number of datagrams sent (1, or more for many fds).
//!
//! Rules gracefd keeps for the caller: `RELOADING=1` never goes out without
//! `MONOTONIC_USEC=` (the raw calls append the current time when the state
//! lacks it; [`reloading`] always sends both); more than 253 fds are split
//! over several messages, each carrying the whole state (so `FDNAME=` names
//! every fd); `BARRIER=1` travels alone with exactly one fd.
//!
//! Sends block like `sd_notify` when the receiver's queue is full, except in
//! [`barrier`] and [`hand_over_mainpid`], whose timeout bounds the sends too.
//! All functions are thread-safe (no shared state) and not async-signal-safe.

use crate::error::{Error, Result};
use crate::msg::Plain;
use crate::proto::addr::Shown;
use crate::proto::notify::{self as proto, Message, NotifySocket};
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::process::{self, Pid};
use crate::sys::socket::{self, SockAddr, SCM_MAX_FD};
use crate::sys::time::{self, Deadline};
use crate::sys::{poll, Errno};
use crate::{bail, err, startup};

/// Most fds one notification carries; more are split over several messages.
pub(crate) const FDS_PER_MESSAGE: usize = SCM_MAX_FD;

/// Where notifications go: a parsed `$NOTIFY_SOCKET` value.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    value: &'a [u8],
    addr: SockAddr,
}

impl core::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Target({})", Shown(self.value))
    }
}

/// Check a state and give the bytes to send: the state itself, plus
/// `MONOTONIC_USEC=<now>` if it says `RELOADING=1` without one.
fn prepare(state: &[u8]) -> Result<Message> {
    proto::validate_state(state)?;
    proto::with_monotonic(state, time::monotonic_us())
}

/// Check that every fd is open before anything is sent, so that a bad fd
/// fails the whole call rather than the third of three messages.
fn check_fds(fds: &[RawFd]) -> Result<()> {
    for (i, &f) in fds.iter().enumerate() {
        if f < 0 || !fd::is_open(f) {
            bail!(EBADF, "fds[{}] = {} is not an open file descriptor", i, f);
        }
    }
    Ok(())
}

impl<'a> Target<'a> {
    /// Parse a `$NOTIFY_SOCKET` value (see [`proto::parse_socket`]).
    #[cfg(test)]
    pub fn parse(value: &'a [u8]) -> Result<Target<'a>> {
        Target::from_value(Some(value)).map(|t| t.expect("a value gives a target"))
    }

    /// The target a `$NOTIFY_SOCKET` value names (see
    /// [`proto::parse_socket`]); `Ok(None)` for no value (unset). One
    /// function for both, in the `Result` type [`Target::from_env`] returns:
    /// a `?` that changes the type moves the 248-byte error, which was a
    /// fifth of that function when it went through a parse returning a
    /// plain `Target`.
    pub fn from_value(value: Option<&'a [u8]>) -> Result<Option<Target<'a>>> {
        let Some(value) = value else { return Ok(None) };
        let addr = match proto::parse_socket(value)? {
            NotifySocket::Path(p) => SockAddr::unix(p, false),
            NotifySocket::Abstract(n) => SockAddr::unix(n, true),
        }
        // parse_socket already checked NUL and length; kept for robustness.
        .map_err(|e| Error::new(e, format_args!("NOTIFY_SOCKET {}: {}", Shown(value), e)))?;
        Ok(Some(Target { value, addr }))
    }

    /// The target named by `$NOTIFY_SOCKET` at start-up; `Ok(None)` if unset.
    pub(crate) fn from_env() -> Result<Option<Target<'static>>> {
        Target::from_value(startup::get().var(b"NOTIFY_SOCKET"))
    }

    /// The raw value, as given.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    fn fail(&self, e: Errno, what: &str) -> Error {
        let hint = match e.0 {
            libc::ENOENT | libc::ECONNREFUSED => " (nothing listens there)",
            _ => "",
        };
        Error::new(e, format_args!("NOTIFY_SOCKET {}: {}: {}{}", Shown(self.value), Plain(what), e, Plain(hint)))
    }

    /// A fresh datagram socket; with a deadline, sends on it wait no longer.
    fn socket(&self, deadline: Option<&Deadline>) -> Result<Fd> {
        let s = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).map_err(|e| self.fail(e, "socket"))?;
        if let Some(d) = deadline {
            // -1 means no limit; 0 (expired) still gets the smallest limit, 1 ms.
            if let Ok(ms) = u32::try_from(d.poll_ms()) {
                socket::set_send_timeout(s.raw(), ms).map_err(|e| self.fail(e, "SO_SNDTIMEO"))?;
            }
        }
        Ok(s)
    }

    fn send_raw(&self, sock: &Fd, msg: &[u8], fds: &[RawFd]) -> Result<()> {
        match socket::send_with_fds(sock.raw(), msg, fds, Some(&self.addr)) {
            Ok(n) if n == msg.len() => Ok(()),
            Ok(n) => Err(err!(EIO, "NOTIFY_SOCKET {}: sent {} of {} bytes", Shown(self.value), n, msg.len())),
            Err(Errno(libc::EAGAIN)) => Err(err!(
                ETIMEDOUT,
                "NOTIFY_SOCKET {}: the receiver did not take the message in time (its queue stayed full)",
                Shown(self.value)
            )),
            Err(e) => Err(self.fail(e, "sendmsg")),
        }
    }

    /// Send `msg` (already checked), with `fds` split into messages of at most
    /// [`FDS_PER_MESSAGE`], each carrying all of `msg`. Returns the count sent.
    fn send_message(&self, msg: &[u8], fds: &[RawFd], deadline: Option<&Deadline>) -> Result<usize> {
        let sock = self.socket(deadline)?;
        // At least one message, even without fds (one send site for both).
        let total = fds.len().div_ceil(FDS_PER_MESSAGE).max(1);
        for i in 0..total {
            let chunk = fds.get(i * FDS_PER_MESSAGE..fds.len().min((i + 1) * FDS_PER_MESSAGE)).unwrap_or(&[]);
            self.send_raw(&sock, msg, chunk).map_err(|e| {
                if i == 0 {
                    e
                } else {
                    e.context(format_args!("message {} of {} (the first {} fds were sent)", i + 1, total, i * FDS_PER_MESSAGE))
                }
            })?;
        }
        Ok(total)
    }

    /// Send one notification: `state` is `KEY=VALUE` lines
    /// ([`proto::validate_state`]), sent as given, except that `RELOADING=1`
    /// without `MONOTONIC_USEC=` gets `MONOTONIC_USEC=<now>` appended.
    /// Returns 1.
    pub fn send(&self, state: &[u8]) -> Result<usize> {
        let msg = prepare(state)?;
        self.send_message(msg.as_bytes(), &[], None)
    }

    /// Like [`Target::send`], with `fds` (borrowed) passed as `SCM_RIGHTS`;
    /// more than [`FDS_PER_MESSAGE`] are split over several messages, each
    /// with the whole state. Returns the number of messages sent. `EBADF` if
    /// an fd is not open (nothing is sent then).
    pub fn send_with_fds(&self, state: &[u8], fds: &[RawFd]) -> Result<usize> {
        let msg = prepare(state)?;
        check_fds(fds)?;
        self.send_message(msg.as_bytes(), fds, None)
    }

    /// `BARRIER=1` with the write end of a fresh pipe, then wait until the
    /// receiver closes it, which it does after processing every message sent
    /// before. `ETIMEDOUT` if that does not happen before the deadline.
    fn barrier_until(&self, deadline: &Deadline) -> Result<()> {
        let (rd, wr) = fd::pipe().map_err(|e| self.fail(e, "barrier: pipe"))?;
        let sock = self.socket(Some(deadline))?;
        self.send_raw(&sock, proto::BARRIER, &[wr.raw()]).map_err(|e| e.context(format_args!("barrier")))?;
        // Only the receiver's copy may keep the pipe open now.
        drop(wr);
        drop(sock);
        // No events asked: poll reports POLLHUP once every write end is closed.
        let rev = poll::wait(rd.raw(), 0, *deadline).map_err(|e| self.fail(e, "barrier: poll"))?;
        if rev == 0 {
            bail!(
                ETIMEDOUT,
                "NOTIFY_SOCKET {}: barrier: the receiver did not confirm in time (it has not processed the earlier notifications)",
                Shown(self.value)
            );
        }
        if rev & libc::POLLHUP == 0 {
            bail!(EIO, "NOTIFY_SOCKET {}: barrier: unexpected poll events {:#x}", Shown(self.value), rev);
        }
        Ok(())
    }

    /// Wait until the receiver has processed every notification sent before
    /// (`sd_notify_barrier`). `timeout_ms` < 0 waits without limit; it also
    /// bounds the send. `ETIMEDOUT` when time runs out.
    pub fn barrier(&self, timeout_ms: i64) -> Result<()> {
        self.barrier_until(&Deadline::after_ms(timeout_ms))
    }

    /// `MAINPID=<new_pid>`, then a barrier, within `timeout_ms` in total
    /// (< 0: no limit). See [`hand_over_mainpid`].
    #[cfg(test)]
    pub(crate) fn hand_over_mainpid(&self, new_pid: Pid, timeout_ms: i64) -> Result<()> {
        std::thread_local! {
            static FAILED: core::cell::Cell<Option<Error>> = const { core::cell::Cell::new(None) };
        }
        fn keep(_: Pid, e: &Error) {
            FAILED.with(|f| f.set(Some(*e)));
        }
        let pid = proto::check_pid(new_pid, "MAINPID")?;
        self.hand_over_message(&proto::mainpid_message(pid), new_pid, timeout_ms, keep);
        FAILED.with(|f| f.take()).map_or(Ok(()), Err)
    }

    /// [`Target::hand_over_mainpid`] with its message made; a failure goes
    /// to `failed`, by reference.
    fn hand_over_message(&self, msg: &Message, new_pid: Pid, timeout_ms: i64, failed: HandOverFailed) {
        let deadline = Deadline::after_ms(timeout_ms);
        if let Err(e) = self.send_message(msg.as_bytes(), &[], Some(&deadline)) {
            return hand_over_failed(new_pid, &e, failed);
        }
        if let Err(e) = self.barrier_until(&deadline) {
            return hand_over_failed(new_pid, &e, failed);
        }
        crate::log!(crate::log::INFO, "the service manager now takes pid {} for the main process", new_pid);
    }
}

/// What is done with a failed MAINPID hand-over (the upgrade logs it and is
/// done either way). It gets the error by reference: made once where the
/// step failed, never moved through a `Result` (each move was a 248-byte copy).
pub(crate) type HandOverFailed = fn(Pid, &Error);

/// A failed send or barrier, said in the hand-over's context.
#[cold]
#[inline(never)]
fn hand_over_failed(new_pid: Pid, e: &Error, failed: HandOverFailed) {
    failed(new_pid, &e.context(format_args!("MAINPID={} hand-over", new_pid)));
}

/// Send prepared bytes to `$NOTIFY_SOCKET`, or do nothing if it is unset.
fn send_env(msg: &Message, fds: &[RawFd]) -> Result<usize> {
    match Target::from_env()? {
        None => Ok(0),
        Some(t) => t.send_message(msg.as_bytes(), fds, None),
    }
}

/// Send `state` (`KEY=VALUE` lines, e.g. `"WATCHDOG=1"`) to `$NOTIFY_SOCKET`.
///
/// The state goes out byte for byte as given, with one exception: a state
/// with a `RELOADING=1` line and no `MONOTONIC_USEC=` line gets
/// `MONOTONIC_USEC=<CLOCK_MONOTONIC now, µs>` appended, because systemd needs
/// it (without it `systemctl reload` of a `Type=notify-reload` service hangs).
///
/// Returns 1 when sent, 0 when `NOTIFY_SOCKET` is unset. Errors: `EINVAL`
/// for a malformed state ([`proto::validate_state`]) or `NOTIFY_SOCKET`;
/// `EMSGSIZE` above 4096 bytes; the `sendmsg` errno (`ENOENT`,
/// `ECONNREFUSED` when nothing listens, …) with the socket named.
pub fn notify(state: &[u8]) -> Result<usize> {
    let msg = prepare(state)?;
    send_env(&msg, &[])
}

/// Like [`notify`], with `fds` (borrowed; the receiver gets duplicates) as
/// `SCM_RIGHTS`, typically `"FDSTORE=1\nFDNAME=name"` for systemd's fd store
/// (systemd keeps fds only when the state says `FDSTORE=1`). More than 253
/// fds go in several messages, each carrying the whole state.
///
/// Returns the number of messages sent (0 when `NOTIFY_SOCKET` is unset).
/// `EBADF` if an fd is not open (checked before anything is sent). If a
/// later message fails, the earlier ones were delivered; the error says how
/// many fds went out.
pub(crate) fn notify_with_fds(state: &[u8], fds: &[RawFd]) -> Result<usize> {
    let msg = prepare(state)?;
    check_fds(fds)?;
    send_env(&msg, fds)
}

/// Store `fds` in systemd's fd store: `FDSTORE=1` (+ `FDNAME=<name>`), with
/// the fds. systemd hands them back at the next start in `LISTEN_FDS`, named
/// in `LISTEN_FDNAMES` ("stored" when unnamed). `EINVAL` for a bad name
/// ([`proto::validate_fdname`]); otherwise as [`notify_with_fds`].
pub(crate) fn fd_store(fds: &[RawFd], name: Option<&[u8]>) -> Result<usize> {
    let msg = proto::fdstore(name)?;
    check_fds(fds)?;
    send_env(&msg, fds)
}

/// Wait until the service manager has processed every notification this
/// process sent before (like `sd_notify_barrier`): send `BARRIER=1` with the
/// write end of a pipe, close ours, and wait for the receiver to close its
/// copy. `timeout_ms` < 0 waits without limit.
///
/// Returns 1 when confirmed, 0 when `NOTIFY_SOCKET` is unset. `ETIMEDOUT`
/// when the receiver did not confirm in time; send errors as [`notify`].
pub(crate) fn barrier(timeout_ms: i64) -> Result<usize> {
    let deadline = Deadline::after_ms(timeout_ms);
    match Target::from_env()? {
        None => Ok(0),
        Some(t) => t.barrier_until(&deadline).map(|()| 1),
    }
}

/// The readiness message: `READY=1`, plus `MAINPID=<getpid()>` when
/// `is_new_generation` (this process replaced an older generation, which
/// systemd still takes for the main process). Returns 1 when sent, 0 when
/// `NOTIFY_SOCKET` is unset. `gracefd_ready()` calls this with the generation
/// it tracks.
pub fn ready(is_new_generation: bool) -> Result<usize> {
    // Our own pid is a valid MAINPID: nothing to check.
    let msg = proto::ready_message(is_new_generation.then(|| process::getpid() as u64));
    send_env(&msg, &[])
}

/// `RELOADING=1` with `MONOTONIC_USEC=<CLOCK_MONOTONIC now, µs>`. Send
/// [`ready`] when the reload is done. Returns 1 / 0 as [`notify`].
pub fn reloading() -> Result<usize> {
    let msg = proto::reloading_message(time::monotonic_us());
    send_env(&msg, &[])
}

/// `STOPPING=1`. Returns 1 / 0 as [`notify`].
pub fn stopping() -> Result<usize> {
    let msg = proto::stopping()?;
    send_env(&msg, &[])
}

/// `STATUS=<text>`: one line shown by `systemctl status` (empty clears it).
/// `EINVAL` if `text` contains a newline or NUL. Returns 1 / 0 as [`notify`].
pub fn status(text: &[u8]) -> Result<usize> {
    let msg = proto::status(text)?;
    send_env(&msg, &[])
}

/// The watchdog interval in microseconds that applies to this process, from
/// `WATCHDOG_USEC` and `WATCHDOG_PID` at start-up: 0 when there is none or
/// when `WATCHDOG_PID` names another process. Ping with `notify(b"WATCHDOG=1")`,
/// customarily every half interval. `EINVAL` if either variable is malformed
/// ([`proto::watchdog_usec`]).
pub fn watchdog_usec() -> Result<u64> {
    let s = startup::get();
    proto::watchdog_usec(s.var(b"WATCHDOG_USEC"), s.var(b"WATCHDOG_PID"), process::getpid())
}

/// Hand the main-process role to a new generation: send `MAINPID=<new_pid>`,
/// then wait on a barrier so that systemd has switched before the caller (the
/// old generation) exits; otherwise systemd may take the old one's exit for
/// the service's end and kill the new one. `timeout_ms` bounds both steps
/// (< 0: no limit).
///
/// Nothing happens when `NOTIFY_SOCKET` is unset (nothing to tell). A
/// failure goes to `failed`: `EINVAL` if `new_pid` is not positive or
/// `NOTIFY_SOCKET` is malformed; `ETIMEDOUT` if the barrier was not
/// confirmed in time; send errors as [`notify`].
pub(crate) fn hand_over_mainpid(new_pid: Pid, timeout_ms: i64, failed: HandOverFailed) {
    let pid = match proto::check_pid(new_pid, "MAINPID") {
        Ok(p) => p,
        Err(e) => return failed(new_pid, &e),
    };
    match Target::from_env() {
        Ok(Some(t)) => t.hand_over_message(&proto::mainpid_message(pid), new_pid, timeout_ms, failed),
        Ok(None) => {}
        Err(e) => failed(new_pid, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Receiver {
        sock: Fd,
        name: Vec<u8>,
    }

    fn receiver() -> Receiver {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("@gracefd-notify-unit-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)).into_bytes();
        let sock = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
        socket::bind(sock.raw(), &SockAddr::unix(&name[1..], true).unwrap()).unwrap();
        Receiver { sock, name }
    }

    impl Receiver {
        fn target(&self) -> Target<'_> {
            Target::parse(&self.name).unwrap()
        }

        /// One datagram (5 s at most) with its fds.
        fn recv(&self) -> (Vec<u8>, Vec<OwnedFd>) {
            let rev = poll::wait(self.sock.raw(), libc::POLLIN, Deadline::after_ms(5000)).unwrap();
            assert!(rev & libc::POLLIN != 0, "no datagram within 5 s");
            let mut buf = vec![0u8; 8192];
            let mut fds = vec![-1; 300];
            let r = socket::recv_with_fds(self.sock.raw(), &mut buf, &mut fds, 0).unwrap();
            assert!(!r.data_truncated && !r.fds_truncated);
            buf.truncate(r.len);
            let owned = fds[..r.nfds].iter().map(|&f| unsafe { OwnedFd::from_raw_fd(f) }).collect();
            (buf, owned)
        }

        fn empty(&self) -> bool {
            poll::wait(self.sock.raw(), libc::POLLIN, Deadline::after_ms(0)).unwrap() == 0
        }
    }

    #[test]
    fn sends_states_byte_for_byte() {
        let r = receiver();
        let t = r.target();
        for s in [&b"READY=1"[..], b"STATUS=a b=c\nWATCHDOG=1\n", b"RELOADING=1\nMONOTONIC_USEC=7"] {
            assert_eq!(t.send(s).unwrap(), 1);
            assert_eq!(r.recv().0, s);
        }
        let before = time::monotonic_us();
        t.send(b"RELOADING=1").unwrap();
        let after = time::monotonic_us();
        let (m, _) = r.recv();
        let usec: u64 = std::str::from_utf8(m.strip_prefix(b"RELOADING=1\nMONOTONIC_USEC=").unwrap()).unwrap().parse().unwrap();
        assert!(before <= usec && usec <= after);
    }

    #[test]
    fn bad_state_sends_nothing() {
        let r = receiver();
        let t = r.target();
        for s in [&b""[..], b"READY", b"READY=1\n\n", b"=1"] {
            assert_eq!(t.send(s).unwrap_err().errno.0, libc::EINVAL, "{:?}", s);
        }
        let (a, _b) = fd::pipe().unwrap();
        assert_eq!(t.send_with_fds(b"FDSTORE=1", &[a.raw(), 100_000]).unwrap_err().errno.0, libc::EBADF);
        assert_eq!(t.send_with_fds(b"FDSTORE=1", &[-1]).unwrap_err().errno.0, libc::EBADF);
        assert!(r.empty());
    }

    #[test]
    fn many_fds_are_split_with_the_whole_state() {
        let r = receiver();
        let t = r.target();
        let (a, _b) = fd::pipe().unwrap();
        let ino = fd::fstat(a.raw()).unwrap().st_ino;
        let dups: Vec<Fd> = (0..600).map(|_| a.try_clone().unwrap()).collect();
        let raw: Vec<RawFd> = dups.iter().map(Fd::raw).collect();
        assert_eq!(t.send_with_fds(b"FDSTORE=1\nFDNAME=many", &raw).unwrap(), 3);
        let mut counts = vec![];
        for _ in 0..3 {
            let (m, fds) = r.recv();
            assert_eq!(m, b"FDSTORE=1\nFDNAME=many");
            assert!(fds.iter().all(|f| fd::fstat(f.as_raw_fd()).unwrap().st_ino == ino));
            assert!(fds.iter().all(|f| fd::is_cloexec(f.as_raw_fd()).unwrap()));
            counts.push(fds.len());
        }
        assert_eq!(counts, [253, 253, 94]);
        assert!(r.empty());
    }

    #[test]
    fn barrier_waits_for_the_receiver_to_close() {
        let r = receiver();
        let name = r.name.clone();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d2 = done.clone();
        let th = std::thread::spawn(move || {
            let t = Target::parse(&name).unwrap();
            t.send(b"STATUS=before").unwrap();
            t.barrier(20_000).unwrap();
            d2.store(true, Ordering::SeqCst);
        });
        assert_eq!(r.recv().0, b"STATUS=before");
        let (m, fds) = r.recv();
        assert_eq!(m, b"BARRIER=1");
        assert_eq!(fds.len(), 1);
        assert!(!done.load(Ordering::SeqCst), "barrier returned before the receiver closed its fd");
        drop(fds);
        th.join().unwrap();
        assert!(done.load(Ordering::SeqCst));
    }

    #[test]
    fn barrier_times_out_when_nobody_reads() {
        let r = receiver();
        let e = r.target().barrier(50).unwrap_err();
        assert_eq!(e.errno.0, libc::ETIMEDOUT);
        assert!(e.message().contains("barrier"), "{}", e.message());
    }

    #[test]
    fn hand_over_sends_mainpid_then_barrier() {
        let r = receiver();
        let name = r.name.clone();
        let th = std::thread::spawn(move || Target::parse(&name).unwrap().hand_over_mainpid(4242, 20_000));
        assert_eq!(r.recv().0, b"MAINPID=4242");
        let (m, fds) = r.recv();
        assert_eq!((m.as_slice(), fds.len()), (&b"BARRIER=1"[..], 1));
        drop(fds);
        th.join().unwrap().unwrap();
        assert_eq!(r.target().hand_over_mainpid(0, 10).unwrap_err().errno.0, libc::EINVAL);
    }

    // The whole text of a failed hand-over (the upgrade logs it): the
    // barrier's timeout under the hand-over's context, and a pid refused.
    #[test]
    fn failed_hand_over_says_what_and_where() {
        let r = receiver();
        let e = r.target().hand_over_mainpid(4242, 50).unwrap_err();
        assert_eq!(e.errno.0, libc::ETIMEDOUT);
        let want = format!(
            "MAINPID=4242 hand-over: NOTIFY_SOCKET \"{}\": barrier: the receiver did not confirm in time (it has not processed the earlier notifications)",
            String::from_utf8_lossy(&r.name)
        );
        assert_eq!(e.message(), want);
        let e = r.target().hand_over_mainpid(-3, 50).unwrap_err();
        assert_eq!((e.errno.0, e.message()), (libc::EINVAL, "MAINPID -3 is not a valid pid"));
    }

    #[test]
    fn nobody_listening_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("gracefd-notify-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("absent.sock");
        let v = path.as_os_str().as_encoded_bytes().to_vec();
        let e = Target::parse(&v).unwrap().send(b"READY=1").unwrap_err();
        assert_eq!(e.errno.0, libc::ENOENT);
        assert!(e.message().contains("NOTIFY_SOCKET") && e.message().contains("nothing listens"), "{}", e.message());
        // A socket file whose owner is gone.
        let s = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
        socket::bind(s.raw(), &SockAddr::unix(&v, false).unwrap()).unwrap();
        drop(s);
        let e = Target::parse(&v).unwrap().send(b"READY=1").unwrap_err();
        assert_eq!(e.errno.0, libc::ECONNREFUSED);
        let e = Target::parse(&v).unwrap().barrier(1000).unwrap_err();
        assert_eq!(e.errno.0, libc::ECONNREFUSED);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unset_env_is_a_no_op() {
        // cargo test runs without NOTIFY_SOCKET (systemd never starts it).
        if startup::get().var(b"NOTIFY_SOCKET").is_some() {
            return;
        }
        assert_eq!(notify(b"READY=1").unwrap(), 0);
        assert_eq!(ready(true).unwrap(), 0);
        assert_eq!(reloading().unwrap(), 0);
        assert_eq!(stopping().unwrap(), 0);
        assert_eq!(status(b"x").unwrap(), 0);
        assert_eq!(barrier(0).unwrap(), 0);
        hand_over_mainpid(1, 0, |_, e| panic!("{}", e));
        assert_eq!(notify(b"READY").unwrap_err().errno.0, libc::EINVAL);
        assert_eq!(status(b"a\nb").unwrap_err().errno.0, libc::EINVAL);
    }
}
