//! `cargo afl fuzz` target: see `gracefd_fuzz::watchdog`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::watchdog);
}
