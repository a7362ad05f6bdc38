//! What [`daemonize`](super::daemonize) is asked to do: [`Options`] (a
//! builder) and the [`Mode`] to detach in.

use alloc::vec::Vec;

/// Default time the daemon has to call ready.
pub const DEFAULT_TIMEOUT_MS: i64 = 30_000;
/// Default umask of the daemon.
pub const DEFAULT_UMASK: u32 = 0o022;

/// How to detach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Fork when the process is single-threaded, re-exec otherwise.
    Auto,
    /// Fork (twice). Refused in a multi-threaded process.
    Fork,
    /// Start the recorded executable again as the daemon.
    Reexec,
}

/// Daemonize options (the C handle wraps this; builder-style setters).
#[derive(Clone, Debug)]
pub struct Options {
    /// Pid file to lock and write (None: no pid file).
    pub pid_file: Option<Vec<u8>>,
    /// Working directory of the daemon (default `/`).
    pub workdir: Vec<u8>,
    /// Umask of the daemon (default 022).
    pub umask: u32,
    /// File for the daemon's stdout and stderr, opened for append and created
    /// 0640 (None: /dev/null).
    pub log_file: Option<Vec<u8>>,
    /// User to switch to: a name, or a number (None: stay).
    pub user: Option<Vec<u8>>,
    /// Group to switch to: a name, or a number (None: the user's primary group).
    pub group: Option<Vec<u8>>,
    /// RLIMIT_NOFILE to raise to: (soft, hard). Never lowers; the hard limit
    /// only rises when allowed; the soft one is capped by the hard one.
    pub nofile: Option<(u64, u64)>,
    /// How long the daemon has to report, in ms (negative: forever).
    pub timeout_ms: i64,
    /// How to detach.
    pub mode: Mode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pid_file: None,
            workdir: b"/".to_vec(),
            umask: DEFAULT_UMASK,
            log_file: None,
            user: None,
            group: None,
            nofile: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            mode: Mode::Auto,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Options {
        Options::default()
    }
    /// Lock and write this pid file.
    pub fn pid_file(mut self, p: &[u8]) -> Self {
        self.pid_file = Some(p.to_vec());
        self
    }
    /// Working directory.
    pub fn workdir(mut self, p: &[u8]) -> Self {
        self.workdir = p.to_vec();
        self
    }
    /// Umask.
    pub fn umask(mut self, m: u32) -> Self {
        self.umask = m;
        self
    }
    /// Log file for stdout and stderr (None: /dev/null).
    pub fn log_file(mut self, p: Option<&[u8]>) -> Self {
        self.log_file = p.map(<[u8]>::to_vec);
        self
    }
    /// User to switch to.
    pub fn user(mut self, u: &[u8]) -> Self {
        self.user = Some(u.to_vec());
        self
    }
    /// Group to switch to.
    pub fn group(mut self, g: &[u8]) -> Self {
        self.group = Some(g.to_vec());
        self
    }
    /// RLIMIT_NOFILE to raise to.
    pub fn nofile(mut self, soft: u64, hard: u64) -> Self {
        self.nofile = Some((soft, hard));
        self
    }
    /// Readiness timeout in ms (negative: forever).
    pub fn timeout_ms(mut self, ms: i64) -> Self {
        self.timeout_ms = ms;
        self
    }
    /// Mode.
    pub fn mode(mut self, m: Mode) -> Self {
        self.mode = m;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_fields() {
        let o = Options::new().pid_file(b"/run/x.pid").workdir(b"/tmp").umask(0o027).log_file(Some(b"/var/log/x")).nofile(10, 20).timeout_ms(5).mode(Mode::Reexec);
        assert_eq!(o.pid_file.as_deref(), Some(&b"/run/x.pid"[..]));
        assert_eq!((o.umask, o.nofile, o.timeout_ms, o.mode), (0o027, Some((10, 20)), 5, Mode::Reexec));
    }
}
