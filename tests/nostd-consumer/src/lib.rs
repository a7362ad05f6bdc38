//! A `#![no_std]` user of gracefd's core (`default-features = false`).
//! Nothing here runs; it must build, and use enough of the core to show
//! the public paths a no_std user relies on exist without `std`.
#![no_std]
#![deny(warnings)]

use gracefd::nostd::{listen, parse_address, Address, Fd, ListenOptions, Transport};

/// Whether `a` is a TCP address, by gracefd's one address parser.
pub fn is_tcp(a: &[u8]) -> bool {
    matches!(parse_address(a), Ok(Address::Inet { transport: Transport::Tcp, .. }))
}

/// Listen by name through the core, with a small backlog.
pub fn listen_small(name: &[u8], address: &[u8]) -> gracefd::Result<Fd> {
    let mut o = ListenOptions::default();
    o.set_backlog(16)?;
    listen(Some(name), address, &o)
}

/// The errno and message of a core error, as a no_std caller sees them.
pub fn describe(e: &gracefd::Error) -> (i32, &str) {
    (e.errno.0, e.message())
}

/// Readiness and lineage are there too.
pub fn ready_if_upgraded() -> gracefd::Result<bool> {
    if gracefd::nostd::is_upgrade() {
        gracefd::nostd::report_ready()
    } else {
        Ok(false)
    }
}
