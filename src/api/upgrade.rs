//! The zero-downtime upgrade, as a builder.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::error::{invalid, io};
use super::timeout::timeout_ms;
use super::signal::Signal;
use crate::sys::{fd, socket};
use crate::upgrade::{self, UpgradeOptions};
use crate::err;

/// Start a new generation of this program with the very same listening
/// sockets, wait until it calls [`ready`](fn@crate::ready), and only then
/// return its pid: the caller stops accepting, drains, and exits. If the
/// new generation fails in any way (cannot be executed, exits, crashes,
/// calls [`fail`](crate::fail), stays silent past the timeout) it is killed
/// and reaped, and so is what it forked (it leads a process group of its
/// own, except in a terminal's foreground job: what is left in it gets the
/// kill signal, SIGKILL after 2 s),
/// nothing of the caller is touched, and the error says why: the caller
/// just keeps serving.
///
/// What the new generation gets: every registered fd (everything
/// [`listen_tcp`](crate::listen_tcp) & co. returned, and
/// [`add_fd`](crate::add_fd)) at fds 3, 4, … with `LISTEN_FDS`,
/// `LISTEN_PID`, `LISTEN_FDNAMES` (systemd's protocol), plus
/// `GRACEFD_READY_FD`, `GRACEFD_GENERATION` (this one + 1),
/// `GRACEFD_PARENT_PID` and the pid file if this process holds one. The
/// executable is the absolute path recorded at start-up (so a binary
/// replaced by `rename` is the new one), the argv this process started
/// with, and its start-up environment, unless the builder says otherwise.
///
/// Two forms: [`run`](Upgrade::run) blocks until the outcome;
/// [`start`](Upgrade::start) returns a [`PendingUpgrade`] whose fd you poll
/// in your event loop while you keep serving.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// use std::time::Duration;
/// let _web = gracefd::listen_tcp("web", "127.0.0.1:8080")?;
/// gracefd::ready()?;
/// // … on SIGHUP:
/// match gracefd::Upgrade::new().timeout(Duration::from_secs(30)).run() {
///     Ok(pid) => eprintln!("generation {} is pid {pid}: draining", gracefd::generation() + 1),
///     Err(e) => eprintln!("upgrade failed, still serving: {e}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Upgrade {
    opts: UpgradeOptions,
    arg0: Option<Vec<u8>>,
    args: Option<Vec<Vec<u8>>>,
    /// The first invalid value given, reported by run/start.
    err: Option<crate::Error>,
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        f.debug_struct("Upgrade")
            .field("exe", &self.opts.exe.as_deref().map(lossy))
            .field("arg0", &self.arg0.as_deref().map(lossy))
            .field("args", &self.args.as_ref().map(|a| a.iter().map(|x| lossy(x)).collect::<Vec<_>>()))
            .field("env", &self.opts.env.iter().map(|x| lossy(x)).collect::<Vec<_>>())
            .field("timeout_ms", &self.opts.timeout_ms)
            .field("kill_signal", &self.opts.kill_signal)
            .field("settle_ms", &self.opts.settle_ms)
            .field("err", &self.err)
            .finish()
    }
}

impl Default for Upgrade {
    fn default() -> Self {
        Upgrade::new()
    }
}

impl Upgrade {
    /// The defaults: the executable recorded at start-up, this process's own
    /// argv and start-up environment, a 60 s readiness timeout, `SIGTERM`
    /// for a new generation that fails (`SIGKILL` 2 s later).
    pub fn new() -> Upgrade {
        Upgrade { opts: UpgradeOptions::default(), arg0: None, args: None, err: None }
    }

    fn fail(&mut self, e: crate::Error) {
        if self.err.is_none() {
            self.err = Some(e);
        }
    }

    /// Run this executable instead (an absolute path; `EINVAL` otherwise).
    pub fn exe(mut self, path: impl AsRef<Path>) -> Upgrade {
        if let Err(e) = self.opts.set_exe(path.as_ref().as_os_str().as_bytes()) {
            self.fail(e);
        }
        self
    }

