package gracefd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Service is a server that serves connections accepted from a net.Listener
// and can be shut down gracefully: what [Serve] runs. *http.Server is one
// (but give it to [ServeHTTP], which drains it politely); [ServiceFuncs]
// adapts any other (a gRPC server: Serve and GracefulStop).
type Service interface {
	// Serve accepts connections on ln and serves them until ln is closed
	// or the service is shut down. It is called once per listener, each in
	// its own goroutine.
	Serve(ln net.Listener) error
	// Shutdown finishes the connections being served and returns when none
	// is left, or with ctx's error when its deadline passes first.
	Shutdown(ctx context.Context) error
}

// ServiceFuncs makes a [Service] of two functions.
type ServiceFuncs struct {
	ServeFunc    func(ln net.Listener) error
	ShutdownFunc func(ctx context.Context) error
}

// Serve calls s.ServeFunc.
func (s ServiceFuncs) Serve(ln net.Listener) error { return s.ServeFunc(ln) }

// Shutdown calls s.ShutdownFunc.
func (s ServiceFuncs) Shutdown(ctx context.Context) error { return s.ShutdownFunc(ctx) }

// ServeOptions are the options of [Serve] and [ServeHTTP]. The zero value
// (or nil) is the defaults.
type ServeOptions struct {
	// DrainTimeout bounds the drain, from the moment this generation stops
	// accepting to the end of Shutdown; 0 means 10 s. Connections still open
	// then are closed.
	DrainTimeout time.Duration
	// Upgrade is what each upgrade passes to [Upgrade] (nil: the defaults).
	Upgrade *UpgradeOptions
	// Logf, if not nil, gets one line per step of the life cycle: serving,
	// upgrade started, failed ("upgrade failed, still serving: …") or done
	// ("upgrade: pid N is ready; draining"), draining, drained.
	Logf func(format string, args ...any)
	// NoReady leaves calling [Ready] to the program (by default it is
	// called once every listener is being served).
	NoReady bool
	// HandoffPath, if not "", is where this generation serves its sockets
	// to a new instance started by someone else ([ServeHandoff]); once one
	// has taken them and is ready, this one drains.
	HandoffPath string
	// PassConnections (ServeHTTP only; not with TLS): zero-drain upgrades.
	// This generation takes the connections an older one passes and serves
	// them with the same http.Server; after an upgrade it passes each of
	// its own to the new generation as soon as nothing of it is in flight
	// (see docs/zero-drain.md for the rule), and drains politely only what
	// could not be passed.
	PassConnections bool
}

const defaultDrainTimeout = 10 * time.Second

func (o *ServeOptions) drainTimeout() time.Duration {
	if o == nil || o.DrainTimeout <= 0 {
		return defaultDrainTimeout
	}
	return o.DrainTimeout
}

