//! What one run measured (the JSON of `capacity load`) and its table.
use serde::Serialize;

use capacity_common::{record_bytes, Wakeup};

use super::{
    arrivals::{pacing, PhasePacing},
    config::{Layout, MapUpdates, RunConfig},
    program::{Counters, PerCpuCounters},
    reader::OutputCounts,
    stage::Stage,
};
use crate::{
    output::{key_values, Report},
    units::{format_bytes, format_rate},
};

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// One ring (or perf buffer) of a layout.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct RingFigures {
    pub index: u32,
    pub consumed: u64,
    /// Failed reserves (perf: outputs) of the CPUs writing to it.
    pub dropped: u64,
    /// Rings: the program's high-water mark over the ring's CPUs; perf: the
    /// largest backlog the consumer found at the start of a pass.
    pub peak_occupancy_bytes: u64,
}

/// The result of one run (the JSON of `capacity load`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunResult {
    pub target_rate: f64,
    pub actual_rate: f64,
    pub duration_s: f64,
    /// Triggers the program ran.
    pub triggers: u64,
    /// Triggers the producers made: `triggers` + the ones the kernel skipped.
    pub issued_triggers: u64,
    /// Program runs the kernel skipped (the program's `recursion_misses`
    /// over the run): a run found a BPF program already active on its CPU.
    /// Includes `missed_runs_other`.
    pub missed_runs: u64,
    /// Of `missed_runs`, those of other callers of the trigger syscall
    /// (0 unless something else called it during the run).
    pub missed_runs_other: u64,
    /// Runs of the program for other callers of the trigger syscall.
    pub other_runs: u64,
    pub emitted: u64,
    pub consumed: u64,
    /// Failed reserves: `dropped_full` + `dropped_busy`.
    pub dropped: u64,
    /// Failed reserves with no room in the ring.
    pub dropped_full: u64,
    /// Failed reserves although the ring had room: its lock timed out or
    /// detected a deadlock (Linux 6.15+).
    pub dropped_busy: u64,
    pub drop_rate: f64,
    /// The ring ran in overwrite mode (--overwrite).
    pub overwrite: bool,
    /// Records the kernel overwrote before the consumer read them (overwrite mode).
    pub overwritten: u64,
    pub map_updates: u64,
    pub map_errors: u64,
    pub error_rate: f64,
    pub latency_ns: Latency,
    pub event_size: u32,
    pub record_bytes: u64,
    pub batch: u32,
    pub producers: u32,
    pub ringbuf_size: u64,
    /// `adaptive` or `sampled:N`, as `--wakeup` takes it.
    #[serde(serialize_with = "crate::output::as_text")]
    pub wakeup: Wakeup,
    /// Whether events updated the hash map (`--map`): with `off`,
    /// `map_updates` and `map_errors` are 0.
    pub map: MapUpdates,
    /// Consumed events per second of the run (the ring's throughput with `--rate max`).
    pub consumed_per_s: f64,
    /// Consumed record bytes per second (each record's header and alignment included).
    pub consumed_bytes_per_s: f64,
    /// Of `consumed`, the records read after the producers stopped (the
    /// ring's backlog at the end).
    pub drained_after_stop: u64,
    /// Highest unconsumed bytes in the ring, sampled after each trigger's batch.
    pub peak_occupancy_bytes: u64,
    /// Events missing between the records the consumer read (sequence
    /// gaps); with those missing after each producer's last record read,
    /// they equal `dropped + overwritten`.
    pub seq_gaps: u64,
    /// In-kernel run time per event (BPF_ENABLE_STATS), null if unavailable.
    pub kernel_ns_per_event: Option<f64>,
    /// Consumer thread CPU time per consumed event.
    pub consumer_ns_per_event: Option<f64>,
    /// Ctrl-C ended the run early; the figures cover the part that ran.
    pub interrupted: bool,
    /// The size mix (`--event-size LO..HI` or `S1:W1,...`), null for one size.
    pub event_size_mix: Option<String>,
    /// Bytes one event takes in the ring on average (record header and
    /// alignment included); `record_bytes` for a single size.
    pub mean_record_bytes: f64,
    /// The arrival process (`--arrivals`, `--profile`).
    pub arrivals: String,
    /// Target against actual rate over each phase of the arrival shape.
    pub phases: Vec<PhasePacing>,
    /// `shared`, `per-cpu`, `per-cpus:N` or `perf` (`--layout`).
    pub layout: Layout,
    /// Rings (or perf buffers) the layout has on this machine.
    pub rings: u32,
    /// Each ring's figures; their consumed and dropped sum to the run's.
    pub per_ring: Vec<RingFigures>,
    /// Perf: samples the kernel reported lost (PERF_RECORD_LOST), null otherwise.
    pub lost: Option<u64>,
    /// Perf: data pages of each CPU's buffer (`--perf-pages`), null otherwise.
    pub perf_pages: Option<u32>,
}

