//! How likely a trial is to pass at a given rate, learned from every trial
//! of a search. The model is a logistic curve in log-rate with a lapse,
//!
//! ```text
//! P(pass | r) = (1 − λ) / (1 + exp((ln r − m) / w))
//! ```
//!
//! with midpoint `m` (where the curve is at half its height), width `w`
//! (how gradual the fall from passing to failing is; 0.01 is a fall from
//! 90% to 10% across 4.5% of rate) and lapse `λ` (failures that happen at
//! any rate: the consumer descheduled by a neighbour for longer than the
//! ring lasts). Without the lapse, one such failure at half the threshold
//! drags the fitted curve, and the answer, down by about 10%; with it, by
//! under 1%. The posterior over all three is kept on a grid: flat in `m`
//! over the searched range (with a margin), flat in `ln w` over
//! [`WIDTH_MIN`, `WIDTH_MAX`], flat over [`LAPSES`]. A grid needs no
//! optimiser, stays well-defined when the trials separate perfectly (all
//! passes below, all failures above, where a maximum-likelihood fit runs off
//! to a step), and answers quantile questions directly. See ARCHITECTURE.md.

/// The sharpest fall considered: run-to-run noise of about 0.3% of rate.
pub const WIDTH_MIN: f64 = 0.002;
/// The most gradual fall considered: 90% to 10% across 25% of rate
/// (run-to-run noise of about 8%). A host noisier than this is reported as
/// such (see [`PassCurve::noisy_share`]) rather than modelled.
pub const WIDTH_MAX: f64 = 0.05;
const WIDTHS: usize = 12;
/// Shares of trials failing whatever the rate (psychometric fits use up to
/// about 6%, Wichmann and Hill 2001). A curve only uses those well below
/// 1 − the stated pass probability, so that every curve reaches it: all of
/// them for 0.9, none but 0 for 0.99.
pub const LAPSES: [f64; 5] = [0.0, 0.01, 0.02, 0.04, 0.06];
/// Grid step of the midpoint, in ln(rate): 0.25% of rate.
const MIDPOINT_STEP: f64 = 0.0025;
/// The midpoint may lie a factor 2 outside the searched range, so that
/// "passes at the top" and "fails at the bottom" can be stated after a few
/// trials there (the claim's region must outweigh the widest curves).
const MARGIN: f64 = std::f64::consts::LN_2;

/// One curve of the grid.
#[derive(Debug, Clone, Copy)]
struct Curve {
    midpoint: f64,
    width: f64,
    lapse: f64,
}

impl Curve {
    fn log_likelihood(&self, x: f64, passed: bool) -> f64 {
        let z = (x - self.midpoint) / self.width;
        if passed {
            // ln((1 − λ) σ(−z))
            (-self.lapse).ln_1p() - softplus(z)
        } else {
            // ln(1 − (1 − λ) σ(−z)) = ln(e^z + λ) − ln(1 + e^z)
            let lapse_term = if self.lapse > 0.0 { log_add_exp(z, self.lapse.ln()) } else { z };
            lapse_term - softplus(z)
        }
    }

    /// A failure that measured the rate the trial could have passed at
    /// (`x`, in ln): the density of the curve's capacity there, or a lapse
    /// whose reading says nothing (spread over a factor e of rate).
    fn log_density(&self, x: f64) -> f64 {
        let z = (x - self.midpoint) / self.width;
        let of_curve = -self.width.ln() - softplus(z) - softplus(-z);
        if self.lapse > 0.0 {
            log_add_exp((-self.lapse).ln_1p() + of_curve, self.lapse.ln())
        } else {
            of_curve
        }
    }

    /// ln(rate) at which a trial passes with probability `q` (below 1 − λ).
    fn threshold(&self, q: f64) -> f64 {
        let of_curve = q / (1.0 - self.lapse);
        self.midpoint + self.width * ((1.0 - of_curve) / of_curve).ln()
    }

