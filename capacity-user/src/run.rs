//! One fixed-rate run: load the program, drive it with producers, drain it
//! with the consumer, read the counters, and prove that every event is
//! accounted for.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use aya::maps::{MapData, RingBuf};
use capacity_common::{record_bytes, EVENT_HEADER_SIZE, MAX_BATCH, MAX_EVENT_SIZE, MAX_PRODUCERS};
use serde::Serialize;

use crate::{
    bail_usage,
    consumer::{consume, ConsumerModel, ConsumerReport},
    error::InvariantError,
    generator::{produce, Pace, ProducerReport},
    memory::host::page_size,
    output::{key_values, Report},
    preflight,
    program::{Counters, EmitProgram, KernelStats, ProgramSettings},
    units::{format_bytes, format_rate},
};

/// The kernel's wakeup policy for the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wakeup {
    /// The kernel wakes the consumer when it has caught up (flags 0).
    #[default]
    Adaptive,
    /// No wakeup except on every Nth event (BPF_RB_NO_WAKEUP / FORCE_WAKEUP).
    Sampled(u32),
}

impl std::str::FromStr for Wakeup {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            None if text == "adaptive" => Ok(Wakeup::Adaptive),
            Some(("sampled", n)) => match n.parse::<u32>() {
                Ok(n) if n > 0 => Ok(Wakeup::Sampled(n)),
                _ => Err(format!("`{text}`: sampled:N needs N of at least 1")),
            },
            _ => Err(format!("`{text}` is not a wakeup policy: use adaptive or sampled:N")),
        }
    }
}

impl std::fmt::Display for Wakeup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wakeup::Adaptive => f.write_str("adaptive"),
            Wakeup::Sampled(n) => write!(f, "sampled:{n}"),
        }
    }
}

/// Everything one fixed-rate run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Events per second offered (triggers per second × batch); infinite
    /// means unpaced.
    pub rate: f64,
    pub duration: Duration,
    /// Run first for this long, uncounted, so caches, the map and the ring are warm.
    pub warmup: Duration,
    /// The whole record the program reserves, header included.
    pub event_size: u32,
    pub ringbuf_size: u64,
    pub batch: u32,
    pub producers: u32,
    pub keyspace: u32,
    pub map_entries: u32,
    pub consumer: ConsumerModel,
    pub wakeup: Wakeup,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            rate: 100_000.0,
            duration: Duration::from_secs(5),
            warmup: Duration::ZERO,
            event_size: 64,
            ringbuf_size: 8 << 20,
            batch: 1,
            producers: 1,
            keyspace: 1024,
            map_entries: 10_240,
            consumer: ConsumerModel::default(),
            wakeup: Wakeup::Adaptive,
        }
    }
}

impl RunConfig {
    /// Every bad combination, before anything touches the kernel.
    pub fn validate(&self) -> anyhow::Result<()> {
        let page = page_size();
        if self.rate.is_nan() || self.rate <= 0.0 {
            bail_usage!("--rate must be a positive number of events per second");
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            bail_usage!("--batch {} is out of range: use 1 to {MAX_BATCH} events per trigger", self.batch);
        }
        if (self.event_size as usize) < EVENT_HEADER_SIZE || self.event_size as usize > MAX_EVENT_SIZE {
            bail_usage!(
                "--event-size {} is out of range: use {EVENT_HEADER_SIZE} (the header) to {MAX_EVENT_SIZE} bytes",
                self.event_size
            );
        }
        let ring = self.ringbuf_size;
        if !ring.is_power_of_two() || !ring.is_multiple_of(page) {
            bail_usage!(
                "--ringbuf-size {ring} must be a power of two and a multiple of the page size ({page}): try {}",
                ring.next_power_of_two().max(page)
            );
        }
        if ring > 1 << 31 {
            bail_usage!("--ringbuf-size {} is larger than the kernel allows (2G)", format_bytes(ring));
        }
        let record = record_bytes(self.event_size.into());
        if record > ring {
            bail_usage!(
                "an event of {} bytes takes {record} bytes in the ring, more than --ringbuf-size {ring}: use --ringbuf-size {} or more",
                self.event_size,
                record.next_power_of_two().max(page)
            );
        }
        if self.producers == 0 || self.producers > MAX_PRODUCERS {
            bail_usage!("--producers {} is out of range: use 1 to {MAX_PRODUCERS}", self.producers);
        }
        if self.keyspace == 0 || self.map_entries == 0 {
            bail_usage!("--keyspace and --map-entries must be at least 1");
        }
        if self.duration.is_zero() {
            bail_usage!("--duration must be positive");
        }
        Ok(())
    }

