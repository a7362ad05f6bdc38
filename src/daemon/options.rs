//! What [`daemonize`](super::daemonize) is asked to do: [`DaemonOptions`], its
//! defaults, and the [`Mode`] to detach in.
//!
//! The checked setters below are the one place the options are judged: the C
//! handle and the Rust builder only convert their arguments and call them.
//! [`DaemonOptions::check`] applies the same rules again to a value whose public
//! fields were filled in directly, so `daemonize` never runs on one it would
//! have refused through a setter.

use alloc::vec::Vec;

use crate::error::Result;
use crate::err;
use crate::proto::addr::Shown;

/// Default time the daemon has to call ready: 30 s. Shorter than an
/// upgrade's ([`crate::upgrade::DEFAULT_TIMEOUT_MS`]) because a shell, an
/// init script or a deploy step is waiting on the launcher.
pub const DEFAULT_TIMEOUT_MS: i64 = 30_000;
/// Default umask of the daemon.
pub(crate) const DEFAULT_UMASK: u32 = 0o022;
/// Largest umask accepted.
pub(crate) const MAX_UMASK: u32 = 0o777;

/// How to detach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Fork when the process is single-threaded, re-exec otherwise.
    Auto,
    /// Fork (twice). Refused in a multi-threaded process.
    Fork,
    /// Start the recorded executable again as the daemon.
    Reexec,
}

/// When the daemon counts as started (the launcher then exits 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// It says so on the readiness channel (`gracefd_ready()`; or fails with
    /// `gracefd_fail()`).
    Report,
    /// As `Report`, or `READY=1` on the private `NOTIFY_SOCKET` the launcher
    /// gives a started [`Command`] (sd_notify: for programs that link
    /// nothing). Without a command, the same as `Report`.
    Notify,
    /// Alive this many ms after the start (start_server's rule). Readiness
    /// reports are not waited for; a reported failure or an exit still fails
    /// the start.
    Interval(i64),
}

/// A program to start as the daemon, instead of this process (re-exec) or
/// a copy of it (fork). Its readiness is judged by [`DaemonOptions::set_ready`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The executable: a path (no search; relative to the launcher's working
    /// directory, which need not be the daemon's).
    pub exe: Vec<u8>,
    /// Its argv, `argv[0]` included.
    pub argv: Vec<Vec<u8>>,
    /// `KEY=VALUE` entries over the launcher's start-up environment, in order.
    pub env: Vec<Vec<u8>>,
}

/// Daemonize options (the C handle and the Rust builder wrap this; set them
/// with the checked setters).
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// Pid file to lock and write (None: no pid file).
    pub(crate) pid_file: Option<Vec<u8>>,
    /// Working directory of the daemon (default `/`).
    pub(crate) workdir: Vec<u8>,
    /// Umask of the daemon (default 022).
    pub(crate) umask: u32,
    /// File for the daemon's stdout and stderr, opened for append and created
    /// 0640 (None: /dev/null).
    pub(crate) log_file: Option<Vec<u8>>,
    /// User to switch to: a name, or a number (None: stay).
    pub(crate) user: Option<Vec<u8>>,
    /// Group to switch to: a name, or a number (None: the user's primary group).
    pub(crate) group: Option<Vec<u8>>,
    /// RLIMIT_NOFILE to raise to: (soft, hard). Never lowers; the hard limit
    /// only rises when allowed; the soft one is capped by the hard one.
    pub(crate) nofile: Option<(u64, u64)>,
    /// How long the daemon has to report, in ms (negative: forever).
    pub(crate) timeout_ms: i64,
    /// How to detach.
    pub(crate) mode: Mode,
    /// Start this program as the daemon (None: this process becomes it).
    pub(crate) command: Option<Command>,
    /// When the daemon counts as started.
    pub(crate) ready: Ready,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            pid_file: None,
            workdir: b"/".to_vec(),
            umask: DEFAULT_UMASK,
            log_file: None,
            user: None,
            group: None,
            nofile: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            mode: Mode::Auto,
            command: None,
            ready: Ready::Report,
        }
    }
}

