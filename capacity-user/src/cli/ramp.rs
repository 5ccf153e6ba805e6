//! `capacity ramp`: arguments, and the plot file. The work is in
//! `crate::search::ramp`.
use std::time::Duration;

use clap::Args;

use super::{JsonOutput, PlotFile};
use crate::{
    cli::load::LoadOptions,
    error::Outcome,
    search::{
        plot,
        ramp::{self, Ramp, Steps},
    },
    signal::stop_flag,
    units::{parse_duration, parse_rate},
};

#[derive(Debug, Args)]
pub struct RampArgs {
    /// First target rate.
    #[arg(long, value_parser = parse_rate)]
    pub from: f64,
    /// Last target rate.
    #[arg(long, value_parser = parse_rate)]
    pub to: f64,
    /// Number of evenly spaced rates, both ends included (default 10).
    #[arg(long, conflicts_with = "factor")]
    pub steps: Option<u32>,
    /// Multiply the rate by this factor at each step instead.
    #[arg(long)]
    pub factor: Option<f64>,
    /// Measured length of each step.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub step_duration: Duration,
    /// Also draw the curve into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub options: LoadOptions,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(args: RampArgs) -> anyhow::Result<Outcome> {
    let steps = match (args.steps, args.factor) {
        (_, Some(f)) => Steps::Geometric(f),
        (n, None) => Steps::Linear(n.unwrap_or(10)),
    };
    let workload = args.options.config(args.from, args.step_duration)?;
    let ramp = Ramp::new(&workload, args.from, args.to, steps, args.step_duration)?;
    let plot_file = args.plot.as_deref().map(PlotFile::create).transpose()?;
    let result = ramp::ramp(&ramp, stop_flag())?;
    if let Some(file) = plot_file {
        file.write(plot::ramp_svg(&result, &plot::ramp_title(ramp.workload())))?;
    }
    args.output.print(&result)?;
    Ok(if result.interrupted { Outcome::Interrupted } else { Outcome::Success })
}
