package gracefd_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracefd/gracefd/go"
)

// takeRole is a new instance started by someone else: it takes the
// sockets at GOTEST_HANDOFF, listens on the one named ho-web, becomes ready
// (the old one is told to drain) and serves one connection.
func takeRole() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := gracefd.TakeHandoff(ctx, os.Getenv("GOTEST_HANDOFF"))
	if err != nil {
		fmt.Println("take:", err)
		return 1
	}
	ln, err := gracefd.Listen("ho-web", "127.0.0.1:1") // the name wins: the taken socket
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	fmt.Println("took", n)
	if err := gracefd.Ready(); err != nil {
		fmt.Println("ready:", err)
	}
	return serveOne(ln, fmt.Sprintf("taken by %d", os.Getpid()))
}

func TestHandoffServeAndTake(t *testing.T) {
	ln, err := gracefd.Listen("ho-web", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("ho-web")
	ln.Close() // this process does not accept: whoever answers took the socket
	path := filepath.Join(t.TempDir(), "handoff.sock")
	done := make(chan error, 1)
	go func() { done <- gracefd.ServeHandoff(context.Background(), path) }()
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(path); err != nil; _, err = os.Stat(path) {
		if time.Now().After(deadline) {
			t.Fatal("no hand-off socket after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h := startHelper(t, "handoff-take", nil, "GOTEST_HANDOFF="+path)
	if got := h.line(); got != "took 1" {
		t.Fatalf("helper: %q", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ServeHandoff did not return after the taker was ready")
	}
	// The library posted EventDrain as well (what makes Serve drain); take it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, err := gracefd.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-evs; ev != gracefd.EventDrain {
		t.Fatalf("event %v, want drain", ev)
	}
	cancel()
	for range evs {
	}
	want := fmt.Sprintf("taken by %d", h.cmd.Process.Pid)
	if got := dialLine(t, ln.Addr().String()); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if st := h.wait(); st != 0 {
		t.Fatalf("helper exit %d", st)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the hand-off socket is still there: %v", err)
	}
}

func TestHandoffBadInputAndContext(t *testing.T) {
	err := gracefd.ServeHandoff(context.Background(), "")
	wantErr(t, err, syscall.EINVAL, "path is empty")
	_, err = gracefd.TakeHandoff(context.Background(), filepath.Join(t.TempDir(), "nobody.sock"))
	wantErr(t, err, syscall.ENOENT, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := gracefd.TakeHandoff(ctx, "/x"); err != context.Canceled {
		t.Fatalf("TakeHandoff with a done context: %v", err)
	}
	// ServeHandoff ends with its context, and removes its socket.
	path := filepath.Join(t.TempDir(), "h.sock")
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := gracefd.ServeHandoff(ctx, path); err != context.DeadlineExceeded {
		t.Fatalf("ServeHandoff: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left at %s: %v", path, err)
	}
}

// socketPair returns two connected *net.UnixConn.
func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

func TestSendAndRecvFiles(t *testing.T) {
	a, b := socketPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	before := len(openFds(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		sent <- gracefd.SendFiles(ctx, a, []gracefd.NamedFile{{Name: "web", File: ln.(*net.TCPListener)}, {Name: "log pipe", File: w}})
	}()
	got, err := gracefd.RecvFiles(ctx, b, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "web" || got[1].Name != "log pipe" {
		t.Fatalf("received %+v", got)
	}
	// The received listener is the same socket: it accepts our connection.
	f := got[0].File.(*os.File)
	rl, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if c, err := rl.Accept(); err == nil {
			c.Write([]byte("via the received listener\n"))
			c.Close()
		}
	}()
	ln.Close() // only the received copy is left to accept
	if got := dialLine(t, rl.Addr().String()); got != "via the received listener" {
		t.Fatalf("got %q", got)
	}
	// The serving side's connection is closed only after the line was read:
	// count the fds once it is (counting earlier saw it open now and then).
	<-served
	rl.Close()
	for _, nf := range got {
		nf.File.(*os.File).Close()
	}
	if n := len(openFds(t)); n != before-1 { // ln was closed since
		t.Fatalf("%d fds before (with ln), %d after", before, n)
	}

	// Bad input, named; too many for the receiver.
	err = gracefd.SendFiles(ctx, a, []gracefd.NamedFile{{Name: "a:b", File: w}})
	wantErr(t, err, syscall.EINVAL, "")
	err = gracefd.SendFiles(ctx, a, []gracefd.NamedFile{{Name: "x", File: nil}})
	wantErr(t, err, syscall.EINVAL, "is nil")
	_, err = gracefd.RecvFiles(ctx, b, -1)
	wantErr(t, err, syscall.EINVAL, "limit -1")
	a2, b2 := socketPair(t)
	go gracefd.SendFiles(ctx, a2, []gracefd.NamedFile{{Name: "one", File: w}, {Name: "two", File: w}})
	_, err = gracefd.RecvFiles(ctx, b2, 1)
	wantErr(t, err, syscall.EMSGSIZE, "")
	if !strings.HasPrefix(err.Error(), "gracefd: RecvFiles: ") {
		t.Fatal(err)
	}
}