    fn program_settings(&self) -> ProgramSettings {
        ProgramSettings {
            event_size: self.event_size,
            batch: self.batch,
            keyspace: self.keyspace,
            ringbuf_size: self.ringbuf_size as u32,
            map_entries: self.map_entries,
            wakeup_every: match self.wakeup {
                Wakeup::Adaptive => 0,
                Wakeup::Sampled(n) => n,
            },
        }
    }

    fn pace(&self, duration: Duration) -> Pace {
        Pace {
            triggers_per_second: self.rate / f64::from(self.batch) / f64::from(self.producers),
            duration,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// The result of one run (the JSON of `capacity load`).
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub target_rate: f64,
    pub actual_rate: f64,
    pub duration_s: f64,
    pub triggers: u64,
    pub emitted: u64,
    pub consumed: u64,
    pub dropped: u64,
    pub drop_rate: f64,
    pub map_updates: u64,
    pub map_errors: u64,
    pub error_rate: f64,
    pub latency_ns: Latency,
    pub event_size: u32,
    pub record_bytes: u64,
    pub batch: u32,
    pub producers: u32,
    pub ringbuf_size: u64,
    pub wakeup: String,
    /// Highest unconsumed bytes in the ring, sampled after each trigger's batch.
    pub peak_occupancy_bytes: u64,
    /// Drops the consumer inferred from sequence gaps (equals `dropped`).
    pub seq_gaps: u64,
    /// In-kernel run time per event (BPF_ENABLE_STATS), null if unavailable.
    pub kernel_ns_per_event: Option<f64>,
    /// Consumer thread CPU time per consumed event.
    pub consumer_ns_per_event: Option<f64>,
    /// Ctrl-C ended the run early; the figures cover the part that ran.
    pub interrupted: bool,
}

impl Report for RunResult {
    fn human(&self) -> String {
        let l = &self.latency_ns;
        let mut pairs = vec![
            ("target rate", format_rate(self.target_rate)),
            ("actual rate", format_rate(self.actual_rate)),
            ("duration", format!("{:.2} s", self.duration_s)),
            ("triggers", format!("{} (batch {}, {} producer(s))", self.triggers, self.batch, self.producers)),
            ("emitted", self.emitted.to_string()),
            ("consumed", self.consumed.to_string()),
            ("dropped", format!("{} ({:.4}%)", self.dropped, self.drop_rate * 100.0)),
            ("map updates", self.map_updates.to_string()),
            ("map errors", format!("{} ({:.4}%)", self.map_errors, self.error_rate * 100.0)),
            ("latency p50/p99", format!("{} / {} ns", l.p50, l.p99)),
            ("latency p999/max", format!("{} / {} ns", l.p999, l.max)),
            (
                "ring",
                format!(
                    "{} ({} B records), peak {}",
                    format_bytes(self.ringbuf_size),
                    self.record_bytes,
                    format_bytes(self.peak_occupancy_bytes)
                ),
            ),
        ];
        if let Some(k) = self.kernel_ns_per_event {
            pairs.push(("kernel ns/event", format!("{k:.1}")));
        }
        if let Some(c) = self.consumer_ns_per_event {
            pairs.push(("consumer ns/event", format!("{c:.1}")));
        }
        if self.interrupted {
            pairs.push(("interrupted", "yes: partial result".into()));
        }
        key_values(&pairs)
    }
}

/// One phase's raw material.
struct Phase {
    producers: Vec<ProducerReport>,
    consumer: ConsumerReport,
    kernel: KernelStats,
}

/// Run at a fixed rate. `stop` (Ctrl-C) ends the run early: producers stop,
/// the consumer drains without its simulated work, and the partial result
/// is returned with `interrupted` set.
pub fn run_fixed_rate(config: &RunConfig, stop: &AtomicBool) -> anyhow::Result<RunResult> {
    config.validate()?;
    preflight::check_load_environment("capacity")?;
    let mut program = EmitProgram::load(&config.program_settings())?;
    let mut ring = program.take_ring()?;
    let mut phase = None;
    if !config.warmup.is_zero() && !stop.load(Ordering::Relaxed) {
        let warmup = run_phase(&program, &mut ring, config, config.warmup, stop);
        if stop.load(Ordering::Relaxed) {
            // Interrupted while warming up: that is the partial result.
            phase = Some(warmup);
        } else {
            program.reset()?;
        }
    }
    let phase = match phase {
        Some(warmup) => warmup,
        None => run_phase(&program, &mut ring, config, config.duration, stop),
    };
    program.flush_logs();
    let counters = program.counters()?;
    let result = summarize(config, &phase, &counters, stop.load(Ordering::Relaxed));
    check_invariants(config, &phase, &counters)?;
    Ok(result)
}

fn run_phase(
    program: &EmitProgram,
    ring: &mut RingBuf<MapData>,
    config: &RunConfig,
    duration: Duration,
    stop: &AtomicBool,
) -> Phase {
    let token = program.token();
    let pace = config.pace(duration);
    let producers_done = AtomicBool::new(false);
    let kernel_before = program.kernel_stats();
    let cpus = CpuPlan::for_this_process();
    let (producers, consumer) = thread::scope(|scope| {
        let consumer = scope.spawn(|| {
            pin_to_cpu(cpus.consumer);
            consume(ring, &config.consumer, config.event_size as usize, &producers_done, stop)
        });
        let producers: Vec<_> = (0..config.producers)
            .map(|id| {
                let cpu = cpus.producer(id);
                scope.spawn(move || {
                    pin_to_cpu(cpu);
                    produce(token, id, pace, stop)
                })
            })
            .collect();
        let reports: Vec<ProducerReport> =
            producers.into_iter().map(|p| p.join().expect("producer thread panicked")).collect();
        producers_done.store(true, Ordering::Release);
        (reports, consumer.join().expect("consumer thread panicked"))
    });
    let kernel_after = program.kernel_stats();
    Phase {
        producers,
        consumer,
        kernel: KernelStats {
            run_time: kernel_after.run_time.saturating_sub(kernel_before.run_time),
            run_count: kernel_after.run_count.saturating_sub(kernel_before.run_count),
        },
    }
}

fn summarize(config: &RunConfig, phase: &Phase, counters: &Counters, interrupted: bool) -> RunResult {
    let elapsed = phase.producers.iter().map(|p| p.elapsed).max().unwrap_or_default();
    let attempted = counters.emitted + counters.dropped;
    let ratio = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
    let h = &phase.consumer.latency;
    let q = |quantile: f64| if h.is_empty() { 0 } else { h.value_at_quantile(quantile) };
    let kernel_ns_per_event = (phase.kernel.run_count > 0 && attempted > 0)
        .then(|| phase.kernel.run_time.as_nanos() as f64 / attempted as f64);
    let consumer_ns_per_event = (phase.consumer.consumed > 0)
        .then(|| phase.consumer.cpu_time.as_nanos() as f64 / phase.consumer.consumed as f64);
    RunResult {
        target_rate: config.rate,
        actual_rate: if elapsed.is_zero() { 0.0 } else { attempted as f64 / elapsed.as_secs_f64() },
        duration_s: elapsed.as_secs_f64(),
        triggers: counters.triggers,
        emitted: counters.emitted,
        consumed: phase.consumer.consumed,
        dropped: counters.dropped,
        drop_rate: ratio(counters.dropped, attempted),
        map_updates: counters.map_updates,
        map_errors: counters.map_errors,
        error_rate: ratio(counters.map_errors, counters.map_updates + counters.map_errors),
        latency_ns: Latency { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: h.max() },
        event_size: config.event_size,
        record_bytes: record_bytes(config.event_size.into()),
        batch: config.batch,
        producers: config.producers,
        ringbuf_size: config.ringbuf_size,
        wakeup: config.wakeup.to_string(),
        peak_occupancy_bytes: counters.peak_occupancy_bytes,
        seq_gaps: phase.consumer.seq_gaps,
        kernel_ns_per_event,
        consumer_ns_per_event,
        interrupted,
    }
}

/// Every event is either consumed or counted as dropped, and the kernel's
/// counters, the producers' own counts and the consumer's sequence numbers
/// all agree. A mismatch is a bug in this tool.
fn check_invariants(config: &RunConfig, phase: &Phase, c: &Counters) -> anyhow::Result<()> {
    let batch = u64::from(config.batch);
    let issued: u64 = phase.producers.iter().map(|p| p.triggers).sum();
    let attempted_per_producer: Vec<u64> = phase.producers.iter().map(|p| p.triggers * batch).collect();
    let consumer = &phase.consumer;
    let consumer_missing = consumer.seq_gaps + consumer.tail_missing(&attempted_per_producer);
    let checks = [
        (c.triggers == issued, format!("kernel saw {} triggers, producers issued {issued}", c.triggers)),
        (
            c.triggers * batch == c.emitted + c.dropped,
            format!("triggers × batch = {} but emitted + dropped = {}", c.triggers * batch, c.emitted + c.dropped),
        ),
        (c.emitted == consumer.consumed, format!("emitted {} but consumed {}", c.emitted, consumer.consumed)),
        (
            c.map_updates + c.map_errors == c.triggers * batch,
            format!("map updates + errors = {} for {} events", c.map_updates + c.map_errors, c.triggers * batch),
        ),
        (consumer_missing == c.dropped, format!("sequence gaps show {consumer_missing} missing, kernel dropped {}", c.dropped)),
        (consumer.out_of_order == 0, format!("{} records out of order", consumer.out_of_order)),
        (consumer.malformed == 0, format!("{} malformed records", consumer.malformed)),
    ];
    let broken: Vec<String> = checks.into_iter().filter(|(ok, _)| !ok).map(|(_, why)| why).collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(InvariantError(broken.join("; ")).into())
    }
}

/// Where threads run: the consumer on one CPU, producers on the others, as
/// the kernel's own ring buffer benchmark does. Without it the scheduler
/// sometimes stacks producer and consumer on one core and the rate halves.
#[derive(Debug, Clone)]
struct CpuPlan {
    consumer: Option<usize>,
    producers: Vec<usize>,
}

impl CpuPlan {
    fn for_this_process() -> Self {
        let allowed: Vec<usize> = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
            .map(|set| (0..nix::sched::CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false)).collect())
            .unwrap_or_default();
        match allowed.split_last() {
            Some((&last, rest)) if !rest.is_empty() => Self { consumer: Some(last), producers: rest.to_vec() },
            _ => Self { consumer: None, producers: vec![] },
        }
    }

