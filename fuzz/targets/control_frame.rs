//! `cargo afl fuzz` target: see `gracefd_fuzz::control_frame`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::control_frame);
}
