//! Readiness and lineage.

use std::io;

use super::error::io;
use crate::{lineage, ready as core_ready};

/// Tell everyone who waits that this process serves: the process that
/// started it (an upgrading old generation, a daemonize launcher, `gracefd
/// run`, through `GRACEFD_READY_FD`) and systemd (`READY=1`, plus
/// `MAINPID=<pid>` when this process is a new generation). Call it once the
/// listeners are open and requests can be answered.
///
/// Returns `true` if a starter was waiting (and was told, or has died
/// meanwhile, which is not an error), `false` if nobody waits (a plain
/// start). Only the first call reaches the starter; later ones repeat the
/// systemd part.
///
/// Errors: sending to the starter failed for another reason; or
/// `NOTIFY_SOCKET` is set but systemd could not be told (`ECONNREFUSED`
/// when nothing listens, `EINVAL` for a malformed value): the starter has
/// been told by then.
///
/// ```
/// // Started by nobody, outside systemd: nothing to tell, not an error.
/// assert_eq!(gracefd::ready()?, false);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn ready() -> io::Result<bool> {
    io(core_ready::report_ready())
}

/// Tell whoever started this process that it could not start: a daemonize
/// launcher prints `message` and exits with `status`; an upgrading old
/// generation logs it, fails its upgrade with it (`ECANCELED`, the message
/// in the error) and keeps serving; systemd gets `STATUS=<message>`. This
/// does not exit: exit afterwards (with `status`, customarily).
///
/// Returns `true` if a starter was told, `false` if nobody waits.
///
/// Errors: `EINVAL` for `status` 0 or a message with a newline or NUL (it
/// is one line, cut to 200 bytes); sending to the starter failed.
///
/// ```
/// assert_eq!(gracefd::fail(1, "config: no such file")?, false); // nobody waits
/// assert!(gracefd::fail(0, "x").is_err()); // 0 is not a failure status
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn fail(status: u8, message: &str) -> io::Result<bool> {
    io(core_ready::report_failed(i32::from(status), message.as_bytes()))
}

/// This process's generation: 1 for a first start, one more per upgrade
/// (`GRACEFD_GENERATION`, honoured only when `LISTEN_PID` is this process).
///
/// ```
/// assert_eq!(gracefd::generation(), 1);
/// ```
pub fn generation() -> u32 {
    lineage::generation()
}

/// Whether this process was started by an older generation of itself
/// ([`Upgrade`](crate::Upgrade)), which is waiting for [`ready`].
///
/// ```
/// assert!(!gracefd::is_upgrade());
/// ```
pub fn is_upgrade() -> bool {
    lineage::is_upgrade()
}

/// Whether this process's exit gives the CPU to its successor once one has
/// taken over (a successful upgrade, or a hand-off whose taker is ready): at
/// `exit` (also a return from `main`) every thread goes to nice 19 and
/// yields, so the kernel freeing this process's memory does not hold the CPU
/// the new generation serves on. On by default; turn it off for a program
/// whose exit does work that should keep its priority. Read at exit: may be
/// called at any time. Never fails.
pub fn set_exit_yield(on: bool) {
    crate::exit_yield::set_enabled(on);
}
