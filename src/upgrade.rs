//! Zero-downtime upgrade: start the new generation with the very same
//! sockets, wait until it says it is ready, and only then let the caller
//! drain and leave. If the new generation fails in any way it is killed and
//! reaped and the caller goes on serving: nothing was closed, so nothing was
//! lost (docs/upgrade.md).

use alloc::vec::Vec;

use crate::error::Result;
use crate::ready::{self, Outcome};
use crate::spawn::{self, Spawn};
use crate::sync::Mutex;
use crate::sys::fd::{Fd, RawFd};
use crate::sys::process::{self, Pid};
use crate::sys::time::{self, Deadline};
use crate::{err, lineage, log, startup};

/// Default time the new generation has to become ready: 60 s, also the
/// default `--ready-timeout` of `gracefd run` (a new worker is a new
/// generation). Long enough for a slow start (JIT, cache warm-up,
/// migrations); bounded because upgrades are serialized, so a hung new
/// generation would hold every later one; and below systemd's default start
/// timeout (90 s), so a first start that never comes up is reported, not
/// just killed. Longer than the daemonize default
/// ([`crate::daemon::DEFAULT_TIMEOUT_MS`], 30 s): nobody's shell is waiting,
/// and the old generation goes on serving meanwhile.
pub const DEFAULT_TIMEOUT_MS: i64 = 60_000;
/// How long a new generation that failed gets to exit after the kill signal
/// before SIGKILL.
const KILL_GRACE_MS: i64 = 2_000;

/// Upgrade options (the C handle wraps this).
#[derive(Clone)]
pub struct UpgradeOptions {
    /// Executable; default: the absolute path recorded at start-up.
    pub exe: Option<Vec<u8>>,
    /// Full argv (`argv[0]` included); default: our own start-up argv.
    pub argv: Option<Vec<Vec<u8>>>,
    /// Extra `KEY=VALUE` entries (override inherited ones).
    pub env: Vec<Vec<u8>>,
    /// Readiness timeout in ms; negative = wait forever.
    pub timeout_ms: i64,
    /// Signal sent to a new generation that failed readiness.
    pub kill_signal: i32,
    /// Probation: after the new generation reported ready, it must stay up
    /// this long (ms) before the upgrade succeeds; 0 = none.
    pub settle_ms: u64,
}

/// Longest settle time accepted (one hour).
pub(crate) const MAX_SETTLE_MS: i64 = 3_600_000;

impl Default for UpgradeOptions {
    fn default() -> Self {
        UpgradeOptions { exe: None, argv: None, env: Vec::new(), timeout_ms: DEFAULT_TIMEOUT_MS, kill_signal: libc::SIGTERM, settle_ms: 0 }
    }
}

/// The checked setters both faces use (the C handle and the Rust builder).
impl UpgradeOptions {
    /// Run `path` instead of the recorded executable. `EINVAL` unless it is
    /// an absolute path (a relative one would depend on the working directory
    /// at upgrade time, the very thing the recorded path avoids).
    pub(crate) fn set_exe(&mut self, path: &[u8]) -> Result<()> {
        if path.first() != Some(&b'/') || path.contains(&0) {
            return Err(err!(EINVAL, "executable path {} is not absolute", crate::proto::addr::Shown(path)));
        }
        self.exe = Some(path.to_vec());
        Ok(())
    }

    /// Add `KEY=VALUE` to the new generation's environment. `EINVAL` for no
    /// '=', an empty key, a NUL, or a variable gracefd sets itself
    /// (`LISTEN_*`, `SERVER_STARTER_*`, `GRACEFD_*`, `WATCHDOG_PID`).
    pub(crate) fn add_env(&mut self, kv: &[u8]) -> Result<()> {
        if let Some(p) = spawn::env_entry_problem(kv, false) {
            return Err(err!(EINVAL, "environment entry {} {}", crate::proto::addr::Shown(kv), p.describe()));
        }
        self.env.push(kv.to_vec());
        Ok(())
    }

    /// How long the new generation has to report ready, in ms (negative: no
    /// limit). `EINVAL` for 0: it would fail every upgrade before the new
    /// generation could start.
    pub(crate) fn set_timeout_ms(&mut self, ms: i64) -> Result<()> {
        if ms == 0 {
            return Err(err!(EINVAL, "upgrade readiness timeout 0 ms would fail every upgrade (negative: no limit)"));
        }
        self.timeout_ms = ms;
        Ok(())
    }

