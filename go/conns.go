package gracefd

/*
#include "shim.h"

static inline int gfd_conns_next(uint64_t *tag, uint8_t *state, size_t cap, size_t *len, gfd_err *e) {
    return gfd_ret(gracefd_conns_next(tag, state, cap, len), e);
}
static inline int gfd_conns_can_pass(gfd_err *e) { return gfd_ret(gracefd_conns_can_pass(), e); }
static inline int gfd_conns_pass(const int *fds, const uint64_t *tags, const uint8_t *states, const uint32_t *lens,
                                 size_t n, int ms, size_t *passed, gfd_err *e) {
    return gfd_ret(gracefd_conns_pass(fds, tags, states, lens, n, ms, passed), e);
}
*/
import "C"

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// EventConns: connections passed by the older generation wait; take them
// with [NextConn] (a program using [ServeHTTP] with
// ServeOptions.PassConnections never sees it: ServeHTTP takes them).
const EventConns Event = 4

var _ = [1]struct{}{}[(EventConns-C.GRACEFD_EVENT_CONNS)*(EventConns-C.GRACEFD_EVENT_CONNS)]

// ConnStateMax is the longest state of one passed connection, in bytes.
const ConnStateMax = C.GRACEFD_CONNS_STATE_MAX

// EnableConns makes this process take the connections the older generation
// passes at an upgrade (the zero-drain pass). Call it before [Ready]: the
// ready report tells the old generation that this process takes them. Each
// time some arrive, [EventConns] is posted on the library's events; take
// them with [NextConn].
//
// It returns true if this process was started by an upgrade (connections
// may arrive), false if not. It never fails.
func EnableConns() bool {
	return C.gracefd_conns_enable() == 1
}

// PassedConn is one connection the older generation passed.
type PassedConn struct {
	// File is the connection's socket (close-on-exec, yours to close);
	// net.FileConn makes a net.Conn of it.
	File *os.File
	// Tag is the number the old generation gave it.
	Tag uint64
	// State is the bytes the old generation passed along with it: for a
	// connection passed mid-request, what it had read and not processed.
	State []byte
}

// NextConn takes the next connection the older generation passed.
//
// Errors: EAGAIN (errors.Is(err, syscall.EAGAIN)) when none is waiting.
func NextConn() (*PassedConn, error) {
	var e C.gfd_err
	var tag C.uint64_t
	var n C.size_t
	buf := make([]byte, ConnStateMax)
	fd := C.gfd_conns_next(&tag, (*C.uint8_t)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n, &e)
	if err := check("NextConn", fd, &e); err != nil {
		return nil, err
	}
	var state []byte
	if n > 0 {
		state = append([]byte(nil), buf[:n]...)
	}
	return &PassedConn{File: os.NewFile(uintptr(fd), "gracefd-passed-conn"), Tag: uint64(tag), State: state}, nil
}

// PendingConns is how many passed connections wait to be taken.
func PendingConns() int { return int(C.gracefd_conns_pending()) }

// CanPassConns returns the pid of the new generation that takes connections
// (an upgrade finished and it called [EnableConns]).
//
// Errors: ENOTCONN if no new generation takes connections; EBUSY while a
// pass runs.
func CanPassConns() (int, error) {
	var e C.gfd_err
	r := C.gfd_conns_can_pass(&e)
	if err := check("CanPassConns", r, &e); err != nil {
		return 0, err
	}
	return int(r), nil
}

// ConnToPass is one connection for [PassConns].
type ConnToPass struct {
	// Conn is the connection: a *net.TCPConn, *net.UnixConn or *os.File
	// (anything with SyscallConn) of a connected stream socket.
	Conn syscall.Conn
	// Tag is any number the new generation should get with it.
	Tag uint64
	// State is at most ConnStateMax bytes the new generation gets with it
	// (for a connection with a request half read: the bytes read).
	State []byte
}

