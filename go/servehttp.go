package gracefd

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ServeHTTP is [Serve] for a net/http server, with the polite drain that
// loses no request. Give it the server as written for http.ListenAndServe
// (Handler, timeouts, TLSConfig…) and the listeners from [Listen]:
//
//	srv := &http.Server{Handler: h}
//	ln, err := gracefd.Listen("http", ":8080")
//	…
//	err = gracefd.ServeHTTP(context.Background(), srv, []net.Listener{ln}, nil)
//
// ServeHTTP upgrades on SIGHUP/SIGUSR2, drains on SIGTERM/SIGINT, once a
// new generation is ready, on a hand-off taker's [EventDrain] or when ctx is
// done, and returns when the drain is over (see [Serve] for the life cycle,
// the errors and what it returns).
//
// Why not srv.Shutdown alone: Shutdown closes every connection that is idle
// at that moment, and a keep-alive client may have just sent its next
// request on one (it is in the socket or half read): the client gets a reset
// or an EOF instead of a response. A request read after Shutdown began is
// not answered either. The polite drain instead:
//
//  1. stops accepting: closes the listeners (the sockets stay open for the
//     new generation, which accepts from the same kernel queue);
//  2. answers every further request with "Connection: close", so each busy
//     keep-alive connection closes after its next response and the client
//     reconnects, to the new generation;
//  3. closes an idle connection early only when nothing can be pending on
//     it: quiet for 200 ms, no byte read since its last response and none
//     waiting in the socket (FIONREAD);
//  4. calls srv.Shutdown last, once no connection is left or a tenth of
//     DrainTimeout remains, bounded by DrainTimeout; then srv.Close.
//
// To do this ServeHTTP sets srv.Handler (wrapping the one given; nil means
// http.DefaultServeMux) and srv.ConnState (calling the one given first)
// before serving: do not change them while it runs. With srv.TLSConfig set
// (certificates included) it serves TLS. ServeHTTP calls srv.Serve (or
// ServeTLS) once per listener and srv.Shutdown once.
//
// Errors: EINVAL if srv is nil, lns is empty or holds nil; those of [Events].
func ServeHTTP(ctx context.Context, srv *http.Server, lns []net.Listener, opts *ServeOptions) error {
	if srv == nil {
		return invalid("ServeHTTP", "the server is nil")
	}
	d := &politeDrain{srv: srv, conns: make(map[*countingConn]*connInfo)}
	inner := srv.Handler
	if inner == nil {
		inner = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.draining.Load() {
			// net/http closes the connection after this response.
			w.Header().Set("Connection", "close")
		}
		inner.ServeHTTP(w, r)
	})
	userState := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if userState != nil {
			userState(c, st)
		}
		d.connState(c, st)
	}
	tls := srv.TLSConfig != nil && (len(srv.TLSConfig.Certificates) > 0 || srv.TLSConfig.GetCertificate != nil)
	serve := func(ln net.Listener) error {
		if tls {
			return srv.ServeTLS(countingListener{ln}, "", "")
		}
		return srv.Serve(countingListener{ln})
	}
	return run(ctx, "ServeHTTP", lns, opts, serve, func(ctx context.Context, deadline time.Time) error {
		return d.drain(ctx, deadline, opts.drainTimeout())
	})
}

// While draining, an idle connection this quiet (and with nothing to read)
// is closed early; the same figure as the C example server.
const idleClose = 200 * time.Millisecond

// drainTick is how often the drain looks for idle connections it may close.
// The drain does not wait for a tick to notice the last connection go (it
// is told at once), so the tick only adds to the time an idle connection
// stays open beyond idleClose.
const drainTick = 5 * time.Millisecond

type politeDrain struct {
	srv      *http.Server
	draining atomic.Bool

	mu    sync.Mutex
	conns map[*countingConn]*connInfo
	gone  chan struct{} // closed (then nil) when conns becomes empty while draining
}

// connInfo is what the drain needs to know about one connection.
type connInfo struct {
	state     http.ConnState
	since     time.Time // when it entered state
	readAtSet int64     // bytes read from it when it entered state
}

// rawConn finds our countingConn under c (itself, or under a *tls.Conn).
func rawConn(c net.Conn) *countingConn {
	for {
		switch x := c.(type) {
		case *countingConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
}

func (d *politeDrain) connState(c net.Conn, st http.ConnState) {
	cc := rawConn(c)
	if cc == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(d.conns, cc)
		if len(d.conns) == 0 && d.gone != nil {
			close(d.gone)
			d.gone = nil
		}
	default:
		d.conns[cc] = &connInfo{state: st, since: time.Now(), readAtSet: cc.read.Load()}
	}
}

// drain runs once nothing is accepted any more (run closed the listeners
// and every Serve has returned).
func (d *politeDrain) drain(ctx context.Context, deadline time.Time, timeout time.Duration) error {
	d.draining.Store(true)
	politeEnd := deadline.Add(-timeout / 10)
	d.mu.Lock()
	if len(d.conns) > 0 {
		d.gone = make(chan struct{})
	}
	gone := d.gone
	d.mu.Unlock()
	if gone != nil {
		tick := time.NewTicker(drainTick)
		endPolite := time.NewTimer(time.Until(politeEnd))
	polite:
		for {
			select {
			case <-gone:
				break polite
			case <-endPolite.C:
				break polite
			case <-tick.C:
				d.closeQuietConns()
			}
		}
		tick.Stop()
		endPolite.Stop()
	}
	if err := d.srv.Shutdown(ctx); err != nil {
		_ = d.srv.Close()
		return err
	}
	return nil
}

// closeQuietConns closes the connections that cannot have a request in
// flight.
func (d *politeDrain) closeQuietConns() {
	now := time.Now()
	var quiet []*countingConn
	d.mu.Lock()
	for cc, info := range d.conns {
		if info.state != http.StateIdle && info.state != http.StateNew {
			continue
		}
		if now.Sub(info.since) < idleClose || now.Sub(cc.lastRead()) < idleClose {
			continue
		}
		if cc.read.Load() != info.readAtSet || cc.bytesWaiting() {
			continue
		}
		quiet = append(quiet, cc)
	}
	d.mu.Unlock()
	for _, cc := range quiet {
		_ = cc.Close() // its serve goroutine ends, and ConnState(StateClosed) removes it
	}
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
