package gracefd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracefd/gracefd/go"
)

// wantErr checks that err is a *gracefd.Error with errno and a detail
// containing detail.
func wantErr(t *testing.T, err error, errno syscall.Errno, detail string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", errno)
	}
	if !errors.Is(err, errno) {
		t.Fatalf("error %q is not %v", err, errno)
	}
	var gerr *gracefd.Error
	if !errors.As(err, &gerr) {
		t.Fatalf("error %q (%T) is not a *gracefd.Error", err, err)
	}
	if gerr.Errno != errno || !strings.Contains(gerr.Detail, detail) {
		t.Fatalf("error %q: want errno %v and a detail with %q", err, errno, detail)
	}
	if !strings.HasPrefix(err.Error(), "gracefd: ") {
		t.Fatalf("error text %q", err)
	}
}

func TestListenBadInput(t *testing.T) {
	for _, c := range []struct {
		name, addr string
		errno      syscall.Errno
		detail     string
	}{
		{"", "127.0.0.1:99999", syscall.EINVAL, "99999"},
		{"web", "no port here", syscall.EINVAL, "no port here"},
		{"bad:name", "127.0.0.1:0", syscall.EINVAL, "bad:name"},
		{"nul\x00name", "127.0.0.1:0", syscall.EINVAL, "NUL"},
		{"", "127.0.0.1:0\x00", syscall.EINVAL, "NUL"},
		{"dns", "udp://127.0.0.1:0", syscall.EINVAL, "ListenPacket"},
		{"", "unix:/nonexistent-dir-for-gracefd-tests/s.sock", syscall.ENOENT, "nonexistent-dir-for-gracefd-tests"},
	} {
		ln, err := gracefd.Listen(c.name, c.addr)
		if ln != nil {
			ln.Close()
		}
		t.Logf("Listen(%q, %q): %v", c.name, c.addr, err)
		wantErr(t, err, c.errno, c.detail)
	}
	// The exact message of the documented example (docs/go.md).
	_, err := gracefd.Listen("web", "127.0.0.1:99999")
	want := `gracefd: Listen: address "127.0.0.1:99999": port "99999" is above 65535 (invalid argument (EINVAL))`
	if err == nil || err.Error() != want {
		t.Fatalf("got %q\nwant %q", err, want)
	}
}

func TestListenAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = gracefd.Listen("busy", busy.Addr().String())
	wantErr(t, err, syscall.EADDRINUSE, busy.Addr().String())
}

func TestListenSameNameSameSocketOtherAddressEEXIST(t *testing.T) {
	ln, err := gracefd.Listen("twice", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("twice")
	defer ln.Close()
	addr := ln.Addr().String()
	again, err := gracefd.Listen("twice", addr)
	if err != nil {
		t.Fatalf("same name, same address: %v", err)
	}
	defer again.Close()
	if again.Addr().String() != addr {
		t.Fatalf("same name, same address: got %s, want %s", again.Addr(), addr)
	}
	other, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the "other address"
	if err != nil {
		t.Fatal(err)
	}
	otherAddr := other.Addr().String()
	other.Close()
	_, err = gracefd.Listen("twice", otherAddr)
	wantErr(t, err, syscall.EEXIST, "twice")
}

func TestListenServesHTTP(t *testing.T) {
	ln, err := gracefd.Listen("http-test", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("http-test")
	if _, ok := ln.(*net.TCPListener); !ok {
		t.Fatalf("Listen returned a %T, want *net.TCPListener", ln)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })}
	go srv.Serve(ln)
	defer srv.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok\n" {
		t.Fatalf("body %q", body)
	}
}

