package main

// Tests of build/bin/go-httpd (built by `make`; `make check` builds it and
// build/bin/loadgen first and passes their paths in GRACEFD_GO_HTTPD and
// GRACEFD_LOADGEN). Only 127.0.0.1; every wait is bounded; every process a
// test starts is killed and reaped by pid: this test process is a child
// subreaper, so the generations an upgrade starts (children of the previous
// generation) become its children when their parent exits.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	const prSetChildSubreaper = 36
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		fmt.Fprintln(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER):", e)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// binary returns the path of a program make builds.
func binary(t *testing.T, env, name string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = filepath.Join("..", "..", "..", "build", "bin", name)
	}
	p, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v (run `make check`, which builds it first, or `make %s`)", name, err, "build/bin/"+name)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// procs tracks every process a test started or saw (by pid) and ends them.
type procs struct {
	t    *testing.T
	mu   sync.Mutex
	pids map[int]bool
}

func newProcs(t *testing.T) *procs {
	p := &procs{t: t, pids: map[int]bool{}}
	t.Cleanup(p.stopAll)
	return p
}

func (p *procs) add(pid int) {
	p.mu.Lock()
	p.pids[pid] = true
	p.mu.Unlock()
}

// start starts a command whose stdout and stderr go to logPath.
func (p *procs) start(logPath string, name string, args ...string) *exec.Cmd {
	p.t.Helper()
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.add(cmd.Process.Pid)
	return cmd
}

// waitExit waits (bounded) until pid has exited, reaping it if it is (or
// becomes) our child; returns its wait status if we reaped it.
func waitExit(pid int, timeout time.Duration) (syscall.WaitStatus, bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid {
			return ws, true, nil
		}
		if err == syscall.ECHILD && syscall.Kill(pid, 0) == syscall.ESRCH {
			return 0, false, nil // gone, reaped by someone else
		}
		if time.Now().After(deadline) {
			return 0, false, fmt.Errorf("pid %d still running after %v", pid, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *procs) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pid := range p.pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	for pid := range p.pids {
		if _, _, err := waitExit(pid, 10*time.Second); err != nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_, _, _ = waitExit(pid, 5*time.Second)
		}
	}
	p.pids = map[int]bool{}
}

// cleanEnv: nothing inherited by accident.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if strings.HasPrefix(k, "LISTEN_") || strings.HasPrefix(k, "SERVER_STARTER_") ||
			strings.HasPrefix(k, "GRACEFD_") || k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "WATCHDOG_") {
			continue
		}
		env = append(env, e)
	}
	return append(env, extra...)
}

// waitLog waits (bounded) until the file contains a match of re and
// returns the submatches of the first match.
func waitLog(t *testing.T, path string, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if m := re.FindStringSubmatch(string(b)); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s after %v:\n%s", re, path, timeout, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type reply struct {
	pid, gen int
	header   http.Header
}

// get does one request on a new connection (bounded).
func get(addr string) (reply, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	var r reply
	if _, err := fmt.Sscanf(string(body), "ok pid=%d generation=%d\n", &r.pid, &r.gen); err != nil {
		return reply{}, fmt.Errorf("body %q: %v", body, err)
	}
	if resp.Header.Get("X-Pid") != strconv.Itoa(r.pid) {
		return reply{}, fmt.Errorf("X-Pid %q, body pid %d", resp.Header.Get("X-Pid"), r.pid)
	}
	r.header = resp.Header
	return r, nil
}

// waitServing polls addr until it answers (bounded).
func waitServing(t *testing.T, addr string) reply {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := get(addr)
		if err == nil {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readyRe(pid int) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`httpd\[%d\]: upgrade: pid (\d+) is ready`, pid))
}

type loadResult struct {
	Requests       int            `json:"requests"`
	OK             int            `json:"ok"`
	Failures       int            `json:"failures"`
	FailuresByKind map[string]int `json:"failures_by_kind"`
	FailureReasons map[string]any `json:"failure_reasons"`
	DistinctPids   int            `json:"distinct_pids"`
	Reconnects     map[string]int `json:"reconnects"`
}

// startLoad runs loadgen until stopLoad.
func startLoad(t *testing.T, p *procs, addr, out string) *exec.Cmd {
	t.Helper()
	lg := binary(t, "GRACEFD_LOADGEN", "loadgen")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(lg, "--addr", addr, "--keepalive", "8", "--new", "4", "--duration", "0", "--json")
	cmd.Stdout = f
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.add(cmd.Process.Pid)
	return cmd
}

