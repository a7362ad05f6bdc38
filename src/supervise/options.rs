//! What `gracefd run` is asked to do: [`RunOptions`], as the command line
//! (`gracefd run`, `start_server`) or another caller fills it in. The rules
//! on values and combinations live here, once: the checked setters apply
//! them, [`RunOptions::check`] applies them all (the supervisor's set-up
//! calls it), and the command only turns argument text into typed values.

use std::path::PathBuf;

use crate::error::{err, Result};
use crate::supervise::names::{fmt_secs, parse_secs, shown};

/// How a new worker is known to be ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyRule {
    /// It says so: `gracefd_ready()` (GRACEFD_READY_FD) or sd_notify `READY=1`.
    Notify,
    /// start_server's rule: still alive this many ms after it started.
    Interval(u64),
}

impl ReadyRule {
    /// `notify` or `interval:SECS`, as `--<opt>` spells it. EINVAL naming
    /// the option and the value otherwise.
    pub fn parse(opt: &str, v: &[u8]) -> Result<ReadyRule> {
        if v == b"notify" {
            return Ok(ReadyRule::Notify);
        }
        if let Some(s) = v.strip_prefix(b"interval:") {
            return parse_secs(opt, s).map(ReadyRule::Interval).map_err(|_| {
                err!(EINVAL, "--{} {}: the interval is not a number of seconds (like interval:1 or interval:0.5)", opt, shown(v))
            });
        }
        Err(err!(EINVAL, "--{} {}: expected notify or interval:SECS", opt, shown(v)))
    }

    /// For messages: `notify` / `interval:1.5`.
    pub fn describe(&self) -> String {
        match self {
            ReadyRule::Notify => "notify".into(),
            ReadyRule::Interval(ms) => format!("interval:{}", fmt_secs(*ms).trim_end_matches(" s")),
        }
    }
}

/// One socket to listen on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenSpec {
    /// The option it came from (`listen`, `port`, `path`) and its value, for messages.
    pub opt: &'static str,
    /// The value as given.
    pub given: Vec<u8>,
    /// Its name in `LISTEN_FDNAMES` (None: `unknown`).
    pub name: Option<Vec<u8>>,
    /// The address for the library's parser.
    pub addr: Vec<u8>,
    /// The `SERVER_STARTER_PORT` key start_server would use (`--port`/`--path`
    /// as given); None: derived from the bound address.
    pub starter_key: Option<Vec<u8>>,
    /// Mode of a new unix socket file (start_server's `--path` makes it 0777).
    pub unix_mode: Option<u32>,
}

/// Where gracefd's (and the workers') stdout and stderr go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// Appended to this file.
    File(PathBuf),
    /// Piped into this shell command (start_server's `--log-file="| cmd"`).
    Pipe(Vec<u8>),
}

