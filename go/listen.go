package gracefd

/*
#include "shim.h"
*/
import "C"

import (
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
)

// ListenOptions are the options of [ListenWith]. The zero value (or nil) is
// the defaults.
type ListenOptions struct {
	// Backlog is the listen(2) backlog of a new stream socket; 0 means
	// SOMAXCONN. Inherited sockets keep theirs.
	Backlog int
	// UnixMode is the permission bits (such as 0660) of a unix socket file
	// created at a path; 0 means as the umask gives. Ignored for other
	// addresses and for inherited sockets.
	UnixMode fs.FileMode
	// Control, if not nil, is called on each socket this call creates,
	// after socket(2) and before bind(2), as net.ListenConfig.Control is:
	// network is "tcp4", "tcp6", "udp4", "udp6" or "unix", address the one
	// given to Listen, and c gives the fd (through c.Control) to set
	// options that must be set before binding (SO_REUSEPORT, IP_FREEBIND,
	// TCP_FASTOPEN, SO_MARK, buffer sizes). A function written for
	// net.ListenConfig works unchanged. An error from it fails the call
	// (with its errno if it carries one, else ECANCELED; its text is in
	// the detail), and nothing is bound or registered. It is not called for
	// an inherited or already registered socket: that one is bound already.
	Control func(network, address string, c syscall.RawConn) error
}

// Listen returns a listener for name at addr: the socket this process
// inherited under name (from systemd, the gracefd superdaemon, or an older
// generation through [Upgrade]), else an inherited unnamed socket bound to
// addr (Server::Starter's, systemd's unnamed ones), else a new socket bound
// there. Either way the socket is registered under name, so that [Upgrade]
// hands it to the next generation.
//
// addr is one of host:port, :port (all interfaces), [v6]:port, tcp://…,
// tcp4://…, tcp6://…, unix:/path (or /path) and unix:@abstract. UDP
// addresses belong to [ListenPacket]. name ("" for unnamed) is printable
// ASCII without ':'.
//
// The result is a *net.TCPListener or a *net.UnixListener. Closing it stops
// this process accepting; the socket itself stays open in the registry (and
// in every process that shares it): a unix socket's file is not removed.
// Listening again with the same name and address returns the same socket.
//
// The socket is non-blocking, in every process that shares it: see
// "Blocking mode" in the package documentation.
//
// Errors (see gracefd_listen_with in gracefd.h): EINVAL for an address that
// does not parse or a bad name, EADDRINUSE, EEXIST (the name listens
// elsewhere already), EPROTOTYPE or ENOTSOCK (the inherited fd of that name is
// of another kind), EACCES, …, each with the detail.
func Listen(name, addr string) (net.Listener, error) {
	return ListenWith(name, addr, nil)
}

// ListenWith is [Listen] with options (nil: the defaults).
func ListenWith(name, addr string, opts *ListenOptions) (net.Listener, error) {
	const op = "Listen"
	if isUDP(addr) {
		return nil, invalid(op, "address "+quote(addr)+" is UDP: use ListenPacket")
	}
	f, err := listenFile(op, name, addr, opts)
	if err != nil {
		return nil, err
	}
	defer f.Close() // net.FileListener keeps its own duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, &Error{Op: op, Errno: errnoOf(err), Detail: "address " + quote(addr) + ": " + err.Error()}
	}
	if name != "" {
		listenerNames.Store(ln, name) // for the drain of Serve and ServeHTTP
	}
	return ln, nil
}

// ListenPacket is [Listen] for UDP: it returns a *net.UDPConn for name at
// addr, inherited or bound (without SO_REUSEADDR) and registered so that
// [Upgrade] hands it down. addr is udp://…, udp4://…, udp6://…, or host:port,
// :port or [v6]:port, which mean udp://addr.
//
// The socket is non-blocking in every process that shares it (see "Blocking
// mode" in the package documentation). Errors as for [Listen]; a TCP or unix
// address is EINVAL.
func ListenPacket(name, addr string) (net.PacketConn, error) {
	const op = "ListenPacket"
	full := addr
	if !strings.Contains(addr, "://") && !strings.HasPrefix(addr, "unix:") && !strings.HasPrefix(addr, "/") {
		full = "udp://" + addr
	}
	if !isUDP(full) {
		return nil, invalid(op, "address "+quote(addr)+" is not UDP: use Listen")
	}
	f, err := listenFile(op, name, full, nil)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, &Error{Op: op, Errno: errnoOf(err), Detail: "address " + quote(addr) + ": " + err.Error()}
	}
	return pc, nil
}

func isUDP(addr string) bool {
	for _, p := range []string{"udp://", "udp4://", "udp6://"} {
		if strings.HasPrefix(addr, p) {
			return true
		}
	}
	return false
}

