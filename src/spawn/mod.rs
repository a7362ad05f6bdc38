//! Starting a child the fork-safe way: everything (exe path, argv, envp,
//! the fd plan, env slots) is built before the child exists; the child then
//! makes only async-signal-safe calls: reset signals, lay the fds out at 3..,
//! close everything else, write its own pid into the prepared env slots,
//! `execve`. If exec fails the child reports errno on its readiness channel
//! and `_exit(127)`s (the `child` module).
//!
//! The child is started with a vfork-style clone (`CLONE_VM | CLONE_VFORK`
//! on a stack of its own), whose cost does not grow with the parent's memory;
//! where the kernel or a sandbox refuses it, with `fork` (docs/performance.md).
//! `GRACEFD_SPAWN=fork` in the start-up environment forces fork.
//!
//! Used by the upgrade (new generation), the re-exec daemonize mode and the
//! superdaemon (workers).

mod child;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use core::ffi::{c_char, c_void};

use crate::child_setup::ChildSetup;
use crate::error::Result;
use crate::registry::Exported;
use crate::sync::OptIn;
use crate::sys::clone::{self, ChildStack, Parent};
use crate::sys::cpath::CPath;
use crate::sys::fd::RawFd;
use crate::sys::process::{self, Pid};
use crate::sys::{signal, time, Errno};
use crate::{err, log};
use child::{Plan, SLOT_WIDTH};

/// The variable that carries the child's pidfd inode (systemd ≥ 258), set
/// for children that get `LISTEN_PID`.
const PIDFDID: &[u8] = b"LISTEN_PIDFDID";

/// A child process to start.
pub struct Spawn {
    /// The path, or why [`Spawn::new`] refused it (the first refusal).
    exe: Result<CPath>,
    argv: Vec<CPath>,
    /// Complete `KEY=VALUE\0` entries.
    env: Vec<Vec<u8>>,
    /// Keys whose value is the child's own pid. Kept apart from `env` and
    /// turned into entries only in `spawn`, so no later change of `env` can
    /// move them.
    pid_keys: Vec<Vec<u8>>,
    fds: Vec<RawFd>,
    report: Option<usize>,
    detach: bool,
    /// Use fork even where the clone would work (`GRACEFD_SPAWN=fork`, tests).
    fork_only: bool,
    /// The child leads a process group of its own ([`Spawn::own_group`]).
    own_group: bool,
    /// Parent-death signal, user switch (see `child_setup.rs`).
    setup: ChildSetup,
    /// The first input a setter refused; [`spawn`](Spawn::spawn) returns
    /// it. Setters record instead of returning a `Result`: each `?` on a
    /// setter moved the 248-byte error at every caller (footprint).
    failed: Option<Error>,
}

/// How the child applies a [`ChildSetup`], installed by
/// [`Spawn::child_setup`], the only way a start gets one that is not the
/// default (which applies nothing): a program that never asks for a user
/// switch, a death signal or the daemon's set-up (none of which the C ABI
/// can) links none of that code into every child it starts (`sync::OptIn`).
static APPLY_SETUP: OptIn<fn(&ChildSetup) -> crate::sys::SysResult<()>> = OptIn::new();
static APPLY: fn(&ChildSetup) -> crate::sys::SysResult<()> = ChildSetup::apply;

/// Which way a child was started (for the log line and the tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// `clone(CLONE_VM | CLONE_VFORK)` on a prepared stack.
    Clone,
    /// `fork`, because the clone was refused with this errno, or 0 when
    /// `GRACEFD_SPAWN=fork` asked for it.
    Fork(i32),
}

/// The way, as the log line after a start says it.
impl core::fmt::Display for Path {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Path::Clone => f.write_str("a vfork-style clone"),
            Path::Fork(0) => f.write_str("fork (GRACEFD_SPAWN=fork)"),
            Path::Fork(e) => write!(f, "fork (clone with CLONE_VM refused: {})", crate::msg::Plain(Errno(e).name())),
        }
    }
}

