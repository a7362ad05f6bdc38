// Command httpd (built as build/bin/go-httpd) is a small net/http server that
// upgrades itself with zero downtime: the Go twin of c-examples/httpd.c.
//
// Every request gets "200 OK", the header "X-Pid: <pid>" and the body
// "ok pid=<pid> generation=<n>\n".
//
//	--listen [NAME=]ADDR   listen here (repeatable; default http=127.0.0.1:8080)
//	--pid-file PATH        keep a locked pid file (follows upgrades)
//	--daemonize            detach (gracefd.Daemonize, re-exec); the launching
//	                       shell learns whether it came up
//	--log-file PATH        append this program's log there (default: stderr);
//	                       with --daemonize, the daemon's stdout and stderr
//	                       (default /dev/null)
//	--drain-timeout MS     how long a draining generation may take (default 10000)
//	--verbose              also log the library's events
//	--drain MODE           polite (default); for comparison only: shutdown (a
//	                       bare http.Server.Shutdown) or keepalives-off
//	                       (SetKeepAlivesEnabled(false), then Shutdown)
//
// --daemonize daemonizes before any listener is opened: the launcher exits 0
// once the daemon serves, or prints why it could not start and exits
// non-zero (the daemon's status, 1 for a start-up error such as a port in
// use). With --pid-file another instance holding it makes the launcher print
// the library's "already running as pid N" and exit 242
// (gracefd.ExitAlreadyRunning); so does a foreground start with --pid-file,
// which keeps the pid file itself (gracefd.CreatePidFile). An upgrade hands
// the pid file and its lock on, and it names the new generation.
// At a clean exit the pid file is removed if it still names this process.
//
// SIGHUP/SIGUSR2: upgrade to a new generation. This one keeps serving while
// the new one starts; if that fails, this one logs why and goes on.
// SIGTERM/SIGINT, or a successful upgrade: drain politely and exit.
//
// The listeners come from gracefd.Listen, so the same binary runs unchanged
// when started by hand, by an older generation of itself, by systemd socket
// activation (LISTEN_FDS/LISTEN_FDNAMES: a socket named like the listener is
// used, or an unnamed one bound to its address), by Server::Starter's
// start_server (SERVER_STARTER_PORT) and by the gracefd superdaemon.
//
// The polite drain (what loses no request) is gracefd.ServeHTTP's: stop
// accepting; answer each further request on an open connection with
// "Connection: close"; close a connection early only when it has been idle
// for a while with no request bytes read or waiting; when none are left (or
// the drain timeout is near), http.Server.Shutdown to finish.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gracefd/gracefd/go"
)

type listenSpecs []string

func (l *listenSpecs) String() string     { return strings.Join(*l, ",") }
func (l *listenSpecs) Set(s string) error { *l = append(*l, s); return nil }

// splitSpec splits "[NAME=]ADDR" as the C example does: a prefix before '='
// is a name only if it has no ':' and no '/' (so "unix:/a=b" is an address).
func splitSpec(spec string) (name, addr string) {
	if i := strings.IndexByte(spec, '='); i > 0 && !strings.ContainsAny(spec[:i], ":/") {
		return spec[:i], spec[i+1:]
	}
	return "", spec
}

