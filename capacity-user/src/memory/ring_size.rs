//! The ring buffer a steady rate of events needs for some seconds of
//! buffering: the lab's formula (`naive::ring_bytes`) over the mean event
//! size, and the recommendation, the same formula over the mean record the
//! kernel really writes (each event's 8-byte header, rounded up to 8),
//! never below a page or the largest record. Every report that sizes a
//! ring for a rate (`estimate`, `report`, `size`) takes it from here.
use capacity_common::record_bytes;

use super::naive;
use crate::event_sizes::EventSizes;

/// The sizes a ring's formulas need from a workload's events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RingFormula {
    /// Mean event size (what the lab's formula takes).
    pub mean_event_size: f64,
    /// Mean bytes one event takes in the ring, header and alignment included.
    pub mean_record_bytes: f64,
    /// The largest record: no ring can be smaller than its power of two.
    pub largest_record_bytes: u64,
}

impl RingFormula {
    /// For events of these sizes (a mix: over its table of sizes).
    pub fn of(sizes: &EventSizes) -> Self {
        match sizes {
            EventSizes::Fixed(size) => Self::fixed((*size).into()),
            mix => Self {
                mean_event_size: mix.mean_event_size(),
                mean_record_bytes: mix.mean_record_bytes(),
                largest_record_bytes: record_bytes(mix.largest().into()),
            },
        }
    }

    /// For events of one size.
    pub fn fixed(event_size: u64) -> Self {
        let record = record_bytes(event_size);
        Self { mean_event_size: event_size as f64, mean_record_bytes: record as f64, largest_record_bytes: record }
    }

    /// The lab's ring: `next_power_of_two(rate × mean event × seconds × 1.2)`.
    pub fn lab_bytes(&self, rate: f64, seconds: f64) -> u64 {
        naive::ring_bytes(rate, self.mean_event_size, seconds)
    }

    /// The recommended ring: the lab's formula over the mean record, at
    /// least [`Self::smallest_bytes`].
    pub fn recommended_bytes(&self, rate: f64, seconds: f64, page_size: u64) -> u64 {
        naive::ring_bytes(rate, self.mean_record_bytes, seconds).max(self.smallest_bytes(page_size))
    }

    /// The smallest ring that holds the largest record, and at least `floor`
    /// (a page: the kernel's smallest ring; or a search's lower bound).
    pub fn smallest_bytes(&self, floor: u64) -> u64 {
        self.largest_record_bytes.next_power_of_two().max(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommended_rings_count_the_record_header() {
        let ring = |rate, size, seconds| RingFormula::fixed(size).recommended_bytes(rate, seconds, 4096);
        // 1000/s × round_up(100 + 8, 8) = 112 B × 5 s × 1.2 = 672 000 -> 2^20
        assert_eq!(ring(1000.0, 100, 5.0), 1 << 20);
        // 250k/s × 136 B × 5 s × 1.2 = 204 000 000 -> 2^28
        assert_eq!(ring(250_000.0, 128, 5.0), 1 << 28);
        // 100k/s × 112 B × 5 s × 1.2 = 67 200 000 -> 2^27, where the lab's
        // 100k/s × 104 B × 5 s × 1.2 = 62 400 000 gives 2^26: half too small.
        assert_eq!(ring(100_000.0, 104, 5.0), 1 << 27);
        assert_eq!(RingFormula::fixed(104).lab_bytes(100_000.0, 5.0), 1 << 26);
        // Never below a page.
        assert_eq!(ring(1.0, 10, 1.0), 4096);
        // Never below the largest record: 10 000 B take 10 008, so 16 KiB.
        assert_eq!(ring(1.0, 10_000, 0.001), 16_384);
    }

    #[test]
    fn a_mix_takes_its_means_and_its_largest_record() {
        let mix: EventSizes = "64:70,512:25,4096:5".parse().unwrap();
        let formula = RingFormula::of(&mix);
        assert_eq!(formula.mean_record_bytes, mix.mean_record_bytes());
        assert_eq!(formula.mean_event_size, mix.mean_event_size());
        assert_eq!(formula.largest_record_bytes, 4104);
        assert_eq!(formula.smallest_bytes(4096), 8192);
        // 100k/s × 384.8 B × 5 s × 1.2 = 230 887 500 -> 2^28; the lab's
        // 100k/s × 376.8 B × 5 s × 1.2 = 226 087 500 -> 2^28 as well.
        assert_eq!(formula.recommended_bytes(100_000.0, 5.0, 4096), 1 << 28);
        assert_eq!(formula.lab_bytes(100_000.0, 5.0), 1 << 28);
        assert_eq!(RingFormula::of(&EventSizes::Fixed(64)), RingFormula::fixed(64));
    }
}
