//! `cargo xtask`: make this machine ready, build, run, test, benchmark.
//!
//! Every step that changes the machine says what it does before it does it,
//! and is skipped when already done.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod setup;
mod tasks;

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install the BPF toolchain (Debian's Rust with a BPF `core`, bpf-linker) if missing.
    Setup,
    /// Set up, build `capacity` (release) and run it as root: `cargo xtask run -- load --rate 200k --duration 5`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up and run every test, the privileged ones included.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup::ensure_toolchain().map(|_| ()),
        Task::Run { args } => tasks::run(&args),
        Task::Test { args } => tasks::test(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
