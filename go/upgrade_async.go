package gracefd

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// PendingUpgrade is an upgrade in flight, from [StartUpgrade]. This process
// serves on meanwhile; [PendingUpgrade.Done] is closed once the outcome is
// known, and [PendingUpgrade.Result] gives it.
type PendingUpgrade struct {
	fd       int // our copy of the library's fd: readable when the new generation reported or died
	cancel   chan struct{}
	cancelMu sync.Once
	done     chan struct{}
	pid      int
	err      error
}

// How often the watcher looks at an upgrade whose fd stayed quiet: the
// timeout is only noticed by a gracefd_upgrade_finish call, and a Cancel
// waits at most this long to be seen.
const upgradeWatchTick = 20 * time.Millisecond

// StartUpgrade begins an [Upgrade] and returns at once (the new generation
// is started by then). The outcome arrives on its own: Done is closed when
// the new generation is ready (Result gives its pid: drain and exit) or
// failed (Result gives the error; it has been killed and reaped, and this
// process goes on serving). One goroutine watches the upgrade; it ends with
// the outcome, and nothing is left behind.
//
// Errors (nothing started): those of [Upgrade] for bad options, EALREADY
// (another upgrade is in flight), ENOENT, and fork or socket errors.
func StartUpgrade(opts *UpgradeOptions) (*PendingUpgrade, error) {
	const op = "StartUpgrade"
	var e C.gfd_err
	var fd C.int
	err := withUpgradeOptions(op, opts, func(o *cUpgradeOptions) C.int {
		fd = C.gfd_upgrade_start(o.exe, o.argv, o.argc, o.env, o.nenv, o.timeoutSet, o.timeoutMs, o.killSig, &e)
		return fd
	}, &e)
	if err != nil {
		return nil, err
	}
	p := &PendingUpgrade{fd: int(fd), cancel: make(chan struct{}), done: make(chan struct{})}
	go p.watch()
	return p, nil
}

// Done is closed once the outcome is known.
func (p *PendingUpgrade) Done() <-chan struct{} { return p.done }

// Result is the outcome, once Done is closed (before: 0 and nil): the new
// generation's pid, or the error of [Upgrade] (ECANCELED after Cancel).
func (p *PendingUpgrade) Result() (pid int, err error) {
	select {
	case <-p.done:
		return p.pid, p.err
	default:
		return 0, nil
	}
}

// Cancel abandons the upgrade if it is still in flight: the new generation
// is killed (its kill signal, SIGKILL 2 s later) and reaped, and this
// process serves on. It waits for the outcome and returns Result's: an
// error with ECANCELED if the cancel came first, or the outcome that came
// before it (a ready new generation is not killed then: drain and exit).
func (p *PendingUpgrade) Cancel() (pid int, err error) {
	p.cancelMu.Do(func() { close(p.cancel) })
	<-p.done
	return p.pid, p.err
}

// watch polls our fd and finishes the upgrade; it alone calls finish and
// cancel, so the library's state is never raced.
func (p *PendingUpgrade) watch() {
	defer close(p.done)
	defer syscall.Close(p.fd)
	for {
		select {
		case <-p.cancel:
			var e C.gfd_err
			r := C.gfd_upgrade_cancel(&e)
			if err := check("Upgrade", r, &e); err != nil {
				p.err = err
				return
			}
			p.err = &Error{Op: "Upgrade", Errno: syscall.ECANCELED,
				Detail: fmt.Sprintf("cancelled: new generation pid %d killed and reaped, still serving", int(r))}
			return
		default:
		}
		if err := pollIn(p.fd, upgradeWatchTick); err != nil {
			// Not seen in practice (ppoll on our own fd); the library
			// still holds the upgrade: take its outcome the blocking way.
			var pid C.pid_t
			var e C.gfd_err
			for {
				r := C.gfd_upgrade_finish(&pid, &e)
				if r != -C.int(syscall.EAGAIN) {
					p.pid, p.err = int(pid), check("Upgrade", r, &e)
					return
				}
				time.Sleep(upgradeWatchTick)
			}
		}
		var pid C.pid_t
		var e C.gfd_err
		r := C.gfd_upgrade_finish(&pid, &e)
		if r == -C.int(syscall.EAGAIN) {
			continue
		}
		if err := check("Upgrade", r, &e); err != nil {
			p.err = err
			return
		}
		p.pid = int(pid)
		return
	}
}

// pollIn waits until fd is readable or the timeout passes (ppoll; the
// goroutine's thread waits in the kernel, the rest of the program runs on).
func pollIn(fd int, timeout time.Duration) error {
	type pollFd struct {
		fd      int32
		events  int16
		revents int16
	}
	pfd := pollFd{fd: int32(fd), events: 0x1} // POLLIN
	ts := syscall.NsecToTimespec(int64(timeout))
	for {
		_, _, en := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if en == syscall.EINTR {
			continue
		}
		if en != 0 {
			return en
		}
		return nil
	}
}

// UpgradeContext is [Upgrade] bounded by ctx: if ctx is done before the
// outcome, the upgrade is cancelled (the new generation is killed and
// reaped, this process serves on) and the error is ECANCELED joined with
// ctx's error (errors.Is works for both). Errors otherwise as [Upgrade].
func UpgradeContext(ctx context.Context, opts *UpgradeOptions) (pid int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, errors.Join(&Error{Op: "Upgrade", Errno: syscall.ECANCELED, Detail: "the context is done already"}, err)
	}
	p, err := StartUpgrade(opts)
	if err != nil {
		return 0, err
	}
	select {
	case <-p.Done():
		return p.Result()
	case <-ctx.Done():
		pid, err := p.Cancel()
		var gerr *Error
		if errors.As(err, &gerr) && gerr.Errno == syscall.ECANCELED {
			return 0, errors.Join(err, ctx.Err())
		}
		return pid, err // the outcome came first
	}
}
