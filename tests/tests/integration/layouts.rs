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
    assert!(u(v, "seq_gaps") <= u(v, "dropped"), "gaps are drops: {v}");
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
        (&["size", "--rate", "10k", "--layout", "perf", "--max", "512M"][..], "is more than the largest perf buffer"),
    ] {
        assert_usage_error(&capacity(args), needle);
    }
}

/// The maps this process holds, from /proc/self/fdinfo: (map_type, max_entries, memlock).
fn own_maps() -> Vec<(u32, u32, u64)> {
    let mut maps = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fdinfo").expect("fdinfo") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        let Ok(info) = capacity::sys::FdInfo::of_process(std::process::id(), &name) else { continue };
        if let (Some(kind), Some(entries), Some(memlock)) =
            (info.number_u32("map_type"), info.number_u32("max_entries"), info.number("memlock"))
        {
            maps.push((kind, entries, memlock));
        }
    }
    maps
}

fn estimate(args: &[&str]) -> Value {
    let mut full = vec!["estimate", "ringbuf", "--json"];
    full.extend_from_slice(args);
    run_json(&full)
}

const RINGBUF: u32 = 27;
const ARRAY_OF_MAPS: u32 = 12;
const PERF_EVENT_ARRAY: u32 = 4;

fn settings(layout: &str, ringbuf_size: u32, perf_pages: u32) -> capacity::run::program::ProgramSettings {
    capacity::run::program::ProgramSettings {
        event_size: 64,
        size_table: None,
        batch: 1,
        keyspace: 16,
        ringbuf_size,
        map_entries: 64,
        wakeup_every: 0,
        overwrite: false,
        map: true,
        layout: layout.parse().expect("layout"),
        perf_pages,
    }
}

#[test]
fn rings_per_cpu_cost_what_the_kernel_charges_to_the_byte() {
    let Some(_lock) = kernel_test() else { return };
    let cpus = capacity::sys::possible_cpus().expect("possible CPUs");
    let size: u32 = 64 << 10;
    let program = capacity::run::program::EmitProgram::load(&settings("per-cpu", size, 1)).expect("load");
    let maps = own_maps();
    let rings: Vec<u64> = maps.iter().filter(|m| m.0 == RINGBUF && m.1 == size).map(|m| m.2).collect();
    let outer: Vec<u64> = maps.iter().filter(|m| m.0 == ARRAY_OF_MAPS).map(|m| m.2).collect();
    drop(program);
    assert_eq!(rings.len() as u32, cpus, "one ring per possible CPU: {maps:?}");
    assert_eq!(outer.len(), 1, "{maps:?}");
    let v = estimate(&["--size", "64K", "--layout", "per-cpu", "--cpus", &cpus.to_string()]);
    assert_eq!(u(&v, "rings"), u64::from(cpus), "{v}");
    assert_eq!(u(&v, "per_ring_bytes"), rings[0], "a ring's memlock: {v}");
    assert_eq!(u(&v, "outer_map_bytes"), outer[0], "the array of maps' memlock: {v}");
    assert_eq!(u(&v, "total_bytes"), rings.iter().sum::<u64>() + outer[0], "{v}");
}

#[test]
fn perf_buffers_cost_their_mappings_to_the_byte() {
    let Some(_lock) = kernel_test() else { return };
    let cpus = capacity::sys::possible_cpus().expect("possible CPUs");
    let program = capacity::run::program::EmitProgram::load(&settings("perf", 4096, 4)).expect("load");
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    let mapped: u64 = maps
        .lines()
        .filter(|l| l.contains("perf_event"))
        .map(|l| {
            let (start, end) = l.split_whitespace().next().unwrap().split_once('-').unwrap();
            u64::from_str_radix(end, 16).unwrap() - u64::from_str_radix(start, 16).unwrap()
        })
        .sum();
    let array: Vec<u64> = own_maps().iter().filter(|m| m.0 == PERF_EVENT_ARRAY).map(|m| m.2).collect();
    drop(program);
    let v = estimate(&["--size", "4K", "--layout", "perf", "--perf-pages", "4", "--cpus", &cpus.to_string()]);
    assert_eq!(u(&v, "buffer_bytes"), mapped, "(pages + 1) × page per CPU, as /proc/self/maps shows: {v}");
    assert_eq!(array.len(), 1);
    assert_eq!(u(&v, "outer_map_bytes"), array[0], "the perf event array's memlock: {v}");
    assert_eq!(u(&v, "total_bytes"), mapped + array[0], "{v}");
}

