package gracefd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/gracefd/gracefd/go"
)

// A whole server: Listen, then ServeHTTP until it is told to stop. Here the
// context stops it after one request; in a real program SIGTERM or a
// finished upgrade does, and SIGHUP upgrades it.
func ExampleServeHTTP() {
	ln, err := gracefd.Listen("example-http", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})}
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			io.Copy(os.Stdout, resp.Body)
			resp.Body.Close()
		}
		stop()
	}()
	err = gracefd.ServeHTTP(ctx, srv, []net.Listener{ln}, &gracefd.ServeOptions{DrainTimeout: 5 * time.Second})
	fmt.Println("drained:", err)
	// Output:
	// hello
	// drained: <nil>
}

// Any server with Serve(net.Listener) and a graceful stop, here through
// ServiceFuncs (a gRPC server: ServeFunc: s.Serve, ShutdownFunc: a
// GracefulStop bounded by the context).
func ExampleServe() {
	ln, err := gracefd.Listen("example-generic", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	lineServer := gracefd.ServiceFuncs{
		ServeFunc: func(ln net.Listener) error {
			for {
				c, err := ln.Accept()
				if err != nil {
					return err
				}
				fmt.Fprintln(c, "hi")
				c.Close()
			}
		},
		ShutdownFunc: func(ctx context.Context) error { return nil }, // nothing kept open
	}
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			io.Copy(os.Stdout, c)
			c.Close()
		}
		stop()
	}()
	fmt.Println("stopped:", gracefd.Serve(ctx, lineServer, []net.Listener{ln}, nil))
	// Output:
	// hi
	// stopped: <nil>
}

func ExampleServiceFuncs() {
	var svc gracefd.Service = gracefd.ServiceFuncs{
		ServeFunc:    func(ln net.Listener) error { return http.Serve(ln, nil) },
		ShutdownFunc: func(ctx context.Context) error { return nil },
	}
	fmt.Println(svc.Shutdown(context.Background()))
	// Output: <nil>
}

func ExampleServeOptions() {
	opts := &gracefd.ServeOptions{
		DrainTimeout: 30 * time.Second,                                   // long requests may finish
		Upgrade:      &gracefd.UpgradeOptions{Timeout: 10 * time.Second}, // a slow start is a failed one
		Logf:         log.Printf,
		HandoffPath:  "/run/app/handoff.sock", // a supervisor may start the next one
	}
	fmt.Println(opts.DrainTimeout)
	// Output: 30s
}

// Set a socket option that must be set before bind (SO_REUSEPORT here);
// a function written for net.ListenConfig.Control works as is.
func ExampleListenWith() {
	const soReuseport = 0xf
	opts := &gracefd.ListenOptions{
		Backlog: 1024,
		Control: func(network, address string, c syscall.RawConn) error {
			fmt.Println("before bind:", network, address)
			var err error
			c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReuseport, 1) })
			return err
		},
	}
	ln, err := gracefd.ListenWith("example-reuseport", "127.0.0.1:0", opts)
	if err != nil {
		log.Fatal(err)
	}
	defer gracefd.Forget("example-reuseport")
	defer ln.Close()
	// Output: before bind: tcp4 127.0.0.1:0
}

func ExampleListenOptions() {
	// A unix socket that only the group may reach, with a short backlog.
	ln, err := gracefd.ListenWith("example-ctl", "unix:@gracefd-example-ctl", &gracefd.ListenOptions{Backlog: 16, UnixMode: 0o660})
	if err != nil {
		log.Fatal(err)
	}
	defer gracefd.Forget("example-ctl")
	defer ln.Close()
	fmt.Println(ln.Addr().Network())
	// Output: unix
}

func ExampleVersion() {
	fmt.Println(len(strings.Split(gracefd.Version(), ".")))
	// Output: 3
}

func ExampleGeneration() {
	fmt.Println(gracefd.Generation(), gracefd.IsUpgrade())
	// Output: 1 false
}

func ExampleIsUpgrade() {
	if gracefd.IsUpgrade() {
		fmt.Println("started by an older generation")
	} else {
		fmt.Println("first start")
	}
	// Output: first start
}

// Tell whoever waits (an upgrading old generation, a daemonize launcher,
// systemd) that this process serves; nobody waiting is not an error.
func ExampleReady() {
	fmt.Println(gracefd.Ready())
	// Output: <nil>
}

// A new generation that cannot start says why; the old one logs the
// message and serves on.
func ExampleFail() {
	if _, err := os.Stat("/nonexistent/app.toml"); err != nil {
		fmt.Println(gracefd.Fail(3, "config: "+err.Error()))
		// then: os.Exit(3)
	}
	// Output: <nil>
}

func ExampleInherited() {
	_, err := gracefd.Inherited("example-nothing")
	fmt.Println(errors.Is(err, syscall.ENOENT))
	// Output: true
}

