//! Respawn delays: `--respawn-delay` after the first failure in a row,
//! doubled after each further one, capped at `--respawn-delay-max`. The
//! count starts again once a worker has served (been ready) for at least
//! `--respawn-delay-max`.

/// The delay before respawn number `failures` (1 for the first failure in a row).
pub(crate) fn delay_ms(first_ms: u64, max_ms: u64, failures: u32) -> u64 {
    let shift = failures.saturating_sub(1).min(40);
    first_ms.saturating_mul(1u64 << shift).min(max_ms)
}

#[cfg(test)]
mod tests {
    #[test]
    fn doubles_up_to_the_cap() {
        let d: Vec<u64> = (1..=7).map(|n| super::delay_ms(100, 1000, n)).collect();
        assert_eq!(d, vec![100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(super::delay_ms(1000, 60_000, 0), 1000);
        assert_eq!(super::delay_ms(1000, 60_000, u32::MAX), 60_000);
    }
}
