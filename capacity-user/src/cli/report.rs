//! `capacity report`: arguments. The work is in `crate::plan`.
use std::{path::PathBuf, time::Duration};

use clap::Args;

use super::{estimate::ModelArgs, flags, JsonOutput};
use crate::{
    error::Outcome,
    memory::{host::Host, model::Model},
    plan::{self, check, workload::Workload},
    search::size,
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
    let mut report = plan::build(&workload, &model, None)?;
    let mut outcome = Outcome::Success;
    if args.measure {
        // Refuse a plan this host cannot try before anything runs.
        check::config(&report, &workload, args.duration, flags::report).validate()?;
        size::validate(&check::size_spec(&report, &workload, args.duration, flags::report))?;
        let check = check::run(&report, &workload, args.duration, flags::report, stop_flag())?;
        if check.run.interrupted {
            outcome = Outcome::Interrupted;
        }
        if let Some(costs) = check.costs() {
            report = plan::build(&workload, &model, Some(costs))?;
        }
        report.check = Some(check);
        if outcome != Outcome::Interrupted {
            let spec = check::size_spec(&report, &workload, args.duration, flags::report);
            let host_model = Model::new(None, None, Host::this())?;
            let sized = size::size(&spec, &host_model, stop_flag())?;
            if sized.interrupted {
                outcome = Outcome::Interrupted;
            }
            report.measured_ring = Some(sized);
        }
    }
    args.output.print(&report)?;
    Ok(outcome)
}
