//! What the trials say: the answer as a statistical statement, its spread
//! and the host's noise.
use serde::Serialize;

use super::spec::SearchSpec;
use crate::search::pass_curve::PassCurve;

/// The spread holds at least this many trial-to-trial standard deviations
/// of the host either side of the median: two searches whose hosts moved
/// by one standard deviation between them, each off by half of one in its
/// own sampling, then overlap 19 times in 20 (1.96 × √1.5 ≈ 2.4 for both
/// sides together).
const NOISE_SIDES: f64 = 1.2;

/// Posterior share at the model's widest curve or largest lapse above which
/// the host is reported as noisier than the model (the confidence is then
/// optimistic).
const NOISY_HOST: f64 = 0.5;

/// Where the rate passing with `pass_probability` lies, from what the
/// search saw: the central `confidence` interval of its estimate.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// Its width as a share of its low end (infinite when that is 0).
    pub fn relative_width(&self) -> f64 {
        if self.min > 0.0 {
            self.max / self.min - 1.0
        } else {
            f64::INFINITY
        }
    }

    pub fn overlaps(&self, other: &Spread) -> bool {
        self.min <= other.max && other.min <= self.max
    }
}

/// The answer, its spread and what the curve learned of the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub answer: f64,
    pub spread: Spread,
    pub median: f64,
    pub noisy_host: bool,
    /// Trial-to-trial variation of the rate a trial can pass at, a fraction.
    pub noise: f64,
}

impl Estimate {
    /// The spread made to hold at least [`NOISE_SIDES`] trial-to-trial
    /// standard deviations of the host (`noise`) either side of the median. The
    /// posterior is the uncertainty of a search on one host, and narrows
    /// with every trial; a search a minute later meets a host that has
    /// moved at least as much as the trials seconds apart did, so where
    /// its answer may land is never narrower than the noise.
    pub fn at_least_noise_wide(self, spec: &SearchSpec) -> Self {
        if self.noise.is_nan() || self.noise <= 0.0 || self.median <= 0.0 {
            return self;
        }
        let side = self.noise * NOISE_SIDES;
        let below = (self.median * (-side).exp() / spec.precision).floor() * spec.precision;
        let above = ((self.median * side.exp() / spec.precision).ceil() * spec.precision).min(spec.high);
        let spread = Spread { min: self.spread.min.min(below), max: self.spread.max.max(above) };
        Self { spread, ..self }
    }

    /// The spread no higher than `top` (nor below the answer): where a
    /// rerun's answer cannot go.
    pub fn capped_at(self, top: f64) -> Self {
        let max = self.spread.max.min(top).max(self.answer);
        Self { spread: Spread { max, ..self.spread }, ..self }
    }
}

/// The answer from a curve fitted to a search's trials: the lower
/// `confidence` bound of the rate passing with `pass_probability`, rounded
/// down to the precision, `high` when that bound reaches it, 0 below `low`.
pub fn estimate(curve: &PassCurve, spec: &SearchSpec) -> Estimate {
    if curve.trials() == 0 {
        // Interrupted before any trial: nothing is claimed.
        return Estimate {
            answer: 0.0,
            spread: Spread { min: 0.0, max: spec.high },
            median: 0.0,
            noisy_host: false,
            noise: f64::NAN,
        };
    }
    let tail = (1.0 - spec.confidence) / 2.0;
    let q = curve.threshold_quantiles(spec.pass_probability, &[tail, 1.0 - spec.confidence, 0.5, 1.0 - tail]);
    let floor = |r: f64| (r / spec.precision).floor() * spec.precision;
    let answer = if q[1] >= spec.high {
        spec.high
    } else if q[1] < spec.low {
        0.0
    } else {
        floor(q[1]).max(spec.low)
    };
    let max = ((q[3] / spec.precision).ceil() * spec.precision).min(spec.high).max(answer);
    Estimate {
        answer,
        spread: Spread { min: floor(q[0]).min(answer), max },
        median: q[2].min(spec.high),
        noisy_host: curve.noisy_share() > NOISY_HOST,
        noise: curve.noise(),
    }
}

/// The claim in words; percentages rounded so that 0.9 reads as 90.
pub fn statement(pass_probability: f64, confidence: f64) -> String {
    let percent = (confidence * 1e6).round() / 1e4;
    format!("passes with probability >= {pass_probability} at {percent}% confidence")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_holds_the_noise_either_side_of_the_median_and_no_more() {
        let spec = SearchSpec { precision: 1.0, high: 200.0, ..crate::search::rate::tests::spec() };
        let e = Estimate {
            answer: 97.0,
            spread: Spread { min: 96.0, max: 103.0 },
            median: 100.0,
            noisy_host: false,
            noise: 0.01,
        };
        assert_eq!(e.at_least_noise_wide(&spec).spread, e.spread, "a noise inside the spread changes nothing");
        let wide = Estimate { noise: 0.1, ..e }.at_least_noise_wide(&spec);
        let side = 0.1 * NOISE_SIDES;
        let expected = Spread { min: (100.0 * (-side).exp()).floor(), max: (100.0 * side.exp()).ceil() };
        assert_eq!(wide.spread, expected);
        assert_eq!((wide.answer, wide.median), (97.0, 100.0));
        let unknown = Estimate { noise: f64::NAN, ..e }.at_least_noise_wide(&spec);
        assert_eq!(unknown.spread, e.spread);
        // Never above `high`: at the top of the range the answer is `high` itself.
        let capped = SearchSpec { high: 105.0, ..spec };
        assert_eq!(Estimate { noise: 0.1, ..e }.at_least_noise_wide(&capped).spread.max, 105.0);
    }
}
