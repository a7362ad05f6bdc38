//! Who started us: the generation number, the old generation's pid, the
//! readiness channel back to whoever waits, and the inherited pid file.
//!
//! Read once from the start-up snapshot (`GRACEFD_GENERATION`,
//! `GRACEFD_PARENT_PID`, `GRACEFD_READY_FD`, `GRACEFD_PIDFILE_FD`). These
//! variables are honoured only when `LISTEN_PID` names this very process, as
//! systemd does for `LISTEN_FDS`: a grandchild that inherited the environment
//! (the program ran `system()`, say) is not fooled into writing to an fd
//! number that means something else in it. Fds named here are validated and
//! made CLOEXEC at load time, so they never leak into the program's children;
//! what was wrong with the variables is logged on first use.

use crate::proto::num;
use crate::startup::Startup;
use crate::sync::{Lazy, Mutex, Once};
use crate::sys::fd::{Fd, RawFd};
use crate::sys::process::Pid;
use crate::sys::{fd, socket};

/// What the start-up environment said about our lineage.
pub(crate) struct Lineage {
    /// 1 for a first process, +1 per upgrade.
    pub(crate) generation: u32,
    /// The old generation (set when we were started by an upgrade).
    pub(crate) parent_pid: Option<Pid>,
    /// Whether `LISTEN_PID` named us (so inherited protocol variables are ours).
    pub(crate) listen_pid_matches: bool,
}

struct Owned {
    ready: Option<Fd>,
    pidfile: Option<Fd>,
}

/// What was wrong with a variable, said on first use (not at load time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    /// Not a number of the expected kind.
    Malformed,
    /// A number, but not an fd above 2 that is open and of the right kind.
    Unusable(RawFd),
}

/// The problems found, one per variable (generation, parent pid, ready fd,
/// pid file fd), in that order.
type Problems = [Option<Problem>; 4];

struct Read {
    lineage: Lineage,
    problems: Problems,
}

static READ: Lazy<Read> = Lazy::new();
static REPORTED: Once = Once::new();
static OWNED: Mutex<Owned> = Mutex::new(Owned { ready: None, pidfile: None });

/// The lineage, read from the start-up snapshot (at load time, or now); the
/// first call also logs what was wrong with the variables.
pub(crate) fn get() -> &'static Lineage {
    let r = read_once();
    REPORTED.call(|| report(&r.problems));
    &r.lineage
}

/// Called by the library's constructor (`crate::init`): read the variables
/// and validate and CLOEXEC our fds early. Nothing is said yet (the
/// constructor reaches no formatting code): the messages wait for [`get`].
pub(crate) fn init() {
    let _ = read_once();
}

/// Whether `LISTEN_PID` named us, without logging anything (for other
/// modules' load-time code).
pub(crate) fn listen_pid_matches() -> bool {
    read_once().lineage.listen_pid_matches
}

fn read_once() -> &'static Read {
    // Nothing here logs (the messages wait for `get`), so the constructor
    // reaches no log code through the lock bookkeeping.
    READ.get_or_init_leaf(|| {
        let s = crate::startup::get();
        let (r, ready, pidfile) = read(s, crate::sys::process::getpid());
        OWNED.with_leaf(|o| {
            o.ready = ready;
            o.pidfile = pidfile;
        });
        r
    })
}

const VARS: [&[u8]; 4] = [b"GRACEFD_GENERATION", b"GRACEFD_PARENT_PID", b"GRACEFD_READY_FD", b"GRACEFD_PIDFILE_FD"];

fn read(s: &Startup, me: Pid) -> (Read, Option<Fd>, Option<Fd>) {
    // LISTEN_PIDFDID, when set, must name us too (rules out a reused pid);
    // malformed, it makes the whole announcement untrusted.
    let listen_pid_matches = s.var(b"LISTEN_PID").and_then(num::parse_pid) == Some(me)
        && crate::proto::listen_env::pidfdid_allows(s.var(b"LISTEN_PIDFDID"), s.pidfd_id);
    let mut r = Read { lineage: Lineage { generation: 1, parent_pid: None, listen_pid_matches }, problems: [None; 4] };
    if !listen_pid_matches {
        return (r, None, None);
    }
    let [gen_var, parent_var, ready_var, pidfile_var] = VARS;
    let [gen_p, parent_p, ready_p, pidfile_p] = &mut r.problems;
    if let Some(v) = s.var(gen_var) {
        match num::parse_u32(v) {
            Some(g) if g >= 1 => r.lineage.generation = g,
            _ => *gen_p = Some(Problem::Malformed),
        }
    }
    if let Some(v) = s.var(parent_var) {
        r.lineage.parent_pid = num::parse_pid(v);
        if r.lineage.parent_pid.is_none() {
            *parent_p = Some(Problem::Malformed);
        }
    }
    let ready = s.var(ready_var).and_then(|v| adopt(v, is_ready_channel, ready_p));
    let pidfile = s.var(pidfile_var).and_then(|v| adopt(v, is_regular_file, pidfile_p));
    (r, ready, pidfile)
}

