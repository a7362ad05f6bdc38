# The Rust face: doc examples, docs without warnings, a #![no_std]
# consumer of the core, and the two Rust example servers upgraded under load.

RUST_EXAMPLE_SERVERS := target/debug/examples/httpd target/debug/examples/tokio-httpd
NOSTD_CONSUMER       := tests/nostd-consumer/Cargo.toml

.PHONY: check-rust-api rust-examples
CHECK_TARGETS += check-rust-api

rust-examples: $(RUST_EXAMPLE_SERVERS)
target/debug/examples/%: examples/%.rs $(wildcard examples/http/*.rs) $(RUST_SRC)
	$(CARGO) build --example $*

# The doc examples run in check-rust (`cargo test --doc`), not twice.
check-rust-api: $(LOADGEN) $(RUST_EXAMPLE_SERVERS)
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --lib
	CARGO_TARGET_DIR=target/nostd-consumer $(CARGO) build --locked --manifest-path $(NOSTD_CONSUMER)
	@# It must get the core without std: no feature of gracefd is enabled.
	@if $(CARGO) tree --manifest-path $(NOSTD_CONSUMER) -e features -i gracefd | grep -q 'gracefd feature'; then \
	  echo "tests/nostd-consumer: gracefd is built with features (std?); it must have none"; exit 1; fi
	tools/test-rust-examples.sh $(LOADGEN) $(RUST_EXAMPLE_SERVERS)
