package daemonize_test

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/gracefd/gracefd/go"
	_ "github.com/gracefd/gracefd/go/daemonize"
)

// A server that daemonizes when started with GRACEFD_DAEMONIZE=1 (and, say,
// GRACEFD_DAEMONIZE_PIDFILE=/run/app.pid) and runs in the foreground
// otherwise. By the time main runs in a daemon, the launcher is waiting:
// Ready makes it exit 0, Fail makes it print the message and exit with the
// status.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		gracefd.Fail(3, err.Error())
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	gracefd.Ready()
	http.Serve(ln, http.NotFoundHandler())
	gracefd.RemovePidFile() // at clean exit, if it still names us
}
