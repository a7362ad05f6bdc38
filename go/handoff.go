package gracefd

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// How often ServeHandoff looks at its context while no taker knocks.
const handoffTick = 50 * time.Millisecond

// ServeHandoff serves this process's registered sockets and files
// (everything [Listen], [ListenPacket] and [AddFile] registered, with their
// names) at the unix socket path to one new instance of the program that
// calls [TakeHandoff] on the same path: for supervisors that start the new
// version themselves (runit, supervisord, `systemctl restart`, a container
// replacement). The socket is mode 0600; only this uid and root may take.
//
// It returns nil once a taker has taken the fds and called [Ready]: this
// process should stop accepting and drain ([EventDrain] is posted as well,
// so [Serve] and [ServeHTTP] drain on their own). A taker that fails changes
// nothing: serving goes on for the next one. When ctx is done first, it
// stops serving (the path is removed if it is still ours) and returns
// ctx's error. Give [ServeOptions].HandoffPath to [Serve] or [ServeHTTP] to
// have them run it.
//
// Errors (see gracefd_handoff_serve in gracefd.h): EINVAL (path empty or
// with a NUL), EALREADY (already serving), ENAMETOOLONG, EEXIST (a
// non-socket is at path), EADDRINUSE (another process serves there),
// EACCES, ENOENT (missing directory), EMFILE…
func ServeHandoff(ctx context.Context, path string) error {
	const op = "ServeHandoff"
	if path == "" {
		return invalid(op, "path is empty")
	}
	cp, err := cstring(op, "path", path)
	if err != nil {
		return err
	}
	defer free(cp)
	var e C.gfd_err
	fd := C.gfd_handoff_serve(cp, &e)
	if err := check(op, fd, &e); err != nil {
		return err
	}
	defer syscall.Close(int(fd))
	for {
		if ctx.Err() != nil {
			C.gracefd_handoff_stop()
			return ctx.Err()
		}
		if err := pollIn(int(fd), handoffTick); err != nil {
			C.gracefd_handoff_stop()
			return &Error{Op: op, Errno: errnoOf(err), Detail: "waiting on the hand-off socket: " + err.Error()}
		}
		r := C.gfd_handoff_process(&e)
		if r == C.GRACEFD_HANDOFF_DONE {
			C.gracefd_handoff_stop()
			return nil
		}
		if r == -C.int(syscall.EMFILE) || r == -C.int(syscall.ENFILE) {
			time.Sleep(handoffTick) // the connection stays queued: try again later
			continue
		}
		if err := check(op, r, &e); err != nil {
			C.gracefd_handoff_stop()
			return err
		}
	}
}

// TakeHandoff takes the registered sockets and files of the process serving
// hand-off at path ([ServeHandoff]) into this process's registry, each under
// its name, so that [Listen] (as a net.Listener), [ListenPacket] or
// [Inherited] (as an *os.File) finds it exactly as if it had been
// inherited. When this process then calls [Ready], the old one is told to
// drain; until then both serve. It returns how many were taken.
//
// ctx's deadline bounds the whole exchange (no deadline: no limit); a
// cancel without a deadline is seen before the exchange starts, not during
// it (the exchange is one C call, short unless the other side stalls). If
// the exchange fails, nothing is added and every fd received is closed.
//
// Errors (see gracefd_handoff_take in gracefd.h): EINVAL, ENAMETOOLONG,
// ENOENT or ECONNREFUSED (nobody serves there), EACCES, EBUSY (it is
// handing off to another process), EALREADY (taken already, Ready not
// called yet), ETIMEDOUT, EBADMSG, EPROTONOSUPPORT, ECONNRESET, or the errno
// the server refused with; ctx's error if it is done already.
func TakeHandoff(ctx context.Context, path string) (int, error) {
	const op = "TakeHandoff"
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cp, err := cstring(op, "path", path)
	if err != nil {
		return 0, err
	}
	defer free(cp)
	var e C.gfd_err
	r := C.gfd_handoff_take(cp, C.int64_t(deadlineMs(ctx)), &e)
	if err := check(op, r, &e); err != nil {
		return 0, err
	}
	return int(r), nil
}

// deadlineMs is the time left before ctx's deadline, in ms (at least 1),
// or -1 (no limit) without one.
func deadlineMs(ctx context.Context) int64 {
	d, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	ms := time.Until(d).Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return ms
}

// NamedFile is a file (a socket, a pipe, any fd) with its name, as
// [SendFiles] sends and [RecvFiles] receives them.
type NamedFile struct {
	// Name is 1–255 bytes of printable ASCII (space included), no ':'.
	Name string
	// File is the fd. SendFiles reads it without changing its mode or
	// closing it; RecvFiles gives a new CLOEXEC *os.File that belongs to
	// the caller (net.FileListener and net.FileConn turn it into a
	// listener or a connection).
	File syscall.Conn
}