    /// Run the new generation with exactly this argv (`argv[0]` included).
    /// `EINVAL` if it is empty (a program needs at least `argv[0]`) or an
    /// entry contains NUL.
    pub(crate) fn set_argv(&mut self, argv: Vec<Vec<u8>>) -> Result<()> {
        if argv.is_empty() {
            return Err(err!(EINVAL, "argv is empty: it needs at least argv[0]"));
        }
        if let Some(i) = argv.iter().position(|a| a.contains(&0)) {
            return Err(err!(EINVAL, "argv[{}] contains NUL", i));
        }
        self.argv = Some(argv);
        Ok(())
    }

    /// The argv of the new generation from its parts: `arg0` (None: this
    /// process's own `argv[0]`, else the executable) and `args` (None: this
    /// process's own arguments after `argv[0]`). Both None: this process's
    /// own argv (the default). Call it after [`UpgradeOptions::set_exe`]:
    /// the executable is `argv[0]`'s last fallback. Same errors as
    /// [`UpgradeOptions::set_argv`].
    pub(crate) fn set_args(&mut self, arg0: Option<&[u8]>, args: Option<&[Vec<u8>]>) -> Result<()> {
        let s = crate::startup::get();
        let argv = match (arg0, args) {
            (None, None) => {
                self.argv = None;
                return Ok(());
            }
            (Some(a0), None) => core::iter::once(a0.to_vec()).chain(s.argv.iter().skip(1).cloned()).collect(),
            (arg0, Some(args)) => {
                let arg0 = match (arg0, &self.exe) {
                    (Some(a), _) => a.to_vec(),
                    (None, _) if !s.argv.is_empty() => s.argv.first().cloned().unwrap_or_default(),
                    (None, Some(exe)) => exe.clone(),
                    (None, None) => s.exe.clone(),
                };
                core::iter::once(arg0).chain(args.iter().cloned()).collect()
            }
        };
        self.set_argv(argv)
    }

    /// [`UpgradeOptions::add_env`] for a key and a value given apart. `EINVAL`
    /// also for a key with `=` (it would shift where the value starts).
    pub(crate) fn add_env_pair(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if key.contains(&b'=') {
            let (k, v) = (crate::proto::addr::Shown(key), crate::proto::addr::Shown(value));
            return Err(err!(EINVAL, "environment entry {}={} is not KEY=VALUE (the key contains '=')", k, v));
        }
        self.add_env(&[key, b"=", value].concat())
    }

    /// The signal for a new generation that failed readiness. `EINVAL`
    /// unless 1–64.
    pub(crate) fn set_kill_signal(&mut self, sig: i32) -> Result<()> {
        if !(1..=64).contains(&sig) {
            return Err(err!(EINVAL, "signal {} is not a signal number", sig));
        }
        self.kill_signal = sig;
        Ok(())
    }

    /// Probation: once the new generation reported ready, it must stay up
    /// `ms` more before the upgrade succeeds (the pid file and systemd's
    /// MAINPID move to it, the caller may drain). If it exits within that
    /// time the upgrade fails (ECHILD) and the caller goes on serving: for
    /// programs that report ready before they really are (gunicorn without
    /// `--preload`). 0 (the default) turns it off. `EINVAL` unless 0 to
    /// [`MAX_SETTLE_MS`].
    pub(crate) fn set_settle_ms(&mut self, ms: i64) -> Result<()> {
        if !(0..=MAX_SETTLE_MS).contains(&ms) {
            return Err(err!(EINVAL, "settle time {} ms is not from 0 to {} ms", ms, MAX_SETTLE_MS));
        }
        self.settle_ms = ms as u64;
        Ok(())
    }
}

struct InFlight {
    pid: Pid,
    waiter: Fd,
    /// Sees it die even while a process it forked holds `waiter` open
    /// (`process::pidfd`; `None` without pidfds).
    pidfd: Option<Fd>,
    deadline: Deadline,
    kill_signal: i32,
    started_ns: u64,
    settle_ms: u64,
    /// When it reported ready (its probation started).
    ready_ns: Option<u64>,
}

/// Where the probation of a ready new generation stands.
enum Settle {
    /// It stayed up the whole settle time.
    Done,
    /// Still within it (non-blocking finish).
    Waiting,
    /// It exited within it (already reaped).
    Exited(process::Exit),
}

