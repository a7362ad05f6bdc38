// Package proctest holds the process helpers the Go tests share: running a
// launcher to its exit, reading a pid file, and reading /proc/<pid>/stat.
package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Launch runs bin with args and the environment env (nil: this process's),
// and returns its exit status and what it wrote on stdout and stderr. It
// waits for the launcher only (a daemon that keeps the pipe does not hold it
// up) and for at most 40 s; a launcher that cannot run or is killed by a
// signal fails the test.
func Launch(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), out.String()
	default:
		t.Fatalf("%s %v: %v\n%s", bin, args, err, out.String())
		return 0, ""
	}
}

// ReadPidFile returns the pid a pid file names (a positive number and a newline).
func ReadPidFile(t *testing.T, path string) int {
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

// Stat returns the parent pid and the session id of pid (from /proc).
func Stat(t *testing.T, pid int) (ppid, sid int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ppid, _ = strconv.Atoi(f[1])
	sid, _ = strconv.Atoi(f[3])
	return ppid, sid
}
