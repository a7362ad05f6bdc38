//! The middle process of fork mode: the leader of the daemon's new session,
//! for as long as it takes to start the daemon, and no longer.

use super::setup::send_failed;
use super::state::EXIT_SETUP;
use crate::error::Error;
use crate::proto::ready::{self as frame, ReadyReport};
use crate::sys::clone;
use crate::sys::fd::RawFd;
use crate::sys::process::{self, Pid};
use crate::sys::socket;

/// In the middle process (signals still blocked, as the launcher forked
/// us): `setsid`, then start the daemon as the launcher's child
/// (`CLONE_PARENT`, a copy like `fork`), tell the launcher its pid and exit.
/// Returns only in the daemon. The daemon is in the new session without
/// leading it, so it can never acquire a controlling terminal; its parent is
/// the launcher, which so learns how it dies while the start is watched.
/// Async-signal-safe only.
pub(super) fn start_daemon(ch: RawFd) {
    if let Err(e) = process::setsid() {
        send_failed(ch, Error::sys(e, "daemonize: setsid").message());
        process::exit_now(EXIT_SETUP);
    }
    // SAFETY: single-threaded child; the daemon below uses prepared data.
    match unsafe { clone::fork_sibling_raw() } {
        Ok(0) => {}
        Ok(daemon) => {
            send_pid(ch, daemon);
            process::exit_now(0);
        }
        Err(e) => {
            send_failed(ch, Error::sys(e, "daemonize: second fork").message());
            process::exit_now(EXIT_SETUP);
        }
    }
}

fn send_pid(ch: RawFd, daemon: Pid) {
    let mut buf = [0u8; frame::FRAME_MAX];
    let n = frame::encode(ReadyReport::Pid, daemon, b"", &mut buf);
    let _ = socket::send(ch, buf.get(..n).unwrap_or(&[]), 0);
}
