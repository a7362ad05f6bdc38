//! `cargo afl fuzz` target: see `gracefd_fuzz::numbers`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::numbers);
}
