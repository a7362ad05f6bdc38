//! `cargo afl fuzz` target: see `gracefd_fuzz::listen_fds`.
fn main() {
    gracefd_fuzz::main_for(gracefd_fuzz::listen_fds);
}