#[test]
fn compare_runs_each_layout_within_one_memory_budget() {
    let Some(_lock) = kernel_test() else { return };
    let n = cpus().to_string();
    let budget: u64 = 1 << 20;
    let v = run_json(&[
        "compare",
        "--json",
        "--rate",
        "50k",
        "--duration",
        "0.5",
        "--warmup",
        "0",
        "--producers",
        &n,
        "--layouts",
        "shared,per-cpu,perf",
        "--memory",
        "1M",
    ]);
    eprintln!("{v}");
    assert_eq!(u(&v, "memory_budget_bytes"), budget, "{v}");
    let rows = v["layouts"].as_array().expect("layouts");
    let names: Vec<&str> = rows.iter().map(|r| r["layout"].as_str().unwrap()).collect();
    assert_eq!(names, ["shared", "per-cpu", "perf"], "{v}");
    for row in rows {
        assert!(u(row, "memory_bytes") <= budget, "within the budget: {row}");
        assert_eq!(u(row, "memory_bytes"), u(&row["memory"], "total_bytes"), "{row}");
        assert_eq!(u(row, "drops"), u(&row["run"], "dropped"), "{row}");
        assert_eq!(row["run"]["layout"], row["layout"], "{row}");
        assert_accounted_per_ring(&row["run"]);
    }
    // Twice the shared ring's size would cost more than the budget: the largest that fits was taken.
    let shared = u(&rows[0], "size");
    // (As 6.18 charges a ring: compare models kernels before 6.4 with their pages too.)
    let doubled = run_json(&["estimate", "ringbuf", "--json", "--size", &(shared * 2).to_string(), "--kernel", "6.18"]);
    assert!(u(&doubled, "total_bytes") > budget, "{doubled}");
    // --smallest: size's search per layout; each row is its confirmed answer.
    let smallest = run_json(&[
        "compare", "--json", "--rate", "20k", "--duration", "0.3", "--warmup", "0", "--producers", &n, "--layouts",
        "per-cpu,perf", "--smallest", "--max", "1M",
    ]);
    assert!(smallest["memory_budget_bytes"].is_null(), "{smallest}");
    let rows = smallest["layouts"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["layout"].as_str().unwrap()).collect();
    assert_eq!(names, ["per-cpu", "perf"], "{smallest}");
    let page = capacity::sys::page_size();
    for row in rows {
        let size = u(row, "size");
        assert!(size.is_power_of_two() && (page..=1 << 20).contains(&size), "a power of two up to --max: {row}");
        assert_eq!(row["confirmed"], true, "the answer passed its confirmation runs: {row}");
        assert!(row["limited_by"].is_null(), "{row}");
        // The largest first, then at least the smallest or the answer's 3 confirmations.
        assert!(u(row, "sizes_tried") >= 4, "{row}");
        // The figures are those of a passing run at the answer.
        assert_eq!(u(&row["run"], "ringbuf_size"), size, "{row}");
        assert_eq!(u(row, "drops"), 0, "{row}");
        assert_eq!(u(row, "drops"), u(&row["run"], "dropped"), "{row}");
        assert_eq!(u(row, "peak_occupancy_bytes"), u(&row["run"], "peak_occupancy_bytes"), "{row}");
        assert!(u(row, "peak_occupancy_bytes") <= size, "{row}");
        assert_eq!(u(row, "memory_bytes"), u(&row["memory"], "total_bytes"), "{row}");
        assert_accounted_per_ring(&row["run"]);
    }
    let rings = u(&rows[1]["memory"], "rings");
    let pages = u(&rows[1], "perf_pages");
    assert!(pages.is_power_of_two() && pages * page == u(&rows[1], "size"), "perf rows carry their pages: {smallest}");
    assert_eq!(u(&rows[1]["run"], "perf_pages"), pages, "{smallest}");
    assert_eq!(u(&rows[1]["memory"], "buffer_bytes"), (pages + 1) * page * rings, "{smallest}");
    assert!(rows[0]["perf_pages"].is_null(), "{smallest}");
    assert_eq!(
        u(&rows[0], "memory_bytes"),
        u(&rows[0]["memory"], "per_ring_bytes") * u(&rows[0]["memory"], "rings")
            + u(&rows[0]["memory"], "outer_map_bytes"),
        "every ring and the array of maps: {smallest}"
    );
    // A consumer at 20k events/s at most (50 µs each) under 40k: no ring up
    // to 16 KiB holds, which is the row's finding, not the command's failure.
    let none = run_json(&[
        "compare", "--json", "--rate", "40k", "--duration", "0.3", "--warmup", "0", "--consumer-work", "50000",
        "--busy-poll", "--layouts", "shared", "--smallest", "--max", "16K",
    ]);
    let row = &none["layouts"][0];
    assert!(row["size"].is_null() && row["memory_bytes"].is_null(), "{none}");
    assert_eq!(row["limited_by"], "consumer", "{none}");
    assert_eq!(row["confirmed"], false, "{none}");
    assert_eq!(u(row, "sizes_tried"), 1, "the largest size dropped: nothing smaller was tried: {none}");
    assert_eq!(u(&row["run"], "ringbuf_size"), 16 << 10, "{none}");
    assert!(u(row, "drops") > 0, "{none}");
    assert_usage_error(
        &capacity(&["compare", "--rate", "10k", "--layouts", "per-cpu", "--memory", "4K"]),
        "--memory 4096 cannot hold layout per-cpu",
    );
}

