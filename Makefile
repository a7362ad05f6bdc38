# gracefd — build, test, install. `make` builds everything into build/;
# `make check` runs every test (`make check-fast`: the core ones); `make demo`
# shows an upgrade under load.
# Per-feature rules live in mk/*.mk (one file per capability).

.DEFAULT_GOAL := all
SHELL := /bin/bash

CARGO   ?= cargo
CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
BUILD   := build
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

LIB       := $(BUILD)/lib/libgracefd.a
RUST_SRC  := $(shell find src -name '*.rs') Cargo.toml Cargo.lock build.rs
# What turns cargo's archive into the one installed (only the archive depends on it).
SLIM_TOOLS := tools/slim-archive.sh tools/split-strings.py tools/split-object.py
# The command is its own package (cli/) on top of the library.
CLI_SRC   := $(shell find cli/src -name '*.rs') cli/Cargo.toml
# The C face is compiled as strictly as users might compile it.
STRICT    := -std=c99 -Wall -Wextra -Wpedantic -Werror
CFLAGS    ?= -O2 -g
CPPFLAGS  += -Iinclude
# What a C program needs to link libgracefd.a: nothing beyond libc.
LDLIBS_GRACEFD := $(LIB)

# Separate target dirs: the archive (no_std + ffi), the std crate and the
# header generator use different features and must not rebuild each other.
FFI_TARGET    := target/ffi
HEADER_TARGET := target/header

