//! `capacity report`: arguments. The work is in `crate::plan`.
use std::{path::PathBuf, time::Duration};

use clap::Args;

use super::{estimate::ModelArgs, JsonOutput};
use crate::{
    error::Outcome,
    plan::{self, workload::Workload},
    signal::stop_flag,
    units::parse_duration,
};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The workload file (see examples/workload.toml).
    #[arg(long, value_name = "FILE.toml")]
    pub workload: PathBuf,
    /// Validate the plan on this host: a load run at the grown rate through
    /// the recommended ring, then `size` at the load the plan must survive
    /// (grown, or N+1 failover) for the smallest ring that holds it (needs
    /// root or CAP_BPF+CAP_PERFMON).
    #[arg(long)]
    pub measure: bool,
    /// Length of the --measure load run, and of each trial of its size search: 5, 2s, 500ms.
    #[arg(long, default_value = "5", value_parser = parse_duration, requires = "measure")]
    pub duration: Duration,
    /// The kernel and machine the plan is for (default: this host).
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let workload = Workload::read(&args.workload)?;
    let model = args.model.model()?;
    let (report, interrupted) = if args.measure {
        let measured = plan::measure::measure(&workload, &model, args.duration, stop_flag())?;
        (measured.plan, measured.interrupted)
    } else {
        (plan::build(&workload, &model, None)?, false)
    };
    args.output.print(&report)?;
    Ok(if interrupted { Outcome::Interrupted } else { Outcome::Success })
}
