package gracefd

/*
#include <stdint.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime/cgo"
	"syscall"
)

// preBindCall is one Listen call's ListenOptions.Control, and what it
// returned.
type preBindCall struct {
	control func(network, address string, c syscall.RawConn) error
	address string
	h       cgo.Handle
	err     error // the error Control returned (or its panic)
}

func newPreBindCall(control func(network, address string, c syscall.RawConn) error, address string) *preBindCall {
	p := &preBindCall{control: control, address: address}
	p.h = cgo.NewHandle(p)
	return p
}

// handle is what C passes back to the trampoline; 0 (no hook) for nil.
func (p *preBindCall) handle() C.uintptr_t {
	if p == nil {
		return 0
	}
	return C.uintptr_t(p.h)
}

func (p *preBindCall) release() { p.h.Delete() }

// explain adds Control's own error text to the library's error.
func (p *preBindCall) explain(err error) error {
	var gerr *Error
	if p == nil || p.err == nil || !errors.As(err, &gerr) {
		return err
	}
	gerr.Detail += " (" + p.err.Error() + ")"
	return gerr
}

//export gfdGoPreBind
func gfdGoPreBind(fd C.int, h C.uintptr_t) (r C.int) {
	p := cgo.Handle(h).Value().(*preBindCall)
	defer func() { // a panic must not unwind through the library's C frames
		if v := recover(); v != nil {
			p.err = fmt.Errorf("Control panicked: %v", v)
			r = -C.int(syscall.ECANCELED)
		}
	}()
	err := p.control(socketNetwork(int(fd)), p.address, fdRawConn(fd))
	if err == nil {
		return 0
	}
	p.err = err
	var en syscall.Errno
	if errors.As(err, &en) && en > 0 && en < 4096 {
		return -C.int(en)
	}
	return -C.int(syscall.ECANCELED)
}

// socketNetwork is the Go network name of a socket: tcp4, tcp6, udp4,
// udp6 or unix ("" if it cannot be told).
func socketNetwork(fd int) string {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return ""
	}
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	if err != nil {
		return ""
	}
	proto := "tcp"
	if typ == syscall.SOCK_DGRAM {
		proto = "udp"
	}
	switch sa.(type) {
	case *syscall.SockaddrInet4:
		return proto + "4"
	case *syscall.SockaddrInet6:
		return proto + "6"
	case *syscall.SockaddrUnix:
		return "unix"
	}
	return ""
}

// fdRawConn is the syscall.RawConn Control gets: the socket the library is
// about to bind, valid during the call only. Read and Write are not for a
// socket that is not bound yet.
type fdRawConn C.int

func (c fdRawConn) Control(f func(fd uintptr)) error {
	f(uintptr(c))
	return nil
}

func (c fdRawConn) Read(func(fd uintptr) (done bool)) error { return syscall.EINVAL }

func (c fdRawConn) Write(func(fd uintptr) (done bool)) error { return syscall.EINVAL }
