//! How a run's triggers arrive around their mean rate: evenly (constant),
//! at random (Poisson), in periodic bursts, or following a recorded rate
//! series (a profile). `--rate` stays the mean in every case.
//!
//! Every shape but Poisson is a piecewise-constant multiplier of the mean
//! rate over a period; its cumulative count has a closed form, so each
//! trigger keeps an absolute deadline (no drift, as with constant pacing).
//! Poisson draws exponential gaps from a seeded generator: the same seed
//! gives the same arrivals.
use std::{path::Path, time::Duration};

use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

use crate::units::parse_duration;

/// The seed of `poisson` without one.
pub const DEFAULT_SEED: u64 = 1;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Arrivals {
    #[default]
    Constant,
    /// Exponential gaps; producer `i` uses `seed + i`.
    Poisson { seed: u64 },
    /// `peak` × the mean for `on` at the start of each `period`, and the
    /// rest of the period at the level that keeps the mean.
    Burst { peak: f64, on: Duration, period: Duration },
    /// A recorded rate series, replayed in a loop and scaled to the mean.
    Profile(Profile),
}

impl std::str::FromStr for Arrivals {
    type Err = String;

    /// `constant`, `poisson`, `poisson:SEED`, `burst:PEAKxON/PERIOD`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{text}` is not an arrival process: use constant, poisson[:SEED] or burst:PEAKxON/PERIOD, e.g. burst:4x50ms/1s")
        };
        match text.split_once(':') {
            None if text == "constant" => Ok(Arrivals::Constant),
            None if text == "poisson" => Ok(Arrivals::Poisson { seed: DEFAULT_SEED }),
            Some(("poisson", seed)) => seed
                .parse()
                .map(|seed| Arrivals::Poisson { seed })
                .map_err(|_| format!("`{text}`: the seed must be a whole number")),
            Some(("burst", shape)) => {
                let (peak, window) = shape.split_once('x').ok_or_else(bad)?;
                let (on, period) = window.split_once('/').ok_or_else(bad)?;
                let peak: f64 = peak.parse().map_err(|_| bad())?;
                let on = parse_duration(on).map_err(|e| format!("`{text}`: {e}"))?;
                let period = parse_duration(period).map_err(|e| format!("`{text}`: {e}"))?;
                let burst = Arrivals::Burst { peak, on, period };
                burst.check().map(|()| burst)
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Arrivals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arrivals::Constant => f.write_str("constant"),
            Arrivals::Poisson { seed } => write!(f, "poisson:{seed}"),
            Arrivals::Burst { peak, on, period } => {
                write!(f, "burst:{peak}x{}/{}", short_duration(*on), short_duration(*period))
            }
            Arrivals::Profile(p) => write!(f, "profile:{} (x{} speed)", p.name, p.speedup),
        }
    }
}

fn short_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}us", d.as_micros())
    }
}

/// One piece of a shape: `seconds` long at `multiplier` × the mean rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub name: String,
    pub seconds: f64,
    pub multiplier: f64,
}

impl Arrivals {
    /// The shape's own consistency (the command line checks it when parsing).
    pub fn check(&self) -> Result<(), String> {
        if let Arrivals::Burst { peak, on, period } = self {
            if !(peak.is_finite() && *peak >= 1.0) {
                return Err(format!("{self}: the peak is a multiple of the mean rate, at least 1"));
            }
            if on >= period {
                return Err(format!("{self}: the burst must be shorter than its period"));
            }
            if peak * on.as_secs_f64() > period.as_secs_f64() * (1.0 + 1e-9) {
                return Err(format!(
                    "{self}: {peak} × the mean for {} is more than a whole period's events: lower the peak or shorten the burst",
                    short_duration(*on)
                ));
            }
        }
        Ok(())
    }

