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

use super::{
    history::History,
    sample::{owner_of, RingSample, Snapshot},
};

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
    pub const SAMPLE_SUCCESS: &str = "capacity_sample_success";
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
    sample_success(&mut registry, true);

    for map in &snapshot.maps {
        let l = labels(map.id, &map.map.name, &map.map.type_name, &owner_of(map));
        memory.get_or_create(&l).set(map.memlock_bytes as f64);
        max_entries.get_or_create(&l).set(f64::from(map.map.max_entries));
        if let Some(n) = map.entries {
            entries.get_or_create(&l).set(n as f64);
        }
        if let Some(p) = map.pressure {
            pressure.get_or_create(&l).set(p);
        }
        if let Some(seconds) = history.map(map.id).and_then(|f| f.exhaustion_seconds) {
            exhaustion.get_or_create(&l).set(seconds);
        }
        if let Some(ring) = RingSample::of(map) {
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
    encoded(&registry)
}

fn encoded(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).expect("writing to a String cannot fail");
    text
}

/// `capacity_sample_success`: 1 when the last sample read the host, 0 when
/// it failed (the series Prometheus alerts on; /healthz says why).
fn sample_success(registry: &mut Registry, ok: bool) {
    let gauge = Gauge::<i64>::default();
    registry.register(
        names::SAMPLE_SUCCESS,
        "Whether the last sample of the host succeeded (1) or failed (0)",
        gauge.clone(),
    );
    gauge.set(i64::from(ok));
}

/// The text served while sampling fails: only `capacity_sample_success 0`,
/// no series of an older sample that would look current.
pub fn render_failed() -> String {
    let mut registry = Registry::default();
    sample_success(&mut registry, false);
    encoded(&registry)
}

/// The classic Prometheus text format (0.0.4) of `openmetrics`, the text
/// `render` produced, for clients that do not ask for OpenMetrics. The two
/// differ, for the gauges and counters served here, in three things: a
/// counter's HELP and TYPE name its samples' `_total` name, there are no
/// UNIT lines, and no `# EOF`.
pub fn classic_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "].into_iter().find_map(|p| Some((p, line.strip_prefix(p)?)));
        match descriptor {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(name) { "_total" } else { "" };
                text.push_str(&format!("{prefix}{name}{suffix} {tail}\n"));
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        deployment::{inventory::LiveMap, owners::Owner},
        export::sample::{test_map, ProgramSample},
        pressure::Level,
        sys::bpf_map_type::{BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_RINGBUF},
    };

    fn snapshot(at: f64, entries: u64) -> Snapshot {
        Snapshot {
            at,
            read_seconds: 0.25,
            maps: vec![
                LiveMap {
                    owners: vec![Owner { pid: 1, comm: "agent".into() }],
                    memlock_bytes: 1_063_216,
                    entries: Some(entries),
                    pressure: Some(entries as f64 / 10_000.0),
                    level: Some(Level::Healthy),
                    ..test_map(7, "flows", BPF_MAP_TYPE_HASH, 10_000)
                },
                LiveMap {
                    memlock_bytes: 8_392_000,
                    pressure: Some(0.25),
                    level: Some(Level::Healthy),
                    ringbuf_pending_bytes: Some(1024),
                    ringbuf_pending_bytes_max: Some(3072),
                    ..test_map(8, "events", BPF_MAP_TYPE_RINGBUF, 4096)
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

    #[test]
    fn classic_text_names_counters_by_their_samples_and_has_no_eof() {
        let history = History::new(std::time::Duration::from_secs(60));
        let openmetrics = render(&snapshot(0.0, 1000), &history);
        assert!(openmetrics.lines().any(|l| l == "capacity_sample_success 1"), "{openmetrics}");
        let classic = classic_text(&openmetrics);
        assert!(classic.contains("# TYPE capacity_prog_run_count_total counter\n"), "{classic}");
        assert!(classic.contains("# HELP capacity_prog_run_count_total Runs of the program"), "{classic}");
        assert!(classic.contains("# TYPE capacity_map_entries gauge\n"), "{classic}");
        assert!(!classic.contains("# EOF"), "{classic}");
        // Samples are the same lines in both.
        let samples = |text: &str| text.lines().filter(|l| !l.starts_with('#')).map(String::from).collect::<Vec<_>>();
        assert_eq!(samples(&openmetrics), samples(&classic));
        assert!(render_failed().lines().any(|l| l == "capacity_sample_success 0"));
    }
}
