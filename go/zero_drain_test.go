package gracefd_test

// (This file sorts after the others on purpose: its tests make the test
// process a child subreaper, which must not be on while the daemonize tests
// run, or their daemons become its children.)

// The connection pass (zero-drain upgrades) through ServeHTTP: the very
// same client socket is answered by the new generation after an upgrade;
// under long-lived keep-alive load, upgrades fail no request and close no
// connection; bad input to the pass functions gets an error naming it.

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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracefd/gracefd/go"
)

// servePassRole is one generation of the test server with
// ServeOptions.PassConnections, on GOTEST_ADDR. Each response names the
// pid and the connection as this process sees it (getsockname and
// getpeername of its own fd).
func servePassRole() int {
	pid := os.Getpid()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%d] "+format+"\n", append([]any{pid}, args...)...)
	}
	ln, err := gracefd.Listen("http", os.Getenv("GOTEST_ADDR"))
	if err != nil {
		_ = gracefd.Fail(1, err.Error())
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		w.Header().Set("X-Pid", strconv.Itoa(pid))
		w.Header().Set("X-Conn", local.String()+"<-"+r.RemoteAddr)
		_, _ = io.WriteString(w, "ok\n")
	})}
	opts := &gracefd.ServeOptions{Logf: logf, DrainTimeout: 5 * time.Second, PassConnections: true}
	if err := gracefd.ServeHTTP(context.Background(), srv, []net.Listener{ln}, opts); err != nil {
		logf("serve: %v", err)
		return 1
	}
	logf("exiting")
	return 0
}

// startGeneration starts role on a free address with its log in a file.
func startGeneration(t *testing.T, role string) (addr, logPath string, pid int) {
	t.Helper()
	becomeSubreaper(t)
	addr = freeAddr(t)
	logPath = filepath.Join(t.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
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
	pid = cmd.Process.Pid
	waitLine(t, logPath, regexp.MustCompile(fmt.Sprintf(`\[%d\] generation \d+ serving`, pid)))
	return addr, logPath, pid
}

// upgradeOnce upgrades the generation pid and returns the new one's pid once
// the old one has exited (reaped).
func upgradeOnce(t *testing.T, logPath string, pid int) int {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to %d: %v", pid, err)
	}
	m := waitLine(t, logPath, regexp.MustCompile(fmt.Sprintf(`\[%d\] upgrade: pid (\d+) is ready`, pid)))
	next, _ := strconv.Atoi(m[1])
	waitLine(t, logPath, regexp.MustCompile(fmt.Sprintf(`\[%d\] exiting`, pid)))
	reap(pid)
	return next
}

// get sends one request on c and returns the response's X-Pid and X-Conn.
func get(t *testing.T, c net.Conn, br *bufio.Reader) (pid, conn string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("request: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("response: %s, close=%v", resp.Status, resp.Close)
	}
	return resp.Header.Get("X-Pid"), resp.Header.Get("X-Conn")
}

func TestPassConnectionsSameSocketNewPid(t *testing.T) {
	addr, logPath, pid := startGeneration(t, "serve-pass")
	pids := []int{pid}
	defer func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGTERM)
			reap(p)
		}
	}()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	firstPid, firstConn := get(t, c, br)
	if firstPid != strconv.Itoa(pid) {
		t.Fatalf("first answer from pid %s, want %d", firstPid, pid)
	}
	// The server's view must be the client's, mirrored.
	if want := c.RemoteAddr().String() + "<-" + c.LocalAddr().String(); firstConn != want {
		t.Fatalf("server sees %s, client %s", firstConn, want)
	}
	for i := 0; i < 2; i++ { // passed on again by the generation it was passed to
		next := upgradeOnce(t, logPath, pids[len(pids)-1])
		pids = append(pids, next)
		gotPid, gotConn := get(t, c, br)
		if gotPid != strconv.Itoa(next) {
			t.Fatalf("upgrade %d: the same socket was answered by pid %s, want the new generation %d", i+1, gotPid, next)
		}
		if gotConn != firstConn {
			t.Fatalf("upgrade %d: the new generation serves %s, not the same connection %s", i+1, gotConn, firstConn)
		}
	}
	log, _ := os.ReadFile(logPath)
	if strings.Contains(string(log), "passed ") { // "passed N of M …, draining the rest"
		t.Fatalf("a pass failed:\n%s", log)
	}
}