    fn producer(&self, id: u32) -> Option<usize> {
        (!self.producers.is_empty()).then(|| self.producers[id as usize % self.producers.len()])
    }
}

fn pin_to_cpu(cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        let mut set = nix::sched::CpuSet::new();
        if set.set(cpu).is_ok() {
            // Best effort: an unpinned run is still a valid run.
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_are_refused_with_the_fix() {
        let bad = |c: RunConfig| c.validate().unwrap_err().to_string();
        assert!(bad(RunConfig { ringbuf_size: 5000, ..Default::default() }).contains("power of two"));
        assert!(bad(RunConfig { ringbuf_size: 2048, ..Default::default() }).contains("multiple of the page size"));
        assert!(bad(RunConfig { batch: 0, ..Default::default() }).contains("--batch 0"));
        assert!(bad(RunConfig { event_size: 8, ..Default::default() }).contains("--event-size 8"));
        assert!(bad(RunConfig { event_size: 4096, ringbuf_size: 4096, ..Default::default() })
            .contains("takes 4104 bytes in the ring"));
        assert!(bad(RunConfig { producers: 0, ..Default::default() }).contains("--producers 0"));
        assert!(RunConfig::default().validate().is_ok());
    }

    #[test]
    fn wakeup_policies_parse() {
        assert_eq!("adaptive".parse(), Ok(Wakeup::Adaptive));
        assert_eq!("sampled:64".parse(), Ok(Wakeup::Sampled(64)));
        assert!("sampled:0".parse::<Wakeup>().is_err());
        assert!("eager".parse::<Wakeup>().is_err());
    }
}
