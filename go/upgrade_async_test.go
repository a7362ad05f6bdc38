package gracefd_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gracefd/gracefd/go"
)

func helperUpgradeOptions(t *testing.T, role string) *gracefd.UpgradeOptions {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &gracefd.UpgradeOptions{Args: []string{exe, "-test.run=^$"}, Env: []string{roleVar + "=" + role}, Timeout: 20 * time.Second}
}

func TestStartUpgradeReady(t *testing.T) {
	ln, err := gracefd.Listen("up-web", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("up-web")
	defer ln.Close()
	fds := openFds(t)
	p, err := gracefd.StartUpgrade(helperUpgradeOptions(t, "gen-ready"))
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := p.Result(); pid != 0 || err != nil {
		t.Fatalf("Result before Done: %d %v", pid, err)
	}
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("no outcome within 20 s")
	}
	pid, err := p.Result()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("gen=%d upgrade=true pid=%d", gracefd.Generation()+1, pid)
	if got := dialLine(t, ln.Addr().String()); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if ws := waitPid(t, pid); ws.ExitStatus() != 0 {
		t.Fatalf("new generation: %v", ws)
	}
	// Over: Cancel gives the outcome; no fd of the upgrade is left.
	if got, err := p.Cancel(); got != pid || err != nil {
		t.Fatalf("Cancel after the outcome: %d %v", got, err)
	}
	if !settles(func() bool { return len(openFds(t)) == len(fds) }) {
		t.Fatalf("fds before %v, after %v", fds, openFds(t))
	}
}

func TestUpgradeContextCancelsAndReaps(t *testing.T) {
	ln, err := gracefd.Listen("up-web", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gracefd.Forget("up-web")
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = gracefd.UpgradeContext(ctx, helperUpgradeOptions(t, "gen-hang"))
	if !errors.Is(err, syscall.ECANCELED) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v: want ECANCELED and DeadlineExceeded", err)
	}
	var gerr *gracefd.Error
	if !errors.As(err, &gerr) || gerr.Detail == "" {
		t.Fatalf("no *gracefd.Error with a detail in %v", err)
	}
	t.Logf("cancelled after %v: %v", time.Since(start).Round(time.Millisecond), err)
	// Killed and reaped: this process has no child left.
	if _, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil); err != syscall.ECHILD {
		t.Fatalf("wait4: %v, want ECHILD", err)
	}
	// A done context: nothing starts.
	_, err = gracefd.UpgradeContext(ctx, helperUpgradeOptions(t, "gen-ready"))
	wantErr(t, err, syscall.ECANCELED, "the context is done already")
	// Still the same process, able to upgrade again.
	p, err := gracefd.StartUpgrade(helperUpgradeOptions(t, "gen-hang"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Cancel()
	wantErr(t, err, syscall.ECANCELED, "killed and reaped, still serving")
	_, err = gracefd.StartUpgrade(&gracefd.UpgradeOptions{Args: []string{}})
	wantErr(t, err, syscall.EINVAL, "Args")
}
