//! `capacity load --layout` against the real kernel: rings per CPU (an
//! array of maps) and perf buffers, with producers pinned one per CPU so
//! that several rings fill at once, and every event accounted per ring.
use capacity_tests::{assert_usage_error, capacity, kernel_test, programs_left_behind, run_json, u};
use serde_json::Value;

fn cpus() -> u64 {
    std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1)
}

fn load(args: &[&str]) -> Value {
    let mut full = vec!["load", "--json", "--warmup", "0"];
    full.extend_from_slice(args);
    let v = run_json(&full);
    eprintln!("capacity {full:?}: {v}");
    v
}

/// The run's accounting, and its rings' figures summing to the run's.
fn assert_accounted_per_ring(v: &Value) {
    let batch = u(v, "batch");
    assert_eq!(u(v, "emitted"), u(v, "consumed"), "emitted == consumed: {v}");
    assert_eq!(u(v, "triggers") * batch, u(v, "emitted") + u(v, "dropped"), "triggers × batch: {v}");
    assert_eq!(u(v, "dropped"), u(v, "dropped_full") + u(v, "dropped_busy"), "dropped == full + busy: {v}");
    assert_eq!(u(v, "seq_gaps") <= u(v, "dropped"), true, "gaps are drops: {v}");
    let rings = v["per_ring"].as_array().expect("per_ring");
    assert_eq!(rings.len() as u64, u(v, "rings"), "{v}");
    let sum = |key: &str| rings.iter().map(|r| u(r, key)).sum::<u64>();
    assert_eq!(sum("consumed"), u(v, "consumed"), "per-ring consumed sums to the run's: {v}");
    assert_eq!(sum("dropped"), u(v, "dropped"), "per-ring drops sum to the run's: {v}");
    for (i, ring) in rings.iter().enumerate() {
        assert_eq!(u(ring, "index"), i as u64, "{v}");
    }
}

#[test]
fn rings_per_cpu_fill_at_once_and_every_drop_is_counted_per_ring() {
    let Some(_lock) = kernel_test() else { return };
    let n = cpus();
    let producers = n.to_string();
    // A batch of 64 records of 72 B cannot fit a 4 KiB ring (56 fit): every
    // ring drops, whatever the consumer does.
    let v = load(&[
        "--layout", "per-cpu", "--producers", &producers, "--rate", "200k", "--duration", "1", "--batch", "64",
        "--ringbuf-size", "4K",
    ]);
    assert_eq!(v["layout"], "per-cpu", "{v}");
    assert_eq!(u(&v, "rings"), n, "one ring per CPU: {v}");
    assert_accounted_per_ring(&v);
    for ring in v["per_ring"].as_array().unwrap() {
        assert!(u(ring, "consumed") > 0 && u(ring, "dropped") > 0, "each CPU's producer filled its ring: {v}");
        assert!(u(ring, "peak_occupancy_bytes") <= 4096, "{v}");
    }
    assert!(v["lost"].is_null(), "{v}");
    assert!(programs_left_behind().is_empty(), "the run left a program loaded");
}

#[test]
fn rings_per_n_cpus_share_one_ring_between_cpus() {
    let Some(_lock) = kernel_test() else { return };
    let n = cpus();
    let v = load(&["--layout", "per-cpus:2", "--producers", &n.to_string(), "--rate", "100k", "--duration", "0.5"]);
    assert_eq!(v["layout"], "per-cpus:2", "{v}");
    assert_eq!(u(&v, "rings"), n.div_ceil(2), "{v}");
    assert_accounted_per_ring(&v);
    // A size mix goes through the same rings.
    let mix = load(&[
        "--layout",
        "per-cpu",
        "--producers",
        &n.to_string(),
        "--rate",
        "50k",
        "--duration",
        "0.5",
        "--event-size",
        "16..512",
    ]);
    assert_accounted_per_ring(&mix);
}

#[test]
fn perf_lost_records_equal_the_programs_failed_outputs() {
    let Some(_lock) = kernel_test() else { return };
    let n = cpus();
    // One data page holds 51 samples of 64 B (80 B each with their
    // headers): a batch of 64 overflows it on every CPU.
    let v = load(&[
        "--layout",
        "perf",
        "--perf-pages",
        "1",
        "--producers",
        &n.to_string(),
        "--rate",
        "200k",
        "--duration",
        "1",
        "--batch",
        "64",
    ]);
    assert_eq!(v["layout"], "perf", "{v}");
    assert_eq!(u(&v, "rings"), n, "one perf buffer per CPU: {v}");
    assert_accounted_per_ring(&v);
    assert!(u(&v, "dropped") > 0, "{v}");
    assert_eq!(u(&v, "lost"), u(&v, "dropped"), "PERF_RECORD_LOST counts every failed output: {v}");
    assert_eq!(u(&v, "dropped_busy"), 0, "{v}");
    assert_eq!(u(&v, "perf_pages"), 1, "{v}");
    // Sampled wakeups (wakeup_events = 64) and a size mix lose nothing at a low rate.
    let quiet = load(&[
        "--layout",
        "perf",
        "--producers",
        &n.to_string(),
        "--rate",
        "50k",
        "--duration",
        "0.5",
        "--wakeup",
        "sampled:64",
        "--event-size",
        "16..256",
    ]);
    assert_accounted_per_ring(&quiet);
    assert_eq!(u(&quiet, "lost"), u(&quiet, "dropped"), "{quiet}");
    assert!(programs_left_behind().is_empty(), "the run left a program loaded");
}

#[test]
fn layouts_refuse_what_they_cannot_do() {
    for (args, needle) in [
        (&["load", "--rate", "10k", "--layout", "ring"][..], "--layout"),
        (&["load", "--rate", "10k", "--layout", "per-cpus:0"][..], "per-cpus:N"),
        (&["load", "--rate", "10k", "--layout", "per-cpu", "--overwrite"][..], "--overwrite"),
        (&["load", "--rate", "10k", "--layout", "perf", "--perf-pages", "3"][..], "--perf-pages 3"),
        (&["load", "--rate", "10k", "--layout", "perf", "--event-size", "20000"][..], "--event-size"),
    ] {
        assert_usage_error(&capacity(args), needle);
    }
}
