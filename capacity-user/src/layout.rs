//! How events reach userspace, as agents lay it out: one shared ring, a
//! ring per CPU or per N CPUs (in an array of maps), or perf buffers per
//! CPU. The load engine and the memory model both take it from here.
use std::fmt;

/// Largest perf buffer sized by a search, in data pages (256 MiB of 4 KiB pages per CPU).
pub const MAX_PERF_PAGES: u32 = 1 << 16;

/// Bytes an event of `event_size` bytes takes in a perf buffer: the
/// perf_event_header (8) and the raw sample's u32 size before it, aligned to 8.
pub fn perf_record_bytes(event_size: u64) -> u64 {
    (event_size + 12).next_multiple_of(8)
}

/// The layout of a run or an estimate (`--layout`, workload key `layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One ring buffer for every CPU.
    #[default]
    Shared,
    /// One ring buffer per N CPUs (N = 1: `per-cpu`), inside an array of maps.
    PerCpus(u32),
    /// A perf event array: one perf buffer per CPU.
    Perf,
}

impl Layout {
    /// Rings (or perf buffers) on a node of `cpus` CPUs.
    pub fn rings(self, cpus: u32) -> u32 {
        match self {
            Layout::Shared => 1,
            Layout::PerCpus(n) => cpus.div_ceil(n.max(1)),
            Layout::Perf => cpus,
        }
    }

    /// Which ring CPU `cpu` writes to.
    pub fn ring_of(self, cpu: u32) -> u32 {
        match self {
            Layout::Shared => 0,
            Layout::PerCpus(n) => cpu / n.max(1),
            Layout::Perf => cpu,
        }
    }

    /// Rings inside an array of maps (per-cpu, per-cpus:N).
    pub fn is_ring_array(self) -> bool {
        matches!(self, Layout::PerCpus(_))
    }
}

impl std::str::FromStr for Layout {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "shared" => Ok(Layout::Shared),
            "per-cpu" => Ok(Layout::PerCpus(1)),
            "perf" => Ok(Layout::Perf),
            other => match other.strip_prefix("per-cpus:").map(str::parse::<u32>) {
                Some(Ok(n)) if n >= 1 => Ok(Layout::PerCpus(n)),
                Some(_) => Err(format!("`{other}`: per-cpus:N needs N of at least 1")),
                None => Err(format!("`{other}` is not a layout: use shared, per-cpu, per-cpus:N or perf")),
            },
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layout::Shared => f.write_str("shared"),
            Layout::PerCpus(1) => f.write_str("per-cpu"),
            Layout::PerCpus(n) => write!(f, "per-cpus:{n}"),
            Layout::Perf => f.write_str("perf"),
        }
    }
}

impl serde::Serialize for Layout {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Layout {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perf_sample_is_its_header_then_size_and_data_padded_to_8() {
        // 16 B event: 8 + (4 + 16 -> 24).
        assert_eq!(perf_record_bytes(16), 32);
        assert_eq!(perf_record_bytes(20), 32);
        assert_eq!(perf_record_bytes(64), 80);
    }

    #[test]
    fn layouts_parse_and_print_back() {
        for text in ["shared", "per-cpu", "per-cpus:4", "perf"] {
            assert_eq!(text.parse::<Layout>().unwrap().to_string(), text);
        }
        assert_eq!("per-cpus:1".parse::<Layout>(), Ok(Layout::PerCpus(1)));
        assert!("per-cpus:0".parse::<Layout>().is_err());
        assert!("ring".parse::<Layout>().is_err());
    }

    #[test]
    fn rings_cover_every_cpu() {
        assert_eq!(Layout::Shared.rings(96), 1);
        assert_eq!(Layout::PerCpus(1).rings(96), 96);
        assert_eq!(Layout::PerCpus(4).rings(96), 24);
        assert_eq!(Layout::PerCpus(4).rings(6), 2);
        assert_eq!(Layout::PerCpus(4).ring_of(5), 1);
        assert_eq!(Layout::Perf.rings(2), 2);
    }
}
