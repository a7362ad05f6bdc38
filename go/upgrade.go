package gracefd

/*
#include "shim.h"
*/
import "C"

import (
	"syscall"
	"time"
	"unsafe"
)

// UpgradeOptions are the options of [Upgrade]. The zero value (or nil) is
// the defaults.
type UpgradeOptions struct {
	// Path is the executable to run; "" means this program's own, as an
	// absolute path recorded at start-up (so a binary replaced by rename is
	// the one that runs, and a relative os.Args[0] works after a chdir).
	Path string
	// Args is the new generation's argv, Args[0] included; nil means this
	// process's own (os.Args as it was at start-up).
	Args []string
	// Env holds KEY=VALUE entries added to the new generation's environment.
	// The rest is this process's environment as it was at start-up (changes
	// made with os.Setenv are not seen: put them here), without the
	// fd-passing variables (LISTEN_*, SERVER_STARTER_*, GRACEFD_*,
	// WATCHDOG_PID), which gracefd sets itself and which are EINVAL here.
	Env []string
	// Timeout is how long the new generation has to call [Ready]; 0 means
	// the default (60 s), negative means no limit.
	Timeout time.Duration
	// KillSignal is sent to a new generation that failed or timed out
	// (SIGKILL follows 2 s later); 0 means SIGTERM.
	KillSignal syscall.Signal
}

// Upgrade starts a new generation of this program with every registered
// socket and file (everything from [Listen], [ListenPacket], [AddFile] and
// what was inherited) at fds 3, 4, … with LISTEN_FDS, LISTEN_PID and
// LISTEN_FDNAMES, and waits until it calls [Ready]. It returns the new
// generation's pid: this process should then stop accepting, drain its open
// connections and exit. The new generation accepts from the same sockets
// (one kernel queue), so no connection is refused or lost in between.
//
// If the new generation cannot be executed, exits, crashes, calls [Fail] or
// is not ready within the timeout, it is killed and reaped, nothing of this
// process has changed (no listener was closed), and the error says why:
// EALREADY (another upgrade is in flight), ENOEXEC (exec failed), ECHILD (it
// exited or was killed; the detail has the status), ECANCELED (it called
// Fail; the detail has its message), EPROTO, ETIMEDOUT, ENOENT, EINVAL (bad
// options). The program goes on serving.
//
// Upgrade blocks until the outcome (up to the timeout). Only the calling
// goroutine waits, and the OS thread under it, which the cgo call holds; the
// rest of the program runs on. To go on serving meanwhile, call it in a
// goroutine:
//
//	go func() {
//		pid, err := gracefd.Upgrade(nil)
//		if err != nil {
//			log.Printf("upgrade failed, still serving: %v", err)
//			return
//		}
//		log.Printf("generation %d took over as pid %d; draining", gracefd.Generation()+1, pid)
//		drainAndExit()
//	}()
//
// A second Upgrade while one is in flight fails at once with EALREADY.
func Upgrade(opts *UpgradeOptions) (pid int, err error) {
	const op = "Upgrade"
	var cpid C.pid_t
	var e C.gfd_err
	err = withUpgradeOptions(op, opts, func(o *cUpgradeOptions) C.int {
		return C.gfd_upgrade(o.exe, o.argv, o.argc, o.env, o.nenv, o.timeoutSet, o.timeoutMs, o.killSig, &cpid, &e)
	}, &e)
	if err != nil {
		return 0, err
	}
	return int(cpid), nil
}

// cUpgradeOptions are UpgradeOptions in C memory, valid during one call.
type cUpgradeOptions struct {
	exe        *C.char
	argv       **C.char
	argc       C.size_t
	env        **C.char
	nenv       C.size_t
	timeoutSet C.int
	timeoutMs  C.int64_t
	killSig    C.int
}

// withUpgradeOptions converts opts for C (EINVAL for a string with a NUL
// or empty Args), calls f with them, frees them, and checks f's result.
func withUpgradeOptions(op string, opts *UpgradeOptions, f func(*cUpgradeOptions) C.int, e *C.gfd_err) error {
	if opts == nil {
		opts = &UpgradeOptions{}
	}
	var toFree []*C.char
	defer func() {
		for _, p := range toFree {
			free(p)
		}
	}()
	mk := func(what, s string) (*C.char, error) {
		c, err := cstring(op, what, s)
		if err == nil {
			toFree = append(toFree, c)
		}
		return c, err
	}
	var o cUpgradeOptions
	var err error
	if opts.Path != "" {
		if o.exe, err = mk("Path", opts.Path); err != nil {
			return err
		}
	}
	if opts.Args != nil && len(opts.Args) == 0 {
		return invalid(op, "Args is empty: it must hold at least argv[0] (nil means this process's own)")
	}
	if o.argv, err = cArray(opts.Args, func(s string) (*C.char, error) { return mk("argument", s) }); err != nil {
		return err
	}
	defer freeArray(o.argv)
	if o.env, err = cArray(opts.Env, func(s string) (*C.char, error) { return mk("environment entry", s) }); err != nil {
		return err
	}
	defer freeArray(o.env)
	o.argc, o.nenv = C.size_t(len(opts.Args)), C.size_t(len(opts.Env))
	if opts.Timeout != 0 {
		o.timeoutSet, o.timeoutMs = 1, C.int64_t(opts.Timeout.Milliseconds())
		if opts.Timeout < 0 {
			o.timeoutMs = -1
		}
	}
	o.killSig = C.int(opts.KillSignal)
	return check(op, f(&o), e)
}

// cArray builds a C array of C strings in C memory (a Go array of C pointers
// may be passed to C, but building it in C memory keeps the rules simple).
// nil in, NULL out.
func cArray(ss []string, conv func(string) (*C.char, error)) (**C.char, error) {
	if ss == nil {
		return nil, nil
	}
	n := len(ss)
	if n == 0 {
		n = 1
	}
	arr := (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	if arr == nil {
		return nil, &Error{Op: "Upgrade", Errno: syscall.ENOMEM, Detail: "out of memory for an argument array"}
	}
	slots := unsafe.Slice(arr, n)
	for i, s := range ss {
		c, err := conv(s)
		if err != nil {
			C.free(unsafe.Pointer(arr))
			return nil, err
		}
		slots[i] = c
	}
	return arr, nil
}

func freeArray(a **C.char) {
	if a != nil {
		C.free(unsafe.Pointer(a))
	}
}