func main() {
	var specs listenSpecs
	flag.Var(&specs, "listen", "`[NAME=]ADDR` to listen on (repeatable; default http=127.0.0.1:8080)")
	pidFile := flag.String("pid-file", "", "keep a locked pid file at `PATH` (follows upgrades)")
	daemonize := flag.Bool("daemonize", false, "detach; the launching shell learns whether it came up")
	logFile := flag.String("log-file", "", "append the log to `PATH` (default: stderr); with --daemonize,\nthe daemon's stdout and stderr (default /dev/null)")
	drainMs := flag.Int("drain-timeout", 10000, "how long a draining generation may take, in `MS`")
	verbose := flag.Bool("verbose", false, "also log the library's events")
	drainMode := flag.String("drain", "polite", "`MODE` of draining: polite, or for comparison shutdown (a bare\nhttp.Server.Shutdown) or keepalives-off (SetKeepAlivesEnabled(false), then Shutdown)")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if len(specs) == 0 {
		specs = listenSpecs{"http=127.0.0.1:8080"}
	}
	switch *drainMode { // bad flags before daemonizing: the launcher says so
	case "polite", "shutdown", "keepalives-off":
	default:
		fmt.Fprintf(os.Stderr, "httpd: --drain %q: want polite, shutdown or keepalives-off\n", *drainMode)
		os.Exit(2)
	}

	// With --daemonize, this runs twice: in the launcher, whose Daemonize
	// call does not return, and again from the start in the daemon.
	pid := os.Getpid()
	logger := log.New(os.Stderr, fmt.Sprintf("httpd[%d]: ", pid), 0)
	if *verbose {
		_ = gracefd.SetLogHook(func(level int, msg string) { logger.Printf("<%d>%s", level, msg) }, gracefd.LogDebug)
	}
	if *daemonize {
		// Before any listener: the launcher waits until this process is
		// ready (or prints why it failed) and exits with the truth. In a
		// new generation (an upgrade) it returns nil at once.
		err := gracefd.Daemonize(&gracefd.DaemonOptions{PidFile: *pidFile, LogFile: *logFile})
		if err != nil {
			dieStartup(logger, "daemonize", err)
		}
	} else if *pidFile != "" {
		if err := gracefd.CreatePidFile(*pidFile); err != nil {
			dieStartup(logger, "pid file", err)
		}
	}
	// The daemon's stderr is the log file already.
	if *logFile != "" && !*daemonize {
		f, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			dieStartup(logger, "log file", err)
		}
		logger.SetOutput(f)
	}

	body := "ok pid=" + strconv.Itoa(pid) + " generation=" + strconv.Itoa(gracefd.Generation()) + "\n"
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", "text/plain")
			h.Set("X-Pid", strconv.Itoa(pid))
			h.Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = io.WriteString(w, body)
		}),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          logger,
	}
	var lns []net.Listener
	for _, spec := range specs {
		name, addr := splitSpec(spec)
		ln, err := gracefd.Listen(name, addr)
		if err != nil {
			dieStartup(logger, addr, err)
		}
		lns = append(lns, ln)
	}
	opts := &gracefd.ServeOptions{
		DrainTimeout: time.Duration(*drainMs) * time.Millisecond,
		Logf:         logger.Printf,
	}
	logger.Printf("generation %d serving on %s", gracefd.Generation(), specs.String())
	ctx := context.Background()
	var err error
	switch *drainMode {
	case "polite":
		err = gracefd.ServeHTTP(ctx, srv, lns, opts)
	case "shutdown": // for comparison: loses requests on keep-alive connections
		err = gracefd.Serve(ctx, srv, lns, opts)
	case "keepalives-off": // for comparison: loses requests too
		err = gracefd.Serve(ctx, gracefd.ServiceFuncs{
			ServeFunc: srv.Serve,
			ShutdownFunc: func(ctx context.Context) error {
				srv.SetKeepAlivesEnabled(false)
				return srv.Shutdown(ctx)
			},
		}, lns, opts)
	}
	removePidFile(logger)
	if err != nil {
		logger.Printf("exiting: %v", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// dieStartup tells whoever waits for this process (an upgrading old
// generation, a daemonize launcher, the superdaemon) why it cannot start, and
// exits 1. Another instance holding the pid file is not a failure to start:
// the library's message ("already running as pid N") and exit 242, as the C
// example does.
func dieStartup(logger *log.Logger, what string, err error) {
	detail := err.Error()
	var gerr *gracefd.Error
	if errors.As(err, &gerr) && gerr.Detail != "" {
		detail = gerr.Detail
	}
	if errors.Is(err, syscall.EEXIST) && (what == "daemonize" || what == "pid file") {
		fmt.Fprintf(os.Stderr, "httpd: %s\n", detail)
		os.Exit(gracefd.ExitAlreadyRunning)
	}
	msg := what + ": " + detail
	// A daemonize launcher prints this as "go-httpd: <msg>".
	_ = gracefd.Fail(1, msg)
	logger.Print("httpd: " + msg)
	os.Exit(1)
}

// removePidFile removes the pid file at a clean exit if it still names this
// process (after an upgrade it names the new generation and is left alone).
func removePidFile(logger *log.Logger) {
	if _, err := gracefd.RemovePidFile(); err != nil {
		logger.Printf("pid file: %v", err)
	}
}
