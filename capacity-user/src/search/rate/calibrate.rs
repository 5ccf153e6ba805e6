//! The producers, measured before the first trial: how fast they can offer
//! events at a batch, and, when the batch is the search's to choose, the
//! one batch the whole search keeps.
//!
//! One trial is not a measurement on a shared host (the same unpaced probe
//! at batch 1 gave 2.04M/s once and 705k/s the next time), so each batch
//! is probed several times, briefly. A neighbour can only slow the
//! producers down, never speed them up, so the figure is the second
//! highest probe: three of five probes may be slowed without moving it. Batches lie
//! on a coarse ladder (×8 apart): the choice must come out the same on the
//! next search, and a ladder this coarse needs the median to move several
//! fold before the choice flips.
use std::{sync::atomic::AtomicBool, time::Duration};

use serde::Serialize;

use super::{spec::BatchSource, SearchSpec, TrialRunner};
use crate::search::offered_load;
use crate::{
    progress::Progress,
    run::{arrivals::Arrivals, RunConfig},
    units::format_rate,
};

/// The batches a calibrated search chooses from.
pub const BATCH_LADDER: [u32; 4] = [1, 8, 64, 512];
/// Unpaced probes per batch; the second highest is the figure.
pub const PROBES: usize = 5;
const PROBE_DURATION: Duration = Duration::from_millis(200);
const PROBE_WARMUP: Duration = Duration::from_millis(50);

/// The producers at one batch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rung {
    pub batch: u32,
    /// Each probe's unpaced rate, events/s.
    pub offered_per_s: Vec<f64>,
    /// The second highest of them: what the producers offer when nothing
    /// slows them down (one probe faster than the rest is not trusted).
    pub peak_per_s: f64,
}

/// What the calibration measured and chose.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Calibration {
    /// The batch every trial of the search uses.
    pub batch: u32,
    pub batch_source: BatchSource,
    /// Unpaced rate of the producers at `batch` (its rung's `peak_per_s`):
    /// no trial above about this rate can pass.
    pub offered_per_s: f64,
    /// Probe-to-probe variation of the producers at `batch`: the median
    /// absolute deviation from the median, ×1.4826 (a standard deviation
    /// for normal noise), as a fraction of the median: how much a
    /// neighbour moved them.
    pub producer_noise: f64,
    /// Every batch probed, in the order probed.
    pub rungs: Vec<Rung>,
}

impl Calibration {
    /// The probes of one batch, if it was probed.
    pub fn rung(&self, batch: u32) -> Option<&Rung> {
        self.rungs.iter().find(|r| r.batch == batch)
    }
}

/// The second highest value (the only one for a single value).
pub fn second_highest(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted.get(1).or(sorted.first()).copied().unwrap_or(f64::NAN)
}

/// The median and the relative scaled median absolute deviation.
pub fn median_and_spread(values: &[f64]) -> (f64, f64) {
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let m = median(&mut values.to_vec());
    let mad = median(&mut values.iter().map(|v| (v - m).abs()).collect());
    (m, if m > 0.0 { 1.4826 * mad / m } else { f64::NAN })
}

struct Prober<'r, 'a> {
    workload: &'r RunConfig,
    stop: &'r AtomicBool,
    run: &'r mut TrialRunner<'a>,
    progress: &'r Progress,
    rungs: Vec<Rung>,
}