/// Everything `gracefd run` needs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The sockets bound for the workers (`--listen`, `--port`, `--path`).
    pub listen: Vec<ListenSpec>,
    /// The `listen(2)` backlog of new sockets (`--backlog`).
    pub backlog: i32,
    /// How a new worker is known to be ready (`--ready`).
    pub ready: ReadyRule,
    /// How long a new worker has to be ready (`--ready-timeout`).
    pub ready_timeout_ms: u64,
    /// What a replaced worker gets, after `kill_old_delay_ms` (`--signal-on-hup`).
    pub signal_on_hup: i32,
    /// What every worker gets when gracefd stops (`--signal-on-term`).
    pub signal_on_term: i32,
    /// How long a replaced worker keeps serving before its signal (`--kill-old-delay`).
    pub kill_old_delay_ms: u64,
    /// How long the workers have to exit on stop before SIGKILL (`--stop-timeout`).
    pub stop_timeout_ms: u64,
    /// First delay before a crashed worker is respawned (`--respawn-delay`; doubles per failure in a row).
    pub respawn_delay_ms: u64,
    /// Cap of that delay (`--respawn-delay-max`).
    pub respawn_delay_max_ms: u64,
    /// Reload this often (start_server's `--auto-restart-interval`).
    pub auto_restart_ms: Option<u64>,
    /// gracefd's own pid file, locked for its lifetime (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// start_server's status file: `generation:pid` lines (`--status-file`).
    pub status_file: Option<PathBuf>,
    /// Where gracefd's and the workers' stdout and stderr go (`--log-file`).
    pub log_file: Option<LogTarget>,
    /// Detach; the launcher exits once the first worker is ready (`--daemonize`).
    pub daemonize: bool,
    /// The workers' working directory (`--dir`).
    pub dir: Option<PathBuf>,
    /// `KEY=VALUE` entries added to the workers' environment (`--env`).
    pub env: Vec<Vec<u8>>,
    /// A directory of variables, read again at every start (`--envdir`).
    pub envdir: Option<PathBuf>,
    /// The control socket for `gracefd ctl` (`--control-socket`).
    pub control_socket: Option<PathBuf>,
    /// Debug lines too (`--verbose`).
    pub verbose: bool,
    /// `-n`/`--workers`: how many workers serve at once.
    pub workers: u32,
    /// `--rolling`: a reload replaces the workers one at a time.
    pub rolling: bool,
    /// `--settle`: how long a ready new worker must stay up before the old
    /// ones are retired (0: retired as soon as it is ready).
    pub settle_ms: u64,
    /// `--init` (or gracefd is PID 1): reap every adopted child, forward
    /// signals, exit with the worker's status.
    pub init: bool,
    /// `--nofile SOFT[:HARD]`: RLIMIT_NOFILE for the workers.
    pub nofile: Option<(u64, Option<u64>)>,
    /// `--user`: what the workers run as (a name or uid).
    pub user: Option<Vec<u8>>,
    /// `--group`: the workers' group (a name or gid).
    pub group: Option<Vec<u8>>,
    /// The worker's command and its arguments.
    pub command: Vec<Vec<u8>>,
}

// Default `--ready-timeout`: a new worker is a new generation (the library's one declaration says why 60 s).
pub use crate::upgrade::DEFAULT_TIMEOUT_MS as DEFAULT_READY_TIMEOUT_MS;

/// Default `--ready`: start_server's rule, so a program that knows nothing
/// of readiness works unchanged.
pub const DEFAULT_READY: ReadyRule = ReadyRule::Interval(1000);
/// Default `--stop-timeout`: 10 s. Keep it below the stop timeout of the
/// supervisor above (supervisord `stopwaitsecs`, systemd `TimeoutStopSec`),
/// so gracefd kills its workers itself before it is killed.
pub const DEFAULT_STOP_TIMEOUT_MS: u64 = 10_000;
/// Default first respawn delay after a crash (doubles per failure in a row).
pub const DEFAULT_RESPAWN_DELAY_MS: u64 = 1_000;
/// Default cap of the respawn delay.
pub const DEFAULT_RESPAWN_DELAY_MAX_MS: u64 = 60_000;
/// start_server's default `--auto-restart-interval`.
pub const DEFAULT_AUTO_RESTART_MS: u64 = 360_000;
/// Floor of the respawn delay (`--respawn-delay 0` would spin).
pub const MIN_RESPAWN_DELAY_MS: u64 = 100;
/// Most workers `-n` accepts.
pub const MAX_WORKERS: u64 = 1024;

// ---- checked setters ------------------------------------------------------
//
// Every face (the command line, start_server's spelling, a Rust caller) goes
// through these: the value and combination rules live here once, and each
// error is EINVAL naming the option (as the command line spells it) and the
// value.

/// Most signal numbers accepted (Linux's `SIGRTMAX`).
pub const MAX_SIGNAL: u64 = 64;

/// A duration for messages as the command line writes it (`1.5`, `3`).
fn secs_text(ms: u64) -> String {
    fmt_secs(ms).trim_end_matches(" s").to_string()
}

/// `sig` as a signal number for `--<opt>` (1 to [`MAX_SIGNAL`]). `EINVAL`
/// naming the option and the value otherwise.
pub fn check_signal(opt: &str, sig: u64) -> Result<i32> {
    match i32::try_from(sig) {
        Ok(s) if (1..=MAX_SIGNAL).contains(&sig) => Ok(s),
        _ => Err(err!(EINVAL, "--{} \"{}\": must be from 1 to {}", opt, sig, MAX_SIGNAL)),
    }
}

