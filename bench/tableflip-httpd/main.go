// Command tableflip-httpd is the benchmark's tiny HTTP server built on
// github.com/cloudflare/tableflip instead of gracefd, so that `make bench`
// can compare the two in the same run.
//
// It behaves like gracefd's C example (c-examples/httpd.c): every request
// gets 200, the header "X-Pid: <pid>" and the body
// "ok pid=<pid> generation=<n>\n".
//
//	tableflip-httpd --listen [NAME=]ADDR [--drain-timeout MS] [--upgrade-timeout MS]
//
// SIGHUP: upgrade (tableflip's Upgrade(): start the same binary with the
// listener, wait until it calls Ready()). SIGTERM/SIGINT: stop. When this
// process should exit (upgraded, or stopped) it drains the way the C example
// does, so that failures compare fairly: stop accepting, answer every further
// request with "Connection: close", close a connection early only after it has
// been idle for 200 ms, then http.Server.Shutdown with what is left of the
// drain timeout. (A bare Shutdown closes idle keep-alive connections at once,
// which resets a request the client has just sent on one.)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
)

// tableflip keeps no generation count: each process passes its own + 1 down
// in the environment, which tableflip copies into the new process.
const generationEnv = "TABLEFLIP_HTTPD_GENERATION"

const idleClose = 200 * time.Millisecond

// conns tracks the server's connections: their state and when it last changed.
type conns struct {
	mu    sync.Mutex
	state map[net.Conn]connState
}

type connState struct {
	s     http.ConnState
	since time.Time
}

func (c *conns) hook(nc net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == http.StateClosed || s == http.StateHijacked {
		delete(c.state, nc)
		return
	}
	c.state[nc] = connState{s, time.Now()}
}

// quiet reports whether no connection is left, or only connections idle for
// at least idleClose.
func (c *conns) quiet(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.state {
		if st.s != http.StateIdle || now.Sub(st.since) < idleClose {
			return false
		}
	}
	return true
}

func main() {
	listen := flag.String("listen", "http=127.0.0.1:8080", "[NAME=]ADDR to listen on (the name is ignored)")
	drainMS := flag.Int("drain-timeout", 10000, "how long a draining process may take, in ms")
	upgradeMS := flag.Int("upgrade-timeout", 60000, "how long a new process has to call Ready(), in ms")
	flag.Parse()
	addr := *listen
	if name, rest, ok := strings.Cut(addr, "="); ok && !strings.ContainsAny(name, ":/[") {
		addr = rest
	}
	log.SetPrefix(fmt.Sprintf("tableflip-httpd[%d]: ", os.Getpid()))
	log.SetFlags(0)

	generation := 1
	if g, err := strconv.Atoi(os.Getenv(generationEnv)); err == nil && g >= 1 {
		generation = g
	}
	if err := os.Setenv(generationEnv, strconv.Itoa(generation+1)); err != nil {
		log.Fatal(err)
	}

	upg, err := tableflip.New(tableflip.Options{UpgradeTimeout: time.Duration(*upgradeMS) * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()

	ln, err := upg.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("listen %s: %v", addr, err)
	}

	pid := strconv.Itoa(os.Getpid())
	body := fmt.Sprintf("ok pid=%s generation=%d\n", pid, generation)
	length := strconv.Itoa(len(body))
	var draining atomic.Bool
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("X-Pid", pid)
		h.Set("Content-Length", length)
		if draining.Load() {
			h.Set("Connection", "close")
		}
		_, _ = io.WriteString(w, body)
	})
	tracked := &conns{state: map[net.Conn]connState{}}
	srv := &http.Server{Handler: handler, ConnState: tracked.hook, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed && !draining.Load() {
			log.Printf("serve: %v", err)
		}
	}()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			if s != syscall.SIGHUP {
				upg.Stop()
				continue
			}
			// Upgrade blocks until the new process is ready or failed; on
			// failure this process simply goes on serving.
			if err := upg.Upgrade(); err != nil {
				log.Printf("upgrade failed, still serving: %v", err)
			}
		}
	}()

	if err := upg.Ready(); err != nil {
		log.Fatalf("ready: %v", err)
	}
	<-upg.Exit()

	// The polite drain.
	deadline := time.Now().Add(time.Duration(*drainMS) * time.Millisecond)
	draining.Store(true)
	_ = ln.Close()
	for now := time.Now(); now.Before(deadline) && !tracked.quiet(now); now = time.Now() {
		time.Sleep(time.Millisecond) // fine-grained: the drain's length is what is measured
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Printf("shutdown: %v", err)
	}
}