    /// The shape over one period (None: one endless segment at the mean).
    pub fn segments(&self) -> Option<Vec<Segment>> {
        match self {
            Arrivals::Constant | Arrivals::Poisson { .. } => None,
            Arrivals::Burst { peak, on, period } => {
                let (on, period) = (on.as_secs_f64(), period.as_secs_f64());
                let off = ((period - peak * on) / (period - on)).max(0.0);
                Some(vec![
                    Segment { name: "burst".into(), seconds: on, multiplier: *peak },
                    Segment { name: "between".into(), seconds: period - on, multiplier: off },
                ])
            }
            Arrivals::Profile(p) => Some(p.segments()),
        }
    }

    /// The names of the phases pacing is reported for.
    pub fn phase_names(&self) -> Vec<String> {
        match self.segments() {
            None => vec!["all".into()],
            Some(segments) => segments.into_iter().map(|s| s.name).collect(),
        }
    }

    /// The longest stretch over which the rate changes: a run should last
    /// at least this long to see the whole shape.
    pub fn period(&self) -> Option<Duration> {
        self.segments().map(|s| Duration::from_secs_f64(s.iter().map(|s| s.seconds).sum()))
    }
}

/// A recorded rate series: rows of `seconds,events_per_second`.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub speedup: f64,
    /// Each row's rate holds until the next row; the last one for as long
    /// as the row before it (1 s when there is only one). Seconds are after
    /// the speed-up.
    pub rows: Vec<(f64, f64)>,
}

impl Profile {
    /// Read and check a profile file.
    pub fn read(path: &Path, speedup: f64) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the profile {}: {e}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Self::parse(&text, &name, speedup).map_err(|e| format!("profile {}: {e}", path.display()))
    }

    /// Parse `seconds,events_per_second` rows. A first line that is not
    /// numbers is a header; blank lines and `#` comments are skipped.
    /// Seconds may be absolute (e.g. Unix time from Prometheus): they count
    /// from the first row.
    pub fn parse(text: &str, name: &str, speedup: f64) -> Result<Self, String> {
        if !(speedup.is_finite() && speedup > 0.0) {
            return Err(format!("the speedup {speedup} must be a positive factor"));
        }
        let mut rows: Vec<(f64, f64)> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let parsed = match fields.as_slice() {
                [t, r] => t.parse::<f64>().ok().zip(r.parse::<f64>().ok()),
                _ => None,
            };
            let Some((t, r)) = parsed else {
                if rows.is_empty() && fields.len() == 2 && fields[0].parse::<f64>().is_err() {
                    continue; // A header.
                }
                return Err(format!("line {number} `{line}` is not `seconds,events_per_second`"));
            };
            if !(t.is_finite() && r.is_finite() && r >= 0.0) {
                return Err(format!("line {number}: the rate must be a number of events per second, at least 0"));
            }
            if let Some((previous, _)) = rows.last() {
                if t <= *previous {
                    return Err(format!("line {number}: seconds must increase from row to row"));
                }
            }
            rows.push((t, r));
        }
        if rows.is_empty() {
            return Err("no rows: expected lines of `seconds,events_per_second`".into());
        }
        if rows.iter().all(|(_, r)| *r == 0.0) {
            return Err("every rate is 0: nothing to replay".into());
        }
        let start = rows[0].0;
        let rows = rows.into_iter().map(|(t, r)| ((t - start) / speedup, r)).collect();
        Ok(Self { name: name.to_string(), speedup, rows })
    }

    fn durations(&self) -> Vec<f64> {
        let mut out: Vec<f64> = self.rows.windows(2).map(|w| w[1].0 - w[0].0).collect();
        out.push(out.last().copied().unwrap_or(1.0 / self.speedup));
        out
    }

    /// The recorded mean rate over one replay.
    pub fn mean_rate(&self) -> f64 {
        let durations = self.durations();
        let events: f64 = self.rows.iter().zip(&durations).map(|((_, r), d)| r * d).sum();
        events / durations.iter().sum::<f64>()
    }

    /// Seconds one replay takes.
    pub fn length(&self) -> f64 {
        self.durations().iter().sum()
    }

    fn segments(&self) -> Vec<Segment> {
        let mean = self.mean_rate();
        self.rows
            .iter()
            .zip(self.durations())
            .map(|((t, r), d)| Segment { name: format!("t={t}s"), seconds: d, multiplier: r / mean })
            .collect()
    }
}

