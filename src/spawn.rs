//! Starting a child the fork-safe way: everything (exe path, argv, envp,
//! the fd plan, pid slots) is built before `fork`; the child then makes only
//! async-signal-safe calls: reset signals, lay the fds out at 3.., close
//! everything else, write its own pid into the prepared env slots, `execve`.
//! If exec fails the child reports errno on its readiness channel and `_exit(127)`s.
//!
//! Used by the upgrade (new generation), the re-exec daemonize mode and the
//! superdaemon (workers).

use alloc::vec::Vec;
use core::ffi::c_char;

use crate::child_setup::ChildSetup;
use crate::err;
use crate::error::Result;
use crate::proto::ready::{self, Kind};
use crate::registry::Exported;
use crate::sys::fd::RawFd;
use crate::sys::process::{self, Pid};
use crate::sys::{fd, signal, socket, Errno};

/// Width reserved in a pid slot: enough for any pid_t.
const PID_SLOT_WIDTH: usize = 20;

/// A child process to start.
pub struct Spawn {
    exe: Vec<u8>,
    argv: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    pid_slots: Vec<usize>,
    fds: Vec<RawFd>,
    report: Option<usize>,
    detach: Option<Watch>,
    /// Parent-death signal, user switch (see `child_setup.rs`).
    setup: ChildSetup,
}

/// What the middle process of a detached start runs: `(grandchild pid, the
/// report fd)`. It must only make async-signal-safe calls and never return.
pub type Watch = fn(Pid, RawFd) -> !;

impl Spawn {
    /// A child running `exe` (an absolute path is expected: no PATH search).
    /// EINVAL if it is empty or contains NUL.
    pub fn new(exe: &[u8]) -> Result<Spawn> {
        Ok(Spawn { exe: cstring(exe, "executable path")?, argv: Vec::new(), env: Vec::new(), pid_slots: Vec::new(), fds: Vec::new(), report: None, detach: None, setup: ChildSetup::default() })
    }

    /// Append an argument. EINVAL if it contains NUL.
    pub fn arg(&mut self, a: &[u8]) -> Result<&mut Self> {
        self.argv.push(cstring_allow_empty(a, "argument")?);
        Ok(self)
    }

    /// Start the environment from the start-up snapshot, without the variables
    /// of the fd-passing protocols (LISTEN_*, SERVER_STARTER_*, GRACEFD_*,
    /// WATCHDOG_PID): those describe *our* fds and pid, not the child's.
    pub fn env_inherit_scrubbed(&mut self) -> &mut Self {
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

    /// Set `key=value`, replacing an existing `key`. EINVAL if the key is empty
    /// or contains '=' or NUL, or the value contains NUL.
    pub fn env_set(&mut self, key: &[u8], value: &[u8]) -> Result<&mut Self> {
        check_key(key)?;
        if value.contains(&0) {
            return Err(err!(EINVAL, "environment value for {} contains NUL", crate::proto::addr::Shown(key)));
        }
        self.env_remove(key);
        let mut v = Vec::with_capacity(key.len() + value.len() + 2);
        v.extend_from_slice(key);
        v.push(b'=');
        v.extend_from_slice(value);
        v.push(0);
        self.env.push(v);
        Ok(self)
    }

    /// Set a whole `KEY=VALUE` entry (as given by a user). EINVAL without '='.
    pub fn env_put(&mut self, entry: &[u8]) -> Result<&mut Self> {
        let eq = entry
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| err!(EINVAL, "environment entry {} has no '='", crate::proto::addr::Shown(entry)))?;
        let (k, v) = entry.split_at(eq);
        self.env_set(k, v.get(1..).unwrap_or(&[]))
    }

    /// Remove `key` from the child's environment.
    pub fn env_remove(&mut self, key: &[u8]) -> &mut Self {
        self.env.retain(|e| !(e.starts_with(key) && e.get(key.len()) == Some(&b'=')));
        self
    }

