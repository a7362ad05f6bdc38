package gracefd_test

// The blocking-mode behaviour documented in the package doc ("Blocking
// mode"): what Go itself does to a shared socket, and what this package does.

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/gracefd/gracefd/go"
)

// Go's net.FileListener sets O_NONBLOCK on its duplicate, which is the
// shared open file description: a blocking socket held by another process
// (here: another fd of the same description) becomes non-blocking.
func TestGoFileListenerMakesTheSharedSocketNonBlocking(t *testing.T) {
	fd, _ := rawListener(t)
	if fdMode(fd) != blocking {
		t.Fatal("a new socket should be blocking")
	}
	dup, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "shared")
	if fdMode(fd) != blocking {
		t.Fatal("os.NewFile changed the mode of a blocking fd")
	}
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f.Close()
	if fdMode(fd) != nonBlocking {
		t.Fatal("expected net.FileListener to make the shared socket non-blocking (Go changed?)")
	}
}

// The hazard: Fd() on the *os.File of a net listener (File()) switches the
// shared socket to blocking, including for the listener itself.
func TestFdOfANetListenersFileMakesTheSocketBlocking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tl := ln.(*net.TCPListener)
	if connMode(t, tl) != nonBlocking {
		t.Fatal("a Go listener should be non-blocking")
	}
	f, err := tl.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_ = f.Fd()
	if connMode(t, tl) != blocking {
		t.Fatal("expected Fd() on a net listener's File to make the socket blocking (Go changed?)")
	}
	// Put it back, so that Close does not hang on a blocked accept.
	rc, _ := tl.SyscallConn()
	_ = rc.Control(func(fd uintptr) { _ = syscall.SetNonblock(int(fd), true) })
}

// Fd() on an *os.File made by os.NewFile from a non-blocking fd (what this
// package does before net.FileListener) leaves it non-blocking.
func TestFdOfNewFileKeepsNonBlocking(t *testing.T) {
	fd, _ := rawListener(t)
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	dup, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "nb")
	defer f.Close()
	_ = f.Fd()
	if fdMode(fd) != nonBlocking {
		t.Fatal("Fd() on a NewFile of a non-blocking fd made it blocking (Go changed?)")
	}
}

// passRaw starts role with the blocking socket fd as fd 3 named "web".
func passRaw(t *testing.T, fd int, role string) *helper {
	t.Helper()
	dup, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "web") // blocking: NewFile leaves it so
	defer f.Close()
	return startHelper(t, role, []*os.File{f}, "LISTEN_FDNAMES=web")
}

// Inherited leaves an inherited socket's mode alone (and so does Fd() on the
// *os.File it returns, for a blocking socket).
func TestInheritedKeepsTheModeOfAnInheritedSocket(t *testing.T) {
	fd, _ := rawListener(t)
	h := passRaw(t, fd, "inherit-file")
	if got := h.line(); got != "mode blocking blocking" {
		t.Fatalf("helper: %q", got)
	}
	if st := h.wait(); st != 0 {
		t.Fatalf("helper exited %d", st)
	}
	if fdMode(fd) != blocking {
		t.Fatal("the shared socket became non-blocking")
	}
}

// Listen makes an inherited blocking socket non-blocking, for every process
// that holds it (documented), and serves from the shared queue.
func TestListenMakesAnInheritedSocketNonBlockingForAll(t *testing.T) {
	fd, addr := rawListener(t)
	h := passRaw(t, fd, "inherit-listen")
	if got := h.line(); !strings.HasPrefix(got, "listening "+addr) {
		t.Fatalf("helper: %q (want listening on %s)", got, addr)
	}
	if fdMode(fd) != nonBlocking {
		t.Fatal("expected the shared socket to be non-blocking once a Go generation listens on it")
	}
	if got := dialLine(t, addr); !strings.HasPrefix(got, "hello from ") {
		t.Fatalf("got %q", got)
	}
	if st := h.wait(); st != 0 {
		t.Fatalf("helper exited %d", st)
	}
}

// AddFile reads the fd through RawConn.Control: the mode is unchanged.
func TestAddFileKeepsTheMode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tl := ln.(*net.TCPListener)
	if err := gracefd.AddFile("added-listener", tl); err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("added-listener")
	if connMode(t, tl) != nonBlocking {
		t.Fatal("AddFile changed the listener's mode")
	}

	fd, _ := rawListener(t)
	dup, _ := syscall.Dup(fd)
	f := os.NewFile(uintptr(dup), "blocking")
	defer f.Close()
	if err := gracefd.AddFile("added-blocking", f); err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("added-blocking")
	if fdMode(fd) != blocking {
		t.Fatal("AddFile changed a blocking socket's mode")
	}
}
