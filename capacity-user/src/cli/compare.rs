//! `capacity compare`: arguments. The work is in `crate::search::compare`.
use std::time::Duration;

use clap::Args;

use super::JsonOutput;
use crate::{
    cli::load::LoadOptions,
    error::Outcome,
    kernel::KernelVersion,
    layout::Layout,
    memory::{host::Host, model::Model},
    search::{
        compare::{compare, CompareSpec},
        size,
    },
    signal::stop_flag,
    units::{parse_duration, parse_rate, parse_size},
};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Events per second every layout runs at, e.g. 250000, 250k, 2.5M.
    #[arg(long, value_parser = parse_rate, allow_hyphen_values = true)]
    pub rate: f64,
    /// The layouts, comma-separated: shared, per-cpu, per-cpus:N, perf.
    #[arg(long, value_delimiter = ',', default_value = "shared,per-cpu,perf")]
    pub layouts: Vec<Layout>,
    /// Each layout's memory budget (default: what the shared ring of --ringbuf-size costs).
    #[arg(long, value_name = "B", value_parser = parse_size, conflicts_with = "smallest")]
    pub memory: Option<u64>,
    /// Each layout at its own smallest size without drops instead (size's
    /// search per layout: largest first, bisection, 3 passes confirm).
    #[arg(long)]
    pub smallest: bool,
    /// With --smallest: the largest size searched (each ring's bytes, or each
    /// CPU's perf buffer's data bytes).
    #[arg(long, value_name = "B", default_value = size::DEFAULT_MAX, value_parser = parse_size, requires = "smallest")]
    pub max: u64,
    /// Length of each run (with --smallest, of each trial; longer when the
    /// workload needs it, as size's trials).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub duration: Duration,
    #[command(flatten)]
    pub options: LoadOptions,
    #[command(flatten)]
    pub output: JsonOutput,
}

/// What the layouts cost on this machine. Kernels before 6.4 report a
/// ring's memlock without its data pages (`bpf_map_memory_footprint`),
/// which would let any ring fit a budget: there the memory is modelled as
/// 6.12 charges it (`map_mem_usage`: the pages included).
fn compare_model() -> anyhow::Result<Model> {
    let running = KernelVersion::running()?;
    let kernel = if running < KernelVersion::new(6, 4, 0) { KernelVersion::new(6, 12, 0) } else { running };
    Model::new(Some(kernel), None, Host::this())
}

pub fn run(args: CompareArgs) -> anyhow::Result<Outcome> {
    let workload = args.options.config(args.rate, args.duration)?;
    let spec =
        CompareSpec { layouts: args.layouts, memory: args.memory, smallest: args.smallest, max: args.max, workload };
    let model = compare_model()?;
    let result = compare(&spec, &model, stop_flag())?;
    args.output.print(&result)?;
    Ok(if result.interrupted { Outcome::Interrupted } else { Outcome::Success })
}