/// When each of one producer's triggers is due.
pub struct Schedule {
    /// Mean triggers per second; infinite means unpaced.
    rate: f64,
    kind: Kind,
}

enum Kind {
    Constant,
    Poisson { rng: Pcg64Mcg, gap: Exp<f64>, next: f64, counted: u64 },
    Shaped { segments: Vec<Segment>, period: f64 },
}

impl Schedule {
    pub fn new(arrivals: &Arrivals, triggers_per_second: f64, producer: u32) -> Self {
        let rate = triggers_per_second;
        let kind = match arrivals {
            _ if !rate.is_finite() => Kind::Constant,
            Arrivals::Constant => Kind::Constant,
            Arrivals::Poisson { seed } => Kind::Poisson {
                rng: Pcg64Mcg::new(u128::from(seed.wrapping_add(u64::from(producer)))),
                gap: Exp::new(rate).expect("a positive finite rate"),
                next: 0.0,
                counted: 0,
            },
            shaped => {
                let segments = shaped.segments().expect("shaped arrivals have segments");
                let period = segments.iter().map(|s| s.seconds).sum();
                Kind::Shaped { segments, period }
            }
        };
        Self { rate, kind }
    }

    /// Triggers due before the run's end (None: unpaced, until the time is up).
    pub fn total(&self, duration: Duration) -> Option<u64> {
        let end = duration.as_secs_f64();
        match &self.kind {
            _ if !self.rate.is_finite() => None,
            // Replay the draws on a copy of the generator: same seed, same count.
            Kind::Poisson { rng, gap, .. } => {
                let (mut rng, mut at, mut count) = (rng.clone(), 0.0, 0u64);
                while at < end {
                    count += 1;
                    at += gap.sample(&mut rng);
                }
                Some(count)
            }
            _ => Some(self.cumulative(end).round() as u64),
        }
    }

    /// How many triggers should have been issued `elapsed` into the run
    /// (the first is due at once).
    pub fn due_by(&mut self, elapsed: Duration) -> u64 {
        let t = elapsed.as_secs_f64();
        match &mut self.kind {
            Kind::Constant => due_by(elapsed, self.rate),
            Kind::Poisson { rng, gap, next, counted } => {
                // A nanosecond of slack: a deadline rounded to the nanosecond counts as reached.
                while *next <= t + 1e-9 {
                    *counted += 1;
                    *next += gap.sample(rng);
                }
                *counted
            }
            // A hair of slack: a deadline rounded to the nanosecond counts as reached.
            Kind::Shaped { .. } => (self.cumulative(t) + 1e-6).floor() as u64 + 1,
        }
    }

    /// When trigger `index` (counted from 0) is due, from the run's start.
    /// For Poisson arrivals only the first one not yet due can be asked.
    pub fn deadline(&self, index: u64) -> Duration {
        let k = index as f64;
        let seconds = match &self.kind {
            Kind::Constant => k / self.rate,
            Kind::Poisson { next, .. } => *next,
            Kind::Shaped { segments, period } => {
                // Whole periods first, then walk the segments of the last one.
                let per_period = self.rate * period;
                let cycles = (k / per_period).floor();
                let mut left = k - cycles * per_period;
                let mut t = cycles * period;
                for s in segments {
                    let here = self.rate * s.multiplier * s.seconds;
                    if left < here {
                        t += left / (self.rate * s.multiplier);
                        left = 0.0;
                        break;
                    }
                    left -= here;
                    t += s.seconds;
                }
                t + left / self.rate // Rounding residue only.
            }
        };
        Duration::from_secs_f64(seconds.max(0.0))
    }

