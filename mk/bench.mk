# make bench: gracefd side by side with what users pick today.
# One bounded run (under 10 minutes; BENCH_QUICK=1: about a minute) that
# writes BENCHMARKS.md (quick mode: build/bench/BENCHMARKS-quick.md).
# Benchmarks are not tests: nothing here is part of make check.
#
#   bench/run.py            the run: sections in order, the time budget
#   bench/contenders.py     the upgrade contenders (one entry each)
#   bench/upgrade_round.py  one round of one contender under load
#   bench/zero_drain.py     httpd's polite drain vs --pass-connections, side by side
#   bench/micro.py          daemonize, size, requests/s with and without gracefd, hand-off
#   bench/report.py         statistics and BENCHMARKS.md
#   bench/procs.py          start, watch, stop and reap processes by pid
#   bench/ballast.py        cost against size: upgrades and re-exec daemonize of httpd --ballast
#   bench/nolib.c           httpd.c's gracefd calls done without gracefd (plain-httpd)
#   bench/compare.py        before/after: builds of httpd (and peers) in interleaved upgrade rounds
#   bench/phases.py         one upgrade phase by phase (perf tracepoints; needs linux-perf)
#   bench/spawn-floor.c     make bench-floor: posix_spawn -> main() of bench/floor-child.c
#   bench/tableflip-httpd/  the same server on cloudflare/tableflip (Go module)

.PHONY: bench-report bench-build bench-vet bench-ballast

BENCH_QUICK ?=
ifeq ($(BENCH_QUICK),1)
BENCH_RUNS ?= 5
endif

