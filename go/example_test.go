package gracefd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gracefd/gracefd/go"
)

// A listener that is inherited when the program was started with one (by
// systemd, start_server, or an older generation), and bound otherwise.
func ExampleListen() {
	ln, err := gracefd.Listen("example-http", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer gracefd.Forget("example-http") // an example cleans up; a server keeps it
	defer ln.Close()
	fmt.Println(ln.Addr().Network())
	// Output: tcp
}

// Errors carry the errno and the library's detail.
func ExampleError() {
	_, err := gracefd.Listen("web", "127.0.0.1:99999")
	fmt.Println(errors.Is(err, syscall.EINVAL))
	var gerr *gracefd.Error
	if errors.As(err, &gerr) {
		fmt.Println(gerr.Op, "|", gerr.Detail)
	}
	fmt.Println(err)
	// Output:
	// true
	// Listen | address "127.0.0.1:99999": port "99999" is above 65535
	// gracefd: Listen: address "127.0.0.1:99999": port "99999" is above 65535 (invalid argument (EINVAL))
}

// The whole life of a server: listen (inherited or bound), serve, say ready,
// upgrade on SIGHUP, drain and leave on SIGTERM or after an upgrade.
// go-examples/cmd/httpd is the complete program, with a polite drain.
func Example_server() {
	ln, err := gracefd.Listen("http", "127.0.0.1:8080")
	if err != nil {
		gracefd.Fail(1, err.Error()) // tell an upgrading old generation why
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "generation %d\n", gracefd.Generation())
	})}
	go srv.Serve(ln)
	events, err := gracefd.Events(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	if err := gracefd.Ready(); err != nil {
		log.Print(err)
	}
	upgraded := make(chan error, 1)
	for {
		select {
		case ev := <-events:
			if ev == gracefd.EventUpgrade {
				go func() { _, err := gracefd.Upgrade(nil); upgraded <- err }()
				continue
			}
		case err := <-upgraded:
			if err != nil {
				log.Printf("upgrade failed, still serving: %v", err)
				continue
			}
		}
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx) // see cmd/httpd/drain.go for a drain that loses no request
}

func ExampleListenPacket() {
	pc, err := gracefd.ListenPacket("example-dns", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer gracefd.Forget("example-dns")
	defer pc.Close()
	fmt.Println(pc.LocalAddr().Network())
	// Output: udp
}

// Upgrade from a SIGHUP handler: the old generation goes on serving while
// the new one starts, and learns why if it fails.
func ExampleUpgrade() {
	pid, err := gracefd.Upgrade(&gracefd.UpgradeOptions{
		Env:     []string{"APP_CONFIG=/etc/app/new.toml"},
		Timeout: 30 * time.Second,
	})
	switch {
	case errors.Is(err, syscall.EALREADY):
		log.Print("an upgrade is already in flight")
	case err != nil:
		log.Printf("upgrade failed, still serving: %v", err)
	default:
		log.Printf("pid %d serves now; draining", pid)
	}
}

func ExampleEvents() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := gracefd.Events(ctx)
	if err != nil {
		log.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	fmt.Println(<-events)
	// Output: upgrade
}

// Hand a file down to the next generation (a memfd of state, a listener
// made without gracefd, …), and find it there.
func ExampleAddFile() {
	f, err := os.CreateTemp("", "state")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := gracefd.AddFile("example-state", f); err != nil {
		log.Fatal(err)
	}
	defer gracefd.Forget("example-state")

	// In the next generation:
	if inherited, err := gracefd.Inherited("example-state"); err == nil {
		io.Copy(os.Stdout, inherited)
	}
}

// Under systemd with Type=notify (and WatchdogSec=), nothing else is needed:
// without NOTIFY_SOCKET every call is a no-op.
func ExampleNotify() {
	gracefd.NotifyStatus("loading the cache")
	if d, err := gracefd.WatchdogInterval(); err == nil && d > 0 {
		go func() {
			for range time.Tick(d / 2) {
				gracefd.Notify("WATCHDOG=1")
			}
		}()
	}
	gracefd.Ready()
	fmt.Println("ok")
	// Output: ok
}

func ExampleSetLogHook() {
	gracefd.SetLogHook(func(level int, msg string) {
		log.Printf("<%d> %s", level, msg)
	}, gracefd.LogInfo)
}

// Daemonize first thing in main, then listen, then tell the launcher. The
// launcher (the process the shell started) exits 0 once Ready is called, so
// `app --daemonize && echo up` means the server is up; if the daemon cannot
// start, the launcher prints why and exits with the daemon's status.
func ExampleDaemonize() {
	err := gracefd.Daemonize(&gracefd.DaemonOptions{
		PidFile: "/run/app.pid",
		LogFile: "/var/log/app.log",
		Timeout: 10 * time.Second,
	})
	if err != nil { // nothing was started
		fmt.Fprintln(os.Stderr, "app:", err)
		if errors.Is(err, syscall.EEXIST) { // "already running as pid N"
			os.Exit(gracefd.ExitAlreadyRunning)
		}
		os.Exit(1)
	}
	// The daemon (the launcher never gets here).
	ln, err := gracefd.Listen("http", "127.0.0.1:8080")
	if err != nil {
		gracefd.Fail(3, err.Error()) // the launcher prints it and exits 3
		os.Exit(3)
	}
	gracefd.Ready() // the launcher exits 0
	http.Serve(ln, http.NotFoundHandler())
	gracefd.RemovePidFile() // at clean exit, if it still names us
}

// A pid file for a program that stays in the foreground: locked for the
// process's life, handed to the new generation on Upgrade, removed at clean
// exit if it still names this process.
func ExampleCreatePidFile() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := dir + "/app.pid"
	if err := gracefd.CreatePidFile(path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, syscall.EEXIST) { // "already running as pid N"
			os.Exit(gracefd.ExitAlreadyRunning)
		}
		os.Exit(1)
	}
	b, _ := os.ReadFile(path)
	fmt.Println(strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()))

	removed, err := gracefd.RemovePidFile()
	fmt.Println(removed, err)
	// Output:
	// true
	// true <nil>
}
