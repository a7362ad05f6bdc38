package gracefd

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
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
// With opts.PassConnections (zero-drain upgrades, not with TLS) there is
// no drain to speak of after an upgrade: each connection with nothing in
// flight is passed to the new generation, which serves it with its own
// http.Server, and only what cannot be passed is drained as above (the rule
// is in docs/zero-drain.md). Passed connections are served by an extra
// srv.Serve on a listener that yields them.
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
	pass := opts != nil && opts.PassConnections
	d := &politeDrain{srv: srv, conns: make(map[*countingConn]*connInfo), logf: opts.logf, kick: make(chan struct{}, 1)}
	inner := srv.Handler
	if inner == nil {
		inner = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.draining.Load() && !d.passing.Load() {
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
	pass = pass && !tls // a TLS session cannot be passed (see docs/zero-drain.md)
	serve := func(ln net.Listener) error {
		if tls {
			return srv.ServeTLS(countingListener{Listener: ln}, "", "")
		}
		var pd *politeDrain
		if pass {
			pd = d
		}
		return srv.Serve(countingListener{Listener: ln, drain: pd})
	}
	var hooks runHooks
	var passedDone chan struct{}
	if pass {
		// The connections an older generation passes are served by the
		// same server, from a listener of their own; it stays open through
		// the drain (a connection passed late is still served) and closes
		// at its end.
		EnableConns()
		pl := newPassedListener(lns[0].Addr())
		d.passed = pl
		hooks.onConns = pl.take
		passedDone = make(chan struct{})
		go func() {
			defer close(passedDone)
			_ = serve(pl)
		}()
		defer func() {
			pl.Close()
			<-passedDone
		}()
	}
	return run(ctx, "ServeHTTP", lns, opts, hooks, serve, func(ctx context.Context, deadline time.Time) error {
		return d.drain(ctx, deadline, opts.drainTimeout(), pass)
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
	passing  atomic.Bool     // draining by passing connections to the new generation
	passed   *passedListener // nil unless ServeOptions.PassConnections
	kick     chan struct{}   // a connection froze itself between requests: pass it now
	logf     func(format string, args ...any)

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
	cc.state.Store(int32(st))
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
// and every Serve has returned). With pass set and a new generation that
// takes connections, each connection is passed to it as soon as nothing of
// it is in flight; what cannot be passed is drained politely.
func (d *politeDrain) drain(ctx context.Context, deadline time.Time, timeout time.Duration, pass bool) error {
	if pass {
		if _, err := CanPassConns(); err == nil {
			d.passing.Store(true)
		}
	}
	d.draining.Store(true)
	politeEnd := deadline.Add(-timeout / 10)
	d.mu.Lock()
	if len(d.conns) > 0 {
		d.gone = make(chan struct{})
	}
	gone := d.gone
	d.mu.Unlock()
	if gone != nil {
		d.step()
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
				d.step()
			case <-d.kick:
				d.step()
			}
		}
		tick.Stop()
		endPolite.Stop()
	}
	d.passing.Store(false)
	d.thawAll() // none stays held back through Shutdown
	if d.passing.Load() {
		ReleaseConns()
	}
	if d.passed != nil {
		d.passed.take()
		d.passed.Close()
	}
	if err := d.srv.Shutdown(ctx); err != nil {
		_ = d.srv.Close()
		return err
	}
	return nil
}

// step is one round of the drain: take what was passed to us meanwhile,
// pass what can be passed, close what is quiet.
func (d *politeDrain) step() {
	if d.passed != nil {
		d.passed.take()
	}
	if d.passing.Load() && !d.passIdle() {
		d.passing.Store(false) // the polite drain from here on
		d.thawAll()
	}
	d.closeQuietConns(d.passing.Load())
}

// passTimeout bounds one pass (a new generation that stalls longer is
// given up, and what was not passed is drained politely).
const passTimeout = 2 * time.Second

// passIdle passes every connection with nothing in flight to the new
// generation; false when passing failed (do not try again).
func (d *politeDrain) passIdle() bool {
	var cands []*countingConn
	d.mu.Lock()
	for cc, info := range d.conns {
		if (info.state == http.StateIdle || info.state == http.StateNew) && cc.rc != nil {
			cands = append(cands, cc)
		}
	}
	d.mu.Unlock()
	var frozen []*countingConn
	var list []ConnToPass
	for _, cc := range cands {
		if cc.freeze() {
			frozen = append(frozen, cc)
			list = append(list, ConnToPass{Conn: cc.Conn.(syscall.Conn)})
		}
	}
	if len(list) == 0 {
		return true
	}
	n, err := PassConns(list, passTimeout)
	for i, cc := range frozen {
		cc.thaw(i < n)
	}
	if err != nil {
		d.logf("passed %d of %d connections, draining the rest: %v", n, len(list), err)
		return false
	}
	return true
}

// thawAll lets go of every connection that froze itself and was not
// passed (once passing has stopped).
func (d *politeDrain) thawAll() {
	var frozen []*countingConn
	d.mu.Lock()
	for cc := range d.conns {
		frozen = append(frozen, cc)
	}
	d.mu.Unlock()
	for _, cc := range frozen {
		cc.thawIfFrozen()
	}
}

// closeQuietConns closes the connections that cannot have a request in
// flight.
// While passing, only those that cannot be passed (unpassableOnly).
func (d *politeDrain) closeQuietConns(unpassableOnly bool) {
	now := time.Now()
	var quiet []*countingConn
	d.mu.Lock()
	for cc, info := range d.conns {
		if unpassableOnly && cc.rc != nil {
			continue
		}
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

// countingListener wraps each accepted connection in a countingConn;
// passable ones if the connections may be passed to a new generation.
type countingListener struct {
	net.Listener
	drain *politeDrain // not nil: the connections may be passed
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	cc.last.Store(time.Now().UnixNano())
	if l.drain != nil {
		if sc, ok := c.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				cc.rc, cc.drain = rc, l.drain
			}
		}
	}
	return cc, nil
}

// countingConn records how many bytes net/http read from the connection and
// when, so that the drain can tell a quiet connection from one with a
// request already read into net/http's buffer.
//
// A passable one (rc set) reads through rc so that the drain can freeze it:
// stop its reads before they take a byte, pass it, and then either end it
// here (passed) or let its reads go on (not passed).
type countingConn struct {
	net.Conn
	read atomic.Int64
	last atomic.Int64 // UnixNano of the last read that returned bytes

	rc       syscall.RawConn // nil: not passable
	drain    *politeDrain    // with rc
	state    atomic.Int32    // its http.ConnState
	pmu      sync.Mutex
	firstLen int           // length of the first read: net/http's buffer size
	reading  bool          // a read waits on the socket
	readLen  int           // its length
	frozen   bool          // the drain holds the reads back
	claimed  bool          // frozen, and taken into a pass
	thawed   chan struct{} // closed when the drain lets go
	passed   bool          // the connection lives on in the new generation
}

func (c *countingConn) Read(p []byte) (int, error) {
	var n int
	var err error
	if c.rc == nil {
		n, err = c.Conn.Read(p)
	} else {
		n, err = c.rawRead(p)
	}
	if n > 0 {
		c.read.Add(int64(n))
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// rawRead is Read through the RawConn, holding back while frozen.
func (c *countingConn) rawRead(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		var n int
		var rerr error
		var parked chan struct{}
		err := c.rc.Read(func(fd uintptr) bool {
			c.pmu.Lock()
			defer c.pmu.Unlock()
			if c.passed { // not one byte more: it is the new generation's
				c.reading = false
				return true
			}
			if c.frozen {
				parked = c.thawed
				c.reading = false
				return true
			}
			if c.firstLen == 0 {
				c.firstLen = len(p)
			}
			var e error
			for {
				n, e = syscall.Read(int(fd), p)
				if e != syscall.EINTR {
					break
				}
			}
			if e == syscall.EAGAIN {
				c.reading, c.readLen = true, len(p)
				c.freezeWaiting()
				return false // wait until readable
			}
			c.reading = false
			if e != nil {
				n, rerr = 0, e
			} else if n == 0 {
				rerr = io.EOF
			}
			return true
		})
		c.pmu.Lock()
		c.reading = false
		gone := c.passed
		c.pmu.Unlock()
		if gone {
			return 0, io.EOF // net/http ends it quietly; the new generation serves it
		}
		if err != nil {
			return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
		}
		if parked != nil {
			<-parked
			continue
		}
		if rerr != nil && rerr != io.EOF {
			rerr = &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
		}
		return n, rerr
	}
}

// freeze holds the reads back if nothing of the connection is in flight:
// net/http waits in a read for the next request with its whole buffer
// (nothing buffered) and the kernel holds no byte for it (FIONREAD).
func (c *countingConn) freeze() bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.frozen && !c.claimed && !c.passed {
		c.claimed = true // it froze itself (freezeWaiting)
		return true
	}
	if c.frozen || c.passed || !c.reading || c.firstLen == 0 || c.readLen != c.firstLen {
		return false
	}
	waiting := true
	_ = c.rc.Control(func(fd uintptr) {
		n, err := ioctlFIONREAD(int(fd))
		waiting = err != nil || n > 0
	})
	if waiting {
		return false
	}
	c.frozen, c.claimed = true, true
	c.thawed = make(chan struct{})
	return true
}

// freezeWaiting (with pmu held, in a read that found the socket empty:
// EAGAIN) freezes the connection at once while the drain passes
// connections, if net/http waits for the next request with its whole
// buffer, and tells the drain: a busy keep-alive connection is empty only
// for a moment between two requests, which a periodic check would miss.
func (c *countingConn) freezeWaiting() {
	if c.drain == nil || !c.drain.passing.Load() || c.frozen || c.passed || c.readLen != c.firstLen {
		return
	}
	if st := http.ConnState(c.state.Load()); st != http.StateIdle && st != http.StateNew {
		return
	}
	c.frozen, c.claimed = true, false
	c.thawed = make(chan struct{})
	select {
	case c.drain.kick <- struct{}{}:
	default:
	}
}

// thawIfFrozen lets go of a frozen connection not taken into a pass.
func (c *countingConn) thawIfFrozen() {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.frozen && !c.claimed {
		c.frozen = false
		close(c.thawed)
	}
}

// thaw lets go of a frozen connection: passed, it ends here (its read
// returns EOF and net/http closes it; the socket lives on in the new
// generation); not passed, its reads go on.
func (c *countingConn) thaw(passed bool) {
	c.pmu.Lock()
	c.frozen, c.claimed = false, false
	c.passed = passed
	close(c.thawed)
	c.pmu.Unlock()
	if passed {
		_ = c.Conn.Close() // wakes a read still waiting on the socket
	}
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
