//! The capacity plan's traffic shapes, N+1 and measured ring: `report` with
//! `arrivals`, `nodes`/`spare`, and `--measure` running `size`.
use capacity_tests::{assert_usage_error, capacity, json_of, kernel_test, u};
use serde_json::Value;

fn workload_file(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("capacity-plan-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn report(args: &[&str]) -> Value {
    let out = capacity(args);
    assert_eq!(out.status.code(), Some(0), "capacity {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    json_of(&out)
}

/// Four nodes, one may be lost: each of the three left carries 4/3 of its
/// grown load. 100k/s × 1.5 × 4/3 = 200k/s; 200k × 112 B × 5 s × 1.2 =
/// 134.4 MB -> a 256 MiB ring where the grown plan's 100.8 MB fits 128 MiB.
#[test]
fn n_plus_one_plans_each_node_for_the_lost_nodes_load() {
    let file = workload_file(
        "nplus1",
        "events_per_second = \"100k\"\nevent_size = 104\nmemory_budget = \"1G\"\nnodes = 4\nspare = 1\n\
         arrivals = \"burst:4x50ms/1s\"\n[[maps]]\nname = \"flows\"\ntype = \"hash\"\nentries = 1000\nkey_size = 8\nvalue_size = 8\n",
    );
    let v = report(&["report", "--workload", &file, "--json"]);
    assert_eq!(v["redundancy"]["nodes"], 4, "{v}");
    assert_eq!(v["redundancy"]["spare"], 1, "{v}");
    assert_eq!(v["arrivals"], "burst:4x50ms/1s", "{v}");
    assert_eq!(v["grown"]["events_per_second"].as_f64(), Some(150_000.0), "{v}");
    assert_eq!(v["failover"]["events_per_second"].as_f64(), Some(200_000.0), "{v}");
    assert_eq!(u(&v["grown"]["ring"], "recommended_bytes"), 1 << 27, "{v}");
    assert_eq!(u(&v["failover"]["ring"], "recommended_bytes"), 1 << 28, "{v}");
    // Connections ×2 (growth) × 4/3 (failover): 1000 -> 2667 entries.
    assert_eq!(u(&v["failover"]["maps"][0], "entries"), 2667, "{v}");
    let table = capacity(&["report", "--workload", &file]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("1 of 4 nodes lost"));

    let bad = workload_file(
        "badspare",
        "events_per_second = 1000\nevent_size = 64\nmemory_budget = \"1M\"\nnodes = 2\nspare = 2\n",
    );
    assert_usage_error(&capacity(&["report", "--workload", &bad]), "spare must be below nodes");
    let bad_profile = workload_file(
        "badprofile",
        "events_per_second = 1000\nevent_size = 64\nmemory_budget = \"1M\"\nprofile = \"missing-rates.csv\"\n",
    );
    assert_usage_error(&capacity(&["report", "--workload", &bad_profile]), "cannot read the profile");
    for f in [file, bad, bad_profile] {
        std::fs::remove_file(f).ok();
    }
}

/// `--measure` runs `size` at the load the plan must survive: here the N+1
/// failover load, 20k × 1.5 × 2 / 1 = 60k events/s in bursts, up to the
/// plan's recommended ring (60k × 72 B × 5 s × 1.2 = 25.9 MB -> 32 MiB).
#[test]
fn measure_sizes_the_ring_at_the_load_the_plan_must_survive() {
    let Some(_lock) = kernel_test() else { return };
    let file = workload_file(
        "measure",
        "events_per_second = \"20k\"\nevent_size = 64\nmemory_budget = \"1G\"\nnodes = 2\nspare = 1\narrivals = \"burst:4x100ms/1s\"\n",
    );
    let v = report(&["report", "--workload", &file, "--measure", "--duration", "1s", "--json"]);
    std::fs::remove_file(&file).ok();
    let sized = &v["measured_ring"];
    assert_eq!(sized["rate"].as_f64(), Some(60_000.0), "{v}");
    assert_eq!(u(sized, "max"), 32 << 20, "up to the recommended ring: {v}");
    assert_eq!(u(&v["failover"]["ring"], "recommended_bytes"), 32 << 20, "{v}");
    let answer = u(sized, "min_ringbuf_size");
    assert!(answer.is_power_of_two() && answer <= 32 << 20, "{v}");
    for t in sized["trials"].as_array().unwrap() {
        assert_eq!(u(t, "emitted"), u(t, "consumed"), "{t}");
        assert_eq!(t["passed"], u(t, "dropped") == 0 && t["actual_rate"].as_f64().unwrap() >= 0.97 * 60_000.0, "{t}");
        // Each trial covers a whole period of the burst.
        assert!(t["duration_s"].as_f64().unwrap() >= 0.999, "{t}");
    }
    assert!(capacity_tests::programs_left_behind().is_empty(), "the measurement left a program loaded");
}
