// daemon-demo-reexec: an HTTP server that daemonizes itself from ordinary Go
// code (gracefd.Daemonize, re-exec mode):
//
//	daemon-demo-reexec -pid-file /tmp/demo.pid -listen 127.0.0.1:8080 && echo "it is up"
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"syscall"

	"github.com/gracefd/gracefd/go"
	"github.com/gracefd/gracefd/go-examples/internal/demoserver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	addrFile := flag.String("addr-file", "", "write the bound address here before reporting ready")
	pidFile := flag.String("pid-file", "", "locked pid file")
	logFile := flag.String("log-file", "", "stdout and stderr of the daemon (default /dev/null)")
	flag.Parse()
	// First thing: in the daemon this code runs a second time.
	if err := gracefd.Daemonize(&gracefd.DaemonOptions{PidFile: *pidFile, LogFile: *logFile}); err != nil {
		fmt.Fprintf(os.Stderr, "daemon-demo-reexec: %v\n", err)
		if errors.Is(err, syscall.EEXIST) {
			os.Exit(gracefd.ExitAlreadyRunning)
		}
		os.Exit(1)
	}
	os.Exit(demoserver.Run(*listen, *addrFile))
}