/// `capacity load` running with `args` in the background, long enough to
/// outlast any look at it (a slow VM takes seconds to start a run), until
/// [`BackgroundLoad::stop`]; killed if the test fails first, so that no run
/// outlives it.
struct BackgroundLoad(Option<std::process::Child>);

impl BackgroundLoad {
    fn start(args: &[&str]) -> Self {
        let child = std::process::Command::new(capacity_tests::capacity_bin())
            .args(["load", "--rate", "5k", "--duration", "120", "--warmup", "0"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start capacity load");
        Self(Some(child))
    }

    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, std::process::Child::id)
    }

    /// SIGTERM, as a service manager would: the load prints its partial
    /// result and exits 143.
    fn stop(mut self) {
        let mut load = self.0.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(load.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM the load");
        assert_eq!(load.wait().expect("wait").code(), Some(143), "the load stops on SIGTERM");
    }
}

impl Drop for BackgroundLoad {
    fn drop(&mut self) {
        if let Some(mut load) = self.0.take() {
            let _ = load.kill();
            let _ = load.wait();
        }
    }
}

#[test]
fn host_shows_rings_inside_an_array_of_maps_and_perf_buffers_with_their_owners() {
    let Some(_lock) = kernel_test() else { return };
    let cpus = capacity::sys::possible_cpus().expect("possible CPUs");
    let rings = BackgroundLoad::start(&["--layout", "per-cpu", "--ringbuf-size", "64K"]);
    let perf = BackgroundLoad::start(&["--layout", "perf", "--perf-pages", "4"]);
    let (rings_pid, perf_pid) = (u64::from(rings.id()), u64::from(perf.id()));
    let owned_by = |m: &Value, pid: u64| m["owners"].as_array().unwrap().iter().any(|o| u(o, "pid") == pid);
    // Ready in well under a second on the host; the VMs emulate the CPU.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let v = loop {
        let v = run_json(&["host", "--json"]);
        let ready = v["map_arrays"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["inner_map_ids"].as_array().unwrap().len() as u32 == cpus)
            && v["perf_buffers"].as_array().unwrap().iter().any(|p| u(p, "pid") == perf_pid);
        if ready || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let maps: Vec<&Value> = v["maps"].as_array().unwrap().iter().collect();
    let array = v["map_arrays"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| maps.iter().any(|m| m["id"] == a["id"] && owned_by(m, rings_pid)))
        .unwrap_or_else(|| panic!("no array of maps of pid {rings_pid}: {v}"));
    let inner: Vec<&&Value> =
        maps.iter().filter(|m| array["inner_map_ids"].as_array().unwrap().contains(&m["id"])).collect();
    assert_eq!(inner.len() as u32, cpus, "a ring per CPU in the array: {array}");
    for ring in &inner {
        assert_eq!(ring["type"], "ringbuf", "{ring}");
        assert_eq!(u(ring, "max_entries"), 64 << 10, "{ring}");
        assert!(owned_by(ring, rings_pid), "the ring's owner is the load: {ring}");
    }
    let estimate = run_json(&[
        "estimate",
        "ringbuf",
        "--json",
        "--size",
        "64K",
        "--layout",
        "per-cpu",
        "--cpus",
        &cpus.to_string(),
    ]);
    assert_eq!(u(array, "inner_memlock_bytes"), u64::from(cpus) * u(&estimate, "per_ring_bytes"), "{array}");
    let buffers = v["perf_buffers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| u(p, "pid") == perf_pid)
        .unwrap_or_else(|| panic!("no perf buffers of pid {perf_pid}: {v}"));
    assert_eq!(u(buffers, "buffers"), u64::from(cpus), "{buffers}");
    let perf_estimate = run_json(&[
        "estimate",
        "ringbuf",
        "--json",
        "--size",
        "4K",
        "--layout",
        "perf",
        "--perf-pages",
        "4",
        "--cpus",
        &cpus.to_string(),
    ]);
    assert_eq!(u(buffers, "bytes"), u(&perf_estimate, "buffer_bytes"), "(4 + 1) pages per CPU: {buffers}");
    rings.stop();
    perf.stop();
}

/// Rings kept in a hash of maps (keyed by anything, not slots): `host`
/// lists the maps inside it, with their ids and memlock, as for an array.
#[test]
fn host_shows_rings_inside_a_hash_of_maps() {
    use capacity::sys::{bpf, bpf_map_type};
    use std::os::fd::AsFd;
    let Some(_lock) = kernel_test() else { return };
    let ring = |name| bpf::create_named_map(name, bpf_map_type::BPF_MAP_TYPE_RINGBUF, 0, 0, 64 << 10, 0);
    let rings = [ring("cap_hom_ring_a").expect("ring a"), ring("cap_hom_ring_b").expect("ring b")];
    let outer =
        bpf::create_map_of_maps("cap_hom_outer", bpf_map_type::BPF_MAP_TYPE_HASH_OF_MAPS, rings[0].fd().as_fd(), 16)
            .expect("hash of maps");
    // Keys far apart: a hash is walked by key, not by slot.
    for (key, ring) in [7u32, 4000].into_iter().zip(&rings) {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&ring.fd().as_fd()) as u32;
        bpf::map_update_elem(outer.as_fd(), &key.to_ne_bytes(), &fd.to_ne_bytes()).expect("insert a ring");
    }
    let v = run_json(&["host", "--json"]);
    let maps = v["maps"].as_array().unwrap();
    let id_of = |name: &str| {
        maps.iter().find(|m| m["name"] == name).map(|m| u(m, "id")).unwrap_or_else(|| panic!("no map {name}: {v}"))
    };
    let hash = v["map_arrays"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "cap_hom_outer")
        .unwrap_or_else(|| panic!("no hash of maps listed: {v}"));
    assert_eq!(hash["type"], "hash-of-maps", "{hash}");
    assert_eq!(u(hash, "max_entries"), 16, "{hash}");
    let mut inner: Vec<u64> = hash["inner_map_ids"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap()).collect();
    inner.sort_unstable();
    let mut expected = vec![id_of("cap_hom_ring_a"), id_of("cap_hom_ring_b")];
    expected.sort_unstable();
    assert_eq!(inner, expected, "{hash}");
    let memlock: u64 = maps.iter().filter(|m| expected.contains(&u(m, "id"))).map(|m| u(m, "memlock_bytes")).sum();
    assert_eq!(u(hash, "inner_memlock_bytes"), memlock, "{hash}");
    drop(outer);
}

/// A search on rings per CPU keeps the layout in every trial and accounts
/// for every event per ring; 20k/s, far below what one producer per CPU
/// offers, is stated as `high`.
#[test]
fn search_on_rings_per_cpu_keeps_the_layout_in_every_trial() {
    let Some(_lock) = kernel_test() else { return };
    let n = cpus();
    let producers = n.to_string();
    let v = run_json(&[
        "search", "--json", "--layout", "per-cpu", "--producers", &producers, "--low", "1000", "--high", "20k",
        "--step-duration", "1s", "--max-trials", "3",
    ]);
    assert_eq!(v["limited_by"], "high", "{v}");
    assert_eq!(v["max_sustainable_rate"].as_f64(), Some(20_000.0), "{v}");
    let trials = v["trials"].as_array().expect("trials");
    assert!(!trials.is_empty(), "{v}");
    for t in trials {
        assert_eq!(t["layout"], "per-cpu", "{t}");
        assert_eq!(u(t, "rings"), n, "{t}");
        assert_accounted_per_ring(t);
        assert_eq!(u(t, "dropped"), 0, "{t}");
    }
    assert!(programs_left_behind().is_empty(), "the search left a program loaded");
}

/// `report --measure` sizes the ring of the layout the workload file
/// names: every trial of its `size` runs rings per CPU.
#[test]
fn report_measure_sizes_the_workloads_layout() {
    let Some(_lock) = kernel_test() else { return };
    let path = std::env::temp_dir().join(format!("capacity-layout-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "events_per_second = \"10k\"\nevent_size = 64\nmemory_budget = \"64M\"\nlayout = \"per-cpu\"\n",
    )
    .unwrap();
    let file = path.to_string_lossy().into_owned();
    let v = run_json(&["report", "--workload", &file, "--measure", "--duration", "1s", "--json"]);
    std::fs::remove_file(&path).ok();
    let trials = v["measured_ring"]["trials"].as_array().unwrap_or_else(|| panic!("no measured trials: {v}"));
    assert!(!trials.is_empty(), "{v}");
    for t in trials {
        assert_eq!(t["layout"], "per-cpu", "{t}");
        assert_eq!(u(t, "rings"), cpus(), "{t}");
        assert_accounted_per_ring(t);
    }
    assert!(u(&v["measured_ring"], "min_ringbuf_size").is_power_of_two(), "{v}");
    assert!(programs_left_behind().is_empty(), "the measurement left a program loaded");
}
