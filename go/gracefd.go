package gracefd

/*
#cgo pkg-config: gracefd
#include "shim.h"
*/
import "C"

import (
	"strings"
	"syscall"
	"unsafe"
)

// Error is a failure reported by libgracefd (or found by this package before
// calling it): the errno and the library's one-line detail.
//
// It unwraps to its [syscall.Errno], so errors.Is(err, syscall.EBUSY) and
// errors.Is(err, fs.ErrNotExist) work, and errors.As(err, &gerr) gives the
// detail.
//
// The detail is gracefd_last_error(), which is per OS thread. A goroutine may
// move between OS threads from one cgo call to the next, so reading it in a
// second cgo call could return another call's message. This package never
// does that: a small C helper makes the failing call and copies the detail
// within one cgo call, which runs on one OS thread from start to end.
// (runtime.LockOSThread around the two calls would work too, but every call
// site would have to get it right; the helper makes it impossible to get
// wrong, and costs no second cgo call.)
type Error struct {
	// Op is the function of this package that failed, such as "Listen".
	Op string
	// Errno is the error code (the C function returned -Errno).
	Errno syscall.Errno
	// Detail says what went wrong and with which input, such as
	// `address "127.0.0.1:99999": port "99999" is above 65535`.
	Detail string
}

// Error returns "gracefd: Op: Detail (code)", for example
// `gracefd: Listen: address "127.0.0.1:99999": port "99999" is above 65535 (invalid argument (EINVAL))`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("gracefd: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	name := C.GoString(C.gracefd_strerror(C.int(e.Errno)))
	switch {
	case strings.HasSuffix(e.Detail, name):
		// The library's detail already ends with the code (a system
		// call's failure: "bind …: no such file or directory (ENOENT)").
		b.WriteString(e.Detail)
	case e.Detail != "":
		b.WriteString(e.Detail)
		b.WriteString(" (")
		b.WriteString(name)
		b.WriteString(")")
	default:
		b.WriteString(name)
	}
	return b.String()
}

// Unwrap returns the [syscall.Errno].
func (e *Error) Unwrap() error { return e.Errno }

// check turns a C return value into an error (nil for r >= 0).
func check(op string, r C.int, e *C.gfd_err) error {
	if r >= 0 {
		return nil
	}
	return &Error{Op: op, Errno: syscall.Errno(-r), Detail: C.GoString(&e.msg[0])}
}

// invalid is an EINVAL found on the Go side, before calling the library.
func invalid(op, detail string) error {
	return &Error{Op: op, Errno: syscall.EINVAL, Detail: detail}
}

// cstring converts s for C; a string containing NUL cannot be passed and is
// EINVAL (C would see it cut short). The result must be freed with free.
func cstring(op, what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalid(op, what+" contains a NUL byte")
	}
	return C.CString(s), nil
}

// cname is cstring, but "" gives NULL (unnamed).
func cname(op, name string) (*C.char, error) {
	if name == "" {
		return nil, nil
	}
	return cstring(op, "name", name)
}

func free(p *C.char) {
	if p != nil {
		C.free(unsafe.Pointer(p))
	}
}

// Version is the library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.gracefd_version_string()) }

// Ready tells everyone who waits that this process serves: the process that
// started it (an old generation upgrading, a daemonize launcher, the gracefd
// superdaemon) and systemd (READY=1, plus MAINPID= in a new generation) when
// NOTIFY_SOCKET is set. Call it once the listeners are open and requests can
// be answered; nobody waiting is not an error.
//
// An error means a starter or systemd could not be told (for example
// ECONNREFUSED when nothing listens at NOTIFY_SOCKET); the process may go on.
func Ready() error {
	var e C.gfd_err
	return check("Ready", C.gfd_ready(&e), &e)
}

// Fail tells whoever started this process that it could not start: an
// upgrading old generation gets an error carrying msg from [Upgrade] and keeps
// serving; a daemonize launcher prints msg and exits with status. Fail does
// not exit: the program should exit afterwards (with status, customarily).
//
// status must be 1–255 and msg one line (it is cut to 200 bytes); otherwise
// the error is EINVAL. Nobody waiting is not an error.
func Fail(status int, msg string) error {
	cm, err := cstring("Fail", "message", msg)
	if err != nil {
		return err
	}
	defer free(cm)
	var e C.gfd_err
	return check("Fail", C.gfd_fail(C.int(status), cm, &e), &e)
}

// Generation is this process's generation: 1 for a first start, one more for
// each upgrade (GRACEFD_GENERATION, read at start-up).
func Generation() int { return int(C.gracefd_generation()) }

// IsUpgrade reports whether an older generation of this program started this
// process through [Upgrade].
func IsUpgrade() bool { return C.gracefd_is_upgrade() == 1 }
