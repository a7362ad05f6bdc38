//! `--help` texts (each followed by the exit-status table of `exit.rs`).

/// Print a help text and the exit statuses.
pub fn show(text: &str) {
    print!("{}\n{}", text, crate::exit::TABLE);
}

/// `gracefd --help`.
pub const MAIN: &str = "\
gracefd: the Unix server lifecycle (daemonize, inherit listeners, reload
without downtime, talk to systemd), as a command.

usage:
  gracefd run [options] -- COMMAND [ARGS...]        supervise a server (a better start_server)
  gracefd daemonize [options] -- COMMAND [ARGS...]  daemonize any program; the exit status says if it came up
  gracefd ctl --control-socket PATH status|reload|stop
  gracefd completion bash                            a bash completion script
  gracefd stop --pid PID [--timeout SECS]           signal a server, return once it exited (drained)
  gracefd reload --pid PID [--unit UNIT]            signal a server, return once its new generation serves
  gracefd version
  start_server [start_server options] -- COMMAND   (gracefd through a symlink named start_server)

`gracefd SUBCOMMAND --help` describes each.
";

/// `gracefd run --help`.
pub const RUN: &str = "\
usage: gracefd run [options] -- COMMAND [ARGS...]

Binds the sockets, starts COMMAND (the worker) with them, and keeps its own
pid for the supervisor above it (systemd, supervisord, runit). On SIGHUP (or
`gracefd ctl reload`) it starts a new worker with the same sockets and, only
once that one is ready, sends the old one --signal-on-hup; if the new one
fails, the old one keeps serving. SIGTERM/SIGINT stop every worker.

The worker gets its sockets at fds 3, 4, ... in both protocols:
  LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID    (systemd: sd_listen_fds_with_names)
  SERVER_STARTER_PORT=host:port=fd;/path=fd  (Server::Starter: server_ports)
  SERVER_STARTER_GENERATION, GRACEFD_GENERATION
and GRACEFD_READY_FD + NOTIFY_SOCKET to say it is ready (see --ready).

sockets:
  --listen [NAME=]ADDR   listen on ADDR, named NAME in LISTEN_FDNAMES (repeatable).
                         ADDR: host:port, :port, [v6]:port, tcp://, tcp4://, tcp6://,
                         udp://..., unix:/path, unix:@abstract
  --port PORT|HOST:PORT  start_server's form: a bare port is 0.0.0.0 (IPv4), u53 is UDP
  --path PATH            start_server's form: a unix socket, mode 0777
  --backlog N            listen(2) backlog (default: SOMAXCONN)
  Sockets gracefd itself inherited (systemd socket activation, start_server)
  are passed on too; --listen NAME=... takes an inherited socket of that name.

readiness:
  --ready notify         ready when the worker calls gracefd_ready() or sends
                         sd_notify READY=1 (to the NOTIFY_SOCKET gracefd gives it)
  --ready interval:SECS  start_server's rule: ready if still alive after SECS
                         (fractional; default interval:1)
  --ready-timeout SECS   notify mode: a worker not ready by then failed (default 60:
                         room for a slow start; bounded because reloads queue
                         behind it; below systemd's 90 s start timeout)
  --interval SECS        start_server's option: --ready interval:SECS, and the first
                         respawn delay

workers:
  -n, --workers N        run N workers on the same sockets (default 1); each must be
                         ready; a reload replaces them all once all new ones are ready
  --rolling              a reload replaces the workers one at a time instead
  --settle SECS          a new worker must stay up SECS after it is ready before the
                         old ones get their signal; if it exits within, the reload
                         fails and the old ones go on serving (default 0). For
                         programs that say ready too early (gunicorn without --preload)
  --nofile SOFT[:HARD]   the workers' open-file limit (raised in gracefd, inherited;
                         the hard limit only where allowed, said otherwise)
  --user USER, --group GROUP  the workers run as USER/GROUP (gracefd stays root:
                         the sockets are bound before, so ports below 1024 work)
  --init                 container duties (on by default as PID 1): exit with the
                         worker's status (128+N for a signal). Always: workers die
                         with gracefd (parent-death SIGKILL), gracefd reaps their
                         orphans (child subreaper), and passes USR1, USR2, QUIT,
                         WINCH on to the workers

