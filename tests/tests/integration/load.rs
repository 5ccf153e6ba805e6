//! `capacity load` against the real kernel: exact event accounting.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use capacity_tests::{
    capacity, capacity_bin, json_of, kernel_test, loaded_capacity_programs, programs_left_behind, run_json, u,
};
use serde_json::Value;

/// The invariants every run must satisfy, checked from the outside.
fn assert_every_event_accounted(v: &Value) {
    let batch = u(v, "batch");
    assert_eq!(u(v, "emitted"), u(v, "consumed") + u(v, "overwritten"), "emitted == consumed + overwritten: {v}");
    assert_eq!(
        u(v, "triggers") * batch,
        u(v, "emitted") + u(v, "dropped"),
        "triggers × batch == emitted + dropped: {v}"
    );
    assert_eq!(u(v, "dropped"), u(v, "dropped_full") + u(v, "dropped_busy"), "dropped == full + busy: {v}");
    // Every trigger the producers made ran, or the kernel skipped it and
    // counted it in the program's recursion_misses (7.x: the program can be
    // preempted, and a second producer on that CPU then finds it active).
    assert_eq!(
        u(v, "issued_triggers"),
        u(v, "triggers") + u(v, "missed_runs") - u(v, "missed_runs_other"),
        "issued == triggers + missed runs of ours: {v}"
    );
    if u(v, "other_runs") == 0 {
        assert_eq!(u(v, "missed_runs_other"), 0, "nobody else ran the program, nobody else missed it: {v}");
    }
    let map_events = if v["map"] == "off" { 0 } else { u(v, "triggers") * batch };
    assert_eq!(
        u(v, "map_updates") + u(v, "map_errors"),
        map_events,
        "one map update per event, none with --map off: {v}"
    );
    // Throughput: consumed events and their ring bytes over the run.
    let per_s = u(v, "consumed") as f64 / v["duration_s"].as_f64().unwrap();
    assert!((v["consumed_per_s"].as_f64().unwrap() - per_s).abs() <= per_s * 1e-9 + 1e-9, "consumed_per_s: {v}");
    assert_eq!(
        v["consumed_bytes_per_s"].as_f64().unwrap().round(),
        (v["consumed_per_s"].as_f64().unwrap() * u(v, "record_bytes") as f64).round(),
        "consumed_bytes_per_s for one event size: {v}"
    );
    for field in ["target_rate", "actual_rate", "duration_s", "drop_rate", "error_rate"] {
        assert!(v[field].is_number(), "`{field}` missing: {v}");
    }
    for q in ["p50", "p90", "p99", "p999", "max"] {
        assert!(v["latency_ns"][q].is_u64(), "latency_ns.{q} missing: {v}");
    }
}

fn load(args: &[&str]) -> Value {
    let mut full = vec!["load", "--json"];
    full.extend_from_slice(args);
    let v = run_json(&full);
    // Shown with --nocapture (the VM logs keep what each kernel measured).
    eprintln!("capacity {full:?}: {v}");
    v
}

#[test]
fn the_ring_alone_touches_no_map_and_counts_every_event() {
    let Some(_lock) = kernel_test() else { return };
    // Batch 64 in a 64 KiB ring at 4M/s: the reader wraps the ring
    // many times, hands the consumer position back in steps, and drops
    // happen; every event is still consumed or counted dropped.
    let v = load(&[
        "--rate", "4M", "--duration", "1", "--batch", "64", "--event-size", "16", "--ringbuf-size", "64K", "--wakeup",
        "sampled:64", "--map", "off", "--warmup", "0",
    ]);
    assert_every_event_accounted(&v);
    assert_eq!(v["map"], "off", "{v}");
    assert_eq!((u(&v, "map_updates"), u(&v, "map_errors")), (0, 0), "{v}");
    assert!(u(&v, "consumed") * 24 > 4 * (64 << 10), "the consumer went round the ring many times: {v}");
    let on = load(&["--rate", "50k", "--duration", "0.5", "--batch", "8", "--warmup", "0"]);
    assert_every_event_accounted(&on);
    assert_eq!(on["map"], "on", "{on}");
    assert_eq!(u(&on, "map_updates"), u(&on, "emitted") + u(&on, "dropped"), "{on}");
}

