//! `capacity search`: arguments. The work is in `crate::search::rate`.
use std::time::Duration;

use clap::Args;

use super::{flags, JsonOutput};
use crate::{
    cli::load::LoadOptions,
    error::Outcome,
    search::{
        self,
        rate::{BatchSource, DEFAULT_STEP},
        SearchSpec,
    },
    signal::stop_flag,
    units::{parse_duration, parse_rate},
};

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Lowest rate tried.
    #[arg(long, default_value = "1000", value_parser = parse_rate)]
    pub low: f64,
    /// Highest rate tried: the answer when it holds. Above what one ring
    /// carries on today's hosts, so that the defaults find the host's limit
    /// rather than this bound (this 2-core VM: 34.9 and 35.3M/s with `load
    /// --rate max --batch 512`; the kernel's benchmark, as published: 43M/s
    /// on a 2023 Ryzen).
    #[arg(long, default_value = "100M", value_parser = parse_rate)]
    pub high: f64,
    /// The answer is rounded down to a multiple of this (events/s); the
    /// search may stop once the spread is this narrow (or within 3%).
    #[arg(long, default_value = "1000", value_parser = parse_rate)]
    pub precision: f64,
    /// Highest drop rate a passing trial may have (0.001 = 0.1%).
    #[arg(long, default_value_t = 0.001)]
    pub max_drop_rate: f64,
    /// Measured length of each trial (longer when needed to see enough
    /// events) [default: 2s].
    #[arg(long, value_parser = parse_duration)]
    pub step_duration: Option<Duration>,
    /// The answer passes a trial with at least this probability (at --confidence).
    #[arg(long, default_value_t = 0.9)]
    pub pass_probability: f64,
    /// How sure the statement is: the posterior probability that the answer passes with --pass-probability.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Trials in all, probes included; when given, it replaces --time-budget
    /// [default: as many as the time budget holds].
    #[arg(long)]
    pub max_trials: Option<usize>,
    /// What the whole search may take, calibration included; it stops sooner
    /// once its spread (never narrower than the host's noise) is within 3%.
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    pub time_budget: Duration,
    /// No effect, kept for old scripts: a --batch given is always kept for
    /// the whole search, and without --batch the search chooses one batch
    /// before its first trial and keeps it.
    #[arg(long)]
    pub keep_batch: bool,
    #[command(flatten)]
    pub options: LoadOptions,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(args: SearchArgs) -> anyhow::Result<Outcome> {
    let step = args.step_duration.unwrap_or(DEFAULT_STEP);
    let spec = SearchSpec {
        low: args.low,
        high: args.high,
        precision: args.precision,
        max_drop_rate: args.max_drop_rate,
        step_duration: args.step_duration,
        pass_probability: args.pass_probability,
        confidence: args.confidence,
        max_trials: args.max_trials,
        time_budget: args.time_budget,
        batch_source: if args.options.batch.is_some() { BatchSource::Requested } else { BatchSource::Calibrated },
        workload: args.options.config(args.low, step)?,
    };
    let mut result = search::search(&spec, stop_flag())?;
    result.name_settings(flags::trials);
    args.output.print(&result)?;
    Ok(if result.interrupted { Outcome::Interrupted } else { Outcome::Success })
}