/// The probation of a ready new generation: poll its exit until the settle
/// time has passed (with `block`), or look once.
#[inline(never)]
fn settle(f: &mut InFlight, block: bool) -> Settle {
    let now = time::monotonic_ns();
    let ready_ns = *f.ready_ns.get_or_insert_with(|| {
        let us = now.saturating_sub(f.started_ns) / 1000;
        log!(log::NOTICE, "upgrade: pid {} is ready after {} us", f.pid, us);
        if f.settle_ms > 0 {
            log!(log::INFO, "upgrade: pid {} must stay up {} ms (settle time) before it takes over", f.pid, f.settle_ms);
        }
        now
    });
    if f.settle_ms == 0 {
        // No probation: ready is ready (even if it has exited since).
        return Settle::Done;
    }
    let end = ready_ns.saturating_add(f.settle_ms.saturating_mul(1_000_000));
    loop {
        match process::try_wait(f.pid) {
            Ok(Some(x)) => return Settle::Exited(x),
            Ok(None) => {}
            // Not our child any more (reaped behind our back): gone all the same.
            Err(_) => return Settle::Exited(process::Exit::NOT_OURS),
        }
        let now = time::monotonic_ns();
        if now >= end {
            return Settle::Done;
        }
        if !block {
            return Settle::Waiting;
        }
        time::sleep_ms(((end - now) / 1_000_000).clamp(1, 10));
    }
}

struct State {
    flight: Option<InFlight>,
    /// Set while a blocking finish() waits with the flight taken out of the lock.
    busy: Option<Pid>,
}

static STATE: Mutex<State> = Mutex::new(State { flight: None, busy: None });

/// Start the new generation. Returns the fd to poll (readable when the new
/// generation reported, failed or died); it stays owned by the library.
///
/// Errors: EALREADY if an upgrade is in flight; EINVAL for bad options;
/// ENOENT if no executable path was recorded and none was given; whatever
/// exporting the registry, the socketpair or fork fail with.
pub fn start(opts: &UpgradeOptions) -> Result<RawFd> {
    let mut st = STATE.lock();
    if let Some(pid) = st.flight.as_ref().map(|f| f.pid).or(st.busy) {
        return Err(err!(EALREADY, "an upgrade is already in flight (new generation pid {})", pid));
    }
    let s = startup::get();
    let exe: &[u8] = match &opts.exe {
        Some(e) => e,
        None if !s.exe.is_empty() => &s.exe,
        None => return Err(err!(ENOENT, "no executable path was recorded at start-up; set one in the upgrade options")),
    };
    let argv: &[Vec<u8>] = match &opts.argv {
        Some(a) if !a.is_empty() => a,
        _ => &s.argv,
    };
    // The setters record a refused input; `refused` returns the first.
    let mut sp = Spawn::again(exe, argv);
    for e in &opts.env {
        // Checked by add_env; a caller filling `env` directly gets the same rule.
        if spawn::is_protocol_var(e) {
            sp.refuse("environment entry ", e, " is set by gracefd itself");
        } else {
            sp.env_put(e);
        }
    }
    // Nothing is exported, opened or sent for a refused input.
    sp.refused()?;

    // Sockets and other named fds, at 3.. in systemd's format.
    let (exported, names) = sp.pass_registered_fds()?;
    sp.env_set(b"LISTEN_FDNAMES", &names);
    sp.env_child_pid_ours(b"LISTEN_PID");
    if s.var(b"WATCHDOG_USEC").is_some() {
        sp.env_child_pid_ours(b"WATCHDOG_PID");
    }

    // Library-internal fds after the LISTEN_FDS range.
    let (waiter, child_end) = ready::channel()?;
    sp.pass_lineage_fds(child_end.raw(), lineage::pidfile_fd());
    let next_gen = u64::from(lineage::generation()).saturating_add(1);
    sp.env_set_ours(b"GRACEFD_GENERATION", next_gen);
    sp.env_set_ours(b"GRACEFD_PARENT_PID", process::getpid() as u64);
    // Its own process group: if it fails, what it forked goes with it. Not
    // in a terminal's foreground job, whose every process Ctrl-C must reach
    // (the new generation in a group of its own would be a background job:
    // left running by Ctrl-C, stopped if it reads the terminal).
    if !process::in_terminal_foreground() {
        sp.own_group();
    }

    // Anything refused since the check above (LISTEN_FDNAMES: names are
    // printable by the registry's rule, so nothing today) is reported
    // before systemd hears of a reload.
    sp.refused()?;
    // To systemd an upgrade is a reload: RELOADING=1 now, READY=1 when it
    // ends (from the new generation, or from us again if it failed).
    if let Err(e) = crate::notify::reloading() {
        log!(log::WARNING, "upgrade: could not send RELOADING=1 to systemd: {}", e);
    }
    let started_ns = time::monotonic_ns();
    let pid = match sp.spawn() {
        Ok(p) => p,
        Err(e) => {
            let _ = crate::notify::ready(lineage::is_upgrade());
            return Err(e);
        }
    };
    drop(child_end);
    let nfds = exported.len();
    drop(exported);
    log!(log::NOTICE, "upgrade: started generation {} as pid {} with {} fd{}", next_gen, pid, nfds, crate::msg::Plain(if nfds == 1 { "" } else { "s" }));
    let raw = waiter.raw();
    let pidfd = process::pidfd(pid);
    st.flight = Some(InFlight {
        pid,
        waiter,
        pidfd,
        deadline: Deadline::after_ms(opts.timeout_ms),
        kill_signal: opts.kill_signal,
        started_ns,
        settle_ms: opts.settle_ms,
        ready_ns: None,
    });
    Ok(raw)
}

