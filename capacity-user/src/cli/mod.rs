//! Argument parsing, separated from the work: each subcommand's arguments
//! and the call into the library module that does the work.
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::Outcome;

pub mod alerts;
pub mod compare;
pub mod docs;
pub mod estimate;
pub mod flags;
pub mod host;
pub mod inspect;
pub mod load;
pub mod observe;
pub mod ramp;
pub mod report;
pub mod search;
pub mod size;
pub mod verify;
pub mod watch;

#[derive(Debug, Parser)]
#[command(
    name = "capacity",
    version,
    about = "How many events per second a BPF ring buffer carries, and what BPF maps really cost, measured on this kernel"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Estimate map or ring buffer memory (no privileges needed).
    #[command(subcommand)]
    Estimate(estimate::EstimateCommand),
    /// One fixed-rate run: every event consumed or counted as dropped.
    Load(load::LoadArgs),
    /// One fixed-rate run per step from --from to --to.
    Ramp(ramp::RampArgs),
    /// The highest rate that passes (drops at or below --max-drop-rate) with a stated probability and confidence.
    Search(search::SearchArgs),
    /// Binary search for the smallest power-of-two ring that holds a workload.
    Size(size::SizeArgs),
    /// The layouts (shared ring, rings per CPU, perf buffers) side by side at one rate and one memory budget.
    Compare(compare::CompareArgs),
    /// Create real maps and ring buffers and compare their memory with the formulas.
    Verify(verify::VerifyArgs),
    /// A capacity plan for one workload file.
    Report(report::ReportArgs),
    /// The maps a BPF object file declares and their memory on each node shape (no privileges needed).
    Inspect(inspect::InspectArgs),
    /// Every BPF map and program loaded on this host now: memory, fill, owners, cost.
    Host(host::HostArgs),
    /// Repeat `host` every --interval: a refreshing table with trends and time to exhaustion,
    /// or with --listen a Prometheus exporter (/metrics, /healthz).
    Watch(watch::WatchArgs),
    /// Watch a live ring of another program at a fine interval: rates, backlog, drain rate, stalls, the ring it needs.
    Observe(observe::ObserveArgs),
    /// Print Prometheus alerting rules for the metrics `watch --listen` exports (no privileges).
    Alerts(alerts::AlertsArgs),
}

/// The whole command tree, for the man pages, completions and the test
/// that keeps docs/CLI.md complete.
pub fn command() -> clap::Command {
    Cli::command()
}

/// `--json`, as every subcommand that prints one result takes it.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct JsonOutput {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl JsonOutput {
    /// Print `report` on stdout in the form asked for.
    pub fn print(self, report: &impl crate::output::Report) -> anyhow::Result<()> {
        crate::output::print(report, self.json)
    }
}

/// `--plot FILE.svg` of ramp and size: created empty before the runs, so an
/// unwritable path fails at once rather than after minutes of measuring.
pub struct PlotFile<'a>(&'a std::path::Path);

impl<'a> PlotFile<'a> {
    pub fn create(path: &'a std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        std::fs::write(path, "").with_context(|| format!("cannot write the plot to {}", path.display()))?;
        Ok(Self(path))
    }

    pub fn write(self, svg: String) -> anyhow::Result<()> {
        std::fs::write(self.0, svg)?;
        log::info!("wrote {}", self.0.display());
        Ok(())
    }
}

/// The one channel for notices: `log` records on stderr, one line each.
/// capacity's own notices (info and up) read `capacity: message` (warnings
/// `capacity: warning: message`); other records, such as the kernel
/// program's (aya-log, when CAPACITY_BPF_LOG sets its level), read
/// `capacity: TARGET LEVEL: message`. RUST_LOG picks others, e.g.
/// `RUST_LOG=capacity=info,bpf,aya=debug`.
pub fn init_logging() {
    use std::io::Write as _;
    let default = format!("{}=info,{}=trace", env!("CARGO_CRATE_NAME"), capacity_common::names::LOG_TARGET);
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(|out, record| {
            let ours = record.target().split("::").next() == Some(env!("CARGO_CRATE_NAME"));
            match record.level() {
                log::Level::Info if ours => writeln!(out, "capacity: {}", record.args()),
                log::Level::Warn | log::Level::Error if ours => writeln!(out, "capacity: warning: {}", record.args()),
                level => writeln!(out, "capacity: {} {level}: {}", record.target(), record.args()),
            }
        })
        .init();
}

/// Parse the command line. Help and version print as usual; a bad argument
/// becomes one line on stderr and exit code 2.
pub fn parse() -> Result<Command, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli.command),
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            Err(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("capacity: error: {}", clap_error_line(&err));
            Err(ExitCode::from(2))
        }
    }
}

/// clap's message without its usage block, on one line.
fn clap_error_line(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    // The first paragraph says what is wrong; the usage block follows it.
    let first: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .collect();
    let first = first.join(" ");
    let first = first.strip_prefix("error: ").unwrap_or(&first);
    format!("{first} (see `capacity --help`)")
}

/// Runs `command`. A setting the library refuses ([`SettingError`]) is
/// worded here, by the flag (or workload key) the subcommand took it from.
///
/// [`SettingError`]: crate::settings::SettingError
pub fn run(command: Command) -> anyhow::Result<Outcome> {
    let names = flags::of(&command);
    dispatch(command).map_err(|error| crate::settings::SettingError::name_in(error, names))
}

fn dispatch(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Estimate(cmd) => estimate::run(cmd),
        Command::Load(args) => load::run(args),
        Command::Ramp(args) => ramp::run(args),
        Command::Search(args) => search::run(args),
        Command::Size(args) => size::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Report(args) => report::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Host(args) => host::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Alerts(args) => alerts::run(args),
        Command::Observe(args) => observe::run(args),
    }
}
