//! `gracefd stop` and `gracefd reload`: signal a server that links the
//! library and wait for the outcome, for service managers whose own wait
//! does not cover it (systemd's `ExecStop=`/`ExecReload=`; see docs/systemd.md).
//!
//! ```text
//! gracefd stop   --pid PID [--signal SIG] [--timeout SECS]
//! gracefd reload --pid PID [--signal SIG] [--timeout SECS] [--unit UNIT | --pid-file PATH]
//! ```
//!
//! `stop` sends SIGTERM (or `--signal`) and returns once PID has exited,
//! that is once it drained: 0 then, or when there was no process (an empty
//! `--pid`: the unit's main process is already gone); 241 if it still runs
//! after `--timeout` (default 90 s), so systemd's own escalation follows.
//!
//! `reload` sends SIGHUP (or `--signal`) and returns once a new generation
//! serves in place of PID, as the first of these shows it:
//! - `--unit UNIT`: systemd's `MainPID` of UNIT names another live process;
//! - `--pid-file PATH`: the file names another live process;
//! - neither: PID exited (it drained) while the child it started lives.
//!
//! It fails (1; PID still serves) when the child PID started for the reload
//! exits (or PID reaped a child before any was seen: an exec failure), or
//! PID exits without a successor; 241 when there is no outcome
//! within `--timeout` (default 90 s); 3 when there is no process PID.

use std::time::{Duration, Instant};

use crate::args::{self, shown, Spec, Style};
use gracefd::__cli::supervise::proc_watch::{OpenError, Watched};
use gracefd::__cli::supervise::reload_watch::{reload, Outcome, Successor};
use crate::{exit, usage};

/// Options of `gracefd stop`.
pub const STOP_SPECS: [Spec; 4] = [
    Spec { name: "pid", value: true },
    Spec { name: "signal", value: true },
    Spec { name: "timeout", value: true },
    Spec { name: "help", value: false },
];

/// Options of `gracefd reload`.
pub const RELOAD_SPECS: [Spec; 6] = [
    Spec { name: "pid", value: true },
    Spec { name: "signal", value: true },
    Spec { name: "timeout", value: true },
    Spec { name: "unit", value: true },
    Spec { name: "pid-file", value: true },
    Spec { name: "help", value: false },
];

/// Default bound of both waits: systemd's default start and stop timeouts.
const DEFAULT_TIMEOUT_MS: u64 = 90_000;


/// `gracefd stop --help`.
pub const STOP_HELP: &str = "\
usage: gracefd stop --pid PID [--signal SIG] [--timeout SECS]

Sends SIGTERM (or SIG) to PID and waits until it has exited: a server that
drains on SIGTERM has finished its requests when this returns. For systemd's
ExecStop=, where the main process may not be systemd's child (after a
reload), so that systemd would not wait for it:
  ExecStop=/usr/local/bin/gracefd stop --pid=${MAINPID} --timeout=14