/// A path or name the kernel or the user database will be given: not
/// empty, no NUL (it becomes a C string). `what` names the option.
fn check_c_text(what: &str, v: &[u8]) -> Result<()> {
    if v.is_empty() {
        return Err(err!(EINVAL, "daemon {} is empty", what));
    }
    if v.contains(&0) {
        return Err(err!(EINVAL, "daemon {} {} contains NUL", what, Shown(v)));
    }
    Ok(())
}

fn check_optional(what: &str, v: Option<&[u8]>) -> Result<()> {
    v.map_or(Ok(()), |v| check_c_text(what, v))
}

fn check_umask(mask: u32) -> Result<()> {
    if mask > MAX_UMASK {
        return Err(err!(EINVAL, "daemon umask {:o} is above 0777", mask));
    }
    Ok(())
}

fn check_timeout_ms(ms: i64) -> Result<()> {
    if ms == 0 {
        return Err(err!(EINVAL, "daemon readiness timeout 0 ms would fail every start (negative: no limit)"));
    }
    Ok(())
}

fn check_ready(r: Ready) -> Result<()> {
    match r {
        // Negative here: its sign by hand, so that u64's Display (linked
        // anyway) prints it rather than i64's.
        Ready::Interval(ms) if ms < 0 => Err(err!(EINVAL, "daemon readiness interval -{} ms: must be 0 or more", ms.unsigned_abs())),
        _ => Ok(()),
    }
}

fn check_command(c: Option<&Command>) -> Result<()> {
    let Some(c) = c else { return Ok(()) };
    check_c_text("command executable", &c.exe)?;
    if c.argv.is_empty() {
        return Err(err!(EINVAL, "daemon command {} has no argv (argv[0] at least)", Shown(&c.exe)));
    }
    if let Some(a) = c.argv.iter().find(|a| a.contains(&0)) {
        return Err(err!(EINVAL, "daemon command argument {} contains NUL", Shown(a)));
    }
    for e in &c.env {
        // NOTIFY_SOCKET is the launcher's to give (Ready::Notify), or none.
        if let Some(p) = crate::spawn::env_entry_problem(e, true) {
            return Err(err!(EINVAL, "daemon command environment entry {} {}", Shown(e), p.describe()));
        }
    }
    Ok(())
}

/// The checked setters both faces use. Each refuses a bad value with
/// `EINVAL` and a message naming the option and the value, and leaves the
/// option as it was.
impl DaemonOptions {
    /// The defaults.
    pub fn new() -> DaemonOptions {
        DaemonOptions::default()
    }

    /// Lock and write this pid file (None: no pid file). `EINVAL` if empty or
    /// containing NUL.
    pub fn set_pid_file(&mut self, path: Option<&[u8]>) -> Result<()> {
        check_optional("pid file path", path)?;
        self.pid_file = path.map(<[u8]>::to_vec);
        Ok(())
    }

    /// The daemon's working directory. `EINVAL` if empty or containing NUL.
    pub fn set_workdir(&mut self, path: &[u8]) -> Result<()> {
        check_c_text("working directory", path)?;
        self.workdir = path.to_vec();
        Ok(())
    }

    /// The daemon's umask. `EINVAL` above 0777.
    pub(crate) fn set_umask(&mut self, mask: u32) -> Result<()> {
        check_umask(mask)?;
        self.umask = mask;
        Ok(())
    }

    /// Log file for stdout and stderr (None: /dev/null). `EINVAL` if empty or
    /// containing NUL.
    pub fn set_log_file(&mut self, path: Option<&[u8]>) -> Result<()> {
        check_optional("log file path", path)?;
        self.log_file = path.map(<[u8]>::to_vec);
        Ok(())
    }

    /// User to switch to, a name or a number (None: stay). `EINVAL` if empty
    /// or containing NUL; an unknown user is found out by `daemonize`
    /// (`ENOENT`, before any fork).
    pub(crate) fn set_user(&mut self, user: Option<&[u8]>) -> Result<()> {
        check_optional("user", user)?;
        if user.is_some() {
            super::creds::install();
        }
        self.user = user.map(<[u8]>::to_vec);
        Ok(())
    }

