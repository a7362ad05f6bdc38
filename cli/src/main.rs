//! The `gracefd` command: argument handling, help, output and exit codes
//! over the library's supervisor (`gracefd::__cli::supervise`, in
//! src/supervise/), one file per subcommand:
//!
//! | file | job |
//! |---|---|
//! | `run_cmd.rs`, `opts.rs` | `gracefd run`: its options → `RunOptions`, then the supervisor |
//! | `start_server_compat.rs` | `start_server` (this binary under that name): its options, `--restart`, `--stop` |
//! | `ctl_cmd.rs` | `gracefd ctl`: a request to the control socket |
//! | `signal_cmd.rs` | `gracefd stop`, `gracefd reload`: signal a server, wait for the outcome |
//! | `daemonize_cmd.rs` | `gracefd daemonize`: run a program as a daemon |
//! | `completion.rs` | `gracefd completion bash`, from the option tables |
//! | `args.rs` | option parsing, value parsers (errors name option and value) |
//! | `say.rs`, `help.rs`, `exit.rs` | log lines, help texts, exit statuses |

// The library's errors carry their message inline (as in the library itself).
#![allow(clippy::result_large_err)]

mod args;
mod completion;
mod ctl_cmd;
mod daemonize_cmd;
mod exit;
mod help;
mod opts;
mod run_cmd;
mod say;
mod signal_cmd;
mod start_server_compat;

use std::os::unix::ffi::OsStringExt;

/// Print a usage error and return its status.
pub fn usage_error(e: &args::UsageError) -> i32 {
    eprintln!("{}: {}", say::prog(), e);
    exit::USAGE
}

fn main() {
    let argv: Vec<Vec<u8>> = std::env::args_os().map(OsStringExt::into_vec).collect();
    let name = argv.first().map(|a| a.rsplit(|&b| b == b'/').next().unwrap_or(a).to_vec()).unwrap_or_default();
    let rest = argv.get(1..).unwrap_or(&[]);
    let code = if name == b"start_server" {
        say::init("start_server", say::INFO);
        gracefd::__cli::supervise::setup::reap_own_children();
        start_server_compat::main(rest)
    } else {
        say::init("gracefd", say::INFO);
        gracefd::__cli::supervise::setup::reap_own_children();
        dispatch(rest)
    };
    std::process::exit(code);
}

fn dispatch(argv: &[Vec<u8>]) -> i32 {
    let Some(sub) = argv.first() else {
        help::show(help::MAIN);
        return exit::USAGE;
    };
    let rest = argv.get(1..).unwrap_or(&[]);
    match sub.as_slice() {
        b"run" => run_cmd::main(rest),
        b"daemonize" => daemonize_cmd::main(rest),
        b"ctl" => ctl_cmd::main(rest),
        b"completion" => completion::main(rest),
        b"stop" => signal_cmd::stop_main(rest),
        b"reload" => signal_cmd::reload_main(rest),
        b"version" | b"--version" | b"-V" => {
            println!("gracefd {}", gracefd::__cli::version::string());
            exit::OK
        }
        b"help" | b"--help" | b"-h" => {
            help::show(help::MAIN);
            exit::OK
        }
        other => usage_error(&usage!("unknown subcommand {} (run, daemonize, ctl, stop, reload, version; see --help)", args::shown(other))),
    }
}
