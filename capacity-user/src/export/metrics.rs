//! The metric families `capacity watch --listen` serves, encoded with
//! prometheus-client from one snapshot and the forecasts of its history.
//! A fresh registry per sample: maps and programs that are gone leave no
//! stale series behind.
use std::sync::atomic::AtomicU64;

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::{history::History, sample::Snapshot};

/// Metric names as in CLI.md ("watch and alerts"); counters get `_total`
/// from the encoder.
pub mod names {
    pub const MAP_MEMORY: &str = "capacity_map_memory_bytes";
    pub const MAP_ENTRIES: &str = "capacity_map_entries";
    pub const MAP_MAX_ENTRIES: &str = "capacity_map_max_entries";
    pub const MAP_PRESSURE: &str = "capacity_map_pressure_ratio";
    pub const MAP_EXHAUSTION: &str = "capacity_map_exhaustion_seconds";
    pub const RING_PENDING: &str = "capacity_ringbuf_pending_bytes";
    pub const RING_SIZE: &str = "capacity_ringbuf_size_bytes";
    pub const RING_PENDING_MAX: &str = "capacity_ringbuf_pending_bytes_max";
    pub const RING_EXHAUSTION: &str = "capacity_ringbuf_exhaustion_seconds";
    pub const PROG_RUN_TIME: &str = "capacity_prog_run_time_seconds_total";
    pub const PROG_RUN_COUNT: &str = "capacity_prog_run_count_total";
    pub const PROG_RECURSION_MISSES: &str = "capacity_prog_recursion_misses_total";
    pub const SAMPLE_SECONDS: &str = "capacity_sample_duration_seconds";
}

