//! The maximum sustainable rate: the lab's binary search, made trustworthy
//! on a noisy machine (warm-up, trials long enough to mean something, a
//! producer-limit check, and a confirmation run of the answer).
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use serde::Serialize;

use crate::{
    output::{key_values, Report, Table},
    progress::Progress,
    run::{run_fixed_rate, RunConfig, RunResult},
    units::format_rate,
};

/// A trial whose producers reach less than this share of the target rate
/// hit a producer limit: that rate is not sustainable, whatever the drops.
pub const PRODUCER_TOLERANCE: f64 = 0.97;
/// Longest a single trial may grow to reach enough events.
pub const MAX_TRIAL: Duration = Duration::from_secs(30);
/// Consecutive passes that confirm the answer.
pub const CONFIRM_PASSES: usize = 3;
/// Confirmation runs, in all, before giving up on confirming an answer.
pub const MAX_CONFIRMATION_RUNS: usize = 12;
/// A failed confirmation steps the answer down by this share (or the
/// precision, if larger): a bisection that got lucky on a noisy machine is
/// usually a few percent too high, not one precision step.
const CONFIRM_STEP: f64 = 0.02;

#[derive(Debug, Clone)]
pub struct SearchSpec {
    pub low: f64,
    pub high: f64,
    pub precision: f64,
    pub max_drop_rate: f64,
    pub step_duration: Duration,
    /// The workload; its rate and duration are set per trial.
    pub workload: RunConfig,
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

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Drops => "drops",
            Limit::Producer => "producer",
            Limit::High => "high",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub target_rate: f64,
    pub actual_rate: f64,
    pub drop_rate: f64,
    pub passed: bool,
    /// Why it failed (`drops` or `producer`), null when it passed.
    pub failed_by: Option<Limit>,
    pub duration_s: f64,
    pub triggers: u64,
    pub emitted: u64,
    pub consumed: u64,
    pub dropped: u64,
    /// Of `dropped`: reserves refused with the ring full.
    pub dropped_full: u64,
    /// Of `dropped`: reserves refused although the ring had room (lock busy, 6.15+).
    pub dropped_busy: u64,
    /// Program runs the kernel skipped (recursion_misses).
    pub missed_runs: u64,
    /// Overwrite mode: records overwritten before the consumer read them.
    pub overwritten: u64,
    pub peak_occupancy_bytes: u64,
    /// A re-run of the answer, not a bisection step.
    pub confirmation: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub max_sustainable_rate: f64,
    pub limited_by: Limit,
    /// The answer passed three runs in a row after the search.
    pub confirmed: bool,
    pub low: f64,
    pub high: f64,
    pub precision: f64,
    pub max_drop_rate: f64,
    pub event_size: u32,
    pub batch: u32,
    pub producers: u32,
    pub ringbuf_size: u64,
    pub wakeup: String,
    /// Measured at the answer's confirmation run.
    pub peak_occupancy_bytes: Option<u64>,
    pub kernel_ns_per_event: Option<f64>,
    pub consumer_ns_per_event: Option<f64>,
    pub trials: Vec<Trial>,
    pub interrupted: bool,
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
    spec.step_duration.max(needed).min(MAX_TRIAL)
}

/// The next candidate after a failed confirmation (0 when below `low`).
pub fn confirm_step_down(answer: f64, spec: &SearchSpec) -> f64 {
    let next = (answer - spec.precision.max(answer * CONFIRM_STEP)).round();
    if next < spec.low {
        0.0
    } else {
        next
    }
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

pub fn validate(spec: &SearchSpec) -> anyhow::Result<()> {
    if !(spec.low > 0.0 && spec.high > spec.low) {
        crate::bail_usage!("--low must be positive and below --high (got {} and {})", spec.low, spec.high);
    }
    if !(spec.precision > 0.0) {
        crate::bail_usage!("--precision must be positive");
    }
    if !(spec.max_drop_rate > 0.0 && spec.max_drop_rate < 1.0) {
        crate::bail_usage!("--max-drop-rate must be between 0 and 1 (e.g. 0.001 for 0.1%)");
    }
    spec.workload.validate()
}

struct Searcher<'a> {
    spec: &'a SearchSpec,
    stop: &'a AtomicBool,
    progress: Progress,
    trials: Vec<Trial>,
    last: Option<RunResult>,
}

