//! `capacity estimate map|ringbuf`: arguments. The work is in `crate::memory`.
use clap::Subcommand;

use crate::error::Outcome;

#[derive(Debug, Subcommand)]
pub enum EstimateCommand {
    /// Memory of one BPF map.
    Map,
    /// Size and memory of a BPF ring buffer.
    Ringbuf,
}

pub fn run(_cmd: EstimateCommand) -> anyhow::Result<Outcome> {
    Err(crate::error::usage("estimate is not implemented yet"))
}
