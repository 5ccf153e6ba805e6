//! `capacity estimate map|ringbuf`: arguments. The work is in `crate::memory`.
use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};

use super::JsonOutput;
use crate::{
    error::Outcome,
    event_sizes::EventSizes,
    kernel::KernelVersion,
    layout::Layout,
    memory::{
        estimate,
        host::{Host, MAX_CPUS},
        model::Model,
        MapKind, MapSpec,
    },
    units::{parse_duration, parse_rate, parse_size},
};

#[derive(Debug, Subcommand)]
pub enum EstimateCommand {
    /// Memory of one BPF map: the lab's formula and the kernel's figure.
    Map(MapArgs),
    /// Size and memory of a BPF ring buffer, for a rate or a given size.
    Ringbuf(RingbufArgs),
}

/// Which kernel and machine to model; shared by the estimates and `report`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Possible CPUs (default: this host's).
    #[arg(long, value_name = "C")]
    pub cpus: Option<u32>,
    /// Page size (default: this host's).
    #[arg(long, value_parser = parse_size)]
    pub page_size: Option<u64>,
    /// Kernel version whose accounting to model, X.Y (default: the running one).
    #[arg(long)]
    pub kernel: Option<KernelVersion>,
    /// BTF of that kernel, raw or an ELF vmlinux (default: the running kernel's).
    #[arg(long, value_name = "FILE")]
    pub btf: Option<PathBuf>,
}

impl ModelArgs {
    pub fn model(&self) -> anyhow::Result<Model> {
        let this = Host::this();
        let host = Host { cpus: self.cpus.unwrap_or(this.cpus), page_size: self.page_size.unwrap_or(this.page_size) };
        if host.cpus == 0 || host.cpus > MAX_CPUS {
            return Err(anyhow::anyhow!(
                "--cpus {} is out of range: use 1 to {MAX_CPUS} (a kernel's NR_CPUS is at most {MAX_CPUS})",
                host.cpus
            ));
        }
        if !host.page_size.is_power_of_two() || host.page_size < 4096 {
            return Err(anyhow::anyhow!("--page-size {} is not a page size: use 4096, 16K or 64K", host.page_size));
        }
        Model::new(self.kernel, self.btf.as_deref(), host)
    }
}

#[derive(Debug, Args)]
pub struct MapArgs {
    /// hash, percpu-hash, lru-hash, lru-percpu-hash, array or percpu-array.
    #[arg(long = "type", value_name = "T")]
    pub kind: MapKind,
    /// max_entries.
    #[arg(long, value_name = "N", value_parser = parse_size)]
    pub entries: u64,
    /// Key size in bytes (4 for arrays).
    #[arg(long, value_name = "K", value_parser = parse_size)]
    pub key_size: u64,
    /// Value size in bytes.
    #[arg(long, value_name = "V", value_parser = parse_size)]
    pub value_size: u64,
    /// BPF_F_NO_PREALLOC (hash and percpu-hash): elements are allocated as added.
    #[arg(long)]
    pub no_prealloc: bool,
    /// Live elements, which a map without preallocation reports (default: N).
    #[arg(long, value_name = "N", value_parser = parse_size)]
    pub filled: Option<u64>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub output: JsonOutput,
}

#[derive(Debug, Args)]
pub struct RingbufArgs {
    /// Events per second, e.g. 250000, 250k, 2.5M.
    #[arg(long, value_parser = parse_rate, required_unless_present = "size", allow_hyphen_values = true)]
    pub rate: Option<f64>,
    /// Event size in bytes (what the program reserves): one size, LO..HI or
    /// a weighted mix S1:W1,S2:W2,...
    #[arg(long, value_name = "S|LO..HI|S1:W1,...", required_unless_present = "size")]
    pub event_size: Option<EventSizes>,
    /// Seconds of events the ring must hold while the consumer lags.
    #[arg(long, value_name = "T", value_parser = parse_duration, default_value = "5")]
    pub buffer_seconds: Duration,
    /// A ring of this size instead: only its memory is estimated.
    #[arg(long, value_name = "B", value_parser = parse_size, conflicts_with_all = ["rate", "event_size"])]
    pub size: Option<u64>,
    /// The layout to cost on the node of --cpus CPUs: shared, per-cpu,
    /// per-cpus:N (each ring of the size above) or perf.
    #[arg(long, default_value = "shared", value_name = "shared|per-cpu|per-cpus:N|perf")]
    pub layout: Layout,
    /// Perf: data pages per CPU, a power of two (default: the ring's size in pages).
    #[arg(long, value_name = "P")]
    pub perf_pages: Option<u32>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(cmd: EstimateCommand) -> anyhow::Result<Outcome> {
    match cmd {
        EstimateCommand::Map(args) => {
            let model = args.model.model()?;
            let entries = fits_u32("--entries", args.entries)?;
            let mut spec = MapSpec::new(
                args.kind,
                entries,
                fits_u32("--key-size", args.key_size)?,
                fits_u32("--value-size", args.value_size)?,
            );
            if args.no_prealloc {
                spec = spec.without_prealloc(entries);
            }
            if let Some(filled) = args.filled {
                spec.filled = fits_u32("--filled", filled)?;
            }
            args.output.print(&estimate::map(&model, spec)?)?;
        }
        EstimateCommand::Ringbuf(args) => {
            let model = args.model.model()?;
            let report = match (args.size, args.rate, args.event_size) {
                (Some(size), _, _) => estimate::ring_of_size(&model, size)?,
                (None, Some(rate), Some(sizes)) => {
                    estimate::ring_for_sizes(&model, rate, &sizes, args.buffer_seconds.as_secs_f64())?
                }
                _ => return Err(anyhow::anyhow!("give --rate and --event-size, or --size")),
            };
            let report = report.with_layout(&model, args.layout, args.perf_pages)?;
            args.output.print(&report)?;
        }
    }
    Ok(Outcome::Success)
}

fn fits_u32(flag: &str, value: u64) -> anyhow::Result<u32> {
    u32::try_from(value).map_err(|_| anyhow::anyhow!("{flag} {value} is over the kernel's limit (a 32-bit field)"))
}
