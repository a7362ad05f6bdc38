package gracefd

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"syscall"
	"time"
)

// Notify sends state, one or more KEY=VALUE lines separated by "\n" (such as
// "WATCHDOG=1" or "READY=1\nSTATUS=serving"), to the service manager at
// NOTIFY_SOCKET, like sd_notify(3). A RELOADING=1 state without
// MONOTONIC_USEC= gets the current time appended (systemd needs it).
//
// Without NOTIFY_SOCKET (not under systemd) it does nothing and returns nil;
// state is checked even then, so mistakes show in development. Errors:
// EINVAL (a malformed state or NOTIFY_SOCKET), EMSGSIZE (over 4096 bytes),
// ENOENT or ECONNREFUSED (nothing listens at NOTIFY_SOCKET), with the detail.
// For readiness use [Ready], which also tells an old generation.
func Notify(state string) error {
	const op = "Notify"
	cs, err := cstring(op, "state", state)
	if err != nil {
		return err
	}
	defer free(cs)
	var e C.gfd_err
	return check(op, C.gfd_notify(cs, &e), &e)
}

// NotifyWithFiles is [Notify] with file descriptors attached, typically
// "FDSTORE=1\nFDNAME=name" to keep them in systemd's fd store across
// restarts (the unit needs FileDescriptorStoreMax=). Each of files (an
// *os.File, a *net.TCPListener, …) is borrowed: its fd is read with
// SyscallConn().Control, its blocking mode untouched, and systemd receives a
// duplicate. More than 253 fds go out in several messages. EBADF if one is
// closed.
func NotifyWithFiles(state string, files ...syscall.Conn) error {
	const op = "NotifyWithFiles"
	cs, err := cstring(op, "state", state)
	if err != nil {
		return err
	}
	defer free(cs)
	var r C.int
	var e C.gfd_err
	ferr := withFds(files, make([]C.int, 0, len(files)), func(fds []C.int) {
		var p *C.int
		if len(fds) > 0 {
			// fds lives in Go memory and holds no Go pointers: it may be
			// passed to C for the duration of the call.
			p = &fds[0]
		}
		r = C.gfd_notify_with_fds(cs, p, C.size_t(len(fds)), &e)
	})
	if ferr != nil {
		return &Error{Op: op, Errno: syscall.EBADF, Detail: ferr.Error()}
	}
	return check(op, r, &e)
}

// NotifyReloading tells systemd a reload has started: RELOADING=1 with
// MONOTONIC_USEC=now. Call [Ready] when it is done. nil without
// NOTIFY_SOCKET.
func NotifyReloading() error {
	var e C.gfd_err
	return check("NotifyReloading", C.gfd_notify_reloading(&e), &e)
}

// NotifyStopping tells systemd the service is stopping: STOPPING=1. nil
// without NOTIFY_SOCKET.
func NotifyStopping() error {
	var e C.gfd_err
	return check("NotifyStopping", C.gfd_notify_stopping(&e), &e)
}

// NotifyStatus sets the one-line status `systemctl status` shows
// (STATUS=text; "" clears it). A newline in text is EINVAL. nil without
// NOTIFY_SOCKET.
func NotifyStatus(text string) error {
	const op = "NotifyStatus"
	ct, err := cstring(op, "text", text)
	if err != nil {
		return err
	}
	defer free(ct)
	var e C.gfd_err
	return check(op, C.gfd_notify_status(ct, &e), &e)
}

// NotifyBarrier waits until systemd has processed every notification sent
// before (BARRIER=1, like sd_notify_barrier(3)); use it before exiting right
// after a notification. A negative timeout waits without limit; ETIMEDOUT if
// systemd did not confirm in time. nil without NOTIFY_SOCKET.
func NotifyBarrier(timeout time.Duration) error {
	ms := int64(-1)
	if timeout >= 0 {
		ms = timeout.Milliseconds()
	}
	var e C.gfd_err
	return check("NotifyBarrier", C.gfd_notify_barrier(C.int64_t(ms), &e), &e)
}

// NotifyBarrierContext is [NotifyBarrier] bounded by ctx's deadline (no
// deadline: no limit). A cancel without a deadline is seen before the wait
// starts, not during it. ctx's error if it is done already.
func NotifyBarrierContext(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var e C.gfd_err
	return check("NotifyBarrier", C.gfd_notify_barrier(C.int64_t(deadlineMs(ctx)), &e), &e)
}

// WatchdogInterval is the systemd watchdog interval that applies to this
// process (WATCHDOG_USEC, unless WATCHDOG_PID names another process), or 0
// when there is none. Ping with Notify("WATCHDOG=1"), customarily every half
// interval. EINVAL if the variables are malformed.
func WatchdogInterval() (time.Duration, error) {
	var usec C.uint64_t
	var e C.gfd_err
	r := C.gfd_watchdog_usec(&usec, &e)
	if err := check("WatchdogInterval", r, &e); err != nil {
		return 0, err
	}
	if r == 0 {
		return 0, nil
	}
	return time.Duration(usec) * time.Microsecond, nil
}
