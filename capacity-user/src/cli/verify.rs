//! `capacity verify`: arguments. The work is in `crate::memory`.
use clap::Args;

use super::JsonOutput;
use crate::{
    error::Outcome,
    memory::verify::{self, Subject, VerifyOptions, DEFAULT_ENTRIES},
    units::parse_size,
};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Types to create: hash, percpu-hash, lru-hash, lru-percpu-hash,
    /// array, percpu-array, ringbuf (default: all).
    #[arg(long, value_name = "T,...", value_delimiter = ',')]
    pub types: Vec<Subject>,
    /// Map entry counts (default: 1,1000,1024,100000). Rings always span
    /// one page to 64 MiB.
    #[arg(long, value_name = "N,...", value_delimiter = ',', value_parser = parse_size)]
    pub entries: Vec<u64>,
    /// Exit 1 when the model is further than this from memlock, in percent.
    #[arg(long, value_name = "PCT", allow_hyphen_values = true)]
    pub max_error: Option<f64>,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<Outcome> {
    if args.max_error.is_some_and(|pct| !(pct.is_finite() && pct >= 0.0)) {
        return Err(anyhow::anyhow!("--max-error must be a percentage of 0 or more"));
    }
    let entries = if args.entries.is_empty() {
        DEFAULT_ENTRIES.to_vec()
    } else {
        args.entries
            .iter()
            .map(|&n| match u32::try_from(n) {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(anyhow::anyhow!("--entries {n} is out of range: use 1 to {}", u32::MAX)),
            })
            .collect::<anyhow::Result<_>>()?
    };
    let subjects = if args.types.is_empty() { Subject::all() } else { args.types };
    let options = VerifyOptions { subjects, entries, max_error_pct: args.max_error };
    let report = verify::run(&options)?;
    args.output.print(&report)?;
    Ok(if report.passes() { Outcome::Success } else { Outcome::CheckFailed })
}