func stopLoad(t *testing.T, cmd *exec.Cmd, out string) loadResult {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	ws, _, err := waitExit(cmd.Process.Pid, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var r loadResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("loadgen (%v) output %q: %v", ws, b, err)
	}
	return r
}

// The Go server upgraded 20 times under load, with zero failed requests.
func TestUpgrade20TimesUnderLoad(t *testing.T) {
	httpd := binary(t, "GRACEFD_GO_HTTPD", "go-httpd")
	p := newProcs(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "server.log")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	first := p.start(logPath, httpd, "--listen", "http="+addr, "--drain-timeout", "5000")
	r := waitServing(t, addr)
	if r.pid != first.Process.Pid || r.gen != 1 {
		t.Fatalf("first answer from pid %d generation %d", r.pid, r.gen)
	}

	load := startLoad(t, p, addr, filepath.Join(dir, "load.json"))
	time.Sleep(300 * time.Millisecond)
	serving := first.Process.Pid
	generations := []int{serving}
	const upgrades = 20
	for i := 1; i <= upgrades; i++ {
		if err := syscall.Kill(serving, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		m := waitLog(t, logPath, readyRe(serving), 20*time.Second)
		next, _ := strconv.Atoi(m[1])
		p.add(next)
		generations = append(generations, next)
		serving = next
		time.Sleep(150 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	res := stopLoad(t, load, filepath.Join(dir, "load.json"))
	t.Logf("loadgen: %d requests, %d failed %v, %d pids, reconnects %v", res.Requests, res.Failures, res.FailuresByKind, res.DistinctPids, res.Reconnects)
	if res.Failures != 0 {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%d failed requests: %v %v\nserver log:\n%s", res.Failures, res.FailuresByKind, res.FailureReasons, b)
	}
	if res.DistinctPids != upgrades+1 {
		t.Fatalf("%d pids answered, want %d", res.DistinctPids, upgrades+1)
	}
	if r := waitServing(t, addr); r.pid != serving || r.gen != upgrades+1 {
		t.Fatalf("after %d upgrades: pid %d generation %d, want pid %d generation %d", upgrades, r.pid, r.gen, serving, upgrades+1)
	}
	// Every old generation drained and exited 0 (reaped here, as subreaper).
	for _, pid := range generations[:upgrades] {
		ws, reaped, err := waitExit(pid, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if reaped && ws.ExitStatus() != 0 {
			t.Fatalf("generation pid %d: %v", pid, ws)
		}
	}
	_ = syscall.Kill(serving, syscall.SIGTERM)
	if ws, _, err := waitExit(serving, 20*time.Second); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("last generation: %v %v", ws, err)
	}
}

// A new generation that fails leaves the old one serving, with the reason
// in its log; once the binary is fixed, the upgrade goes through.
func TestFailingNewGenerationKeepsServing(t *testing.T) {
	httpd := binary(t, "GRACEFD_GO_HTTPD", "go-httpd")
	p := newProcs(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "httpd")
	real := filepath.Join(dir, "httpd.real")
	copyFile(t, httpd, real)
	copyFile(t, httpd, exe)
	logPath := filepath.Join(dir, "server.log")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	srv := p.start(logPath, exe, "--listen", "http="+addr)
	pid := srv.Process.Pid
	waitServing(t, addr)

	// Replace the binary by rename, as a deploy does; the upgrade runs the
	// recorded path, so it runs the replacement.
	replace := func(script string) {
		tmp := exe + ".new"
		if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, exe); err != nil {
			t.Fatal(err)
		}
	}
	failed := regexp.MustCompile(fmt.Sprintf(`httpd\[%d\]: upgrade failed, still serving: (.*)`, pid))
	cases := []struct{ script, want string }{
		// dies before it is ready: ECHILD with the exit status
		{"#!/bin/sh\necho broken build >&2\nexit 3\n", "status 3"},
		// cannot start and says why (gracefd.Fail): ECANCELED with its message
		{"#!/bin/sh\nexec " + real + " \"$@\" --listen bad=127.0.0.1:99999\n", `port "99999" is above 65535`},
	}
	for i, c := range cases {
		replace(c.script)
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		var lines [][]string
		for len(lines) <= i && time.Now().Before(deadline) {
			b, _ := os.ReadFile(logPath)
			lines = failed.FindAllStringSubmatch(string(b), -1)
			time.Sleep(10 * time.Millisecond)
		}
		if len(lines) <= i || !strings.Contains(lines[i][1], c.want) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("case %d: want a failure with %q in the log:\n%s", i, c.want, b)
		}
		t.Logf("case %d: %s", i, lines[i][1])
		if r := waitServing(t, addr); r.pid != pid {
			t.Fatalf("case %d: answered by pid %d, want the old generation %d", i, r.pid, pid)
		}
	}
	// Fixed: the upgrade succeeds and the new generation serves.
	if err := os.Rename(real, exe); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(pid, syscall.SIGHUP)
	m := waitLog(t, logPath, readyRe(pid), 20*time.Second)
	next, _ := strconv.Atoi(m[1])
	p.add(next)
	if ws, _, err := waitExit(pid, 20*time.Second); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("old generation: %v %v", ws, err)
	}
	if r := waitServing(t, addr); r.pid != next || r.gen != 2 {
		t.Fatalf("after the fix: pid %d generation %d, want %d generation 2", r.pid, r.gen, next)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// Unchanged under systemd socket activation: a socket named like the
// listener wins over the --listen address; an unnamed one is matched by
// address; an upgrade under it hands the same socket on.
func TestSystemdSocketActivation(t *testing.T) {
	httpd := binary(t, "GRACEFD_GO_HTTPD", "go-httpd")
	ssa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatal("systemd-socket-activate is needed (Debian package systemd): ", err)
	}
	for _, named := range []bool{true, false} {
		t.Run(fmt.Sprintf("named=%v", named), func(t *testing.T) {
			p := newProcs(t)
			dir := t.TempDir()
			logPath := filepath.Join(dir, "server.log")
			port := freePort(t)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			args := []string{"-l", addr}
			listen := "http=" + addr
			unused := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			if named {
				// The name decides: the --listen address is never bound.
				args = append(args, "--fdname=http")
				listen = "http=" + unused
			}
			args = append(args, httpd, "--listen", listen)
			cmd := p.start(logPath, ssa, args...)
			waitLog(t, logPath, regexp.MustCompile(regexp.QuoteMeta("Listening on "+addr)), 10*time.Second)
			// systemd-socket-activate execs the program on the first connection.
			r := waitServing(t, addr)
			if r.pid != cmd.Process.Pid || r.gen != 1 {
				t.Fatalf("answered by pid %d generation %d, want %d generation 1", r.pid, r.gen, cmd.Process.Pid)
			}
			if named {
				if c, err := net.DialTimeout("tcp", unused, time.Second); err == nil {
					c.Close()
					t.Fatalf("%s is listening: the --listen address was bound instead of the inherited socket", unused)
				}
			}
			_ = syscall.Kill(r.pid, syscall.SIGHUP)
			m := waitLog(t, logPath, readyRe(r.pid), 20*time.Second)
			next, _ := strconv.Atoi(m[1])
			p.add(next)
			if ws, _, err := waitExit(r.pid, 20*time.Second); err != nil || ws.ExitStatus() != 0 {
				t.Fatalf("first generation: %v %v", ws, err)
			}
			if r2 := waitServing(t, addr); r2.pid != next || r2.gen != 2 {
				t.Fatalf("after the upgrade: pid %d generation %d", r2.pid, r2.gen)
			}
		})
	}
}

// Unchanged under Server::Starter's start_server (SERVER_STARTER_PORT): a
// restart (HUP to start_server: new worker, then TERM to the old one) under
// load loses no request, thanks to the polite drain.
func TestStartServer(t *testing.T) {
	httpd := binary(t, "GRACEFD_GO_HTTPD", "go-httpd")
	ss, err := exec.LookPath("start_server")
	if err != nil {
		t.Fatal("start_server is needed (Debian package libserver-starter-perl): ", err)
	}
	p := newProcs(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "server.log")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	starter := p.start(logPath, ss, "--port="+addr, "--interval=0", "--", httpd, "--listen", "http="+addr)
	r := waitServing(t, addr)
	if r.pid == starter.Process.Pid {
		t.Fatal("answered by start_server itself")
	}
	p.add(r.pid)
	b, _ := os.ReadFile(logPath)
	if strings.Contains(string(b), "address already in use") {
		t.Fatalf("the worker bound afresh instead of inheriting:\n%s", b)
	}
	load := startLoad(t, p, addr, filepath.Join(dir, "load.json"))
	time.Sleep(300 * time.Millisecond)
	_ = syscall.Kill(starter.Process.Pid, syscall.SIGHUP)
	// The old worker drains and exits; a new one serves.
	deadline := time.Now().Add(20 * time.Second)
	var r2 reply
	for {
		r2, err = get(addr)
		if err == nil && r2.pid != r.pid {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("no new worker after HUP (%v):\n%s", err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.add(r2.pid)
	time.Sleep(500 * time.Millisecond)
	res := stopLoad(t, load, filepath.Join(dir, "load.json"))
	t.Logf("loadgen: %d requests, %d failed %v, %d pids", res.Requests, res.Failures, res.FailuresByKind, res.DistinctPids)
	if res.Failures != 0 {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%d failed requests %v %v\n%s", res.Failures, res.FailuresByKind, res.FailureReasons, b)
	}
}

// The polite drain, step by step: a busy keep-alive connection gets
// "Connection: close" on its next response and is closed after it; an idle
// one is closed without a byte; the process exits 0.
func TestPoliteDrain(t *testing.T) {
	httpd := binary(t, "GRACEFD_GO_HTTPD", "go-httpd")
	p := newProcs(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "server.log")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	srv := p.start(logPath, httpd, "--listen", "http="+addr, "--drain-timeout", "10000")
	waitServing(t, addr)

	idle, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleR := bufio.NewReader(idle)
	if closing, err := roundTrip(idle, idleR); err != nil || closing {
		t.Fatalf("idle connection's first request: close %v, %v", closing, err)
	}

	busy, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyR := bufio.NewReader(busy)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = syscall.Kill(srv.Process.Pid, syscall.SIGTERM)
	}()
	n := 0
	for {
		if ctx.Err() != nil {
			t.Fatal("no Connection: close within 20 s")
		}
		closing, err := roundTrip(busy, busyR)
		if err != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("request %d on the busy connection failed: %v\n%s", n+1, err, b)
		}
		n++
		if closing {
			break
		}
	}
	_ = busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := busyR.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close: %q %v, want EOF", b, err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := idleR.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %q %v, want EOF", b, err)
	}
	if ws, _, err := waitExit(srv.Process.Pid, 15*time.Second); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("server: %v %v", ws, err)
	}
	t.Logf("busy connection: %d requests, the last with Connection: close", n)
	waitLog(t, logPath, regexp.MustCompile(`drained in`), time.Second)
}