    /// `argv[0]` of the new generation (default: this process's own
    /// `argv[0]`, or the executable path).
    pub fn arg0(mut self, arg0: impl AsRef<OsStr>) -> Upgrade {
        self.arg0 = Some(arg0.as_ref().as_bytes().to_vec());
        self
    }

    /// Append one argument (after `argv[0]`). Once [`arg`](Upgrade::arg) or
    /// [`args`](Upgrade::args) is called, the new generation's argv is
    /// `argv[0]` followed by exactly the arguments given; without them, it
    /// is this process's own start-up argv (the usual case).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Upgrade {
        self.args.get_or_insert_with(Vec::new).push(arg.as_ref().as_bytes().to_vec());
        self
    }

    /// Append arguments; see [`arg`](Upgrade::arg). An empty iterator means
    /// "no arguments at all".
    pub fn args<I, S>(mut self, args: I) -> Upgrade
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let v = self.args.get_or_insert_with(Vec::new);
        v.extend(args.into_iter().map(|a| a.as_ref().as_bytes().to_vec()));
        self
    }

    /// Set `key=value` in the new generation's environment (overriding the
    /// start-up environment it otherwise inherits). `EINVAL` for an empty
    /// key, a key with `=` or NUL, a value with NUL, or a variable gracefd
    /// sets itself (`LISTEN_*`, `SERVER_STARTER_*`, `GRACEFD_*`,
    /// `WATCHDOG_PID`).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Upgrade {
        if let Err(e) = self.opts.add_env_pair(key.as_ref().as_bytes(), value.as_ref().as_bytes()) {
            self.fail(e);
        }
        self
    }

    /// How long the new generation has to call [`ready`](fn@crate::ready)
    /// (default 60 s; rounded up to whole milliseconds; `Duration::MAX` waits
    /// forever). `Duration::ZERO` is `EINVAL` when the upgrade starts: it
    /// would fail every upgrade.
    pub fn timeout(mut self, timeout: Duration) -> Upgrade {
        if let Err(e) = self.opts.set_timeout_ms(timeout_ms(timeout)) {
            self.fail(e);
        }
        self
    }

    /// The signal for a new generation that failed or timed out (default
    /// [`Signal::TERM`]; `SIGKILL` follows 2 s later if it is still there).
    /// Errors (reported by `run`/`start`): `EINVAL` for a signal above 64.
    pub fn kill_signal(mut self, signal: Signal) -> Upgrade {
        if let Err(e) = self.opts.set_kill_signal(signal.as_raw()) {
            self.fail(e);
        }
        self
    }

    /// Probation: once the new generation is ready it must stay up this
    /// long before [`run`](Self::run) returns its pid (the pid file and
    /// systemd's MAINPID move to it only then); if it exits within, the
    /// upgrade fails (`ECHILD`) and this process goes on serving. For programs
    /// that say ready too early (gunicorn without `--preload`). Default: none.
    /// `EINVAL` above one hour. Rounded up to whole milliseconds.
    pub fn settle(mut self, settle: Duration) -> Upgrade {
        let ms = i64::try_from(settle.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
        if let Err(e) = self.opts.set_settle_ms(ms) {
            self.fail(e);
        }
        self
    }

    fn options(&self) -> io::Result<UpgradeOptions> {
        if let Some(e) = self.err {
            return Err(e.into());
        }
        let mut o = self.opts.clone();
        o.set_args(self.arg0.as_deref(), self.args.as_deref())?;
        Ok(o)
    }

    /// Upgrade and wait for the outcome: `Ok(pid)` of the new generation once
    /// it is ready (the pid file names it and systemd was told `MAINPID`):
    /// now stop accepting, drain and exit. Blocks for up to the timeout.
    ///
    /// Errors (the new generation killed and reaped, the caller untouched):
    /// `EALREADY` another upgrade is in flight; `ENOEXEC` it could not be
    /// executed (the message has the errno); `ECHILD` it exited or was
    /// killed before it was ready; `ECANCELED` it called
    /// [`fail`](crate::fail) (the message has its message); `EPROTO` it
    /// closed its readiness channel without a word; `ETIMEDOUT`; `EINVAL`
    /// for an invalid builder value; `ENOENT` if no executable path could
    /// be recorded at start-up and none was given; `EMFILE`, `EAGAIN`… if
    /// the sockets cannot be duplicated or fork fails.
    pub fn run(&self) -> io::Result<u32> {
        let o = self.options()?;
        io(upgrade::upgrade(&o)).map(|pid| pid.unsigned_abs())
    }

    /// Start the upgrade and return at once: poll the [`PendingUpgrade`]
    /// (its fd becomes readable when the new generation reports or dies)
    /// while serving on. Errors: as [`run`](Upgrade::run), for what can go
    /// wrong before the new generation runs (`EMFILE` included: the fd of
    /// the [`PendingUpgrade`] is taken before anything starts).
    pub fn start(&self) -> io::Result<PendingUpgrade> {
        let o = self.options()?;
        // The caller gets its own copy of the readiness fd, so `as_fd` stays
        // valid whatever the library does with its copy once the upgrade is
        // over. Its fd number is taken now, before anything starts: once the
        // new generation runs, making the copy cannot fail with EMFILE.
        let slot = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0)
            .map_err(|e| crate::Error::sys(e, "upgrade: reserve an fd for the readiness channel"))?;
        let raw = io(upgrade::start(&o))?;
        match fd::dup3_cloexec(raw, slot.raw()) {
            Ok(()) => Ok(PendingUpgrade { fd: OwnedFd::from(slot), done: false }),
            Err(e) => {
                // Not seen in practice (dup3 onto an fd we own). Without an
                // fd to poll the caller could not finish the upgrade: wait
                // for its outcome here, so that it is not left in flight.
                let r = upgrade::finish(true);
                Err(crate::Error::sys(e, "upgrade: copy the readiness fd").context(format_args!("{}", match r {
                    Ok(_) => "the new generation is ready nonetheless",
                    Err(_) => "the new generation failed",
                }))
                .into())
            }
        }
    }
}