/// A `KEY=VALUE` entry for the workers' environment (`--env`): a non-empty
/// KEY, no NUL, and none of the variables gracefd sets itself. `EINVAL`
/// naming the option, the value and what is wrong otherwise.
pub fn check_env_entry(opt: &str, v: &[u8]) -> Result<()> {
    use crate::spawn::EnvProblem;
    match crate::spawn::env_entry_problem(v, true) {
        None => Ok(()),
        Some(EnvProblem::NoEquals) => Err(err!(EINVAL, "--{} {}: expected KEY=VALUE", opt, shown(v))),
        Some(EnvProblem::EmptyKey | EnvProblem::Nul) => Err(err!(EINVAL, "--{} {}: expected KEY=VALUE with a non-empty KEY", opt, shown(v))),
        Some(EnvProblem::Ours) => {
            let key = v.split(|&b| b == b'=').next().unwrap_or(&[]);
            Err(err!(EINVAL, "--{} {}: {} is set by gracefd itself", opt, shown(v), String::from_utf8_lossy(key)))
        }
    }
}

fn check_range(opt: &str, n: u64, min: u64, max: u64) -> Result<()> {
    if (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(err!(EINVAL, "--{} \"{}\": must be from {} to {}", opt, n, min, max))
    }
}

fn check_above_zero(opt: &str, ms: u64) -> Result<()> {
    if ms == 0 {
        return Err(err!(EINVAL, "--{} 0: must be above 0", opt));
    }
    Ok(())
}

fn check_nofile(soft: u64, hard: Option<u64>) -> Result<()> {
    let given = match hard {
        Some(h) => format!("{}:{}", soft, h),
        None => soft.to_string(),
    };
    let max = u64::from(u32::MAX);
    if !(1..=max).contains(&soft) || hard.is_some_and(|h| !(1..=max).contains(&h)) {
        return Err(err!(EINVAL, "--nofile \"{}\": expected SOFT or SOFT:HARD (numbers of open files)", given));
    }
    if hard.is_some_and(|h| h < soft) {
        return Err(err!(EINVAL, "--nofile \"{}\": the soft limit is above the hard one", given));
    }
    Ok(())
}

fn check_id(opt: &str, v: Option<&[u8]>) -> Result<()> {
    match v {
        Some(v) if v.is_empty() || v.contains(&0) => Err(err!(EINVAL, "--{} {}: expected a name or a number", opt, shown(v))),
        _ => Ok(()),
    }
}

fn check_respawn(first_ms: u64, max_ms: u64) -> Result<()> {
    if max_ms < first_ms {
        return Err(err!(
            EINVAL,
            "--respawn-delay-max \"{}\": below the first respawn delay ({})",
            secs_text(max_ms),
            fmt_secs(first_ms)
        ));
    }
    Ok(())
}

fn check_command(command: &[Vec<u8>]) -> Result<()> {
    if command.first().map_or(true, |c| c.is_empty()) {
        return Err(err!(EINVAL, "no command given"));
    }
    if command.iter().any(|a| a.contains(&0)) {
        return Err(err!(EINVAL, "the command contains a NUL byte"));
    }
    Ok(())
}

impl Default for RunOptions {
    /// The defaults of `gracefd run`, with no socket and no command yet.
    fn default() -> RunOptions {
        RunOptions {
            listen: Vec::new(),
            backlog: crate::listeners::DEFAULT_BACKLOG,
            ready: DEFAULT_READY,
            ready_timeout_ms: DEFAULT_READY_TIMEOUT_MS.unsigned_abs(),
            signal_on_hup: libc::SIGTERM,
            signal_on_term: libc::SIGTERM,
            kill_old_delay_ms: 0,
            stop_timeout_ms: DEFAULT_STOP_TIMEOUT_MS,
            respawn_delay_ms: DEFAULT_RESPAWN_DELAY_MS,
            respawn_delay_max_ms: DEFAULT_RESPAWN_DELAY_MAX_MS,
            auto_restart_ms: None,
            pid_file: None,
            status_file: None,
            log_file: None,
            daemonize: false,
            dir: None,
            env: Vec::new(),
            envdir: None,
            control_socket: None,
            verbose: false,
            workers: 1,
            rolling: false,
            settle_ms: 0,
            init: false,
            nofile: None,
            user: None,
            group: None,
            command: Vec::new(),
        }
    }
}

