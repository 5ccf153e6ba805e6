//! `capacity inspect FILE.o` on real objects: C objects compiled with clang
//! (legacy and BTF maps, padded keys, per-CPU types, no-prealloc,
//! map-in-map), capacity's own kernel program and the bench's libbpf
//! reference; loaded for real, the figure for this host equals memlock.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use capacity_tests::{
    assert_usage_error, bench_reference_object, capacity, capacity_bin, json_of, kernel_test, own_object, run_json,
    test_object, u,
};
use serde_json::Value;

fn inspect_json(object: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["inspect", object.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    run_json(&args)
}

/// The node's maps by name.
fn maps_of(node: &Value) -> BTreeMap<String, Value> {
    node["maps"].as_array().unwrap().iter().map(|m| (m["name"].as_str().unwrap().to_string(), m.clone())).collect()
}

#[test]
fn btf_maps_are_read_as_the_kernel_sees_them() {
    let json = inspect_json(&test_object("btf_maps"), &[]);
    let nodes = json["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "no --node: this host only");
    let maps = maps_of(&nodes[0]);
    let names: BTreeSet<&str> = maps.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            ".bss", ".data", ".rodata", "counters", "events", "flows", "jumps", "lru", "pcpu_flows", "per_cgroup",
            "per_cgroup.inner", "per_tenant", "per_tenant.inner", "prefixes", "sparse", "tiny"
        ])
    );
    // struct { u32; u8; } is 8 bytes to the kernel; struct { u64; u8; } 16.
    let flows = &maps["flows"];
    assert_eq!((flows["type"].as_str(), u(flows, "key_size"), u(flows, "value_size")), (Some("hash"), 8, 16));
    assert_eq!(u(flows, "max_entries"), 10_000);
    assert_eq!(flows["section"], ".maps");
    // No preallocation: planned full, the empty figure beside it.
    let sparse = &maps["sparse"];
    assert_eq!(sparse["flags"], 1);
    assert_eq!(sparse["flag_names"], serde_json::json!(["no-prealloc"]));
    assert!(u(sparse, "empty_bytes") < u(sparse, "model_bytes"));
    // Map-in-map: the inner maps, per inner map and out of the total.
    let inner = &maps["per_tenant.inner"];
    assert_eq!((inner["type"].as_str(), inner["inner_of"].as_str()), (Some("array"), Some("per_tenant")));
    assert_eq!((u(inner, "max_entries"), u(inner, "value_size")), (32, 8));
    assert_eq!(maps["per_cgroup.inner"]["type"], "hash");
    assert_eq!(u(&maps["per_cgroup.inner"], "max_entries"), 128);
    // A type the model does not cover: listed, with a note, not sized.
    for name in ["prefixes", "per_cgroup"] {
        let map = &maps[name];
        assert!(map["model_bytes"].is_null() && map["exact"] == false, "{map}");
        assert!(map["note"].as_str().unwrap().contains("does not cover"), "{map}");
    }
    assert_eq!(nodes[0]["unsized_maps"], 2);
    assert_eq!(nodes[0]["exact"], false);
    let total: u64 = maps.values().filter(|m| m["inner_of"].is_null()).filter_map(|m| m["model_bytes"].as_u64()).sum();
    assert_eq!(u(&nodes[0], "total_bytes"), total);
    // The global data the object declares.
    assert_eq!(u(&maps[".bss"], "value_size"), 80);
    assert_eq!(maps[".rodata"]["flag_names"], serde_json::json!(["rdonly-prog"]));
}

#[test]
fn program_sections_aya_does_not_know_do_not_stop_it() {
    let json = inspect_json(&test_object("libbpf_sections"), &["--node", "6.1:8"]);
    let maps = maps_of(&json["nodes"][0]);
    assert_eq!(maps.keys().collect::<Vec<_>>(), ["seen"]);
    // round_up(512 × round_up(8 + round_up(8, 8) × 8 CPUs, 8), 4096)
    assert_eq!(u(&maps["seen"], "model_bytes"), 36_864);
}