    /// Group to switch to, a name or a number (None: the user's primary
    /// group). `EINVAL` if empty or containing NUL.
    pub(crate) fn set_group(&mut self, group: Option<&[u8]>) -> Result<()> {
        check_optional("group", group)?;
        if group.is_some() {
            super::creds::install();
        }
        self.group = group.map(<[u8]>::to_vec);
        Ok(())
    }

    /// RLIMIT_NOFILE to raise to. Every pair is accepted (limits are only
    /// raised; the kernel judges the values in the daemon, whose launcher
    /// then exits `EXIT_SETUP`); a `Result` like its siblings, so a check can
    /// be added without changing the faces.
    pub(crate) fn set_nofile(&mut self, soft: u64, hard: u64) -> Result<()> {
        self.nofile = Some((soft, hard));
        Ok(())
    }

    /// Readiness timeout in ms (negative: no limit). `EINVAL` for 0.
    pub fn set_timeout_ms(&mut self, ms: i64) -> Result<()> {
        check_timeout_ms(ms)?;
        self.timeout_ms = ms;
        Ok(())
    }

    /// How to detach (every mode is valid; a face converting a number
    /// refuses unknown ones itself).
    pub(crate) fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// Start `exe` with `argv` (argv[0] included) and `env` (`KEY=VALUE`
    /// entries over the start-up environment) as the daemon, instead of this
    /// process (None: this process becomes the daemon). Its launcher says a
    /// readiness timeout in seconds (`not ready within 0.5 s`), as the
    /// command line gives it; the other modes say it in ms, as set. `EINVAL`
    /// for an empty executable, an empty argv, a NUL anywhere, an entry
    /// without a key, or a variable gracefd sets itself (`NOTIFY_SOCKET`
    /// included).
    pub fn set_command(&mut self, command: Option<Command>) -> Result<()> {
        check_command(command.as_ref())?;
        if command.is_some() {
            super::command::install();
        }
        self.command = command;
        Ok(())
    }

    /// When the daemon counts as started. `EINVAL` for a negative interval
    /// (0: started as soon as it runs).
    pub fn set_ready(&mut self, ready: Ready) -> Result<()> {
        check_ready(ready)?;
        self.ready = ready;
        Ok(())
    }