#[test]
fn big_ring_and_fast_consumer_lose_nothing() {
    let Some(_lock) = kernel_test() else { return };
    // 100k events of 72 ring bytes fit in 16 MiB even if the consumer never ran.
    let v = load(&["--rate", "100k", "--duration", "1", "--ringbuf-size", "16M", "--warmup", "0"]);
    assert_every_event_accounted(&v);
    assert_eq!(u(&v, "dropped"), 0, "{v}");
    assert_eq!(u(&v, "consumed"), u(&v, "triggers"), "{v}");
    // Scale, not speed (emulated CPUs in `cargo xtask vm` reach less).
    assert!(u(&v, "triggers") > 50_000, "the run produced at scale: {v}");
    assert!(u(&v, "peak_occupancy_bytes") > 0, "{v}");
    assert!(u(&v, "peak_occupancy_bytes") <= 16 << 20, "{v}");
    assert!(programs_left_behind().is_empty(), "program left attached");
}

#[test]
fn batches_and_several_producers_are_counted_exactly() {
    let Some(_lock) = kernel_test() else { return };
    let v = load(&[
        "--rate", "400k", "--duration", "1", "--batch", "32", "--producers", "2", "--event-size", "256",
        "--ringbuf-size", "256M", "--warmup", "0",
    ]);
    assert_every_event_accounted(&v);
    assert_eq!(u(&v, "dropped"), 0, "a 256 MiB ring holds the whole second: {v}");
    assert_eq!(u(&v, "consumed"), u(&v, "triggers") * 32, "{v}");
    assert_eq!(u(&v, "seq_gaps"), 0, "skipped runs attempt nothing, so they leave no gap: {v}");
    assert_eq!(u(&v, "record_bytes"), 264, "{v}");
    assert!(!v["overwrite"].as_bool().unwrap(), "{v}");
}

/// Linux 6.19 brought BPF_F_RB_OVERWRITE.
fn kernel_has_overwrite_mode() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("/proc/sys/kernel/osrelease");
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 19)
}

#[test]
fn overwrite_mode_counts_every_overwritten_record() {
    let Some(_lock) = kernel_test() else { return };
    // One page holds 56 records of 72 bytes; a consumer spending 20 µs an
    // event reads 50k/s of the 200k/s, so the ring overwrites most of them.
    let args = [
        "load", "--json", "--rate", "200k", "--duration", "1", "--ringbuf-size", "4096", "--consumer-work", "20000",
        "--warmup", "0", "--overwrite",
    ];
    if !kernel_has_overwrite_mode() {
        let out = capacity(&args);
        capacity_tests::assert_usage_error(&out, "BPF_F_RB_OVERWRITE");
        assert!(programs_left_behind().is_empty(), "nothing may stay loaded after the refusal");
        capacity_tests::announce(
            "*** overwrite_mode_counts_every_overwritten_record: this kernel predates BPF_F_RB_OVERWRITE (6.19): \
             checked the refusal (exit 2); the overwrite run itself is SKIPPED here ***",
        );
        return;
    }
    let v = load(&args[2..]);
    assert_every_event_accounted(&v);
    assert!(v["overwrite"].as_bool().unwrap(), "{v}");
    // One producer commits each record before it reserves the next, so
    // nothing blocks the overwrite: no reserve fails.
    assert_eq!(u(&v, "dropped"), 0, "{v}");
    assert!(u(&v, "overwritten") > 0, "{v}");
    assert!(u(&v, "consumed") > 0, "{v}");
    // The consumer sees overwritten records as gaps in the sequence numbers,
    // and counts them from the kernel's overwrite position: both agree.
    assert_eq!(u(&v, "seq_gaps"), u(&v, "overwritten"), "{v}");
    assert_eq!(u(&v, "consumed") + u(&v, "overwritten"), u(&v, "triggers"), "{v}");

    // Two producers with batches: records of both interleave, a reserve can
    // wait behind the other's uncommitted record (then it fails: dropped),
    // and on 7.x runs are skipped; every event is still accounted for.
    let v = load(&[
        "--rate", "200k", "--duration", "1", "--batch", "8", "--producers", "2", "--ringbuf-size", "16K",
        "--consumer-work", "20000", "--warmup", "0", "--overwrite",
    ]);
    assert_every_event_accounted(&v);
    assert!(u(&v, "overwritten") > 0, "{v}");
    // A producer's lost last records show after its last record, not as a gap.
    assert!(u(&v, "seq_gaps") <= u(&v, "overwritten") + u(&v, "dropped"), "{v}");
    assert!(programs_left_behind().is_empty(), "program left attached");
}