type Labels = Vec<(&'static str, String)>;
type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;
type Counters = Family<Labels, Counter<f64, AtomicU64>>;

fn labels(id: u32, name: &str, type_name: &str, owner: &str) -> Labels {
    vec![
        ("id", id.to_string()),
        ("name", name.to_string()),
        ("type", type_name.to_string()),
        ("owner", owner.to_string()),
    ]
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauges {
    let family = Gauges::default();
    registry.register(name, help, family.clone());
    family
}

fn counter(registry: &mut Registry, name: &str, help: &str) -> Counters {
    let family = Counters::default();
    // The encoder appends `_total` itself.
    registry.register(name.strip_suffix("_total").unwrap_or(name), help, family.clone());
    family
}

/// The Prometheus text (OpenMetrics) for `snapshot`. Help texts have no
/// final period: the encoder adds one.
pub fn render(snapshot: &Snapshot, history: &History) -> String {
    use names::*;
    let mut registry = Registry::default();
    let memory = gauge(&mut registry, MAP_MEMORY, "Memory the kernel charges for the map (fdinfo memlock), bytes");
    let entries = gauge(&mut registry, MAP_ENTRIES, "Entries in use (hash-family maps), counted by the kernel");
    let max_entries = gauge(&mut registry, MAP_MAX_ENTRIES, "The map's max_entries (a ring buffer's size in bytes)");
    let pressure = gauge(&mut registry, MAP_PRESSURE, "entries / max_entries, or a ring buffer's fill (0 to 1)");
    let exhaustion = gauge(
        &mut registry,
        MAP_EXHAUSTION,
        "Seconds until entries reach max_entries, by a least-squares line over the watch window; absent when not growing",
    );
    let pending = gauge(&mut registry, RING_PENDING, "Bytes a ring buffer holds that its consumer has not read");
    let size = gauge(&mut registry, RING_SIZE, "A ring buffer's data size, bytes");
    let pending_max = gauge(
        &mut registry,
        RING_PENDING_MAX,
        "The highest backlog a ring buffer held since the previous sample, read every --ring-interval, bytes",
    );
    let ring_exhaustion = gauge(
        &mut registry,
        RING_EXHAUSTION,
        "Seconds until the backlog fills the ring, by a least-squares line over the watch window; absent when not growing",
    );
    let run_time = counter(
        &mut registry,
        PROG_RUN_TIME,
        "Time the program ran while BPF stats were on (kernel.bpf_stats_enabled), seconds",
    );
    let run_count = counter(&mut registry, PROG_RUN_COUNT, "Runs of the program while BPF stats were on");
    let misses = counter(
        &mut registry,
        PROG_RECURSION_MISSES,
        "Runs the kernel skipped because the program was already running on that CPU",
    );
    let read = Gauge::<f64, AtomicU64>::default();
    registry.register(SAMPLE_SECONDS, "How long reading the host's maps and programs took, seconds", read.clone());
    read.set(snapshot.read_seconds);

    for map in &snapshot.maps {
        let l = labels(map.id, &map.name, &map.type_name, &map.owner);
        memory.get_or_create(&l).set(map.memory_bytes as f64);
        max_entries.get_or_create(&l).set(f64::from(map.max_entries));
        if let Some(n) = map.entries {
            entries.get_or_create(&l).set(n as f64);
        }
        if let Some(p) = map.pressure {
            pressure.get_or_create(&l).set(p);
        }
        if let Some(seconds) = history.map(map.id).and_then(|f| f.exhaustion_seconds) {
            exhaustion.get_or_create(&l).set(seconds);
        }
        if let Some(ring) = map.ring {
            pending.get_or_create(&l).set(ring.pending_bytes as f64);
            size.get_or_create(&l).set(ring.size_bytes as f64);
            if let Some(max) = ring.pending_bytes_max {
                pending_max.get_or_create(&l).set(max as f64);
            }
            if let Some(seconds) = history.ring(map.id).and_then(|f| f.exhaustion_seconds) {
                ring_exhaustion.get_or_create(&l).set(seconds);
            }
        }
    }
    for program in &snapshot.programs {
        let l = labels(program.id, &program.name, &program.type_name, &program.owner);
        run_time.get_or_create(&l).inc_by(program.run_time_ns as f64 / 1e9);
        run_count.get_or_create(&l).inc_by(program.run_count as f64);
        if let Some(m) = program.recursion_misses {
            misses.get_or_create(&l).inc_by(m as f64);
        }
    }
    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::sample::{MapSample, ProgramSample, RingSample};

    fn snapshot(at: f64, entries: u64) -> Snapshot {
        Snapshot {
            at,
            read_seconds: 0.25,
            maps: vec![
                MapSample {
                    id: 7,
                    name: "flows".into(),
                    type_name: "hash".into(),
                    owner: "agent".into(),
                    memory_bytes: 1_063_216,
                    entries: Some(entries),
                    max_entries: 10_000,
                    pressure: Some(entries as f64 / 10_000.0),
                    level: Some("healthy".into()),
                    ring: None,
                },
                MapSample {
                    id: 8,
                    name: "events".into(),
                    type_name: "ringbuf".into(),
                    owner: String::new(),
                    memory_bytes: 8_392_000,
                    entries: None,
                    max_entries: 4096,
                    pressure: Some(0.25),
                    level: Some("healthy".into()),
                    ring: Some(RingSample { pending_bytes: 1024, size_bytes: 4096, pending_bytes_max: Some(3072) }),
                },
            ],
            programs: vec![ProgramSample {
                id: 3,
                name: "trace".into(),
                type_name: "tracepoint".into(),
                owner: "agent".into(),
                run_count: 40,
                run_time_ns: 2_000_000_000,
                recursion_misses: Some(2),
            }],
        }
    }

    #[test]
    fn every_family_has_its_contract_name_and_labels() {
        let mut history = History::new(std::time::Duration::from_secs(60));
        for i in 0..5u32 {
            history.record(&snapshot(f64::from(i), 1000 + 100 * u64::from(i)));
        }
        let text = render(&snapshot(4.0, 1400), &history);
        let l = r#"{id="7",name="flows",type="hash",owner="agent"}"#;
        for line in [
            format!("capacity_map_memory_bytes{l} 1063216.0"),
            format!("capacity_map_entries{l} 1400.0"),
            format!("capacity_map_max_entries{l} 10000.0"),
            format!("capacity_map_pressure_ratio{l} 0.14"),
            // 100 entries/s, 8600 to go.
            format!("capacity_map_exhaustion_seconds{l} 86.0"),
            r#"capacity_ringbuf_pending_bytes{id="8",name="events",type="ringbuf",owner=""} 1024.0"#.into(),
            r#"capacity_ringbuf_size_bytes{id="8",name="events",type="ringbuf",owner=""} 4096.0"#.into(),
            r#"capacity_ringbuf_pending_bytes_max{id="8",name="events",type="ringbuf",owner=""} 3072.0"#.into(),
            r#"capacity_prog_run_time_seconds_total{id="3",name="trace",type="tracepoint",owner="agent"} 2.0"#.into(),
            r#"capacity_prog_run_count_total{id="3",name="trace",type="tracepoint",owner="agent"} 40.0"#.into(),
            r#"capacity_prog_recursion_misses_total{id="3",name="trace",type="tracepoint",owner="agent"} 2.0"#.into(),
            "capacity_sample_duration_seconds 0.25".into(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
        // The ring's backlog is flat: no forecast.
        assert!(!text.contains("capacity_ringbuf_exhaustion_seconds{"), "{text}");
        assert!(text.contains("# TYPE capacity_prog_run_count counter"), "{text}");
        assert!(
            text.contains("# HELP capacity_map_entries Entries in use (hash-family maps), counted by the kernel.\n"),
            "{text}"
        );
    }
}