// roundTrip sends one keep-alive request and reads the response; it
// reports whether the response said "Connection: close" (ReadResponse takes
// that header out and sets resp.Close).
func roundTrip(c net.Conn, r *bufio.Reader) (bool, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return false, err
	}
	if resp.StatusCode != 200 || resp.Header.Get("X-Pid") == "" {
		return false, fmt.Errorf("status %d, X-Pid %q", resp.StatusCode, resp.Header.Get("X-Pid"))
	}
	return resp.Close, nil
}

// Bad input at start-up: the reason, with the library's detail, and exit 1.
func TestBadListenAddress(t *testing.T) {
	httpd := binary(t, "GRACEFD_GO_HTTPD", "go-httpd")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, httpd, "--listen", "web=127.0.0.1:99999")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `httpd: 127.0.0.1:99999: address "127.0.0.1:99999": port "99999" is above 65535`) {
		t.Fatalf("output: %s", out)
	}
	cmd = exec.CommandContext(ctx, httpd, "--drain", "sometimes")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "--drain") {
		t.Fatalf("bad --drain: %v %s", err, out)
	}
}

func TestSplitSpec(t *testing.T) {
	for spec, want := range map[string][2]string{
		"http=127.0.0.1:8080":  {"http", "127.0.0.1:8080"},
		"127.0.0.1:8080":       {"", "127.0.0.1:8080"},
		"unix:/run/a=b.sock":   {"", "unix:/run/a=b.sock"},
		"admin=unix:/run/a.sk": {"admin", "unix:/run/a.sk"},
		"/run/x=y":             {"", "/run/x=y"},
		"=127.0.0.1:1":         {"", "=127.0.0.1:1"},
	} {
		n, a := splitSpec(spec)
		if n != want[0] || a != want[1] {
			t.Errorf("splitSpec(%q) = %q, %q; want %q, %q", spec, n, a, want[0], want[1])
		}
	}
}
