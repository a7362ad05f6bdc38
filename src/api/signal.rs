//! Signals as a type.

use std::fmt;
use std::io;

use super::error::invalid;

/// A signal number, for the calls of the face that take one
/// ([`Upgrade::kill_signal`](crate::Upgrade::kill_signal)). The usual ones
/// are constants; [`Signal::new`] takes any other (real-time signals…).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    /// `SIGHUP`.
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// `SIGINT`.
    pub const INT: Signal = Signal(libc::SIGINT);
    /// `SIGQUIT`.
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// `SIGKILL`.
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// `SIGUSR1`.
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// `SIGUSR2`.
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// `SIGTERM`.
    pub const TERM: Signal = Signal(libc::SIGTERM);

    /// The signal numbered `n`. Errors: `EINVAL` (kind `InvalidInput`)
    /// unless `n` is a signal number of this system (1 ‥ `SIGRTMAX`).
    ///
    /// ```
    /// assert_eq!(gracefd::Signal::new(15)?, gracefd::Signal::TERM);
    /// assert!(gracefd::Signal::new(0).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(n: i32) -> io::Result<Signal> {
        if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(Signal(n))
        } else {
            Err(invalid(format_args!("{n} is not a signal number (1-{})", libc::SIGRTMAX())))
        }
    }

    /// The number, for `kill(2)` and friends.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The library's one table of names (SIGSEGV too, not only the constants above).
        let Some(name) = crate::sys::signal::lookup(self.0) else {
            return write!(f, "signal {}", self.0);
        };
        f.write_str(name)
    }
}

impl From<Signal> for i32 {
    fn from(s: Signal) -> i32 {
        s.0
    }
}

impl TryFrom<i32> for Signal {
    type Error = io::Error;
    /// As [`Signal::new`].
    fn try_from(n: i32) -> io::Result<Signal> {
        Signal::new(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_every_named_signal() {
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
        assert_eq!(Signal(libc::SIGSEGV).to_string(), "SIGSEGV");
        assert_eq!(Signal(libc::SIGRTMIN()).to_string(), format!("signal {}", libc::SIGRTMIN()));
    }
}