func TestListenPacket(t *testing.T) {
	pc, err := gracefd.ListenPacket("udp-test", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("udp-test")
	defer pc.Close()
	if _, ok := pc.(*net.UDPConn); !ok {
		t.Fatalf("ListenPacket returned a %T", pc)
	}
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	_, err = gracefd.ListenPacket("x", "tcp://127.0.0.1:0")
	wantErr(t, err, syscall.EINVAL, "not UDP")
	_, err = gracefd.ListenPacket("x", "unix:/tmp/x")
	wantErr(t, err, syscall.EINVAL, "not UDP")
}

// Closing a Go listener from Listen leaves the socket (and a unix socket's
// file) to the registry and the other generations.
func TestClosingAUnixListenerKeepsTheSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := gracefd.Listen("unix-test", "unix:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("unix-test")
	if _, ok := ln.(*net.UnixListener); !ok {
		t.Fatalf("Listen returned a %T", ln)
	}
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the socket file went away with the Go listener: %v", err)
	}
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatalf("the socket no longer listens: %v", err)
	}
	c.Close()
	// Listening again under the same name gives the same socket back.
	again, err := gracefd.Listen("unix-test", "unix:"+path)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}

func TestNamedFiles(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "state")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gracefd.AddFile("state", f); err != nil {
		t.Fatal(err)
	}
	wantErr(t, gracefd.AddFile("state", f), syscall.EEXIST, "state")
	wantErr(t, gracefd.AddFile("unknown", f), syscall.EINVAL, "unknown")
	if n, err := gracefd.Forget("state"); n != 1 || err != nil {
		t.Fatalf("Forget: %d, %v", n, err)
	}
	_, err = gracefd.Forget("state")
	wantErr(t, err, syscall.ENOENT, "state")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("ENOENT should be fs.ErrNotExist")
	}
	f.Close()
	wantErr(t, gracefd.AddFile("closed", f), syscall.EBADF, "")

	_, err = gracefd.Inherited("nothing-inherited")
	wantErr(t, err, syscall.ENOENT, "nothing-inherited")
	if files, err := gracefd.Files(); err != nil || len(files) != 0 {
		t.Fatalf("Files in a process that inherited nothing: %v, %v", files, err)
	}
	if list, err := gracefd.InheritedList(); err != nil || len(list) != 0 {
		t.Fatalf("InheritedList: %v, %v", list, err)
	}
	if n := gracefd.CloseUnclaimed(); n != 0 {
		t.Fatalf("CloseUnclaimed: %d", n)
	}
}

func TestBasics(t *testing.T) {
	if v := gracefd.Version(); v == "" || strings.Count(v, ".") != 2 {
		t.Fatalf("Version %q", v)
	}
	if g := gracefd.Generation(); g != 1 {
		t.Fatalf("Generation %d in a first start", g)
	}
	if gracefd.IsUpgrade() {
		t.Fatal("IsUpgrade in a first start")
	}
	wantErr(t, gracefd.Fail(0, "x"), syscall.EINVAL, "")
	wantErr(t, gracefd.Fail(1, "two\nlines"), syscall.EINVAL, "")
	if err := gracefd.Fail(1, "nobody waits"); err != nil {
		t.Fatal(err)
	}
	if err := gracefd.SetLogHook(func(int, string) {}, 8); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("SetLogHook level 8: %v", err)
	}
	for k, want := range map[gracefd.Kind]string{gracefd.KindTCPListener: "tcp-listener", gracefd.KindFile: "file", 0: "unknown"} {
		if k.String() != want {
			t.Fatalf("%d.String() = %q", k, k.String())
		}
	}
}

// Without NOTIFY_SOCKET every call is a no-op returning nil, and arguments
// are still checked. Run in a helper: the library reads the environment once
// at load time, and this test binary may itself run under a service manager.
func TestNotifyWithoutNotifySocket(t *testing.T) {
	h := startHelper(t, "notify-unset", nil)
	if got := h.line(); got != "ok" {
		t.Fatalf("helper: %s", got)
	}
	if st := h.wait(); st != 0 {
		t.Fatalf("helper exited %d", st)
	}
}