    /// Triggers due over the first `t` seconds, as a real number.
    fn cumulative(&self, t: f64) -> f64 {
        match &self.kind {
            Kind::Shaped { segments, period } => {
                let cycles = (t / period).floor();
                let mut within = t - cycles * period;
                let mut count = cycles * period;
                for s in segments {
                    let span = within.min(s.seconds);
                    count += span * s.multiplier;
                    within -= span;
                    if within <= 0.0 {
                        break;
                    }
                }
                count * self.rate
            }
            _ => t * self.rate,
        }
    }

    /// Which segment of the shape `elapsed` falls in (0 when unshaped).
    pub fn phase_of(&self, elapsed: Duration) -> usize {
        match &self.kind {
            Kind::Shaped { segments, period } => segment_at(segments, *period, elapsed.as_secs_f64()),
            _ => 0,
        }
    }
}

fn segment_at(segments: &[Segment], period: f64, t: f64) -> usize {
    let mut within = t - (t / period).floor() * period;
    for (i, s) in segments.iter().enumerate() {
        if within < s.seconds {
            return i;
        }
        within -= s.seconds;
    }
    segments.len() - 1
}

/// Pacing over one phase of the shape: the rate asked for and the rate the
/// producers reached, over all the time the run spent in that phase.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhasePacing {
    pub phase: String,
    pub seconds: f64,
    pub target_rate: f64,
    pub actual_rate: f64,
    /// Events the schedule holds in this phase (Poisson: the seed's own count).
    pub target_events: u64,
    /// Events the producers issued in it.
    pub events: u64,
}

/// Seconds spent in each phase over the first `elapsed` of a run.
pub fn phase_seconds(arrivals: &Arrivals, elapsed: f64) -> Vec<f64> {
    let Some(segments) = arrivals.segments() else {
        return vec![elapsed];
    };
    let period: f64 = segments.iter().map(|s| s.seconds).sum();
    let cycles = (elapsed / period).floor();
    let mut within = elapsed - cycles * period;
    segments
        .iter()
        .map(|s| {
            let span = within.min(s.seconds).max(0.0);
            within -= span;
            cycles * s.seconds + span
        })
        .collect()
}

/// Target against actual per phase over a run of `seconds` (its scheduled
/// length: nothing is due after it), from the events issued in each phase;
/// `scheduled_events` is the whole run's schedule.
pub fn pacing(
    arrivals: &Arrivals,
    mean_rate: f64,
    seconds: f64,
    events_per_phase: &[u64],
    scheduled_events: u64,
) -> Vec<PhasePacing> {
    let multipliers: Vec<f64> = match arrivals.segments() {
        None => vec![1.0],
        Some(s) => s.iter().map(|s| s.multiplier).collect(),
    };
    let single = multipliers.len() == 1;
    arrivals
        .phase_names()
        .into_iter()
        .zip(phase_seconds(arrivals, seconds))
        .zip(multipliers)
        .zip(events_per_phase.iter().copied().chain(std::iter::repeat(0)))
        .map(|(((phase, seconds), multiplier), events)| PhasePacing {
            phase,
            seconds,
            target_rate: mean_rate * multiplier,
            actual_rate: if seconds > 0.0 { events as f64 / seconds } else { 0.0 },
            target_events: if single { scheduled_events } else { (mean_rate * multiplier * seconds).round() as u64 },
            events,
        })
        .collect()
}

