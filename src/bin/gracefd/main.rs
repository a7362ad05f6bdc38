//! The `gracefd` command (see the superdaemon issue); for now: version.
fn main() {
    println!("gracefd {}", gracefd::version::string());
}