type passLoad struct {
	Requests   int            `json:"requests"`
	Failures   int            `json:"failures"`
	ByKind     map[string]int `json:"failures_by_kind"`
	Reconnects struct {
		ServerClose int `json:"server_close"`
		IdleClose   int `json:"idle_close"`
		Total       int `json:"total"`
	} `json:"reconnects"`
	Pids int `json:"distinct_pids"`
}

func TestPassConnectionsUnderKeepAliveLoad(t *testing.T) {
	// Long-lived clients idle between requests, then busy ones (a
	// connection empty only for a moment between two requests) beside
	// clients opening a connection per request.
	t.Run("idle", func(t *testing.T) { passUnderLoad(t, "--keepalive", "16", "--idle-ms", "20") })
	t.Run("busy", func(t *testing.T) { passUnderLoad(t, "--keepalive", "8", "--new", "2") })
}

func passUnderLoad(t *testing.T, loadArgs ...string) {
	const upgrades = 5
	addr, logPath, pid := startGeneration(t, "serve-pass")
	pids := []int{pid}
	defer func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGTERM)
			reap(p)
		}
	}()
	load := exec.Command(loadgenPath(t), append([]string{"--addr", addr, "--duration", "0", "--json"}, loadArgs...)...)
	var out strings.Builder
	load.Stdout, load.Stderr = &out, os.Stderr
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
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < upgrades; i++ {
		pids = append(pids, upgradeOnce(t, logPath, pids[len(pids)-1]))
		time.Sleep(100 * time.Millisecond)
	}
	_ = load.Process.Signal(syscall.SIGTERM)
	err := load.Wait()
	loadDone = true
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("loadgen: %v", err)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var res passLoad
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("loadgen output %q: %v", out.String(), err)
	}
	t.Logf("%d upgrades: %d requests, %d failed %v, %d reconnects, %d generations answered",
		upgrades, res.Requests, res.Failures, res.ByKind, res.Reconnects.Total, res.Pids)
	if res.Pids < upgrades+1 {
		t.Fatalf("only %d generations answered (want %d): the kept connections did not move", res.Pids, upgrades+1)
	}
	if res.Failures != 0 || res.Reconnects.Total != 0 {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("%d failed %v, %d reconnects %+v; server log:\n%s", res.Failures, res.ByKind, res.Reconnects.Total, res.Reconnects, log)
	}
}