impl RunOptions {
    /// `--backlog`: 1 to `i32::MAX`. EINVAL otherwise.
    pub fn set_backlog(&mut self, n: u64) -> Result<()> {
        check_range("backlog", n, 1, i32::MAX.unsigned_abs().into())?;
        self.backlog = i32::try_from(n).unwrap_or(i32::MAX);
        Ok(())
    }

    /// `--ready-timeout`: above 0. EINVAL for 0.
    pub fn set_ready_timeout_ms(&mut self, ms: u64) -> Result<()> {
        check_above_zero("ready-timeout", ms)?;
        self.ready_timeout_ms = ms;
        Ok(())
    }

    /// `--signal-on-hup`: a signal number, 1 to [`MAX_SIGNAL`]. EINVAL otherwise.
    pub fn set_signal_on_hup(&mut self, sig: u64) -> Result<()> {
        self.signal_on_hup = check_signal("signal-on-hup", sig)?;
        Ok(())
    }

    /// `--signal-on-term`: a signal number, 1 to [`MAX_SIGNAL`]. EINVAL otherwise.
    pub fn set_signal_on_term(&mut self, sig: u64) -> Result<()> {
        self.signal_on_term = check_signal("signal-on-term", sig)?;
        Ok(())
    }

    /// Reload every `ms` (None: never). EINVAL for `Some(0)`.
    pub fn set_auto_restart_ms(&mut self, ms: Option<u64>) -> Result<()> {
        if let Some(ms) = ms {
            check_above_zero("auto-restart-interval", ms)?;
        }
        self.auto_restart_ms = ms;
        Ok(())
    }

    /// `--respawn-delay` and its cap `--respawn-delay-max` (None: the
    /// default cap, raised to the first delay). The first delay is raised to
    /// [`MIN_RESPAWN_DELAY_MS`] (0 would spin). EINVAL if the cap is below it.
    pub fn set_respawn_delays(&mut self, first_ms: u64, max_ms: Option<u64>) -> Result<()> {
        let first = first_ms.max(MIN_RESPAWN_DELAY_MS);
        let max = max_ms.unwrap_or(DEFAULT_RESPAWN_DELAY_MAX_MS.max(first));
        check_respawn(first, max)?;
        self.respawn_delay_ms = first;
        self.respawn_delay_max_ms = max;
        Ok(())
    }

    /// `-n`/`--workers`: 1 to [`MAX_WORKERS`]. EINVAL otherwise.
    pub fn set_workers(&mut self, n: u64) -> Result<()> {
        check_range("workers", n, 1, MAX_WORKERS)?;
        self.workers = u32::try_from(n).unwrap_or(1);
        Ok(())
    }

    /// `--nofile SOFT[:HARD]`: each 1 to `u32::MAX`, SOFT not above HARD. EINVAL otherwise.
    pub fn set_nofile(&mut self, nofile: Option<(u64, Option<u64>)>) -> Result<()> {
        if let Some((soft, hard)) = nofile {
            check_nofile(soft, hard)?;
        }
        self.nofile = nofile;
        Ok(())
    }

    /// `--user`: a name or uid (EINVAL if empty or with a NUL).
    pub fn set_user(&mut self, user: Option<&[u8]>) -> Result<()> {
        check_id("user", user)?;
        self.user = user.map(<[u8]>::to_vec);
        Ok(())
    }

    /// `--group`: a name or gid (EINVAL if empty or with a NUL).
    pub fn set_group(&mut self, group: Option<&[u8]>) -> Result<()> {
        check_id("group", group)?;
        self.group = group.map(<[u8]>::to_vec);
        Ok(())
    }

