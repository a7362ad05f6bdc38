//! INTERIM registry (replaced by the listeners branch): named fds handed down
//! on upgrade. Only what the upgrade needs to be developed and tested.

use alloc::vec::Vec;

use crate::error::Result;
use crate::sync::Mutex;
use crate::sys::fd::{self, Fd, RawFd};

/// A fd exported to a child: its name and a CLOEXEC dup owned by the caller.
pub struct Exported {
    /// The name (LISTEN_FDNAMES entry).
    pub name: Vec<u8>,
    /// The dup.
    pub fd: Fd,
}

static REG: Mutex<Vec<(Vec<u8>, Fd)>> = Mutex::new(Vec::new());

/// Register a dup of `f` under `name`.
pub fn add(name: &[u8], f: RawFd) -> Result<()> {
    let d = fd::dup_cloexec(f).map_err(|e| crate::Error::sys(e, "dup"))?;
    REG.lock().push((name.to_vec(), d));
    Ok(())
}

/// Fresh CLOEXEC dups of every entry.
pub fn export_for_child() -> Result<Vec<Exported>> {
    let reg = REG.lock();
    let mut out = Vec::new();
    for (n, f) in reg.iter() {
        out.push(Exported { name: n.clone(), fd: f.try_clone().map_err(|e| crate::Error::sys(e, "dup"))? });
    }
    Ok(out)
}

/// Register a received fd (ownership taken, no dup) under `name`, as if it
/// had been inherited, so a lookup by name finds it. (Interim: the real
/// registry keeps the same signature.)
pub fn import(name: &[u8], f: Fd) -> Result<()> {
    REG.lock().push((name.to_vec(), f));
    Ok(())
}
