//! `capacity host` against a process holding real maps and programs
//! (tests/src/bin/bpf_holder.rs with tests/bpf/holder.bpf.c): a ring with a
//! known backlog, hash maps with exactly K of E entries, owners by pid.
use std::process::Command;

use capacity_tests::{assert_usage_error, capacity, capacity_bin, json_of, kernel_test, run_json, Holder};
use serde_json::Value;

/// `held_emit` writes records of this many bytes (holder.bpf.c).
const RECORD_SIZE: u64 = 100;
/// Entries of `held_hash` and `held_sparse`, and the ring's size.
const MAX_ENTRIES: u64 = 1000;
const RING_SIZE: u64 = 64 * 1024;

fn host_json(args: &[&str]) -> Value {
    let mut all = vec!["host", "--json"];
    all.extend_from_slice(args);
    run_json(&all)
}

/// The one entry named `name` owned by `pid` in `list`.
fn owned<'a>(json: &'a Value, list: &str, name: &str, pid: u64) -> &'a Value {
    let found: Vec<&Value> = json[list]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == name && m["owners"].as_array().unwrap().iter().any(|o| o["pid"] == pid))
        .collect();
    assert_eq!(found.len(), 1, "{list} named {name} owned by {pid}: {found:?}");
    found[0]
}

#[test]
fn a_held_ring_maps_and_programs_are_read_exactly() {
    let Some(_kernel) = kernel_test() else { return };
    let (keys, runs) = (750u32, 7u32);
    let holder = Holder::start(env!("CARGO_BIN_EXE_bpf_holder"), keys, runs);
    let pid = holder.pid();
    let json = host_json(&[]);
    assert_eq!(json["kernel"], capacity::kernel::KernelVersion::running().unwrap().to_string());

    // The ring: N records of S bytes, each round_up(S + 8, 8) in the ring.
    let ring = owned(&json, "maps", "held_ring", pid);
    let pending = u64::from(runs) * (RECORD_SIZE + 8).div_ceil(8) * 8;
    assert_eq!(ring["ringbuf_pending_bytes"], pending, "{ring}");
    assert_eq!(ring["ringbuf_fill"].as_f64(), Some(pending as f64 / RING_SIZE as f64));
    assert_eq!(ring["type"], "ringbuf");
    assert_eq!(ring["owners"][0]["comm"], "bpf_holder");

    // The hash maps: exactly K of E entries, and the level that gives.
    for name in ["held_hash", "held_sparse"] {
        let map = owned(&json, "maps", name, pid);
        assert_eq!(map["entries"], keys, "{map}");
        assert_eq!(map["entries_complete"], true);
        assert_eq!(map["pressure"].as_f64(), Some(f64::from(keys) / MAX_ENTRIES as f64));
        assert_eq!(map["level"], "warning", "75% is a warning");
        assert_eq!(map["max_entries"], MAX_ENTRIES);
    }
    assert_eq!(owned(&json, "maps", "held_sparse", pid)["flag_names"], serde_json::json!(["no-prealloc"]));
    // The model beside memlock: exact for these, the no-prealloc map with its live entries.
    for name in ["held_ring", "held_hash", "held_sparse"] {
        let map = owned(&json, "maps", name, pid);
        assert_eq!(map["model_bytes"], map["memlock_bytes"], "{map}");
        assert_eq!(map["model_diff_bytes"], 0);
    }
    let total: u64 = json["maps"].as_array().unwrap().iter().map(|m| m["memlock_bytes"].as_u64().unwrap()).sum();
    assert_eq!(json["total_bytes"], total);

    // The programs, owned by the holder.
    for name in ["held_emit", "held_tick"] {
        let program = owned(&json, "programs", name, pid);
        assert_eq!(program["type"], "socket-filter");
        assert_eq!(program["recursion_misses"], 0);
    }
    // held_emit ran N times: counted only if some process had BPF stats on.
    let emit = owned(&json, "programs", "held_emit", pid);
    let counted = emit["run_cnt"].as_u64().unwrap();
    assert!(counted == 0 || counted == u64::from(runs), "{emit}");
}

#[test]
fn enable_stats_reports_ns_per_run_over_the_window() {
    let Some(_kernel) = kernel_test() else { return };
    let holder = Holder::start(env!("CARGO_BIN_EXE_bpf_holder"), 1, 1);
    let json = host_json(&["--enable-stats", "500ms"]);
    assert_eq!(json["stats_window_s"], 0.5);
    let tick = owned(&json, "programs", "held_tick", holder.pid());
    let (runs, time) = (tick["run_cnt"].as_u64().unwrap(), tick["run_time_ns"].as_u64().unwrap());
    assert!(runs > 0 && time > 0, "the holder runs held_tick all along: {tick}");
    assert_eq!(tick["ns_per_run"].as_f64(), Some(time as f64 / runs as f64));
    // held_emit ran once, before the window.
    let emit = owned(&json, "programs", "held_emit", holder.pid());
    assert_eq!((emit["run_cnt"].as_u64(), emit["ns_per_run"].is_null()), (Some(0), true), "{emit}");
}

#[test]
fn budget_gates_with_exit_1() {
    let Some(_kernel) = kernel_test() else { return };
    let _holder = Holder::start(env!("CARGO_BIN_EXE_bpf_holder"), 10, 1);
    let out = capacity(&["host", "--json", "--budget", "1"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    assert_eq!((json["over_budget"].as_bool(), json["budget_bytes"].as_u64()), (Some(true), Some(1)));
    let out = capacity(&["host", "--budget", "1T"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn without_root_host_says_so_in_one_line() {
    let Some(_kernel) = kernel_test() else { return };
    let script = format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all {} host",
        capacity_bin().display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_usage_error(&out, "needs root (CAP_SYS_ADMIN)");
    assert_usage_error(&capacity(&["host", "--enable-stats", "soon"]), "--enable-stats");
}

#[test]
fn counting_stops_at_its_bound_and_says_so() {
    let Some(_kernel) = kernel_test() else { return };
    use std::os::fd::AsFd;

    use capacity::{
        deployment::entries::{count, Bound, Count},
        memory::{host::Host, maps::BpfMap, MapKind, MapSpec},
    };
    let map = BpfMap::create(&MapSpec::new(MapKind::Hash, 1000, 4, 8), Host::this().cpus).unwrap();
    map.fill(750).unwrap();
    let all = count(map.as_fd(), 1, 4, 8, Bound::default()).unwrap();
    assert_eq!(all, Count { entries: 750, complete: true });
    // Key by key (the walk of the types without batch lookup) counts the same.
    assert_eq!(count(map.as_fd(), 5, 4, 8, Bound::default()).unwrap(), all);
    let bounded = count(map.as_fd(), 1, 4, 8, Bound { max_keys: 100, ..Bound::default() }).unwrap();
    assert_eq!(bounded, Count { entries: 100, complete: false });
    let empty = BpfMap::create(&MapSpec::new(MapKind::Hash, 10, 4, 8), Host::this().cpus).unwrap();
    assert_eq!(count(empty.as_fd(), 1, 4, 8, Bound::default()).unwrap(), Count { entries: 0, complete: true });
}