    /// Set `key=<the child's own pid>`, filled in after fork (e.g. LISTEN_PID).
    pub fn env_child_pid(&mut self, key: &[u8]) -> Result<&mut Self> {
        let blank = [b' '; PID_SLOT_WIDTH];
        self.env_set(key, &blank)?;
        self.pid_slots.push(self.env.len() - 1);
        Ok(self)
    }

    /// Pass `fd` to the child; returns the fd number it will have there (3, 4, …
    /// in call order). The fd stays owned by the caller.
    pub fn pass_fd(&mut self, f: RawFd) -> RawFd {
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
        let mut digits = [0u8; 20];
        self.env_set(b"LISTEN_FDS", crate::proto::num::fmt_u64(exported.len() as u64, &mut digits))?;
        Ok((exported, names))
    }

    /// Pass `f` and make it the channel on which a failed exec is reported.
    pub fn pass_report_fd(&mut self, f: RawFd) -> RawFd {
        self.report = Some(self.fds.len());
        self.pass_fd(f)
    }

    /// Start the child detached (daemonize's re-exec mode): the forked child
    /// calls `setsid()` and forks once more; the grandchild lays out the fds,
    /// fills the pid slots with its own pid and execs, so it runs in a new
    /// session without being its leader (it can never acquire a controlling
    /// terminal); the middle process runs `watch(grandchild, report fd)` and
    /// must never return. [`spawn`](Self::spawn) then returns the middle
    /// process's pid. Needs a report fd ([`pass_report_fd`](Self::pass_report_fd)):
    /// a failed setsid or fork is reported on it like a failed exec.
    pub fn detach(&mut self, watch: Watch) -> &mut Self {
        self.detach = Some(watch);
        self
    }

    /// What the child applies to itself before exec (parent-death signal,
    /// user switch). A failure is reported like a failed exec. With
    /// [`detach`](Self::detach) it applies in the grandchild, whose parent
    /// is the middle process: do not ask for a parent-death signal there.
    pub fn child_setup(&mut self, setup: ChildSetup) -> &mut Self {
        self.setup = setup;
        self
    }