/// An upgrade in flight, from [`Upgrade::start`].
///
/// Poll it from your event loop: its fd ([`AsFd`]) becomes readable when
/// the new generation has reported (ready or failed) or died; then
/// [`poll`](PendingUpgrade::poll) gives the outcome. Poll it also on a
/// timer (every 50–100 ms, say): the readiness timeout is only noticed by
/// a `poll` call. With tokio, the `tokio` feature's
/// `gracefd::tokio::upgrade` gives a future of the outcome instead.
///
/// Dropping it does not stop the upgrade: the new generation runs on, and
/// no other upgrade can start (`EALREADY`) until its outcome is collected,
/// which only this value can do. Keep it until `poll` says `Some` or `Err`.
#[must_use = "an upgrade in flight must be polled to its outcome"]
#[derive(Debug)]
pub struct PendingUpgrade {
    fd: OwnedFd,
    done: bool,
}

impl PendingUpgrade {
    /// Without blocking: `Ok(None)` while the new generation has not
    /// reported (and the timeout has not passed); `Ok(Some(pid))` once it
    /// is ready: stop accepting, drain and exit. Errors as
    /// [`Upgrade::run`]: the new generation has been killed and reaped, and
    /// the caller keeps serving. After `Some` or an error the upgrade is
    /// over: further calls are `EINVAL`.
    pub fn poll(&mut self) -> io::Result<Option<u32>> {
        self.finish(false)
    }

    /// Block until the outcome, as [`Upgrade::run`].
    pub fn wait(mut self) -> io::Result<u32> {
        match self.finish(true)? {
            Some(pid) => Ok(pid),
            None => Err(err!(ETIMEDOUT, "upgrade: no outcome").into()),
        }
    }

