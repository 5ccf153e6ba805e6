//! A search's result: its trials, the statement, what stopped a higher
//! answer, and its table.
use serde::Serialize;

use super::{
    calibrate::Calibration,
    spec::{BatchSource, Limit, Phase, PRODUCER_TOLERANCE},
    statement::Spread,
};
use crate::{
    output::{key_values, Report, Table},
    run::RunResult,
    settings::{Names, Words},
    units::{format_bytes, format_rate},
};

#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub passed: bool,
    /// Why it failed (`drops` or `producer`), null when it passed.
    pub failed_by: Option<Limit>,
    pub phase: Phase,
    /// Kept for scripts written against the older search: true for trials
    /// at the answer's current estimate (`phase: refine`).
    pub confirmation: bool,
    /// A failure below passes that passed when retested: the model takes it
    /// as a lapse (a failure that can happen at any rate), not as where the
    /// consumer gives up.
    pub stray: bool,
    /// The run itself, its fields inline in the JSON: `target_rate`,
    /// `actual_rate`, `drop_rate`, the counts, `batch` and the rest of
    /// `capacity load`'s result.
    #[serde(flatten)]
    pub run: RunResult,
}

impl Trial {
    /// The highest rate a failed trial could have passed at, as it measured
    /// it: for drops, the rate its consumer kept up with while the ring
    /// overflowed (consumed events per second of the run); for the
    /// producer, the target its producers' rate would have met within the
    /// tolerance. None for passes.
    pub fn capacity_measured(&self) -> Option<f64> {
        let run = &self.run;
        match self.failed_by? {
            Limit::Drops if run.consumed > run.drained_after_stop && run.duration_s > 0.0 => {
                Some(run.consumed_while_producing_per_s().min(run.target_rate))
            }
            Limit::Producer if run.actual_rate > 0.0 => {
                Some((run.actual_rate / PRODUCER_TOLERANCE).min(run.target_rate))
            }
            _ => None,
        }
    }