impl Prober<'_, '_> {
    /// The median unpaced rate at `batch`; None when interrupted.
    fn probe(&mut self, batch: u32) -> anyhow::Result<Option<f64>> {
        if let Some(rung) = self.rungs.iter().find(|r| r.batch == batch) {
            return Ok(Some(rung.peak_per_s));
        }
        // Unpaced, so any traffic shape is moot: the producers fire as fast as they can.
        let config = RunConfig {
            rate: f64::INFINITY,
            duration: PROBE_DURATION,
            warmup: PROBE_WARMUP,
            batch,
            arrivals: Arrivals::Constant,
            ..self.workload.clone()
        };
        let mut offered = Vec::with_capacity(PROBES);
        for _ in 0..PROBES {
            self.progress.running(format!("calibrating the producers at batch {batch}"));
            let result = (self.run)(&config, self.stop)?;
            if result.interrupted {
                return Ok(None);
            }
            offered.push(result.actual_rate);
        }
        let peak = second_highest(&offered);
        self.progress.finished(format!(
            "calibrate batch {batch:>5}: producers offer {} (second highest of {})",
            format_rate(peak),
            offered.iter().map(|r| format_rate(*r)).collect::<Vec<_>>().join(", ")
        ));
        self.rungs.push(Rung { batch, offered_per_s: offered, peak_per_s: peak });
        Ok(Some(peak))
    }
}

/// Measure the producers; choose the batch when `spec.batch_source` is
/// `calibrated`. None when interrupted.
pub fn calibrate<'a>(
    spec: &SearchSpec,
    stop: &AtomicBool,
    run: &mut TrialRunner<'a>,
    progress: &Progress,
) -> anyhow::Result<Option<Calibration>> {
    let mut prober = Prober { workload: &spec.workload, stop, run, progress, rungs: Vec::new() };
    let batch = match spec.batch_source {
        BatchSource::Requested => {
            let Some(_) = prober.probe(spec.workload.batch)? else { return Ok(None) };
            spec.workload.batch
        }
        BatchSource::Calibrated => {
            let Some(chosen) = choose(spec.high, &mut prober)? else { return Ok(None) };
            chosen
        }
    };
    let rungs = prober.rungs;
    let calibration =
        Calibration { batch, batch_source: spec.batch_source, offered_per_s: 0.0, producer_noise: 0.0, rungs };
    let rung = calibration.rung(batch).expect("the chosen batch was probed");
    let (_, noise) = median_and_spread(&rung.offered_per_s);
    let offered_per_s = rung.peak_per_s;
    Ok(Some(Calibration { offered_per_s, producer_noise: noise, ..calibration }))
}

/// The smallest batch on the ladder that offers `high` with headroom, or
/// the largest when none does: then the producers are at their most
/// efficient, and the choice cannot flip with how busy the host is (under
/// load batch 64 offered as much as 512 here, idle 79% of it). None when
/// interrupted.
fn choose(high: f64, prober: &mut Prober) -> anyhow::Result<Option<u32>> {
    // A trial offered at `high` must not find the producers at their limit.
    let enough = high * offered_load::HEADROOM;
    let (&smallest, rest) = BATCH_LADDER.split_first().expect("a ladder");
    let Some(at_smallest) = prober.probe(smallest)? else { return Ok(None) };
    if at_smallest >= enough {
        return Ok(Some(smallest));
    }
    let top = *BATCH_LADDER.last().expect("a ladder");
    let Some(at_top) = prober.probe(top)? else { return Ok(None) };
    if at_top < enough {
        return Ok(Some(top));
    }
    for &batch in rest {
        let Some(offered) = prober.probe(batch)? else { return Ok(None) };
        if offered >= enough {
            return Ok(Some(batch));
        }
    }
    Ok(Some(top))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread_ignore_one_outlier() {
        let (m, s) = median_and_spread(&[2.0e6, 0.7e6, 2.1e6]);
        assert_eq!(m, 2.0e6);
        // MAD 0.1e6: 1.4826 × 0.1 / 2.0.
        assert!((s - 0.074_13).abs() < 1e-4, "{s}");
        assert_eq!(median_and_spread(&[1.0, 3.0]).0, 2.0);
        // Three of five slowed 3x: the figure stands.
        assert_eq!(second_highest(&[0.7e6, 2.0e6, 0.68e6, 2.1e6, 0.69e6]), 2.0e6);
        assert_eq!(second_highest(&[5.0]), 5.0);
    }
}
