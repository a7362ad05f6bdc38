//! Exit statuses of every `gracefd` command: the numbers are the
//! supervisor's (`gracefd::__cli::supervise::exit`, one meaning per number
//! across commands); the table `--help` prints is here.

pub use gracefd::__cli::supervise::exit::*;

/// The exit-status table as printed in `--help`.
pub const TABLE: &str = "\
exit status:
  0    success (run: stopped on request; daemonize: ready; ctl: done)
  1    the operation failed (ctl reload: the new worker was not ready, the
       old one still serves; run: stopped after a fatal error)
  2    usage error (the message names the option and the value)
  3    no running instance to talk to (ctl, start_server --restart/--stop)
  240  the program exited or was killed before it was ready
  241  the program was not ready in time (it was stopped)
  242  already running (the pid file is locked by a live instance)
  243  setup failed (bind, open, exec, ...)
  244  lost track of the daemon
  N    daemonize: the status the program gave to gracefd_fail()
";
