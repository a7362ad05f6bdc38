# Go: the library module go/ (github.com/gracefd/gracefd/go,
# package gracefd), the examples module go-examples/ (build/bin/go-httpd, the
# daemon demos), and `make check-go` (go vet + go test over both, and the
# consumer-module test). Go is required, like every other tool of the checks:
# without it the build fails, it never skips.
#
# cgo finds the C library through `#cgo pkg-config: gracefd`; here that is
# build/pkgconfig/gracefd.pc (mk/pkgconfig.mk), which names this tree's
# include/ and build/lib. It carries build_id, a hash of the archive; Go's
# build cache does not look at pkg-config's output, but it does key on
# CGO_CPPFLAGS: a define with the hash there makes a rebuilt library seen
# without -a (tools/test-go-consumer.sh tests it).

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GO_HTTPD := $(BUILD)/bin/go-httpd
GO_SRC := go/go.mod go-examples/go.mod \
  $(shell find go go-examples -name '*.go' -o -name '*.c' -o -name '*.h' -o -name '*.rs' -o -name 'Cargo.toml')
GO_PKG_CONFIG_PATH := $(abspath $(BUILD)/pkgconfig)
# Evaluated when a recipe runs, after the .pc is written.
GO_ENV = GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=1 PKG_CONFIG_PATH=$(GO_PKG_CONFIG_PATH) \
  CGO_CPPFLAGS=-DGRACEFD_BUILD_ID=$(shell PKG_CONFIG_PATH=$(GO_PKG_CONFIG_PATH) pkg-config --variable=build_id gracefd)

.PHONY: go-check-tool check-go check-go-consumer
go-check-tool:
	@$(GO) version >/dev/null 2>&1 || { echo "go is needed (looked for '$(GO)'; set GO=/path/to/go): Go is not optional"; exit 1; }

# go-httpd is linked statically: every upgrade execs it, and a dynamically
# linked cgo binary pays the loader (mapping libc, relocations) in each new
# generation before the Go runtime starts; under load that was about 1 ms of
# the new generation's start (docs/go.md, "Speed against tableflip"). netgo
# and osusergo keep the name lookups in Go, so nothing needs glibc's NSS at
# run time. The linker warns that libgracefd's daemonize code calls
# getpwnam_r and friends: they are only reached for DaemonOptions' user and
# group switch, which go-httpd does not offer.
GO_HTTPD_FLAGS := -tags netgo,osusergo -ldflags '-linkmode external -extldflags -static'

$(GO_HTTPD): $(GO_SRC) $(BUILD)/pkgconfig/gracefd.pc | go-check-tool
	@mkdir -p $(@D)
	cd go-examples && $(GO_ENV) $(GO) build $(GO_HTTPD_FLAGS) -o ../$@ ./cmd/httpd

ALL_TARGETS += $(GO_HTTPD)

# The tests use the binaries make built (the 20 upgrades under load need
# both); the Rust-beside-Rust link test builds its own staticlib with cargo
# into build/go-rustside. Tags: gracefd_rustside is the program of that test.
GO_TEST_ENV = $(GO_ENV) GRACEFD_GO_HTTPD=$(abspath $(GO_HTTPD)) GRACEFD_LOADGEN=$(abspath $(BUILD)/bin/loadgen) \
  GRACEFD_GO=$(GO) CARGO="$(CARGO)"
check-go: $(BUILD)/pkgconfig/gracefd.pc $(GO_HTTPD) $(BUILD)/bin/loadgen | go-check-tool
	cd go && $(GO_ENV) $(GO) vet ./...
	cd go-examples && $(GO_ENV) $(GO) vet ./...
	cd go-examples && $(GO_ENV) $(GO) vet -tags gracefd_rustside ./...
	cd go && $(GO_TEST_ENV) $(GO) test -count=1 -timeout 600s ./...
	cd go-examples && $(GO_TEST_ENV) $(GO) test -count=1 -timeout 600s ./...

# A module outside the tree that imports the package by its module path,
# against a `make install PREFIX=<tmp>`: see tools/test-go-consumer.sh.
check-go-consumer: $(LIB) $(BUILD)/bin/gracefd $(BUILD)/bin/loadgen | go-check-tool
	GO=$(GO) tools/test-go-consumer.sh

CHECK_TARGETS += check-go check-go-consumer

# go-httpd against the same server on tableflip, alone (the full comparison
# is `make bench`): ROUNDS interleaved rounds, medians and ratios.
.PHONY: bench-go
bench-go: $(GO_HTTPD) $(BUILD)/bin/tableflip-httpd $(BUILD)/bin/loadgen
	python3 -B bench/go_vs_tableflip.py