// listenFile makes the C call and wraps the fd (non-blocking) in an *os.File.
func listenFile(op, name, addr string, opts *ListenOptions) (*os.File, error) {
	cn, err := cname(op, name)
	if err != nil {
		return nil, err
	}
	defer free(cn)
	ca, err := cstring(op, "address", addr)
	if err != nil {
		return nil, err
	}
	defer free(ca)
	backlog, mode := 0, -1
	var hook *preBindCall
	if opts != nil && opts.Control != nil {
		hook = newPreBindCall(opts.Control, addr)
		defer hook.release()
	}
	if opts != nil {
		backlog = opts.Backlog
		if opts.UnixMode != 0 {
			// A conversion guard, not the option's rule (the core checks the
			// mode too): fs.FileMode keeps its type bits (ModeDir is 1<<31)
			// above the permissions, and such a value would reach C as a
			// negative int, which means "no mode". Refused here, named.
			if opts.UnixMode&^fs.ModePerm != 0 {
				return nil, invalid(op, "UnixMode has bits outside 0777")
			}
			mode = int(opts.UnixMode)
		}
	}
	var e C.gfd_err
	fd := C.gfd_listen(cn, ca, C.int(backlog), C.int(mode), hook.handle(), &e)
	if err := check(op, fd, &e); err != nil {
		return nil, hook.explain(err)
	}
	// The fd is non-blocking already, so os.NewFile registers it with the
	// runtime poller and never changes its mode (Fd() on such a File, as
	// net.FileListener calls it, leaves it non-blocking).
	return os.NewFile(uintptr(fd), fileName(name, addr)), nil
}

func fileName(name, addr string) string {
	if name == "" {
		return addr
	}
	return name
}

func quote(s string) string { return `"` + s + `"` }