impl RunResult {
    /// Events per second the consumer took from the ring while the
    /// producers ran: what the ring carried, without the backlog read after
    /// they stopped (which would flatter a consumer that fell behind by up
    /// to a ringful per run).
    pub fn consumed_while_producing_per_s(&self) -> f64 {
        if self.duration_s > 0.0 {
            self.consumed.saturating_sub(self.drained_after_stop) as f64 / self.duration_s
        } else {
            0.0
        }
    }
}

impl Report for RunResult {
    fn human(&self) -> String {
        let l = &self.latency_ns;
        let mut pairs = vec![
            ("target rate", format_rate(self.target_rate)),
            ("actual rate", format_rate(self.actual_rate)),
            ("duration", format!("{:.2} s", self.duration_s)),
            ("triggers", format!("{} (batch {}, {} producer(s))", self.triggers, self.batch, self.producers)),
            ("missed runs", missed_runs_text(self.missed_runs, self.missed_runs_other)),
            ("emitted", self.emitted.to_string()),
            ("consumed", self.consumed.to_string()),
            (
                "dropped",
                format!(
                    "{} ({:.4}%): {} ring full, {} ring busy",
                    self.dropped,
                    self.drop_rate * 100.0,
                    self.dropped_full,
                    self.dropped_busy
                ),
            ),
            (
                "map updates",
                if self.map == MapUpdates::On { self.map_updates.to_string() } else { "off (--map off)".into() },
            ),
            ("map errors", format!("{} ({:.4}%)", self.map_errors, self.error_rate * 100.0)),
            ("latency p50/p99", format!("{} / {} ns", l.p50, l.p99)),
            ("latency p999/max", format!("{} / {} ns", l.p999, l.max)),
            (
                "ring",
                format!(
                    "{} ({} records), peak {}",
                    match self.perf_pages {
                        Some(pages) => format!("{pages} pages per CPU"),
                        None => format_bytes(self.ringbuf_size),
                    },
                    match &self.event_size_mix {
                        None => format!("{} B", self.record_bytes),
                        Some(_) => format!("{:.1} B mean", self.mean_record_bytes),
                    },
                    format_bytes(self.peak_occupancy_bytes)
                ),
            ),
        ];
        pairs.insert(0, ("layout", layout_text(self)));
        if self.overwrite {
            pairs.insert(8, ("overwritten", format!("{} (ring in overwrite mode)", self.overwritten)));
        }
        pairs.push((
            "consumed/s",
            format!("{} ({}/s)", format_rate(self.consumed_per_s), format_bytes(self.consumed_bytes_per_s as u64)),
        ));
        if let Some(k) = self.kernel_ns_per_event {
            pairs.push(("kernel ns/event", format!("{k:.1}")));
        }
        if let Some(c) = self.consumer_ns_per_event {
            pairs.push(("consumer ns/event", format!("{c:.1}")));
        }
        if let Some(mix) = &self.event_size_mix {
            pairs.push(("event sizes", format!("{mix}: {:.1} B per record on average", self.mean_record_bytes)));
        }
        pairs.push(("arrivals", self.arrivals.clone()));
        if self.phases.len() > 1 {
            for p in &self.phases {
                pairs.push((
                    "  phase",
                    format!(
                        "{}: target {}, actual {} over {:.2} s",
                        p.phase,
                        format_rate(p.target_rate),
                        format_rate(p.actual_rate),
                        p.seconds
                    ),
                ));
            }
        }
        if self.interrupted {
            pairs.push(("interrupted", "yes: partial result".into()));
        }
        key_values(&pairs)
    }
}

/// The layout, its rings and, with several, how the load spread over them.
fn layout_text(r: &RunResult) -> String {
    let mut text = format!("{} ({} ring(s))", r.layout, r.rings);
    if let Some(lost) = r.lost {
        text = format!("{} ({} perf buffer(s), {lost} lost per PERF_RECORD_LOST)", r.layout, r.rings);
    }
    if r.per_ring.len() > 1 {
        let spread: Vec<String> = r.per_ring.iter().map(|p| format!("{}/{}", p.consumed, p.dropped)).collect();
        text.push_str(&format!("; consumed/dropped per ring {}", spread.join(" ")));
    }
    text
}

/// Runs the kernel skipped, with the share of other callers when there is one.
fn missed_runs_text(missed: u64, other: u64) -> String {
    let why = "skipped by the kernel: a BPF program was active on that CPU";
    if other == 0 {
        format!("{missed} ({why})")
    } else {
        format!("{missed} ({why}; {other} of other callers)")
    }
}

