//! `capacity estimate`: exact bytes for kernels described on the command
//! line (so the answers do not depend on the kernel running the tests),
//! no privileges needed, and one clear line for bad input.
use std::{
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Command, Output},
};

use capacity::{
    kernel::KernelVersion,
    memory::{btf::synthetic_btf, kernels},
};
use capacity_tests::{assert_usage_error, capacity, capacity_bin, json_of, kernel_test, run_json};

/// The layout of Debian's 6.12 as far as map memory goes (its row of
/// kernels.toml): `bpf_htab` 64 bytes larger and `bpf_array` 48 bytes
/// smaller than this 6.18 host's. Written under a name of the test's own
/// (`tag`), as tests run in parallel.
fn btf_6_12(tag: &str) -> PathBuf {
    let sizes = kernels::find(KernelVersion::new(6, 12, 0)).expect("kernels.toml knows 6.12").sizes;
    let path = std::env::temp_dir().join(format!("capacity-test-btf-6.12-{tag}-{}", std::process::id()));
    std::fs::write(&path, synthetic_btf(&sizes)).expect("write BTF fixture");
    path
}

/// `estimate map` on a 2-CPU machine with 4 KiB pages.
fn map_args<'a>(kind: &'a str, entries: &'a str, key: &'a str, value: &'a str) -> Vec<&'a str> {
    map_args_on(kind, entries, key, value, "2")
}

fn map_args_on<'a>(kind: &'a str, entries: &'a str, key: &'a str, value: &'a str, cpus: &'a str) -> Vec<&'a str> {
    map(kind, entries, key, value, &["--cpus", cpus, "--page-size", "4096", "--json"])
}

#[test]
fn before_6_4_memlock_is_one_rounded_formula() {
    let mut args = map_args("hash", "1000", "8", "8");
    args.extend(["--kernel", "6.1"]);
    let json = run_json(&args);
    assert_eq!(json["type"], "hash");
    assert_eq!(json["kernel"], "6.1.0");
    assert_eq!(json["cpus"], 2);
    assert_eq!(json["exact"], true);
    // 1000 × (8 + 8 + 64)
    assert_eq!(json["naive_bytes"], 80_000);
    // round_up(1000 × round_up(8 + 8, 8), 4096)
    assert_eq!(json["model_bytes"], 16_384);

    // Per-CPU values once per possible CPU: value 13 -> 16 × 4 CPUs = 64;
    // round_up(5 + 64, 8) = 72; round_up(1000 × 72, 4096) = 73 728.
    let mut args = map_args_on("percpu-hash", "1000", "5", "13", "4");
    args.extend(["--kernel", "6.1"]);
    let json = run_json(&args);
    assert_eq!(json["cpus"], 4);
    assert_eq!(json["naive_bytes"], 82_000);
    assert_eq!(json["model_bytes"], 73_728);
}

#[test]
fn from_6_4_struct_sizes_come_from_the_btf_given() {
    let btf_file = btf_6_12("sizes");
    let btf = btf_file.to_str().unwrap();
    let model = |kind, entries, key, value| {
        let mut args = map_args(kind, entries, key, value);
        args.extend(["--kernel", "6.12", "--btf", btf]);
        let json = run_json(&args);
        assert_eq!(json["exact"], true, "{json}");
        assert_eq!(json["kernel"], "6.12.0");
        json["model_bytes"].as_u64().unwrap()
    };
    // bpf_htab 896 + 1024 buckets × 16 + 4 × 2 CPUs × 8 lock counters
    // + (1000 + 2 spares) × (48 + 8 + 8) + 2 extra_elems pointers × 8
    assert_eq!(model("hash", "1000", "8", "8"), 896 + 16_384 + 64 + 1002 * 64 + 16);
    // No spares and no extra_elems pointers in an LRU map.
    assert_eq!(model("lru-hash", "1000", "8", "8"), 896 + 16_384 + 64 + 1000 * 64);
    // Per-CPU: element holds a pointer; values round_up(13, 8) × 2 CPUs.
    assert_eq!(model("percpu-hash", "1000", "5", "13"), 896 + 16_384 + 64 + 1000 * (48 + 8 + 8) + 1000 * 16 * 2);
    // bpf_array 264 + 1000 × round_up(13, 8)
    assert_eq!(model("array", "1000", "4", "13"), 264 + 16_000);
    // bpf_array 264 + 1000 pointers + 1000 × 8 × 2 CPUs
    assert_eq!(model("percpu-array", "1000", "4", "8"), 264 + 8000 + 16_000);

    // Without preallocation only live elements count, each behind an llist_node.
    let mut args = map_args("hash", "1000", "8", "8");
    args.extend(["--kernel", "6.12", "--btf", btf, "--no-prealloc", "--filled", "10"]);
    let json = run_json(&args);
    assert_eq!(json["prealloc"], false);
    assert_eq!(json["filled"], 10);
    assert_eq!(json["model_bytes"], 896 + 16_384 + 64 + 10 * (64 + 8));

    // A 64 KiB ring: bpf_ringbuf_map 256 + (3 + 16) pages + (3 + 2 × 16) page pointers.
    let json = run_json(&["estimate", "ringbuf", "--size", "64K", "--kernel", "6.12", "--btf", btf, "--json"]);
    assert_eq!(json["size"], 65_536);
    assert_eq!(json["memlock_bytes"], 256 + 19 * 4096 + 35 * 8);
    assert_eq!(json["exact"], true);
    let _ = std::fs::remove_file(&btf_file);
}

