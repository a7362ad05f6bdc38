package gracefd_test

// The serving helpers: a server written as http.Server{Handler: h} plus
// ServeHTTP loses no request across 20 upgrades under keep-alive and
// new-connection load; the same server under the bare Serve (Shutdown
// alone) is run the same way and its failures are reported, not asserted.
// And the helpers leave no goroutine and no fd behind.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracefd/gracefd/go"
)

// serveRole is one generation of the test server: ServeHTTP (role
// "serve-http") or the bare Serve (role "serve-bare"), on GOTEST_ADDR, its
// log on stderr (the first generation's, which every later one shares).
func serveRole(polite bool) int {
	pid := os.Getpid()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%d] "+format+"\n", append([]any{pid}, args...)...)
	}
	ln, err := gracefd.Listen("http", os.Getenv("GOTEST_ADDR"))
	if err != nil {
		_ = gracefd.Fail(1, err.Error())
		return 1
	}
	body := "ok pid=" + strconv.Itoa(pid) + "\n"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Pid", strconv.Itoa(pid))
		_, _ = io.WriteString(w, body)
	})}
	opts := &gracefd.ServeOptions{Logf: logf, DrainTimeout: 5 * time.Second}
	if polite {
		err = gracefd.ServeHTTP(context.Background(), srv, []net.Listener{ln}, opts)
	} else {
		err = gracefd.Serve(context.Background(), srv, []net.Listener{ln}, opts)
	}
	if err != nil {
		logf("serve: %v", err)
		return 1
	}
	return 0
}

func loadgenPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GRACEFD_LOADGEN")
	if p == "" {
		p = filepath.Join("..", "build", "bin", "loadgen")
	}
	p, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("loadgen: %v (run `make check-go`, which builds it first)", err)
	}
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var subreaperOnce sync.Once

// becomeSubreaper makes the generations an upgrade starts (children of the
// previous generation) our children when their parent exits, so that the
// test reaps each by pid.
func becomeSubreaper(t *testing.T) {
	const prSetChildSubreaper = 36
	subreaperOnce.Do(func() {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
			t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", e)
		}
	})
}

