//go:build gracefd_rustside

// Command linkboth links libgracefd.a (through package gracefd, whose #cgo
// lines add nothing but the archive) beside librustside.a, a Rust static
// library built with std, and uses both. The std archive needs its own
// native libraries (what `cargo rustc -- --print native-static-libs`
// prints); libgracefd.a needs none. Built and run by rustside_test.go, in
// both link orders (order_rust_first.go, order_gracefd_first.go).
package main

/*
#include <stdint.h>
#include <stdlib.h>
int64_t rustside_hello(const char *greeting, uint64_t n, char *out, size_t len);
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/gracefd/gracefd/go"
)

func main() {
	g := C.CString("hello")
	defer C.free(unsafe.Pointer(g))
	var buf [256]C.char
	if n := C.rustside_hello(g, 100, &buf[0], C.size_t(len(buf))); n < 0 {
		fmt.Println("rustside_hello failed")
		os.Exit(1)
	}
	fmt.Println(C.GoString(&buf[0]))

	ln, err := gracefd.Listen("both", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Printf("gracefd %s listening on %s\n", gracefd.Version(), ln.Addr().Network())
	_, err = gracefd.Listen("", "127.0.0.1:99999")
	fmt.Println(err)
}

// linkKey is set with -ldflags -X to a hash of librustside.a, so that Go's
// build cache relinks when it changes (it does not look at an archive named
// in #cgo LDFLAGS). libgracefd.a needs no such key: its pkg-config Cflags
// carry a hash of it (GRACEFD_BUILD_ID), and Go's cache keys on them.
var linkKey string

var _ = linkKey