// PassConns passes connections to the new generation, in order, in batches,
// waiting at most timeout in all (0 or less: no limit) for it to take them.
// Pass a connection only when nothing of it is in flight (between requests)
// and stop reading it first.
//
// It returns how many were passed, also on an error: the first passed
// connections now belong to the new generation (close yours and stop
// serving them: the connection lives on there); the rest were not passed
// and are untouched (serve them on, drain them). Duplicates of the fds are
// passed; the conns given are never closed or changed by PassConns.
//
// Errors: EINVAL (nothing passed) for a nil Conn, a state too long, or a
// socket that is not a connected stream; ENOTCONN if no new generation
// takes connections; EBUSY if another pass runs; ETIMEDOUT if the new
// generation stalled; EPIPE if it is gone; EBADMSG if it answered nonsense
// (after these three, further calls return ENOTCONN); the errno of a batch
// it refused.
func PassConns(conns []ConnToPass, timeout time.Duration) (int, error) {
	if len(conns) == 0 {
		return 0, nil
	}
	fds := make([]C.int, 0, len(conns))
	defer func() {
		for _, fd := range fds {
			syscall.Close(int(fd))
		}
	}()
	tags := make([]C.uint64_t, len(conns))
	lens := make([]C.uint32_t, len(conns))
	var states []byte
	for i, c := range conns {
		if c.Conn == nil {
			return 0, invalid("PassConns", fmt.Sprintf("connection %d is nil", i))
		}
		if len(c.State) > ConnStateMax {
			return 0, invalid("PassConns", fmt.Sprintf("the state of connection %d is %d bytes (at most %d)", i, len(c.State), ConnStateMax))
		}
		fd, err := dupConn(c.Conn)
		if err != nil {
			return 0, &Error{Op: "PassConns", Errno: errnoOf(err), Detail: fmt.Sprintf("connection %d: %v", i, err)}
		}
		fds = append(fds, C.int(fd))
		tags[i] = C.uint64_t(c.Tag)
		lens[i] = C.uint32_t(len(c.State))
		states = append(states, c.State...)
	}
	ms := C.int(-1)
	if timeout > 0 {
		ms = C.int(min(timeout.Milliseconds(), 1<<31-1))
		if ms == 0 {
			ms = 1
		}
	}
	var statesPtr *C.uint8_t
	if len(states) > 0 {
		// Copied to C memory: cgo does not let C keep Go pointers in
		// arrays of Go memory, and this is one flat buffer anyway.
		p := C.CBytes(states)
		defer C.free(p)
		statesPtr = (*C.uint8_t)(p)
	}
	var e C.gfd_err
	var passed C.size_t
	r := C.gfd_conns_pass(&fds[0], &tags[0], statesPtr, &lens[0], C.size_t(len(fds)), ms, &passed, &e)
	return int(passed), check("PassConns", r, &e)
}

// ReleaseConns closes the channel to the new generation once nothing more
// will be passed (exiting does the same).
func ReleaseConns() { C.gracefd_conns_release() }

// dupConn returns a CLOEXEC duplicate of c's fd, taken through Control so
// the fd cannot be closed meanwhile and its mode is not touched.
func dupConn(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	cerr := rc.Control(func(s uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 3)
		if errno != 0 {
			derr = os.NewSyscallError("fcntl", errno)
			return
		}
		fd = int(r)
	})
	if cerr != nil {
		return -1, cerr
	}
	return fd, derr
}

// passedListener is a net.Listener whose Accept yields the connections an
// older generation passed, as net.Conns (with their state replayed in front
// of their reads), so the same server serves them as its own.
type passedListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPassedListener(addr net.Addr) *passedListener {
	return &passedListener{addr: addr, conns: make(chan net.Conn, 1024), closed: make(chan struct{})}
}

// take moves every waiting passed connection into the listener (called on
// EventConns). A connection that cannot become a net.Conn is closed.
func (l *passedListener) take() {
	for {
		pc, err := NextConn()
		if err != nil {
			return
		}
		c, err := net.FileConn(pc.File)
		pc.File.Close()
		if err != nil {
			continue
		}
		if len(pc.State) > 0 {
			c = &prefixConn{Conn: c, prefix: pc.State}
		}
		select {
		case l.conns <- c:
		case <-l.closed:
			c.Close()
		}
	}
}

func (l *passedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close ends Accept; connections queued and never accepted are closed.
func (l *passedListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	for {
		select {
		case c := <-l.conns:
			c.Close()
		default:
			return nil
		}
	}
}

func (l *passedListener) Addr() net.Addr { return l.addr }

// prefixConn is a net.Conn whose first reads return prefix (the bytes the
// older generation had read from it), then the socket's.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps net/http's half-close working.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
