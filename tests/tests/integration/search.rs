//! `capacity search` and `capacity ramp` against the real kernel, on
//! configurations whose limit is known by construction.
use capacity_tests::{assert_usage_error, capacity, f, kernel_test, programs_left_behind, run_json, u};
use serde_json::Value;

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

/// One search on the slow consumer, checked against its construction.
fn consumer_limit_search() -> Value {
    let mut args = vec![
        "search", "--json", "--low", "1000", "--high", "60k", "--precision", "100", "--step-duration", "1s",
        "--time-budget", "45s",
    ];
    args.extend(SLOW_CONSUMER);
    let v = run_json(&args);
    let rate = f(&v, "max_sustainable_rate");
    assert_eq!(v["limited_by"], "drops", "{v}");
    assert_eq!(f(&v, "pass_probability"), 0.9);
    assert_eq!(f(&v, "confidence"), 0.95);
    assert_eq!(v["statement"], "passes with probability >= 0.9 at 95% confidence", "{v}");
    // Never above the ceiling: the answer is a lower confidence bound, and
    // no trial above 20k can pass.
    assert!(rate <= CONSUMER_LIMIT, "found {rate}, above the limit {CONSUMER_LIMIT}: {v}");
    // Below it by the consumer's own overhead and by whatever CPU time the
    // host takes from it (on a busy 2-CPU host, half or more). So the floor
    // is set by what the consumer did here: its rate in the trials that ran
    // it flat out (those that dropped, strays aside).
    let trials = v["trials"].as_array().expect("trials");
    let mut flat_out: Vec<f64> = trials
        .iter()
        .filter(|t| t["failed_by"] == "drops" && t["stray"] == false)
        .map(|t| f(t, "consumed") / f(t, "duration_s"))
        .collect();
    assert!(!flat_out.is_empty(), "no trial ran the consumer flat out: {v}");
    flat_out.sort_by(f64::total_cmp);
    let consumer_here = flat_out[flat_out.len() / 2];
    assert!(consumer_here <= CONSUMER_LIMIT * 1.05, "the consumer beat its construction ({consumer_here}/s): {v}");
    assert!(
        rate >= consumer_here * 0.5,
        "found {rate}, far below the {consumer_here}/s the consumer managed flat out: {v}"
    );
    let (min, max) = (f(&v["spread"], "min"), f(&v["spread"], "max"));
    assert!(min <= rate && rate <= max, "the answer lies outside its spread: {v}");
    assert!(max <= CONSUMER_LIMIT * 1.1, "the spread reaches far above the limit: {v}");
    assert!(f(&v, "estimate") >= rate && f(&v, "estimate") <= max, "{v}");
    assert_eq!(v["confirmed"], true, "{v}");
    // No --batch: the search chose one before its first trial (one event
    // per trigger offers 60k with room to spare) and kept it.
    assert_eq!((v["batch_source"].as_str(), u(&v, "batch")), (Some("calibrated"), 1), "{v}");
    assert!(v["requested_batch"].is_null(), "{v}");
    assert_eq!(f(&v, "time_budget_s"), 45.0, "{v}");
    assert!(f(&v, "elapsed_s") <= 45.0 + 10.0, "the search overran its budget: {v}");
    let noise = f(&v, "noise");
    assert!(noise > 0.0 && noise < 0.1, "noise {noise}: {v}");
    let strays = trials.iter().filter(|t| t["stray"] == true).count() as u64;
    assert_eq!(u(&v, "stray_failures"), strays, "{v}");
    assert!(trials.len() >= 4, "{v}");
    for t in trials {
        assert_eq!(u(t, "batch"), 1, "{t}");
        assert_accounted(t, 1);
        let passed = t["passed"].as_bool().unwrap();
        // A trial passes exactly when its drops are within the threshold and
        // its producer reached the target.
        assert_eq!(passed, f(t, "drop_rate") <= 0.001 && f(t, "actual_rate") >= 0.97 * f(t, "target_rate"), "{t}");
    }
    assert!(trials.iter().any(|t| t["failed_by"] == "drops"), "{v}");
    // The answer is backed by passes at or above it, not only by the model.
    assert!(trials.iter().any(|t| t["passed"] == true && f(t, "target_rate") >= rate), "{v}");
    v
}

