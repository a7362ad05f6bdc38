//! `cargo afl fuzz` target: see `gracefd_fuzz::notify_state`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::notify_state);
}
