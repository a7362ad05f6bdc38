//! `cargo afl fuzz` target: see `gracefd_fuzz::daemon_marker`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::daemon_marker);
}