func ExampleInheritedList() {
	list, err := gracefd.InheritedList()
	if err != nil {
		log.Fatal(err)
	}
	for _, fd := range list {
		fmt.Println(fd.Name, fd.Kind, fd.Claimed)
	}
	fmt.Println(len(list), "inherited")
	// Output: 0 inherited
}

func ExampleFDInfo() {
	list, _ := gracefd.InheritedList()
	var unclaimed []gracefd.FDInfo
	for _, fd := range list {
		if !fd.Claimed {
			unclaimed = append(unclaimed, fd)
		}
	}
	fmt.Println(len(unclaimed))
	// Output: 0
}

func ExampleKind() {
	fmt.Println(gracefd.KindTCPListener)
	// Output: tcp-listener
}

func ExampleFiles() {
	files, err := gracefd.Files()
	fmt.Println(len(files), err)
	// Output: 0 <nil>
}

func ExampleForget() {
	ln, err := gracefd.Listen("example-forget", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	n, err := gracefd.Forget("example-forget") // no longer handed down
	fmt.Println(n, err)
	// Output: 1 <nil>
}

func ExampleCloseUnclaimed() {
	// After start-up: a socket handed to this process that it does not
	// use is closed, so that clients are refused instead of queued.
	fmt.Println(gracefd.CloseUnclaimed())
	// Output: 0
}

func ExampleRemovePidFile() {
	removed, err := gracefd.RemovePidFile() // at clean exit
	fmt.Println(removed, err)
	// Output: false <nil>
}

func ExampleNotifyStatus() {
	fmt.Println(gracefd.NotifyStatus("serving 12 connections"))
	// Output: <nil>
}

func ExampleNotifyReloading() {
	fmt.Println(gracefd.NotifyReloading()) // then READY=1 (Ready) once reloaded
	// Output: <nil>
}

func ExampleNotifyStopping() {
	fmt.Println(gracefd.NotifyStopping())
	// Output: <nil>
}

func ExampleNotifyBarrier() {
	gracefd.Notify("STATUS=last words")
	fmt.Println(gracefd.NotifyBarrier(5 * time.Second)) // before exiting
	// Output: <nil>
}

func ExampleNotifyBarrierContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(gracefd.NotifyBarrierContext(ctx))
	// Output: <nil>
}

// Keep a file in systemd's fd store across restarts (FileDescriptorStoreMax=).
func ExampleNotifyWithFiles() {
	r, w, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fmt.Println(gracefd.NotifyWithFiles("FDSTORE=1\nFDNAME=state", r))
	// Output: <nil>
}

func ExampleWatchdogInterval() {
	d, err := gracefd.WatchdogInterval()
	if err == nil && d > 0 {
		go func() {
			for range time.Tick(d / 2) {
				gracefd.Notify("WATCHDOG=1")
			}
		}()
	}
	fmt.Println(d, err)
	// Output: 0s <nil>
}

// Files over a connection of the program's own: here a socketpair.
func ExampleSendFiles() {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "pair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			log.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	a, b := conn(fds[0]), conn(fds[1])
	defer a.Close()
	defer b.Close()
	r, w, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go gracefd.SendFiles(ctx, a, []gracefd.NamedFile{{Name: "log writer", File: w}})
	got, err := gracefd.RecvFiles(ctx, b, 8)
	if err != nil {
		log.Fatal(err)
	}
	for _, nf := range got {
		fmt.Println(nf.Name)
		nf.File.(*os.File).Close()
	}
	// Output: log writer
}

func ExampleRecvFiles() {
	_, err := gracefd.RecvFiles(context.Background(), nil, 8)
	fmt.Println(errors.Is(err, syscall.EINVAL))
	// Output: true
}

func ExampleNamedFile() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	nf := gracefd.NamedFile{Name: "web", File: ln.(*net.TCPListener)}
	fmt.Println(nf.Name)
	// Output: web
}

// The old instance serves its sockets at a path until a new one (started
// by a supervisor) takes them and is ready; here nobody comes in time.
func ExampleServeHandoff() {
	dir, err := os.MkdirTemp("", "handoff")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = gracefd.ServeHandoff(ctx, dir+"/app.sock")
	fmt.Println(err == context.DeadlineExceeded)
	// Output: true
}

// The new instance takes them before listening, then Listen finds each by
// name; here nobody serves at the path.
func ExampleTakeHandoff() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := gracefd.TakeHandoff(ctx, "/nonexistent/app.sock")
	fmt.Println(errors.Is(err, syscall.ENOENT))
	// Output: true
}

// A non-blocking upgrade: the outcome arrives on a channel. Here the new
// "generation" cannot be executed, so the outcome is ENOEXEC.
func ExampleStartUpgrade() {
	p, err := gracefd.StartUpgrade(&gracefd.UpgradeOptions{Path: "/nonexistent/app", Args: []string{"app"}})
	if err != nil {
		log.Fatal(err)
	}
	select {
	case <-p.Done():
		_, err := p.Result()
		fmt.Println(errors.Is(err, syscall.ENOEXEC))
	case <-time.After(10 * time.Second):
		p.Cancel()
	}
	// Output: true
}

