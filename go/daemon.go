package gracefd

/*
#include "shim.h"
*/
import "C"

import (
	"syscall"
	"time"
)

// Exit statuses of a daemonize launcher (besides 0, when the daemon called
// [Ready], and the status the daemon gave to [Fail]). The launcher prints
// the reason on its stderr in each case, and no daemon is left running.
const (
	// ExitDied: the daemon exited or was killed before it was ready (the
	// launcher printed its exit status or signal).
	ExitDied = 240
	// ExitTimeout: the daemon was not ready within [DaemonOptions].Timeout;
	// the launcher killed it (SIGTERM, then SIGKILL).
	ExitTimeout = 241
	// ExitAlreadyRunning is the status to exit with when [Daemonize] or
	// [CreatePidFile] fails with EEXIST: another instance holds the pid
	// file. The library returns the error rather than exiting, so the
	// program decides; the blank-import package daemonize exits with it.
	ExitAlreadyRunning = 242
	// ExitSetup: the daemon could not be set up after the fork (chdir, the
	// user switch, RLIMIT_NOFILE, the exec…).
	ExitSetup = 243
	// ExitLost: the launcher lost track of the daemon (its readiness
	// channel closed without a report); it tried to kill the daemon.
	ExitLost = 244
)

// The values above are gracefd.h's: this does not compile otherwise.
var _ = [1]struct{}{}[(ExitDied-C.GRACEFD_EXIT_DIED)*(ExitDied-C.GRACEFD_EXIT_DIED)+
	(ExitTimeout-C.GRACEFD_EXIT_TIMEOUT)*(ExitTimeout-C.GRACEFD_EXIT_TIMEOUT)+
	(ExitAlreadyRunning-C.GRACEFD_EXIT_ALREADY_RUNNING)*(ExitAlreadyRunning-C.GRACEFD_EXIT_ALREADY_RUNNING)+
	(ExitSetup-C.GRACEFD_EXIT_SETUP)*(ExitSetup-C.GRACEFD_EXIT_SETUP)+
	(ExitLost-C.GRACEFD_EXIT_LOST)*(ExitLost-C.GRACEFD_EXIT_LOST)]

// DaemonMode is how [Daemonize] starts the daemon.
type DaemonMode int

const (
	// DaemonReexec (the zero value, and the only mode that works from Go
	// code): the program's executable, as recorded at start-up, is started
	// again with the same arguments, detached, and becomes the daemon; its
	// own call to [Daemonize] returns nil. Safe in a multi-threaded process.
	DaemonReexec DaemonMode = iota
	// DaemonAuto forks when the process is single-threaded and re-executes
	// otherwise. A Go program always has several threads by the time main
	// runs, so from Go this is DaemonReexec.
	DaemonAuto
	// DaemonFork forks twice without exec. A child of fork in a
	// multi-threaded process has only the calling thread, and every lock
	// another thread held (the Go runtime's included) stays locked in it
	// forever, so the library refuses with EBUSY, naming the thread count:
	// from Go it always fails. It is here to mirror the C API and so that
	// the refusal can be seen. To daemonize before the Go runtime starts,
	// use the blank-import package daemonize instead.
	DaemonFork
)

