//go:build gracefd_rustside && !gracefd_order_b

package main

// The Rust std archive comes first on the link line, libgracefd.a (from
// package gracefd) after it. The -l flags are the std archive's own
// (cargo's native-static-libs, without the implicit -lc).

// #cgo LDFLAGS: ${SRCDIR}/../../../../build/go-rustside/release/librustside.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
import "C"