#[test]
fn known_kernels_are_exact_without_their_btf() {
    let on = |kernel: &'static str, kind: &'static str, key: &'static str, value: &'static str| {
        let mut args = map_args(kind, "1000", key, value);
        args.extend(["--kernel", kernel]);
        run_json(&args)
    };
    // 6.12 from kernels.toml: the figure its BTF gives (see above).
    let json = on("6.12", "hash", "8", "8");
    assert_eq!(json["exact"], true, "{json}");
    assert_eq!(json["model_bytes"], 896 + 16_384 + 64 + 1002 * 64 + 16);
    assert!(json["btf"].as_str().unwrap().contains("kernels.toml"), "{json}");
    // 7.2 counts no bucket lock counters: memlock of this map in Debian's
    // 7.2.12 under qemu (2 CPUs).
    let json = on("7.2", "hash", "4", "4");
    assert_eq!(json["exact"], true, "{json}");
    assert_eq!(json["model_bytes"], 81_424);
    // A series the table lacks: the nearest known kernel's sizes, named, not exact.
    let nearest = kernels::nearest(KernelVersion::new(6, 15, 0), KernelVersion::new(6, 4, 0)).unwrap();
    let json = on("6.15", "hash", "4", "4");
    assert_eq!(json["exact"], false, "{json}");
    assert!(json["notes"].to_string().contains(&nearest.release), "{json}");
}

#[test]
fn ring_sizes_for_a_rate_count_the_record_header() {
    let json = run_json(&[
        "estimate", "ringbuf", "--rate", "100k", "--event-size", "104", "--buffer-seconds", "5", "--kernel", "6.1",
        "--json",
    ]);
    assert_eq!(json["rate"], 100_000.0);
    assert_eq!(json["event_size"], 104);
    assert_eq!(json["buffer_seconds"], 5.0);
    // round_up(104 + 8, 8)
    assert_eq!(json["record_bytes"], 112);
    // 100k × 104 × 5 × 1.2 = 62.4 MB -> 64 MiB, but 100k × 112 × 5 × 1.2 = 67.2 MB -> 128 MiB
    assert_eq!(json["naive_bytes"], 1u64 << 26);
    assert_eq!(json["recommended_bytes"], 1u64 << 27);
    // 6.1 reports nothing for a ring buffer.
    assert_eq!(json["memlock_bytes"], 0);
    // The default buffer is 5 seconds; tiny rings are at least a page.
    let json = run_json(&["estimate", "ringbuf", "--rate", "10", "--event-size", "8", "--kernel", "6.1", "--json"]);
    assert_eq!(json["buffer_seconds"], 5.0);
    assert_eq!(json["naive_bytes"], 512);
    assert_eq!(json["recommended_bytes"], 4096);
}

