//! Time to exhaustion: a least-squares line through a window of samples
//! (value against time) and when that line reaches a limit. Pure
//! arithmetic, no clock: callers pass the sample times.

/// A fitted line `value = intercept + slope × t` over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Units per second.
    pub slope: f64,
    pub intercept: f64,
    /// Standard error of the slope (0 with two samples or a perfect line).
    pub slope_stderr: f64,
    /// Time of the newest sample.
    pub last_t: f64,
    pub samples: usize,
}

impl Fit {
    /// Ordinary least squares through `(t, value)` points; None with fewer
    /// than two points or when every point has the same time.
    pub fn of(points: &[(f64, f64)]) -> Option<Fit> {
        let n = points.len();
        if n < 2 {
            return None;
        }
        let nf = n as f64;
        // Centred sums: stable when t is a large epoch time.
        let mean_t = points.iter().map(|p| p.0).sum::<f64>() / nf;
        let mean_v = points.iter().map(|p| p.1).sum::<f64>() / nf;
        let stt: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
        if stt == 0.0 {
            return None;
        }
        let stv: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_v)).sum();
        let slope = stv / stt;
        let intercept = mean_v - slope * mean_t;
        let slope_stderr = if n > 2 {
            let residuals: f64 = points.iter().map(|p| (p.1 - intercept - slope * p.0).powi(2)).sum();
            (residuals / (nf - 2.0) / stt).sqrt()
        } else {
            0.0
        };
        let last_t = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        Some(Fit { slope, intercept, slope_stderr, last_t, samples: n })
    }

    /// The line's value at the newest sample.
    pub fn now(&self) -> f64 {
        self.intercept + self.slope * self.last_t
    }

    /// Growing beyond the noise: the slope is positive and more than two
    /// standard errors from zero (noise around a flat line does not count).
    pub fn is_growing(&self) -> bool {
        self.slope > 0.0 && self.slope > 2.0 * self.slope_stderr
    }

    /// Seconds from the newest sample until the line reaches `limit`; None
    /// when it is not growing. 0 when the line is already there.
    pub fn seconds_until(&self, limit: f64) -> Option<f64> {
        if !self.is_growing() {
            return None;
        }
        Some(((limit - self.now()) / self.slope).max(0.0))
    }
}

/// Seconds until `points` (value against time, seconds) reach `limit`, by
/// a least-squares line; None when the series is flat, falling, too short
/// or its rise is within its noise.
pub fn seconds_to_exhaustion(points: &[(f64, f64)], limit: f64) -> Option<f64> {
    Fit::of(points)?.seconds_until(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(start: f64, step: f64, values: impl IntoIterator<Item = f64>) -> Vec<(f64, f64)> {
        values.into_iter().enumerate().map(|(i, v)| (start + step * i as f64, v)).collect()
    }

    #[test]
    fn a_linear_series_reaches_its_limit_by_arithmetic() {
        // 100 entries every 10 s from 200: 10 entries/s, at 1100 when the
        // last sample is taken (t = 90 s), so 5000 is (5000 − 1100) / 10 s away.
        let points = series(0.0, 10.0, (0..10).map(|i| 200.0 + 100.0 * i as f64));
        let fit = Fit::of(&points).unwrap();
        assert!((fit.slope - 10.0).abs() < 1e-12);
        assert!((fit.now() - 1100.0).abs() < 1e-9);
        let eta = seconds_to_exhaustion(&points, 5000.0).unwrap();
        assert!((eta - 390.0).abs() < 1e-9, "{eta}");
    }

    #[test]
    fn epoch_times_do_not_lose_precision() {
        let points = series(1.7e9, 5.0, (0..20).map(|i| 3.0 * 5.0 * i as f64));
        let eta = seconds_to_exhaustion(&points, 1000.0).unwrap();
        // 3 entries/s, at 285 after 95 s: (1000 − 285) / 3.
        assert!((eta - 715.0 / 3.0).abs() < 1e-6, "{eta}");
    }

    #[test]
    fn a_flat_series_never_runs_out() {
        let points = series(0.0, 1.0, std::iter::repeat_n(512.0, 30));
        assert_eq!(Fit::of(&points).unwrap().slope, 0.0);
        assert_eq!(seconds_to_exhaustion(&points, 1024.0), None);
    }

    #[test]
    fn a_falling_series_never_runs_out() {
        let points = series(0.0, 1.0, (0..30).map(|i| 900.0 - 7.0 * i as f64));
        assert!(Fit::of(&points).unwrap().slope < 0.0);
        assert_eq!(seconds_to_exhaustion(&points, 1024.0), None);
    }

    #[test]
    fn a_noisy_rise_is_forecast_within_its_noise() {
        // 4 entries/s with a deterministic ±20 zig-zag.
        let points = series(0.0, 1.0, (0..60).map(|i| 100.0 + 4.0 * i as f64 + if i % 2 == 0 { 20.0 } else { -20.0 }));
        let fit = Fit::of(&points).unwrap();
        assert!((fit.slope - 4.0).abs() < 0.1, "{}", fit.slope);
        let eta = fit.seconds_until(10_000.0).unwrap();
        let exact = (10_000.0 - (100.0 + 4.0 * 59.0)) / 4.0;
        assert!((eta - exact).abs() / exact < 0.03, "{eta} vs {exact}");
    }

    #[test]
    fn noise_around_a_flat_line_is_not_growth() {
        // No trend, ±30 of scrambled noise whose least-squares slope comes
        // out slightly positive (0.36/s): within two standard errors, so no
        // forecast.
        let points = series(0.0, 1.0, (0..31).map(|i| 500.0 + f64::from((i * 7) % 61) - 30.0));
        let fit = Fit::of(&points).unwrap();
        assert!(fit.slope > 0.3 && fit.slope < 2.0 * fit.slope_stderr, "{fit:?}");
        assert_eq!(fit.seconds_until(1024.0), None, "{fit:?}");
    }

    #[test]
    fn too_few_points_or_one_instant_give_no_fit() {
        assert_eq!(Fit::of(&[]), None);
        assert_eq!(Fit::of(&[(1.0, 5.0)]), None);
        assert_eq!(Fit::of(&[(1.0, 5.0), (1.0, 9.0)]), None);
        // Two points: a line through both.
        assert_eq!(seconds_to_exhaustion(&[(0.0, 0.0), (2.0, 10.0)], 20.0), Some(2.0));
    }

    #[test]
    fn a_limit_already_reached_is_zero_seconds_away() {
        assert_eq!(seconds_to_exhaustion(&[(0.0, 50.0), (1.0, 60.0), (2.0, 70.0)], 65.0), Some(0.0));
    }
}