    /// The setters' rules applied to the fields the crate's own code may
    /// fill in directly (tests, defaults); the first bad one is the error.
    /// The command is not among them: [`set_command`](Self::set_command),
    /// which checks it, is the only way it is set (and keeps its checking out
    /// of programs that never set one).
    pub(crate) fn check(&self) -> Result<()> {
        check_optional("pid file path", self.pid_file.as_deref())?;
        check_c_text("working directory", &self.workdir)?;
        check_umask(self.umask)?;
        check_optional("log file path", self.log_file.as_deref())?;
        check_optional("user", self.user.as_deref())?;
        check_optional("group", self.group.as_deref())?;
        check_timeout_ms(self.timeout_ms)?;
        check_ready(self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn einval(r: Result<()>, want: &str) {
        let e = r.unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        assert!(e.message().contains(want), "{:?} lacks {:?}", e.message(), want);
    }

    #[test]
    fn setters_set_fields() {
        let mut o = DaemonOptions::new();
        o.set_pid_file(Some(b"/run/x.pid")).unwrap();
        o.set_workdir(b"/tmp").unwrap();
        o.set_umask(0o027).unwrap();
        o.set_log_file(Some(b"/var/log/x")).unwrap();
        o.set_user(Some(b"nobody")).unwrap();
        o.set_group(Some(b"65534")).unwrap();
        o.set_nofile(10, 20).unwrap();
        o.set_timeout_ms(-1).unwrap();
        o.set_mode(Mode::Reexec);
        assert_eq!(o.pid_file.as_deref(), Some(&b"/run/x.pid"[..]));
        assert_eq!((o.umask, o.nofile, o.timeout_ms, o.mode), (0o027, Some((10, 20)), -1, Mode::Reexec));
        assert!(o.check().is_ok());
        // None clears.
        o.set_pid_file(None).unwrap();
        o.set_user(None).unwrap();
        assert_eq!((o.pid_file.as_deref(), o.user.as_deref()), (None, None));
    }

    #[test]
    fn bad_values_are_refused_naming_the_option_and_kept_out() {
        let mut o = DaemonOptions::new();
        einval(o.set_pid_file(Some(b"")), "pid file path is empty");
        einval(o.set_pid_file(Some(b"/run/a\0b")), "pid file path \"/run/a\\x00b\" contains NUL");
        einval(o.set_workdir(b""), "working directory is empty");
        einval(o.set_umask(0o1000), "umask 1000");
        einval(o.set_log_file(Some(b"")), "log file path is empty");
        einval(o.set_user(Some(b"")), "user is empty");
        einval(o.set_group(Some(b"")), "group is empty");
        einval(o.set_timeout_ms(0), "timeout 0 ms");
        // Nothing was changed by a refused value.
        let d = DaemonOptions::default();
        assert_eq!((o.pid_file, o.workdir, o.umask, o.user, o.timeout_ms), (d.pid_file, d.workdir, d.umask, d.user, d.timeout_ms));
    }

    #[test]
    fn command_and_ready_rule_are_checked() {
        let mut o = DaemonOptions::new();
        let cmd = |exe: &[u8], argv: &[&[u8]], env: &[&[u8]]| Command {
            exe: exe.to_vec(),
            argv: argv.iter().map(|a| a.to_vec()).collect(),
            env: env.iter().map(|e| e.to_vec()).collect(),
        };
        o.set_command(Some(cmd(b"/bin/sleep", &[b"sleep", b"1"], &[b"A=1", b"B="]))).unwrap();
        o.set_ready(Ready::Interval(500)).unwrap();
        assert_eq!((o.command.as_ref().map(|c| c.argv.len()), o.ready), (Some(2), Ready::Interval(500)));
        einval(o.set_command(Some(cmd(b"", &[b"x"], &[]))), "command executable is empty");
        einval(o.set_command(Some(cmd(b"/bin/x", &[], &[]))), "has no argv");
        einval(o.set_command(Some(cmd(b"/bin/x", &[b"a\0b"], &[]))), "contains NUL");
        einval(o.set_command(Some(cmd(b"/bin/x", &[b"x"], &[b"=1"]))), "not KEY=VALUE");
        einval(o.set_command(Some(cmd(b"/bin/x", &[b"x"], &[b"NOEQUALS"]))), "not KEY=VALUE");
        // What gracefd gives the program itself: a caller's value would be trusted by it.
        for ours in [&b"GRACEFD_PIDFILE_FD=7"[..], b"LISTEN_FDNAMES=web", b"GRACEFD_DAEMON=1", b"NOTIFY_SOCKET=/x"] {
            einval(o.set_command(Some(cmd(b"/bin/x", &[b"x"], &[ours]))), "is set by gracefd itself");
        }
        einval(o.set_ready(Ready::Interval(-5)), "interval -5 ms");
        // Refused values left the options as they were.
        assert_eq!((o.command.as_ref().map(|c| c.exe.as_slice()), o.ready), (Some(&b"/bin/sleep"[..]), Ready::Interval(500)));
        // An interval of 0: started as soon as it runs.
        o.set_ready(Ready::Interval(0)).unwrap();
        assert_eq!(o.ready, Ready::Interval(0));
        einval(DaemonOptions { ready: Ready::Interval(-1), ..DaemonOptions::default() }.check(), "interval -1 ms");
        einval(o.set_ready(Ready::Interval(i64::MIN)), "daemon readiness interval -9223372036854775808 ms: must be 0 or more");
        o.set_command(None).unwrap();
        assert!(o.command.is_none());
    }

    #[test]
    fn check_applies_the_setters_rules_to_filled_in_fields() {
        assert!(DaemonOptions::default().check().is_ok());
        einval(DaemonOptions { user: Some(Vec::new()), ..DaemonOptions::default() }.check(), "user is empty");
        einval(DaemonOptions { umask: 0o7777, ..DaemonOptions::default() }.check(), "umask 7777");
        einval(DaemonOptions { timeout_ms: 0, ..DaemonOptions::default() }.check(), "timeout 0 ms");
    }
}