#[test]
fn legacy_maps_and_node_shapes() {
    let object = test_object("legacy_maps");
    let json = inspect_json(&object, &["--node", "6.18:2", "--node", "6.18:96:4096", "--node", "6.1:96"]);
    let nodes = json["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let (two, many, old) = (maps_of(&nodes[0]), maps_of(&nodes[1]), maps_of(&nodes[2]));
    assert_eq!(two.len(), 4);
    assert!(two.values().all(|m| m["section"] == "maps"));
    assert_eq!(u(&nodes[1], "cpus"), 96);
    let grow = |name: &str| u(&many[name], "model_bytes") - u(&two[name], "model_bytes");
    // Per-CPU values scale with the CPUs: 64 entries × 24 B × 94 more CPUs.
    assert_eq!(grow("legacy_pcpu"), 64 * 24 * 94);
    // A plain hash map grows per CPU too (htab_map_mem_usage): one spare
    // element (48 + 8 + 16 B), one extra_elems pointer and 8 lock counters
    // of 4 B per CPU.
    assert_eq!(grow("legacy_hash"), 94 * (72 + 8 + 32));
    // 6.1 reports one rounded formula: round_up(1000 × round_up(8 + 16, 8), 4096).
    assert_eq!(u(&old["legacy_hash"], "model_bytes"), 24_576);
    assert_eq!(nodes[2]["accounting"], "bpf_map_memory_footprint");
    // No preallocation is planned full: with 6.1's formula, full and empty agree.
    assert_eq!(old["legacy_sparse"]["model_bytes"], old["legacy_sparse"]["empty_bytes"]);
    for node in nodes {
        let sum: u64 = maps_of(node).values().map(|m| u(m, "model_bytes")).sum();
        assert_eq!(u(node, "total_bytes"), sum);
    }
}

#[test]
fn another_kernels_btf_makes_its_node_exact() {
    let object = test_object("legacy_maps");
    // This kernel's BTF stands in for a 6.12 vmlinux: the figures are then
    // this kernel's, and exact because the BTF was given for that kernel.
    let json =
        inspect_json(&object, &["--node", "6.12:4", "--node", "6.18:4", "--btf", "6.12=/sys/kernel/btf/vmlinux"]);
    let nodes = json["nodes"].as_array().unwrap();
    assert_eq!((nodes[0]["exact"].as_bool(), nodes[0]["notes"].as_array().unwrap().len()), (Some(true), 0));
    assert_eq!(nodes[0]["total_bytes"], nodes[1]["total_bytes"]);
    // Without --btf: 6.12 is a kernel capacity knows (kernels.toml), so its
    // own struct sizes make it exact; 6.15 is not, and borrows the nearest's.
    let known = inspect_json(&object, &["--node", "6.12:4"]);
    assert_eq!(known["nodes"][0]["exact"], true, "6.12's sizes ship in kernels.toml: {known}");
    let unknown = inspect_json(&object, &["--node", "6.15:4"]);
    assert_eq!(unknown["nodes"][0]["exact"], false, "no sizes for 6.15: they are borrowed: {unknown}");
    let note = unknown["nodes"][0]["notes"][0].as_str().unwrap();
    assert!(note.contains("--btf") && note.contains("nearest"), "{note}");
}

#[test]
fn set_overrides_entries_and_budget_gates() {
    let object = test_object("legacy_maps");
    let path = object.to_str().unwrap();
    let base = inspect_json(&object, &["--node", "6.1:4"]);
    let set = inspect_json(&object, &["--node", "6.1:4", "--set", "legacy_hash=100000"]);
    let (before, after) = (maps_of(&base["nodes"][0]), maps_of(&set["nodes"][0]));
    assert_eq!(u(&after["legacy_hash"], "max_entries"), 100_000);
    // round_up(100 000 × 24, 4096)
    assert_eq!(u(&after["legacy_hash"], "model_bytes"), 2_400_256);
    assert_eq!(after["legacy_lru"], before["legacy_lru"], "other maps keep theirs");
    let total = u(&set["nodes"][0], "total_bytes");

    let over = capacity(&[
        "inspect",
        path,
        "--node",
        "6.1:4",
        "--set",
        "legacy_hash=100000",
        "--budget",
        &(total - 1).to_string(),
        "--json",
    ]);
    assert_eq!(over.status.code(), Some(1), "over the budget exits 1");
    assert_eq!(json_of(&over)["over_budget"], true);
    let within =
        capacity(&["inspect", path, "--node", "6.1:4", "--set", "legacy_hash=100000", "--budget", &total.to_string()]);
    assert_eq!(within.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&within.stdout).contains("every node within it"));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let object = test_object("legacy_maps");
    let path = object.to_str().unwrap();
    assert_usage_error(&capacity(&["inspect", "/nonexistent/agent.o"]), "cannot read /nonexistent/agent.o");
    let text = std::env::temp_dir().join("capacity-inspect-not-elf.o");
    std::fs::write(&text, "not an object\n").unwrap();
    assert_usage_error(&capacity(&["inspect", text.to_str().unwrap()]), "not an ELF file");
    assert_usage_error(&capacity(&["inspect", capacity_bin().to_str().unwrap()]), "not BPF");
    assert_usage_error(&capacity(&["inspect", path, "--node", "6.1:zero"]), "KERNEL[:CPUS[:PAGE]]");
    assert_usage_error(&capacity(&["inspect", path, "--node", "6.1:8:1000"]), "not a page size");
    assert_usage_error(&capacity(&["inspect", path, "--set", "nope=10"]), "no map `nope`");
    assert_usage_error(&capacity(&["inspect", path, "--set", "legacy_hash"]), "MAP=ENTRIES");
    assert_usage_error(&capacity(&["inspect", path, "--node", "4.19"]), "RLIMIT_MEMLOCK");
    assert_usage_error(&capacity(&["inspect", path, "--btf", "6.12"]), "KERNEL=FILE");
    // A named file that cannot be read, even for a kernel no node runs.
    assert_usage_error(&capacity(&["inspect", path, "--btf", "6.12=/nonexistent"]), "cannot read /nonexistent");
    // More CPUs than any kernel can have: refused with the bound.
    assert_usage_error(&capacity(&["inspect", path, "--node", "6.12:99999999"]), "NR_CPUS is at most 8192");
    assert_usage_error(
        &capacity(&["inspect", path, "--node", "6.1", "--btf", "6.1=/sys/kernel/btf/vmlinux"]),
        "BTF from a kernel 6.4 or later",
    );
}

