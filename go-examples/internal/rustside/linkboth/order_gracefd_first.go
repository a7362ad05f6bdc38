//go:build gracefd_rustside && gracefd_order_b

package main

// libgracefd.a comes first on the link line (named here once more, before
// the Rust std archive); package gracefd names it again later, which is
// harmless for an archive.

// #cgo LDFLAGS: ${SRCDIR}/../../../../build/lib/libgracefd.a ${SRCDIR}/../../../../build/go-rustside/release/librustside.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
import "C"
