//! Bad input and unusable environments: one line on stderr, exit 2, and no
//! program left loaded.
use std::process::Command;

use capacity_tests::{
    assert_usage_error, capacity, capacity_bin, kernel_test, loaded_capacity_programs, programs_left_behind,
};

#[test]
fn bad_load_arguments_are_refused_before_anything_loads() {
    let Some(_kernel) = kernel_test() else { return };
    assert!(loaded_capacity_programs().is_empty(), "a program was loaded before the test");
    let cases: &[(&[&str], &str)] = &[
        (&["load", "--rate", "10k", "--ringbuf-size", "5000"], "power of two"),
        (&["load", "--rate", "10k", "--ringbuf-size", "2048"], "multiple of the page size"),
        (&["load", "--rate", "10k", "--event-size", "8192", "--ringbuf-size", "8192"], "more than --ringbuf-size"),
        (&["load", "--rate", "0"], "positive"),
        (&["load", "--rate", "-5k"], "positive"),
        (&["load", "--rate", "fast"], "not a rate"),
        (&["load", "--rate", "10k", "--batch", "0"], "--batch 0"),
        (&["load", "--rate", "10k", "--event-size", "8"], "--event-size 8"),
        (&["load", "--rate", "10k", "--duration", "0"], "duration"),
        (&["load", "--rate", "10k", "--wakeup", "eager"], "wakeup policy"),
        (&["load", "--rate", "10k", "--consumer-stall", "900@100"], "shorter than its period"),
        (&["load", "--duration", "1"], "--rate"),
        // Rates the generator cannot pace: above one trigger per nanosecond
        // per producer, or not one trigger in the whole run.
        (&["load", "--rate", "1e30", "--duration", "1"], "at most 1000000000 events/s with batch 1 and 1 producer(s)"),
        (&["load", "--rate", "1e30", "--duration", "1"], "lower it, or run unpaced (`--rate max`)"),
        (
            &["load", "--rate", "5G", "--batch", "2", "--producers", "2"],
            "at most 4000000000 events/s with batch 2 and 2 producer(s)",
        ),
        (&["load", "--rate", "1e-9", "--duration", "1"], "the lowest is 1 events/s"),
        (&["load", "--rate", "1", "--duration", "1", "--batch", "4"], "the lowest is 4 events/s"),
        (&["load", "--rate", "10k", "--duration", "1e30"], "too long"),
        (&["ramp", "--from", "1k", "--to", "1e30"], "rate 1e30 events/s is more than the generator can pace"),
        (&["ramp", "--from", "1e-9", "--to", "1k"], "rate 1e-9 events/s fires no trigger in a 2 s run"),
        (&["search", "--high", "1e30"], "rate 1e30 events/s is more than the generator can pace"),
        (&["search", "--low", "1e-9"], "rate 1e-9 events/s fires no trigger in a 2 s run"),
        // Errors name the flag that set the value in each subcommand.
        (&["search", "--low", "1e-9"], "raise it, or --step-duration"),
        (&["size", "--rate", "10k", "--event-size", "8192", "--max", "8192"], "more than --max 8192: use --max 16384"),
    ];
    for (args, needle) in cases {
        assert_usage_error(&capacity(args), needle);
    }
    assert!(programs_left_behind().is_empty(), "a refused run left a program loaded");
}

/// Flags checked by presence and by what they mean, not by the text they
/// were given in; refused before any privilege is needed.
#[test]
fn flags_are_read_for_what_they_say() {
    // --ringbuf-size is refused by `size` even at the default's value.
    for ring in ["8M", "4M"] {
        assert_usage_error(
            &capacity(&["size", "--rate", "10k", "--ringbuf-size", ring]),
            "bound it with --min and --max",
        );
    }
    // No warm-up is zero in any unit: the run gets as far as its next bad flag.
    for zero in ["0", "0s", "0ms", "0.0"] {
        assert_usage_error(&capacity(&["load", "--rate", "10k", "--warmup", zero, "--batch", "0"]), "--batch 0");
    }
    assert_usage_error(&capacity(&["load", "--rate", "10k", "--warmup=-1s"]), "--warmup");
}

