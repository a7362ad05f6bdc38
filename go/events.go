package gracefd

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Event is a lifecycle request delivered by [Events].
type Event int

// The events (GRACEFD_EVENT_* in gracefd.h).
const (
	// EventUpgrade: SIGHUP or SIGUSR2 arrived; call [Upgrade].
	EventUpgrade Event = 1
	// EventShutdown: SIGTERM or SIGINT arrived; drain and exit.
	EventShutdown Event = 2
	// EventDrain: another process took this one's sockets over (a
	// hand-off); stop accepting, drain and exit.
	EventDrain Event = 3
)

// The values above are gracefd.h's: this does not compile otherwise.
var _ = [1]struct{}{}[(EventUpgrade-C.GRACEFD_EVENT_UPGRADE)*(EventUpgrade-C.GRACEFD_EVENT_UPGRADE)+
	(EventShutdown-C.GRACEFD_EVENT_SHUTDOWN)*(EventShutdown-C.GRACEFD_EVENT_SHUTDOWN)+
	(EventDrain-C.GRACEFD_EVENT_DRAIN)*(EventDrain-C.GRACEFD_EVENT_DRAIN)]

// String names the event: "upgrade", "shutdown" or "drain".
func (e Event) String() string {
	switch e {
	case EventUpgrade:
		return "upgrade"
	case EventShutdown:
		return "shutdown"
	case EventDrain:
		return "drain"
	}
	return "none"
}

// Events delivers lifecycle requests on a channel until ctx is done, when
// the channel is closed: SIGHUP and SIGUSR2 as [EventUpgrade], SIGTERM and
// SIGINT as [EventShutdown] (the same mapping as gracefd_signals_install in
// C), and the events the library itself posts, such as [EventDrain].
//
// Signals are received with os/signal (signal.Notify), which is what Go
// programs use; while Events runs, SIGTERM and SIGINT no longer kill the
// process by default. gracefd_signals_install is deliberately not used from
// Go: it would replace the Go runtime's own signal handlers for those
// signals (the runtime needs SA_ONSTACK and SA_SIGINFO handlers, which the
// library does not chain), breaking os/signal. The library's events arrive
// through gracefd_event_fd, a pipe Go's poller waits on; call Events once
// per process, because each library event goes to one reader.
//
// Errors: EMFILE or ENFILE if no fd is left for the event pipe.
func Events(ctx context.Context) (<-chan Event, error) {
	lib, stopLib, err := libraryEvents()
	if err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	out := make(chan Event, 8)
	go func() {
		defer close(out)
		defer func() {
			signal.Stop(sigs)
			stopLib()
		}()
		for {
			var ev Event
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				ev = signalEvent(s)
			case ev = <-lib:
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// signalEvent maps SIGHUP and SIGUSR2 to EventUpgrade, the rest (SIGTERM,
// SIGINT) to EventShutdown.
func signalEvent(s os.Signal) Event {
	if s == syscall.SIGHUP || s == syscall.SIGUSR2 {
		return EventUpgrade
	}
	return EventShutdown
}

// libraryEvents delivers the events the library posts (such as EventDrain)
// on a channel, read by one goroutine from the library's event pipe; stop
// ends that goroutine and closes the pipe, and returns once both are done.
func libraryEvents() (events <-chan Event, stop func(), err error) {
	var e C.gfd_err
	fd := C.gfd_event_fd(&e)
	if err := check("Events", fd, &e); err != nil {
		return nil, nil, err
	}
	// The pipe is the library's own, non-blocking (it sets that on its
	// private pipe): os.NewFile puts it in Go's poller.
	f := os.NewFile(uintptr(fd), "gracefd-events")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, &Error{Op: "Events", Errno: errnoOf(err), Detail: err.Error()}
	}
	lib := make(chan Event)
	quit := make(chan struct{})
	libDone := make(chan struct{})
	go func() { // wait until readable, take them all
		defer close(libDone)
		for {
			var evs []Event
			failed := false
			err := rc.Read(func(uintptr) bool {
				for {
					var e C.gfd_err
					ev := C.gfd_event_next(&e)
					if ev < 0 {
						failed = true
						return true
					}
					if ev == C.GRACEFD_EVENT_NONE {
						// Nothing (left): done if we took something,
						// else wait for the pipe to become readable.
						return len(evs) > 0
					}
					evs = append(evs, Event(ev))
				}
			})
			if err != nil || failed {
				return
			}
			for _, ev := range evs {
				select {
				case lib <- ev:
				case <-quit:
					return
				}
			}
		}
	}()
	stop = func() {
		close(quit)
		f.Close() // ends the reader's wait
		<-libDone
	}
	return lib, stop, nil
}
