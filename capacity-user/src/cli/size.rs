//! `capacity size`: arguments, and the plot file. The work is in
//! `crate::search::size`.
use std::time::Duration;

use clap::Args;

use super::{JsonOutput, PlotFile};
use crate::{
    cli::load::LoadOptions,
    error::Outcome,
    memory::{host::Host, model::Model},
    search::{
        plot,
        size::{self, SizeSpec},
    },
    signal::stop_flag,
    units::{parse_duration, parse_rate, parse_size},
};

#[derive(Debug, Args)]
pub struct SizeArgs {
    /// Mean events per second, e.g. 250000, 250k, 2.5M; optional with --profile.
    #[arg(long, value_parser = parse_rate, allow_hyphen_values = true, required_unless_present = "profile")]
    pub rate: Option<f64>,
    /// Smallest ring tried (perf: each CPU's buffer's data bytes; default: one page).
    #[arg(long, value_parser = parse_size)]
    pub min: Option<u64>,
    /// Largest ring tried (perf: each CPU's buffer's data bytes): when it drops too, the consumer is the limit (exit 1).
    #[arg(long, default_value = size::DEFAULT_MAX, value_parser = parse_size)]
    pub max: u64,
    /// Highest drop rate a passing trial may have (0: no drop at all).
    #[arg(long, default_value_t = 0.0)]
    pub max_drop_rate: f64,
    /// Measured length of each trial (longer when needed to cover a consumer
    /// stall or to see enough events).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub step_duration: Duration,
    /// Seconds of events the lab's formula buffers, for the formula's figures
    /// shown beside the measured answer.
    #[arg(long, value_name = "T", default_value = "5", value_parser = parse_duration)]
    pub buffer_seconds: Duration,
    /// Also draw drops and peak occupancy against ring size into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub options: LoadOptions,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(args: SizeArgs) -> anyhow::Result<Outcome> {
    if args.options.ringbuf_size.is_some() {
        return Err(anyhow::anyhow!(
            "size chooses the ring itself: bound it with --min and --max instead of --ringbuf-size"
        ));
    }
    let host = Host::this();
    let spec = SizeSpec {
        min: args.min.unwrap_or(host.page_size),
        max: args.max,
        max_drop_rate: args.max_drop_rate,
        step_duration: args.step_duration,
        buffer_seconds: args.buffer_seconds.as_secs_f64(),
        workload: args.options.config(args.options.mean_rate(args.rate)?, args.step_duration)?,
    };
    let valid = size::validate(&spec)?;
    let model = Model::new(None, None, host)?;
    let plot_file = args.plot.as_deref().map(PlotFile::create).transpose()?;
    let result = size::size(valid, &model, stop_flag())?;
    if let Some(file) = plot_file {
        file.write(plot::size_svg(&result, &plot::size_title(&spec.workload)))?;
    }
    args.output.print(&result)?;
    Ok(if result.interrupted {
        Outcome::Interrupted
    } else if result.min_ringbuf_size.is_none() {
        Outcome::CheckFailed
    } else {
        Outcome::Success
    })
}
