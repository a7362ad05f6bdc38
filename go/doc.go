// Package gracefd is the Go face of libgracefd, the Unix server lifecycle
// written once in Rust and exported as a C ABI (include/gracefd.h): inherit
// listening sockets from whoever started the program (systemd socket
// activation, Server::Starter's start_server, the gracefd superdaemon, or an
// older generation of itself), upgrade to a new binary with zero dropped
// connections, and talk to systemd (sd_notify). It is a thin cgo wrapper:
// C, Go and Rust programs share one implementation.
//
// # Building
//
// The package is the module github.com/gracefd/gracefd/go. It links the C
// library the way Go programs link a system library: `#cgo pkg-config:
// gracefd`. Install the library first (`make install PREFIX=$HOME/.local`
// in the repository) and point pkg-config at it
// (PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig); in the repository itself,
// `make` writes build/pkgconfig/gracefd.pc, which names the tree's include/
// and build/lib, so no install is needed there.
//
// Go's build cache does not notice a rebuilt or reinstalled library: it
// keys a cgo package on its #cgo lines and the CGO_* environment variables,
// not on what pkg-config prints, nor on the archive. The .pc file carries a
// hash of the library as the variable build_id; put it in CGO_CPPFLAGS and
// a plain `go build` sees every new library:
//
//	export CGO_CPPFLAGS="-DGRACEFD_BUILD_ID=$(pkg-config --variable=build_id gracefd)"
//
// # A server in a few lines
//
//	ln, err := gracefd.Listen("http", ":8080")           // inherited, or bound
//	srv := &http.Server{Handler: h}
//	err = gracefd.ServeHTTP(ctx, srv, []net.Listener{ln}, nil) // until drained
//
// [ServeHTTP] calls [Ready], upgrades on SIGHUP or SIGUSR2 (and keeps serving
// if the new generation fails), drains without losing a request once the
// new generation is ready or on SIGTERM/SIGINT, and returns when the drain is
// over. [Serve] does the same for any other server with Serve(net.Listener)
// and a graceful Shutdown.
//
// # The calls underneath
//
//	ln, err := gracefd.Listen("http", "127.0.0.1:8080") // inherited, or bound
//	go http.Serve(ln, handler)
//	gracefd.Ready()                                      // tell whoever waits
//	pid, err := gracefd.Upgrade(nil)                     // on SIGHUP: hand over, then drain and exit
//
// [Listen] returns the socket inherited under that name (or, for an unnamed
// inherited socket, the one bound to that address) and binds a new one
// otherwise, so one binary runs unchanged by hand, under systemd, under
// start_server and after an upgrade. [Upgrade] starts the new generation with
// every registered socket, waits until it calls [Ready], and returns its pid;
// if the new generation fails in any way it is killed (with what it forked: it
// leads a process group of its own, except in a terminal's foreground job), the error says why, and
// nothing of the running process has changed ([StartUpgrade] and
// [UpgradeContext] do it without blocking, or bounded by a context).
// [Events] turns SIGHUP/SIGUSR2 and SIGTERM/SIGINT into a channel of
// requests. [ListenOptions].Control sets socket options before bind, like
// net.ListenConfig.Control. [ServeHandoff] and [TakeHandoff] hand the
// sockets to a new instance started by a supervisor; [SendFiles] and
// [RecvFiles] send named files over a connection of the program's own.
//
// # Errors
//
// Every failure is an [*Error]: the errno (the C function returned -errno)
// and the library's one-line detail, captured on the same OS thread as the
// failing call. It unwraps to [syscall.Errno]:
//
//	ln, err := gracefd.Listen("web", "127.0.0.1:99999")
//	// err.Error(): gracefd: Listen: address "127.0.0.1:99999": port "99999" is above 65535 (invalid argument (EINVAL))
//	errors.Is(err, syscall.EINVAL) // true
//	var gerr *gracefd.Error
//	errors.As(err, &gerr)          // gerr.Detail is the library's text
//
// # Blocking mode
//
// O_NONBLOCK belongs to a socket's open file description, which every
// duplicate of the fd and every process holding the socket share: setting it
// in one process sets it for all of them (an old generation still serving, a
// supervisor holding the socket). The library never changes it unless asked
// (docs/architecture.md, "Rules"). This is what the Go face does, and why:
//
//   - A net.Listener needs a non-blocking socket: Go's poller accepts until
//     EAGAIN. net.FileListener and net.FilePacketConn set O_NONBLOCK
//     themselves (on their duplicate, that is, on the shared socket), so an
//     inherited socket that was blocking becomes non-blocking for every
//     process that holds it; the package tests show this with a blocking
//     socket inherited through LISTEN_FDS. There is no way around it: a
//     socket cannot be re-opened into a private open file description.
//     So [Listen] and [ListenPacket] ask the library for a non-blocking
//     socket explicitly (gracefd_listen_opts_set_nonblocking), and Go
//     listeners are non-blocking, in every process that shares them.
//     Other gracefd generations (C or Go) poll before accepting and take
//     EAGAIN in their stride, so this is harmless among them; a program that
//     shares the socket and relies on a blocking accept(2) would get EAGAIN
//     instead of waiting, and must not share a socket with a Go generation.
//   - [Inherited], [Files] and [AddFile] leave the mode alone: an *os.File
//     made by os.NewFile keeps the mode the socket has, and AddFile reads the
//     fd through SyscallConn().Control.
//   - Never call Fd() on the *os.File of a shared socket that came from
//     net (ln.(*net.TCPListener).File(), conn.File()): for those Go switches
//     the socket to blocking mode, which then holds for every process,
//     including this one's own listener, whose Accept then ties up an OS
//     thread and cannot be interrupted by Close. Use SyscallConn().Control
//     to read an fd, or [AddFile] to hand a listener down. (Fd() on an
//     *os.File made by os.NewFile from a non-blocking fd, as this package
//     does, leaves it non-blocking; the package tests pin both behaviours.)
//
// # Threads, fork and signals
//
// Every function may be called from any goroutine. [Upgrade] forks from the
// calling thread and runs only async-signal-safe code in the child before
// exec, which is safe in a multi-threaded Go program; it blocks the calling
// goroutine (and the OS thread under it) until the outcome. The library reads
// the environment and argv once, from an ELF constructor that runs before the
// Go runtime starts: os.Setenv later does not change what it sees, nor what a
// new generation inherits (use [UpgradeOptions].Env). Signals are Go's: use
// [Events] or os/signal, never gracefd_signals_install through cgo (it would
// replace the Go runtime's handlers).
//
// # systemd
//
// [Ready] sends READY=1 (and MAINPID in a new generation); [Notify],
// [NotifyReloading], [NotifyStopping], [NotifyStatus], [NotifyBarrier],
// [NotifyWithFiles] and [WatchdogInterval] cover the rest of sd_notify(3).
// Without NOTIFY_SOCKET each is a no-op returning nil (arguments are still
// checked). After an upgrade, the old generation has already told systemd
// MAINPID=<new pid> (and waited for it to be read) when [Upgrade] returns.
//
// # Daemonizing
//
// A Go program cannot fork itself into a daemon (the runtime is
// multi-threaded, and a forked child keeps only one thread and every lock
// the others held). [Daemonize] re-executes the program as the daemon
// instead, and the launching process waits and exits with the truth: 0 once
// the daemon called [Ready], the daemon's status if it called [Fail], or one
// of [ExitDied], [ExitTimeout], [ExitSetup], [ExitLost], with the reason on
// its stderr. Call it first thing in main (its code before the call runs
// again in the daemon) and open listeners after it:
//
//	err := gracefd.Daemonize(&gracefd.DaemonOptions{PidFile: "/run/app.pid", LogFile: "/var/log/app.log"})
//	if errors.Is(err, syscall.EEXIST) { // "already running as pid N"
//		fmt.Fprintln(os.Stderr, err)
//		os.Exit(gracefd.ExitAlreadyRunning)
//	}
//	// the daemon: Listen, then Ready (or Fail and exit); RemovePidFile at clean exit
//
// [CreatePidFile] gives the same locked pid file to a program that runs in
// the foreground, and [RemovePidFile] removes either at clean exit if it
// still names this process (after an upgrade it names the new generation).
// The blank-import package github.com/gracefd/gracefd/go/daemonize
// daemonizes before the Go runtime starts instead, when the environment says
// GRACEFD_DAEMONIZE=1 (its documentation lists the variables).
package gracefd