// DaemonOptions are the options of [Daemonize]. The zero value (or nil) is
// the defaults: no pid file, working directory /, umask 022, stdout and
// stderr to /dev/null, no user switch, RLIMIT_NOFILE untouched, 30 s to be
// ready, re-exec mode.
type DaemonOptions struct {
	// PidFile is a pid file to keep ("" for none). It is opened by the
	// launcher before anything starts, with O_NOFOLLOW (a symbolic link is
	// refused, ELOOP), must be a regular file of ours with one link (EPERM
	// otherwise), and is locked with flock for the daemon's whole life; the
	// daemon's pid is written into it once it exists. A stale file (nobody
	// holds the lock) is taken over. The lock and the file go to the new
	// generation on [Upgrade]. Remove it at clean exit with
	// [RemovePidFile]. A relative path is the launcher's.
	PidFile string
	// WorkDir is the daemon's working directory ("" means "/"; "." keeps
	// the launcher's). A missing directory is ENOENT before anything starts.
	WorkDir string
	// Umask is the daemon's umask (nil means 022). Above 0777 is EINVAL.
	Umask *uint32
	// LogFile receives the daemon's stdout and stderr ("" means
	// /dev/null). The launcher opens it before anything starts (and before
	// any user switch) for appending, created with mode 0640. stdin is
	// always /dev/null.
	LogFile string
	// User is the user to switch the daemon to, a name or a number ("" for
	// no switch), after the pid file and the log file are opened and
	// RLIMIT_NOFILE is raised. The group becomes the user's primary group
	// unless Group says otherwise; supplementary groups are set as
	// initgroups(3) would. Names are resolved by the launcher (an unknown
	// user is ENOENT before anything starts). Needs root.
	User string
	// Group is the group to switch the daemon to, a name or a number (""
	// means the user's primary group, or no switch without a User).
	Group string
	// NoFile raises the daemon's RLIMIT_NOFILE (nil leaves it), so that it
	// does not silently inherit a low limit from whoever launched it. Limits
	// are only ever raised: the hard limit to NoFile.Max when that is
	// allowed (root), else it stays; the soft limit to NoFile.Cur, capped by
	// the resulting hard limit. Cur: math.MaxUint64, Max: 0 means "soft up
	// to the hard limit".
	NoFile *syscall.Rlimit
	// Timeout is how long the daemon has to call [Ready] or [Fail] (0 means
	// 30 s, negative means no limit). Past it the launcher kills the daemon
	// and exits with [ExitTimeout].
	Timeout time.Duration
	// Mode is how the daemon is started: leave it at [DaemonReexec].
	Mode DaemonMode
}

// Daemonize makes the program a daemon and returns nil in the daemon.
//
// The calling process, the launcher, does not return: it waits until the
// daemon says how its start went and exits with the truth, so that
// `server && echo up` means the server is up. It exits 0 once the daemon
// called [Ready]; with the daemon's status, after printing its message, if
// the daemon called [Fail]; with [ExitDied], [ExitTimeout], [ExitSetup] or
// [ExitLost] otherwise. Whenever it exits non-zero, no daemon is left.
//
// Go programs daemonize in re-exec mode (see [DaemonReexec]): the program
// is started again as the daemon, so its code before Daemonize runs a second
// time there. Call Daemonize first thing in main, after parsing flags, and
// open listeners after it (a socket the launcher bound would still be held
// by the launcher while the daemon starts). The daemon is a grandchild of
// the launcher in a new session that it does not lead (it can never get a
// controlling terminal); its environment is the program's start-up
// environment without the fd-passing variables (LISTEN_*, SERVER_STARTER_*,
// GRACEFD_*).
//
// In a process that is already the daemon (a second call), or a new
// generation started by [Upgrade], Daemonize returns nil at once and changes
// nothing: a server passes the same flags to every generation.
//
// Errors come before anything was started, each with the library's detail:
// EEXIST another instance holds the pid file ("already running as pid N":
// exit with [ExitAlreadyRunning]); ELOOP the pid file is a symbolic link;
// EPERM it is not ours or has several links; ENOENT an unknown user or
// group, a missing working directory or pid or log file directory; EBUSY
// [DaemonFork] (refused in a multi-threaded process); EINVAL bad options;
// EACCES, EMFILE, … from open, socketpair, fork. In a re-executed daemon
// whose setup fails, the launcher has been told (it exits [ExitSetup]) and
// the error is returned: exit then.
//
// To daemonize before the Go runtime starts instead (before any thread, so
// that the user switch and the redirections happen in a single-threaded
// process), blank-import github.com/gracefd/gracefd/go/daemonize.
func Daemonize(opts *DaemonOptions) error {
	const op = "Daemonize"
	if opts == nil {
		opts = &DaemonOptions{}
	}
	var toFree []*C.char
	defer func() {
		for _, p := range toFree {
			free(p)
		}
	}()
	// "" means "not set": the option keeps the library's default.
	opt := func(what, s string) (*C.char, error) {
		if s == "" {
			return nil, nil
		}
		c, err := cstring(op, what, s)
		if err == nil {
			toFree = append(toFree, c)
		}
		return c, err
	}
	var strs [5]*C.char
	for i, o := range []struct{ what, s string }{
		{"PidFile", opts.PidFile}, {"WorkDir", opts.WorkDir}, {"LogFile", opts.LogFile},
		{"User", opts.User}, {"Group", opts.Group},
	} {
		c, err := opt(o.what, o.s)
		if err != nil {
			return err
		}
		strs[i] = c
	}
	var mode C.int
	switch opts.Mode {
	case DaemonReexec:
		mode = C.GRACEFD_DAEMON_REEXEC
	case DaemonAuto:
		mode = C.GRACEFD_DAEMON_AUTO
	case DaemonFork:
		mode = C.GRACEFD_DAEMON_FORK
	default:
		return invalid(op, "Mode is none of DaemonReexec, DaemonAuto, DaemonFork")
	}
	setUmask, umask := 0, uint32(0)
	if opts.Umask != nil {
		setUmask, umask = 1, *opts.Umask
	}
	setNofile, soft, hard := 0, uint64(0), uint64(0)
	if opts.NoFile != nil {
		setNofile, soft, hard = 1, opts.NoFile.Cur, opts.NoFile.Max
	}
	timeoutMs := int64(0) // the default
	switch {
	case opts.Timeout > 0:
		timeoutMs = max(opts.Timeout.Milliseconds(), 1) // never 0, which would mean the default
	case opts.Timeout < 0:
		timeoutMs = -1
	}
	var e C.gfd_err
	r := C.gfd_daemonize(strs[0], strs[1], strs[2], strs[3], strs[4], C.int(setUmask), C.uint32_t(umask),
		C.int(setNofile), C.uint64_t(soft), C.uint64_t(hard), C.int64_t(timeoutMs), mode, &e)
	return check(op, r, &e)
}

