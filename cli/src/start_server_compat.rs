//! `start_server` (gracefd invoked through a symbolic link of that name):
//! Server::Starter's command line, so a deployment switches by changing
//! one path.
//!
//! Options are read as Perl's Getopt::Long reads them (a single dash works,
//! unique prefixes work) and mean what start_server's documentation says:
//! `--port`, `--path`, `--interval` (readiness rule *and* first respawn
//! delay; default 1 s), `--signal-on-hup`, `--signal-on-term`, `--pid-file`,
//! `--status-file`, `--envdir` (also `$ENVDIR`), `--log-file` (a file or
//! `| command`), `--daemonize` (needs `--log-file`), `--kill-old-delay`
//! (also `$KILL_OLD_DELAY`; default 0, 5 with auto-restart),
//! `--enable-auto-restart` / `--auto-restart-interval` (also
//! `$ENABLE_AUTO_RESTART` / `$AUTO_RESTART_INTERVAL`; default 360 s),
//! `--dir`, `--backlog`, `--restart`, `--stop`, `--version`, `--help`;
//! every `gracefd run` option is accepted too.
//!
//! `--restart` and `--stop` talk to a running start_server *or* gracefd
//! (`gracefd::__cli::supervise::start_server` says how).

use gracefd::__cli::supervise::start_server::{restart, stop};

use crate::args::{self, Spec, Style};
use crate::opts::{self, Face};
use crate::{exit, say};

/// start_server's options: `gracefd run`'s plus `--restart` and `--stop`.
fn specs() -> Vec<Spec> {
    let mut v = opts::RUN_SPECS.to_vec();
    v.push(Spec { name: "restart", value: false });
    v.push(Spec { name: "stop", value: false });
    v
}

/// Run as `start_server` with `argv` (without argv[0]).
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let parsed = match args::parse(argv, &specs(), Style { getopt_long: true, ..Style::default() }) {
        Ok(p) => p,
        Err(e) => return crate::usage_error(&e),
    };
    if parsed.has("help") {
        crate::help::show(crate::help::START_SERVER);
        return exit::OK;
    }
    if parsed.has("version") {
        println!("{} (gracefd, start_server compatible)", gracefd::__cli::version::string());
        return exit::OK;
    }
    say::init("start_server", if parsed.has("verbose") { say::DEBUG } else { say::INFO });
    let path = |name: &str| parsed.last(name).filter(|v| !v.is_empty()).map(opts::absolute);
    if parsed.has("restart") {
        let (Some(pid_file), Some(status_file)) = (path("pid-file"), path("status-file")) else {
            return crate::usage_error(&crate::usage!("--restart needs --pid-file and --status-file"));
        };
        return restart(&pid_file, &status_file, path("control-socket").as_deref());
    }
    if parsed.has("stop") {
        let Some(pid_file) = path("pid-file") else {
            return crate::usage_error(&crate::usage!("--stop needs --pid-file"));
        };
        return stop(&pid_file);
    }
    match opts::run_options(&parsed, Face::StartServer) {
        Ok(o) => {
            say::init("start_server", if o.verbose { say::DEBUG } else { say::INFO });
            gracefd::__cli::supervise::run(o)
        }
        Err(e) => crate::usage_error(&e),
    }
}