/// The same question twice, the same answer: two searches on a consumer
/// limit known by construction agree within their spreads.
#[test]
fn search_finds_a_consumer_limit_known_by_construction_twice() {
    let Some(_lock) = kernel_test() else { return };
    let (a, b) = (consumer_limit_search(), consumer_limit_search());
    let spread = |v: &Value| (f(&v["spread"], "min"), f(&v["spread"], "max"));
    let ((a_min, a_max), (b_min, b_max)) = (spread(&a), spread(&b));
    assert!(a_min <= b_max && b_min <= a_max, "disjoint spreads: {:?} and {:?}", spread(&a), spread(&b));
    let (ra, rb) = (f(&a, "max_sustainable_rate"), f(&b, "max_sustainable_rate"));
    assert!(ra.max(rb) / ra.min(rb) <= 1.1, "answers {ra} and {rb}");
}

#[test]
fn search_capped_below_the_real_limit_reports_high() {
    let Some(_lock) = kernel_test() else { return };
    let v = run_json(&["search", "--json", "--low", "1000", "--high", "5000", "--step-duration", "1s"]);
    assert_eq!(v["limited_by"], "high", "{v}");
    assert_eq!(f(&v, "max_sustainable_rate"), 5000.0, "{v}");
    assert_eq!(f(&v["spread"], "max"), 5000.0, "{v}");
    assert_eq!(v["confirmed"], true, "{v}");
    let trials = v["trials"].as_array().unwrap();
    // Stating "passes with probability >= 0.9" at the top takes three
    // passes there, and nothing else.
    assert_eq!(trials.len(), 3, "{v}");
    for t in trials {
        assert_accounted(t, 1);
        assert_eq!(f(t, "target_rate"), 5000.0, "{t}");
    }
}

/// One producer thread cannot issue 8M syscalls/s: without --batch the
/// search calibrates the producers first, chooses one batch on its ladder
/// and keeps it for every trial.
#[test]
fn search_without_a_batch_calibrates_one_and_keeps_it() {
    let Some(_lock) = kernel_test() else { return };
    let v = run_json(&["search", "--json", "--high", "8M", "--step-duration", "1s", "--max-trials", "6"]);
    assert!(v["requested_batch"].is_null(), "{v}");
    assert_eq!(v["batch_source"], "calibrated", "{v}");
    let batch = u(&v, "batch");
    assert!([8, 64, 512].contains(&batch), "batch {batch} is not on the ladder (or 1 offered 8M/s): {v}");
    let calibration = &v["calibration"];
    assert_eq!(u(calibration, "batch"), batch, "{v}");
    let rungs = calibration["rungs"].as_array().expect("rungs");
    assert!(rungs.iter().any(|r| u(r, "batch") == batch), "{v}");
    for rung in rungs {
        assert_eq!(rung["offered_per_s"].as_array().map(Vec::len), Some(5), "five probes a batch: {rung}");
    }
    let trials = v["trials"].as_array().unwrap();
    assert!(!trials.is_empty() && trials.len() <= 6, "{v}");
    // A batch that proved too small restarts the search once, visibly
    // (`restarts`): the trials before it keep their batch, every later one
    // has the final batch. Without a restart, one batch throughout.
    let restarts = u(&v, "restarts");
    assert!(restarts <= 1, "{v}");
    let first_final = trials.iter().position(|t| u(t, "batch") == batch).expect("a trial at the final batch");
    assert_eq!(first_final > 0, restarts == 1, "trials at another batch only before a restart: {v}");
    for t in &trials[first_final..] {
        assert_eq!(u(t, "batch"), batch, "the batch changed mid-search: {t}");
    }
    for t in trials {
        assert_accounted(t, u(t, "batch"));
    }
    if v["limited_by"] == "producer" {
        let advice = v["advice"].as_str().expect("advice when the producer limits");
        assert!(advice.contains("not the ring"), "{advice}");
    }
}