/// How many triggers should have been issued `elapsed` into the run at a
/// constant `rate`. Deadlines are absolute: a late trigger does not push back the next.
fn due_by(elapsed: Duration, rate: f64) -> u64 {
    if rate.is_finite() {
        (elapsed.as_secs_f64() * rate).floor() as u64 + 1
    } else {
        u64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute() {
        // At 1000/s, 2.5 ms in, triggers 0, 1 and 2 are due.
        assert_eq!(due_by(Duration::from_micros(2500), 1000.0), 3);
        assert_eq!(due_by(Duration::ZERO, 1000.0), 1);
        assert_eq!(due_by(Duration::from_secs(1), f64::INFINITY), u64::MAX);
    }

    fn burst() -> Arrivals {
        "burst:4x50ms/1s".parse().unwrap()
    }

    #[test]
    fn arrivals_parse_and_print() {
        assert_eq!("constant".parse(), Ok(Arrivals::Constant));
        assert_eq!("poisson".parse(), Ok(Arrivals::Poisson { seed: DEFAULT_SEED }));
        assert_eq!("poisson:7".parse(), Ok(Arrivals::Poisson { seed: 7 }));
        assert_eq!(
            burst(),
            Arrivals::Burst { peak: 4.0, on: Duration::from_millis(50), period: Duration::from_secs(1) }
        );
        assert_eq!(burst().to_string(), "burst:4x50ms/1s");
        assert!("burst:4x2s/1s".parse::<Arrivals>().unwrap_err().contains("shorter than its period"));
        assert!("burst:30x50ms/1s".parse::<Arrivals>().unwrap_err().contains("more than a whole period"));
        assert!("burst:0.5x50ms/1s".parse::<Arrivals>().unwrap_err().contains("at least 1"));
        assert!("burst:4".parse::<Arrivals>().is_err());
        assert!("uniform".parse::<Arrivals>().is_err());
    }

    #[test]
    fn a_burst_keeps_the_mean() {
        // 4x for 50 ms, then (1 - 0.2) / 0.95 of the mean for 950 ms.
        let s = burst().segments().unwrap();
        assert_eq!(s[0].multiplier, 4.0);
        assert!((s[1].multiplier - 0.8 / 0.95).abs() < 1e-12);
        let schedule = Schedule::new(&burst(), 1000.0, 0);
        // 1000/s mean: 200 triggers in the first 50 ms, 1000 per second.
        assert_eq!(schedule.cumulative(0.05).round(), 200.0);
        assert_eq!(schedule.cumulative(1.0).round(), 1000.0);
        assert_eq!(schedule.cumulative(2.05).round(), 2200.0);
        assert_eq!(schedule.total(Duration::from_secs(3)), Some(3000));
    }

    #[test]
    fn shaped_deadlines_invert_the_cumulative_count() {
        let mut schedule = Schedule::new(&burst(), 1000.0, 0);
        // In the burst: 4000/s, one every 250 µs.
        assert_eq!(schedule.deadline(0), Duration::ZERO);
        assert_eq!(schedule.deadline(1).as_micros(), 250);
        assert_eq!(schedule.deadline(200).as_micros(), 50_000);
        // Past the burst, 800 triggers over 950 ms; the next period repeats.
        assert_eq!(schedule.deadline(1000).as_micros(), 1_000_000);
        assert_eq!(schedule.deadline(1001).as_micros(), 1_000_250);
        for k in [0u64, 1, 199, 200, 201, 999, 1000, 1500] {
            let at = schedule.deadline(k);
            assert_eq!(schedule.due_by(at), k + 1, "trigger {k} is due at its deadline");
        }
        // Constant pacing keeps the generator's own `due_by`.
        let mut constant = Schedule::new(&Arrivals::Constant, 1000.0, 0);
        assert_eq!(constant.due_by(Duration::from_micros(2500)), 3);
        assert_eq!(constant.deadline(3), Duration::from_millis(3));
    }

    #[test]
    fn poisson_is_reproducible_from_its_seed_and_keeps_the_mean() {
        let draw = |seed: u64, producer: u32| {
            let mut s = Schedule::new(&Arrivals::Poisson { seed }, 10_000.0, producer);
            (1..=5).map(|ms| s.due_by(Duration::from_millis(ms))).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, 0), draw(1, 0), "same seed, same arrivals");
        assert_ne!(draw(1, 0), draw(1, 1), "producers draw apart");
        assert_ne!(draw(1, 0), draw(2, 0));
        // 10k/s over 10 s: 100000 arrivals, within 4 standard deviations (sqrt(100000) = 316).
        let mut s = Schedule::new(&Arrivals::Poisson { seed: 1 }, 10_000.0, 0);
        let n = s.due_by(Duration::from_secs(10)) as f64;
        assert!((n - 100_000.0).abs() < 4.0 * 316.0, "{n}");
        // Deadlines are the next arrival, after the last one due.
        let next = s.deadline(n as u64);
        assert!(next > Duration::from_secs(10) && next < Duration::from_millis(10_010), "{next:?}");
        // The run's total is the same count, drawn ahead on a copy.
        let fresh = Schedule::new(&Arrivals::Poisson { seed: 1 }, 10_000.0, 0);
        assert_eq!(fresh.total(Duration::from_secs(10)), Some(n as u64));
        // Gaps are exponential: the share of gaps longer than the mean is e^-1.
        let mut s = Schedule::new(&Arrivals::Poisson { seed: 3 }, 1000.0, 0);
        let mut last = Duration::ZERO;
        let mut long = 0;
        for k in 0..20_000u64 {
            let at = s.deadline(k);
            s.due_by(at);
            if at - last > Duration::from_millis(1) {
                long += 1;
            }
            last = at;
        }
        let share = f64::from(long) / 20_000.0;
        assert!((share - (-1f64).exp()).abs() < 0.015, "{share}");
    }

    #[test]
    fn phases_split_the_time_and_report_target_and_actual() {
        assert_eq!(phase_seconds(&Arrivals::Constant, 2.5), vec![2.5]);
        let s = phase_seconds(&burst(), 2.5);
        assert!((s[0] - 0.15).abs() < 1e-9 && (s[1] - 2.35).abs() < 1e-9, "{s:?}");
        let p = pacing(&burst(), 1000.0, 2.0, &[400, 1600], 2000);
        assert_eq!(p[0].phase, "burst");
        assert_eq!((p[0].target_events, p[1].target_events), (400, 1600));
        assert_eq!(p[0].target_rate, 4000.0);
        assert!((p[0].actual_rate - 4000.0).abs() < 1e-6);
        assert!((p[1].actual_rate - 1600.0 / 1.9).abs() < 1e-6);
        let schedule = Schedule::new(&burst(), 1000.0, 0);
        assert_eq!(schedule.phase_of(Duration::from_millis(10)), 0);
        assert_eq!(schedule.phase_of(Duration::from_millis(60)), 1);
        assert_eq!(schedule.phase_of(Duration::from_millis(1010)), 0);
    }

    #[test]
    fn profiles_parse_and_replay_at_their_mean() {
        let text = "timestamp,rate\n1700000000,1000\n1700000010,3000\n\n# peak\n1700000020,2000\n";
        let p = Profile::parse(text, "p.csv", 1.0).unwrap();
        assert_eq!(p.rows, vec![(0.0, 1000.0), (10.0, 3000.0), (20.0, 2000.0)]);
        assert_eq!(p.length(), 30.0);
        assert_eq!(p.mean_rate(), 2000.0);
        let fast = Profile::parse(text, "p.csv", 10.0).unwrap();
        assert_eq!(fast.length(), 3.0);
        assert_eq!(fast.mean_rate(), 2000.0);
        let arrivals = Arrivals::Profile(fast);
        let multipliers: Vec<f64> = arrivals.segments().unwrap().iter().map(|s| s.multiplier).collect();
        assert_eq!(multipliers, vec![0.5, 1.5, 1.0]);
        assert_eq!(arrivals.period(), Some(Duration::from_secs(3)));
        let bad = |t: &str| Profile::parse(t, "p.csv", 1.0).unwrap_err();
        assert!(bad("").contains("no rows"));
        assert!(bad("0,10\n0,20\n").contains("line 2"));
        assert!(bad("0,10\n1,-5\n").contains("at least 0"));
        assert!(bad("0,10\nsoon,5\n").contains("line 2 `soon,5`"));
        assert!(bad("0,0\n").contains("every rate is 0"));
        assert!(Profile::parse("0,1", "p", 0.0).unwrap_err().contains("speedup 0 must be"));
    }
}