impl Spawn {
    /// A child running `exe` (an absolute path is expected: no PATH search).
    /// A refused input (here: an empty `exe` or one containing NUL, EINVAL)
    /// is recorded and returned by [`spawn`](Self::spawn) or
    /// [`refused`](Self::refused); the setters that check their input say
    /// which.
    pub(crate) fn new(exe: &[u8]) -> Spawn {
        Spawn { exe: CPath::checked(exe, "executable path"), argv: Vec::new(), env: Vec::new(), pid_keys: Vec::new(), fds: Vec::new(), report: None, detach: false, fork_only: false, own_group: false, setup: ChildSetup::default(), failed: None }
    }

    /// The first input a setter refused, if any (for a caller that must not
    /// go on to open or send anything once an input is bad).
    pub(crate) fn refused(&self) -> Result<()> {
        match self.exe_if_accepted() {
            Ok(_) => Ok(()),
            Err(e) => Err(*e),
        }
    }

    /// The executable path, if no input was refused (the path was first);
    /// the refusal by reference, copied once where it is returned.
    fn exe_if_accepted(&self) -> core::result::Result<&CPath, &Error> {
        match (&self.exe, &self.failed) {
            (Ok(exe), None) => Ok(exe),
            (Err(e), _) | (Ok(_), Some(e)) => Err(e),
        }
    }

    /// This program started again (re-exec daemonize, upgrade): `exe` with
    /// `argv` (`exe` alone as argv[0] when `argv` is empty), in the start-up
    /// environment without the protocol variables
    /// ([`env_inherit_scrubbed`](Self::env_inherit_scrubbed)).
    pub(crate) fn again(exe: &[u8], argv: &[Vec<u8>]) -> Spawn {
        let mut sp = Spawn::new(exe);
        if argv.is_empty() {
            sp.arg(exe);
        }
        for a in argv {
            sp.arg(a);
        }
        sp.env_inherit_scrubbed();
        sp
    }

    /// Record a refused input, unless an earlier one was (the first is reported).
    #[cold]
    #[inline(never)]
    pub(crate) fn refuse(&mut self, what: &str, shown: &[u8], why: &str) {
        if self.failed.is_none() {
            self.failed = Some(err!(EINVAL, "{}{}{}", crate::msg::Plain(what), crate::proto::addr::Shown(shown), crate::msg::Plain(why)));
        }
    }

    /// Append an argument. EINVAL if it contains NUL (recorded).
    pub(crate) fn arg(&mut self, a: &[u8]) -> &mut Self {
        match CPath::new(a) {
            Ok(c) => self.argv.push(c),
            Err(_) => self.refuse("argument ", a, " contains NUL"),
        }
        self
    }

    /// Start the environment from the start-up snapshot, without the variables
    /// of the fd-passing protocols (LISTEN_*, SERVER_STARTER_*, GRACEFD_*,
    /// WATCHDOG_PID): those describe *our* fds and pid, not the child's.
    pub(crate) fn env_inherit_scrubbed(&mut self) -> &mut Self {
        let s = crate::startup::get();
        for e in &s.env {
            if is_protocol_var(e) {
                continue;
            }
            let mut v = e.clone();
            v.push(0);
            self.env.push(v);
        }
        self
    }

    /// Set `key=value`, replacing an existing `key` (also one set by
    /// [`env_child_pid_ours`](Self::env_child_pid_ours)). EINVAL if the key is empty
    /// or contains '=' or NUL, or the value contains NUL (recorded).
    pub(crate) fn env_set(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        if !self.key_ok(key) {
            return self;
        }
        if value.contains(&0) {
            self.refuse("environment value for ", key, " contains NUL");
            return self;
        }
        self.env_set_unchecked(key, value)
    }

    fn env_set_unchecked(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.env_remove(key);
        let mut v = Vec::with_capacity(key.len() + value.len() + 2);
        v.extend_from_slice(key);
        v.push(b'=');
        v.extend_from_slice(value);
        v.push(0);
        self.env.push(v);
        self
    }

