//! `capacity observe` against a process of known ring behaviour
//! (tests/src/bin/ring_workload.rs with tests/bpf/observed.bpf.c): bursts of
//! known size and period, a consumer of known capacity that stalls with a
//! known pattern. The figures must match the arithmetic, and the recorded
//! series replayed by `capacity size` must answer the ring that holds it.
use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use capacity_tests::{
    assert_usage_error, capacity, capacity_bin, f, json_of, kernel_test, run_json, test_object, u, TempDir,
};
use nix::{
    sys::signal::{kill, Signal},
    unistd::Pid,
};
use serde_json::Value;

/// Bytes one record takes in the ring: observed.bpf.c's 56-byte payload plus
/// the kernel's 8-byte header.
const RECORD: u64 = 64;
/// The workload: 5 records every ms (320 kB/s, 5000 records/s); the
/// consumer takes a record in 10 µs (6.4 MB/s while behind, 5% of a CPU
/// otherwise, so that a busy 2-CPU host still runs it, and so does the
/// replay's consumer, which pays the same work) and pauses 900 ms every
/// 2 s: 288000 bytes pile up, 27% of the 1 MiB ring, and 25 KiB (81 ms of
/// production) above 256 KiB. A replay stalls as long (it takes the longest
/// pause, rounded up), so it cannot need less than 512 KiB; it may lag
/// behind the pauses by 738 ms of production (236288 B) before it needs
/// more. (At twice the rate the replay's consumer, at a tenth of a CPU,
/// fell behind for good when a loaded host gave it less, and the answer
/// was a step higher.)
const BURST: u64 = 5;
const PERIOD_US: u64 = 1000;
const WORK_NS: u64 = 10_000;
const STALL_MS: u64 = 900;
const EVERY_MS: u64 = 2000;
/// Long enough for three whole pauses and the time between them.
const DURATION: &str = "7s";
const DURATION_MS: u64 = 7000;

/// The helper process; `finish` closes its stdin and reads what it did.
struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
    id: u64,
}