    fn pass_probability(&self, x: f64) -> f64 {
        (1.0 - self.lapse) / (1.0 + ((x - self.midpoint) / self.width).exp())
    }
}

#[derive(Debug, Clone)]
pub struct PassCurve {
    curves: Vec<Curve>,
    lapses: Vec<f64>,
    log_likelihood: Vec<f64>,
    trials: usize,
}

impl PassCurve {
    /// A flat prior over curves whose midpoint lies in [low, high] (plus
    /// margin), for statements about `pass_probability`.
    pub fn new(low: f64, high: f64, pass_probability: f64) -> Self {
        let (from, to) = (low.ln() - MARGIN, high.ln() + MARGIN);
        let steps = ((to - from) / MIDPOINT_STEP).ceil() as usize;
        let ratio = WIDTH_MAX / WIDTH_MIN;
        let lapses: Vec<f64> = LAPSES.into_iter().filter(|&l| l < 0.7 * (1.0 - pass_probability)).collect();
        let mut curves = Vec::with_capacity((steps + 1) * WIDTHS * lapses.len());
        for &lapse in &lapses {
            for wi in 0..WIDTHS {
                let width = WIDTH_MIN * ratio.powf(wi as f64 / (WIDTHS - 1) as f64);
                for i in 0..=steps {
                    curves.push(Curve { midpoint: from + i as f64 * MIDPOINT_STEP, width, lapse });
                }
            }
        }
        let log_likelihood = vec![0.0; curves.len()];
        Self { curves, lapses, log_likelihood, trials: 0 }
    }

    /// Learn from one trial.
    pub fn observe(&mut self, rate: f64, passed: bool) {
        let x = rate.ln();
        for (ll, curve) in self.log_likelihood.iter_mut().zip(&self.curves) {
            *ll += curve.log_likelihood(x, passed);
        }
        self.trials += 1;
    }

    /// Learn from a failed trial that also measured the highest rate it
    /// could have passed at: the consumer's rate while it ran flat out.
    /// P(pass | r) is the share of trials whose capacity is at least r, so
    /// the same curve is the distribution of that capacity, and a measured
    /// capacity tells it far more than "failed at r" does.
    pub fn observe_capacity(&mut self, capacity: f64) {
        let x = capacity.ln();
        for (ll, curve) in self.log_likelihood.iter_mut().zip(&self.curves) {
            *ll += curve.log_density(x);
        }
        self.trials += 1;
    }

    pub fn trials(&self) -> usize {
        self.trials
    }

    /// Normalised posterior weight of every curve.
    fn weights(&self) -> Vec<f64> {
        let top = self.log_likelihood.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut w: Vec<f64> = self.log_likelihood.iter().map(|ll| (ll - top).exp()).collect();
        let total: f64 = w.iter().sum();
        w.iter_mut().for_each(|x| *x /= total);
        w
    }

    /// Posterior quantiles (each in 0..1) of the rate at which a trial
    /// passes with probability `pass_probability` (at most the one the
    /// curve was made for).
    pub fn threshold_quantiles(&self, pass_probability: f64, quantiles: &[f64]) -> Vec<f64> {
        let mut cells: Vec<(f64, f64)> = self
            .weights()
            .into_iter()
            .zip(&self.curves)
            .filter(|(weight, _)| *weight > 1e-12)
            .map(|(weight, curve)| (curve.threshold(pass_probability), weight))
            .collect();
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
        self.weights().iter().zip(&self.curves).map(|(w, c)| w * c.pass_probability(x)).sum()
    }

