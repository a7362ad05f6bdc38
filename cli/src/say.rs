//! The command's log lines: the supervisor's line writer
//! (`gracefd::__cli::supervise::say`), and the `say!` macro over it.

pub use gracefd::__cli::supervise::say::*;

/// `say!(say::INFO, "worker {} is ready", pid)`.
#[macro_export]
macro_rules! say {
    ($level:expr, $($arg:tt)+) => {
        $crate::say::line($level, format_args!($($arg)+))
    };
}
