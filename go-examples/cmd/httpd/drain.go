package main

// The polite drain, and why a bare http.Server.Shutdown is not enough.
//
// Shutdown (net/http, go1.26) closes the listeners, then every connection it
// considers idle, then waits for the others to become idle. Two requests can
// be lost on a keep-alive connection that way:
//
//   - a connection is "idle" from the moment a response is written until the
//     next request has been read; a request the client has just sent (in the
//     socket buffer, or already half parsed) is dropped with the connection:
//     the client sees a reset or an EOF instead of a response;
//   - a request read after Shutdown began is not served at all: conn.serve
//     checks shuttingDown() after reading it and closes the connection
//     without a response.
//
// SetKeepAlivesEnabled(false) makes later responses say "Connection: close",
// but it also closes the idle connections at once, with the same race.
//
// So this program drains the way c-examples/httpd.c does, and calls Shutdown
// only when nothing is left (or the drain timeout is near):
//
//  1. stop accepting: close the listeners and forget them in the registry
//     (only this process's duplicates: the sockets stay open for the new
//     generation, which accepts from the same kernel queue);
//  2. every response from now on carries "Connection: close" (the handler
//     wrapper), so net/http closes each busy connection right after its next
//     response, and the client opens a new one: to the new generation;
//  3. a connection that is idle (or new) is closed early only when it has
//     been quiet for idleClose, no byte was read from it since it became
//     idle, and no byte waits in its socket (FIONREAD): then no request can
//     be in flight on it (short of one sent in the instant of the close,
//     which HTTP/1.1 cannot rule out; clients retry such an idle close);
//  4. when no connection is left, or the drain timeout is near,
//     http.Server.Shutdown with the rest of the timeout, then Close.

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gracefd.example/go-examples/gracefd"
)

// While draining, an idle connection this quiet (and with nothing to read)
// is closed early; the same figure as the C example.
const idleClose = 200 * time.Millisecond

type drainer struct {
	srv     *http.Server
	timeout time.Duration
	logger  *log.Logger
	mode    string // "polite", or "shutdown" / "keepalives-off" to compare

	draining atomic.Bool
	once     sync.Once

	mu        sync.Mutex
	listeners []net.Listener
	names     []string // registry names to forget once draining
	conns     map[net.Conn]*connInfo
	serving   sync.WaitGroup
}

// connInfo is what the drain needs to know about one connection.
type connInfo struct {
	state     http.ConnState
	since     time.Time // when it entered state
	readAtSet int64     // bytes read from it when it entered state
}

func newDrainer(h http.Handler, timeout time.Duration, logger *log.Logger) *drainer {
	d := &drainer{timeout: timeout, logger: logger, conns: make(map[net.Conn]*connInfo)}
	d.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d.draining.Load() {
				// net/http closes the connection after this response.
				w.Header().Set("Connection", "close")
			}
			h.ServeHTTP(w, r)
		}),
		ConnState:         d.connState,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          logger,
	}
	return d
}

func (d *drainer) isDraining() bool { return d.draining.Load() }

// serve runs the server on ln (wrapped to count the bytes read per
// connection) until ln is closed.
func (d *drainer) serve(name string, ln net.Listener) {
	d.mu.Lock()
	d.listeners = append(d.listeners, ln)
	if name != "" {
		d.names = append(d.names, name)
	}
	d.mu.Unlock()
	d.serving.Add(1)
	go func() {
		defer d.serving.Done()
		err := d.srv.Serve(countingListener{ln})
		if err != nil && !d.draining.Load() && !errors.Is(err, http.ErrServerClosed) {
			d.logger.Printf("serve %s: %v", ln.Addr(), err)
			os.Exit(1)
		}
	}()
}

func (d *drainer) connState(c net.Conn, st http.ConnState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(d.conns, c)
	default:
		var read int64
		if cc, ok := c.(*countingConn); ok {
			read = cc.read.Load()
		}
		d.conns[c] = &connInfo{state: st, since: time.Now(), readAtSet: read}
	}
}

