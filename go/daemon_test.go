package gracefd_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracefd/gracefd/go"
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

// daemonizeRole daemonizes with every option from the environment
// (GOTEST_DAEMON_DIR, GOTEST_DAEMON_DO), re-executed as the daemon (this
// test binary again, in the same role). The daemon writes a report of what
// it got, then does GOTEST_DAEMON_DO: ready, fail, or hang.
func daemonizeRole() int {
	dir := os.Getenv("GOTEST_DAEMON_DIR")
	umask := uint32(0o027)
	timeout := 20 * time.Second
	if os.Getenv("GOTEST_DAEMON_DO") == "hang" {
		timeout = time.Second
	}
	err := gracefd.Daemonize(&gracefd.DaemonOptions{
		PidFile: filepath.Join(dir, "d.pid"),
		WorkDir: filepath.Join(dir, "work"),
		Umask:   &umask,
		LogFile: filepath.Join(dir, "d.log"),
		NoFile:  &syscall.Rlimit{Cur: math.MaxUint64, Max: 0},
		Timeout: timeout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemonize:", err)
		return 1
	}
	// The daemon.
	cwd, _ := os.Getwd()
	mask := syscall.Umask(0)
	syscall.Umask(mask)
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	stdout, _ := os.Readlink("/proc/self/fd/1")
	report := fmt.Sprintf("pid=%d cwd=%s umask=%03o nofile=%v stdout=%s\n", os.Getpid(), cwd, mask, lim.Cur == lim.Max, stdout)
	if err := os.WriteFile(filepath.Join(dir, "report"), []byte(report), 0o644); err != nil {
		_ = gracefd.Fail(1, err.Error())
		return 1
	}
	fmt.Println("daemon says hello") // to the log file
	switch os.Getenv("GOTEST_DAEMON_DO") {
	case "fail":
		_ = gracefd.Fail(7, "cannot open the database")
		return 7
	case "hang":
		time.Sleep(25 * time.Second)
		return 0
	}
	if err := gracefd.Ready(); err != nil {
		fmt.Println("ready:", err)
	}
	if removed, err := gracefd.RemovePidFile(); !removed || err != nil {
		fmt.Println("remove pid file:", removed, err)
	}
	return 0
}

// gone waits (bounded) until pid no longer runs (a zombie of another parent
// counts as gone: the daemon is not our child).
func gone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("daemon %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Every option reaches the daemon, and the launcher's exit status follows
// the daemon: 0 on Ready, the status and message of Fail, ExitTimeout.
func TestDaemonizeOptionsAndLauncherStatus(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		do     string
		status int
		stderr string
	}{
		{"ready", 0, ""},
		{"fail", 7, "cannot open the database"},
		{"hang", gracefd.ExitTimeout, "not ready"},
	} {
		t.Run(c.do, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "work"), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
			cmd.Env = cleanEnv(roleVar+"=daemonize", "GOTEST_DAEMON_DIR="+dir, "GOTEST_DAEMON_DO="+c.do)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			cmd.WaitDelay = 5 * time.Second
			err := cmd.Run()
			status := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			t.Logf("launcher: exit %d, stderr %q", status, stderr.String())
			if status != c.status || !strings.Contains(stderr.String(), c.stderr) {
				t.Fatalf("launcher exited %d with %q; want %d with %q", status, stderr.String(), c.status, c.stderr)
			}
			report, err := os.ReadFile(filepath.Join(dir, "report"))
			if err != nil {
				t.Fatal(err)
			}
			var pid int
			if _, err := fmt.Sscanf(string(report), "pid=%d ", &pid); err != nil || pid == cmd.Process.Pid {
				t.Fatalf("report %q", report)
			}
			defer gone(t, pid)
			want := fmt.Sprintf("cwd=%s umask=027 nofile=true stdout=%s\n", filepath.Join(dir, "work"), filepath.Join(dir, "d.log"))
			if !strings.HasSuffix(string(report), want) {
				t.Errorf("daemon's report %q, want … %q", report, want)
			}
			gone(t, pid)
			if log, _ := os.ReadFile(filepath.Join(dir, "d.log")); !strings.Contains(string(log), "daemon says hello") {
				t.Errorf("log file: %q", log)
			}
			_, err = os.Stat(filepath.Join(dir, "d.pid"))
			if c.do == "ready" && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pid file after the daemon's clean exit: %v", err)
			}
		})
	}
}

// daemonizeUserRole daemonizes as the user GOTEST_DAEMON_USER and serves
// nothing until it is killed.
func daemonizeUserRole() int {
	dir := os.Getenv("GOTEST_DAEMON_DIR")
	err := gracefd.Daemonize(&gracefd.DaemonOptions{
		PidFile: filepath.Join(dir, "d.pid"),
		LogFile: filepath.Join(dir, "d.log"),
		User:    os.Getenv("GOTEST_DAEMON_USER"),
		Timeout: 20 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemonize:", err)
		return 1
	}
	_ = gracefd.Ready()
	time.Sleep(25 * time.Second)
	return 0
}

// The user switch happens in the daemon, a multi-threaded Go process by
// then (re-exec mode): every one of its threads must have switched, not
// only the one that made the call.
func TestDaemonizeUserSwitchesEveryThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching users needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = cleanEnv(roleVar+"=daemonize-user", "GOTEST_DAEMON_DIR="+dir, "GOTEST_DAEMON_USER=nobody")
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("launcher: %v", err)
	}
	pid := readPidFile(t, filepath.Join(dir, "d.pid"))
	defer gone(t, pid)
	defer syscall.Kill(pid, syscall.SIGKILL)
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("daemon %d threads: %v %v", pid, tasks, err)
	}
	want := fmt.Sprintf("Uid:\t%[1]s\t%[1]s\t%[1]s\t%[1]s\n", nobody.Uid)
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: not all ids are %s:\n%s", task, nobody.Uid, b)
		}
	}
	t.Logf("daemon %d: %d threads, all uid %s", pid, len(tasks), nobody.Uid)
}

// readPidFile returns the pid a pid file names (a positive number and a
// newline). The library module has no test-helper dependency of its own.
func readPidFile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file holds %q", b)
	}
	return pid
}
