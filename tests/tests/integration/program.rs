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

unsafe fn libc_exit() -> ! {
    // _exit: no atexit handlers or test-harness teardown in the child.
    nix::libc::_exit(0)
}