impl Searcher<'_> {
    /// Run one trial; None when interrupted.
    fn trial(&mut self, rate: f64, confirmation: bool) -> anyhow::Result<Option<bool>> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let duration = trial_duration(rate, self.spec);
        self.progress.running(format!("trial at {} for {:.1} s", format_rate(rate), duration.as_secs_f64()));
        let config = RunConfig { rate, duration, ..self.spec.workload.clone() };
        let result = run_fixed_rate(&config, self.stop)?;
        if result.interrupted {
            return Ok(None);
        }
        let failed_by = judge(&result, self.spec.max_drop_rate);
        self.progress.finished(format!(
            "{} {}: actual {}, drops {:.4}%{}",
            if confirmation { "confirm" } else { "trial  " },
            format_rate(rate),
            format_rate(result.actual_rate),
            result.drop_rate * 100.0,
            match failed_by {
                None => " -> pass".to_string(),
                Some(l) => format!(" -> fail ({l})"),
            }
        ));
        self.trials.push(Trial {
            target_rate: rate,
            actual_rate: result.actual_rate,
            drop_rate: result.drop_rate,
            passed: failed_by.is_none(),
            failed_by,
            duration_s: result.duration_s,
            triggers: result.triggers,
            emitted: result.emitted,
            consumed: result.consumed,
            dropped: result.dropped,
            dropped_full: result.dropped_full,
            dropped_busy: result.dropped_busy,
            missed_runs: result.missed_runs,
            overwritten: result.overwritten,
            peak_occupancy_bytes: result.peak_occupancy_bytes,
            confirmation,
        });
        self.last = Some(result);
        Ok(Some(failed_by.is_none()))
    }

    fn failure_at(&self, rate: f64) -> Option<Limit> {
        self.trials.iter().rev().find(|t| t.target_rate == rate && !t.passed).and_then(|t| t.failed_by)
    }
}

/// Binary search between `low` and `high` to within `precision`.
pub fn search(spec: &SearchSpec, stop: &AtomicBool) -> anyhow::Result<SearchResult> {
    validate(spec)?;
    let mut s = Searcher { spec, stop, progress: Progress::new(None), trials: Vec::new(), last: None };
    let (mut lo, mut hi) = (spec.low, spec.high);
    let mut answer = 0.0;
    let mut limited_by = Limit::High;
    let mut interrupted = false;

    // The upper bound first: if it holds, there is nothing to search.
    match s.trial(hi, false)? {
        None => interrupted = true,
        Some(true) => answer = hi,
        Some(false) => match s.trial(lo, false)? {
            None => interrupted = true,
            Some(false) => limited_by = s.failure_at(lo).unwrap_or(Limit::Drops),
            Some(true) => {
                while hi - lo > spec.precision {
                    let mid = ((lo + hi) / 2.0).round();
                    match s.trial(mid, false)? {
                        None => {
                            interrupted = true;
                            break;
                        }
                        Some(true) => lo = mid,
                        Some(false) => hi = mid,
                    }
                }
                answer = lo;
            }
        },
    }
    if answer < spec.high && answer > 0.0 {
        limited_by = s.failure_at(hi).unwrap_or(Limit::Drops);
    }

    // Confirm: the answer must pass CONFIRM_PASSES times in a row; on a
    // failure step down and start counting again. Near a producer limit one
    // pass is luck on a noisy host, three in a row is a sustained rate.
    let mut confirmed = false;
    let mut passes = 0;
    if !interrupted && answer > 0.0 {
        for _ in 0..MAX_CONFIRMATION_RUNS {
            match s.trial(answer, true)? {
                None => {
                    interrupted = true;
                    break;
                }
                Some(true) => {
                    passes += 1;
                    if passes == CONFIRM_PASSES {
                        confirmed = true;
                        break;
                    }
                }
                Some(false) => {
                    passes = 0;
                    if let Some(l) = s.failure_at(answer) {
                        limited_by = l;
                    }
                    answer = confirm_step_down(answer, spec);
                    if answer <= 0.0 {
                        break;
                    }
                }
            }
        }
    }
    let at_answer = s.last.as_ref().filter(|r| confirmed && r.target_rate == answer);
    let w = &spec.workload;
    Ok(SearchResult {
        max_sustainable_rate: answer,
        limited_by,
        confirmed,
        low: spec.low,
        high: spec.high,
        precision: spec.precision,
        max_drop_rate: spec.max_drop_rate,
        event_size: w.event_size,
        batch: w.batch,
        producers: w.producers,
        ringbuf_size: w.ringbuf_size,
        wakeup: w.wakeup.to_string(),
        peak_occupancy_bytes: at_answer.map(|r| r.peak_occupancy_bytes),
        kernel_ns_per_event: at_answer.and_then(|r| r.kernel_ns_per_event),
        consumer_ns_per_event: at_answer.and_then(|r| r.consumer_ns_per_event),
        trials: s.trials,
        interrupted: interrupted || stop.load(Ordering::Relaxed),
    })
}