// An upgrade bounded by a context: a new generation that is not ready in
// time is killed and reaped. (/bin/sleep never calls Ready.)
func ExampleUpgradeContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := gracefd.UpgradeContext(ctx, &gracefd.UpgradeOptions{Path: "/bin/sleep", Args: []string{"sleep", "10"}})
	fmt.Println(errors.Is(err, syscall.ECANCELED), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

func ExamplePendingUpgrade() {
	p, err := gracefd.StartUpgrade(&gracefd.UpgradeOptions{Path: "/bin/sleep", Args: []string{"sleep", "10"}})
	if err != nil {
		log.Fatal(err)
	}
	_, err = p.Cancel() // shutting down after all
	fmt.Println(errors.Is(err, syscall.ECANCELED))
	// Output: true
}

func ExampleUpgradeOptions() {
	opts := &gracefd.UpgradeOptions{
		Path:       "/usr/local/bin/app", // the new binary (default: this program's own)
		Args:       []string{"app", "--config", "/etc/app/new.toml"},
		Env:        []string{"APP_MODE=canary"},
		Timeout:    15 * time.Second,
		KillSignal: syscall.SIGINT,
	}
	fmt.Println(len(opts.Args))
	// Output: 3
}

func ExampleEvent() {
	fmt.Println(gracefd.EventUpgrade, gracefd.EventShutdown, gracefd.EventDrain)
	// Output: upgrade shutdown drain
}

func ExampleDaemonOptions() {
	opts := &gracefd.DaemonOptions{PidFile: "/run/app.pid", LogFile: "/var/log/app.log", Timeout: 10 * time.Second}
	fmt.Println(opts.Mode == gracefd.DaemonReexec)
	// Output: true
}

func ExampleDaemonMode() {
	fmt.Println(gracefd.DaemonReexec == 0)
	// Output: true
}

func ExamplePendingUpgrade_Done() {
	p, err := gracefd.StartUpgrade(&gracefd.UpgradeOptions{Path: "/bin/false", Args: []string{"false"}})
	if err != nil {
		log.Fatal(err)
	}
	<-p.Done() // or in a select beside the program's other channels
	_, err = p.Result()
	fmt.Println(errors.Is(err, syscall.ECHILD)) // it exited before it was ready
	// Output: true
}

func ExamplePendingUpgrade_Result() {
	p, err := gracefd.StartUpgrade(&gracefd.UpgradeOptions{Path: "/bin/sleep", Args: []string{"sleep", "10"}})
	if err != nil {
		log.Fatal(err)
	}
	pid, err := p.Result() // not over yet
	fmt.Println(pid, err)
	p.Cancel()
	// Output: 0 <nil>
}

func ExamplePendingUpgrade_Cancel() {
	p, err := gracefd.StartUpgrade(&gracefd.UpgradeOptions{Path: "/bin/sleep", Args: []string{"sleep", "10"}})
	if err != nil {
		log.Fatal(err)
	}
	_, err = p.Cancel()
	var gerr *gracefd.Error
	errors.As(err, &gerr)
	fmt.Println(gerr.Errno == syscall.ECANCELED)
	// Output: true
}

func ExampleService() {
	// *http.Server is a Service (Serve and Shutdown); ServeHTTP drains it
	// more politely than Serve would.
	var _ gracefd.Service = &http.Server{}
	fmt.Println("ok")
	// Output: ok
}

func ExampleServiceFuncs_Serve() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ln.Close()
	s := gracefd.ServiceFuncs{ServeFunc: func(ln net.Listener) error { _, err := ln.Accept(); return err }}
	fmt.Println(s.Serve(ln) != nil)
	// Output: true
}

func ExampleServiceFuncs_Shutdown() {
	s := gracefd.ServiceFuncs{ShutdownFunc: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(s.Shutdown(ctx))
	// Output: context deadline exceeded
}

func ExampleEvent_String() {
	fmt.Println(gracefd.EventUpgrade.String())
	// Output: upgrade
}

func ExampleKind_String() {
	fmt.Println(gracefd.KindUDP.String())
	// Output: udp
}

func ExampleError_Unwrap() {
	_, err := gracefd.Listen("", "127.0.0.1:99999")
	fmt.Println(errors.Is(err, syscall.EINVAL), errors.Unwrap(err) == syscall.EINVAL)
	// Output: true true
}

func ExampleError_Error() {
	_, err := gracefd.Listen("", "127.0.0.1:99999")
	fmt.Println(err)
	// Output: gracefd: Listen: address "127.0.0.1:99999": port "99999" is above 65535 (invalid argument (EINVAL))
}
