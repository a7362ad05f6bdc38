package main

// go-httpd --daemonize and --pid-file, run for real: the launcher's exit
// status tells the truth, the pid file follows an upgrade. Every daemon is
// stopped by the pid in its pid file and waited for until it is gone (this
// test process is a child subreaper, so daemons become its children).

import (
	"errors"
	"fmt"
	"github.com/gracefd/gracefd/go-examples/internal/proctest"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// launch runs go-httpd to completion (bounded) and returns its exit status
// and stderr. A daemonize launcher returns once its daemon is ready or gone.
func launch(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return proctest.Launch(t, binary(t, "GRACEFD_GO_HTTPD", "go-httpd"), cleanEnv(), args...)
}

// lockFree reports whether nobody holds the pid file's lock.
func lockFree(t *testing.T, path string) bool {
	t.Helper()
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	return syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// The launcher exits 0 only once the daemon serves; another instance is
// refused (242, "already running as pid N"); SIGHUP upgrades the daemon and
// the pid file then names the new generation; SIGTERM drains it and removes
// the pid file.
func TestDaemonizeServesAndUpgrades(t *testing.T) {
	p := newProcs(t)
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "httpd.pid"), filepath.Join(dir, "httpd.log")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{"--daemonize", "--pid-file", pidFile, "--log-file", logFile, "--listen", "http=" + addr}
	st, out := launch(t, args...)
	if st != 0 {
		t.Fatalf("launcher exited %d: %s", st, out)
	}
	pid := proctest.ReadPidFile(t, pidFile)
	p.add(pid)
	// No retry: when the launcher has exited 0, the daemon serves.
	r, err := get(addr)
	if err != nil {
		t.Fatalf("GET right after the launcher exited 0: %v", err)
	}
	if r.pid != pid || r.gen != 1 {
		t.Fatalf("answered by pid %d generation %d, want the pid file's %d, generation 1", r.pid, r.gen, pid)
	}
	_, sid := proctest.Stat(t, pid)
	if _, mine := proctest.Stat(t, os.Getpid()); sid == pid || sid == mine {
		t.Errorf("daemon %d is in session %d: not detached", pid, sid)
	}

	// Another instance, daemonized or not, is refused while this one runs.
	for _, a := range [][]string{args, {"--pid-file", pidFile, "--listen", "http=127.0.0.1:0"}} {
		st, out := launch(t, a...)
		if st != 242 || !strings.Contains(out, fmt.Sprintf("already running as pid %d", pid)) {
			t.Errorf("second instance %v: exit %d, output %q; want 242 and \"already running as pid %d\"", a, st, out, pid)
		}
	}
	if got := proctest.ReadPidFile(t, pidFile); got != pid {
		t.Fatalf("pid file changed to %d by a refused instance", got)
	}

	// Upgrade: the new generation serves, and the pid file names it.
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	next := pid
	for next == pid {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("the pid file still names %d 20 s after SIGHUP; log:\n%s", pid, b)
		}
		time.Sleep(10 * time.Millisecond)
		next = proctest.ReadPidFile(t, pidFile)
	}
	p.add(next)
	// The pid file names the new generation as soon as it is ready; the old
	// one may answer a request or two more before it stops accepting.
	r = waitServing(t, addr)
	for r.pid == pid && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		r = waitServing(t, addr)
	}
	if r.pid != next || r.gen != 2 {
		t.Fatalf("after the upgrade: pid %d generation %d, want %d generation 2", r.pid, r.gen, next)
	}
	// The old generation drains and exits 0, leaving the pid file to the new one.
	if ws, reaped, err := waitExit(pid, 20*time.Second); err != nil || (reaped && ws.ExitStatus() != 0) {
		t.Fatalf("old generation %d: %v %v", pid, ws, err)
	}
	if got := proctest.ReadPidFile(t, pidFile); got != next {
		t.Fatalf("pid file names %d after the old generation left, want %d", got, next)
	}
	if lockFree(t, pidFile) {
		t.Fatal("the new generation does not hold the pid file's lock")
	}

	// A clean exit removes the pid file.
	if err := syscall.Kill(next, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ws, reaped, err := waitExit(next, 20*time.Second); err != nil || (reaped && ws.ExitStatus() != 0) {
		t.Fatalf("new generation %d: %v %v", next, ws, err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after a clean exit: %v", err)
	}
	b, _ := os.ReadFile(logFile)
	for _, want := range []string{
		fmt.Sprintf("httpd[%d]: generation 1 serving", pid),
		fmt.Sprintf("httpd[%d]: upgrade: pid %d is ready", pid, next),
		fmt.Sprintf("httpd[%d]: generation 2 serving", next),
		fmt.Sprintf("httpd[%d]: drained in", next),
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log lacks %q:\n%s", want, b)
		}
	}
}

// A daemon that cannot listen fails its launcher, which prints the reason;
// nothing is left running and the pid file's lock is free.
func TestDaemonizePortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "httpd.pid")
	st, out := launch(t, "--daemonize", "--pid-file", pidFile, "--log-file", filepath.Join(dir, "httpd.log"),
		"--listen", "http="+taken.Addr().String())
	if st == 0 {
		t.Fatalf("launcher exited 0 for a daemon that cannot listen: %s", out)
	}
	if want := "go-httpd: " + taken.Addr().String() + ": bind"; !strings.Contains(out, want) || !strings.Contains(out, "address already in use") {
		t.Fatalf("launcher (exit %d) said %q; want %q … address already in use", st, out, want)
	}
	t.Logf("launcher: exit %d: %s", st, strings.TrimSpace(out))
	// The daemon wrote its pid before it failed: it is gone.
	pid := proctest.ReadPidFile(t, pidFile)
	if _, _, err := waitExit(pid, 10*time.Second); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_, _, _ = waitExit(pid, 5*time.Second)
		t.Fatalf("daemon %d after its failed start: %v", pid, err)
	}
	if !lockFree(t, pidFile) {
		t.Fatal("the pid file is still locked after a failed start")
	}
}

// Without --daemonize, --pid-file keeps the pid file itself: it names the
// server, a second instance is refused with 242, a clean exit removes it.
func TestPidFileInTheForeground(t *testing.T) {
	httpd := binary(t, "GRACEFD_GO_HTTPD", "go-httpd")
	p := newProcs(t)
	dir := t.TempDir()
	pidFile, logPath := filepath.Join(dir, "httpd.pid"), filepath.Join(dir, "server.log")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	srv := p.start(logPath, httpd, "--pid-file", pidFile, "--listen", "http="+addr)
	r := waitServing(t, addr)
	if got := proctest.ReadPidFile(t, pidFile); got != srv.Process.Pid || r.pid != got {
		t.Fatalf("pid file names %d, server %d answered as %d", got, srv.Process.Pid, r.pid)
	}
	st, out := launch(t, "--pid-file", pidFile, "--listen", "http=127.0.0.1:0")
	if st != 242 || !strings.Contains(out, fmt.Sprintf("httpd: pid file %q: already running as pid %d", pidFile, r.pid)) {
		t.Errorf("second instance: exit %d, output %q", st, out)
	}
	_ = syscall.Kill(r.pid, syscall.SIGTERM)
	if ws, _, err := waitExit(r.pid, 20*time.Second); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("server: %v %v", ws, err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after a clean exit: %v", err)
	}
}
