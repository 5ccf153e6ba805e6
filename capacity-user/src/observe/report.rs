//! The answer for one observed ring: its figures, the ring that holds what
//! was seen, the `capacity size` command that replays it, and the table.
use serde::Serialize;

use super::{
    rings::RingInfo,
    statistics::{Figures, Stalls},
};
use crate::{
    output::{key_values, Report},
    units::format_bytes,
};

/// Said beside every answer: near-full moments are as close as an observer
/// gets to drops.
pub const DROPS_NOTE: &str = "the kernel counts no drops for another program's ring: \
near_full_events are the moments drops were likely";

/// The recommended ring leaves at least this fraction free at the observed
/// peak: samples miss what happens between them.
pub const MIN_HEADROOM: f64 = 0.2;

/// One ring's observation.
#[derive(Debug, Clone, Serialize)]
pub struct RingObservation {
    pub ring: RingInfo,
    pub interval_ns: u64,
    #[serde(flatten)]
    pub figures: Figures,
    pub drops_note: &'static str,
    /// The smallest power of two (at least one page) that holds the observed
    /// peak with `MIN_HEADROOM` to spare; when the ring came within a record
    /// of full the peak was cut off by its size, so at least twice the ring.
    pub recommended_size_bytes: u64,
    /// The fraction of that ring left free at the observed peak.
    pub headroom: f64,
    /// Event size, consumer work and stall a replay uses (null where unknown).
    pub replay_event_size: Option<u64>,
    pub replay_consumer_work_ns: Option<u64>,
    pub replay_consumer_stall: Option<String>,
    /// The `capacity size` command line that replays what was observed.
    pub replay: String,
    pub answer: String,
}

impl RingObservation {
    /// `record_bytes` is `--record-size` (used when headers could not be
    /// walked); `profile` the `--record` file the replay names.
    pub fn new(
        ring: RingInfo,
        interval_ns: u64,
        figures: Figures,
        record_bytes: Option<u64>,
        profile: &str,
        page_size: u64,
    ) -> Self {
        let peak = figures.backlog_bytes.max;
        let recommended_size_bytes = recommended(peak, ring.size_bytes, figures.near_full_events > 0, page_size);
        let headroom = 1.0 - peak as f64 / recommended_size_bytes as f64;
        let mean_record = figures.mean_record_bytes.or(record_bytes.map(|b| b as f64));
        // capacity's --event-size is the whole reservation; the kernel adds an 8-byte header.
        let replay_event_size = mean_record.map(|r| ((r.round() as u64).saturating_sub(8)).max(16));
        let replay_consumer_work_ns = match (mean_record, figures.drain_bytes_per_s) {
            (Some(record), Some(drain)) if drain > 0.0 => Some((record / drain * 1e9).round() as u64),
            _ => None,
        };
        let replay_consumer_stall = stall_flag(&figures.consumer_stalls);
        let mut replay = format!("capacity size --profile {profile}");
        if let Some(size) = replay_event_size {
            replay.push_str(&format!(" --event-size {size}"));
        }
        if let Some(ns) = replay_consumer_work_ns {
            replay.push_str(&format!(" --consumer-work {ns}"));
        }
        if let Some(stall) = &replay_consumer_stall {
            replay.push_str(&format!(" --consumer-stall {stall}"));
        }
        let answer = answer(&ring, &figures, recommended_size_bytes, headroom);
        Self {
            ring,
            interval_ns,
            figures,
            drops_note: DROPS_NOTE,
            recommended_size_bytes,
            headroom,
            replay_event_size,
            replay_consumer_work_ns,
            replay_consumer_stall,
            replay,
            answer,
        }
    }
}

fn recommended(peak: u64, size: u64, came_full: bool, page_size: u64) -> u64 {
    let needed = (peak as f64 / (1.0 - MIN_HEADROOM)).ceil() as u64;
    let floor = if came_full { size.saturating_mul(2) } else { page_size };
    needed.max(floor).max(1).next_power_of_two()
}

/// `--consumer-stall PAUSE_MS@EVERY_MS` from the longest stall and the
/// typical period; none without two stalls to take a period from.
fn stall_flag(stalls: &Stalls) -> Option<String> {
    let pause = stalls.longest_ms?.ceil().max(1.0) as u64;
    let every = stalls.period_ms?.round() as u64;
    (every > pause).then(|| format!("{pause}@{every}"))
}

fn rate(bytes_per_s: Option<f64>) -> String {
    bytes_per_s.map_or("n/a".into(), |r| format!("{}/s", format_bytes(r.round() as u64)))
}

