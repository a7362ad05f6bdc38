# Daemonize (issue 3): the C example run for real, the Go daemonize examples,
# and the launch-to-ready figure (`make bench-daemonize`, not a test).

# The daemonize tests run the role with 4 pthreads (re-exec from a threaded process).
$(BUILD)/bin/ffi-tests: LDLIBS_GRACEFD += -pthread

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
# cgo does not notice a changed libgracefd.a on its own: a stamp of the archive
# in CGO_CFLAGS makes the Go build cache rebuild and relink when it changes.
GO_ENV = GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=1 \
         CGO_CFLAGS="-O2 -g -DGRACEFD_LIB_STAMP=$$(sha1sum $(abspath $(LIB)) | cut -c1-16)"

CHECK_TARGETS += check-daemon-example check-go-daemon
.PHONY: check-daemon-example check-go-daemon bench-daemonize

check-daemon-example: $(BUILD)/bin/daemon-hello
	tools/check-daemon-example.sh $(BUILD)/bin/daemon-hello

# Fails (never skips) when Go or the archive is missing.
check-go-daemon: $(LIB)
	cd go-examples && $(GO_ENV) $(GO) vet ./... && $(GO_ENV) $(GO) test -count=1 ./...

bench-daemonize: $(BUILD)/bin/daemon-hello
	tools/bench-daemonize.sh $(BUILD)/bin/daemon-hello

bench: bench-daemonize
