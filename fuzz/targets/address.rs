//! `cargo afl fuzz` target: see `gracefd_fuzz::address`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::address);
}
