# Go: the cgo package go-examples/gracefd, build/bin/go-httpd, and
# `make check-go` (go vet + go test over go-examples/). Go is required, like
# every other tool of the checks: without it the build fails, it never skips.

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GO_HTTPD := $(BUILD)/bin/go-httpd
GO_SRC := go-examples/go.mod $(shell find go-examples -name '*.go' -o -name '*.c' -o -name '*.h' -o -name '*.rs' -o -name 'Cargo.toml')

# Go's build cache does not look at files named in #cgo lines outside the
# package directory: a rebuilt libgracefd.a or a changed gracefd.h would
# leave stale binaries behind. Key the cache on both: CGO_CPPFLAGS changes
# the compile keys (the header), -X the link keys (the archive). Evaluated
# when a recipe runs, after $(LIB) is built.
GO_KEY = $(shell cat $(LIB) include/gracefd.h | sha256sum | cut -c1-16)
GO_ENV = GOTOOLCHAIN=local CGO_ENABLED=1 CGO_CPPFLAGS="-DGRACEFD_BUILD_KEY=$(GO_KEY)"
GO_LDFLAGS = -ldflags=-X=gracefd.example/go-examples/gracefd.buildKey=$(GO_KEY)

.PHONY: go-check-tool check-go
go-check-tool:
	@$(GO) version >/dev/null 2>&1 || { echo "go is needed (looked for '$(GO)'; set GO=/path/to/go): Go is not optional"; exit 1; }

$(GO_HTTPD): $(GO_SRC) $(LIB) include/gracefd.h | go-check-tool
	@mkdir -p $(@D)
	cd go-examples && $(GO_ENV) $(GO) build $(GO_LDFLAGS) -o ../$@ ./cmd/httpd

ALL_TARGETS += $(GO_HTTPD)

# The tests use the binaries make built (the 20 upgrades under load need
# both); the Rust-beside-Rust link test builds its own staticlib with cargo
# into build/go-rustside. Tags: gracefd_rustside is the program of that test.
check-go: $(LIB) $(GO_HTTPD) $(BUILD)/bin/loadgen | go-check-tool
	cd go-examples && $(GO_ENV) $(GO) vet ./...
	cd go-examples && $(GO_ENV) $(GO) vet -tags gracefd_rustside ./...
	cd go-examples && $(GO_ENV) GRACEFD_GO_HTTPD=$(abspath $(GO_HTTPD)) GRACEFD_LOADGEN=$(abspath $(BUILD)/bin/loadgen) \
	  GRACEFD_GO=$(GO) CARGO="$(CARGO)" $(GO) test $(GO_LDFLAGS) -count=1 -timeout 600s ./...

CHECK_TARGETS += check-go
