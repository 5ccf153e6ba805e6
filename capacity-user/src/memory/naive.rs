//! The lab's formulas, exactly as the lab defines them. They are the
//! baseline every report compares against, so they stay naive on purpose:
//! no rounding, no bucket array, no per-CPU copies, no record header.

/// Bytes the lab allows per map entry on top of key and value.
pub const ENTRY_OVERHEAD: u64 = 64;
/// The lab's safety margin on ring buffer sizes.
pub const RING_MARGIN: f64 = 1.2;

/// `entries × (key_size + value_size + 64)`.
pub fn map_bytes(entries: u64, key_size: u64, value_size: u64) -> u64 {
    entries * (key_size + value_size + ENTRY_OVERHEAD)
}

/// `next_power_of_two(rate × event_size × seconds × 1.2)`; `event_size`
/// may be a mean. `ring_size::RingFormula` decides which size goes in.
pub fn ring_bytes(rate: f64, event_size: f64, seconds: f64) -> u64 {
    next_power_of_two(rate * event_size * seconds * RING_MARGIN)
}

/// The smallest power of two that holds `bytes` (a fraction counts as a
/// whole byte). Products like `1000 × 100 × 5 × 1.2` are not exact in
/// floating point, so a value within a millionth of an integer is that
/// integer; sizes beyond 2^62 saturate (every caller checks the kernel's
/// far lower limit).
pub fn next_power_of_two(bytes: f64) -> u64 {
    const MAX: f64 = (1u64 << 62) as f64;
    let nearest = bytes.round();
    let whole = if (bytes - nearest).abs() <= 1e-6 * nearest.max(1.0) { nearest } else { bytes.ceil() };
    (whole.clamp(1.0, MAX) as u64).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_formula_is_entries_times_key_value_and_64() {
        // 1000 × (8 + 8 + 64) = 80 000
        assert_eq!(map_bytes(1000, 8, 8), 80_000);
        // 65 536 × (16 + 64 + 64) = 9 437 184
        assert_eq!(map_bytes(65_536, 16, 64), 9_437_184);
        // No rounding of odd sizes: 1 × (5 + 13 + 64) = 82
        assert_eq!(map_bytes(1, 5, 13), 82);
    }

    #[test]
    fn ring_formula_is_the_next_power_of_two_of_the_margin() {
        // 1000/s × 100 B × 5 s × 1.2 = 600 000 -> 2^20
        assert_eq!(ring_bytes(1000.0, 100.0, 5.0), 1_048_576);
        // 250k/s × 128 B × 5 s × 1.2 = 192 000 000 -> 2^28
        assert_eq!(ring_bytes(250_000.0, 128.0, 5.0), 268_435_456);
        // 10/s × 8192 B × 1 s × 1.2 = 98 304 -> 131 072
        assert_eq!(ring_bytes(10.0, 8192.0, 1.0), 131_072);
        // 1/s × 4096 B × (1/1.2) s × 1.2 is 4096 in decimal but not quite in
        // binary; it must not round up to 8192.
        assert_eq!(ring_bytes(1.0, 4096.0, 1.0 / 1.2), 4096);
        // Tiny rings are not clamped to a page by the naive formula.
        assert_eq!(ring_bytes(1.0, 10.0, 1.0), 16);
    }
}