/// `capacity ARGS | true`: stdout's reader is gone before the first write.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    Command::new(capacity_bin()).args(args).stdout(write).output().expect("run capacity")
}

/// Asserts a quiet stop: exit 0 and nothing on stderr (no panic, no backtrace)
/// but the command's own notices.
fn assert_stopped_quietly(out: &std::process::Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what} | true: {stderr}");
    let unexpected: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("capacity: watch: stopped by")).collect();
    assert!(unexpected.is_empty(), "{what} | true printed on stderr: {stderr}");
}

#[test]
fn a_closed_stdout_stops_quietly() {
    assert_stopped_quietly(&with_closed_stdout(&["alerts"]), "alerts");
    assert_stopped_quietly(&with_closed_stdout(&["alerts", "--json"]), "alerts --json");
    assert_stopped_quietly(&with_closed_stdout(&["estimate", "ringbuf", "--size", "8M"]), "estimate ringbuf");
}

#[test]
fn a_closed_stdout_stops_a_run_quietly() {
    let Some(_kernel) = kernel_test() else { return };
    for json in [&[][..], &["--json"]] {
        let args = [&["load", "--rate", "10k", "--duration", "1"][..], json].concat();
        assert_stopped_quietly(&with_closed_stdout(&args), &args.join(" "));
    }
    // watch draws its table as it goes, and prints the JSON at the end.
    for json in [&[][..], &["--json"]] {
        let args = [&["watch", "--samples", "2", "--interval", "200ms", "--window", "1s"][..], json].concat();
        assert_stopped_quietly(&with_closed_stdout(&args), &args.join(" "));
    }
    assert!(programs_left_behind().is_empty(), "a run whose reader left left a program loaded");
}

/// A plan's run is refused in the workload file's words, and in the flag's
/// where the command line set the value.
#[test]
fn a_workload_the_host_cannot_try_is_refused_in_its_own_words() {
    let Some(_kernel) = kernel_test() else { return };
    let workload = std::env::temp_dir().join(format!("capacity-slow-workload-{}.toml", std::process::id()));
    std::fs::write(&workload, "events_per_second = 1\nevent_size = 64\nmemory_budget = \"1G\"\n").unwrap();
    let out = capacity(&["report", "--workload", workload.to_str().unwrap(), "--measure", "--duration", "1ms"]);
    std::fs::remove_file(&workload).ok();
    assert_usage_error(&out, "the plan's rate (from events_per_second) 1.5 events/s fires no trigger in a 0.001 s run");
    assert_usage_error(&out, "raise it, or --duration");
    assert!(programs_left_behind().is_empty(), "a refused plan left a program loaded");
}

/// A short load run, with a shell prefix that changes its environment, is
/// refused with `needle` and leaves nothing loaded.
fn load_refused_in(prefix: &str, needle: &str) {
    let script = format!("{prefix} {} load --rate 10k --duration 1", capacity_bin().display());
    let out = Command::new("sh").args(["-c", &script]).output().expect("run sh");
    assert_usage_error(&out, needle);
    assert!(programs_left_behind().is_empty());
}

#[test]
fn without_privileges_the_fix_is_named() {
    let Some(_kernel) = kernel_test() else { return };
    load_refused_in(
        "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all",
        "needs root or CAP_BPF+CAP_PERFMON",
    );
}

#[test]
fn without_btf_the_fix_is_named() {
    let Some(_kernel) = kernel_test() else { return };
    // A private mount namespace in which /sys/kernel/btf is an empty tmpfs.
    load_refused_in(
        "unshare --mount --propagation private sh -c 'mount -t tmpfs none /sys/kernel/btf && exec \"$0\" \"$@\"'",
        "no BTF",
    );
}

#[test]
fn without_tracefs_the_fix_is_named() {
    let Some(_kernel) = kernel_test() else { return };
    // No tracefs in a private mount namespace, and no CAP_SYS_ADMIN to mount
    // it again (CAP_BPF and CAP_PERFMON stay, so only tracefs is missing).
    load_refused_in(
        "unshare --mount --propagation private sh -c 'umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; mount -t tmpfs none /sys/kernel/debug 2>/dev/null; exec setpriv --bounding-set=-sys_admin \"$0\" \"$@\"'",
        "tracefs is not mounted",
    );
}