    /// [`env_set`](Self::env_set) for a variable of gracefd's own, whose key
    /// is a constant and whose value is a number (in decimal): nothing to
    /// check, no error to carry out, and the digits made here rather than at
    /// every call.
    pub(crate) fn env_set_ours(&mut self, key: &'static [u8], n: u64) -> &mut Self {
        debug_assert!(key_is_valid(key));
        let mut digits = [0u8; 20];
        self.env_set_unchecked(key, crate::proto::num::fmt_u64(n, &mut digits))
    }

    /// Set a whole `KEY=VALUE` entry (as given by a user). EINVAL without
    /// '=' (recorded), or as [`env_set`](Self::env_set).
    pub(crate) fn env_put(&mut self, entry: &[u8]) -> &mut Self {
        match entry.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let (k, v) = entry.split_at(eq);
                self.env_set(k, v.get(1..).unwrap_or(&[]))
            }
            None => {
                self.refuse("environment entry ", entry, " has no '='");
                self
            }
        }
    }

    /// Remove `key` from the child's environment (also a pid slot).
    pub(crate) fn env_remove(&mut self, key: &[u8]) -> &mut Self {
        // Index loops rather than two `retain`s: one removal routine for both
        // vectors (each `retain` is its own instantiated code).
        for (list, entry) in [(&mut self.env, true), (&mut self.pid_keys, false)] {
            let mut i = 0;
            while let Some(e) = list.get(i) {
                if if entry { has_key(e, key) } else { e.as_slice() == key } {
                    list.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        self
    }


    /// Whether `key` may name a variable; records the refusal if not.
    fn key_ok(&mut self, key: &[u8]) -> bool {
        let ok = key_is_valid(key);
        if !ok {
            self.refuse("environment key ", key, " is empty or contains '=' or NUL");
        }
        ok
    }

    /// Set `key=<the child's own pid>`, filled in by the child, replacing an
    /// existing `key`: for gracefd's own constant keys (`LISTEN_PID`,
    /// `WATCHDOG_PID`), so nothing to check. For `LISTEN_PID` the child also
    /// gets `LISTEN_PIDFDID` where the kernel has pidfs.
    pub(crate) fn env_child_pid_ours(&mut self, key: &'static [u8]) -> &mut Self {
        debug_assert!(key_is_valid(key));
        self.env_remove(key);
        self.pid_keys.push(key.to_vec());
        self
    }

    /// Pass `fd` to the child; returns the fd number it will have there (3, 4, …
    /// in call order). The fd stays owned by the caller.
    pub(crate) fn pass_fd(&mut self, f: RawFd) -> RawFd {
        self.fds.push(f);
        2 + self.fds.len() as RawFd
    }

    /// Pass every registered fd (fresh duplicates, in registry order) at 3…
    /// and set `LISTEN_FDS` to their count: systemd's format, so the child
    /// inherits them. Returns the duplicates, to hold until the child is
    /// started, and their names joined by `:` (for `LISTEN_FDNAMES`).
    pub(crate) fn pass_registered_fds(&mut self) -> Result<(Vec<Exported>, Vec<u8>)> {
        let exported = crate::registry::export_for_child()?;
        let mut names: Vec<u8> = Vec::new();
        for (i, x) in exported.iter().enumerate() {
            if i > 0 {
                names.push(b':');
            }
            names.extend_from_slice(&x.name);
            self.pass_fd(x.fd.raw());
        }
        self.env_set_ours(b"LISTEN_FDS", exported.len() as u64);
        Ok((exported, names))
    }

    /// The lineage's fds, after the others: `report` as the report channel
    /// ([`pass_report_fd`](Self::pass_report_fd)) named by
    /// `GRACEFD_READY_FD`, and the pid file's fd, if any, named by
    /// `GRACEFD_PIDFILE_FD`.
    pub(crate) fn pass_lineage_fds(&mut self, report: RawFd, pid_file: Option<RawFd>) -> &mut Self {
        let slot = self.pass_report_fd(report);
        self.env_set_ours(b"GRACEFD_READY_FD", slot as u64);
        if let Some(pf) = pid_file {
            let slot = self.pass_fd(pf);
            self.env_set_ours(b"GRACEFD_PIDFILE_FD", slot as u64);
        }
        self
    }

    /// Pass `f` and make it the channel on which a failed exec is reported.
    pub(crate) fn pass_report_fd(&mut self, f: RawFd) -> RawFd {
        self.report = Some(self.fds.len());
        self.pass_fd(f)
    }

    /// Start the child detached (daemonize's re-exec mode): the first child
    /// (the middle process) calls `setsid()` and starts the real child as its
    /// *sibling* (`CLONE_PARENT`: our child, not the middle's), sends its pid
    /// on the report channel (a `Pid` frame) and exits. The real child lays
    /// out the fds, fills the pid slots and execs; it runs in a new session
    /// without being its leader (it can never acquire a controlling
    /// terminal). [`spawn`](Self::spawn) then returns the middle process's
    /// pid, to be reaped. Needs a report fd ([`pass_report_fd`](Self::pass_report_fd)):
    /// a failed setsid or clone is reported on it like a failed exec.
    pub(crate) fn detach(&mut self) -> &mut Self {
        self.detach = true;
        self
    }

    /// What the child applies to itself before exec (parent-death signal,
    /// user switch), with raw system calls only (it may share our memory).
    /// A failure is reported like a failed exec. With
    /// [`detach`](Self::detach) it applies in the detached child, whose
    /// parent is the caller only until the caller exits: a parent-death
    /// signal there is refused by [`spawn`](Self::spawn) (`EINVAL`).
    pub(crate) fn child_setup(&mut self, setup: ChildSetup) -> &mut Self {
        APPLY_SETUP.install(&APPLY);
        self.setup = setup;
        self
    }

    /// The child leads a new process group (`setpgid(0, 0)` before exec),
    /// so that what it forks can be stopped with it ([`end_group`]) when it
    /// fails: the workers of a prefork master that died are not our
    /// children, and would keep the inherited sockets. A failure is
    /// reported like a failed exec.
    pub(crate) fn own_group(&mut self) -> &mut Self {
        self.own_group = true;
        self
    }

    /// Start with fork even where the vfork-style clone would work (the
    /// tests run every child path both ways).
    #[cfg(test)]
    pub(crate) fn fork_only(&mut self) -> &mut Self {
        self.fork_only = true;
        self
    }

    /// Start the child. Returns its pid (detached: the middle process's).
    /// The parent's signal mask is preserved; the child starts with an empty
    /// mask and default dispositions. Errors: the first input a setter
    /// refused (see [`new`](Self::new)); EINVAL for a detached start
    /// without a report fd or with a parent-death signal (the daemon would
    /// die with the caller it was detached from); ENOMEM/EAGAIN (stack, process limits) or
    /// whatever blocking signals or fork fail with. A failed exec is not an
    /// error here: it is reported on the report channel.
    pub(crate) fn spawn(&mut self) -> Result<Pid> {
        Ok(self.spawn_path()?.0)
    }

    /// [`spawn`](Self::spawn), also saying which way the child was started.
    pub(crate) fn spawn_path(&mut self) -> Result<(Pid, Path)> {
        let exe = match self.exe_if_accepted() {
            Ok(exe) => exe,
            Err(e) => return Err(*e),
        };
        if self.detach && self.report.is_none() {
            return Err(err!(EINVAL, "a detached start needs a report fd"));
        }
        if self.detach && self.own_group {
            return Err(err!(EINVAL, "a detached start cannot lead its own process group (it leads a session)"));
        }
        if self.detach && self.setup.death_signal.is_some() {
            return Err(err!(EINVAL, "a detached start cannot ask for a parent-death signal (the daemon would die with its launcher)"));
        }
        let started = time::monotonic_ns();
        // --- everything the child needs, built now, for this start only ---
        // (Plain loops rather than iterator chains: each `collect` is its own
        // instantiated code, and this function is in every program that upgrades.)
        let wants_pidfdid = self.pid_keys.iter().any(|k| k.as_slice() == b"LISTEN_PID");
        // The pid slots, then the LISTEN_PIDFDID slot (last, see Plan::pidfd_slot).
        let mut slots: Vec<Vec<u8>> = Vec::with_capacity(self.pid_keys.len() + 1);
        for k in self.pid_keys.iter().map(Vec::as_slice).chain(wants_pidfdid.then_some(PIDFDID)) {
            slots.push(slot_entry(k));
        }
        let mut argv_ptrs: Vec<*const c_char> = Vec::with_capacity(self.argv.len() + 1);
        for a in &self.argv {
            argv_ptrs.push(a.as_ptr() as *const c_char);
        }
        argv_ptrs.push(core::ptr::null());
        let mut envp: Vec<*const c_char> = Vec::with_capacity(self.env.len() + slots.len() + 1);
        for e in &self.env {
            if !(wants_pidfdid && has_key(e, PIDFDID)) {
                envp.push(e.as_ptr() as *const c_char);
            }
        }
        // The child writes its slots through these pointers, and execve reads
        // the entries through the same ones: derived once from each buffer.
        let mut pid_slots: Vec<*mut u8> = Vec::with_capacity(slots.len());
        for s in slots.iter_mut() {
            let base = s.as_mut_ptr();
            envp.push(base as *const c_char);
            // SAFETY: slot_entry made the value SLOT_WIDTH bytes right after `key=`.
            pid_slots.push(unsafe { base.add(s.len() - 1 - SLOT_WIDTH) });
        }
        let pidfd_slot = if wants_pidfdid { pid_slots.pop().map(|p| (p, envp.len() - 1)) } else { None };
        envp.push(core::ptr::null());
        let mut scratch: Vec<RawFd> = alloc::vec![-1; self.fds.len()];
        // A child that switches user must not share our memory: the kernel
        // marks the memory of a process whose uid changes non-dumpable, and
        // that memory would be ours (we would stay non-dumpable for good).
        let fast = !self.fork_only && self.setup.creds.is_none() && crate::startup::get().var(b"GRACEFD_SPAWN") != Some(b"fork");
        // The child's stack, and the detached child's (the middle process
        // clones it from there, or from its own copy after a fork).
        let mut stack = if fast { Some(ChildStack::new()) } else { None };
        let mut sibling_stack = if self.detach { ChildStack::new().ok() } else { None };
        let mut plan = Plan {
            exe: exe.as_ptr() as *const c_char,
            argv: argv_ptrs.as_ptr(),
            envp: envp.as_mut_ptr(),
            fds: &self.fds,
            scratch: &mut scratch,
            report: self.report.and_then(|i| Some((*self.fds.get(i)?, 3 + i as RawFd))),
            first_free: 3 + self.fds.len() as RawFd,
            pid_slots: &pid_slots,
            pidfd_slot,
            detach: None,
            setup: &self.setup,
            apply: APPLY_SETUP.get(),
            own_group: self.own_group,
        };
        if self.detach {
            match sibling_stack.as_mut() {
                Some(s) => plan.detach = Some((s, fast)),
                None => return Err(err!(ENOMEM, "no stack for the detached child")),
            }
        }

        let old_mask = signal::block_all().map_err(|e| Error::sys(e, "block signals before starting a child"))?;
        let mut path = Path::Fork(0);
        let mut pid = Err(Errno(0));
        if let Some(first) = &mut stack {
            match first {
                Ok(stack) => {
                    // SAFETY: `child::entry` follows the child rules; `plan`
                    // and the buffers it points into live until the child has
                    // exec'd or exited, which clone_vfork waits for.
                    pid = unsafe { clone::clone_vfork(stack, Parent::Caller, child::entry, &mut plan as *mut Plan<'_> as *mut c_void) };
                    match pid {
                        Ok(_) => path = Path::Clone,
                        Err(e) => path = Path::Fork(e.0),
                    }
                }
                Err(e) => path = Path::Fork(e.0),
            }
        }
        if path != Path::Clone {
            // SAFETY: the child below only makes async-signal-safe calls on
            // data prepared above (its own copy of it).
            pid = match unsafe { process::fork() } {
                Ok(0) => child::start(&mut plan),
                other => other,
            };
        }
        let _ = signal::set_mask(&old_mask);
        let pid = pid.map_err(|e| Error::sys(e, "fork"))?;
        let us = time::monotonic_ns().saturating_sub(started) / 1000;
        log!(log::INFO, "spawn: started pid {} with {} in {} us", pid, path, us);
        // The buffers the child wrote into and exec read from go only now.
        drop(slots);
        Ok((pid, path))
    }
}

/// `key=` followed by SLOT_WIDTH blanks and a NUL: the child writes the value.
fn slot_entry(key: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(key.len() + SLOT_WIDTH + 2);
    v.extend_from_slice(key);
    v.push(b'=');
    v.resize(key.len() + 1 + SLOT_WIDTH, b' ');
    v.push(0);
    v
}

fn has_key(entry: &[u8], key: &[u8]) -> bool {
    entry.starts_with(key) && entry.get(key.len()) == Some(&b'=')
}

use crate::error::Error;

fn key_is_valid(key: &[u8]) -> bool {
    !(key.is_empty() || key.contains(&b'=') || key.contains(&0))
}

/// Why an entry cannot be added to a started program's environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnvProblem {
    /// No '='.
    NoEquals,
    /// An empty KEY.
    EmptyKey,
    /// A NUL byte (the program would see a shorter entry).
    Nul,
    /// A variable gracefd sets itself.
    Ours,
}

impl EnvProblem {
    /// The reason after "environment entry X ...".
    pub(crate) fn describe(self) -> &'static str {
        match self {
            EnvProblem::NoEquals | EnvProblem::EmptyKey => "is not KEY=VALUE",
            EnvProblem::Nul => "contains NUL",
            EnvProblem::Ours => "is set by gracefd itself",
        }
    }
}

/// Whether `kv` may go into the environment of a program gracefd starts:
/// `KEY=VALUE` with a non-empty KEY and no NUL, and none of the variables
/// gracefd sets itself ([`is_protocol_var`]; `NOTIFY_SOCKET` too where
/// `notify_is_ours`: the starter gives the program its own).
pub(crate) fn env_entry_problem(kv: &[u8], notify_is_ours: bool) -> Option<EnvProblem> {
    match kv.iter().position(|&b| b == b'=') {
        None => Some(EnvProblem::NoEquals),
        Some(0) => Some(EnvProblem::EmptyKey),
        Some(_) if kv.contains(&0) => Some(EnvProblem::Nul),
        Some(_) if is_protocol_var(kv) || (notify_is_ours && kv.starts_with(b"NOTIFY_SOCKET=")) => Some(EnvProblem::Ours),
        Some(_) => None,
    }
}

/// Variables that describe the current process's inherited fds and pid, and
/// so must never be passed on as they are (every spawner sets its own).
/// `GRACEFD_SPAWN` is passed on: it is a setting.
pub fn is_protocol_var(entry: &[u8]) -> bool {
    // A setting, not a description of our fds: children start the same way.
    if entry.starts_with(b"GRACEFD_SPAWN=") {
        return false;
    }
    // One string of NUL-terminated prefixes rather than an array of slices:
    // no pointer per prefix to relocate at load time.
    const PREFIXES: &[u8] = b"LISTEN_PID=\0LISTEN_PIDFDID=\0LISTEN_FDS=\0LISTEN_FDNAMES=\0\
        SERVER_STARTER_PORT=\0SERVER_STARTER_GENERATION=\0WATCHDOG_PID=\0GRACEFD_\0=\0";
    let mut start = 0;
    for (at, &b) in PREFIXES.iter().enumerate() {
        if b == 0 {
            if entry.starts_with(PREFIXES.get(start..at).unwrap_or(&[])) {
                return true;
            }
            start = at + 1;
        }
    }
    false
}

/// Stop our child `pid`, started with [`Spawn::own_group`], together with
/// what is in its process group: `sig` to the whole group at once, up to
/// `grace_ms` in all for the child to exit and the group to empty, then
/// SIGKILL to the group; the child is reaped, and so are the members that
/// are our children (we are their subreaper), or they would stay in the
/// group as zombies. One grace for everyone, not one after the other.
///
/// The group is signalled only while its number cannot be anyone else's:
/// before the child is reaped (its pid, and so the group's number, is still
/// taken), and after that only while the group has members (a number is
/// not handed out again while a group holds it). A child that is not ours
/// to reap (reaped elsewhere: an ignored SIGCHLD, another `waitpid(-1)`)
/// gets no group signal once that is seen: its number may be another's.
/// Returns how the child ended (`None` if it was not ours to reap) and
/// whether the group had members left after it.
pub(crate) fn stop_led_group(pid: Pid, sig: i32, grace_ms: i64) -> (Option<process::Exit>, bool) {
    let deadline = crate::sys::time::Deadline::after_ms(grace_ms);
    // Not reaped yet: number `pid` is the child's.
    let _ = process::signal_led_group(pid, sig);
    let exit = match process::exit_within(pid, None, deadline) {
        Ok(Some(x)) => x,
        Ok(None) => {
            let _ = process::signal_led_group(pid, libc::SIGKILL);
            // SIGKILL cannot be ignored: bounded.
            match process::wait(pid) {
                Ok(x) => x,
                Err(_) => return (None, false),
            }
        }
        Err(_) => return (None, false),
    };
    (Some(exit), rest_of_group(pid, deadline))
}

/// Stop what is left in process group `pgid` whose leader, our child,
/// ended as `leader` ([`stop_led_group`] when it had already exited): `sig`,
/// up to `grace_ms`, then SIGKILL. Nothing is signalled when the leader was
/// not reaped here ([`process::Exit::NOT_OURS`]): the number may be
/// another's by now. Returns whether the group had anyone left.
pub(crate) fn end_group(pgid: Pid, leader: process::Exit, sig: i32, grace_ms: i64) -> bool {
    if !leader.reaped_here() || process::signal_group_awake(pgid, sig).is_err() {
        return false;
    }
    let _ = rest_of_group(pgid, crate::sys::time::Deadline::after_ms(grace_ms));
    true
}

/// The group's leader is reaped: wait until `deadline` for its members (if
/// any; they were signalled) to go, then SIGKILL them and wait 0.1 s more.
/// Returns whether it had any.
fn rest_of_group(pgid: Pid, deadline: crate::sys::time::Deadline) -> bool {
    if group_gone_by(pgid, deadline) {
        return false;
    }
    // Members: the number stays theirs while they are there.
    let _ = process::kill_group(pgid, libc::SIGKILL);
    // Bounded: a member that is not ours stays in the group until its
    // reaper takes it, which is not for us to wait for.
    let _ = group_gone_by(pgid, crate::sys::time::Deadline::after_ms(100));
    true
}

/// Whether group `pgid` is empty by `deadline`, reaping the members that
/// are our children meanwhile.
fn group_gone_by(pgid: Pid, deadline: crate::sys::time::Deadline) -> bool {
    loop {
        while let Ok(Some(_)) = process::try_wait(-pgid) {}
        if process::group_is_empty(pgid) {
            return true;
        }
        if deadline.expired() {
            return false;
        }
        crate::sys::time::sleep_ms(2);
    }
}
