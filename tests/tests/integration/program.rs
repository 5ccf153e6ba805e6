//! The kernel program's filters and counters, driven directly through the
//! library: only this process, only this instance's token, only valid
//! producer ids produce events.
use capacity::run::program::{trigger, EmitProgram, ProgramSettings};
use capacity_tests::{kernel_test, programs_left_behind};

fn settings(batch: u32) -> ProgramSettings {
    ProgramSettings {
        event_size: 64,
        size_table: None,
        batch,
        keyspace: 16,
        ringbuf_size: 1 << 20,
        map_entries: 64,
        wakeup_every: 0,
        overwrite: false,
        map: true,
        layout: Default::default(),
        perf_pages: 1,
    }
}

#[test]
fn only_this_instance_and_process_trigger_events() {
    let Some(_kernel) = kernel_test() else { return };
    capacity::preflight::check_load_environment("test").expect("environment");
    let mut program = EmitProgram::load(&settings(4)).expect("load and attach");
    let token = program.token();

    for _ in 0..10 {
        trigger(token ^ 1, 0); // another instance's token
        trigger(token, 100_000); // producer id out of range
    }
    // Another process with the right token: filtered by tgid.
    // SAFETY: the child only makes one syscall and exits.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => {
            trigger(token, 0);
            unsafe { libc_exit() }
        }
        nix::unistd::ForkResult::Parent { child } => {
            nix::sys::wait::waitpid(child, None).expect("wait");
        }
    }
    assert_eq!(program.counters().unwrap().triggers, 0, "foreign triggers were counted");
    // They ran the program all the same, and it counted them apart (other
    // processes' getpriority calls may add to them, never take away).
    assert!(program.counters().unwrap().other_runs >= 21, "{:?}", program.counters());

    for _ in 0..5 {
        trigger(token, 3);
    }
    let c = program.counters().unwrap();
    assert_eq!((c.triggers, c.emitted, c.dropped), (5, 20, 0));
    assert_eq!((c.dropped_full, c.dropped_busy), (0, 0));
    // The kernel's own statistics of the program: nothing nested here.
    let stats = program.kernel_stats().expect("bpf_prog_info");
    assert_eq!(stats.recursion_misses, 0, "{stats:?}");
    if program.stats_enabled() {
        assert!(stats.run_count >= 26, "every run above is in the kernel's run count: {stats:?}");
    }
    assert_eq!(c.map_updates + c.map_errors, 20);

    program.reset().unwrap();
    assert_eq!(program.counters().unwrap(), Default::default());
    drop(program);
    assert!(programs_left_behind().is_empty(), "dropping the program must detach it");
}

/// The program's aya-log records reach stderr through the binary's logger
/// (env_logger, cli::init_logging) only when CAPACITY_BPF_LOG turns them on.
#[test]
fn kernel_log_records_are_printed_when_asked_for() {
    let Some(_kernel) = kernel_test() else { return };
    let stderr = |level: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bpf_log"));
        cmd.env_remove("RUST_LOG").env_remove("CAPACITY_BPF_LOG");
        if let Some(level) = level {
            cmd.env("CAPACITY_BPF_LOG", level);
        }
        let out = cmd.output().expect("run bpf_log");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let warning = "capacity: bpf WARN: capacity: producer id 100000 is out of range, trigger ignored\n";
    assert_eq!(stderr(Some("warn")), warning);
    assert_eq!(stderr(Some("error")), "", "the program filters below its level");
    assert_eq!(stderr(None), "", "off by default");
    assert!(programs_left_behind().is_empty());
}

unsafe fn libc_exit() -> ! {
    // _exit: no atexit handlers or test-harness teardown in the child.
    nix::libc::_exit(0)
}

/// The per-CPU scratch buffer a size mix writes through is full size only
/// for a mix: without one it is cut to 8 bytes (the program still loads,
/// its mix path being dead code to the verifier).
#[test]
fn the_mix_scratch_buffer_is_full_size_only_for_a_mix() {
    let Some(_kernel) = kernel_test() else { return };
    capacity::preflight::check_load_environment("test").expect("environment");
    let scratch_maps = || -> Vec<(u32, u32)> {
        aya::maps::loaded_maps()
            .filter_map(Result::ok)
            .filter(|m| m.name_as_str() == Some(capacity_common::names::MIX_SCRATCH))
            .map(|m| (m.id(), m.value_size()))
            .collect()
    };
    // The scratch map a load adds (maps of earlier loads may linger a
    // moment after they are dropped).
    let value_size_after = |load: &dyn Fn() -> EmitProgram| {
        let before = scratch_maps();
        let program = load();
        let new: Vec<u32> = scratch_maps().into_iter().filter(|m| !before.contains(m)).map(|m| m.1).collect();
        assert_eq!(new.len(), 1, "one load, one new scratch map: {new:?}");
        (program, new[0])
    };
    let (fixed, size) = value_size_after(&|| EmitProgram::load(&settings(1)).expect("load without a mix"));
    assert_eq!(size, 8);
    drop(fixed);
    let table = "64:1,4096:1".parse::<capacity::event_sizes::EventSizes>().unwrap().table();
    let mix = ProgramSettings { size_table: Some(table), ..settings(1) };
    let (mixed, size) = value_size_after(&|| EmitProgram::load(&mix).expect("load with a mix"));
    assert_eq!(size, capacity_common::MAX_MIX_EVENT_SIZE as u32);
    drop(mixed);
    assert!(programs_left_behind().is_empty());
}
