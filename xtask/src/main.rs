//! `cargo xtask`: make this machine ready, build, run, test, benchmark.
//!
//! Every step that changes the machine says what it does before it does it,
//! and is skipped when already done.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod bench_drain;
mod bench_host;
mod bench_kernel;
mod bench_observe;
mod bench_output;
mod bench_reference;
mod bench_search;
mod image;
mod kernel_sizes;
mod setup;
mod table;
mod tasks;
mod vm;
mod workspace;

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install the BPF toolchain (Debian's Rust with a BPF `core`, bpf-linker) and the test tools
    /// (Debian's prometheus, podman, runc, python3-prometheus-client; kubernetes-validate from PyPI) if missing.
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
    /// Run the privileged tests and `capacity verify --max-error 0` on other kernels, each in a
    /// qemu VM: `cargo xtask vm --kernel 6.1 --kernel 6.12 [-- TEST ARGS]`.
    Vm(vm::VmArgs),
    /// Write this host's row of capacity-user/src/memory/kernels.toml (struct sizes from its BTF,
    /// read by `capacity verify`); the VM kernels' rows: `cargo xtask vm --write-kernel-sizes`.
    KernelSizes,
    /// Compare capacity's consumer with libbpf's ring_buffer__poll on the same unpaced workload
    /// (interleaved rounds, median ratio), then measure pacing accuracy; `bench search` (five searches per case):
    /// how far repeated searches' answers lie apart. Needs root.
    Bench(bench::BenchArgs),
    /// Build the DaemonSet's image offline with podman (deploy/kubernetes/Containerfile, a static
    /// release `capacity` FROM scratch) and print its name, `localhost/capacity:TAG`.
    Image(image::ImageArgs),
    /// Generate man pages (clap_mangen) and bash, zsh and fish completions (clap_complete) for
    /// `capacity` and every subcommand into target/docs (or --out DIR).
    Docs {
        /// Where to write man/ and completions/.
        #[arg(long, default_value = "target/docs")]
        out: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup::ensure_toolchain().and_then(|_| setup::ensure_test_tools()),
        Task::Run { args } => tasks::run(&args),
        Task::Test { args } => tasks::test(&args),
        Task::Vm(args) => vm::run(args),
        Task::KernelSizes => kernel_sizes::host(),
        Task::Bench(args) => bench::run(&args),
        Task::Image(args) => image::run(&args),
        Task::Docs { out } => tasks::docs(&out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
