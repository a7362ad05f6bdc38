//! `gracefd run`: the superdaemon. Its options are parsed by `opts.rs`;
//! the supervisor itself is the library's (`gracefd::__cli::supervise`).

use crate::{args, exit, opts, say};

/// Run `gracefd run` with `argv` (after the subcommand): parse, then
/// supervise until stopped; the exit status.
pub fn main(argv: &[Vec<u8>]) -> i32 {
    let parsed = match args::parse(argv, &opts::RUN_SPECS, args::Style { shorts: &opts::RUN_SHORTS, ..args::Style::default() }) {
        Ok(p) => p,
        Err(e) => return crate::usage_error(&e),
    };
    if parsed.has("help") {
        crate::help::show(crate::help::RUN);
        return exit::OK;
    }
    if parsed.has("version") {
        println!("gracefd {}", gracefd::__cli::version::string());
        return exit::OK;
    }
    match opts::run_options(&parsed, opts::Face::Run) {
        Ok(o) => {
            say::init("gracefd", if o.verbose { say::DEBUG } else { say::INFO });
            gracefd::__cli::supervise::run(o)
        }
        Err(e) => crate::usage_error(&e),
    }
}
