//! A ramp: one fixed-rate run per step, from a low rate to a high one.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use serde::Serialize;

use crate::{
    output::{Report, Table},
    progress::Progress,
    refuse,
    run::{run_fixed_rate, RunConfig, RunResult},
    settings::{Setting, SettingError},
    units::{format_bytes, format_rate},
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Steps {
    /// This many rates, evenly spaced, both ends included.
    Linear(u32),
    /// Multiply by this factor from the start until past the end.
    Geometric(f64),
}

/// A ramp whose bounds and every step passed the run's checks: the only
/// kind [`ramp`] runs, so it is refused before its first step, not midway.
#[derive(Debug, Clone)]
pub struct Ramp {
    /// The workload at the first rate, one step long.
    workload: RunConfig,
    targets: Vec<f64>,
}

impl Ramp {
    /// The ramp of `workload` from `from` to `to`, each step `step_duration`
    /// long. The bounds are checked as given, then every step's rate.
    pub fn new(
        workload: &RunConfig,
        from: f64,
        to: f64,
        steps: Steps,
        step_duration: Duration,
    ) -> Result<Self, SettingError> {
        let at = |rate| RunConfig { rate, duration: step_duration, ..workload.clone() };
        let targets = rates(from, to, steps)?;
        for rate in [from, to].into_iter().chain(targets.iter().copied()) {
            at(rate).validate()?;
        }
        Ok(Self { workload: at(from), targets })
    }

    /// The workload at the first rate, one step long.
    pub fn workload(&self) -> &RunConfig {
        &self.workload
    }

    pub fn targets(&self) -> &[f64] {
        &self.targets
    }
}

/// The target rates of a ramp, both ends included.
fn rates(from: f64, to: f64, steps: Steps) -> Result<Vec<f64>, SettingError> {
    if !(from > 0.0 && to >= from && to.is_finite()) {
        let setting = if from > 0.0 { Setting::LastRate } else { Setting::FirstRate };
        return Err(refuse!(setting; Setting::FirstRate, " must be positive and not above ", Setting::LastRate));
    }
    Ok(match steps {
        Steps::Linear(n) if n >= 2 => {
            (0..n).map(|i| (from + (to - from) * f64::from(i) / f64::from(n - 1)).round()).collect()
        }
        Steps::Linear(_) => return Err(refuse!(Setting::Steps; Setting::Steps, " must be at least 2")),
        Steps::Geometric(f) if f > 1.0 => {
            let mut out = vec![];
            let mut r = from;
            while r < to * (1.0 - 1e-9) {
                out.push(r.round());
                r *= f;
            }
            out.push(to);
            out
        }
        Steps::Geometric(_) => return Err(refuse!(Setting::Factor; Setting::Factor, " must be greater than 1")),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct RampResult {
    pub steps: Vec<RunResult>,
    /// The first target rate with any drop, null if none dropped.
    pub drops_began_at: Option<f64>,
    pub interrupted: bool,
}

pub fn ramp(ramp: &Ramp, stop: &AtomicBool) -> anyhow::Result<RampResult> {
    let (workload, targets, step_duration) = (&ramp.workload, &ramp.targets, ramp.workload.duration);
    let progress = Progress::new(Some(targets.len() as u64));
    let mut steps = Vec::new();
    for &rate in targets {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        progress.running(format!("{} for {:.1} s", format_rate(rate), step_duration.as_secs_f64()));
        let result = run_fixed_rate(&RunConfig { rate, duration: step_duration, ..workload.clone() }, stop)?;
        progress.finished(format!(
            "step {}: actual {}, drops {:.4}%, p99 {} ns",
            format_rate(rate),
            format_rate(result.actual_rate),
            result.drop_rate * 100.0,
            result.latency_ns.p99
        ));
        let interrupted = result.interrupted;
        steps.push(result);
        if interrupted {
            break;
        }
    }
    let drops_began_at = steps.iter().find(|s| s.dropped > 0).map(|s| s.target_rate);
    Ok(RampResult { steps, drops_began_at, interrupted: stop.load(Ordering::Relaxed) })
}

impl Report for RampResult {
    fn human(&self) -> String {
        let mut t = Table::new(["target", "actual", "drops", "full/busy", "p50 ns", "p99 ns", "peak occupancy"]);
        for s in &self.steps {
            t.row([
                format_rate(s.target_rate),
                format_rate(s.actual_rate),
                format!("{:.4}%", s.drop_rate * 100.0),
                format!("{}/{}", s.dropped_full, s.dropped_busy),
                s.latency_ns.p50.to_string(),
                s.latency_ns.p99.to_string(),
                format_bytes(s.peak_occupancy_bytes),
            ]);
        }
        let mut out = t.render();
        if let Some(r) = self.drops_began_at {
            out.push_str(&format!("drops began at {}\n", format_rate(r)));
        }
        if self.interrupted {
            out.push_str("interrupted: partial result\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_steps_include_both_ends() {
        assert_eq!(rates(10.0, 40.0, Steps::Linear(4)).unwrap(), vec![10.0, 20.0, 30.0, 40.0]);
    }

    #[test]
    fn geometric_steps_end_at_the_top() {
        let geometric = |to| rates(1000.0, to, Steps::Geometric(2.0)).unwrap();
        assert_eq!(geometric(5000.0), vec![1000.0, 2000.0, 4000.0, 5000.0]);
        assert_eq!(geometric(4000.0), vec![1000.0, 2000.0, 4000.0]);
    }

    #[test]
    fn every_step_is_checked_before_the_first_runs() {
        let workload = RunConfig::default();
        let ramp = Ramp::new(&workload, 1000.0, 4000.0, Steps::Linear(4), Duration::from_secs(2)).unwrap();
        assert_eq!(ramp.targets(), [1000.0, 2000.0, 3000.0, 4000.0]);
        let too_fast = Ramp::new(&workload, 1000.0, 1e30, Steps::Geometric(10.0), Duration::from_secs(2));
        assert_eq!(too_fast.unwrap_err().setting, Setting::Rate);
        let bad_steps = Ramp::new(&workload, 1000.0, 4000.0, Steps::Linear(1), Duration::from_secs(2));
        assert_eq!(bad_steps.unwrap_err().setting, Setting::Steps);
    }

    #[test]
    fn nonsense_ramps_are_refused() {
        assert!(rates(10.0, 5.0, Steps::Linear(3)).is_err());
        assert!(rates(10.0, 50.0, Steps::Linear(1)).is_err());
        assert!(rates(10.0, 50.0, Steps::Geometric(1.0)).is_err());
    }
}
