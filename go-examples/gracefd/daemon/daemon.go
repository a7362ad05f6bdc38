// Package daemon daemonizes a Go program with libgracefd and tells the
// launching shell the truth: the launcher exits 0 only once the daemon calls
// Ready, or with the daemon's own status and message if it calls Fail, dies
// or stays silent past the timeout.
//
// A Go program is multi-threaded from its first instruction, so it must never
// fork without exec: Daemonize uses gracefd's re-exec mode (the program's
// executable is started again, detached, and becomes the daemon). To
// daemonize before the Go runtime starts instead, blank-import
// gracefd.example/go-examples/gracefd/daemonize.
//
// Build libgracefd.a first (`make lib` at the repository root).
package daemon

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
#cgo LDFLAGS: ${SRCDIR}/../../../build/lib/libgracefd.a
#include <stdio.h>
#include <stdlib.h>
#include "gracefd.h"

// gracefd_last_error() is per thread: read it in the same C call as the
// failing function (a goroutine may move between threads across cgo calls).
static int go_note(int r, char *err, size_t n) {
	if (r < 0) snprintf(err, n, "%s", gracefd_last_error());
	return r;
}
static int go_daemonize(gracefd_daemon *o, char *err, size_t n) { return go_note(gracefd_daemonize(o), err, n); }
static int go_ready(char *err, size_t n) { return go_note(gracefd_ready(), err, n); }
static int go_fail(int status, const char *msg, char *err, size_t n) { return go_note(gracefd_fail(status, msg), err, n); }
static int go_pidfile_remove(char *err, size_t n) { return go_note(gracefd_pidfile_remove(), err, n); }
static int go_set_str(int which, gracefd_daemon *o, const char *v, char *err, size_t n) {
	int r = -22;
	switch (which) {
	case 0: r = gracefd_daemon_set_pid_file(o, v); break;
	case 1: r = gracefd_daemon_set_workdir(o, v); break;
	case 2: r = gracefd_daemon_set_log_file(o, v); break;
	case 3: r = gracefd_daemon_set_user(o, v); break;
	case 4: r = gracefd_daemon_set_group(o, v); break;
	}
	return go_note(r, err, n);
}
static int go_set_num(gracefd_daemon *o, uint32_t umask, int set_umask, uint64_t soft, uint64_t hard, int set_nofile,
                      int64_t timeout_ms, char *err, size_t n) {
	int r = 0;
	if (set_umask) r = gracefd_daemon_set_umask(o, umask);
	if (r == 0 && set_nofile) r = gracefd_daemon_set_nofile(o, soft, hard);
	if (r == 0 && timeout_ms != 0) r = gracefd_daemon_set_timeout_ms(o, timeout_ms);
	if (r == 0) r = gracefd_daemon_set_mode(o, GRACEFD_DAEMON_REEXEC);
	return go_note(r, err, n);
}
*/
import "C"

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"
)

// Exit statuses of the launcher (besides 0 and the status given to Fail).
const (
	ExitDied           = C.GRACEFD_EXIT_DIED            // the daemon died before it was ready
	ExitTimeout        = C.GRACEFD_EXIT_TIMEOUT         // not ready in time; killed
	ExitAlreadyRunning = C.GRACEFD_EXIT_ALREADY_RUNNING // the pid file is held by a running instance
	ExitSetup          = C.GRACEFD_EXIT_SETUP           // the daemon could not be set up (user switch, chdir…)
	ExitLost           = C.GRACEFD_EXIT_LOST            // the launcher lost track of the daemon
)

// Options for Daemonize. The zero value means the library's defaults.
type Options struct {
	PidFile    string        // locked pid file ("" = none)
	WorkDir    string        // working directory ("" = "/")
	Umask      *uint32       // nil = 022
	LogFile    string        // stdout and stderr ("" = /dev/null)
	User       string        // switch to this user, name or number ("" = stay)
	Group      string        // and group ("" = the user's primary group)
	NofileSoft uint64        // raise RLIMIT_NOFILE (0 and 0 = leave it)
	NofileHard uint64        //
	Timeout    time.Duration // how long the daemon has to call Ready (0 = 30 s, negative = forever)
}

