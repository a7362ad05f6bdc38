package gracefd_test

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gracefd.example/go-examples/gracefd"
)

// Bad input to Daemonize fails before anything starts, with the errno and
// the library's detail (a Daemonize that went through would not return
// here: the short timeout bounds that failure). Daemonizing for real is
// tested in go-examples/daemontest and go-examples/cmd/httpd.
func TestDaemonizeBadInput(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link.pid")
	if err := os.Symlink(filepath.Join(dir, "target.pid"), link); err != nil {
		t.Fatal(err)
	}
	umask := uint32(0o1000)
	for _, c := range []struct {
		what   string
		opts   gracefd.DaemonOptions
		errno  syscall.Errno
		detail string
	}{
		// A Go program is multi-threaded: fork mode is refused, the thread count named.
		{"fork mode", gracefd.DaemonOptions{Mode: gracefd.DaemonFork}, syscall.EBUSY, "threads"},
		{"unknown mode", gracefd.DaemonOptions{Mode: 7}, syscall.EINVAL, "Mode"},
		{"missing workdir", gracefd.DaemonOptions{WorkDir: filepath.Join(dir, "nowhere")}, syscall.ENOENT, "nowhere"},
		{"unknown user", gracefd.DaemonOptions{User: "no-such-user-gracefd"}, syscall.ENOENT, "no-such-user-gracefd"},
		{"unknown group", gracefd.DaemonOptions{Group: "no-such-group-gracefd"}, syscall.ENOENT, "no-such-group-gracefd"},
		{"umask", gracefd.DaemonOptions{Umask: &umask}, syscall.EINVAL, ""},
		{"symlinked pid file", gracefd.DaemonOptions{PidFile: link}, syscall.ELOOP, "link.pid"},
		{"log file in a missing directory", gracefd.DaemonOptions{LogFile: filepath.Join(dir, "nowhere", "log")}, syscall.ENOENT, "nowhere"},
		{"NUL in a path", gracefd.DaemonOptions{PidFile: "a\x00b"}, syscall.EINVAL, "NUL"},
	} {
		t.Run(c.what, func(t *testing.T) {
			o := c.opts
			o.Timeout = 2 * time.Second
			err := gracefd.Daemonize(&o)
			wantErr(t, err, c.errno, c.detail)
			var gerr *gracefd.Error
			if errors.As(err, &gerr) && gerr.Op != "Daemonize" {
				t.Errorf("Op %q", gerr.Op)
			}
			t.Logf("%s: %v", c.what, err)
		})
	}
	if _, err := os.Lstat(filepath.Join(dir, "target.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the symlink's target was created: %v", err)
	}
}

// pidFileRole holds the pid file at GOTEST_PIDFILE until SIGUSR1, then
// removes it and says whether it did.
func pidFileRole() int {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	path := os.Getenv("GOTEST_PIDFILE")
	if err := gracefd.CreatePidFile(path); err != nil {
		var gerr *gracefd.Error
		errors.As(err, &gerr)
		fmt.Printf("error %d %v\n", gerr.Errno, err)
		if errors.Is(err, syscall.EEXIST) {
			return gracefd.ExitAlreadyRunning
		}
		return 1
	}
	// Again for the same file: only rewrites the pid. Another file: EBUSY.
	if err := gracefd.CreatePidFile(path); err != nil {
		fmt.Println("second call:", err)
		return 1
	}
	if err := gracefd.CreatePidFile(path + ".other"); !errors.Is(err, syscall.EBUSY) {
		fmt.Println("another pid file:", err)
		return 1
	}
	fmt.Println("held")
	<-usr1
	removed, err := gracefd.RemovePidFile()
	fmt.Println("removed", removed, err)
	return 0
}

func readPidFile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file holds %q", b)
	}
	return pid
}

func TestPidFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.pid")
	env := "GOTEST_PIDFILE=" + path

	// Held: it names the holder; a second instance is refused with the
	// message and the status; at clean exit it is removed.
	a := startHelper(t, "pidfile-hold", nil, env)
	if got := a.line(); got != "held" {
		t.Fatalf("first instance: %s", got)
	}
	if pid := readPidFile(t, path); pid != a.cmd.Process.Pid {
		t.Fatalf("pid file names %d, want %d", pid, a.cmd.Process.Pid)
	}
	b := startHelper(t, "pidfile-hold", nil, env)
	want := fmt.Sprintf("error %d ", syscall.EEXIST)
	if got := b.line(); !strings.HasPrefix(got, want) || !strings.Contains(got, fmt.Sprintf("already running as pid %d", a.cmd.Process.Pid)) {
		t.Fatalf("second instance: %s", got)
	}
	if st := b.wait(); st != gracefd.ExitAlreadyRunning {
		t.Fatalf("second instance exited %d", st)
	}
	_ = a.cmd.Process.Signal(syscall.SIGUSR1)
	if got := a.line(); got != "removed true <nil>" {
		t.Fatalf("first instance at exit: %s", got)
	}
	if st := a.wait(); st != 0 {
		t.Fatalf("first instance exited %d", st)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file after a clean exit: %v", err)
	}

	// A stale file (nobody holds the lock) is taken over. A file that no
	// longer names the holder is left alone at exit.
	if err := os.WriteFile(path, []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startHelper(t, "pidfile-hold", nil, env)
	if got := c.line(); got != "held" {
		t.Fatalf("over a stale file: %s", got)
	}
	if pid := readPidFile(t, path); pid != c.cmd.Process.Pid {
		t.Fatalf("stale pid file not taken over: names %d", pid)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	f.Close()
	_ = c.cmd.Process.Signal(syscall.SIGUSR1)
	if got := c.line(); got != "removed false <nil>" {
		t.Fatalf("a pid file naming another process: %s", got)
	}
	c.wait()
	if pid := readPidFile(t, path); pid != os.Getpid() {
		t.Fatalf("pid file changed to %d", pid)
	}

	// A symbolic link is refused.
	link := filepath.Join(dir, "link.pid")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	wantErr(t, gracefd.CreatePidFile(link), syscall.ELOOP, "")
	wantErr(t, gracefd.CreatePidFile(""), syscall.EINVAL, "")
}