    /// Abandon the upgrade: kill the new generation (the kill signal,
    /// SIGKILL 2 s later), reap it, and go on serving as before; returns the
    /// pid that was killed. For a program that must stop waiting (it is
    /// shutting down, or has a deadline of its own). Blocks while the new
    /// generation dies (about 2 s at most).
    ///
    /// Errors: `EINVAL` if the upgrade is already over (`poll` gave its
    /// outcome); `EBUSY` if another thread is waiting for it.
    pub fn cancel(mut self) -> io::Result<u32> {
        if self.done {
            return Err(invalid(format_args!("this upgrade is already over")));
        }
        self.done = true;
        io(upgrade::cancel()).map(|pid| pid.unsigned_abs())
    }

    fn finish(&mut self, block: bool) -> io::Result<Option<u32>> {
        if self.done {
            return Err(invalid(format_args!("this upgrade is already over")));
        }
        let r = upgrade::finish(block);
        if !matches!(r, Ok(None)) {
            self.done = true;
        }
        io(r).map(|p| p.map(|pid| pid.unsigned_abs()))
    }
}

impl AsFd for PendingUpgrade {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PendingUpgrade {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorExt;

    #[test]
    fn invalid_values_are_reported_by_run() {
        let e = Upgrade::new().exe("relative/bin").run().unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert!(e.to_string().contains("not absolute"), "{e}");
        let e = Upgrade::new().env("LISTEN_FDS", "3").start().unwrap_err();
        assert!(e.to_string().contains("set by gracefd itself"), "{e}");
        let e = Upgrade::new().env("A=B", "3").run().unwrap_err();
        assert!(e.to_string().contains("not KEY=VALUE"), "{e}");
        let rt = Signal::new(libc::SIGRTMAX()).unwrap();
        let e = Upgrade::new().exe("rel").kill_signal(rt).run().unwrap_err();
        assert!(e.to_string().contains("not absolute"), "the first error wins: {e}");
    }

    #[test]
    fn argv_is_built_from_arg0_and_args() {
        let o = Upgrade::new().arg0("srv").args(["-c", "x"]).arg("-v").options().unwrap();
        assert_eq!(o.argv.unwrap(), vec![b"srv".to_vec(), b"-c".to_vec(), b"x".to_vec(), b"-v".to_vec()]);
        let o = Upgrade::new().args(std::iter::empty::<&str>()).options().unwrap();
        assert_eq!(o.argv.unwrap().len(), 1);
        assert!(Upgrade::new().options().unwrap().argv.is_none(), "default: the core's own argv");
        assert_eq!(Upgrade::new().timeout(Duration::MAX).options().unwrap().timeout_ms, -1);
        assert_eq!(Upgrade::new().settle(Duration::from_millis(1500)).options().unwrap().settle_ms, 1500);
        let e = Upgrade::new().settle(Duration::from_secs(3601)).run().unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert_eq!(Upgrade::new().timeout(Duration::from_micros(1500)).options().unwrap().timeout_ms, 2);
    }

    #[test]
    fn argv_is_checked_by_the_core_setter() {
        let Err(e) = Upgrade::new().arg("a\0b").options() else { panic!("a NUL in argv was accepted") };
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert!(e.to_string().contains("argv[1] contains NUL"), "{e}");
        let mut o = UpgradeOptions::default();
        assert!(o.set_argv(Vec::new()).is_err(), "argv[0] is required");
        assert!(o.argv.is_none(), "a refused argv leaves the default");
    }

    #[test]
    fn an_env_key_with_equals_is_refused_by_the_core_setter() {
        let e = Upgrade::new().env("A=B", "c").run().unwrap_err();
        assert!(e.to_string().contains("the key contains '='"), "{e}");
        let mut o = UpgradeOptions::default();
        assert!(o.add_env_pair(b"A=B", b"c").is_err());
        o.add_env_pair(b"A", b"b=c").unwrap();
        assert_eq!(o.env, vec![b"A=b=c".to_vec()]);
    }

    #[test]
    fn a_zero_timeout_is_refused_by_the_core_setter() {
        let e = Upgrade::new().timeout(Duration::ZERO).run().unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert!(e.to_string().contains("0 ms"), "{e}");
    }
}