/// Finish an upgrade started with [`start`]. With `block`, waits until the
/// new generation reported or the timeout; without, returns `Ok(None)` if it
/// has not reported yet. On success returns the new generation's pid: the pid
/// file now names it and systemd was told MAINPID (if it listens).
///
/// Errors: ENOENT if no upgrade is in flight; ECANCELED (it reported
/// failure), ENOEXEC (exec failed), ECHILD (it died), EPROTO (it closed the
/// channel without reporting, or said exec failed while still running: a
/// frame is a claim, never waited on), ETIMEDOUT — each with the reason in the message;
/// the new generation is killed and reaped before the error returns. With a
/// settle time ([`UpgradeOptions::set_settle_ms`]) a ready new generation must stay
/// up that long first: without `block`, `Ok(None)` until then; ECHILD if it
/// exits within it.
pub(crate) fn finish(block: bool) -> Result<Option<Pid>> {
    let mut flight = {
        let mut st = STATE.lock();
        let Some(f) = st.flight.take() else {
            return Err(err!(ENOENT, "no upgrade is in flight"));
        };
        st.busy = Some(f.pid);
        f
    };
    let res = if flight.ready_ns.is_some() {
        // Ready before; its settle time is running.
        Ok(Some(Outcome::Ready))
    } else {
        // One call for both ways (a blocking wait never returns Ok(None)).
        let until = if block { flight.deadline } else { Deadline::after_ms(0) };
        match ready::wait_inner(&flight.waiter, flight.pid, flight.pidfd.as_ref(), until, block) {
            Ok(None) if flight.deadline.expired() => Ok(Some(Outcome::TimedOut)),
            r => r,
        }
    };
    // The probation runs with the flight still marked busy (no second upgrade).
    let settled = match &res {
        Ok(Some(Outcome::Ready)) => Some(settle(&mut flight, block)),
        _ => None,
    };
    let mut st = STATE.lock();
    st.busy = None;
    // Looked at in place: an outcome carries a message, and each move of it is a copy.
    let outcome = match &res {
        Ok(Some(o)) if !matches!(settled, Some(Settle::Waiting)) => o,
        Ok(_) => {
            st.flight = Some(flight);
            return Ok(None);
        }
        Err(_) => {
            drop(st);
            stop(flight.pid, libc::SIGKILL, 0);
            return res.map(|_| None);
        }
    };
    drop(st);
    let pid = flight.pid;
    let e = match (outcome, settled) {
        (Outcome::Ready, Some(Settle::Exited(x))) => {
            // Reaped by `settle` just now (unless it was not ours to reap).
            end_group(pid, x, flight.kill_signal);
            let after_ms = time::monotonic_ns().saturating_sub(flight.ready_ns.unwrap_or(0)) / 1_000_000;
            err!(ECHILD, "new generation pid {} {} {} ms after it reported ready (within the settle time of {} ms)", pid, x, after_ms, flight.settle_ms)
        }
        (Outcome::Ready, _) => {
            hand_over(pid);
            // We drain and exit next: our exit (the kernel freeing our
            // memory) must not take the CPU the new generation serves on.
            if let Err(e) = crate::exit_yield::arm() {
                log!(log::WARNING, "upgrade: no exit handler to give the CPU away at exit: {}", e);
            }
            crate::conns::keep_waiter(flight.waiter, pid);
            return Ok(Some(pid));
        }
        (outcome, _) => {
            let e = outcome.describe("new generation", pid);
            match *outcome {
                Outcome::Failed(..) | Outcome::TimedOut | Outcome::Abandoned => stop(pid, flight.kill_signal, KILL_GRACE_MS),
                // It broke the protocol: no grace (SIGKILL cannot be ignored, so the
                // reap that follows is bounded).
                Outcome::ExecFailedButAlive(_) => stop(pid, libc::SIGKILL, 0),
                // Reaped by the wait just now: what it forked is still in its group.
                Outcome::Died(x) => end_group(pid, x, flight.kill_signal),
                // An exec that failed ran nothing that could fork.
                _ => {}
            }
            e
        }
    };
    log!(log::ERR, "upgrade failed, still serving: {}", crate::msg::Plain(e.message()));
    if let Err(n) = crate::notify::ready(lineage::is_upgrade()) {
        log!(log::WARNING, "upgrade: could not send READY=1 to systemd after the failure: {}", n);
    }
    Err(e)
}