    /// Add a `--env KEY=VALUE` entry (EINVAL: see [`check_env_entry`]).
    pub fn add_env(&mut self, entry: &[u8]) -> Result<()> {
        check_env_entry("env", entry)?;
        self.env.push(entry.to_vec());
        Ok(())
    }

    /// The worker's command and its arguments. EINVAL if it is empty, its
    /// program is empty, or an argument holds a NUL byte.
    pub fn set_command(&mut self, command: Vec<Vec<u8>>) -> Result<()> {
        check_command(&command)?;
        self.command = command;
        Ok(())
    }

    /// start_server's rule: `--daemonize` needs `--log-file` (a daemon's
    /// output must go somewhere). EINVAL otherwise.
    pub fn check_start_server(&self) -> Result<()> {
        if self.daemonize && self.log_file.is_none() {
            return Err(err!(EINVAL, "--daemonize needs --log-file (start_server's rule: a daemon's output must go somewhere)"));
        }
        Ok(())
    }

    /// Every rule the setters apply, on the options as they are (for a caller
    /// that filled the fields directly; `run` calls it first). EINVAL naming
    /// the first option that breaks one.
    pub fn check(&self) -> Result<()> {
        check_range("backlog", u64::try_from(self.backlog).unwrap_or(0), 1, i32::MAX.unsigned_abs().into())?;
        check_above_zero("ready-timeout", self.ready_timeout_ms)?;
        check_signal("signal-on-hup", u64::try_from(self.signal_on_hup).unwrap_or(0))?;
        check_signal("signal-on-term", u64::try_from(self.signal_on_term).unwrap_or(0))?;
        if let Some(ms) = self.auto_restart_ms {
            check_above_zero("auto-restart-interval", ms)?;
        }
        if self.respawn_delay_ms < MIN_RESPAWN_DELAY_MS {
            return Err(err!(EINVAL, "--respawn-delay \"{}\": below {}", secs_text(self.respawn_delay_ms), fmt_secs(MIN_RESPAWN_DELAY_MS)));
        }
        check_respawn(self.respawn_delay_ms, self.respawn_delay_max_ms)?;
        check_range("workers", u64::from(self.workers), 1, MAX_WORKERS)?;
        if let Some((soft, hard)) = self.nofile {
            check_nofile(soft, hard)?;
        }
        check_id("user", self.user.as_deref())?;
        check_id("group", self.group.as_deref())?;
        for e in &self.env {
            check_env_entry("env", e)?;
        }
        check_command(&self.command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn einval<T: core::fmt::Debug>(r: Result<T>, want: &str) {
        let e = r.unwrap_err();
        assert_eq!(e.errno, crate::sys::Errno(libc::EINVAL), "{:?}", e);
        assert!(e.message().contains(want), "{:?} does not contain {:?}", e.message(), want);
    }

    #[test]
    fn defaults_pass_check_once_there_is_a_command() {
        let mut o = RunOptions::default();
        einval(o.check(), "no command given");
        o.set_command(vec![b"srv".to_vec()]).unwrap();
        o.check().unwrap();
        assert_eq!((o.ready, o.ready_timeout_ms, o.signal_on_hup), (ReadyRule::Interval(1000), 60_000, libc::SIGTERM));
    }

    #[test]
    fn setters_refuse_values_naming_the_option() {
        let mut o = RunOptions::default();
        einval(o.set_backlog(0), "--backlog \"0\": must be from 1 to 2147483647");
        einval(o.set_backlog(1 << 31), "--backlog");
        einval(o.set_ready_timeout_ms(0), "--ready-timeout 0: must be above 0");
        einval(o.set_signal_on_hup(0), "--signal-on-hup \"0\": must be from 1 to 64");
        einval(o.set_signal_on_term(65), "--signal-on-term \"65\"");
        einval(o.set_auto_restart_ms(Some(0)), "--auto-restart-interval 0: must be above 0");
        einval(o.set_respawn_delays(5000, Some(1000)), "--respawn-delay-max \"1\": below the first respawn delay (5 s)");
        einval(o.set_workers(0), "--workers \"0\"");
        einval(o.set_workers(MAX_WORKERS + 1), "must be from 1 to 1024");
        einval(o.set_nofile(Some((10, Some(5)))), "--nofile \"10:5\": the soft limit is above the hard one");
        einval(o.set_nofile(Some((0, None))), "--nofile \"0\"");
        einval(o.set_user(Some(b"")), "--user \"\": expected a name or a number");
        einval(o.set_group(Some(b"a\0b")), "--group");
        einval(o.add_env(b"FOO"), "--env \"FOO\": expected KEY=VALUE");
        einval(o.add_env(b"=x"), "non-empty KEY");
        einval(o.add_env(b"LISTEN_FDS=3"), "LISTEN_FDS is set by gracefd itself");
        einval(o.add_env(b"NOTIFY_SOCKET=/x"), "NOTIFY_SOCKET");
        einval(o.set_command(vec![]), "no command given");
        einval(o.set_command(vec![b"a".to_vec(), b"b\0".to_vec()]), "NUL byte");
        // A refused value leaves the option as it was.
        let d = RunOptions::default();
        assert_eq!((o.backlog, o.workers, o.respawn_delay_ms, o.env.len()), (d.backlog, d.workers, d.respawn_delay_ms, 0));
    }

    #[test]
    fn setters_accept_the_bounds() {
        let mut o = RunOptions::default();
        o.set_backlog(1).unwrap();
        o.set_workers(MAX_WORKERS).unwrap();
        o.set_signal_on_hup(64).unwrap();
        o.set_nofile(Some((5, Some(5)))).unwrap();
        o.add_env(b"A=b=c").unwrap();
        assert_eq!((o.backlog, o.workers, o.signal_on_hup, o.env.len()), (1, 1024, 64, 1));
        // The first respawn delay is raised to the floor; the cap follows it.
        o.set_respawn_delays(0, None).unwrap();
        assert_eq!((o.respawn_delay_ms, o.respawn_delay_max_ms), (MIN_RESPAWN_DELAY_MS, DEFAULT_RESPAWN_DELAY_MAX_MS));
        o.set_respawn_delays(90_000, None).unwrap();
        assert_eq!(o.respawn_delay_max_ms, 90_000);
    }

    #[test]
    fn ready_rules() {
        assert_eq!(ReadyRule::parse("ready", b"notify").unwrap(), ReadyRule::Notify);
        assert_eq!(ReadyRule::parse("ready", b"interval:1.5").unwrap(), ReadyRule::Interval(1500));
        einval(ReadyRule::parse("ready", b"soon"), "--ready \"soon\": expected notify or interval:SECS");
        einval(ReadyRule::parse("ready", b"interval:x"), "--ready \"interval:x\": the interval is not a number");
        assert_eq!(ReadyRule::Interval(1500).describe(), "interval:1.5");
    }

    #[test]
    fn seconds() {
        use crate::supervise::names::parse_secs;
        assert_eq!(parse_secs("x", b"0.25").unwrap(), 250);
        assert_eq!(parse_secs("x", b"0.0001").unwrap(), 1);
        assert_eq!(parse_secs("x", b"1.2340001").unwrap(), 1235);
        einval(parse_secs("stop-timeout", b"ten"), "--stop-timeout \"ten\": not a number of seconds");
        einval(parse_secs("settle", b"99999999999"), "more than 10000000 seconds");
    }

    #[test]
    fn start_server_daemonize_needs_a_log_file() {
        let mut o = RunOptions { daemonize: true, ..RunOptions::default() };
        einval(o.check_start_server(), "--daemonize needs --log-file");
        o.log_file = Some(LogTarget::File(PathBuf::from("/tmp/x")));
        o.check_start_server().unwrap();
    }

    #[test]
    fn check_catches_fields_filled_directly() {
        let mut o = RunOptions { command: vec![b"srv".to_vec()], workers: 0, ..RunOptions::default() };
        einval(o.check(), "--workers");
        o.workers = 2;
        o.respawn_delay_ms = 0;
        einval(o.check(), "--respawn-delay");
        o.respawn_delay_ms = 1000;
        o.signal_on_term = -1;
        einval(o.check(), "--signal-on-term");
    }
}
