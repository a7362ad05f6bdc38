//! `cargo afl fuzz` target: see `gracefd_fuzz::fdname`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::fdname);
}