#[test]
fn small_ring_and_slow_consumer_drop_but_every_event_is_counted() {
    let Some(_lock) = kernel_test() else { return };
    // One page holds 56 records; a consumer spending 20 µs an event manages
    // 50k/s, so at 200k/s most events must be dropped.
    let v = load(&[
        "--rate", "200k", "--duration", "1", "--ringbuf-size", "4096", "--consumer-work", "20000", "--warmup", "0",
    ]);
    assert_every_event_accounted(&v);
    assert!(u(&v, "dropped") > 0, "{v}");
    // Nothing else reserves in this ring and no program of ours nests on a
    // CPU, so its lock is never contended long: every drop is a full ring.
    assert_eq!(u(&v, "dropped_full"), u(&v, "dropped"), "{v}");
    assert_eq!(u(&v, "dropped_busy"), 0, "{v}");
    assert!(u(&v, "consumed") > 0, "{v}");
    assert!(u(&v, "peak_occupancy_bytes") <= 4096, "{v}");
    assert!(u(&v, "seq_gaps") <= u(&v, "dropped"), "{v}");
    assert!(v["drop_rate"].as_f64().unwrap() > 0.5, "{v}");
}

#[test]
fn map_errors_appear_when_the_keyspace_exceeds_the_map() {
    let Some(_lock) = kernel_test() else { return };
    let v = load(&[
        "--rate", "50k", "--duration", "0.5", "--batch", "10", "--keyspace", "1000", "--map-entries", "100",
        "--warmup", "0",
    ]);
    assert_every_event_accounted(&v);
    // One producer: event i updates flow i % 1000. The first 100 flows fit
    // the map, the other 900 of every 1000 are refused.
    let events = u(&v, "triggers") * 10;
    let expected_errors = (0..events).filter(|i| i % 1000 >= 100).count() as u64;
    assert_eq!(u(&v, "map_errors"), expected_errors, "{v}");
    assert_eq!(u(&v, "map_updates"), events - expected_errors, "{v}");
}

#[test]
fn wakeup_and_stall_models_keep_the_accounting() {
    let Some(_lock) = kernel_test() else { return };
    let v = load(&[
        "--rate", "100k", "--duration", "1", "--batch", "8", "--wakeup", "sampled:64", "--consumer-stall", "100@300",
        "--ringbuf-size", "64K",
    ]);
    assert_every_event_accounted(&v);
    assert_eq!(v["wakeup"], "sampled:64");
    // 100 ms pauses at 100k/s back up 10k events (720 KB): far more than 64 KiB.
    assert!(u(&v, "dropped") > 0, "{v}");
}

#[test]
fn ctrl_c_detaches_prints_the_partial_result_and_exits_promptly() {
    let Some(_lock) = kernel_test() else { return };
    interrupt_a_load_run(nix::sys::signal::Signal::SIGINT, 130);
}

/// CI runners, systemd and Kubernetes stop processes with SIGTERM: the same
/// partial result as Ctrl-C, with the shell's code for it (128 + 15).
#[test]
fn sigterm_detaches_prints_the_partial_result_and_exits_143() {
    let Some(_lock) = kernel_test() else { return };
    interrupt_a_load_run(nix::sys::signal::Signal::SIGTERM, 143);
}

/// Start a long `capacity load --json`, send `signal` once events flow, and
/// check the exit code, the one partial JSON result with exact accounting,
/// and that nothing stays loaded.
fn interrupt_a_load_run(signal: nix::sys::signal::Signal, exit_code: i32) {
    let child = Command::new(capacity_bin())
        .args(["load", "--json", "--rate", "50k", "--duration", "60", "--consumer-work", "100000", "--warmup", "0.5s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn capacity");
    // Interrupt once the program is attached and events flow (startup is
    // slow under emulation). Whether this lands in the warm-up or the
    // measured part, the partial result covers what ran.
    let attached = Instant::now();
    while loaded_capacity_programs().is_empty() {
        assert!(attached.elapsed() < Duration::from_secs(30), "capacity never attached its program");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).expect("send the signal");
    let sent = Instant::now();
    let out = child.wait_with_output().expect("wait for capacity");
    assert!(sent.elapsed() < Duration::from_secs(5), "took {:?} to exit after {signal}", sent.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit_code), "after {signal}; stderr: {stderr}");
    let v = json_of(&out);
    assert_eq!(v["interrupted"], true, "{v}");
    assert_every_event_accounted(&v);
    assert!(u(&v, "triggers") > 0 && u(&v, "triggers") < 50_000 * 60, "{v}");
    assert!(stderr.contains("interrupted by"), "the interruption is announced on stderr: {stderr}");
    assert!(programs_left_behind().is_empty(), "program left attached after {signal}");
}
