//! `capacity report`: arguments. The work is in `crate::plan`.
use clap::Args;

use crate::error::Outcome;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: ReportArgs) -> anyhow::Result<Outcome> {
    Err(crate::error::usage("report is not implemented yet"))
}