    /// Fork and exec. Returns the child's pid. The parent's signal mask is
    /// preserved; the child starts with an empty mask and default dispositions.
    pub fn spawn(&mut self) -> Result<Pid> {
        // --- everything the child needs, built now ---
        let argv_ptrs = ptr_array(&mut self.argv);
        let env_ptrs = ptr_array(&mut self.env);
        // The pid slots are written by the child through the same raw pointers
        // execve reads (derived from one mutable borrow, so no aliasing).
        let slots: Vec<(*mut u8, usize)> = self
            .pid_slots
            .iter()
            .filter_map(|&i| {
                let p = *env_ptrs.get(i)? as *mut u8;
                let len = self.env.get(i)?.len();
                Some((p, len - 1 - PID_SLOT_WIDTH))
            })
            .collect();
        let mut scratch: Vec<RawFd> = alloc::vec![-1; self.fds.len()];
        let report_src = self.report.and_then(|i| self.fds.get(i).copied());
        let report_dst = self.report.map(|i| 3 + i as RawFd);
        let first_free = 3 + self.fds.len() as RawFd;
        let mut frame = [0u8; ready::FRAME_MAX];

        let old_mask = signal::block_all().map_err(|e| Error::sys(e, "block signals before fork"))?;
        // SAFETY: the child below only makes async-signal-safe calls on data prepared above.
        let pid = match unsafe { process::fork() } {
            Ok(p) => p,
            Err(e) => {
                let _ = signal::set_mask(&old_mask);
                return Err(Error::sys(e, "fork"));
            }
        };
        if pid == 0 {
            // ---- child: async-signal-safe only ----
            signal::reset_all_dispositions();
            let _ = signal::unblock_all();
            let mut report_fd = report_src;
            let mut res = Ok(());
            if let (Some(watch), Some(r)) = (self.detach, report_src) {
                res = process::setsid().map(|_| ());
                if res.is_ok() {
                    // SAFETY: still only async-signal-safe calls on both sides
                    // (a raw fork: no atfork handlers in this child of a
                    // possibly multi-threaded process).
                    match unsafe { process::fork_raw() } {
                        Ok(0) => {}
                        Ok(grandchild) => watch(grandchild, r),
                        Err(e) => res = Err(e),
                    }
                }
            }
            if res.is_ok() {
                res = self.setup.apply();
            }
            if res.is_ok() {
                res = fd::dup_into_slots(&self.fds, 3, &mut scratch);
            }
            if res.is_ok() {
                report_fd = report_dst;
                fd::close_from(first_free);
                let me = process::getpid();
                let mut digits = [0u8; 20];
                let d = crate::proto::num::fmt_u64(me as u64, &mut digits);
                for (p, off) in slots.iter() {
                    // SAFETY: each slot is PID_SLOT_WIDTH writable bytes inside an env
                    // entry of this (copy-on-write) child's memory; d.len() <= 20; the
                    // trailing bytes become NULs so the value is exactly the digits.
                    unsafe {
                        let base = p.add(*off);
                        core::ptr::copy_nonoverlapping(d.as_ptr(), base, d.len());
                        core::ptr::write_bytes(base.add(d.len()), 0, PID_SLOT_WIDTH - d.len());
                    }
                }
                // SAFETY: NUL-terminated strings and NULL-terminated arrays built above.
                let e = unsafe { process::execve(self.exe.as_ptr() as *const c_char, argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
                res = Err(e);
            }
            if let (Err(e), Some(r)) = (res, report_fd) {
                let n = ready::encode(Kind::ExecFailed, e.0, b"", &mut frame);
                let _ = socket::send(r, frame.get(..n).unwrap_or(&[]), 0);
            }
            process::exit_now(127);
        }
        let _ = signal::set_mask(&old_mask);
        Ok(pid)
    }
}

use crate::error::Error;

fn cstring(s: &[u8], what: &str) -> Result<Vec<u8>> {
    if s.is_empty() {
        return Err(err!(EINVAL, "{} is empty", what));
    }
    cstring_allow_empty(s, what)
}

fn cstring_allow_empty(s: &[u8], what: &str) -> Result<Vec<u8>> {
    if s.contains(&0) {
        return Err(err!(EINVAL, "{} {} contains NUL", what, crate::proto::addr::Shown(s)));
    }
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s);
    v.push(0);
    Ok(v)
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() || key.contains(&b'=') || key.contains(&0) {
        return Err(err!(EINVAL, "environment key {} is empty or contains '=' or NUL", crate::proto::addr::Shown(key)));
    }
    Ok(())
}

fn ptr_array(v: &mut [Vec<u8>]) -> Vec<*const c_char> {
    let mut p: Vec<*const c_char> = v.iter_mut().map(|s| s.as_mut_ptr() as *const c_char).collect();
    p.push(core::ptr::null());
    p
}

/// Variables that describe the current process's inherited fds and pid, and
/// so must never be passed on as they are (every spawner sets its own).
pub fn is_protocol_var(entry: &[u8]) -> bool {
    const PREFIXES: [&[u8]; 8] = [
        b"LISTEN_PID=",
        b"LISTEN_FDS=",
        b"LISTEN_FDNAMES=",
        b"SERVER_STARTER_PORT=",
        b"SERVER_STARTER_GENERATION=",
        b"WATCHDOG_PID=",
        b"GRACEFD_",
        b"=",
    ];
    PREFIXES.iter().any(|p| entry.starts_with(p))
}

/// Send `sig` to `pid`, wait up to `grace_ms` for it to exit, then SIGKILL and
/// reap. Never leaves a zombie. Returns how it ended.
pub fn kill_and_reap(pid: Pid, sig: i32, grace_ms: i64) -> Option<process::Exit> {
    let _ = process::kill(pid, sig);
    let deadline = crate::sys::time::Deadline::after_ms(grace_ms);
    loop {
        match process::try_wait(pid) {
            Ok(Some(x)) => return Some(x),
            Ok(None) => {}
            Err(Errno(libc::ECHILD)) => return None,
            Err(_) => break,
        }
        if deadline.expired() {
            break;
        }
        crate::sys::time::sleep_ms(2);
    }
    let _ = process::kill(pid, libc::SIGKILL);
    process::wait(pid).ok()
}
