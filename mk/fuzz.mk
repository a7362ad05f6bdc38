# Fuzzing every parser and frame decoder of outside input.
#
# fuzz/ is a separate crate (its own workspace): 16 targets over src/proto,
# a committed seed corpus per target (fuzz/corpus/<target>/) and a dictionary
# (fuzz/gracefd.dict). See docs/testing.md.
#
#   make fuzz          coverage-guided campaign with cargo-afl (AFL++, stable
#                      Rust): FUZZ_SECONDS per target, FUZZ_JOBS at a time,
#                      output in FUZZ_OUT; prints execs, edges, crashes per target
#   make fuzz-merge    copies the campaign's finds into fuzz/corpus (to commit)
#   make check-fuzz    replays the corpus through a plain build of the same
#                      target functions (no AFL++ needed), then a short round of
#                      the in-tree mutation harness (examples/fuzz-parsers.rs)
FUZZ_SECONDS ?= 600
FUZZ_JOBS    ?= 2
FUZZ_OUT     ?= target/fuzz-out
FUZZ_BIN     := target/release/examples/fuzz-parsers
FUZZ_REPLAY  := target/fuzz-replay/release/replay
FUZZ_SRC     := $(shell find fuzz/src fuzz/targets -name '*.rs') fuzz/Cargo.toml fuzz/Cargo.lock

$(FUZZ_BIN): $(RUST_SRC) examples/fuzz-parsers.rs
	$(CARGO) build --release --features cli-internals --example fuzz-parsers

$(FUZZ_REPLAY): $(RUST_SRC) $(FUZZ_SRC)
	cd fuzz && CARGO_TARGET_DIR=../target/fuzz-replay $(CARGO) build --release --bin replay

.PHONY: fuzz check-fuzz fuzz-stats fuzz-merge
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_OUT=$(FUZZ_OUT) tools/fuzz-campaign.sh

fuzz-stats:
	tools/fuzz-stats.sh $(FUZZ_OUT)

# Copy what a campaign found (AFL++'s queues) into fuzz/corpus, to commit.
fuzz-merge:
	tools/fuzz-merge-corpus.sh $(FUZZ_OUT)

check-fuzz: $(FUZZ_REPLAY) $(FUZZ_BIN)
	$(FUZZ_REPLAY) fuzz/corpus
	$(FUZZ_BIN) --seconds 1
CHECK_TARGETS += check-fuzz