// reap waits (bounded) until pid is gone, reaping it if it is our child;
// after the bound it is killed.
func reap(pid int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid || (err == syscall.ECHILD && syscall.Kill(pid, 0) == syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type loadResult struct {
	Requests int            `json:"requests"`
	Failures int            `json:"failures"`
	ByKind   map[string]int `json:"failures_by_kind"`
	Pids     int            `json:"distinct_pids"`
}

// upgradeUnderLoad runs role, upgrades it n times under load and returns
// loadgen's result.
func upgradeUnderLoad(t *testing.T, role string, n int) loadResult {
	becomeSubreaper(t)
	addr := freeAddr(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = cleanEnv(roleVar+"="+role, "GOTEST_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := []int{cmd.Process.Pid}
	defer func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
		for _, p := range pids {
			reap(p)
		}
	}()
	waitLine(t, logPath, regexp.MustCompile(fmt.Sprintf(`\[%d\] generation \d+ serving`, pids[0])))

	load := exec.Command(loadgenPath(t), "--addr", addr, "--keepalive", "8", "--new", "4", "--duration", "0", "--json")
	var out strings.Builder
	load.Stdout = &out
	load.Stderr = os.Stderr
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	loadDone := false
	defer func() {
		if !loadDone {
			_ = load.Process.Kill()
			_ = load.Wait()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	serving := pids[0]
	for i := 0; i < n; i++ {
		if err := syscall.Kill(serving, syscall.SIGHUP); err != nil {
			t.Fatalf("upgrade %d: SIGHUP to %d: %v", i+1, serving, err)
		}
		m := waitLine(t, logPath, regexp.MustCompile(fmt.Sprintf(`\[%d\] upgrade: pid (\d+) is ready`, serving)))
		next, _ := strconv.Atoi(m[1])
		pids = append(pids, next)
		serving = next
		time.Sleep(50 * time.Millisecond) // let load reach the new generation
	}
	time.Sleep(200 * time.Millisecond)
	_ = load.Process.Signal(syscall.SIGTERM)
	err = load.Wait()
	loadDone = true
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) { // 1: some request failed
		t.Fatalf("loadgen: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var res loadResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("loadgen output %q: %v", out.String(), err)
	}
	if res.Requests == 0 || res.Pids < 2 {
		t.Fatalf("the load did not reach the generations: %+v", res)
	}
	return res
}

// waitLine waits (bounded) until the file holds a line matching re.
func waitLine(t *testing.T, path string, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f, err := os.Open(path)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					f.Close()
					return m
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(path)
			t.Fatalf("no %q in the server log after 20 s:\n%s", re, b)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestServeHTTPUpgradesUnderLoadWithoutLoss(t *testing.T) {
	const upgrades = 20
	res := upgradeUnderLoad(t, "serve-http", upgrades)
	t.Logf("ServeHTTP: %d upgrades, %d requests, %d failed %v, %d generations answered",
		upgrades, res.Requests, res.Failures, res.ByKind, res.Pids)
	if res.Failures != 0 {
		t.Fatalf("ServeHTTP lost %d requests across %d upgrades: %v", res.Failures, upgrades, res.ByKind)
	}
	// The same server with a bare http.Server.Shutdown, for comparison:
	// reported, not asserted (how many it loses depends on timing).
	bare := upgradeUnderLoad(t, "serve-bare", upgrades)
	t.Logf("bare Shutdown (gracefd.Serve): %d upgrades, %d requests, %d failed %v",
		upgrades, bare.Requests, bare.Failures, bare.ByKind)
}

// openFds lists this process's open fds.
func openFds(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := map[string]string{}
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fds[e.Name()] = target
	}
	return fds
}

// settles waits (bounded) until cond holds.
func settles(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func TestServeHTTPLeavesNoGoroutineNorFd(t *testing.T) {
	// The library's event pipe is made once per process, at the first
	// Events: make it before counting.
	warm, stop := context.WithCancel(context.Background())
	evs, err := gracefd.Events(warm)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	for range evs {
	}
	for _, polite := range []bool{true, false, true} {
		before := runtime.NumGoroutine()
		fdsBefore := openFds(t)
		ln, err := gracefd.Listen("leak-test", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "hi\n")
		})}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			if polite {
				done <- gracefd.ServeHTTP(ctx, srv, []net.Listener{ln}, nil)
			} else {
				done <- gracefd.Serve(ctx, srv, []net.Listener{ln}, nil)
			}
		}()
		// A keep-alive connection left idle, and a few requests.
		tr := &http.Transport{}
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		for i := 0; i < 3; i++ {
			resp, err := client.Get("http://" + ln.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("polite=%v: %v", polite, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("polite=%v: did not return after ctx was done", polite)
		}
		tr.CloseIdleConnections()
		if !settles(func() bool { return runtime.NumGoroutine() <= before }) {
			buf := make([]byte, 1<<20)
			t.Fatalf("polite=%v: %d goroutines before, %d after:\n%s", polite, before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		var extra []string
		if !settles(func() bool {
			extra = extra[:0]
			for fd, target := range openFds(t) {
				if _, ok := fdsBefore[fd]; !ok {
					extra = append(extra, fd+" -> "+target)
				}
			}
			return len(extra) == 0
		}) {
			t.Fatalf("polite=%v: fds left open: %v", polite, extra)
		}
		if _, err := gracefd.Inherited("leak-test"); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("polite=%v: the registry still holds the listener: %v", polite, err)
		}
	}
}

func TestServeBadInput(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &http.Server{}
	wantErr(t, gracefd.ServeHTTP(ctx, nil, []net.Listener{ln}, nil), syscall.EINVAL, "the server is nil")
	wantErr(t, gracefd.ServeHTTP(ctx, srv, nil, nil), syscall.EINVAL, "no listener to serve")
	wantErr(t, gracefd.ServeHTTP(ctx, srv, []net.Listener{ln, nil}, nil), syscall.EINVAL, "listener 1 is nil")
	wantErr(t, gracefd.Serve(ctx, nil, []net.Listener{ln}, nil), syscall.EINVAL, "the service is nil")
	wantErr(t, gracefd.Serve(ctx, srv, []net.Listener{}, nil), syscall.EINVAL, "no listener to serve")
}
