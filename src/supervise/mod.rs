//! The superdaemon (`gracefd run`, `start_server`): it binds the sockets,
//! starts N workers of a command with them (at fds 3… under `LISTEN_FDS`
//! and `SERVER_STARTER_PORT`), waits for their readiness, replaces them on
//! reload with no gap in service, respawns the ones that crash, and answers
//! a control socket. It runs on the core's own paths: workers are started by
//! `spawn`, their readiness is read with `ready` and `proto::notify`, the
//! service manager hears of gracefd's through `notify`/`ready`, and it
//! detaches with `daemon` and locks its pid file with `pidfile`.
//!
//! Uses std (feature `supervise`); the C archive and `#![no_std]` builds
//! leave it out. The `gracefd` command (cli/) only turns its arguments into
//! [`RunOptions`](options::RunOptions) and calls [`run`].
//!
//! | file | job |
//! |---|---|
//! | `options.rs` | what `run` is asked to do ([`options::RunOptions`]) |
//! | `setup.rs` | sockets, log target, pid file, detaching, subreaper: before the loop |
//! | `run/mod.rs` | the supervisor: its state, from set-up to exit status |
//! | `run/start.rs`, `exits.rs`, `timers.rs`, `stop.rs` | starting workers, their exits, timers, stopping |
//! | `run/groups.rs` | what a worker that is gone left in its process group |
//! | `run/poll_loop.rs`, `requests.rs`, `files.rs`, `report.rs` | the loop, control requests, status file and clean-up, `ctl status` |
//! | `run/reaper.rs` | PID 1 and subreaper duties: reap adopted children, pass signals on |
//! | `worker.rs` | starting a worker (both fd protocols), its readiness |
//! | `worker_notify.rs` | the workers' `NOTIFY_SOCKET`s |
//! | `control.rs` | the control socket and its client (frames: `proto::control`) |
//! | `detach.rs` | gracefd's own pid file, `--daemonize`, its readiness reports |
//! | `backoff.rs`, `envdir.rs`, `path_lookup.rs`, `limits.rs` | respawn delays, `--envdir`, the command's `PATH` lookup, `--nofile` |
//! | `status_file.rs`, `start_server.rs` | start_server's `--status-file`; its `--restart` and `--stop` |
//! | `proc_watch.rs` | watching another process through /proc (`gracefd stop`/`reload`) |
//! | `say.rs`, `names.rs`, `exit.rs` | log lines, how messages name signals and durations, exit statuses |

pub(crate) mod backoff;
pub mod control;
pub(crate) mod detach;
pub mod envdir;
pub mod exit;
pub(crate) mod limits;
pub mod names;
pub mod options;
pub mod path_lookup;
pub mod proc_watch;
pub mod reload_watch;
pub mod say;
pub mod setup;
pub mod start_server;
pub(crate) mod status_file;
pub(crate) mod worker;
pub(crate) mod worker_notify;

mod run;

pub use run::main as run;
