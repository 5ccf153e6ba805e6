//! How likely a trial is to pass at a given rate, learned from every trial
//! of a search. The model is a logistic curve in log-rate,
//!
//! ```text
//! P(pass | r) = 1 / (1 + exp((ln r − m) / w))
//! ```
//!
//! with midpoint `m` (the rate that passes half the time) and width `w`
//! (how gradual the fall from passing to failing is; 0.01 is a fall from
//! 90% to 10% across 4.5% of rate). The posterior over both is kept on a
//! grid: flat in `m` over the searched range (with a margin), flat in
//! `ln w` over [`WIDTH_MIN`, `WIDTH_MAX`]. A grid needs no optimiser, stays
//! well-defined when the trials separate perfectly (all passes below, all
//! failures above, where a maximum-likelihood fit runs off to a step), and
//! answers quantile questions directly. See ARCHITECTURE.md for the choice.

/// The sharpest fall considered: run-to-run noise of about 0.3% of rate.
pub const WIDTH_MIN: f64 = 0.002;
/// The most gradual fall considered: 90% to 10% across 25% of rate
/// (run-to-run noise of about 8%). A host noisier than this is reported as
/// such (see [`PassCurve::width_at_edge`]) rather than modelled.
pub const WIDTH_MAX: f64 = 0.05;
const WIDTHS: usize = 12;
/// Grid step of the midpoint, in ln(rate): 0.2% of rate.
const MIDPOINT_STEP: f64 = 0.002;
/// The midpoint may lie a factor 2 outside the searched range, so that
/// "passes at the top" and "fails at the bottom" can be stated after a few
/// trials there (the claim's region must outweigh the widest curves).
const MARGIN: f64 = std::f64::consts::LN_2;

#[derive(Debug, Clone)]
pub struct PassCurve {
    midpoints: Vec<f64>,
    widths: Vec<f64>,
    /// One per (width, midpoint), width-major.
    log_likelihood: Vec<f64>,
    trials: usize,
}

impl PassCurve {
    /// A flat prior over curves whose midpoint lies in [low, high] (plus margin).
    pub fn new(low: f64, high: f64) -> Self {
        let (from, to) = (low.ln() - MARGIN, high.ln() + MARGIN);
        let steps = ((to - from) / MIDPOINT_STEP).ceil() as usize;
        let midpoints: Vec<f64> = (0..=steps).map(|i| from + i as f64 * MIDPOINT_STEP).collect();
        let ratio = WIDTH_MAX / WIDTH_MIN;
        let widths: Vec<f64> =
            (0..WIDTHS).map(|i| WIDTH_MIN * ratio.powf(i as f64 / (WIDTHS - 1) as f64)).collect();
        let log_likelihood = vec![0.0; midpoints.len() * widths.len()];
        Self { midpoints, widths, log_likelihood, trials: 0 }
    }

    /// Learn from one trial.
    pub fn observe(&mut self, rate: f64, passed: bool) {
        let x = rate.ln();
        for (wi, &w) in self.widths.iter().enumerate() {
            let row = &mut self.log_likelihood[wi * self.midpoints.len()..][..self.midpoints.len()];
            for (ll, &m) in row.iter_mut().zip(&self.midpoints) {
                let z = (x - m) / w;
                // ln P(pass) = −softplus(z), ln P(fail) = −softplus(−z)
                *ll -= softplus(if passed { z } else { -z });
            }
        }
        self.trials += 1;
    }

    pub fn trials(&self) -> usize {
        self.trials
    }

    /// Normalised posterior weight of every grid cell.
    fn weights(&self) -> Vec<f64> {
        let top = self.log_likelihood.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut w: Vec<f64> = self.log_likelihood.iter().map(|ll| (ll - top).exp()).collect();
        let total: f64 = w.iter().sum();
        w.iter_mut().for_each(|x| *x /= total);
        w
    }

    /// Posterior quantiles (each in 0..1) of the rate at which a trial
    /// passes with probability `pass_probability`.
    pub fn threshold_quantiles(&self, pass_probability: f64, quantiles: &[f64]) -> Vec<f64> {
        let offset = ((1.0 - pass_probability) / pass_probability).ln();
        let weights = self.weights();
        let mut cells: Vec<(f64, f64)> = Vec::with_capacity(weights.len());
        for (wi, &w) in self.widths.iter().enumerate() {
            for (mi, &m) in self.midpoints.iter().enumerate() {
                let weight = weights[wi * self.midpoints.len() + mi];
                if weight > 1e-12 {
                    cells.push((m + w * offset, weight));
                }
            }
        }
        cells.sort_by(|a, b| a.0.total_cmp(&b.0));
        quantiles
            .iter()
            .map(|&q| {
                let mut seen = 0.0;
                let x = cells.iter().find(|c| {
                    seen += c.1;
                    seen >= q
                });
                x.or(cells.last()).map_or(f64::NAN, |c| c.0.exp())
            })
            .collect()
    }

