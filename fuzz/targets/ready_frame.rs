//! `cargo afl fuzz` target: see `gracefd_fuzz::ready_frame`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::ready_frame);
}
