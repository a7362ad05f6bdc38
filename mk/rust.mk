# The Rust face: doc examples, docs without warnings, a #![no_std]
# consumer of the core, and the three Rust example servers (threads, tokio,
# hyper) upgraded under load.

RUST_EXAMPLE_SERVERS := target/debug/examples/httpd target/debug/examples/tokio-httpd target/debug/examples/hyper-httpd
NOSTD_CONSUMER       := tests/nostd-consumer/Cargo.toml

.PHONY: check-rust-api check-rust-package check-rust-consumer rust-examples
CHECK_TARGETS += check-rust-api check-rust-package check-rust-consumer

rust-examples: $(RUST_EXAMPLE_SERVERS)
# The async servers are on the `tokio` feature (gracefd::tokio).
target/debug/examples/%: examples/%.rs $(wildcard examples/http/*.rs) $(RUST_SRC)
	$(CARGO) build --features tokio --example $*

# The doc examples run in check-rust (`cargo test --doc`), not twice.
check-rust-api: $(LOADGEN) $(RUST_EXAMPLE_SERVERS)
	@# Every feature documented; the header goes to a scratch file (the drift check owns include/).
	RUSTDOCFLAGS="-D warnings" GRACEFD_HEADER_OUT=$(abspath $(BUILD)/gracefd.h.doc) $(CARGO) doc --no-deps --all-features -p gracefd
	CARGO_TARGET_DIR=target/nostd-consumer $(CARGO) build --locked --manifest-path $(NOSTD_CONSUMER)
	@# It must get the core without std: no feature of gracefd is enabled.
	@if $(CARGO) tree --manifest-path $(NOSTD_CONSUMER) -e features -i gracefd | grep -q 'gracefd feature'; then \
	  echo "tests/nostd-consumer: gracefd is built with features (std?); it must have none"; exit 1; fi
	tools/test-rust-examples.sh $(LOADGEN) $(RUST_EXAMPLE_SERVERS)

# The crate as published: the exact file list, and `cargo publish --dry-run`.
check-rust-package:
	tools/check-package.sh $(CARGO)

# A crate outside the tree (path dependency, feature tokio) upgraded under load.
check-rust-consumer: $(LOADGEN)
	tools/test-consumer.sh $(LOADGEN) $(CARGO)
