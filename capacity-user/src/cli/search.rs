//! `capacity search`: arguments. The work is in `crate::search::rate`.
use std::time::Duration;

use clap::Args;

use super::{flags, JsonOutput};
use crate::{
    cli::load::LoadOptions,
    error::Outcome,
    search::{self, SearchSpec},
    signal::stop_flag,
    units::{parse_duration, parse_rate},
};

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Lowest rate tried.
    #[arg(long, default_value = "1000", value_parser = parse_rate)]
    pub low: f64,
    /// Highest rate tried: the answer when it holds.
    #[arg(long, default_value = "10M", value_parser = parse_rate)]
    pub high: f64,
    /// The answer is rounded down to a multiple of this (events/s); the
    /// search may stop once the spread is this narrow (or within 4%).
    #[arg(long, default_value = "1000", value_parser = parse_rate)]
    pub precision: f64,
    /// Highest drop rate a passing trial may have (0.001 = 0.1%).
    #[arg(long, default_value_t = 0.001)]
    pub max_drop_rate: f64,
    /// Measured length of each trial (longer when needed to see enough events).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub step_duration: Duration,
    /// The answer passes a trial with at least this probability (at --confidence).
    #[arg(long, default_value_t = 0.9)]
    pub pass_probability: f64,
    /// How sure the statement is: the posterior probability that the answer passes with --pass-probability.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Trials in all, probes included: the search's time is about this
    /// many step durations.
    #[arg(long, default_value_t = 22)]
    pub max_trials: usize,
    /// Never raise --batch: when the producers cannot offer the rate, say so
    /// (limited_by producer, with advice) instead.
    #[arg(long)]
    pub keep_batch: bool,
    #[command(flatten)]
    pub options: LoadOptions,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(args: SearchArgs) -> anyhow::Result<Outcome> {
    // The top of the bracket, too, must be a rate the generator can attempt.
    args.options.config(args.high, args.step_duration)?.validate()?;
    let spec = SearchSpec {
        low: args.low,
        high: args.high,
        precision: args.precision,
        max_drop_rate: args.max_drop_rate,
        step_duration: args.step_duration,
        pass_probability: args.pass_probability,
        confidence: args.confidence,
        max_trials: args.max_trials,
        raise_batch: !args.keep_batch,
        workload: args.options.config(args.low, args.step_duration)?,
        names: flags::trials,
    };
    let result = search::search(&spec, stop_flag())?;
    args.output.print(&result)?;
    Ok(if result.interrupted { Outcome::Interrupted } else { Outcome::Success })
}
