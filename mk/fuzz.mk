# Fuzzing every parser of outside input with the in-tree harness
# (examples/fuzz-parsers.rs). `make fuzz FUZZ_SECONDS=600` for long runs;
# make check runs a short bounded round.
FUZZ_SECONDS ?= 60
FUZZ_BIN := target/release/examples/fuzz-parsers

$(FUZZ_BIN): $(RUST_SRC) examples/fuzz-parsers.rs
	$(CARGO) build --release --features cli-internals --example fuzz-parsers

.PHONY: fuzz check-fuzz
fuzz: $(FUZZ_BIN)
	$(FUZZ_BIN) --seconds $(FUZZ_SECONDS)

check-fuzz: $(FUZZ_BIN)
	$(FUZZ_BIN) --seconds 1
CHECK_TARGETS += check-fuzz