impl Report for SearchResult {
    fn human(&self) -> String {
        let mut table = Table::new(["target", "actual", "drops", "full/busy", "result"]);
        for t in &self.trials {
            table.row([
                format_rate(t.target_rate),
                format_rate(t.actual_rate),
                format!("{:.4}%", t.drop_rate * 100.0),
                format!("{}/{}", t.dropped_full, t.dropped_busy),
                match (t.passed, t.confirmation) {
                    (true, false) => "pass".to_string(),
                    (true, true) => "pass (confirm)".to_string(),
                    (false, c) => format!(
                        "fail: {}{}",
                        t.failed_by.map(|l| l.to_string()).unwrap_or_default(),
                        if c { " (confirm)" } else { "" }
                    ),
                },
            ]);
        }
        let mut pairs = vec![
            ("max sustainable rate", format_rate(self.max_sustainable_rate)),
            ("limited by", self.limited_by.to_string()),
            ("confirmed", if self.confirmed { "yes".into() } else { "no".into() }),
        ];
        if let Some(p) = self.peak_occupancy_bytes {
            pairs.push(("peak occupancy", crate::units::format_bytes(p)));
        }
        if self.interrupted {
            pairs.push(("interrupted", "yes: partial result".into()));
        }
        format!("{}\n{}", table.render(), key_values(&pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SearchSpec {
        SearchSpec {
            low: 1000.0,
            high: 10e6,
            precision: 1000.0,
            max_drop_rate: 0.001,
            step_duration: Duration::from_secs(2),
            workload: RunConfig::default(),
        }
    }

    #[test]
    fn trials_see_enough_events_for_the_threshold() {
        assert_eq!(min_events(0.001), 3000.0);
        // 1000/s for 2 s is only 2000 events: the trial grows to 3 s.
        assert_eq!(trial_duration(1000.0, &spec()), Duration::from_secs(3));
        assert_eq!(trial_duration(1e6, &spec()), Duration::from_secs(2));
        assert_eq!(trial_duration(1.0, &spec()), MAX_TRIAL);
    }

    #[test]
    fn failed_confirmations_step_down_by_two_percent_or_the_precision() {
        assert_eq!(confirm_step_down(500_000.0, &spec()), 490_000.0);
        assert_eq!(confirm_step_down(20_000.0, &spec()), 19_000.0);
        assert_eq!(confirm_step_down(1500.0, &spec()), 0.0);
    }

    #[test]
    fn limits_print_as_their_json_names() {
        for limit in [Limit::Drops, Limit::Producer, Limit::High] {
            assert_eq!(serde_json::to_string(&limit).unwrap(), format!("\"{limit}\""));
        }
    }

    #[test]
    fn bad_bounds_are_refused() {
        assert!(validate(&SearchSpec { low: 5000.0, high: 1000.0, ..spec() }).is_err());
        assert!(validate(&SearchSpec { max_drop_rate: 0.0, ..spec() }).is_err());
        assert!(validate(&spec()).is_ok());
    }
}
