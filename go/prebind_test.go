package gracefd_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/gracefd/gracefd/go"
)

func TestListenControlRunsBeforeBind(t *testing.T) {
	var calls int
	var network, address string
	portBefore := -1
	control := func(nw, addr string, c syscall.RawConn) error {
		calls++
		network, address = nw, addr
		var serr error
		err := c.Control(func(fd uintptr) {
			if sa, err := syscall.Getsockname(int(fd)); err == nil {
				if in4, ok := sa.(*syscall.SockaddrInet4); ok {
					portBefore = in4.Port
				}
			}
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReuseport, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}
	opts := &gracefd.ListenOptions{Control: control}
	ln, err := gracefd.ListenWith("ctl-web", "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("ctl-web")
	defer ln.Close()
	if calls != 1 || network != "tcp4" || address != "127.0.0.1:0" || portBefore != 0 {
		t.Fatalf("Control: %d calls, network %q, address %q, port before bind %d", calls, network, address, portBefore)
	}
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var reuse int
	_ = rc.Control(func(fd uintptr) { reuse, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, soReuseport) })
	if reuse != 1 {
		t.Fatalf("SO_REUSEPORT is %d on the listener", reuse)
	}
	// The registered socket again: nothing new is bound, Control is not called.
	again, err := gracefd.ListenWith("ctl-web", "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	if calls != 1 {
		t.Fatalf("Control called %d times, want 1", calls)
	}
}

func TestListenControlRefuses(t *testing.T) {
	for _, c := range []struct {
		name    string
		control func(string, string, syscall.RawConn) error
		errno   syscall.Errno
		detail  string
	}{
		{"errno", func(string, string, syscall.RawConn) error { return syscall.EPERM }, syscall.EPERM, "operation not permitted"},
		{"wrapped", func(string, string, syscall.RawConn) error { return errors.Join(errors.New("no mark"), syscall.EACCES) }, syscall.EACCES, "no mark"},
		{"plain", func(string, string, syscall.RawConn) error { return errors.New("not today") }, syscall.ECANCELED, "not today"},
		{"panic", func(string, string, syscall.RawConn) error { panic("boom") }, syscall.ECANCELED, "Control panicked: boom"},
	} {
		_, err := gracefd.ListenWith("ctl-refused", "127.0.0.1:0", &gracefd.ListenOptions{Control: c.control})
		wantErr(t, err, c.errno, c.detail)
		if !strings.Contains(err.Error(), "pre-bind hook refused tcp 127.0.0.1:0") {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := gracefd.Forget("ctl-refused"); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("%s: something was registered: %v", c.name, err)
		}
	}
}

// soReuseport is SO_REUSEPORT on Linux (package syscall does not name it).
const soReuseport = 0xf
