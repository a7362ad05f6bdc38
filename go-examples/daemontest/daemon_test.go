// Package daemontest runs the daemon demos for real: a daemonized net/http
// server starts, serves on 127.0.0.1, and its launcher's exit status tells
// the truth — the constructor way (blank import + GRACEFD_DAEMONIZE=1) and
// the re-exec way (gracefd.Daemonize from main).
//
// The test process makes itself a child subreaper, so each daemon is
// re-parented to it once the launcher is done, and is stopped and reaped by
// pid. Nothing here is skipped: a missing Go toolchain or libgracefd.a fails.
package daemontest

import (
	"errors"
	"fmt"
	"github.com/gracefd/gracefd/go-examples/internal/proctest"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

const prSetChildSubreaper = 36

var bins = map[string]string{}

func TestMain(m *testing.M) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		fmt.Fprintln(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER):", e)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "gracefd-go-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		for _, name := range []string{"daemon-demo", "daemon-demo-reexec"} {
			out := filepath.Join(dir, name)
			cmd := exec.Command(goTool(), "build", "-o", out, "github.com/gracefd/gracefd/go-examples/cmd/"+name)
			if b, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n%s", name, err, b)
				return 1
			}
			bins[name] = out
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

type launched struct {
	status int
	stderr string
}

// launch runs a launcher to completion (bounded) with env added to ours.
func launch(t *testing.T, bin string, env []string, args ...string) launched {
	t.Helper()
	st, out := proctest.Launch(t, bin, append(os.Environ(), env...), args...)
	return launched{st, out}
}

// stopDaemon sends sig and reaps the daemon (our child, as subreaper), bounded.
func stopDaemon(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	_ = syscall.Kill(pid, sig)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid || errors.Is(err, syscall.ECHILD) {
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(pid, &ws, 0, nil)
	t.Errorf("daemon %d did not stop on %v", pid, sig)
}

type way struct {
	name string
	bin  func() string
	// how to ask for a pid file and a log file
	opts func(pidFile, logFile string) (env, args []string)
}

var ways = []way{
	{
		name: "constructor",
		bin:  func() string { return bins["daemon-demo"] },
		opts: func(pidFile, logFile string) ([]string, []string) {
			return []string{"GRACEFD_DAEMONIZE=1", "GRACEFD_DAEMONIZE_PIDFILE=" + pidFile, "GRACEFD_DAEMONIZE_LOGFILE=" + logFile}, nil
		},
	},
	{
		name: "reexec",
		bin:  func() string { return bins["daemon-demo-reexec"] },
		opts: func(pidFile, logFile string) ([]string, []string) {
			return nil, []string{"-pid-file", pidFile, "-log-file", logFile}
		},
	},
}

func TestDaemonServesAndLauncherSaysReady(t *testing.T) {
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile, logFile, addrFile := filepath.Join(dir, "demo.pid"), filepath.Join(dir, "demo.log"), filepath.Join(dir, "addr")
			env, args := w.opts(pidFile, logFile)
			args = append(args, "-listen", "127.0.0.1:0", "-addr-file", addrFile)
			r := launch(t, w.bin(), env, args...)
			if r.status != 0 {
				t.Fatalf("launcher exited %d: %s", r.status, r.stderr)
			}
			pid := proctest.ReadPidFile(t, pidFile)
			defer stopDaemon(t, pid, syscall.SIGKILL)

			// The launcher returned 0: the daemon already serves, no retry needed.
			addr, err := os.ReadFile(addrFile)
			if err != nil {
				t.Fatalf("address file: %v", err)
			}
			client := &http.Client{Timeout: 10 * time.Second}
			resp, err := client.Get("http://" + string(addr) + "/")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("hello from pid %d\n", pid); string(body) != want {
				t.Fatalf("body %q, want %q", body, want)
			}

			// Detached: in a session it does not lead, re-parented away from the launcher.
			if _, sid := proctest.Stat(t, pid); sid == pid || sid == syscall.Getpid() {
				t.Errorf("daemon %d has session %d", pid, sid)
			}
			deadline := time.Now().Add(10 * time.Second)
			for ppid, _ := proctest.Stat(t, pid); ppid != os.Getpid(); ppid, _ = proctest.Stat(t, pid) {
				if time.Now().After(deadline) {
					t.Fatalf("daemon %d still has parent %d (the middle process did not leave)", pid, ppid)
				}
				time.Sleep(2 * time.Millisecond)
			}
			// The opt-in is not in the daemon's environment: its children never re-trigger.
			environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range strings.Split(string(environ), "\x00") {
				if strings.HasPrefix(kv, "GRACEFD_DAEMONIZE") {
					t.Errorf("the daemon's environment has %s", kv)
				}
			}
			// A second instance is refused while the first holds the pid file.
			r2 := launch(t, w.bin(), env, args...)
			if r2.status != 242 || !strings.Contains(r2.stderr, fmt.Sprintf("already running as pid %d", pid)) {
				t.Errorf("second instance: exit %d, stderr %q", r2.status, r2.stderr)
			}

			// Clean shutdown removes the pid file.
			stopDaemon(t, pid, syscall.SIGTERM)
			if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pid file after a clean exit: %v", err)
			}
			log, _ := os.ReadFile(logFile)
			if !strings.Contains(string(log), fmt.Sprintf("pid %d stopped", pid)) {
				t.Errorf("log: %q", log)
			}
		})
	}
}

func TestDaemonThatCannotListenFailsTheLauncher(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "demo.pid")
			env, args := w.opts(pidFile, filepath.Join(dir, "demo.log"))
			r := launch(t, w.bin(), env, append(args, "-listen", taken.Addr().String())...)
			if r.status != 3 {
				t.Errorf("launcher exited %d, want 3 (the daemon's Fail status); stderr: %s", r.status, r.stderr)
			}
			if !strings.Contains(r.stderr, "address already in use") {
				t.Errorf("launcher stderr lacks the daemon's message: %q", r.stderr)
			}
			// The daemon is gone: its lock is free again.
			fd, err := syscall.Open(pidFile, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				t.Errorf("the pid file is still locked after a failed start: %v", err)
			}
		})
	}
}
