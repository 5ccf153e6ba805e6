//! Traffic shapes against the real kernel: bursts, Poisson arrivals and
//! replayed profiles keep the mean rate, and each phase's pacing is
//! reported as target against actual.
use capacity_tests::{assert_usage_error, capacity, f, kernel_test, programs_left_behind, run_json, u};
use serde_json::Value;

/// The schedule's count is a ceiling the producers reach unless the host
/// delays them near the end of the run (the generator does not run past
/// its duration to catch up); 3% short is the tolerance search uses too.
fn assert_issued(v: &Value, scheduled: u64) {
    let issued = u(v, "triggers");
    assert!(issued <= scheduled && issued as f64 >= 0.97 * scheduled as f64, "{issued} of {scheduled} triggers: {v}");
}

fn load(args: &[&str]) -> Value {
    let mut full = vec!["load", "--json"];
    full.extend_from_slice(args);
    let v = run_json(&full);
    assert_eq!(u(&v, "emitted"), u(&v, "consumed"), "{v}");
    assert_eq!(u(&v, "triggers") * u(&v, "batch"), u(&v, "emitted") + u(&v, "dropped"), "{v}");
    v
}

/// Each phase's target rate and scheduled events are exact; the events
/// issued in the phases add up to the run's, and each actual rate is its
/// events over its time. How close actual comes to target is the host's
/// speed, which tests do not judge (a producer preempted for 10 ms misses
/// a tenth of a 100 ms burst, and catches up in the next phase).
fn assert_phases(v: &Value, expected: &[(&str, f64, f64, u64)]) {
    let phases = v["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), expected.len(), "{v}");
    for (p, (name, target, seconds, target_events)) in phases.iter().zip(expected) {
        assert_eq!(p["phase"], *name, "{p}");
        assert!((f(p, "target_rate") - target).abs() < 1e-6 * target, "target of {p}, expected {target}");
        assert!((f(p, "seconds") - seconds).abs() < 0.01 * seconds, "seconds of {p}, expected {seconds}");
        if *target_events > 0 {
            assert_eq!(u(p, "target_events"), *target_events, "{p}");
        }
        assert!((f(p, "actual_rate") - u(p, "events") as f64 / f(p, "seconds")).abs() < 1e-6 * target, "{p}");
    }
    let issued: u64 = phases.iter().map(|p| u(p, "events")).sum();
    assert_eq!(issued, u(v, "triggers") * u(v, "batch"), "the phases' events are the run's: {v}");
}

/// burst:4x100ms/1s at a mean of 50k: 200k events/s for 100 ms of each
/// second and (50k − 20k) / 0.9 = 33.3k for the other 900 ms; over 2 s the
/// schedule holds exactly 100000 events (25000 triggers of 4).
#[test]
fn bursts_keep_the_mean_and_report_each_phase() {
    let Some(_lock) = kernel_test() else { return };
    let v = load(&[
        "--rate", "50k", "--arrivals", "burst:4x100ms/1s", "--duration", "2s", "--batch", "4", "--ringbuf-size", "16M",
    ]);
    assert_eq!(v["arrivals"], "burst:4x100ms/1s", "{v}");
    assert_issued(&v, 25_000);
    assert_eq!(u(&v, "dropped"), 0, "{v}");
    assert_phases(&v, &[("burst", 200_000.0, 0.2, 40_000), ("between", 30_000.0 / 0.9, 1.8, 60_000)]);
}

/// Poisson arrivals keep the mean: 50k events/s for 2 s is 100000 events,
/// give or take the process's own spread (sd √100000 ≈ 316; 5 sd allowed),
/// and the same seed draws the same number of arrivals run after run.
#[test]
fn poisson_arrivals_keep_the_mean_and_follow_their_seed() {
    let Some(_lock) = kernel_test() else { return };
    let run = || load(&["--rate", "50k", "--arrivals", "poisson:42", "--duration", "2s", "--ringbuf-size", "16M"]);
    let (a, b) = (run(), run());
    assert_eq!(a["arrivals"], "poisson:42", "{a}");
    let scheduled = |v: &Value| u(&v["phases"][0], "target_events");
    assert_eq!(scheduled(&a), scheduled(&b), "the same seed schedules the same arrivals");
    let events = scheduled(&a) as f64;
    assert!((events - 100_000.0).abs() < 5.0 * 316.0, "{events} arrivals: {a}");
    assert_issued(&a, scheduled(&a));
    assert_phases(&a, &[("all", 50_000.0, 2.0, 0)]);
}

/// A profile of three rows (20k, 60k, 40k events/s, 10 s apart, as
/// exported with absolute timestamps) replayed 20 times faster: 0.5 s per
/// row, a 1.5 s run at its mean of 40k, 60000 events scheduled. With --rate
/// 80k the same shape is scaled to that mean.
#[test]
fn profiles_replay_the_recorded_shape() {
    let Some(_lock) = kernel_test() else { return };
    let path = std::env::temp_dir().join(format!("capacity-profile-{}.csv", std::process::id()));
    std::fs::write(&path, "timestamp,rate\n1700000000,20000\n1700000010,60000\n1700000020,40000\n").unwrap();
    let file = path.to_str().unwrap();
    let v = load(&["--profile", file, "--speedup", "20", "--duration", "1.5s", "--ringbuf-size", "16M"]);
    assert_eq!(f(&v, "target_rate"), 40_000.0, "{v}");
    assert_issued(&v, 60_000);
    assert_phases(
        &v,
        &[("t=0s", 20_000.0, 0.5, 10_000), ("t=0.5s", 60_000.0, 0.5, 30_000), ("t=1s", 40_000.0, 0.5, 20_000)],
    );
    let scaled =
        load(&["--profile", file, "--speedup", "20", "--rate", "80k", "--duration", "1.5s", "--ringbuf-size", "16M"]);
    assert_issued(&scaled, 120_000);
    assert_phases(
        &scaled,
        &[("t=0s", 40_000.0, 0.5, 20_000), ("t=0.5s", 120_000.0, 0.5, 60_000), ("t=1s", 80_000.0, 0.5, 40_000)],
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn bad_traffic_shapes_are_refused() {
    let Some(_lock) = kernel_test() else { return };
    let bad = std::env::temp_dir().join(format!("capacity-bad-profile-{}.csv", std::process::id()));
    std::fs::write(&bad, "0,100\n5,fast\n").unwrap();
    let bad = bad.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["load", "--rate", "10k", "--arrivals", "burst:30x50ms/1s"], "more than a whole period"),
        (&["load", "--rate", "10k", "--arrivals", "burst:4x2s/1s"], "shorter than its period"),
        (&["load", "--rate", "10k", "--arrivals", "uniform"], "not an arrival process"),
        (&["load", "--rate", "max", "--arrivals", "poisson"], "paced --rate"),
        (&["load", "--profile", bad], "line 2 `5,fast`"),
        (&["load", "--profile", "/nonexistent/rates.csv"], "cannot read the profile"),
        (&["load", "--rate", "10k", "--speedup", "2"], "--profile"),
        (&["load", "--profile", bad, "--arrivals", "poisson"], "cannot be used with"),
        (&["size", "--rate", "10k", "--arrivals", "burst:4x50ms"], "not an arrival process"),
    ];
    for (args, needle) in cases {
        assert_usage_error(&capacity(args), needle);
    }
    std::fs::remove_file(bad).ok();
    assert!(programs_left_behind().is_empty(), "a refused run left a program loaded");
}