/// Maps this process holds open: id -> memlock (its fdinfo).
fn my_maps() -> BTreeMap<u32, u64> {
    let mut maps = BTreeMap::new();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else { continue };
        if target.to_string_lossy() != "anon_inode:bpf-map" {
            continue;
        }
        let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.file_name().to_string_lossy()))
        else {
            continue;
        };
        let field =
            |name: &str| -> u64 { info.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().parse().unwrap() };
        maps.insert(field("map_id:") as u32, field("memlock:"));
    }
    maps
}

#[test]
fn loaded_for_real_the_figure_for_this_host_equals_memlock() {
    let Some(_kernel) = kernel_test() else { return };
    let objects = [
        test_object("btf_maps"),
        test_object("legacy_maps"),
        test_object("holder"),
        own_object(),
        bench_reference_object(),
    ];
    for object in &objects {
        let json = inspect_json(object, &[]);
        let declared = maps_of(&json["nodes"][0]);
        let before = my_maps();
        let ebpf = aya::Ebpf::load_file(object).unwrap_or_else(|e| panic!("aya loads {}: {e:?}", object.display()));
        let created: BTreeMap<String, u64> = my_maps()
            .into_iter()
            .filter(|(id, _)| !before.contains_key(id))
            .map(|(id, memlock)| {
                let info = aya::maps::MapInfo::from_id(id).unwrap();
                (info.name_as_str().unwrap().to_string(), memlock)
            })
            .collect();
        let mut compared = 0;
        for (name, map) in declared.iter().filter(|(_, m)| m["inner_of"].is_null()) {
            // The kernel keeps 15 characters of a map's name.
            let kernel_name: String = name.chars().take(15).collect();
            let memlock = *created
                .get(&kernel_name)
                .unwrap_or_else(|| panic!("{}: {name} was not created: {created:?}", object.display()));
            // Loaded maps start empty: without preallocation, that is the empty figure.
            let figure = if map["empty_bytes"].is_null() { &map["model_bytes"] } else { &map["empty_bytes"] };
            if let Some(figure) = figure.as_u64() {
                assert_eq!(figure, memlock, "{}: {name}: model {figure}, memlock {memlock}: {map}", object.display());
                assert_eq!(map["exact"], true, "{map}");
                compared += 1;
            }
        }
        assert!(compared >= 3, "{}: only {compared} maps compared", object.display());
        eprintln!("{}: {compared} of {} maps sized, each equal to memlock", object.display(), created.len());
        drop(ebpf);
    }
}

