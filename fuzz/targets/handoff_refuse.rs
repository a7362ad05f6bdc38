//! `cargo afl fuzz` target: see `gracefd_fuzz::handoff_refuse`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::handoff_refuse);
}
