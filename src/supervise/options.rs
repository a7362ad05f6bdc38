//! What `gracefd run` is asked to do: [`RunOptions`], as the command line
//! (`gracefd run`, `start_server`) or another caller fills it in.

use std::path::PathBuf;

use crate::supervise::names::fmt_secs;

/// How a new worker is known to be ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyRule {
    /// It says so: `gracefd_ready()` (GRACEFD_READY_FD) or sd_notify `READY=1`.
    Notify,
    /// start_server's rule: still alive this many ms after it started.
    Interval(u64),
}

impl ReadyRule {
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