func notifyUnsetRole() int {
	for name, err := range map[string]error{
		"Ready":                gracefd.Ready(),
		"Notify":               gracefd.Notify("WATCHDOG=1"),
		"NotifyReloading":      gracefd.NotifyReloading(),
		"NotifyStopping":       gracefd.NotifyStopping(),
		"NotifyStatus":         gracefd.NotifyStatus("fine"),
		"NotifyBarrier":        gracefd.NotifyBarrier(time.Second),
		"NotifyBarrierContext": gracefd.NotifyBarrierContext(context.Background()),
	} {
		if err != nil {
			fmt.Printf("%s without NOTIFY_SOCKET: %v\n", name, err)
			return 1
		}
	}
	for what, err := range map[string]error{
		"a state without '='":   gracefd.Notify("no equals sign"),
		"a status on two lines": gracefd.NotifyStatus("two\nlines"),
	} {
		if !errors.Is(err, syscall.EINVAL) {
			fmt.Printf("%s: %v, want EINVAL\n", what, err)
			return 1
		}
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := gracefd.NotifyBarrierContext(done); err != context.Canceled {
		fmt.Printf("NotifyBarrierContext with a done context: %v\n", err)
		return 1
	}
	if d, err := gracefd.WatchdogInterval(); d != 0 || err != nil {
		fmt.Printf("WatchdogInterval: %v, %v\n", d, err)
		return 1
	}
	fmt.Println("ok")
	return 0
}

// notifyRole runs under NOTIFY_SOCKET and WATCHDOG_USEC from the test.
func notifyRole() int {
	step := func(name string, err error) {
		if err != nil {
			fmt.Println("error", name, err)
			os.Exit(1)
		}
	}
	step("Ready", gracefd.Ready())
	step("NotifyStatus", gracefd.NotifyStatus("serving"))
	step("NotifyReloading", gracefd.NotifyReloading())
	step("NotifyStopping", gracefd.NotifyStopping())
	step("Notify", gracefd.Notify("WATCHDOG=1"))
	r, w, err := os.Pipe()
	step("pipe", err)
	step("NotifyWithFiles", gracefd.NotifyWithFiles("FDSTORE=1\nFDNAME=pipe", r, w))
	step("NotifyBarrier", gracefd.NotifyBarrier(10*time.Second))
	d, err := gracefd.WatchdogInterval()
	step("WatchdogInterval", err)
	fmt.Println("watchdog", d)
	return 0
}

func TestNotifyReachesTheServiceManager(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	sm, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	h := startHelper(t, "notify", nil, "NOTIFY_SOCKET="+path, "WATCHDOG_USEC=3000000")
	var got []string
	fdsSeen := 0
	for len(got) < 7 {
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		_ = sm.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, oobn, _, _, err := sm.ReadMsgUnix(buf, oob)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			fds, _ := syscall.ParseUnixRights(&m)
			for _, fd := range fds {
				syscall.Close(fd) // for BARRIER=1 this is the confirmation
				fdsSeen++
			}
		}
		got = append(got, string(buf[:n]))
	}
	want := []string{"READY=1", "STATUS=serving", "RELOADING=1\nMONOTONIC_USEC=", "STOPPING=1", "WATCHDOG=1", "FDSTORE=1\nFDNAME=pipe", "BARRIER=1"}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Fatalf("message %d: %q, want %q…", i, got[i], w)
		}
	}
	if fdsSeen != 3 {
		t.Fatalf("%d fds received, want 2 (fd store) + 1 (barrier)", fdsSeen)
	}
	if line := h.line(); line != "watchdog 3s" {
		t.Fatalf("helper: %q", line)
	}
	if st := h.wait(); st != 0 {
		t.Fatalf("helper exited %d", st)
	}
}

func TestEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	events, err := gracefd.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sig  syscall.Signal
		want gracefd.Event
	}{
		{syscall.SIGHUP, gracefd.EventUpgrade},
		{syscall.SIGUSR2, gracefd.EventUpgrade},
		{syscall.SIGTERM, gracefd.EventShutdown},
		{syscall.SIGINT, gracefd.EventShutdown},
	} {
		if err := syscall.Kill(os.Getpid(), c.sig); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			if ev != c.want {
				t.Fatalf("%v gave %v, want %v", c.sig, ev, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: no event", c.sig)
		}
	}
	cancel()
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("an event after cancel")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the channel was not closed after cancel")
	}
	if gracefd.EventDrain.String() != "drain" {
		t.Fatal(gracefd.EventDrain.String())
	}
}