/// Take ownership of an announced fd after checking it is what it should be.
fn adopt(v: &[u8], check: fn(RawFd) -> bool, problem: &mut Option<Problem>) -> Option<Fd> {
    let Some(n) = num::parse_u32(v).and_then(|n| i32::try_from(n).ok()) else {
        *problem = Some(Problem::Malformed);
        return None;
    };
    if n < 3 || !fd::is_open(n) || !check(n) {
        *problem = Some(Problem::Unusable(n));
        return None;
    }
    let _ = fd::set_cloexec(n, true);
    // SAFETY: validated open fd that the protocol hands to this process alone.
    Some(unsafe { Fd::from_raw(n) })
}

/// Log what [`read`] found wrong (on first use, not at load time).
fn report(problems: &Problems) {
    use crate::proto::addr::Shown;
    let s = crate::startup::get();
    for (i, (var, p)) in VARS.iter().zip(problems).enumerate() {
        let v = s.var(var).unwrap_or(&[]);
        match (i, p) {
            (_, None) => {}
            (0, _) => crate::log!(crate::log::WARNING, "GRACEFD_GENERATION={:?} is not a positive number; using 1", Shown(v)),
            (1, _) => crate::log!(crate::log::WARNING, "GRACEFD_PARENT_PID={:?} is not a pid; ignored", Shown(v)),
            (_, Some(Problem::Malformed)) => {
                crate::log!(crate::log::WARNING, "{}={:?} is not an fd number; ignored", Shown(var), Shown(v))
            }
            (_, Some(Problem::Unusable(n))) => {
                crate::log!(crate::log::WARNING, "{}={}: not an open fd of the expected kind; ignored", Shown(var), n)
            }
        }
    }
}

fn is_ready_channel(n: RawFd) -> bool {
    socket::getsockopt_int(n, libc::SOL_SOCKET, libc::SO_TYPE) == Ok(libc::SOCK_SEQPACKET)
        && socket::getsockopt_int(n, libc::SOL_SOCKET, libc::SO_DOMAIN) == Ok(libc::AF_UNIX)
}

fn is_regular_file(n: RawFd) -> bool {
    fd::fstat(n).map(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG).unwrap_or(false)
}

/// This process's generation (1 unless started by an upgrade).
pub fn generation() -> u32 {
    get().generation
}

/// Whether this process was started by an older generation of itself.
pub fn is_upgrade() -> bool {
    let l = get();
    l.parent_pid.is_some() && l.generation > 1
}

/// Take the readiness channel (once: whoever reports readiness consumes it).
pub(crate) fn take_ready_channel() -> Option<Fd> {
    let _ = get();
    OWNED.lock().ready.take()
}

/// Hold `f` as the readiness channel to whoever waits for us (a fork-mode
/// daemon gets its channel this way; a started process inherits it).
pub(crate) fn set_ready_channel(f: Fd) {
    let _ = get();
    OWNED.lock().ready = Some(f);
}

/// The raw fd of the pid file this process holds (inherited or acquired), if any.
pub(crate) fn pidfile_fd() -> Option<RawFd> {
    let _ = get();
    OWNED.lock().pidfile.as_ref().map(Fd::raw)
}

/// Hold `f` as this process's locked pid file (it is handed down on upgrade).
pub(crate) fn set_pidfile(f: Fd) {
    let _ = get();
    OWNED.lock().pidfile = Some(f);
}

/// Give up the pid file (returns it, e.g. to remove it on clean exit).
pub(crate) fn take_pidfile() -> Option<Fd> {
    let _ = get();
    OWNED.lock().pidfile.take()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn snap(env: &[&str]) -> Startup {
        Startup {
            env: env.iter().map(|e| e.as_bytes().to_vec()).collect(),
            argv: Vec::new(),
            exe: Vec::new(),
            pid: 1,
            pidfd_id: None,
        }
    }

    #[test]
    fn ignored_unless_listen_pid_is_ours() {
        let (l, r, p) = read(&snap(&["GRACEFD_GENERATION=5", "GRACEFD_PARENT_PID=9", "LISTEN_PID=77"]), 78);
        assert_eq!(l.problems, [None; 4]);
        let l = l.lineage;
        assert_eq!(l.generation, 1);
        assert!(l.parent_pid.is_none() && r.is_none() && p.is_none());
    }

    #[test]
    fn parsed_when_ours() {
        let (l, r, _) = read(&snap(&["GRACEFD_GENERATION=5", "GRACEFD_PARENT_PID=9", "LISTEN_PID=78", "GRACEFD_READY_FD=1"]), 78);
        assert_eq!(l.problems, [None, None, Some(Problem::Unusable(1)), None]);
        let l = l.lineage;
        assert_eq!(l.generation, 5);
        assert_eq!(l.parent_pid, Some(9));
        assert!(r.is_none(), "fd 1 is below 3 and never adopted");
    }

    #[test]
    fn garbage_is_ignored() {
        let (l, _, _) = read(&snap(&["GRACEFD_GENERATION=0", "GRACEFD_PARENT_PID=-3", "LISTEN_PID=78", "GRACEFD_READY_FD=x"]), 78);
        assert_eq!(l.problems, [Some(Problem::Malformed), Some(Problem::Malformed), Some(Problem::Malformed), None]);
        let l = l.lineage;
        assert_eq!(l.generation, 1);
        assert!(l.parent_pid.is_none());
    }
}