An empty PID (the unit's main process is already gone) is success.

  --pid PID        the process (required; may be empty)
  --signal SIG     the signal (default TERM)
  --timeout SECS   give up waiting after SECS (default 90; keep it below
                   TimeoutStopSec so systemd's own escalation follows)

exit status: 0 exited (or no process), 2 usage, 241 still running after
--timeout, 1 the signal could not be sent.
";

/// `gracefd reload --help`.
pub const RELOAD_HELP: &str = "\
usage: gracefd reload --pid PID [--signal SIG] [--timeout SECS] [--unit UNIT | --pid-file PATH]

Sends SIGHUP (or SIG) to PID, a server that upgrades itself on it, and
returns once its new generation serves, or it failed. For systemd's
ExecReload= with Type=notify, so that `systemctl reload` returns only once
MainPID names the new generation:
  ExecReload=/usr/local/bin/gracefd reload --pid=${MAINPID} --unit=%n --timeout=80

The new generation serves when:
  --unit UNIT      systemd's MainPID of UNIT names another live process
  --pid-file PATH  PATH names another live process
  (neither)        PID exited (drained) while the child it started lives
The reload failed (PID still serves) when the child PID started exits first
(or PID reaped a child before it could be seen: an exec failure), or PID
exits without a successor.

  --timeout SECS   give up after SECS (default 90; keep it below the unit's
                   TimeoutStartSec, which bounds ExecReload=)

exit status: 0 reloaded (prints \"reloaded: OLD -> NEW\"), 1 the reload
failed, 2 usage, 3 no process PID, 241 no outcome within --timeout.
";

/// Parse `--pid`: `Ok(None)` for an empty value (no main process).
fn pid_opt(p: &args::Parsed) -> Result<Option<i32>, args::UsageError> {
    let Some(v) = p.last("pid") else {
        return Err(usage!("--pid PID is required"));
    };
    if v.is_empty() {
        return Ok(None);
    }
    gracefd::__cli::proto::num::parse_pid(v).map(Some).ok_or_else(|| usage!("--pid {}: not a process id", shown(v)))
}

fn common(p: &args::Parsed, default_sig: i32) -> Result<(Option<i32>, i32, Duration), args::UsageError> {
    let pid = pid_opt(p)?;
    let sig = p.last("signal").map(|v| args::signal("signal", v)).transpose()?.unwrap_or(default_sig);
    let ms = p.last("timeout").map(|v| args::secs("timeout", v)).transpose()?.unwrap_or(DEFAULT_TIMEOUT_MS);
    Ok((pid, sig, Duration::from_millis(ms)))
}

/// Run `gracefd stop` with `argv` (after the subcommand).
pub fn stop_main(argv: &[Vec<u8>]) -> i32 {
    let p = match args::parse(argv, &STOP_SPECS, Style::default()) {
        Ok(p) => p,
        Err(e) => return crate::usage_error(&e),
    };
    if p.has("help") {
        crate::help::show(STOP_HELP);
        return exit::OK;
    }
    if let Some(extra) = p.rest.first() {
        return crate::usage_error(&usage!("unexpected argument {}", shown(extra)));
    }
    let (pid, sig, timeout) = match common(&p, libc::SIGTERM) {
        Ok(x) => x,
        Err(e) => return crate::usage_error(&e),
    };
    let Some(pid) = pid else {
        println!("stopped: no process");
        return exit::OK;
    };
    let w = match Watched::open(pid) {
        Ok(w) => w,
        Err(OpenError::Gone) => {
            println!("stopped: pid {} had already exited", pid);
            return exit::OK;
        }
        Err(OpenError::Other(e)) => {
            eprintln!("gracefd stop: {}", e);
            return exit::FAILED;
        }
    };
    if let Err(e) = w.signal(sig) {
        if w.exited() {
            println!("stopped: pid {} had already exited", pid);
            return exit::OK;
        }
        eprintln!("gracefd stop: {}", e);
        return exit::FAILED;
    }
    let started = Instant::now();
    if w.wait_exit(started + timeout) {
        println!("stopped: pid {} exited after {} ms", pid, started.elapsed().as_millis());
        exit::OK
    } else {
        eprintln!("gracefd stop: pid {} still runs {} after {}", pid, args::fmt_secs(timeout.as_millis() as u64), args::signal_name(sig));
        exit::TIMEOUT
    }
}

/// Run `gracefd reload` with `argv` (after the subcommand).
pub fn reload_main(argv: &[Vec<u8>]) -> i32 {
    let p = match args::parse(argv, &RELOAD_SPECS, Style::default()) {
        Ok(p) => p,
        Err(e) => return crate::usage_error(&e),
    };
    if p.has("help") {
        crate::help::show(RELOAD_HELP);
        return exit::OK;
    }
    if let Some(extra) = p.rest.first() {
        return crate::usage_error(&usage!("unexpected argument {}", shown(extra)));
    }
    let (pid, sig, timeout) = match common(&p, libc::SIGHUP) {
        Ok(x) => x,
        Err(e) => return crate::usage_error(&e),
    };
    let successor = match (p.last("unit"), p.last("pid-file")) {
        (Some(_), Some(_)) => return crate::usage_error(&usage!("--unit and --pid-file: give one")),
        (Some(u), None) => match std::str::from_utf8(u) {
            Ok(s) if !s.is_empty() && !s.starts_with('-') => Successor::Unit(s.to_string()),
            _ => return crate::usage_error(&usage!("--unit {}: not a unit name", shown(u))),
        },
        (None, Some(f)) if !f.is_empty() => Successor::PidFile(crate::opts::absolute(f)),
        (None, Some(_)) => return crate::usage_error(&usage!("--pid-file: empty path")),
        (None, None) => Successor::Exit,
    };
    let Some(pid) = pid else {
        eprintln!("gracefd reload: no process to reload (empty --pid: the main process is gone)");
        return exit::UNREACHABLE;
    };
    let w = match Watched::open(pid) {
        Ok(w) => w,
        Err(OpenError::Gone) => {
            eprintln!("gracefd reload: no process {}", pid);
            return exit::UNREACHABLE;
        }
        Err(OpenError::Other(e)) => {
            eprintln!("gracefd reload: {}", e);
            return exit::FAILED;
        }
    };
    match reload(&w, sig, &successor, Instant::now() + timeout) {
        Outcome::Reloaded(new) => {
            println!("reloaded: {} -> {}", pid, new);
            exit::OK
        }
        Outcome::Failed(why) => {
            eprintln!("gracefd reload: {}", why);
            exit::FAILED
        }
        Outcome::TimedOut(why) => {
            eprintln!("gracefd reload: no outcome within {}: {}", args::fmt_secs(timeout.as_millis() as u64), why);
            exit::TIMEOUT
        }
    }
}