BENCH_GO     ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BENCH_GO_ENV := GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
TABLEFLIP_SRC := $(wildcard bench/tableflip-httpd/*.go) bench/tableflip-httpd/go.mod bench/tableflip-httpd/go.sum

# Contenders made by other mk files, built before the run when listed here
# (bench/contenders.py finds them by path, and says "not built" without them).
# The Go example (mk/go.mk).
BENCH_EXTRA_BINS ?= $(BUILD)/bin/go-httpd

BENCH_BINS := $(BUILD)/bin/httpd $(BUILD)/bin/loadgen $(BUILD)/bin/handoff-bench $(BUILD)/bin/gracefd \
              $(BUILD)/bin/plain-httpd $(BUILD)/bin/tableflip-httpd \
              $(BUILD)/bench/hello-gracefd $(BUILD)/bench/hello-plain $(BUILD)/bench/hello-gracefd-gc \
              $(BUILD)/bench/httpd.stripped $(BUILD)/bench/plain-httpd.stripped \
              $(BUILD)/bench/notify-gracefd-gc $(BUILD)/bench/httpd-gc.stripped \
              $(BUILD)/bench/lifecycle-gracefd $(BUILD)/bench/lifecycle-gracefd-gc $(BUILD)/bench/lifecycle-plain \
              $(BENCH_EXTRA_BINS)

bench: bench-report
bench-build: $(BENCH_BINS)

# Cost against size runs after the rest (it needs up to 8 GiB at its peak) and
# appends its section to the same report.
ifeq ($(BENCH_QUICK),1)
BENCH_OUT_FILE := $(BUILD)/bench/BENCHMARKS-quick.md
BALLAST_ARGS   := --sizes 10,1024 --daemonize-sizes 10 --rounds 3 --daemonize-runs 2
else
BENCH_OUT_FILE := BENCHMARKS.md
BALLAST_ARGS   :=
endif

bench-report: $(BENCH_BINS)
	BENCH_QUICK=$(BENCH_QUICK) python3 -B bench/run.py
	python3 -B bench/ballast.py $(BALLAST_ARGS) --out $(BENCH_OUT_FILE)

bench-ballast: $(BUILD)/bin/httpd
	python3 -B bench/ballast.py $(BALLAST_ARGS)

# c-examples/httpd.c linked without the library: bench/nolib.c stands in for
# it, so the serving loop is the same code with the same flags.
# Linked as build/bin/httpd is (EXAMPLES_LINK).
$(BUILD)/bin/plain-httpd: c-examples/httpd.c bench/nolib.c include/gracefd.h $(wildcard c-examples/*.h) $(BUILD)/examples-link
	@mkdir -p $(@D)
	$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) $(EXAMPLES_LDFLAGS) -o $@ c-examples/httpd.c bench/nolib.c

# What the archive adds to a stripped C program.
$(BUILD)/bench/hello-gracefd: bench/hello.c include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 $(CPPFLAGS) -DWITH_GRACEFD -o $@ $< $(LIB)
	strip $@
$(BUILD)/bench/hello-plain: bench/hello.c
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 -o $@ $<
	strip $@
# The same, linked with --gc-sections (the linker drops unreferenced sections).
$(BUILD)/bench/hello-gracefd-gc: bench/hello.c include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 $(CPPFLAGS) -DWITH_GRACEFD -o $@ $< $(LIB) -Wl,--gc-sections
	strip $@
# A program that only calls gracefd_notify(), with --gc-sections (compare
# with hello-plain).
$(BUILD)/bench/notify-gracefd-gc: bench/notify-only.c include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 $(CPPFLAGS) -o $@ $< $(LIB) -Wl,--gc-sections
	strip $@
# The C example linked with --gc-sections (compare with plain-httpd).
$(BUILD)/bench/httpd-gc.stripped: c-examples/httpd.c include/gracefd.h $(wildcard c-examples/*.h) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) -o $@ c-examples/httpd.c $(LIB) -Wl,--gc-sections
	strip $@
# A server using the lifecycle only (daemonize, listen, events, ready,
# upgrade, notify: no hand-off, no connection pass), default link and
# --gc-sections; its plain twin links bench/nolib.c instead of the library
# (--gc-sections there drops nolib.c's functions it does not call).
$(BUILD)/bench/lifecycle-gracefd: bench/lifecycle.c include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 $(CPPFLAGS) -o $@ $< $(LIB)
	strip $@
$(BUILD)/bench/lifecycle-gracefd-gc: bench/lifecycle.c include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 $(CPPFLAGS) -o $@ $< $(LIB) -Wl,--gc-sections
	strip $@
$(BUILD)/bench/lifecycle-plain: bench/lifecycle.c bench/nolib.c include/gracefd.h
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 $(CPPFLAGS) -ffunction-sections -o $@ bench/lifecycle.c bench/nolib.c -Wl,--gc-sections
	strip $@
# A real user of the library: the C example with and without it, stripped,
# both linked dynamically whatever EXAMPLES_LINK says: a static link would
# count the parts of libc the library calls as the library's bytes.
$(BUILD)/bench/httpd.stripped: c-examples/httpd.c include/gracefd.h $(wildcard c-examples/*.h) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) -o $@ c-examples/httpd.c $(LIB)
	strip $@
$(BUILD)/bench/plain-httpd.stripped: c-examples/httpd.c bench/nolib.c include/gracefd.h $(wildcard c-examples/*.h)
	@mkdir -p $(@D)
	$(CC) $(STRICT) $(CFLAGS) $(CPPFLAGS) -o $@ c-examples/httpd.c bench/nolib.c
	strip $@

# Pure Go (no cgo): tableflip needs nothing else. Modules come from the proxy.
$(BUILD)/bin/tableflip-httpd: $(TABLEFLIP_SRC)
	@mkdir -p $(@D)
	cd bench/tableflip-httpd && $(BENCH_GO_ENV) $(BENCH_GO) build -o $(abspath $@) .

bench-vet:
	cd bench/tableflip-httpd && $(BENCH_GO_ENV) $(BENCH_GO) vet ./...

# The floor under an upgrade's start of the new generation (bench/spawn-floor.c):
# posix_spawn -> main() of a child that does nothing else, built plain,
# static, and with libgracefd.a (its start-up constructor runs before main).
FLOOR_CHILDREN := $(BUILD)/bench/floor-plain $(BUILD)/bench/floor-static $(BUILD)/bench/floor-gracefd \
                  $(BUILD)/bench/floor-gracefd-gc
.PHONY: bench-floor
bench-floor: $(BUILD)/bench/spawn-floor $(FLOOR_CHILDREN)
	@for c in $(FLOOR_CHILDREN); do $(BUILD)/bench/spawn-floor 400 $$c || exit 1; done
$(BUILD)/bench/spawn-floor: bench/spawn-floor.c
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 -o $@ $<
$(BUILD)/bench/floor-plain: bench/floor-child.c
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 -o $@ $<
$(BUILD)/bench/floor-static: bench/floor-child.c
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 -static -o $@ $<
$(BUILD)/bench/floor-gracefd: bench/floor-child.c include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 $(CPPFLAGS) -DWITH_GRACEFD -o $@ $< $(LIB)
$(BUILD)/bench/floor-gracefd-gc: bench/floor-child.c include/gracefd.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(STRICT) -O2 $(CPPFLAGS) -DWITH_GRACEFD -o $@ $< $(LIB) -Wl,--gc-sections