// CreatePidFile locks the pid file at path, writes this process's pid into
// it and holds it for the rest of the process's life: the pid file of a
// program that does not daemonize ([DaemonOptions].PidFile is the one of a
// daemon). It is opened with O_NOFOLLOW, must be a regular file owned by
// the effective user with a single link, and is locked with flock; a stale
// file (nobody holds the lock) is taken over. The lock goes to the new
// generation on [Upgrade], which rewrites the pid once the new generation is
// ready; calling CreatePidFile again for the file already held (as a new
// generation running with the same flags does) only rewrites the pid.
// Remove it at clean exit with [RemovePidFile].
//
// Errors: EEXIST another process holds it (the detail says "already running
// as pid N": exit with [ExitAlreadyRunning]); ELOOP path is a symbolic link;
// EPERM not owned by us, or several links; EINVAL an empty path or not a
// regular file; EBUSY this process already holds a different pid file;
// EACCES, ENOENT, … from open.
func CreatePidFile(path string) error {
	const op = "CreatePidFile"
	cp, err := cstring(op, "path", path)
	if err != nil {
		return err
	}
	defer free(cp)
	var e C.gfd_err
	return check(op, C.gfd_pidfile_create(cp, &e), &e)
}

// RemovePidFile removes the pid file this process holds (from
// [CreatePidFile], [Daemonize] or an upgrade) if it still names this process
// and is still the file at its path, then releases it; call it at clean
// exit. It reports whether the file was removed: false if there is none, or
// it names another process (after an upgrade it names the new generation,
// which keeps it), or it was replaced or removed meanwhile — it is left
// alone then. Errors: EACCES (or another errno from unlink) when the file
// cannot be removed, for example after switching to a user that may not
// write its directory; it stays held then.
func RemovePidFile() (removed bool, err error) {
	var e C.gfd_err
	r := C.gfd_pidfile_remove(&e)
	return r == 1, check("RemovePidFile", r, &e)
}
