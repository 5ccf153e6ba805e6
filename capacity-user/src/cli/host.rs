//! `capacity host`: arguments. The work is in `crate::deployment::inventory`.
use std::time::Duration;

use clap::Args;

use super::JsonOutput;
use crate::{
    deployment::inventory::{inventory, Options},
    error::Outcome,
    preflight,
    units::{parse_duration, parse_size},
};

#[derive(Debug, Args)]
pub struct HostArgs {
    /// Turn the kernel's BPF stats on for D (e.g. 2s) and report each program's ns per run over it.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub enable_stats: Option<Duration>,
    /// Exit 1 when the maps' total memlock is over this many bytes (e.g. 512M).
    #[arg(long, value_name = "B", value_parser = parse_size)]
    pub budget: Option<u64>,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(args: HostArgs) -> anyhow::Result<Outcome> {
    preflight::check_admin("capacity host")?;
    let options = Options { enable_stats: args.enable_stats, ..Options::default() };
    let report = inventory(&options, args.budget)?;
    args.output.print(&report)?;
    Ok(if report.over_budget { Outcome::CheckFailed } else { Outcome::Success })
}
