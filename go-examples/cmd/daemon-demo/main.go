// daemon-demo: an HTTP server daemonized by a blank import, before the Go
// runtime starts:
//
//	GRACEFD_DAEMONIZE=1 GRACEFD_DAEMONIZE_PIDFILE=/tmp/demo.pid \
//	    daemon-demo -listen 127.0.0.1:8080 && echo "it is up"
//
// Without GRACEFD_DAEMONIZE=1 it runs in the foreground.
package main

import (
	"flag"
	"os"

	"github.com/gracefd/gracefd/go-examples/internal/demoserver"
	_ "github.com/gracefd/gracefd/go/daemonize"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	addrFile := flag.String("addr-file", "", "write the bound address here before reporting ready")
	flag.Parse()
	os.Exit(demoserver.Run(*listen, *addrFile))
}
