// Package demoserver is the HTTP server the daemon demos run: it listens,
// tells the launcher the truth (gracefd.Fail with the listen error, or
// gracefd.Ready), serves "hello from pid N", and on SIGTERM shuts down and
// removes its pid file (gracefd.RemovePidFile).
package demoserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gracefd/gracefd/go"
)

// ExitListen is the status given to gracefd.Fail when the address cannot be bound.
const ExitListen = 3

// Run serves on listen until SIGTERM/SIGINT and returns the exit status.
// The bound address is written to addrFile (if set) before Ready.
func Run(listen, addrFile string) int {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		// The launcher prints this and exits with ExitListen.
		_ = gracefd.Fail(ExitListen, err.Error())
		fmt.Fprintln(os.Stderr, err)
		return ExitListen
	}
	if addrFile != "" {
		if err := os.WriteFile(addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			_ = gracefd.Fail(1, err.Error())
			return 1
		}
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from pid %d\n", os.Getpid())
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if err := gracefd.Ready(); err != nil {
		fmt.Fprintln(os.Stderr, "ready:", err)
	}
	fmt.Printf("serving on %s as pid %d\n", ln.Addr(), os.Getpid())
	select {
	case <-stop:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	case err := <-done:
		fmt.Fprintln(os.Stderr, "serve:", err)
	}
	if _, err := gracefd.RemovePidFile(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	fmt.Printf("pid %d stopped\n", os.Getpid())
	return 0
}