    /// Where a failure says the limit lies: the capacity it measured, or
    /// else its rate.
    pub fn evidence(&self) -> f64 {
        self.capacity_measured().unwrap_or(self.run.target_rate)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// The highest rate that passes with `pass_probability` at `confidence`
    /// (0 when not even `low` does).
    pub max_sustainable_rate: f64,
    pub limited_by: Limit,
    /// The statement holds for an answer of at least `low` and the search
    /// was not interrupted.
    pub confirmed: bool,
    /// The statement in words.
    pub statement: String,
    pub pass_probability: f64,
    pub confidence: f64,
    pub spread: Spread,
    /// The best estimate (posterior median) of the rate passing with
    /// `pass_probability`: the answer is its conservative end.
    pub estimate: f64,
    /// Trial-to-trial variation of the rate a trial passes at on this host
    /// (a fraction: 0.02 is 2%), as the trials measured it.
    pub noise: f64,
    /// Trials failed more gradually than the model allows for: the host is
    /// noisy and the stated confidence is optimistic.
    pub noisy_host: bool,
    /// Failures below passes that passed when retested.
    pub stray_failures: usize,
    pub low: f64,
    pub high: f64,
    pub precision: f64,
    pub max_drop_rate: f64,
    pub event_size: u32,
    /// The batch of every trial of the answer.
    pub batch: u32,
    pub batch_source: BatchSource,
    /// The batch given on the command line; null when the search chose it.
    pub requested_batch: Option<u32>,
    /// The producers as measured before the first trial.
    pub calibration: Option<Calibration>,
    /// Times the search had to change the workload and start again (a
    /// calibrated batch that proved too small); each is said on stderr.
    pub restarts: usize,
    pub producers: u32,
    pub ringbuf_size: u64,
    #[serde(serialize_with = "crate::output::as_text")]
    pub wakeup: crate::run::Wakeup,
    /// Each trial's measured length, seconds.
    pub step_duration_s: f64,
    /// What the search may spend, calibration included.
    pub time_budget_s: f64,
    /// What it spent.
    pub elapsed_s: f64,
    /// What to change when the load generator set the limit, or when the
    /// host was too noisy to answer within 5%; null otherwise. The caller
    /// names the settings in it ([`SearchResult::name_settings`]).
    pub advice: Option<Words>,
    /// Measured at the highest passing trial at or below the answer.
    pub peak_occupancy_bytes: Option<u64>,
    pub kernel_ns_per_event: Option<f64>,
    pub consumer_ns_per_event: Option<f64>,
    pub trials: Vec<Trial>,
    pub interrupted: bool,
}

impl SearchResult {
    /// The advice's settings named by the caller's `name`: flags on the
    /// command line.
    pub fn name_settings(&mut self, name: Names) {
        if let Some(advice) = &mut self.advice {
            advice.name_with(name);
        }
    }
}

impl Report for SearchResult {
    fn human(&self) -> String {
        let mut table = Table::new(["phase", "target", "batch", "actual", "drops", "full/busy", "result"]);
        for t in &self.trials {
            table.row([
                t.phase.to_string(),
                format_rate(t.run.target_rate),
                t.run.batch.to_string(),
                format_rate(t.run.actual_rate),
                format!("{:.4}%", t.run.drop_rate * 100.0),
                format!("{}/{}", t.run.dropped_full, t.run.dropped_busy),
                match (t.failed_by, t.capacity_measured()) {
                    (None, _) => "pass".to_string(),
                    (Some(l), _) if t.stray => format!("fail: {l} (stray: passed on retest)"),
                    (Some(Limit::Drops), Some(c)) => format!("fail: drops (kept up with {})", format_rate(c)),
                    (Some(Limit::Producer), _) => {
                        format!("fail: producer (reached {})", format_rate(t.run.actual_rate))
                    }
                    (Some(l), _) => format!("fail: {l}"),
                },
            ]);
        }
        let mut pairs = vec![
            ("max sustainable rate", format!("{} ({})", format_rate(self.max_sustainable_rate), self.statement)),
            ("spread", format!("{} to {}", format_rate(self.spread.min), format_rate(self.spread.max))),
            ("estimate", format!("{} passes with probability {}", format_rate(self.estimate), self.pass_probability)),
            ("limited by", self.limited_by.to_string()),
            ("confirmed", if self.confirmed { "yes".into() } else { "no".into() }),
            ("batch", format!("{} ({})", self.batch, self.batch_source)),
            ("noise", format!("{:.1}% trial to trial", self.noise * 100.0)),
            ("time", format!("{:.0} s of {:.0} s", self.elapsed_s, self.time_budget_s)),
        ];
        if self.stray_failures > 0 {
            pairs.push(("stray failures", format!("{} (failed once, passed on retest)", self.stray_failures)));
        }
        if let Some(advice) = &self.advice {
            pairs.push(("advice", advice.to_string()));
        }
        if self.noisy_host {
            pairs.push((
                "noisy host",
                "trials fell more gradually than the model allows: the confidence is optimistic".into(),
            ));
        }
        if let Some(p) = self.peak_occupancy_bytes {
            pairs.push(("peak occupancy", format_bytes(p)));
        }
        if self.interrupted {
            pairs.push(("interrupted", "yes: partial result".into()));
        }
        format!("{}\n{}", table.render(), key_values(&pairs))
    }
}

/// What stopped a higher answer: `high` when the answer reached it, else
/// the commoner reason among the failures above the answer (drops on a
/// tie). Failures that did not repeat do not count.
pub fn limit<'t>(trials: impl IntoIterator<Item = &'t Trial>, answer: f64, high: f64) -> Limit {
    if answer >= high {
        return Limit::High;
    }
    let above = trials.into_iter().filter(|t| !t.stray && t.run.target_rate > answer);
    let (drops, producer) = above.fold((0, 0), |(d, p), t| match t.failed_by {
        Some(Limit::Drops) => (d + 1, p),
        Some(Limit::Producer) => (d, p + 1),
        _ => (d, p),
    });
    match (drops, producer) {
        (0, 0) => Limit::High,
        (d, p) if p > d => Limit::Producer,
        _ => Limit::Drops,
    }
}
