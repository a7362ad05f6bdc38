/work/wt/integ/fuzz/target/debug/deps/replay-c430f2f92c654a89.d: src/bin/replay.rs

/work/wt/integ/fuzz/target/debug/deps/replay-c430f2f92c654a89: src/bin/replay.rs

src/bin/replay.rs:

# env-dep:CARGO_MANIFEST_DIR=/work/wt/integ/fuzz