/// `estimate map` with `extra` flags, as the user types it (no defaults).
fn map<'a>(kind: &'a str, entries: &'a str, key: &'a str, value: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        vec!["estimate", "map", "--type", kind, "--entries", entries, "--key-size", key, "--value-size", value];
    args.extend_from_slice(extra);
    args
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let ring = |args: &[&'static str]| [&["estimate", "ringbuf"], args].concat();
    let cases: &[(Vec<&str>, &str)] = &[
        (map("btree", "1", "4", "4", &[]), "not a map type"),
        (map("hash", "0", "4", "4", &[]), "entries must be at least 1"),
        (map("hash", "10", "0", "4", &[]), "key size 0"),
        (map("array", "10", "8", "4", &[]), "4-byte"),
        (map("hash", "10", "4", "0", &[]), "value size"),
        (map("percpu-hash", "10", "4", "40000", &[]), "per-CPU value limit"),
        (map("hash", "10", "4", "8M", &[]), "over the kernel's limit"),
        (map("hash", "5G", "4", "4", &[]), "32-bit"),
        (map("hash", "200M", "4", "4", &[]), "more than a hash map can hold"),
        (map("lru-hash", "10", "4", "4", &["--no-prealloc"]), "no-prealloc"),
        (map("hash", "10", "4", "4", &["--filled", "11"]), "filled"),
        (map("hash", "10", "4", "4", &["--kernel", "5.4"]), "RLIMIT_MEMLOCK"),
        (map("hash", "10", "4", "4", &["--btf", "/nonexistent"]), "cannot read BTF"),
        (map("hash", "10", "4", "4", &["--cpus", "99999"]), "NR_CPUS is at most 8192"),
        (ring(&["--size", "12288"]), "power of two"),
        (ring(&["--size", "2048", "--page-size", "4096"]), "multiple of the page size"),
        (ring(&["--size", "4G"]), "largest ring"),
        (ring(&["--rate", "10M", "--event-size", "4096", "--buffer-seconds", "60"]), "2 GiB"),
        (ring(&["--rate", "0", "--event-size", "64"]), "positive"),
        (ring(&["--event-size", "64"]), "--rate"),
    ];
    for (args, needle) in cases {
        assert_usage_error(&capacity(args), needle);
    }
}

#[test]
fn btf_from_the_wrong_era_is_refused() {
    let btf = btf_6_12("era");
    let mut args = map_args("hash", "10", "4", "4");
    args.extend(["--kernel", "6.1", "--btf", btf.to_str().unwrap()]);
    assert_usage_error(&capacity(&args), "from a kernel 6.4 or later");
    let _ = std::fs::remove_file(&btf);
}

/// Runs capacity as `nobody`, with no capabilities, when the tests run as root.
fn capacity_unprivileged(args: &[&str]) -> Output {
    let mut command = Command::new(capacity_bin());
    command.args(args);
    if nix::unistd::geteuid().is_root() {
        // Changing the uid from root clears the supplementary groups and
        // every capability.
        command.uid(65_534).gid(65_534);
    }
    command.output().expect("run capacity")
}

#[test]
fn estimate_needs_no_privileges_and_reads_this_kernels_btf() {
    let args = map_args("hash", "1000", "5", "13");
    let out = capacity_unprivileged(&args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    let running = capacity::kernel::KernelVersion::running().unwrap();
    assert_eq!(json["kernel"], running.to_string());
    if capacity_tests::checkable(
        std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
        "this kernel has no BTF at /sys/kernel/btf/vmlinux to read",
    ) {
        assert_eq!(json["exact"], true, "{json}");
    }
    // The same answer as with privileges.
    assert_eq!(json["model_bytes"], run_json(&args)["model_bytes"]);
    let out = capacity_unprivileged(&["estimate", "ringbuf", "--rate", "250k", "--event-size", "128", "--json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_of(&out)["recommended_bytes"], 1u64 << 28);
}

#[test]
fn without_btf_the_running_kernel_is_answered_from_kernels_toml() {
    let Some(_kernel) = kernel_test() else { return };
    if capacity::kernel::KernelVersion::running().unwrap() < capacity::kernel::KernelVersion::new(6, 4, 0) {
        capacity_tests::announce("before 6.4 the figure needs no struct sizes: nothing to check without BTF");
        return;
    }
    // A private mount namespace in which /sys/kernel/btf is an empty tmpfs.
    let script = format!(
        "mount -t tmpfs none /sys/kernel/btf && exec {} estimate map --type hash --entries 1000 --key-size 8 --value-size 8 --json",
        capacity_bin().display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    // The row of kernels.toml for this series answers, exact only if it was
    // read from this very build.
    let release = nix::sys::utsname::uname().unwrap().release().to_string_lossy().into_owned();
    let running = KernelVersion::running().unwrap();
    if kernels::find(running).is_some_and(|row| row.release == release) {
        assert_eq!(json["exact"], true, "{json}");
    } else {
        assert_eq!(json["exact"], false, "{json}");
        assert!(json["notes"].to_string().contains("no BTF"), "{json}");
    }
}