C_EXAMPLES := $(patsubst c-examples/%.c,$(BUILD)/bin/%,$(wildcard c-examples/*.c))
FFI_TEST_SRC := $(wildcard ffi-tests/t_*.c) ffi-tests/harness.c
FFI_TEST_HDR := $(wildcard ffi-tests/*.h)

# mk/*.mk append to these.
ALL_TARGETS   := $(LIB) $(BUILD)/bin/gracefd $(C_EXAMPLES) $(BUILD)/bin/ffi-tests
CHECK_TARGETS :=

.PHONY: all lib cli header check check-all check-fast check-fast-all install clean demo bench prereqs-demo prereqs-check \
        check-rust check-clippy check-nostd check-header check-symbols check-ffi check-cpp check-pkgconfig

-include $(sort $(wildcard mk/*.mk))

all: $(ALL_TARGETS)
lib: $(LIB)
cli: $(BUILD)/bin/gracefd

$(LIB): $(RUST_SRC) $(SLIM_TOOLS)
	CARGO_TARGET_DIR=$(FFI_TARGET) $(CARGO) rustc --profile ffi --lib --no-default-features --features ffi --crate-type staticlib
	@mkdir -p $(@D)
	cp $(FFI_TARGET)/ffi/libgracefd.a $@.tmp
	tools/slim-archive.sh $@.tmp
	mv $@.tmp $@

# The command is linked statically (glibc's crt-static): a supervisor that
# maps no shared libraries stays under 2 MiB resident and starts without the
# dynamic loader (docs/performance.md, "The supervisor's memory"). User and
# group names then resolve from /etc/passwd and /etc/group directly; other NSS
# sources (LDAP, nss-systemd) need the glibc it was built with at run time,
# which is why the linker warns about getpwnam_r. CLI_LINK=dynamic links it
# the usual way.
CLI_LINK ?= static
CLI_RUSTFLAGS := $(if $(filter static,$(CLI_LINK)),-C target-feature=+crt-static)
# Stamps rewritten only when CLI_LINK or EXAMPLES_LINK changes, so that
# switching relinks what depends on them.
LINK_cli = $(CLI_LINK)
LINK_examples = $(EXAMPLES_LINK)
$(BUILD)/%-link: FORCE
	@mkdir -p $(@D)
	@echo '$(LINK_$*)' | cmp -s - $@ || echo '$(LINK_$*)' > $@
FORCE:
$(BUILD)/bin/gracefd: $(RUST_SRC) $(CLI_SRC) $(BUILD)/cli-link
	$(CARGO) rustc --release -p gracefd-cli --bin gracefd -- $(CLI_RUSTFLAGS)
	@mkdir -p $(@D)
	cp target/release/gracefd $@

# The C examples are linked statically by default, as Go links its programs
# and as the command is: without the dynamic loader a process starts about
# 0.15 ms sooner here, and an upgrade is a process start (docs/performance.md,
# "Where the time of an upgrade goes"). The library is the same either way;
# the C harness and the pkg-config check link it dynamically.
# EXAMPLES_LINK=dynamic links them the usual way.
EXAMPLES_LINK ?= static
EXAMPLES_LDFLAGS := $(if $(filter static,$(EXAMPLES_LINK)),-static)

# A static link warns that glibc's user and group lookups (the daemonizer's
# --user) need glibc's own NSS modules at run time for sources other than the
# files (said above): after a link that succeeded, those two lines per lookup
# are left out of the output and every other message is shown; after one that
# failed, everything is (the linker's "in function" line then locates the error).
STATIC_NSS_NOTE := -e 'in statically linked applications requires at runtime' -e ': in function `gracefd'
$(BUILD)/bin/%: c-examples/%.c include/gracefd.h $(LIB) $(wildcard c-examples/*.h) $(BUILD)/examples-link
	@mkdir -p $(@D)
	@echo '$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) $(EXAMPLES_LDFLAGS) -o $@ $< $(LDLIBS_GRACEFD)'
	@$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) $(EXAMPLES_LDFLAGS) -o $@ $< $(LDLIBS_GRACEFD) 2> $@.stderr; \
	  st=$$?; if [ $$st = 0 ]; then grep -v $(STATIC_NSS_NOTE) $@.stderr; else cat $@.stderr; fi >&2; \
	  rm -f $@.stderr; exit $$st

$(BUILD)/bin/ffi-tests: $(FFI_TEST_SRC) $(FFI_TEST_HDR) include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) -DCARGO_VERSION='"$(VERSION)"' -o $@ $(FFI_TEST_SRC) $(LDLIBS_GRACEFD)

# Regenerate the committed header from the doc comments in src/ffi.
header:
	CARGO_TARGET_DIR=$(HEADER_TARGET) $(CARGO) build --lib --features header

# The front door: `make check` and `make demo` first check (and, as root with
# apt-get, install) what they need — tools/prereqs.sh holds the one list.
# Then a sub-make does the work, so that even with -j nothing is built
# before the prerequisites are there.
prereqs-demo:
	tools/prereqs.sh demo
prereqs-check:
	tools/prereqs.sh check

check: prereqs-check
	@$(MAKE) --no-print-directory check-all

check-all: check-rust check-clippy check-nostd check-header check-symbols check-ffi check-cpp check-pkgconfig $(CHECK_TARGETS)
	@echo "make check: all checks passed"

# The fast tier, beside the full one: the Rust tests, the C harness, header
# drift and the test map (about a minute once built).
check-fast: prereqs-check
	@$(MAKE) --no-print-directory check-fast-all

check-fast-all: check-rust check-ffi check-header check-test-map
	@echo "make check-fast: all checks passed"

# The library's optional faces (tokio, log) are tested and linted too; with
# ffi, clippy sees every face of the core, so dead code there is caught.
RUST_FACES := --features gracefd/tokio,gracefd/log

check-rust:
	$(CARGO) test --workspace --all-targets $(RUST_FACES)
	$(CARGO) test --doc -p gracefd $(RUST_FACES)

check-clippy:
	$(CARGO) clippy --workspace --all-targets $(RUST_FACES),gracefd/ffi -- -D warnings
	CARGO_TARGET_DIR=$(FFI_TARGET) $(CARGO) clippy --lib --no-default-features --features ffi -- -D warnings

# The core as a `#![no_std]` user gets it: built, and its unit tests run
# without the std feature (code behind `feature = "std"` is absent there).
check-nostd:
	CARGO_TARGET_DIR=target/nostd $(CARGO) build --lib --no-default-features
	CARGO_TARGET_DIR=target/nostd $(CARGO) test --lib --no-default-features

# The committed header must be exactly what cbindgen generates now.
check-header:
	@mkdir -p $(BUILD)
	rm -f $(BUILD)/gracefd.h.fresh
	GRACEFD_HEADER_OUT=$(abspath $(BUILD)/gracefd.h.fresh) CARGO_TARGET_DIR=$(HEADER_TARGET) $(CARGO) build --lib --features header
	diff -u include/gracefd.h $(BUILD)/gracefd.h.fresh || { echo "include/gracefd.h is stale: run 'make header' and commit it"; exit 1; }

# The archive exports gracefd_* and, besides, only the compiler runtime's own
# builtins (compiler-rt's __* helpers); no std, no Rust-mangled globals.
check-symbols: $(LIB)
	tools/check-symbols.sh $(LIB)
	CC=$(CC) tools/check-opt-in.sh $(LIB)

check-ffi: $(BUILD)/bin/ffi-tests
	$(BUILD)/bin/ffi-tests

check-cpp:
	@mkdir -p $(BUILD)
	$(CXX) -std=c++11 -Wall -Wextra -Wpedantic -Werror $(CPPFLAGS) -c ffi-tests/cpp_header.cpp -o $(BUILD)/cpp_header.o

check-pkgconfig: $(LIB)
	tools/check-pkgconfig.sh

install: $(LIB) $(BUILD)/bin/gracefd
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 0644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libgracefd.a
	install -m 0644 include/gracefd.h $(DESTDIR)$(PREFIX)/include/gracefd.h
	install -m 0755 $(BUILD)/bin/gracefd $(DESTDIR)$(PREFIX)/bin/gracefd
	$(call gracefd_pc,$(PREFIX),$${prefix}/lib,$${prefix}/include) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gracefd.pc

clean:
	rm -rf $(BUILD)
	$(CARGO) clean
