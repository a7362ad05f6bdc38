//! How the supervisor's messages (and the command's) name things: signals
//! (`SIGTERM`), durations (`1.5 s`), values quoted from the command line.

/// A value quoted for messages (lossy UTF-8, quoted).
pub fn shown(v: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(v))
}

/// Signal names (without `SIG`) and numbers: what `--signal-on-hup` and
/// the like accept, and how messages name a signal.
pub const SIGNALS: [(&str, i32); 30] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
];

/// The signal names accepted (without `SIG`), for completion.
// Evaluated at compile time: an index out of bounds would not build.
#[allow(clippy::indexing_slicing)]
pub const SIGNAL_NAMES: [&str; 30] = {
    let mut out = [""; 30];
    let mut i = 0;
    while i < SIGNALS.len() {
        out[i] = SIGNALS[i].0;
        i += 1;
    }
    out
};

/// The name of a signal, for messages (`SIGTERM`, or `signal 40`).
pub fn signal_name(sig: i32) -> String {
    match SIGNALS.iter().find(|(_, s)| *s == sig) {
        Some((n, _)) => format!("SIG{}", n),
        None => format!("signal {}", sig),
    }
}

/// Format milliseconds as seconds for messages (`1.5 s`, `0.05 s`, `3 s`).
pub fn fmt_secs(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{} s", s.trim_end_matches('0'))
    }
}

