// Package daemonize daemonizes the program before the Go runtime starts,
// when the environment asks for it. Import it for its side effect:
//
//	import _ "github.com/gracefd/gracefd/go/daemonize"
//
// and run the program with GRACEFD_DAEMONIZE=1. A C constructor (runc's
// nsenter uses the same trick) then makes the program a daemon before the
// runtime's first thread exists; the program calls gracefd.Ready() once it
// serves, or gracefd.Fail(status, msg) if it cannot start, and
// gracefd.RemovePidFile() at clean exit (package
// github.com/gracefd/gracefd/go). Without GRACEFD_DAEMONIZE=1 nothing
// happens, and the program runs in the foreground. To daemonize from
// ordinary Go code instead (flags rather than the environment), call
// gracefd.Daemonize first thing in main; both ways use the same library
// and give the launcher the same exit statuses.
//
// Options, all optional, read by the constructor:
//
//	GRACEFD_DAEMONIZE_PIDFILE     pid file (locked, written with the daemon's pid)
//	GRACEFD_DAEMONIZE_LOGFILE     stdout and stderr of the daemon (default /dev/null)
//	GRACEFD_DAEMONIZE_WORKDIR     working directory (default /)
//	GRACEFD_DAEMONIZE_UMASK       octal umask (default 022)
//	GRACEFD_DAEMONIZE_USER        user to switch to (name or number)
//	GRACEFD_DAEMONIZE_GROUP       group to switch to (name or number)
//	GRACEFD_DAEMONIZE_NOFILE      RLIMIT_NOFILE to raise to: SOFT or SOFT:HARD
//	GRACEFD_DAEMONIZE_TIMEOUT_MS  how long the daemon has to be ready (default 30000)
//
// An empty variable is the same as an unset one. The launcher exits 0 when
// the daemon is ready; with the daemon's status and message on gracefd.Fail;
// 240 gracefd.ExitDied, 241 gracefd.ExitTimeout, 242
// gracefd.ExitAlreadyRunning (another instance holds the pid file: "already
// running as pid N"), 243 gracefd.ExitSetup (setup failed, or a bad option:
// the variable is named), 244 gracefd.ExitLost; the reason is printed on its
// stderr, and whenever it exits non-zero no daemon is left.
//
// How it avoids re-triggering: the constructor daemonizes in re-exec mode.
// The daemon is the program started again by the library with an
// environment the library built, in which every GRACEFD_* variable of the
// launcher — GRACEFD_DAEMONIZE=1 included — is left out, and its own marker
// (GRACEFD_DAEMON) is honoured only by the process LISTEN_PID names. So the
// daemon's children, even this same program, never daemonize again, and
// nobody calls setenv. The daemon's half also runs in the constructor, so
// its user switch and redirections happen before any Go thread exists.
package daemonize

/*
#cgo pkg-config: gracefd
*/
import "C"
