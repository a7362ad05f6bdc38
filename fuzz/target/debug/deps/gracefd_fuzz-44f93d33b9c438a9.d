/work/wt/integ/fuzz/target/debug/deps/gracefd_fuzz-44f93d33b9c438a9.d: src/lib.rs

/work/wt/integ/fuzz/target/debug/deps/libgracefd_fuzz-44f93d33b9c438a9.rlib: src/lib.rs

/work/wt/integ/fuzz/target/debug/deps/libgracefd_fuzz-44f93d33b9c438a9.rmeta: src/lib.rs

src/lib.rs:
