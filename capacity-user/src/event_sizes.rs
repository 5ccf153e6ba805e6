//! Event sizes: one size, an even spread `LO..HI`, or a weighted mix
//! `S1:W1,S2:W2,...`. A mix becomes a table of `SIZE_SLOTS` sizes that the
//! kernel program and the consumer both index by sequence number, so every
//! event's size is known on both sides and checked event by event.
use capacity_common::{EVENT_HEADER_SIZE, MAX_EVENT_SIZE, MAX_MIX_EVENT_SIZE, SIZE_SLOTS};

use crate::units::parse_size;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSizes {
    Fixed(u32),
    /// Every size from `lo` to `hi` equally often.
    Range {
        lo: u32,
        hi: u32,
    },
    /// Sizes with integer weights.
    Weighted(Vec<(u32, u32)>),
}

impl Default for EventSizes {
    fn default() -> Self {
        EventSizes::Fixed(64)
    }
}

impl std::str::FromStr for EventSizes {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let size = |t: &str| -> Result<u32, String> {
            let bytes = parse_size(t)?;
            u32::try_from(bytes).map_err(|_| format!("event size `{t}` is too large"))
        };
        let sizes = if let Some((lo, hi)) = text.split_once("..") {
            let (lo, hi) = (size(lo)?, size(hi)?);
            if lo >= hi {
                return Err(format!("`{text}`: LO..HI needs LO below HI"));
            }
            EventSizes::Range { lo, hi }
        } else if text.contains(':') {
            let mut mix = Vec::new();
            for part in text.split(',') {
                let (s, w) = part
                    .split_once(':')
                    .ok_or_else(|| format!("`{part}` in `{text}` is not SIZE:WEIGHT, e.g. 64:70,512:25,4096:5"))?;
                let w: u32 = w.trim().parse().map_err(|_| format!("`{part}`: the weight must be a whole number"))?;
                if w == 0 {
                    return Err(format!("`{part}`: a weight of 0 leaves the size out; drop it instead"));
                }
                mix.push((size(s)?, w));
            }
            EventSizes::Weighted(mix)
        } else {
            EventSizes::Fixed(size(text)?)
        };
        if sizes.smallest() == 0 {
            return Err(format!("`{text}`: an event has at least 1 byte"));
        }
        Ok(sizes)
    }
}

