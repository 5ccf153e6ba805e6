//! A ramp: one fixed-rate run per step, from a low rate to a high one.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use serde::Serialize;

use crate::{
    output::{Report, Table},
    progress::Progress,
    run::{run_fixed_rate, RunConfig, RunResult},
    settings::{Names, Setting},
    units::{format_bytes, format_rate},
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Steps {
    /// This many rates, evenly spaced, both ends included.
    Linear(u32),
    /// Multiply by this factor from the start until past the end.
    Geometric(f64),
}

/// The target rates of a ramp, both ends included; `name` names the
/// settings in an error.
pub fn rates(from: f64, to: f64, steps: Steps, name: Names) -> anyhow::Result<Vec<f64>> {
    if !(from > 0.0 && to >= from && to.is_finite()) {
        anyhow::bail!("{} must be positive and not above {}", name(Setting::FirstRate), name(Setting::LastRate));
    }
    Ok(match steps {
        Steps::Linear(n) if n >= 2 => {
            (0..n).map(|i| (from + (to - from) * f64::from(i) / f64::from(n - 1)).round()).collect()
        }
        Steps::Linear(_) => anyhow::bail!("{} must be at least 2", name(Setting::Steps)),
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
        Steps::Geometric(_) => anyhow::bail!("{} must be greater than 1", name(Setting::Factor)),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct RampResult {
    pub steps: Vec<RunResult>,
    /// The first target rate with any drop, null if none dropped.
    pub drops_began_at: Option<f64>,
    pub interrupted: bool,
}

pub fn ramp(workload: &RunConfig, targets: &[f64], step_duration: Duration, stop: &AtomicBool) -> anyhow::Result<RampResult> {
    for &rate in targets {
        RunConfig { rate, duration: step_duration, ..workload.clone() }.validate()?;
    }
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
        assert_eq!(rates(10.0, 40.0, Steps::Linear(4), Setting::plain).unwrap(), vec![10.0, 20.0, 30.0, 40.0]);
    }

    #[test]
    fn geometric_steps_end_at_the_top() {
        let geometric = |to| rates(1000.0, to, Steps::Geometric(2.0), Setting::plain).unwrap();
        assert_eq!(geometric(5000.0), vec![1000.0, 2000.0, 4000.0, 5000.0]);
        assert_eq!(geometric(4000.0), vec![1000.0, 2000.0, 4000.0]);
    }

    #[test]
    fn nonsense_ramps_are_refused() {
        assert!(rates(10.0, 5.0, Steps::Linear(3), Setting::plain).is_err());
        assert!(rates(10.0, 50.0, Steps::Linear(1), Setting::plain).is_err());
        assert!(rates(10.0, 50.0, Steps::Geometric(1.0), Setting::plain).is_err());
    }
}