pub(super) fn summarize(
    config: &RunConfig,
    stage: &Stage,
    counters: &Counters,
    per_cpu: &PerCpuCounters,
    outputs: &[OutputCounts],
    interrupted: bool,
) -> RunResult {
    let elapsed = stage.producers.iter().map(|p| p.elapsed).max().unwrap_or_default();
    let issued: u64 = stage.producers.iter().map(|p| p.triggers).sum();
    let attempted = counters.emitted + counters.dropped;
    let ratio = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    let h = &stage.consumer.latency;
    let q = |quantile: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(quantile)
        }
    };
    let rings = per_ring(config.layout, per_cpu, stage, outputs);
    let per_second = |count: u64| if elapsed.is_zero() { 0.0 } else { count as f64 / elapsed.as_secs_f64() };
    let kernel_ns_per_event = (stage.kernel.run_count > 0 && attempted > 0)
        .then(|| stage.kernel.run_time.as_nanos() as f64 / attempted as f64);
    let consumer_ns_per_event = (stage.consumer.consumed > 0)
        .then(|| stage.consumer.cpu_time.as_nanos() as f64 / stage.consumer.consumed as f64);
    RunResult {
        target_rate: config.rate,
        actual_rate: if elapsed.is_zero() { 0.0 } else { attempted as f64 / elapsed.as_secs_f64() },
        duration_s: elapsed.as_secs_f64(),
        triggers: counters.triggers,
        issued_triggers: issued,
        missed_runs: stage.kernel.recursion_misses,
        missed_runs_other: stage.kernel.recursion_misses.saturating_sub(issued.saturating_sub(counters.triggers)),
        other_runs: counters.other_runs,
        emitted: counters.emitted,
        consumed: stage.consumer.consumed,
        dropped: counters.dropped,
        dropped_full: counters.dropped_full,
        dropped_busy: counters.dropped_busy,
        overwrite: config.overwrite,
        overwritten: stage.consumer.overwritten,
        drop_rate: ratio(counters.dropped, attempted),
        map_updates: counters.map_updates,
        map_errors: counters.map_errors,
        error_rate: ratio(counters.map_errors, counters.map_updates + counters.map_errors),
        latency_ns: Latency { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: h.max() },
        event_size: config.event_size(),
        record_bytes: record_bytes(config.event_size().into()),
        batch: config.batch,
        producers: config.producers,
        ringbuf_size: config.ringbuf_size,
        wakeup: config.wakeup,
        map: config.map,
        consumed_per_s: per_second(stage.consumer.consumed),
        consumed_bytes_per_s: per_second(stage.consumer.consumed_bytes),
        drained_after_stop: stage.consumer.drained_after_stop,
        // Perf: the program cannot see a perf buffer's fill; the consumer's view.
        peak_occupancy_bytes: if config.layout == Layout::Perf {
            rings.iter().map(|r| r.peak_occupancy_bytes).max().unwrap_or(0)
        } else {
            counters.peak_occupancy_bytes
        },
        seq_gaps: stage.consumer.seq_gaps,
        kernel_ns_per_event,
        consumer_ns_per_event,
        interrupted,
        event_size_mix: config.event_sizes.is_mix().then(|| config.event_sizes.to_string()),
        mean_record_bytes: config.mean_record_bytes(),
        arrivals: config.arrivals.to_string(),
        phases: pacing(
            &config.arrivals,
            config.rate,
            elapsed.min(config.duration).as_secs_f64(),
            &events_per_phase(config, stage),
            stage.producers.iter().map(|p| p.scheduled).sum::<u64>() * u64::from(config.batch),
        ),
        layout: config.layout,
        rings: outputs.len() as u32,
        per_ring: rings.clone(),
        lost: (config.layout == Layout::Perf).then_some(stage.lost),
        perf_pages: (config.layout == Layout::Perf).then_some(config.perf_pages),
    }
}

/// Each ring's figures: consumed from the reader, drops and peaks from the
/// program's per-CPU counters of the CPUs that write to it.
fn per_ring(layout: Layout, per_cpu: &PerCpuCounters, stage: &Stage, outputs: &[OutputCounts]) -> Vec<RingFigures> {
    let mut rings: Vec<RingFigures> = (0..outputs.len() as u32)
        .map(|index| RingFigures { index, consumed: stage.consumed_per_ring[index as usize], ..Default::default() })
        .collect();
    for (cpu, (dropped, peak)) in per_cpu.dropped.iter().zip(&per_cpu.peak_occupancy_bytes).enumerate() {
        if let Some(ring) = rings.get_mut(layout.ring_of(cpu as u32) as usize) {
            ring.dropped += dropped;
            ring.peak_occupancy_bytes = ring.peak_occupancy_bytes.max(*peak);
        }
    }
    if layout == Layout::Perf {
        for (ring, output) in rings.iter_mut().zip(outputs) {
            ring.peak_occupancy_bytes = output.peak_backlog_bytes;
        }
    }
    rings
}

/// Events the producers issued in each phase of the arrival shape.
fn events_per_phase(config: &RunConfig, stage: &Stage) -> Vec<u64> {
    let phases = stage.producers.iter().map(|p| p.per_phase.len()).max().unwrap_or(0);
    (0..phases)
        .map(|i| stage.producers.iter().filter_map(|p| p.per_phase.get(i)).sum::<u64>() * u64::from(config.batch))
        .collect()
}