impl std::fmt::Display for EventSizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventSizes::Fixed(s) => write!(f, "{s}"),
            EventSizes::Range { lo, hi } => write!(f, "{lo}..{hi}"),
            EventSizes::Weighted(mix) => {
                let parts: Vec<String> = mix.iter().map(|(s, w)| format!("{s}:{w}")).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

impl EventSizes {
    /// What this tool's kernel program can emit: the header at least, and
    /// for a mix at most the scratch buffer (one size: the reserve limit).
    pub fn check_for_program(&self) -> Result<(), String> {
        let (lo, hi) = (self.smallest(), self.largest());
        let limit = if self.is_mix() { MAX_MIX_EVENT_SIZE } else { MAX_EVENT_SIZE };
        if (lo as usize) < EVENT_HEADER_SIZE || hi as usize > limit {
            let what = if self.is_mix() { "sizes of a mix" } else { "the event size" };
            return Err(format!("{what} must be from {EVENT_HEADER_SIZE} (the header) to {limit} bytes"));
        }
        Ok(())
    }

    pub fn is_mix(&self) -> bool {
        !matches!(self, EventSizes::Fixed(_))
    }

    pub fn smallest(&self) -> u32 {
        match self {
            EventSizes::Fixed(s) => *s,
            EventSizes::Range { lo, .. } => *lo,
            EventSizes::Weighted(mix) => mix.iter().map(|m| m.0).min().unwrap_or(0),
        }
    }

    pub fn largest(&self) -> u32 {
        match self {
            EventSizes::Fixed(s) => *s,
            EventSizes::Range { hi, .. } => *hi,
            EventSizes::Weighted(mix) => mix.iter().map(|m| m.0).max().unwrap_or(0),
        }
    }

    /// The size of event `seq` (a sequence number of its producer).
    pub fn size_of(table: &[u32], seq: u32) -> u32 {
        table[(seq & (SIZE_SLOTS - 1)) as usize]
    }

    /// The `SIZE_SLOTS` sizes that events take in turn. Sizes are spread
    /// over the table by an odd stride, so that neighbouring events differ
    /// and any run of events sees the mix, not one size after another.
    pub fn table(&self) -> Vec<u32> {
        let slots = SIZE_SLOTS as usize;
        let sorted: Vec<u32> = match self {
            EventSizes::Fixed(s) => vec![*s; slots],
            EventSizes::Range { lo, hi } => {
                let span = u64::from(hi - lo) + 1;
                (0..slots as u64).map(|i| lo + (i * span / slots as u64) as u32).collect()
            }
            EventSizes::Weighted(mix) => {
                // Largest remainder: each size gets its share of the slots.
                let total: u64 = mix.iter().map(|m| u64::from(m.1)).sum();
                let mut counts: Vec<(usize, u64, u64)> = mix
                    .iter()
                    .enumerate()
                    .map(|(i, (_, w))| {
                        let exact = u64::from(*w) * slots as u64;
                        (i, exact / total, exact % total)
                    })
                    .collect();
                let mut left = slots as u64 - counts.iter().map(|c| c.1).sum::<u64>();
                let mut by_remainder: Vec<usize> = (0..counts.len()).collect();
                by_remainder.sort_by_key(|&i| std::cmp::Reverse(counts[i].2));
                for i in by_remainder {
                    if left == 0 {
                        break;
                    }
                    counts[i].1 += 1;
                    left -= 1;
                }
                counts.iter().flat_map(|(i, n, _)| std::iter::repeat_n(mix[*i].0, *n as usize)).collect()
            }
        };
        const STRIDE: usize = 617; // Odd: a permutation of the slots.
        (0..slots).map(|i| sorted[(i * STRIDE) % slots]).collect()
    }

    /// Mean event size over the table (what the lab's formula takes).
    pub fn mean_event_size(&self) -> f64 {
        let table = self.table();
        table.iter().map(|s| f64::from(*s)).sum::<f64>() / table.len() as f64
    }

    /// Mean bytes one event takes in the ring, headers and alignment
    /// included, over the table.
    pub fn mean_record_bytes(&self) -> f64 {
        let table = self.table();
        table.iter().map(|s| capacity_common::record_bytes(u64::from(*s)) as f64).sum::<f64>() / table.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!("64".parse(), Ok(EventSizes::Fixed(64)));
        assert_eq!("64..1K".parse(), Ok(EventSizes::Range { lo: 64, hi: 1024 }));
        assert_eq!("64:70,512:25,4K:5".parse(), Ok(EventSizes::Weighted(vec![(64, 70), (512, 25), (4096, 5)])));
        assert_eq!("64:70,512:25,4K:5".parse::<EventSizes>().unwrap().to_string(), "64:70,512:25,4096:5");
        assert!("1024..64".parse::<EventSizes>().unwrap_err().contains("LO below HI"));
        let for_program = |t: &str| t.parse::<EventSizes>().unwrap().check_for_program().unwrap_err();
        assert!(for_program("8..64").contains("from 16"));
        assert!(for_program("64:1,32K:1").contains("16384"));
        assert!("8".parse::<EventSizes>().is_ok(), "estimates take any size");
        assert!("0".parse::<EventSizes>().unwrap_err().contains("at least 1 byte"));
        assert!("64:0".parse::<EventSizes>().unwrap_err().contains("weight of 0"));
        assert!("64:x".parse::<EventSizes>().is_err());
        assert!("64K".parse::<EventSizes>().unwrap().check_for_program().is_ok(), "a single size keeps the old limit");
    }

    #[test]
    fn weighted_tables_hold_each_share_of_the_slots() {
        let mix: EventSizes = "64:70,512:25,4096:5".parse().unwrap();
        let table = mix.table();
        assert_eq!(table.len(), 1024);
        let count = |s: u32| table.iter().filter(|t| **t == s).count();
        // 716.8, 256 and 51.2 slots: the largest remainder (.8) gets the spare.
        assert_eq!((count(64), count(512), count(4096)), (717, 256, 51));
        // Spread out: any 128 events in a row see all three sizes.
        for window in table.windows(128) {
            assert!([64, 512, 4096].iter().all(|s| window.contains(s)));
        }
        // Records: 72, 520 and 4104 bytes.
        let mean = (717.0 * 72.0 + 256.0 * 520.0 + 51.0 * 4104.0) / 1024.0;
        assert!((mix.mean_record_bytes() - mean).abs() < 1e-9);
    }

    #[test]
    fn ranges_cover_every_size_evenly() {
        let range = EventSizes::Range { lo: 16, hi: 1039 }; // 1024 sizes, one slot each.
        let mut table = range.table();
        table.sort_unstable();
        assert_eq!(table, (16..=1039).collect::<Vec<u32>>());
        assert_eq!(range.mean_event_size(), (16.0 + 1039.0) / 2.0);
        assert_eq!(EventSizes::Fixed(64).mean_record_bytes(), 72.0);
    }
}