fn answer(ring: &RingInfo, figures: &Figures, recommended: u64, headroom: f64) -> String {
    let peaks = &figures.peak_produced_bytes_per_s;
    let producer_peak = peaks.ms10.or(peaks.ms100).or(peaks.s1).or(Some(figures.produced_bytes_per_s));
    let drain = match figures.drain_bytes_per_s {
        Some(d) => format!("your consumer drains at most {}", rate(Some(d))),
        None => "your consumer was never behind long enough to measure its drain rate".into(),
    };
    format!(
        "peak backlog {} of {}; a ring of {} holds everything observed with {:.0}% headroom; {drain} while the producer peaked at {}",
        format_bytes(figures.backlog_bytes.max),
        format_bytes(ring.size_bytes),
        format_bytes(recommended),
        headroom * 100.0,
        rate(producer_peak),
    )
}

/// What `capacity observe` prints: one ring, or every ring of a process.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Observation {
    One(Box<RingObservation>),
    Process { pid: u32, rings: Vec<RingObservation> },
}

impl RingObservation {
    fn human(&self) -> String {
        let f = &self.figures;
        let owners: Vec<String> = self.ring.owners.iter().map(|o| format!("{}({})", o.comm, o.pid)).collect();
        let peaks = &f.peak_produced_bytes_per_s;
        let stalls = &f.consumer_stalls;
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} ms"));
        let records = match (f.records_per_s, f.mean_record_bytes) {
            (Some(r), Some(b)) => format!("{r:.0}/s ({b:.1} B each)"),
            (Some(r), None) => format!("{r:.0}/s"),
            _ => "bytes only (record headers could not be walked between samples)".into(),
        };
        let pairs = [
            (
                "ring",
                format!(
                    "{} ({}) · {} · owners {}",
                    self.ring.id,
                    self.ring.name,
                    format_bytes(self.ring.size_bytes),
                    if owners.is_empty() { "-".into() } else { owners.join(",") }
                ),
            ),
            ("samples", format!("{} over {:.2} s, every {} µs", f.samples, f.duration_s, self.interval_ns / 1000)),
            ("produced", rate(Some(f.produced_bytes_per_s))),
            (
                "peak produced",
                format!("{} (10ms)  {} (100ms)  {} (1s)", rate(peaks.ms10), rate(peaks.ms100), rate(peaks.s1)),
            ),
            ("records", records),
            ("consumed", rate(Some(f.consumed_bytes_per_s))),
            ("drain while behind", rate(f.drain_bytes_per_s)),
            (
                "backlog p50/p99/max",
                format!(
                    "{} / {} / {}",
                    format_bytes(f.backlog_bytes.p50),
                    format_bytes(f.backlog_bytes.p99),
                    format_bytes(f.backlog_bytes.max)
                ),
            ),
            ("above 50% / 90%", format!("{:.3} s / {:.3} s", f.time_above_half_s, f.time_above_90pct_s)),
            ("near full", format!("{} time(s) ({})", f.near_full_events, DROPS_NOTE)),
            (
                "consumer stalls",
                format!(
                    "{} · longest {} · every {} ({} shorter than half the longest)",
                    stalls.count,
                    ms(stalls.longest_ms),
                    ms(stalls.period_ms),
                    stalls.short_count
                ),
            ),
            ("answer", self.answer.clone()),
            ("replay", self.replay.clone()),
        ];
        key_values(&pairs)
    }
}

impl Report for Observation {
    fn human(&self) -> String {
        match self {
            Observation::One(ring) => ring.human(),
            Observation::Process { rings, .. } => {
                rings.iter().map(RingObservation::human).collect::<Vec<_>>().join("\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recommended_ring_keeps_a_fifth_free_and_doubles_a_ring_that_filled() {
        assert_eq!(recommended(160_000, 1 << 20, false, 4096), 256 * 1024);
        // 0.8 × 256 KiB = 209715: a peak above it needs the next power.
        assert_eq!(recommended(210_000, 1 << 20, false, 4096), 512 * 1024);
        assert_eq!(recommended(0, 1 << 20, false, 4096), 4096);
        assert_eq!(recommended(1 << 20, 1 << 20, true, 4096), 2 << 20);
    }

    #[test]
    fn stalls_become_a_consumer_stall_flag() {
        let stalls = |longest, period| Stalls { count: 3, short_count: 0, longest_ms: longest, period_ms: period };
        assert_eq!(stall_flag(&stalls(Some(50.2), Some(499.6))), Some("51@500".into()));
        assert_eq!(stall_flag(&stalls(Some(50.0), None)), None);
        assert_eq!(stall_flag(&stalls(None, None)), None);
    }
}
