//! `capacity verify`: arguments. The work is in `crate::memory`.
use clap::Args;

use crate::error::Outcome;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: VerifyArgs) -> anyhow::Result<Outcome> {
    Err(crate::error::usage("verify is not implemented yet"))
}
