//! What a rate search is asked, how a trial is judged, and where trials
//! may be placed: checked before anything touches the kernel.
use std::time::Duration;

use serde::Serialize;

use crate::{
    output::serde_name,
    refuse,
    run::{RunConfig, RunResult},
    settings::{Setting, SettingError},
};

/// A trial whose producers reach less than this share of the target rate
/// hit a producer limit: that rate is not sustainable, whatever the drops.
pub const PRODUCER_TOLERANCE: f64 = 0.97;
/// Longest a single trial may grow to reach enough events.
pub const MAX_TRIAL: Duration = Duration::from_secs(30);
/// A trial's length when `--step-duration` is not given.
pub const DEFAULT_STEP: Duration = Duration::from_secs(2);
/// A search's time when `--time-budget` is not given.
pub const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(90);
/// Candidate rates lie on a ladder 1% apart, so that the trials the
/// estimate asks for land on the same rates again (k passes of n there).
const LADDER: f64 = 1.01;

#[derive(Debug, Clone)]
pub struct SearchSpec {
    pub low: f64,
    pub high: f64,
    /// The answer is rounded down to a multiple of this.
    pub precision: f64,
    pub max_drop_rate: f64,
    /// Each trial's length; None: [`DEFAULT_STEP`].
    pub step_duration: Option<Duration>,
    /// The answer passes a trial with at least this probability...
    pub pass_probability: f64,
    /// ...at this confidence.
    pub confidence: f64,
    /// Trials in all, probes included; None: as many as `time_budget` holds.
    pub max_trials: Option<usize>,
    /// The whole search, calibration included, when `max_trials` is None.
    pub time_budget: Duration,
    /// Whether `workload.batch` was asked for (kept) or is the search's to
    /// choose once, by calibration, before the first trial.
    pub batch_source: BatchSource,
    /// The workload; its rate and duration are set per trial.
    pub workload: RunConfig,
}

impl SearchSpec {
    pub fn step(&self) -> Duration {
        self.step_duration.unwrap_or(DEFAULT_STEP)
    }
}

/// Where the batch of every trial came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchSource {
    /// Given on the command line (or by a plan): kept for the whole search.
    Requested,
    /// Chosen once by calibrating the producers before the first trial.
    Calibrated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    /// The ring filled: the consumer (or the ring's size) is the limit.
    Drops,
    /// Triggers could not be generated faster.
    Producer,
    /// The upper bound of the search passed.
    High,
}

/// Why a trial was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// At the top of what the producers can offer: where does the consumer give up?
    Probe,
    /// Stepping from the probe's hint until one trial passes and one fails.
    Bracket,
    /// Where the current estimate of the answer lies.
    Refine,
    /// Above what the producers reach, where they limit: what they reached
    /// measures them.
    Reach,
    /// Again at the rate of a failure that lay below passes: does it repeat?
    Retest,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_name(self))
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_name(self))
    }
}

impl std::fmt::Display for BatchSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_name(self))
    }
}

/// Events a trial must see so that a clean trial bounds the drop rate at
/// `max_drop_rate` with 95% confidence (the rule of three: zero events of
/// n bounds the rate at 3/n).
pub fn min_events(max_drop_rate: f64) -> f64 {
    (3.0 / max_drop_rate).ceil()
}

/// How long a trial at `rate` runs: the step duration, or longer when that
/// would see too few events (capped).
pub fn trial_duration(rate: f64, spec: &SearchSpec) -> Duration {
    let needed = Duration::from_secs_f64(min_events(spec.max_drop_rate) / rate);
    spec.step().max(needed).min(MAX_TRIAL)
}

/// The candidate rate nearest `rate`: on the 1% ladder, then on the
/// precision, within [low, high].
pub fn candidate(rate: f64, spec: &SearchSpec) -> f64 {
    let on_ladder = LADDER.powf((rate.ln() / LADDER.ln()).round());
    ((on_ladder / spec.precision).round() * spec.precision).clamp(spec.low, spec.high)
}

/// Pass or fail, and why.
pub fn judge(result: &RunResult, max_drop_rate: f64) -> Option<Limit> {
    // In overwrite mode the ring loses old records instead of new ones:
    // a loss all the same.
    let attempted = result.emitted + result.dropped;
    let overwritten_rate = if attempted == 0 { 0.0 } else { result.overwritten as f64 / attempted as f64 };
    if result.drop_rate + overwritten_rate > max_drop_rate {
        Some(Limit::Drops)
    } else if result.actual_rate < result.target_rate * PRODUCER_TOLERANCE {
        Some(Limit::Producer)
    } else {
        None
    }
}

/// Every bad setting of a search, before anything touches the kernel: what
/// is wrong with which setting, for the caller to word.
pub fn validate(spec: &SearchSpec) -> Result<(), SettingError> {
    if !(spec.low > 0.0 && spec.high > spec.low && spec.high.is_finite()) {
        let got = format!(" (got {} and {})", spec.low, spec.high);
        return Err(
            refuse!(Setting::LowRate; Setting::LowRate, " must be positive and below ", Setting::HighRate, got),
        );
    }
    if spec.precision.is_nan() || spec.precision <= 0.0 {
        return Err(refuse!(Setting::Precision; Setting::Precision, " must be positive"));
    }
    if !(spec.max_drop_rate > 0.0 && spec.max_drop_rate < 1.0) {
        return Err(
            refuse!(Setting::MaxDropRate; Setting::MaxDropRate, " must be between 0 and 1 (e.g. 0.001 for 0.1%)"),
        );
    }
    if !(spec.pass_probability > 0.0 && spec.pass_probability < 1.0) {
        return Err(refuse!(Setting::PassProbability; Setting::PassProbability, " must be between 0 and 1 (e.g. 0.9)"));
    }
    if !(spec.confidence >= 0.5 && spec.confidence < 1.0) {
        return Err(refuse!(Setting::Confidence; Setting::Confidence, " must be at least 0.5 and below 1 (e.g. 0.95)"));
    }
    if spec.max_trials.is_some_and(|n| n < 3) {
        return Err(
            refuse!(Setting::MaxTrials; Setting::MaxTrials, " must be at least 3 (a probe, a pass and a failure)"),
        );
    }
    if spec.time_budget < spec.step() * 3 {
        let why = format!(
            " must hold at least three trials of {:.1} s (got {:.1} s)",
            spec.step().as_secs_f64(),
            spec.time_budget.as_secs_f64()
        );
        return Err(refuse!(Setting::TimeBudget; Setting::TimeBudget, why));
    }
    // The top of the range, too, must be a rate the generator can attempt.
    RunConfig { rate: spec.high, duration: spec.step(), ..spec.workload.clone() }.validate()?;
    spec.workload.validate()
}