    /// The host's trial-to-trial noise as the curve has learned it: the
    /// posterior median width, as the standard deviation of ln(capacity)
    /// (a logistic of width w has sd w·π/√3), i.e. a fraction of rate.
    pub fn noise(&self) -> f64 {
        let mut cells: Vec<(f64, f64)> =
            self.weights().into_iter().zip(&self.curves).map(|(weight, curve)| (curve.width, weight)).collect();
        cells.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut seen = 0.0;
        let width = cells.iter().find(|c| {
            seen += c.1;
            seen >= 0.5
        });
        width.map_or(f64::NAN, |c| c.0 * std::f64::consts::PI / 3f64.sqrt())
    }

    /// Posterior share of the curves at the model's edge: the widest fall
    /// or the largest lapse. High when the host is noisier than the model,
    /// so the stated confidence is optimistic.
    pub fn noisy_share(&self) -> f64 {
        let widest = WIDTH_MAX * (1.0 - 1e-9);
        let largest_lapse = match self.lapses.as_slice() {
            [_, .., last] => *last,
            _ => f64::INFINITY, // no lapse but 0: none is at an edge
        };
        self.weights()
            .iter()
            .zip(&self.curves)
            .filter(|(_, c)| c.width >= widest || c.lapse >= largest_lapse)
            .map(|(w, _)| w)
            .sum()
    }
}

fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn log_add_exp(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
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
        let curve = PassCurve::new(1000.0, 10e6, 0.9);
        let q = curve.threshold_quantiles(0.9, &[0.05, 0.5, 0.95]);
        assert!(q[0] < 2000.0 && q[2] > 5e6, "{q:?}");
        assert!(curve.pass_probability(1000.0) > 0.85 && curve.pass_probability(10e6) < 0.15);
    }

    #[test]
    fn stricter_statements_allow_fewer_lapses() {
        assert_eq!(PassCurve::new(1000.0, 10e6, 0.9).lapses, LAPSES);
        assert_eq!(PassCurve::new(1000.0, 10e6, 0.95).lapses, [0.0, 0.01, 0.02]);
        assert_eq!(PassCurve::new(1000.0, 10e6, 0.99).lapses, [0.0]);
        assert!(PassCurve::new(1000.0, 10e6, 0.99).noisy_share() < 0.5, "no lapse is no edge");
    }

    #[test]
    fn perfectly_separated_trials_put_the_threshold_between_them() {
        let mut curve = PassCurve::new(1000.0, 10e6, 0.9);
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
            let mut curve = PassCurve::new(1000.0, 10e6, 0.9);
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

    /// A failure far below the threshold (the consumer descheduled once)
    /// is a lapse: it moves the answer by a few percent, not ten.
    #[test]
    fn one_stray_failure_far_below_moves_the_answer_little() {
        let mut curve = PassCurve::new(1000.0, 10e6, 0.9);
        for (rate, passed, times) in [
            (800e3, true, 4),
            (820e3, true, 4),
            (840e3, true, 1),
            (840e3, false, 1),
            (860e3, false, 3),
            (900e3, false, 2),
        ] {
            for _ in 0..times {
                curve.observe(rate, passed);
            }
        }
        let before = curve.threshold_quantiles(0.9, &[0.05])[0];
        curve.observe(400e3, false);
        let after = curve.threshold_quantiles(0.9, &[0.05])[0];
        assert!(after < before && after > before * 0.98, "{before} -> {after}");
    }

    #[test]
    fn a_noisier_host_than_the_model_shows_at_the_edge() {
        let mut quiet = PassCurve::new(1000.0, 10e6, 0.9);
        let mut noisy = PassCurve::new(1000.0, 10e6, 0.9);
        let (mut q, mut n) = (Host::new(500_000.0, 0.005, 7), Host::new(500_000.0, 0.2, 7));
        for i in 0..40 {
            let rate = 300_000.0 + 20_000.0 * (i % 20) as f64;
            quiet.observe(rate, q.trial(rate));
            noisy.observe(rate, n.trial(rate));
        }
        assert!(quiet.noisy_share() < 0.3, "{}", quiet.noisy_share());
        assert!(noisy.noisy_share() > 0.5, "{}", noisy.noisy_share());
    }
}