// drainAndExit drains (once; later calls wait for the first), removes the
// pid file if it still names this process, and exits 0.
func (d *drainer) drainAndExit() {
	d.once.Do(func() {
		start := time.Now()
		deadline := start.Add(d.timeout)
		if d.mode != "polite" {
			d.drainForComparison(start, deadline)
		}
		d.draining.Store(true)
		d.mu.Lock()
		for _, ln := range d.listeners {
			_ = ln.Close()
		}
		// The registry's duplicates too: a new generation (or systemd) has
		// its own; without one, the socket closes now and new connections
		// are refused at once instead of waiting in a queue nobody serves.
		for _, name := range d.names {
			_, _ = gracefd.Forget(name)
		}
		d.mu.Unlock()
		d.serving.Wait() // every Serve has returned: nothing more is accepted

		// Keep a margin of the timeout for Shutdown itself. A short tick: the
		// last connection usually closes within a few ms of the drain's start
		// (each keep-alive client gets Connection: close on its next request),
		// and every tick waited is time the old generation stays around.
		politeEnd := deadline.Add(-d.timeout / 10)
		tick := time.NewTicker(2 * time.Millisecond)
		for left := d.closeQuietConns(); left > 0 && time.Now().Before(politeEnd); left = d.closeQuietConns() {
			<-tick.C
		}
		tick.Stop()

		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := d.srv.Shutdown(ctx)
		cancel()
		if err != nil {
			d.logger.Printf("drain timeout: closing %d connection(s)", d.count())
			_ = d.srv.Close()
		}
		d.logger.Printf("drained in %v; exiting", time.Since(start).Round(time.Millisecond))
		removePidFile(d.logger)
		os.Exit(0)
	})
}

// drainForComparison is what the polite drain avoids (--drain shutdown or
// keepalives-off): measured with loadgen, both lose requests on keep-alive
// connections under load (docs/go.md).
func (d *drainer) drainForComparison(start, deadline time.Time) {
	if d.mode == "keepalives-off" {
		d.srv.SetKeepAlivesEnabled(false)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	err := d.srv.Shutdown(ctx)
	cancel()
	if err != nil {
		_ = d.srv.Close()
	}
	d.logger.Printf("drained (%s) in %v; exiting", d.mode, time.Since(start).Round(time.Millisecond))
	removePidFile(d.logger)
	os.Exit(0)
}

func (d *drainer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// closeQuietConns closes the connections that cannot have a request in
// flight and returns how many connections are left.
func (d *drainer) closeQuietConns() int {
	now := time.Now()
	d.mu.Lock()
	var quiet []net.Conn
	for c, info := range d.conns {
		if info.state != http.StateIdle && info.state != http.StateNew {
			continue
		}
		cc, ok := c.(*countingConn)
		if !ok {
			continue
		}
		if now.Sub(info.since) < idleClose || now.Sub(cc.lastRead()) < idleClose {
			continue
		}
		if cc.read.Load() != info.readAtSet || cc.bytesWaiting() {
			continue
		}
		quiet = append(quiet, c)
	}
	left := len(d.conns)
	d.mu.Unlock()
	for _, c := range quiet {
		_ = c.Close() // its serve goroutine ends, and ConnState(StateClosed) removes it
	}
	return left
}

// countingListener wraps each accepted connection in a countingConn.
type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	cc.last.Store(time.Now().UnixNano())
	return cc, nil
}

// countingConn records how many bytes net/http read from the connection and
// when, so that the drain can tell a quiet connection from one with a
// request already read into net/http's buffer.
type countingConn struct {
	net.Conn
	read atomic.Int64
	last atomic.Int64 // UnixNano of the last read that returned bytes
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read.Add(int64(n))
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *countingConn) lastRead() time.Time { return time.Unix(0, c.last.Load()) }

// CloseWrite keeps net/http's half-close (closeWriteAndWait) working.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// bytesWaiting reports whether the kernel holds unread bytes for this
// connection (FIONREAD), read through RawConn.Control so the socket's mode
// is never touched. On any doubt it says yes, which keeps the connection.
func (c *countingConn) bytesWaiting() bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	waiting := true
	_ = rc.Control(func(fd uintptr) {
		n, err := ioctlFIONREAD(int(fd))
		waiting = err != nil || n > 0
	})
	return waiting
}