/// A failed new generation that exited on its own, reaped just now: stop
/// what it left in its process group (the workers of a prefork master that
/// died before it was ready would keep the listening sockets and accept on
/// them), with the kill signal, SIGKILL after the same grace.
fn end_group(pid: Pid, how: process::Exit, sig: i32) {
    if spawn::end_group(pid, how, sig, KILL_GRACE_MS) {
        log_stopped(pid);
    }
}

/// A failed (or cancelled) new generation still running: `sig` to it and
/// its process group at once, SIGKILL after `grace_ms`, reaped.
fn stop(pid: Pid, sig: i32, grace_ms: i64) {
    if spawn::stop_led_group(pid, sig, grace_ms).1 {
        log_stopped(pid);
    }
}

fn log_stopped(pid: Pid) {
    log!(log::NOTICE, "upgrade: the failed new generation pid {} had processes left in its process group: signalled, SIGKILL after the grace", pid);
}

/// Abandon the upgrade in flight (begun with [`start`]): kill its new
/// generation with the kill signal (SIGKILL after a grace of 2 s), reap it,
/// and tell systemd READY=1 again. Nothing of this process has changed: it
/// goes on serving. Returns the pid that was killed.
///
/// Errors: ENOENT if no upgrade is in flight; EBUSY if another thread is in
/// [`finish`] for it (the outcome is on its way there).
pub(crate) fn cancel() -> Result<Pid> {
    let flight = {
        let mut st = STATE.lock();
        if let Some(pid) = st.busy {
            return Err(err!(EBUSY, "the upgrade to pid {} is being finished by another thread", pid));
        }
        let Some(f) = st.flight.take() else {
            return Err(err!(ENOENT, "no upgrade is in flight"));
        };
        f
    };
    let pid = flight.pid;
    stop(pid, flight.kill_signal, KILL_GRACE_MS);
    log!(log::NOTICE, "upgrade: cancelled; new generation pid {} killed, still serving", pid);
    if let Err(n) = crate::notify::ready(lineage::is_upgrade()) {
        log!(log::WARNING, "upgrade: could not send READY=1 to systemd after the cancel: {}", n);
    }
    Ok(pid)
}

/// The pid of the new generation while an upgrade is in flight.
pub fn in_flight_pid() -> Option<Pid> {
    let st = STATE.lock();
    st.flight.as_ref().map(|f| f.pid).or(st.busy)
}

/// Start and wait: the blocking upgrade.
pub(crate) fn upgrade(opts: &UpgradeOptions) -> Result<Pid> {
    start(opts)?;
    match finish(true)? {
        Some(pid) => Ok(pid),
        None => Err(err!(ETIMEDOUT, "upgrade: no outcome")),
    }
}

/// How long the MAINPID hand-over waits for systemd to read it.
const HAND_OVER_TIMEOUT_MS: i64 = 5_000;

/// The new generation is ready: the pid file names it, and systemd (if it
/// listens) is told `MAINPID=<new>` and has read it (barrier) before the
/// caller may exit, so it never sees its main process vanish.
#[inline(never)]
fn hand_over(pid: Pid) {
    if let Some(pf) = lineage::pidfile_fd() {
        // The step and errno, worded here (as Error::sys would) without an Error.
        if let Err((what, e)) = crate::pidfile::write_pid_raw(pf, pid) {
            log!(log::ERR, "upgrade: could not write pid {} to the pid file: {}: {}", pid, crate::msg::Plain(what), e);
        }
    }
    crate::notify::hand_over_mainpid(pid, HAND_OVER_TIMEOUT_MS, hand_over_failed);
}

fn hand_over_failed(pid: Pid, e: &crate::error::Error) {
    log!(log::ERR, "upgrade: could not hand MAINPID={} over to systemd: {}", pid, e);
}