func (o *ServeOptions) logf(format string, args ...any) {
	if o != nil && o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Serve runs svc on every listener in lns (each from [Listen], or any
// net.Listener) and lives the whole life of a generation:
//
//   - once all are served, it calls [Ready] (unless opts.NoReady);
//   - SIGHUP or SIGUSR2 starts an upgrade ([StartUpgrade]); while it runs
//     this generation goes on serving; if it fails, Serve logs why and goes
//     on (a second request meanwhile is ignored); a drain for another reason
//     meanwhile cancels it (the new generation is killed);
//   - once the new generation is ready, or on SIGTERM or SIGINT (which also
//     tells systemd STOPPING=1), on a hand-off taker's [EventDrain], or when
//     ctx is done: it drains. Every listener is closed (the sockets stay
//     open for the new generation, which accepts from the same queue) and
//     forgotten in the registry if [Listen] made it, then svc.Shutdown runs
//     with the rest of opts.DrainTimeout.
//
// Serve returns once the drain is over and every goroutine it started has
// ended.
// The program should then exit. It returns nil after a clean drain; the
// error of Shutdown when the drain timed out; the error of a svc.Serve that
// returned on its own (an accept error), after draining the rest.
//
// Call Serve once per process: it receives the signals above (os/signal)
// until it returns. For net/http use [ServeHTTP], which drains without
// losing requests on keep-alive connections: a bare Shutdown does not.
//
// Errors before serving: EINVAL if lns is empty or holds nil; those of
// [Events].
func Serve(ctx context.Context, svc Service, lns []net.Listener, opts *ServeOptions) error {
	if svc == nil {
		return invalid("Serve", "the service is nil")
	}
	return run(ctx, "Serve", lns, opts, runHooks{}, svc.Serve, func(ctx context.Context, _ time.Time) error {
		return svc.Shutdown(ctx)
	})
}

// run is the life cycle shared by Serve and ServeHTTP. serve runs on each
// listener; drain runs once nothing is accepted any more, with a context
// that ends at the drain deadline (also passed as a time).
func run(ctx context.Context, op string, lns []net.Listener, opts *ServeOptions, hooks runHooks,
	serve func(net.Listener) error, drain func(ctx context.Context, deadline time.Time) error) error {
	if len(lns) == 0 {
		return invalid(op, "no listener to serve")
	}
	for i, ln := range lns {
		if ln == nil {
			return invalid(op, fmt.Sprintf("listener %d is nil", i))
		}
	}
	// Signals straight into the loop below (no goroutine in between: under
	// load every hand-over between goroutines can wait for a processor, and
	// that delay would be the upgrade's), and the library's own events.
	libEvents, stopLib, err := libraryEvents()
	if err != nil {
		return err
	}
	defer stopLib()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	var draining atomic.Bool
	served := make(chan error, len(lns))
	var serving sync.WaitGroup
	for _, ln := range lns {
		serving.Add(1)
		go func(ln net.Listener) {
			defer serving.Done()
			err := serve(ln)
			if draining.Load() {
				err = nil
			} else if err == nil {
				err = errors.New("serve returned before the drain began")
			}
			served <- err
		}(ln)
	}
	// Let the serving goroutines run on this thread now, up to their first
	// Accept, before telling the old generation to stop accepting: otherwise
	// they wait for another thread to start and get a CPU, which in a new
	// generation under load is a millisecond or more with nobody accepting.
	runtime.Gosched()
	if opts == nil || !opts.NoReady {
		if err := Ready(); err != nil {
			opts.logf("ready: %v (serving anyway)", err)
		}
	}
	opts.logf("generation %d serving", Generation())

	var handoffDone <-chan error // nil once it has ended
	if opts != nil && opts.HandoffPath != "" {
		hctx, stopHandoff := context.WithCancel(context.Background())
		done := make(chan error, 1)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			done <- ServeHandoff(hctx, opts.HandoffPath)
		}()
		defer func() {
			stopHandoff()
			<-ended
		}()
		handoffDone = done
	}
	var upgrading *PendingUpgrade // not nil while an upgrade is in flight
	var upgradeDone <-chan struct{}
	var serveErr error
	var upOpts *UpgradeOptions
	if opts != nil {
		upOpts = opts.Upgrade
	}
	// handle acts on one request; true means: drain now.
	handle := func(ev Event) bool {
		switch ev {
		case EventUpgrade:
			if upgrading != nil {
				opts.logf("upgrade requested while one is in flight: ignored")
				return false
			}
			p, err := StartUpgrade(upOpts)
			if err != nil {
				opts.logf("upgrade failed, still serving: %v", err)
				return false
			}
			opts.logf("upgrade requested: generation %d starting", Generation()+1)
			upgrading, upgradeDone = p, p.Done()
			return false
		case EventShutdown:
			_ = NotifyStopping()
			opts.logf("shutdown requested: draining")
			return true
		case EventDrain:
			opts.logf("drain requested: draining")
			return true
		case EventConns:
			if hooks.onConns != nil {
				hooks.onConns()
			}
		}
		return false
	}
wait:
	for {
		select {
		case <-ctx.Done():
			opts.logf("context done: draining")
			break wait
		case s := <-sigs:
			if handle(signalEvent(s)) {
				break wait
			}
		case ev := <-libEvents:
			if handle(ev) {
				break wait
			}
		case <-upgradeDone:
			pid, err := upgrading.Result()
			upgrading, upgradeDone = nil, nil
			if err != nil {
				opts.logf("upgrade failed, still serving: %v", err)
				continue
			}
			opts.logf("upgrade: pid %d is ready; draining", pid)
			break wait
		case err := <-handoffDone:
			handoffDone = nil
			if err != nil {
				opts.logf("hand-off at %s: %v (serving on without it)", opts.HandoffPath, err)
				continue
			}
			// Done: the library posted EventDrain too, which ends the wait.
			opts.logf("hand-off at %s: a new instance took the sockets", opts.HandoffPath)
		case err := <-served:
			serveErr = err
			opts.logf("serve: %v; draining", err)
			break wait
		}
	}
	if upgrading != nil {
		// Stopping while a new generation starts: it is not wanted any more.
		if pid, err := upgrading.Cancel(); err == nil {
			opts.logf("upgrade: pid %d became ready as this one stopped; draining", pid)
		} else {
			opts.logf("upgrade cancelled: %v", err)
		}
	}

	start := time.Now()
	deadline := start.Add(opts.drainTimeout())
	draining.Store(true)
	stopAccepting(lns)
	serving.Wait()
	dctx, cancel := context.WithDeadline(context.Background(), deadline)
	derr := drain(dctx, deadline)
	cancel()
	if derr != nil {
		opts.logf("drain: %v", derr)
	} else {
		opts.logf("drained in %v", time.Since(start).Round(time.Millisecond))
	}
	return errors.Join(serveErr, derr)
}

// runHooks are what ServeHTTP adds to run's loop.
type runHooks struct {
	onConns func() // EventConns: take the passed connections
}

// stopAccepting closes the listeners (this process's duplicates: the
// sockets stay open in every other process that holds them) and forgets
// the registry entries Listen made for them. Without a new generation to
// hold it, a socket then closes at once, and a client is refused instead of
// waiting in a queue nobody will serve.
func stopAccepting(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
		if name, ok := listenerNames.LoadAndDelete(ln); ok {
			_, _ = Forget(name.(string))
		}
	}
}

// listenerNames maps each listener [Listen] returned to its registry name
// (named listeners only), for stopAccepting.
var listenerNames sync.Map