func TestPassConnsBadInput(t *testing.T) {
	// Not started by an upgrade: nothing arrives, nothing can be passed.
	if gracefd.EnableConns() {
		t.Fatal("EnableConns: true in a process no upgrade started")
	}
	if _, err := gracefd.NextConn(); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("NextConn with nothing passed: %v, want EAGAIN", err)
	}
	if n := gracefd.PendingConns(); n != 0 {
		t.Fatalf("PendingConns: %d", n)
	}
	if _, err := gracefd.CanPassConns(); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("CanPassConns with no new generation: %v, want ENOTCONN", err)
	}
	if n, err := gracefd.PassConns(nil, time.Second); n != 0 || err != nil {
		t.Fatalf("PassConns(nothing): %d, %v", n, err)
	}
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	n, err := gracefd.PassConns([]gracefd.ConnToPass{{Conn: a.(*net.TCPConn)}, {}}, time.Second)
	wantErr(t, err, syscall.EINVAL, "connection 1 is nil")
	if n != 0 {
		t.Fatalf("passed %d", n)
	}
	_, err = gracefd.PassConns([]gracefd.ConnToPass{{Conn: a.(*net.TCPConn), State: make([]byte, gracefd.ConnStateMax+1)}}, time.Second)
	wantErr(t, err, syscall.EINVAL, "the state of connection 0 is 65537 bytes")
	// A listening socket is no connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = gracefd.PassConns([]gracefd.ConnToPass{{Conn: ln.(*net.TCPListener)}}, time.Second)
	if !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("PassConns(a listener): %v, want EINVAL (or ENOTCONN: nobody takes)", err)
	}
	_, err = gracefd.PassConns([]gracefd.ConnToPass{{Conn: a.(*net.TCPConn)}}, time.Second)
	wantErr(t, err, syscall.ENOTCONN, "")
	// The connection is untouched: it still works.
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatalf("the connection after a failed pass: %v", err)
	}
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// passStateRole is an old generation written by hand: it reads part of a
// request from one connection and garbage from another, upgrades (the new
// generation is servePassRole), and passes both with what it read as their
// state. In the new generation (an upgrade) it is servePassRole.
func passStateRole() int {
	if gracefd.IsUpgrade() {
		return servePassRole()
	}
	pid := os.Getpid()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%d] "+format+"\n", append([]any{pid}, args...)...)
	}
	ln, err := gracefd.Listen("http", os.Getenv("GOTEST_ADDR"))
	if err != nil {
		logf("listen: %v", err)
		return 1
	}
	logf("generation 1 serving")
	var conns []gracefd.ConnToPass
	var keep []net.Conn
	for _, want := range []int{len(halfRequest), len(garbage)} {
		c, err := ln.Accept()
		if err != nil {
			logf("accept: %v", err)
			return 1
		}
		keep = append(keep, c)
		buf := make([]byte, want)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil {
			logf("read: %v", err)
			return 1
		}
		conns = append(conns, gracefd.ConnToPass{Conn: c.(*net.TCPConn), Tag: uint64(len(conns) + 1), State: buf})
	}
	next, err := gracefd.Upgrade(nil)
	if err != nil {
		logf("upgrade: %v", err)
		return 1
	}
	logf("upgrade: pid %d is ready", next)
	n, err := gracefd.PassConns(conns, 5*time.Second)
	logf("passed %d err=%v", n, err)
	for _, c := range keep {
		c.Close()
	}
	return 0
}

const (
	halfRequest = "GET /half HTTP/1.1\r\nHo"
	garbage     = "\x00\x01\x02 not http\r\n\r\n"
)

// A connection passed with a request half read (its bytes as the state)
// is answered by the new generation once the rest arrives; one passed with
// garbage as its state is refused by the new generation's server (400 and
// closed), which goes on serving the others.
func TestPassConnectionsWithState(t *testing.T) {
	addr, logPath, pid := startGeneration(t, "pass-state")
	pids := []int{pid}
	defer func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGTERM)
			reap(p)
		}
	}()
	half, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	if _, err := io.WriteString(half, halfRequest); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // its accept comes first
	bad, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := io.WriteString(bad, garbage); err != nil {
		t.Fatal(err)
	}
	m := waitLine(t, logPath, regexp.MustCompile(fmt.Sprintf(`\[%d\] upgrade: pid (\d+) is ready`, pid)))
	next, _ := strconv.Atoi(m[1])
	pids = append(pids, next)
	m = waitLine(t, logPath, regexp.MustCompile(fmt.Sprintf(`\[%d\] passed (\d+) err=(.*)`, pid)))
	if m[1] != "2" || m[2] != "<nil>" {
		t.Fatalf("the old generation passed %s: %s", m[1], m[2])
	}
	reap(pid)
	// The rest of the half request, on the very same socket.
	if _, err := io.WriteString(half, "st: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(half)
	_ = half.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the half request: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Pid") != strconv.Itoa(next) {
		t.Fatalf("the half request: %s from pid %q, want 200 from %d", resp.Status, resp.Header.Get("X-Pid"), next)
	}
	// The garbage: refused and closed by the new generation.
	_ = bad.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(bad)
	if err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 400") {
		t.Fatalf("the garbage connection: %q, %v; want a 400 and the close", got, err)
	}
	// Still serving: the first connection, again.
	if p, _ := get(t, half, br); p != strconv.Itoa(next) {
		t.Fatalf("after the garbage: answered by %q, want %d", p, next)
	}
}
