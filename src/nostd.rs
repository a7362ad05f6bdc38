//! The core as a `#![no_std]` crate uses it (`default-features = false`):
//! bytes in, [`Fd`] and [`Result`](crate::Result) out, no allocation on the
//! error path. With std, prefer the Rust face at the crate root.
//!
//! Everything here is also what the Rust face is built on; it is the stable
//! part of the core. The rest of the core is internal to the crate.
//!
//! ```
//! use gracefd::nostd::{listen, ListenOptions};
//! let mut o = ListenOptions::default();
//! o.set_backlog(16)?;
//! let fd = listen(Some(b"web"), b"127.0.0.1:0", &o)?;
//! assert!(fd.raw() >= 0);
//! # Ok::<(), gracefd::Error>(())
//! ```

pub use crate::error::Error;
pub use crate::lineage::{generation, is_upgrade};
pub use crate::listeners::{listen, ListenOptions};
pub use crate::proto::addr::{parse as parse_address, Address, Ip, Transport};
pub use crate::ready::{report_failed, report_ready};
pub use crate::sys::fd::{Fd, RawFd};
pub use crate::sys::Errno;
