//! `gracefd ctl [--control-socket PATH] [--timeout SECS] status|reload|stop`:
//! the client of `run --control-socket` (protocol in `control.rs`).

use crate::args::{self, shown, Spec, Style};
use crate::control::{self, Request};
use crate::{exit, usage};

/// Options of `gracefd ctl`.
pub const SPECS: [Spec; 3] = [Spec { name: "control-socket", value: true }, Spec { name: "timeout", value: true }, Spec { name: "help", value: false }];

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
    let req = match p.rest.as_slice() {
        [one] => match control::Request::parse(one) {
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
                Request::Status => print!("{}", text),
                Request::Reload => println!("reloaded: {}", text.trim()),
                Request::Stop => println!("stopped"),
            }
            exit::OK
        }
        Ok((false, text)) => {
            eprintln!("gracefd ctl {}: {}", req.line().trim(), text.trim());
            exit::FAILED
        }
        Err(e) => {
            eprintln!("gracefd ctl {}: {}", req.line().trim(), e.msg);
            if e.unreachable {
                exit::UNREACHABLE
            } else {
                exit::FAILED
            }
        }
    }
}
