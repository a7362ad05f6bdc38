package gracefd_test

// Test helpers: the test binary re-executes itself as a helper process (an
// inheriting child, a new generation, a notifier), selected by the
// environment variable GOTEST_GRACEFD_ROLE. Every process a test starts is
// bounded in time, killed and waited for by pid.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracefd/gracefd/go"
)

const roleVar = "GOTEST_GRACEFD_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleVar); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

// runRole is the helper process side.
func runRole(role string) int {
	// Nothing a helper does may last: a stuck helper ends itself.
	time.AfterFunc(30*time.Second, func() { fmt.Println("helper: timed out"); os.Exit(99) })
	switch role {
	case "inherit-file": // report the inherited socket's mode, before and after Fd()
		f, err := gracefd.Inherited("web")
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		// Read through RawConn.Control first (changes nothing), then call
		// Fd() and read again.
		rc, err := f.SyscallConn()
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		var before mode
		_ = rc.Control(func(fd uintptr) { before = fdMode(int(fd)) })
		after := fdMode(int(f.Fd()))
		fmt.Println("mode", modeName(before), modeName(after))
		return 0
	case "inherit-listen": // serve one connection on the inherited socket
		ln, err := gracefd.Listen("web", "127.0.0.1:1")
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("listening", ln.Addr())
		return serveOne(ln, fmt.Sprintf("hello from %d", os.Getpid()))
	case "gen-ready": // a new generation that works
		ln, err := gracefd.Listen("up-web", "127.0.0.1:1")
		if err != nil {
			_ = gracefd.Fail(1, "listen: "+err.Error())
			return 1
		}
		// An error here means systemd could not be told (a NOTIFY_SOCKET
		// inherited from whoever runs the tests); the old generation was.
		_ = gracefd.Ready()
		return serveOne(ln, fmt.Sprintf("gen=%d upgrade=%v pid=%d", gracefd.Generation(), gracefd.IsUpgrade(), os.Getpid()))
	case "gen-fail": // a new generation that cannot start
		_ = gracefd.Fail(3, "cannot open the database")
		return 3
	case "gen-exit": // a new generation that dies before it is ready
		return 4
	case "gen-hang": // a new generation that never reports
		time.Sleep(25 * time.Second)
		return 0
	case "notify":
		return notifyRole()
	case "notify-unset":
		return notifyUnsetRole()
	case "pidfile-hold":
		return pidFileRole()
	case "daemonize":
		return daemonizeRole()
	case "daemonize-user":
		return daemonizeUserRole()
	case "handoff-take":
		return takeRole()
	case "serve-http":
		return serveRole(true)
	case "serve-bare":
		return serveRole(false)
	}
	fmt.Println("unknown role", role)
	return 2
}

// serveOne accepts one connection, writes line, and returns 0.
func serveOne(ln net.Listener, line string) int {
	c, err := ln.Accept()
	if err != nil {
		fmt.Println("accept:", err)
		return 1
	}
	fmt.Fprintln(c, line)
	c.Close()
	return 0
}

// helper is a started helper process.
type helper struct {
	t   *testing.T
	cmd *exec.Cmd
	out *bufio.Reader
}

// cleanEnv is this environment without the variables that would make a
// helper think it inherited something.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if strings.HasPrefix(k, "LISTEN_") || strings.HasPrefix(k, "SERVER_STARTER_") ||
			strings.HasPrefix(k, "GRACEFD_") || k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "WATCHDOG_") || k == roleVar {
			continue
		}
		env = append(env, e)
	}
	return append(env, extra...)
}

// startHelper runs this test binary as role. With files, they become fds 3,
// 4, … and LISTEN_PID is set to the helper's own pid (through a shell that
// execs it, so the pid is known), as systemd does.
func startHelper(t *testing.T, role string, files []*os.File, env ...string) *helper {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env = cleanEnv(append(env, roleVar+"="+role)...)
	var cmd *exec.Cmd
	if len(files) > 0 {
		cmd = exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, exe, "-test.run=^$")
		env = append(env, fmt.Sprintf("LISTEN_FDS=%d", len(files)))
		cmd.ExtraFiles = files // os/exec reads their fds with Fd(): these files came from os.NewFile
	} else {
		cmd = exec.Command(exe, "-test.run=^$")
	}
	cmd.Env = env
	cmd.Stderr = os.Stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{t: t, cmd: cmd, out: bufio.NewReader(pipe)}
	t.Cleanup(func() { h.stop() })
	return h
}

// line reads the helper's next line of output (bounded).
func (h *helper) line() string {
	h.t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := h.out.ReadString('\n'); ch <- res{strings.TrimSpace(s), err} }()
	select {
	case r := <-ch:
		if r.err != nil && r.s == "" {
			h.t.Fatalf("helper output: %v", r.err)
		}
		return r.s
	case <-time.After(20 * time.Second):
		h.t.Fatal("helper said nothing for 20 s")
	}
	return ""
}

// wait waits (bounded) for the helper to exit and returns its exit status.
func (h *helper) wait() int {
	h.t.Helper()
	done := make(chan error, 1)
	go func() { _, _ = io.Copy(io.Discard, h.out); done <- h.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
		h.t.Fatal("helper did not exit within 20 s")
	}
	return h.cmd.ProcessState.ExitCode()
}

func (h *helper) stop() {
	if h.cmd.ProcessState == nil {
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
	}
}

// waitPid reaps a child the library started (a new generation), bounded.
func waitPid(t *testing.T, pid int) syscall.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait4 %d: %v", pid, err)
		}
		if got == pid {
			return ws
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_, _ = syscall.Wait4(pid, &ws, 0, nil)
			t.Fatalf("pid %d did not exit within 20 s", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialLine connects to addr and reads one line (bounded).
func dialLine(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return strings.TrimSpace(s)
}

// --- blocking mode helpers ---

type mode int

const (
	blocking mode = iota
	nonBlocking
)

func modeName(m mode) string {
	if m == nonBlocking {
		return "nonblocking"
	}
	return "blocking"
}

// fdMode reads O_NONBLOCK of fd's open file description.
func fdMode(fd int) mode {
	fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if e != 0 {
		panic(fmt.Sprintf("F_GETFL %d: %v", fd, e))
	}
	if fl&syscall.O_NONBLOCK != 0 {
		return nonBlocking
	}
	return blocking
}

// connMode reads the mode through RawConn.Control (which never changes it).
func connMode(t *testing.T, c syscall.Conn) mode {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var m mode
	if err := rc.Control(func(fd uintptr) { m = fdMode(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	return m
}

// rawListener makes a blocking TCP listener on 127.0.0.1 with plain system
// calls, as a C supervisor would, and returns its fd and address.
func rawListener(t *testing.T) (int, string) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 64); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return fd, fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
