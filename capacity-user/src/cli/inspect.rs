//! `capacity inspect FILE.o`: arguments. The work is in `crate::deployment`.
use std::path::PathBuf;

use clap::Args;

use super::JsonOutput;
use crate::{
    deployment::{
        inspect::{inspect, Request},
        nodes::{parse_btf, NodeShape},
    },
    error::Outcome,
    kernel::KernelVersion,
    units::parse_size,
};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The eBPF ELF object (clang -target bpf, or an aya-ebpf build).
    #[arg(value_name = "FILE.o")]
    pub object: PathBuf,
    /// A node to size for, KERNEL[:CPUS[:PAGE]], e.g. 6.1:96 (repeatable; default: this host).
    #[arg(long = "node", value_name = "KERNEL[:CPUS[:PAGE]]")]
    pub nodes: Vec<NodeShape>,
    /// BTF of the nodes running KERNEL (raw or an ELF vmlinux), for exact struct sizes (repeatable).
    #[arg(long = "btf", value_name = "KERNEL=FILE", value_parser = parse_readable_btf)]
    pub btfs: Vec<(KernelVersion, PathBuf)>,
    /// Override a map's max_entries, as loaders do at run time (repeatable).
    #[arg(long = "set", value_name = "MAP=ENTRIES", value_parser = parse_set)]
    pub sets: Vec<(String, u32)>,
    /// Exit 1 when any node's total is over this many bytes (e.g. 64M).
    #[arg(long, value_name = "B", value_parser = parse_size)]
    pub budget: Option<u64>,
    /// Data pages of each perf buffer a perf event array's reader opens (a power of two).
    #[arg(long, value_name = "P", default_value_t = 8)]
    pub perf_pages: u32,
    #[command(flatten)]
    pub output: JsonOutput,
}

/// `--btf KERNEL=FILE` whose file can be read, whether or not a node runs
/// that kernel: a typo in a path is an error, never silently unused.
fn parse_readable_btf(text: &str) -> Result<(KernelVersion, PathBuf), String> {
    let (kernel, path) = parse_btf(text)?;
    std::fs::File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok((kernel, path))
}

fn parse_set(text: &str) -> Result<(String, u32), String> {
    let bad = || format!("`{text}` is not MAP=ENTRIES (e.g. flows=65536)");
    let (name, entries) = text.split_once('=').ok_or_else(bad)?;
    let entries = parse_size(entries).ok().and_then(|e| u32::try_from(e).ok()).ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), entries))
}

pub fn run(args: InspectArgs) -> anyhow::Result<Outcome> {
    if !args.perf_pages.is_power_of_two() {
        return Err(anyhow::anyhow!("--perf-pages {} must be a power of two", args.perf_pages));
    }
    let request = Request {
        nodes: args.nodes,
        btfs: args.btfs,
        overrides: args.sets,
        budget: args.budget,
        perf_pages: args.perf_pages,
    };
    let report = inspect(&args.object, &request)?;
    args.output.print(&report)?;
    Ok(if report.over_budget { Outcome::CheckFailed } else { Outcome::Success })
}
