# Daemonize: the C example run for real, the Go daemonize examples,
# and the launch-to-ready figure (`make bench-daemonize`, not a test).

# The daemonize tests run the role with 4 pthreads (re-exec from a threaded process).
$(BUILD)/bin/ffi-tests: LDLIBS_GRACEFD += -pthread

# The Go daemonize tests (go-examples/daemontest) run with every other Go test
# in check-go (mk/go.mk).
CHECK_TARGETS += check-daemon-example
.PHONY: check-daemon-example bench-daemonize

check-daemon-example: $(BUILD)/bin/daemon-hello
	tools/check-daemon-example.sh $(BUILD)/bin/daemon-hello

bench-daemonize: $(BUILD)/bin/daemon-hello
	tools/bench-daemonize.sh $(BUILD)/bin/daemon-hello

bench: bench-daemonize
