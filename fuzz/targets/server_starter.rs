//! `cargo afl fuzz` target: see `gracefd_fuzz::server_starter`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::server_starter);
}