// Error is a failed gracefd call: the errno and the library's detail.
type Error struct {
	Op     string
	Errno  syscall.Errno
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Op, e.Detail) }

// Unwrap lets errors.Is(err, syscall.EEXIST) and friends work.
func (e *Error) Unwrap() error { return e.Errno }

const errLen = 256

func check(op string, r C.int, buf []C.char) error {
	if r >= 0 {
		return nil
	}
	return &Error{Op: op, Errno: syscall.Errno(-r), Detail: C.GoString(&buf[0])}
}

// Daemonize makes the program a daemon in re-exec mode and returns nil in
// the daemon. The calling process (the launcher) never returns: it exits once
// the daemon called Ready (status 0) or Fail, died, or timed out (see the
// Exit* constants). In the daemon, the program's code before Daemonize has
// run a second time: call it first thing in main, and open listeners after.
// Errors (nothing was started): the pid file is held (errors.Is(err,
// syscall.EEXIST): exit with ExitAlreadyRunning), an unknown user, a missing
// directory, bad options.
func Daemonize(o Options) error {
	buf := make([]C.char, errLen)
	h := C.gracefd_daemon_new()
	if h == nil {
		return &Error{Op: "daemonize", Errno: syscall.ENOMEM, Detail: "out of memory"}
	}
	defer C.gracefd_daemon_free(h)
	for i, v := range []string{o.PidFile, o.WorkDir, o.LogFile, o.User, o.Group} {
		if v == "" {
			continue
		}
		cs := C.CString(v)
		r := C.go_set_str(C.int(i), h, cs, &buf[0], errLen)
		C.free(unsafe.Pointer(cs))
		if err := check("daemonize options", r, buf); err != nil {
			return err
		}
	}
	var umask C.uint32_t
	setUmask := C.int(0)
	if o.Umask != nil {
		umask, setUmask = C.uint32_t(*o.Umask), 1
	}
	setNofile := C.int(0)
	if o.NofileSoft != 0 || o.NofileHard != 0 {
		setNofile = 1
	}
	timeout := int64(0)
	if o.Timeout > 0 {
		timeout = max(o.Timeout.Milliseconds(), 1)
	} else if o.Timeout < 0 {
		timeout = -1
	}
	r := C.go_set_num(h, umask, setUmask, C.uint64_t(o.NofileSoft), C.uint64_t(o.NofileHard), setNofile, C.int64_t(timeout), &buf[0], errLen)
	if err := check("daemonize options", r, buf); err != nil {
		return err
	}
	return check("daemonize", C.go_daemonize(h, &buf[0], errLen), buf)
}

// Ready tells the launcher (and systemd, when it listens) that the daemon
// serves. It reports whether someone was waiting.
func Ready() (bool, error) {
	buf := make([]C.char, errLen)
	r := C.go_ready(&buf[0], errLen)
	return r == 1, check("ready", r, buf)
}

// Fail tells the launcher the daemon could not start: it prints msg and
// exits with status (1–255). Exit afterwards.
func Fail(status int, msg string) error {
	buf := make([]C.char, errLen)
	cs := C.CString(msg)
	defer C.free(unsafe.Pointer(cs))
	return check("fail", C.go_fail(C.int(status), cs, &buf[0], errLen), buf)
}

// RemovePidFile removes the pid file at clean exit if it still names this
// process (after an upgrade it names the new generation and is left alone).
func RemovePidFile() (bool, error) {
	buf := make([]C.char, errLen)
	r := C.go_pidfile_remove(&buf[0], errLen)
	return r == 1, check("remove pid file", r, buf)
}
