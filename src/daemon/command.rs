//! Command mode: a given program started as the daemon (`gracefd daemonize
//! -- COMMAND`, or a library caller's [`Command`]). Started like re-exec
//! mode's daemon (detached through `Spawn`: a new session it does not lead,
//! the launcher its parent), but the daemon's set-up — umask, working
//! directory, stdio, RLIMIT_NOFILE, user, pid — is applied by the child
//! before exec, since the program knows nothing of the plan. Its readiness:
//! a report on `GRACEFD_READY_FD`, `READY=1` on a private `NOTIFY_SOCKET`
//! (`Ready::Notify`), or staying alive (`Ready::Interval`).

use super::launch::{above_stdio, pass_listeners, put_back, watchable_children, Prepared};
use super::notify_socket::NotifySocket;
use super::options::{Command, DaemonOptions, Ready};
use super::verdict::{in_seconds, launcher, remove_pid_file, CommandWatch};
use crate::child_setup::{ChildSetup, DaemonSide};
use crate::error::Result;
use crate::ready;
use crate::spawn::Spawn;
use crate::sync::OptIn;
use crate::sys::fd::Fd;

/// How `daemonize` starts a command.
pub(super) type Launch = fn(Prepared, &Command, &DaemonOptions) -> Result<()>;

/// [`command_launch`], installed by `DaemonOptions::set_command` (the only
/// way an option gets a command): `daemonize` reaches command mode through
/// it, so a program that never sets a command does not link command mode,
/// its private NOTIFY_SOCKET included (`sync::OptIn`).
pub(super) static LAUNCH: OptIn<Launch> = OptIn::new();

/// Make command mode reachable (see [`LAUNCH`]).
pub(super) fn install() {
    LAUNCH.install(&(command_launch as Launch));
}

/// Start `c` as the daemon and wait for its verdict (never returns but with
/// an error from before the start).
fn command_launch(mut p: Prepared, c: &Command, o: &DaemonOptions) -> Result<()> {
    let mut sp = Spawn::new(&c.exe);
    for a in &c.argv {
        sp.arg(a);
    }
    sp.env_inherit_scrubbed();
    // Ours would be the launcher's service manager's: never the daemon's.
    sp.env_remove(b"NOTIFY_SOCKET");
    sp.env_remove(b"WATCHDOG_USEC");
    for e in &c.env {
        sp.env_put(e);
    }
    // A refused input stops the start before anything is opened.
    sp.refused()?;
    // Duplicates of the registered fds: kept open until the child has them.
    let exported = pass_listeners(&mut sp)?;
    let (waiter, child_end) = ready::channel()?;
    // Above 0–2: the child puts its stdio there before the fds are laid out.
    let child_end: Fd = above_stdio(child_end)?;
    sp.pass_lineage_fds(child_end.raw(), p.pidfile.as_ref().map(Fd::raw));
    let notify = match o.ready {
        Ready::Notify => Some(NotifySocket::make()?),
        _ => None,
    };
    if let Some(n) = &notify {
        sp.env_set(b"NOTIFY_SOCKET", n.env_value());
    }
    let side = DaemonSide {
        stdio: [p.devnull.raw(), p.out(), p.out()],
        dir: p.dir.raw(),
        umask: p.umask,
        nofile: p.nofile,
        pid_file: p.pidfile.as_ref().map(Fd::raw),
    };
    sp.child_setup(ChildSetup { daemon: Some(side), creds: p.creds.clone(), ..ChildSetup::default() });
    sp.detach();
    let sigchld = watchable_children();
    let middle = sp.spawn().inspect_err(|_| put_back(sigchld))?;
    drop(child_end);
    drop(exported);
    let mut w = p.watch(o, &c.exe, notify);
    // The pid file moves to the watch, to be removed after a failed start
    // (its lock is shared with the daemon, which knows nothing of it).
    let pid_file = match (p.pidfile.take(), &o.pid_file) {
        (Some(f), Some(path)) => Some((f, path.clone())),
        _ => None,
    };
    w.command = Some(CommandWatch { pid_file, remove: remove_pid_file, show_timeout: in_seconds });
    drop(p);
    launcher(middle, waiter, w)
}