// SendFiles sends files with their names over sock, a connected unix
// stream socket of the caller's (a socketpair, a control connection), in
// the hand-off wire format; the other side receives them with [RecvFiles]
// (or gracefd_recv_fds in C, or the Rust face). The receiver gets
// duplicates: the files stay the caller's. ctx's deadline bounds the whole
// transfer (a receiver that stops reading cannot block longer).
//
// Errors (see gracefd_send_fds): EINVAL (a bad name, which the detail
// names, or more than 65536 files), EBADF (a closed file), EPIPE or
// ECONNRESET (the receiver went away), ETIMEDOUT, ETOOMANYREFS, ENOTSOCK.
// After a failure the stream is mid-transfer: close it.
func SendFiles(ctx context.Context, sock *net.UnixConn, files []NamedFile) error {
	const op = "SendFiles"
	if err := ctx.Err(); err != nil {
		return err
	}
	if sock == nil {
		return invalid(op, "the socket is nil")
	}
	conns := make([]syscall.Conn, len(files))
	for i, f := range files {
		if f.File == nil {
			return invalid(op, fmt.Sprintf("file %d (%q) is nil", i, f.Name))
		}
		if strings.IndexByte(f.Name, 0) >= 0 {
			return invalid(op, fmt.Sprintf("name %d contains a NUL byte", i))
		}
		conns[i] = f.File
	}
	names, err := cArray(nameList(files), func(s string) (*C.char, error) { return cstring(op, "name", s) })
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range unsafe.Slice(names, max(len(files), 1))[:len(files)] {
			free(p)
		}
		freeArray(names)
	}()
	var r C.int
	var e C.gfd_err
	werr := withFds(append([]syscall.Conn{sock}, conns...), nil, func(fds []C.int) {
		var p *C.int
		if len(fds) > 1 {
			p = &fds[1]
		}
		// The fds are Go memory with no Go pointers in it: C may read it
		// during the call.
		r = C.gfd_send_fds(fds[0], p, names, C.size_t(len(files)), C.int64_t(deadlineMs(ctx)), &e)
	})
	if werr != nil {
		return &Error{Op: op, Errno: syscall.EBADF, Detail: werr.Error()}
	}
	return check(op, r, &e)
}

func nameList(files []NamedFile) []string {
	if files == nil {
		return []string{}
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Name
	}
	return out
}

// RecvFiles receives one transfer sent by [SendFiles] (or a hand-off
// server) over sock, at most limit files, each with its name, as a new
// CLOEXEC *os.File that belongs to the caller. ctx's deadline bounds the
// whole transfer. On any failure every file received so far is closed.
//
// Errors (see gracefd_recv_fds): EINVAL (limit outside 0–65536), EMSGSIZE
// (the sender announced more than limit), EBADMSG, EPROTONOSUPPORT, ECONNRESET,
// ETIMEDOUT, ENOTSOCK. After a failure the stream is mid-transfer: close it.
func RecvFiles(ctx context.Context, sock *net.UnixConn, limit int) ([]NamedFile, error) {
	const op = "RecvFiles"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if sock == nil {
		return nil, invalid(op, "the socket is nil")
	}
	if limit < 0 || limit > C.GRACEFD_HANDOFF_MAX_FDS {
		return nil, invalid(op, fmt.Sprintf("limit %d is not 0–65536", limit))
	}
	slots := limit
	if slots == 0 {
		slots = 1
	}
	fds := (*C.int)(C.calloc(C.size_t(slots), C.size_t(unsafe.Sizeof(C.int(0)))))
	names := (*C.char)(C.calloc(C.size_t(slots), C.GRACEFD_FD_NAME_SIZE))
	if fds == nil || names == nil {
		C.free(unsafe.Pointer(fds))
		C.free(unsafe.Pointer(names))
		return nil, &Error{Op: op, Errno: syscall.ENOMEM, Detail: "out of memory for the receive buffers"}
	}
	defer C.free(unsafe.Pointer(fds))
	defer C.free(unsafe.Pointer(names))
	var r C.int
	var e C.gfd_err
	werr := withFds([]syscall.Conn{sock}, nil, func(s []C.int) {
		r = C.gfd_recv_fds(s[0], C.int64_t(deadlineMs(ctx)), C.size_t(limit), fds, names, &e)
	})
	if werr != nil {
		return nil, &Error{Op: op, Errno: syscall.EBADF, Detail: werr.Error()}
	}
	if err := check(op, r, &e); err != nil {
		return nil, err
	}
	got := unsafe.Slice(fds, slots)
	out := make([]NamedFile, int(r))
	for i := range out {
		name := C.GoString((*C.char)(unsafe.Add(unsafe.Pointer(names), i*C.GRACEFD_FD_NAME_SIZE)))
		out[i] = NamedFile{Name: name, File: os.NewFile(uintptr(got[i]), name)}
	}
	return out, nil
}
