//! The kernel program's log path, for tests/tests/integration/program.rs: loads the
//! program, triggers it once with a producer id out of range (which it logs
//! at warn level), prints what it logged on stderr through the logger the
//! `capacity` binary installs, and exits.
use capacity::run::program::{trigger, EmitProgram, ProgramSettings};

fn main() {
    capacity::cli::init_logging();
    capacity::preflight::check_load_environment("bpf_log").expect("environment");
    let settings = ProgramSettings {
        event_size: 64,
        size_table: None,
        batch: 1,
        keyspace: 16,
        ringbuf_size: 1 << 16,
        map_entries: 64,
        wakeup_every: 0,
        overwrite: false,
        map: true,
        layout: Default::default(),
        perf_pages: 1,
    };
    let mut program = EmitProgram::load(&settings).expect("load and attach");
    trigger(program.token(), 100_000);
    program.flush_logs();
}