#[test]
fn mmapable_arrays_as_libbpf_creates_global_data_match_memlock() {
    let Some(_kernel) = kernel_test() else { return };
    use std::os::fd::AsFd;

    use capacity::{
        deployment::sizing::{size, MapShape},
        memory::{host::Host, measure::memlock, model::Model},
        sys::{bpf::create_map, bpf_map_type::BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE},
    };
    let model = Model::new(None, None, Host::this()).unwrap();
    for (value_size, max_entries) in [(8, 1), (100, 1), (4096, 1), (24, 1000)] {
        let map = create_map(BPF_MAP_TYPE_ARRAY, 4, value_size, max_entries, BPF_F_MMAPABLE).expect("BPF_MAP_CREATE");
        let memlock = memlock(map.fd().as_fd()).unwrap();
        let shape = MapShape {
            map_type: BPF_MAP_TYPE_ARRAY as u32,
            key_size: 4,
            value_size,
            max_entries,
            flags: BPF_F_MMAPABLE,
        };
        assert_eq!(size(&model, &shape, None).model_bytes, Some(memlock), "value {value_size} × {max_entries}");
    }
}

/// The layouts agents ship (tests/bpf/layouts.bpf.c): rings per CPU in an
/// array of maps, a perf event array, costed as `estimate ringbuf --layout` does.
#[test]
fn inspect_sizes_an_array_of_rings_and_a_perf_event_array_on_96_cpus() {
    let object = test_object("layouts");
    let v = run_json(&["inspect", object.to_str().unwrap(), "--node", "6.18:96", "--perf-pages", "8", "--json"]);
    let node = &v["nodes"][0];
    let maps: BTreeMap<&str, &Value> =
        node["maps"].as_array().unwrap().iter().map(|m| (m["name"].as_str().unwrap(), m)).collect();
    let ring = u(maps["rings.inner"], "model_bytes");
    // The same node through the layout model: 96 rings of 256 KiB in an array of maps.
    let per_cpu = run_json(&[
        "estimate", "ringbuf", "--json", "--size", "256K", "--layout", "per-cpu", "--cpus", "96", "--kernel", "6.18",
    ]);
    assert_eq!(ring, u(&per_cpu, "per_ring_bytes"), "{v}");
    assert_eq!(u(maps["rings"], "model_bytes"), u(&per_cpu, "outer_map_bytes"), "{v}");
    assert_eq!(u(maps["rings"], "filled_bytes"), 96 * ring, "{v}");
    assert_eq!(u(node, "inner_maps_bytes"), 96 * ring, "{v}");
    // The perf event array: one slot per CPU of the node, and its buffers.
    assert_eq!(u(maps["events"], "max_entries"), 96, "{v}");
    let perf = run_json(&[
        "estimate", "ringbuf", "--json", "--size", "4K", "--layout", "perf", "--perf-pages", "8", "--cpus", "96",
        "--kernel", "6.18",
    ]);
    assert_eq!(u(maps["events"], "model_bytes"), u(&perf, "outer_map_bytes"), "{v}");
    assert_eq!(u(node, "perf_buffer_bytes"), 9 * 4096 * 96, "{v}");
    assert_eq!(u(node, "perf_buffer_bytes"), u(&perf, "buffer_bytes"), "{v}");
    assert_eq!(u(node, "layout_total_bytes"), u(node, "total_bytes") + 96 * ring + 9 * 4096 * 96, "{v}");
    assert_eq!(
        u(node, "total_bytes") - u(maps["rings"], "model_bytes") - u(maps["events"], "model_bytes"),
        0,
        "the object declares these two maps only: {v}"
    );
}
