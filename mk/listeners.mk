# Listening sockets: interop with peers nobody here wrote
# (systemd-socket-activate, Perl's start_server, a libsystemd child).
# Needs the Debian packages systemd, libserver-starter-perl, libsystemd-dev
# and pkg-config (.ci/run installs them); a missing one fails the check.

SD_LISTEN_CHILD := $(BUILD)/bin/sd-listen-child
EXPORT_EXEC     := target/debug/examples/export-exec

# Linked with libsystemd only: it must not know gracefd.
$(SD_LISTEN_CHILD): ffi-tests/sd_listen_child.c
	@mkdir -p $(@D)
	@pkg-config --exists libsystemd || { echo "libsystemd-dev (and pkg-config) are needed: apt-get install libsystemd-dev pkg-config"; exit 1; }
	$(CC) $(STRICT) $(CFLAGS) -o $@ $< $$(pkg-config --cflags --libs libsystemd)

# Test tool: listens through the registry and execs a child with its export.
$(EXPORT_EXEC): $(RUST_SRC) examples/export-exec.rs
	$(CARGO) build --features cli-internals --example export-exec

check-listeners: $(BUILD)/bin/echo-names $(SD_LISTEN_CHILD) $(EXPORT_EXEC)
	ffi-tests/interop-listeners.sh $(abspath $(BUILD)/bin/echo-names) $(abspath $(SD_LISTEN_CHILD)) $(abspath $(EXPORT_EXEC))

CHECK_TARGETS += check-listeners
.PHONY: check-listeners
