//! `capacity ramp` and `capacity search`: arguments. The work is in
//! `crate::ramp` and `crate::search`.
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::{
    cli::load::LoadOptions,
    error::Outcome,
    output, plot,
    ramp::{self, Steps},
    search::{self, SearchSpec},
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
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run_ramp(args: RampArgs) -> anyhow::Result<Outcome> {
    let steps = match (args.steps, args.factor) {
        (_, Some(f)) => Steps::Geometric(f),
        (n, None) => Steps::Linear(n.unwrap_or(10)),
    };
    let targets = ramp::rates(args.from, args.to, steps)?;
    // Refuse an unattainable --from or --to as given, before any step runs.
    for rate in [args.from, args.to] {
        args.options.config(rate, args.step_duration)?.validate()?;
    }
    let workload = args.options.config(args.from, args.step_duration)?;
    if let Some(path) = &args.plot {
        // Fail before the runs, not after them.
        std::fs::write(path, "").with_context(|| format!("cannot write the plot to {}", path.display()))
            .map_err(|e| crate::error::usage(format!("{e:#}")))?;
    }
    let result = ramp::ramp(&workload, &targets, args.step_duration, stop_flag())?;
    if let Some(path) = &args.plot {
        let title = format!(
            "capacity ramp: {} B events, batch {}, ring {}, {} wakeups",
            workload.event_size,
            workload.batch,
            crate::units::format_bytes(workload.ringbuf_size),
            workload.wakeup
        );
        std::fs::write(path, plot::ramp_svg(&result, &title))?;
        eprintln!("capacity: wrote {}", path.display());
    }
    output::print(&result, args.json)?;
    Ok(if result.interrupted { Outcome::Interrupted } else { Outcome::Success })
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Lowest rate tried.
    #[arg(long, default_value = "1000", value_parser = parse_rate)]
    pub low: f64,
    /// Highest rate tried: the answer when it holds.
    #[arg(long, default_value = "10M", value_parser = parse_rate)]
    pub high: f64,
    /// Stop when the bracket is this narrow (events/s).
    #[arg(long, default_value = "1000", value_parser = parse_rate)]
    pub precision: f64,
    /// Highest drop rate a passing trial may have (0.001 = 0.1%).
    #[arg(long, default_value_t = 0.001)]
    pub max_drop_rate: f64,
    /// Measured length of each trial (longer when needed to see enough events).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub step_duration: Duration,
    #[command(flatten)]
    pub options: LoadOptions,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run_search(args: SearchArgs) -> anyhow::Result<Outcome> {
    // The top of the bracket, too, must be a rate the generator can attempt.
    args.options.config(args.high, args.step_duration)?.validate()?;
    let spec = SearchSpec {
        low: args.low,
        high: args.high,
        precision: args.precision,
        max_drop_rate: args.max_drop_rate,
        step_duration: args.step_duration,
        workload: args.options.config(args.low, args.step_duration)?,
    };
    let result = search::search(&spec, stop_flag())?;
    output::print(&result, args.json)?;
    Ok(if result.interrupted { Outcome::Interrupted } else { Outcome::Success })
}