// upgradeTo upgrades this test process to a helper role.
func upgradeTo(role string, timeout time.Duration) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	return gracefd.Upgrade(&gracefd.UpgradeOptions{
		Args:    []string{exe, "-test.run=^$"},
		Env:     []string{roleVar + "=" + role},
		Timeout: timeout,
	})
}

func TestUpgrade(t *testing.T) {
	ln, err := gracefd.Listen("up-web", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("up-web")
	defer ln.Close()
	addr := ln.Addr().String()

	pid, err := upgradeTo("gen-ready", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Nobody accepts here: the new generation takes the connection from the
	// shared queue.
	want := fmt.Sprintf("gen=%d upgrade=true pid=%d", gracefd.Generation()+1, pid)
	if got := dialLine(t, addr); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if ws := waitPid(t, pid); ws.ExitStatus() != 0 {
		t.Fatalf("new generation: %v", ws)
	}
}

// A failing new generation comes back as an error with its reason, and this
// process goes on serving on the same listener.
func TestUpgradeFailures(t *testing.T) {
	ln, err := gracefd.Listen("up-web", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("up-web")
	defer ln.Close()

	_, err = upgradeTo("gen-fail", 20*time.Second)
	wantErr(t, err, syscall.ECANCELED, "cannot open the database")
	_, err = upgradeTo("gen-exit", 20*time.Second)
	wantErr(t, err, syscall.ECHILD, "status 4")
	_, err = gracefd.Upgrade(&gracefd.UpgradeOptions{Path: "/nonexistent/gracefd-new", Args: []string{"x"}})
	wantErr(t, err, syscall.ENOEXEC, "")
	_, err = gracefd.Upgrade(&gracefd.UpgradeOptions{Env: []string{"LISTEN_FDS=7"}})
	wantErr(t, err, syscall.EINVAL, "LISTEN_FDS")
	_, err = gracefd.Upgrade(&gracefd.UpgradeOptions{Args: []string{}})
	wantErr(t, err, syscall.EINVAL, "Args")
	_, err = gracefd.Upgrade(&gracefd.UpgradeOptions{Path: "relative/path"})
	wantErr(t, err, syscall.EINVAL, "")

	// Still serving.
	go func() {
		if c, err := ln.Accept(); err == nil {
			fmt.Fprintln(c, "still here")
			c.Close()
		}
	}()
	if got := dialLine(t, ln.Addr().String()); got != "still here" {
		t.Fatalf("got %q", got)
	}
}

// A second upgrade while one is in flight is refused with EALREADY; the
// first times out (ETIMEDOUT) and its new generation is killed.
func TestUpgradeInFlightAndTimeout(t *testing.T) {
	started := make(chan string, 4)
	if err := gracefd.SetLogHook(func(level int, msg string) {
		if strings.Contains(msg, "upgrade: started generation") {
			started <- msg
		}
	}, gracefd.LogDebug); err != nil {
		t.Fatal(err)
	}
	defer gracefd.SetLogHook(nil, 0)
	var wg sync.WaitGroup
	var firstErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, firstErr = upgradeTo("gen-hang", 1500*time.Millisecond)
	}()
	select {
	case msg := <-started:
		if !strings.HasPrefix(msg, fmt.Sprintf("gracefd[%d]: ", os.Getpid())) {
			t.Errorf("log line %q", msg)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the first upgrade did not start")
	}
	_, err := upgradeTo("gen-ready", 20*time.Second)
	wantErr(t, err, syscall.EALREADY, "already")
	wg.Wait()
	wantErr(t, firstErr, syscall.ETIMEDOUT, "")
}