reload and stop:
  --signal-on-hup SIG    sent to the old worker once the new one is ready (default TERM)
  --kill-old-delay SECS  wait this long before sending it (default 0; 5 with auto-restart)
  --signal-on-term SIG   sent to every worker on SIGTERM/SIGINT (default TERM), and
                         to what a worker that is gone left in its process group
  --stop-timeout SECS    then SIGKILL what is left (default 10; keep it 5 s below
                         the supervisor's own stop timeout)
  --respawn-delay SECS   a worker that exits is started again after this delay,
                         doubled for each failure in a row (default 1, at least 0.1)
  --respawn-delay-max SECS  cap of that delay (default 60); a worker that served this
                         long resets the count
  --enable-auto-restart  reload every --auto-restart-interval SECS (default 360)
  Reload requests that arrive during a reload make exactly one more reload.

files and environment:
  --pid-file PATH        gracefd's pid, locked while it runs (a second instance exits 242)
  --status-file PATH     start_server's GENERATION:PID lines of the serving and
                         draining workers, replaced atomically
  --log-file PATH        stdout/stderr of gracefd and the workers (appended;
                         \"| CMD\" pipes them into a command)
  --daemonize            detach; the launching shell exits 0 once the first worker
                         is ready, else with the reason and the statuses below
  --dir DIR              the workers' working directory (resolved at every start)
  --env KEY=VALUE        set in the workers' environment (repeatable)
  --envdir DIR           a variable per file (first line), read again at every start
  --control-socket PATH  unix socket (0600) for `gracefd ctl status|reload|stop`
  --verbose              log debug lines too
";

/// `gracefd daemonize --help`.
pub const DAEMONIZE: &str = "\
usage: gracefd daemonize [options] -- COMMAND [ARGS...]

Starts COMMAND as a daemon (new session, not its leader; stdin /dev/null,
stdout/stderr the log file or /dev/null) and exits once it is ready (0), or
with a status that says why not, its reason on stderr.

  --ready notify         COMMAND calls gracefd_ready() (GRACEFD_READY_FD) or sends
                         sd_notify READY=1 (NOTIFY_SOCKET); gracefd_fail(status, msg)
                         makes gracefd exit with that status
  --ready interval:SECS  ready if still alive after SECS (default interval:1)
  --ready-timeout SECS   notify mode: stop COMMAND and exit 241 after this (default 30)
  --pid-file PATH        COMMAND's pid, locked by COMMAND (inherited fd,
                         GRACEFD_PIDFILE_FD) for as long as it runs
  --log-file PATH        COMMAND's stdout and stderr (appended)
  --dir DIR              COMMAND's working directory (default /)
  --env KEY=VALUE        set in COMMAND's environment (repeatable)
  --envdir DIR           a variable per file (first line)
  --verbose              the library's log lines of the start too
";

/// `gracefd ctl --help`.
pub const CTL: &str = "\
usage: gracefd ctl --control-socket PATH [--timeout SECS] status [--json]|reload|stop

Talks to `gracefd run --control-socket PATH` (same uid or root).
  status   print the state: workers, generations, reloads, sockets
           (--json: one JSON object with stable keys, see docs/cli.md)
  reload   start a new worker; return when it is ready (0) or failed (1, the
           old one still serves). Requests during a reload share one more reload.
  stop     stop the workers and wait until gracefd has exited
  --timeout SECS  give up waiting for the answer (default: no limit; a reload
           is bounded by the server's --ready-timeout)
";

/// `start_server --help`.
pub const START_SERVER: &str = "\
usage: start_server [options] -- server-prog server-arg1 server-arg2 ...

gracefd, invoked as start_server: Server::Starter's options, with its meaning.
  --port=(port|host:port)   TCP port to listen to (0.0.0.0 for a bare port; [v6]:port;
                            u before the port for UDP). port=fd is not supported.
  --path=path               unix socket path to listen on
  --dir=path                working directory of the server program
  --interval=seconds        a new worker is ready if alive after this (default 1);
                            also the minimum delay before a respawn
  --signal-on-hup=SIGNAL    sent to the old workers on SIGHUP (default TERM)
  --signal-on-term=SIGNAL   sent to the workers on SIGTERM (default TERM)
  --pid-file=filename       pid of this process (locked)
  --status-file=filename    GENERATION:PID of the workers
  --envdir=ENVDIR           environment variables for the workers ($ENVDIR)
  --log-file=file | \"| cmd\" stdout and stderr of this process and the workers
  --daemonize               detach (needs --log-file)
  --enable-auto-restart     restart by time ($ENABLE_AUTO_RESTART)
  --auto-restart-interval=seconds  (default 360; $AUTO_RESTART_INTERVAL)
  --kill-old-delay=seconds  delay before signalling old workers (default 0, 5 with
                            auto-restart; $KILL_OLD_DELAY)
  --backlog=size            listen backlog (default SOMAXCONN)
  --restart                 SIGHUP the running server (--pid-file) and wait until
                            --status-file shows only the new generation
  --stop                    SIGTERM the running server (--pid-file) and wait until it exits
  --version, --help
Every `gracefd run` option works too (--ready notify, --listen, --control-socket,
--stop-timeout, ...): see `gracefd run --help`.
";

#[cfg(test)]
mod tests {
    /// The defaults the help texts state are the library's (declared once there).
    #[test]
    fn stated_ready_timeouts_are_the_librarys() {
        let run_s = gracefd::__cli::supervise::options::DEFAULT_READY_TIMEOUT_MS / 1000;
        let daemonize_s = crate::daemonize_cmd::DEFAULT_READY_TIMEOUT_MS / 1000;
        assert!(super::RUN.contains(&format!("failed (default {}:", run_s)), "gracefd run --help");
        assert!(super::DAEMONIZE.contains(&format!("exit 241 after this (default {})", daemonize_s)), "gracefd daemonize --help");
    }
}
