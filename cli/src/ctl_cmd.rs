//! `gracefd ctl [--control-socket PATH] [--timeout SECS] status|reload|stop`:
//! the client of `run --control-socket` (CONTROL and REPLY frames of the
//! hand-off framing; see `control.rs`).

use crate::args::{self, shown, Spec, Style};
use gracefd::__cli::supervise::control::{self, Command};
use crate::{exit, usage};

/// Options of `gracefd ctl`.
pub const SPECS: [Spec; 4] = [
    Spec { name: "control-socket", value: true },
    Spec { name: "timeout", value: true },
    Spec { name: "json", value: false },
    Spec { name: "help", value: false },
];

/// Run `gracefd ctl` with `argv` (after the subcommand).
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let p = match args::parse(argv, &SPECS, Style::default()) {
        Ok(p) => p,
        Err(e) => return crate::usage_error(&e),
    };
    if p.has("help") {
        crate::help::show(crate::help::CTL);
        return exit::OK;
    }
    // `--json` may follow the request too (`ctl status --json`).
    let json = p.has("json") || p.rest.iter().any(|a| a.as_slice() == b"--json");
    let rest: Vec<Vec<u8>> = p.rest.iter().filter(|a| a.as_slice() != b"--json").cloned().collect();
    let req = match rest.as_slice() {
        [one] => match control::parse_command(one) {
            Ok(Command::Status) if json => Command::StatusJson,
            Ok(r) if json => return crate::usage_error(&usage!("--json goes with status only (not {})", r.name())),
            Ok(r) => r,
            Err(e) => return crate::usage_error(&usage!("{}", e)),
        },
        [] => return crate::usage_error(&usage!("no request given: gracefd ctl --control-socket PATH status|reload|stop")),
        more => {
            let extra: Vec<String> = more.iter().skip(1).map(|a| shown(a)).collect();
            return crate::usage_error(&usage!("one request at a time (extra: {})", extra.join(" ")));
        }
    };
    let Some(sock) = p.last("control-socket").filter(|v| !v.is_empty()) else {
        return crate::usage_error(&usage!("--control-socket PATH is required"));
    };
    let timeout = match p.last("timeout").map(|v| args::secs("timeout", v)).transpose() {
        Ok(t) => t,
        Err(e) => return crate::usage_error(&e),
    };
    let path = crate::opts::absolute(sock);
    match control::request(&path, req, timeout) {
        Ok((true, text)) => {
            match req {
                Command::Status | Command::StatusJson => print!("{}", text),
                Command::Reload => println!("reloaded: {}", text.trim()),
                Command::Stop => println!("stopped"),
            }
            exit::OK
        }
        Ok((false, text)) => {
            eprintln!("gracefd ctl {}: {}", req.name(), text.trim());
            exit::FAILED
        }
        Err(e) => {
            eprintln!("gracefd ctl {}: {}", req.name(), e.msg);
            if e.unreachable {
                exit::UNREACHABLE
            } else {
                exit::FAILED
            }
        }
    }
}