// errnoOf digs the errno out of a Go error (EINVAL if there is none).
func errnoOf(err error) syscall.Errno {
	for err != nil {
		if en, ok := err.(syscall.Errno); ok {
			return en
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return syscall.EINVAL
}

// Kind says what an inherited fd is (GRACEFD_KIND_* in gracefd.h).
type Kind int

// The kinds of inherited fds.
const (
	KindTCPListener  Kind = 1 // a listening TCP socket
	KindUnixListener Kind = 2 // a listening unix stream socket
	KindUDP          Kind = 3 // a UDP socket
	KindSocket       Kind = 4 // any other socket
	KindFile         Kind = 5 // not a socket: a file, a memfd, a pipe
)

// The values above are gracefd.h's: this does not compile otherwise (the
// index is a sum of squares of the differences, out of range unless all are 0).
var _ = [1]struct{}{}[(KindTCPListener-C.GRACEFD_KIND_TCP_LISTENER)*(KindTCPListener-C.GRACEFD_KIND_TCP_LISTENER)+
	(KindUnixListener-C.GRACEFD_KIND_UNIX_LISTENER)*(KindUnixListener-C.GRACEFD_KIND_UNIX_LISTENER)+
	(KindUDP-C.GRACEFD_KIND_UDP)*(KindUDP-C.GRACEFD_KIND_UDP)+
	(KindSocket-C.GRACEFD_KIND_SOCKET)*(KindSocket-C.GRACEFD_KIND_SOCKET)+
	(KindFile-C.GRACEFD_KIND_FILE)*(KindFile-C.GRACEFD_KIND_FILE)]

// String names the kind, such as "tcp-listener".
func (k Kind) String() string {
	switch k {
	case KindTCPListener:
		return "tcp-listener"
	case KindUnixListener:
		return "unix-listener"
	case KindUDP:
		return "udp"
	case KindSocket:
		return "socket"
	case KindFile:
		return "file"
	}
	return "unknown"
}

// FDInfo describes one inherited fd (see [InheritedList]).
type FDInfo struct {
	// Name is its name in LISTEN_FDNAMES, or "unknown" for an unnamed one.
	Name string
	// Kind is what it is.
	Kind Kind
	// Claimed is true once the program took it ([Listen], [Inherited],
	// [Files]).
	Claimed bool
}

// InheritedList describes every fd this process inherited (LISTEN_FDS,
// SERVER_STARTER_PORT, or an older generation), in the order announced,
// without claiming any.
func InheritedList() ([]FDInfo, error) {
	n := int(C.gracefd_inherited_count())
	out := make([]FDInfo, 0, n)
	var buf [C.GRACEFD_NAME_MAX + 1]C.char
	for i := 0; i < n; i++ {
		var kind, claimed C.int
		var e C.gfd_err
		r := C.gfd_inherited_at(C.size_t(i), &buf[0], C.size_t(len(buf)), &kind, &claimed, nil, &e)
		if err := check("InheritedList", r, &e); err != nil {
			return out, err
		}
		out = append(out, FDInfo{Name: C.GoString(&buf[0]), Kind: Kind(kind), Claimed: claimed == 1})
	}
	return out, nil
}

// Inherited returns the fd this process inherited under name (announced by
// LISTEN_FDS with LISTEN_FDNAMES, or handed down by an older generation),
// claimed, as an *os.File whose Name() is name. It never binds anything.
//
// The file keeps the blocking mode the socket has: nothing is changed. Read
// its fd with f.SyscallConn() and Control, not f.Fd() (see "Blocking mode"
// in the package documentation). To serve a listener, prefer [Listen]
// (same name), which returns a net.Listener.
//
// Errors: ENOENT (fs.ErrNotExist) if nothing was inherited under name (when
// it was announced but rejected, the detail says why); EINVAL for a bad name.
func Inherited(name string) (*os.File, error) {
	const op = "Inherited"
	cn, err := cstring(op, "name", name)
	if err != nil {
		return nil, err
	}
	defer free(cn)
	var e C.gfd_err
	fd := C.gfd_inherited(cn, &e)
	if err := check(op, fd, &e); err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Files claims every inherited fd not claimed yet and returns them as
// *os.File values named by their fd names ("unknown" for unnamed ones), in
// the order announced, with their blocking mode untouched (as [Inherited]).
// The registry keeps its own duplicates, so [Upgrade] still hands them down.
func Files() ([]*os.File, error) {
	n := int(C.gracefd_inherited_count())
	var files []*os.File
	var buf [C.GRACEFD_NAME_MAX + 1]C.char
	for i := 0; i < n; i++ {
		var claimed, fd C.int
		var e C.gfd_err
		r := C.gfd_inherited_at(C.size_t(i), &buf[0], C.size_t(len(buf)), nil, &claimed, nil, &e)
		if err := check("Files", r, &e); err != nil {
			return files, err
		}
		if claimed == 1 {
			continue
		}
		r = C.gfd_inherited_at(C.size_t(i), &buf[0], C.size_t(len(buf)), nil, nil, &fd, &e)
		if err := check("Files", r, &e); err != nil {
			return files, err
		}
		files = append(files, os.NewFile(uintptr(fd), C.GoString(&buf[0])))
	}
	return files, nil
}

// AddFile registers the fd under c (an *os.File, a *net.TCPListener, a
// *net.UDPConn, … anything with SyscallConn) under name, so that [Upgrade]
// hands it to the next generation. The registry keeps its own duplicate: c
// stays the caller's, and its blocking mode is not changed (the fd is read
// with SyscallConn().Control, never with Fd()).
//
// Errors: EINVAL for a bad name (or "unknown"), EEXIST if name is taken,
// EBADF if c is closed.
func AddFile(name string, c syscall.Conn) error {
	const op = "AddFile"
	cn, err := cstring(op, "name", name)
	if err != nil {
		return err
	}
	defer free(cn)
	rc, err := c.SyscallConn()
	if err != nil {
		return &Error{Op: op, Errno: errnoOf(err), Detail: err.Error()}
	}
	var r C.int
	var e C.gfd_err
	if cerr := rc.Control(func(fd uintptr) { r = C.gfd_add_fd(cn, C.int(fd), &e) }); cerr != nil {
		return &Error{Op: op, Errno: syscall.EBADF, Detail: cerr.Error()}
	}
	return check(op, r, &e)
}

// Forget removes every registry entry named name (inherited, added or
// listening), so that an upgrade no longer hands it down and a later
// [Listen] binds afresh. Listeners and files the program holds stay open.
// It returns how many entries were removed; ENOENT if none.
func Forget(name string) (int, error) {
	const op = "Forget"
	cn, err := cstring(op, "name", name)
	if err != nil {
		return 0, err
	}
	defer free(cn)
	var e C.gfd_err
	r := C.gfd_forget(cn, &e)
	if err := check(op, r, &e); err != nil {
		return 0, err
	}
	return int(r), nil
}

// CloseUnclaimed closes every inherited fd the program has not claimed (by
// [Listen], [ListenPacket], [Inherited] or [Files]), once start-up is done, so
// that a socket nobody serves stops queueing connections. It returns how
// many were closed.
func CloseUnclaimed() int { return int(C.gracefd_close_unclaimed()) }

// withFds calls f with the raw fds of conns, each read inside its
// RawConn.Control (so none is flipped to blocking and none is closed
// meanwhile).
func withFds(conns []syscall.Conn, fds []C.int, f func([]C.int)) error {
	if len(conns) == 0 {
		f(fds)
		return nil
	}
	rc, err := conns[0].SyscallConn()
	if err != nil {
		return err
	}
	var inner error
	if cerr := rc.Control(func(fd uintptr) { inner = withFds(conns[1:], append(fds, C.int(fd)), f) }); cerr != nil {
		return cerr
	}
	return inner
}