    /// Posterior mean probability that a trial at `rate` passes.
    pub fn pass_probability(&self, rate: f64) -> f64 {
        let x = rate.ln();
        let weights = self.weights();
        let mut p = 0.0;
        for (wi, &w) in self.widths.iter().enumerate() {
            for (mi, &m) in self.midpoints.iter().enumerate() {
                p += weights[wi * self.midpoints.len() + mi] / (1.0 + ((x - m) / w).exp());
            }
        }
        p
    }

    /// Posterior probability that the fall is as gradual as the model
    /// allows: high when the host's noise is wider than the model's, so the
    /// stated confidence is optimistic.
    pub fn width_at_edge(&self) -> f64 {
        let weights = self.weights();
        weights[(WIDTHS - 1) * self.midpoints.len()..].iter().sum()
    }
}

fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// A host whose trials at rate r pass when r stays under a capacity
    /// drawn afresh for each trial: logistic in log-rate around `median`
    /// with width `width`, so the rate passing with probability q is known.
    struct Host {
        median: f64,
        width: f64,
        rng: StdRng,
    }

    impl Host {
        fn new(median: f64, width: f64, seed: u64) -> Self {
            Self { median, width, rng: StdRng::seed_from_u64(seed) }
        }
        fn trial(&mut self, rate: f64) -> bool {
            let u: f64 = self.rng.random_range(1e-9..1.0 - 1e-9);
            rate <= self.median * (self.width * (u / (1.0 - u)).ln()).exp()
        }
        fn passing_with(&self, q: f64) -> f64 {
            self.median * (self.width * ((1.0 - q) / q).ln()).exp()
        }
    }

    #[test]
    fn no_trials_leave_the_threshold_anywhere_in_the_range() {
        let curve = PassCurve::new(1000.0, 10e6);
        let q = curve.threshold_quantiles(0.9, &[0.05, 0.5, 0.95]);
        assert!(q[0] < 2000.0 && q[2] > 5e6, "{q:?}");
        assert!(curve.pass_probability(1000.0) > 0.85 && curve.pass_probability(10e6) < 0.15);
    }

    #[test]
    fn perfectly_separated_trials_put_the_threshold_between_them() {
        let mut curve = PassCurve::new(1000.0, 10e6);
        for _ in 0..4 {
            curve.observe(100_000.0, true);
            curve.observe(110_000.0, false);
        }
        let q = curve.threshold_quantiles(0.9, &[0.05, 0.5, 0.95]);
        assert!(q[0] > 90_000.0 && q[2] < 112_000.0, "{q:?}");
        assert!(q[0] < q[1] && q[1] < q[2]);
        assert!(curve.pass_probability(90_000.0) > 0.95);
        assert!(curve.pass_probability(120_000.0) < 0.05);
        assert_eq!(curve.trials(), 8);
    }

    /// Trials placed at a ladder around a known threshold: the stated lower
    /// bound holds, and the interval narrows as trials accumulate.
    #[test]
    fn the_lower_bound_holds_on_synthetic_hosts_with_a_known_threshold() {
        let mut covered = 0;
        let runs = 20;
        for seed in 0..runs {
            let mut host = Host::new(800_000.0, 0.02, seed);
            let truth = host.passing_with(0.9);
            let mut curve = PassCurve::new(1000.0, 10e6);
            for i in 0..30 {
                let rate = 700_000.0 + 10_000.0 * (i % 15) as f64;
                curve.observe(rate, host.trial(rate));
            }
            let q = curve.threshold_quantiles(0.9, &[0.05, 0.5]);
            if q[0] <= truth {
                covered += 1;
            }
            // The estimate is close whatever the draw.
            assert!((q[1] / truth - 1.0).abs() < 0.06, "seed {seed}: {q:?} vs {truth}");
        }
        // 95% bound: expect about 19 of 20; allow one more miss.
        assert!(covered >= runs - 2, "lower bound held in {covered} of {runs}");
    }

    #[test]
    fn a_noisier_host_than_the_model_shows_at_the_edge() {
        let mut quiet = PassCurve::new(1000.0, 10e6);
        let mut noisy = PassCurve::new(1000.0, 10e6);
        let (mut q, mut n) = (Host::new(500_000.0, 0.005, 7), Host::new(500_000.0, 0.2, 7));
        for i in 0..40 {
            let rate = 300_000.0 + 20_000.0 * (i % 20) as f64;
            quiet.observe(rate, q.trial(rate));
            noisy.observe(rate, n.trial(rate));
        }
        assert!(quiet.width_at_edge() < 0.1, "{}", quiet.width_at_edge());
        assert!(noisy.width_at_edge() > 0.5, "{}", noisy.width_at_edge());
    }
}