impl Workload {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ring_workload"))
            .arg(test_object("observed"))
            .args([BURST, PERIOD_US, WORK_NS, STALL_MS, EVERY_MS].map(|n| n.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start ring_workload");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let id = line.trim().strip_prefix("ready ").and_then(|id| id.parse().ok());
        let id = id.unwrap_or_else(|| panic!("the workload did not get ready: `{line}`"));
        let stdin = child.stdin.take();
        Self { child, stdin, id }
    }

    /// Stops it: `{produced, consumed, longest_stall_ns}`.
    fn finish(mut self) -> Value {
        drop(self.stdin.take());
        let mut out = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(self.child.wait().unwrap().success());
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("workload said `{out}`: {e}"))
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn within(measured: f64, expected: f64, fraction: f64) -> bool {
    (measured - expected).abs() <= fraction * expected
}

#[test]
fn observe_reports_a_known_workload_and_its_replay_answers_the_ring_that_holds_it() {
    let Some(_kernel) = kernel_test() else { return };
    let dir = TempDir::new("observe");
    let csv = dir.0.join("observed.csv");
    let workload = Workload::start();
    let id = workload.id;
    let v = capacity_tests::off_the_last_cpu(|| {
        run_json(&["observe", &id.to_string(), "--duration", DURATION, "--record", csv.to_str().unwrap(), "--json"])
    });
    let done = workload.finish();

    assert_eq!(u(&v["ring"], "id"), id);
    assert_eq!(v["ring"]["name"], "observed_ring");
    assert_eq!(u(&v["ring"], "size_bytes"), 1 << 20);
    assert_eq!(v["ring"]["owners"][0]["comm"], "ring_workload", "{v}");
    assert_eq!(u(&v, "interval_ns"), 1_000_000);
    assert!(u(&v, "samples") >= DURATION_MS * 2 / 3, "at 1 ms, samples lose at most a third to a busy host: {v}");

    // Rates: BURST records of RECORD bytes every PERIOD_US.
    let produced = (BURST * RECORD) as f64 * 1e6 / PERIOD_US as f64;
    assert!(
        within(f(&v, "produced_bytes_per_s"), produced, 0.02),
        "produced {} vs {produced}: {v}",
        v["produced_bytes_per_s"]
    );
    assert!(within(f(&v, "records_per_s"), produced / RECORD as f64, 0.02), "{v}");
    assert_eq!(f(&v, "mean_record_bytes"), RECORD as f64, "{v}");
    // The consumer's capacity while behind: one record per WORK_NS.
    let capacity_bytes = RECORD as f64 * 1e9 / WORK_NS as f64;
    assert!(
        within(f(&v, "drain_bytes_per_s"), capacity_bytes, 0.05),
        "drain {} vs {capacity_bytes}: {v}",
        v["drain_bytes_per_s"]
    );

    // The peak: the most records that waited, at the end of a pause, by
    // the workload's own counts of what it produced and consumed; within
    // one sample interval's production (the reading nearest the end of a
    // pause may come up to an interval before it) and one burst (the
    // producer's count moves a burst at a time).
    let expected_peak = (u(&done, "peak_records") * RECORD) as f64;
    let tolerance = produced * 1e-3 + (BURST * RECORD) as f64;
    let peak = u(&v["backlog_bytes"], "max") as f64;
    assert!(
        (peak - expected_peak).abs() <= tolerance,
        "peak {peak}, expected {expected_peak} ± {tolerance}: {v} {done}"
    );
    // And what the pauses themselves explain: the rate over the longest.
    let longest_stall_s = u(&done, "longest_stall_ns") as f64 / 1e9;
    assert!(peak >= produced * (STALL_MS as f64 / 1e3) - tolerance, "{v} {done}");
    assert!(u(&v["backlog_bytes"], "p50") <= u(&v["backlog_bytes"], "p99"));
    assert_eq!(f(&v, "time_above_90pct_s"), 0.0, "{v}");
    assert_eq!(u(&v, "near_full_events"), 0, "{v}");

    // The stalls: one every EVERY_MS, each at least STALL_MS.
    let stalls = &v["consumer_stalls"];
    assert!(u(stalls, "count") >= 3, "{DURATION} holds 3 whole pauses at least: {v}");
    let longest = f(stalls, "longest_ms");
    // A stall is seen from the last reading that saw the consumer move to
    // the first that sees it move again: each reading comes up to an
    // interval after the move it sees, so the span is within an interval
    // of the pause either way, more when the observer itself was run late
    // on a busy host (5 ms).
    let pause_ms = longest_stall_s * 1e3;
    assert!((STALL_MS as f64 - 1.5..=pause_ms + 5.0).contains(&longest), "{v} {done}");
    assert!(within(f(stalls, "period_ms"), EVERY_MS as f64, 0.05), "{v}");

    // The answer: the power of two that holds the peak with a fifth to spare.
    let recommended = u(&v, "recommended_size_bytes");
    assert_eq!(recommended, ((peak / 0.8).ceil() as u64).next_power_of_two(), "{v}");
    assert!(v["answer"].as_str().unwrap().starts_with("peak backlog"), "{v}");

    // The replay: the printed command on the recorded series answers the
    // power of two that holds the observed peak.
    let replay = v["replay"].as_str().unwrap();
    let mut args: Vec<&str> = replay.split_whitespace().collect();
    assert_eq!(args.remove(0), "capacity");
    assert!(replay.contains(&format!("--profile {}", csv.display())), "{replay}");
    assert!(replay.contains(&format!("--event-size {}", RECORD - 8)), "{replay}");
    // The stall flag: the longest pause seen, rounded up, every period seen.
    let stall = v["replay_consumer_stall"].as_str().unwrap();
    assert!(replay.contains(&format!("--consumer-stall {stall}")), "{replay}");
    let (pause, every) = stall.split_once('@').unwrap();
    assert_eq!(pause.parse::<f64>().unwrap(), longest.ceil(), "{replay}");
    assert!(within(every.parse().unwrap(), EVERY_MS as f64, 0.05), "{replay}");
    args.extend(["--min", "32K", "--max", "2M", "--json"]);
    let sized = run_json(&args);
    let trials: Vec<String> = sized["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{} B: peak {} B, {} dropped", t["ringbuf_size"], t["peak_occupancy_bytes"], t["dropped"]))
        .collect();
    // Exactly the power of two that holds the peak (the workload, above, says why
    // this host's lag cannot push it a step higher).
    let holds = (peak as u64).next_power_of_two();
    assert_eq!(holds, 512 << 10, "the workload's pauses pile up between 256 and 512 KiB: {v}");
    let answer = u(&sized, "min_ringbuf_size");
    assert_eq!(answer, holds, "replay of {replay} answered {answer}, expected {holds}: {trials:?}");
    assert_eq!(sized["confirmed"], true, "{trials:?}");
}

/// Ctrl-C during an observation: it stops within a sampling step, prints
/// what it saw until then (exit 130), still writes `--record`, and leaves
/// nothing behind: afterwards only the workload holds its ring.
#[test]
fn ctrl_c_stops_observe_promptly_with_the_partial_result() {
    let Some(_kernel) = kernel_test() else { return };
    let dir = TempDir::new("observe-ctrl-c");
    let csv = dir.0.join("partial.csv");
    let workload = Workload::start();
    let id = workload.id;
    let child = Command::new(capacity_bin())
        .args(["observe", &id.to_string(), "--duration", "60s", "--record", csv.to_str().unwrap(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn capacity observe");
    // Sampling has begun once the observer has the ring mapped (it keeps
    // the mapping, not a file descriptor), read-only.
    let started = Instant::now();
    let mapped = || -> Vec<String> {
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", child.id())).unwrap_or_default();
        maps.lines().filter(|l| l.ends_with("anon_inode:bpf-map")).map(str::to_string).collect()
    };
    while mapped().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "capacity observe never mapped ring {id}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mappings = mapped();
    assert!(mappings.iter().all(|l| l.split_whitespace().nth(1) == Some("r--s")), "read-only: {mappings:?}");
    std::thread::sleep(Duration::from_millis(1500));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("send SIGINT");
    let sent = Instant::now();
    let out = child.wait_with_output().expect("wait for capacity observe");
    let waited = sent.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(waited < Duration::from_secs(3), "took {waited:?} to stop after SIGINT; stderr: {stderr}");
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    let v = json_of(&out);
    assert_eq!(u(&v["ring"], "id"), id, "{v}");
    // What ran before the signal: at least the 1.5 s waited, far from 60 s.
    let seconds = f(&v, "duration_s");
    assert!((1.4..10.0).contains(&seconds), "observed {seconds} s before SIGINT: {v}");
    assert_eq!(u(&v, "interval_ns"), 1_000_000);
    assert!(u(&v, "samples") as f64 >= seconds * 1e3 * 2.0 / 3.0, "{v}");
    let produced = (BURST * RECORD) as f64 * 1e6 / PERIOD_US as f64;
    assert!(within(f(&v, "produced_bytes_per_s"), produced, 0.05), "{v}");
    assert!(v["answer"].as_str().unwrap().starts_with("peak backlog"), "{v}");
    // The series of those seconds, in rows of at least 10 ms: the last
    // row starts within a few rows of the end.
    let text = std::fs::read_to_string(&csv).expect("--record written after SIGINT");
    let starts: Vec<f64> = text.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    let last = *starts.last().expect("rows");
    assert!(last <= seconds && last >= seconds - 0.05, "last row at {last} s of {seconds} s:\n{text}");
    assert!(starts.len() as f64 >= seconds * 100.0 * 0.8, "{} rows for {seconds} s", starts.len());
    assert!(stderr.contains(&format!("wrote {}", csv.display())), "{stderr}");
    assert_eq!(ring_holders(id), vec!["ring_workload".to_string()], "after observe exited");
    drop(workload);
}

/// The commands of the processes that hold the ring `id`, from `capacity host`.
fn ring_holders(id: u64) -> Vec<String> {
    let host = run_json(&["host", "--json"]);
    let ring = host["maps"].as_array().unwrap().iter().find(|m| m["id"] == id);
    let owners = ring.and_then(|r| r["owners"].as_array()).cloned().unwrap_or_default();
    owners.iter().filter_map(|o| o["comm"].as_str().map(str::to_string)).collect()
}

#[test]
fn every_ring_of_a_process_is_observed_by_pid() {
    let Some(_kernel) = kernel_test() else { return };
    let workload = Workload::start();
    let pid = workload.child.id().to_string();
    let v = run_json(&["observe", &format!("pid:{pid}"), "--duration", "300ms", "--json"]);
    assert_eq!(v["pid"].as_u64(), Some(workload.child.id().into()), "{v}");
    let rings = v["rings"].as_array().expect("rings");
    assert_eq!(rings.len(), 1, "{v}");
    assert_eq!(u(&rings[0]["ring"], "id"), workload.id);
    assert!(f(&rings[0], "produced_bytes_per_s") > 0.0, "{v}");
    drop(workload);
}

#[test]
fn bad_observe_arguments_are_one_line_and_exit_2() {
    assert_usage_error(&capacity(&["observe", "pid:me"]), "pid:PID");
    assert_usage_error(&capacity(&["observe", "1", "--interval", "0"]), "--interval");
    assert_usage_error(&capacity(&["observe", "1", "--record-size", "64"]), "--record");
    let Some(_kernel) = kernel_test() else { return };
    assert_usage_error(&capacity(&["observe", "no_such_ring_x"]), "no ring buffer is named");
    assert_usage_error(&capacity(&["observe", "4294967295"]), "no BPF map has id");
}

/// `watch --ring-interval 1ms` between two samples 2 s apart sees the
/// backlog a pause piles up and drains again before the sample: its
/// high-water mark holds the pause's backlog (the exporter serves it as
/// `capacity_ringbuf_pending_bytes_max`; watch.rs has a real Prometheus
/// read it back).
#[test]
fn watch_keeps_the_high_water_mark_between_samples() {
    let Some(_kernel) = kernel_test() else { return };
    let workload = Workload::start();
    let id = workload.id;
    let v = run_json(&["watch", "--interval", "2s", "--samples", "2", "--ring-interval", "1ms", "--json"]);
    let done = workload.finish();
    let ring = v["maps"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("{v}"));
    let mark = u(&ring["ring"], "pending_bytes_max") as f64;
    let produced = (BURST * RECORD) as f64 * 1e6 / PERIOD_US as f64;
    // A reading every ms: within one interval's production and one burst.
    let tolerance = produced * 1e-3 + (BURST * RECORD) as f64;
    let pause = produced * STALL_MS as f64 / 1e3;
    let most = (u(&done, "peak_records") * RECORD) as f64;
    assert!(mark >= pause - tolerance && mark <= most + tolerance, "mark {mark}, pause {pause}, most {most}: {ring}");
    assert!(u(&ring["ring"], "pending_bytes") <= mark as u64, "{ring}");
}
