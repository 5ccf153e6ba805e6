//! `capacity search` and `capacity ramp` against the real kernel, on
//! configurations whose limit is known by construction.
use capacity_tests::{capacity, json_of, kernel_lock, privileged};
use serde_json::Value;

fn run_json(args: &[&str]) -> Value {
    let out = capacity(args);
    assert!(
        out.status.success(),
        "capacity {args:?} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out)
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("`{key}` missing in {v}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("`{key}` missing in {v}"))
}

/// Every trial or step accounts for every event.
fn assert_accounted(run: &Value, batch: u64) {
    assert_eq!(u(run, "emitted"), u(run, "consumed"), "{run}");
    assert_eq!(u(run, "triggers") * batch, u(run, "emitted") + u(run, "dropped"), "{run}");
    // Drops attributed: a full ring or a busy one, nothing else.
    assert_eq!(u(run, "dropped"), u(run, "dropped_full") + u(run, "dropped_busy"), "{run}");
    assert_eq!(u(run, "overwritten"), 0, "{run}");
    assert!(run["missed_runs"].is_u64(), "{run}");
}

/// A consumer that spends 50 µs on every event cannot exceed 20k events/s,
/// and a 16 KiB ring (227 records) cannot hide the excess for long. It
/// busy-polls: a consumer that sleeps when it catches up also pays the
/// wakeup latency of an idle CPU per event (tens of µs in a VM), which
/// would make the limit depend on the host rather than on the construction.
const SLOW_CONSUMER: [&str; 5] = ["--consumer-work", "50000", "--ringbuf-size", "16K", "--busy-poll"];
const CONSUMER_LIMIT: f64 = 1e9 / 50_000.0;

#[test]
fn search_finds_a_consumer_limit_known_by_construction() {
    if !privileged("search_finds_a_consumer_limit_known_by_construction") {
        return;
    }
    let _lock = kernel_lock();
    let mut args = vec!["search", "--json", "--low", "1000", "--high", "60k", "--precision", "1000", "--step-duration", "1s"];
    args.extend(SLOW_CONSUMER);
    let v = run_json(&args);
    let rate = f(&v, "max_sustainable_rate");
    assert_eq!(v["limited_by"], "drops", "{v}");
    // Never above the ceiling (bisection precision aside). Below it by the
    // consumer's own overhead, and by whatever CPU time the host takes from
    // it: these machines are shared, so the lower bound is generous.
    assert!(rate <= CONSUMER_LIMIT + 1000.0, "found {rate}, above the limit {CONSUMER_LIMIT}: {v}");
    assert!(rate >= CONSUMER_LIMIT * 0.5, "found {rate}, far below the limit {CONSUMER_LIMIT}: {v}");
    assert_eq!(v["confirmed"], true, "{v}");
    let trials = v["trials"].as_array().expect("trials");
    assert!(trials.len() >= 4, "{v}");
    for t in trials {
        assert_accounted(t, 1);
        let passed = t["passed"].as_bool().unwrap();
        // A trial passes exactly when its drops are within the threshold and
        // its producer reached the target.
        assert_eq!(passed, f(t, "drop_rate") <= 0.001 && f(t, "actual_rate") >= 0.97 * f(t, "target_rate"), "{t}");
    }
    assert!(trials.iter().any(|t| t["failed_by"] == "drops"), "{v}");
}

#[test]
fn search_capped_below_the_real_limit_reports_high() {
    if !privileged("search_capped_below_the_real_limit_reports_high") {
        return;
    }
    let _lock = kernel_lock();
    let v = run_json(&["search", "--json", "--low", "1000", "--high", "5000", "--step-duration", "1s"]);
    assert_eq!(v["limited_by"], "high", "{v}");
    assert_eq!(f(&v, "max_sustainable_rate"), 5000.0, "{v}");
    assert_eq!(v["confirmed"], true, "{v}");
    for t in v["trials"].as_array().unwrap() {
        assert_accounted(t, 1);
    }
}

#[test]
fn ramp_rises_until_drops_begin_and_plots_the_curve() {
    if !privileged("ramp_rises_until_drops_begin_and_plots_the_curve") {
        return;
    }
    let _lock = kernel_lock();
    let plot = std::env::temp_dir().join(format!("capacity-ramp-{}.svg", std::process::id()));
    let plot_arg = plot.to_str().unwrap();
    let mut args =
        vec!["ramp", "--json", "--from", "5k", "--to", "50k", "--steps", "4", "--step-duration", "1s", "--plot", plot_arg];
    args.extend(SLOW_CONSUMER);
    let v = run_json(&args);
    let steps = v["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4, "{v}");
    let targets: Vec<f64> = steps.iter().map(|s| f(s, "target_rate")).collect();
    assert_eq!(targets, vec![5000.0, 20000.0, 35000.0, 50000.0]);
    for s in steps {
        assert_accounted(s, 1);
    }
    // 35k and 50k are beyond the consumer: drops must begin by then.
    let first_drop = steps.iter().position(|s| u(s, "dropped") > 0).expect("drops began");
    assert!(first_drop >= 1 && first_drop <= 2, "drops began at step {first_drop}: {v}");
    assert_eq!(f(&v, "drops_began_at"), targets[first_drop]);
    for pair in steps[..first_drop].windows(2) {
        assert!(f(&pair[1], "actual_rate") >= f(&pair[0], "actual_rate"), "achieved rate fell before drops: {v}");
    }

    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    std::fs::remove_file(&plot).ok();
    let doc = roxmltree::Document::parse(&svg).expect("the plot is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    let polylines: Vec<_> = root.descendants().filter(|n| n.has_tag_name("polyline")).collect();
    assert_eq!(polylines.len(), 3, "achieved, drops and p99 curves");
    for line in polylines {
        assert_eq!(line.attribute("points").unwrap().split(' ').count(), 4, "one point per step");
    }
    let texts: String = root.descendants().filter_map(|n| n.text()).collect();
    for label in ["target rate", "achieved rate", "p99 latency"] {
        assert!(texts.contains(label), "axis label `{label}` missing");
    }
}