/// A --batch given is the batch: kept whatever the producers manage, and
/// when they cannot offer the range the answer says so and names the flag.
/// --keep-batch is accepted and changes nothing.
#[test]
fn search_with_a_requested_batch_keeps_it_and_names_the_flag_to_change() {
    let Some(_lock) = kernel_test() else { return };
    let v = run_json(&[
        "search", "--json", "--high", "8M", "--step-duration", "1s", "--max-trials", "5", "--batch", "1",
        "--keep-batch",
    ]);
    assert_eq!(v["limited_by"], "producer", "{v}");
    assert_eq!((u(&v, "batch"), u(&v, "requested_batch")), (1, 1), "{v}");
    assert_eq!(v["batch_source"], "requested", "{v}");
    let advice = v["advice"].as_str().expect("advice");
    assert!(advice.contains("rerun with --batch "), "{advice}");
    assert!(f(&v["spread"], "max") < 8e6, "the spread reaches --high: {v}");
    for t in v["trials"].as_array().unwrap() {
        assert_eq!(u(t, "batch"), 1, "{t}");
        assert_accounted(t, 1);
    }
}

#[test]
fn bad_search_settings_are_refused_before_anything_loads() {
    let Some(_lock) = kernel_test() else { return };
    let cases: &[(&[&str], &str)] = &[
        (&["search", "--pass-probability", "1"], "--pass-probability"),
        (&["search", "--pass-probability", "0"], "--pass-probability"),
        (&["search", "--confidence", "0.3"], "--confidence"),
        (&["search", "--confidence", "1"], "--confidence"),
        (&["search", "--max-trials", "2"], "--max-trials"),
        (&["search", "--low", "5000", "--high", "1000"], "--low"),
        (&["search", "--time-budget", "1s"], "--time-budget"),
    ];
    for (args, needle) in cases {
        assert_usage_error(&capacity(args), needle);
    }
    assert!(programs_left_behind().is_empty(), "a refused search left a program loaded");
}

#[test]
fn ramp_rises_until_drops_begin_and_plots_the_curve() {
    let Some(_lock) = kernel_test() else { return };
    let plot = std::env::temp_dir().join(format!("capacity-ramp-{}.svg", std::process::id()));
    let plot_arg = plot.to_str().unwrap();
    let mut args = vec![
        "ramp", "--json", "--from", "5k", "--to", "50k", "--steps", "4", "--step-duration", "1s", "--plot", plot_arg,
    ];
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
    assert!((1..=2).contains(&first_drop), "drops began at step {first_drop}: {v}");
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
    assert_eq!(polylines.len(), 2, "the consumed and drop curves");
    let points = |line: &roxmltree::Node| -> Vec<(f64, f64)> {
        let text = line.attribute("points").unwrap();
        text.split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    };
    for line in &polylines {
        assert_eq!(points(line).len(), 4, "one point per step");
    }
    // What the ring carried flattens at the consumer's limit: the consumed
    // rate of every step from the first drop on lies within 10% of the
    // construction's 20k/s (never above it), and so do their points.
    let consumed: Vec<f64> = steps.iter().map(|s| f(s, "consumed") / f(s, "duration_s")).collect();
    for c in &consumed[first_drop..] {
        assert!(*c <= CONSUMER_LIMIT * 1.02, "consumed {c}/s beats the construction: {v}");
    }
    let last = consumed[3];
    assert!(last >= CONSUMER_LIMIT * 0.5, "consumed {last}/s: the consumer hardly ran: {v}");
    assert!(consumed[3] <= consumed[2] * 1.1, "consumed kept rising with the target: {consumed:?}");
    // The picture says the same: from 35k to 50k the consumed curve moves
    // under a quarter of its rise from 5k (SVG y grows downwards).
    let curve = points(&polylines[0]);
    let rise = curve[0].1 - curve[3].1;
    assert!(
        rise > 0.0 && (curve[2].1 - curve[3].1).abs() < 0.25 * rise,
        "the consumed curve does not flatten: {curve:?}"
    );
    let texts: String = root.descendants().filter_map(|n| n.text()).collect();
    for label in ["target rate", "consumed", "drop rate (%)", "drops began at"] {
        assert!(texts.contains(label), "label `{label}` missing: {texts}");
    }
}
