//! The search on simulated hosts whose truth is known: noisy consumers,
//! trials that are randomly slower, producers whose peak varies between
//! probes. The searches must agree with each other and not overstate.
use std::{sync::atomic::AtomicBool, time::Duration};

use rand::{Rng, SeedableRng};

use super::{
    calibrate::BATCH_LADDER,
    report::limit,
    spec::{candidate, min_events, trial_duration, validate, MAX_TRIAL},
    *,
};
use crate::{run::RunConfig, search::pass_curve::PassCurve};

pub(crate) fn spec() -> SearchSpec {
    SearchSpec {
        low: 1000.0,
        high: 100e6,
        precision: 1000.0,
        max_drop_rate: 0.001,
        step_duration: None,
        pass_probability: 0.9,
        confidence: 0.95,
        max_trials: None,
        time_budget: DEFAULT_TIME_BUDGET,
        batch_source: BatchSource::Calibrated,
        workload: RunConfig::default(),
    }
}

/// The consumer-bound search: `--batch 8` given.
fn requested(batch: u32) -> SearchSpec {
    SearchSpec { batch_source: BatchSource::Requested, workload: RunConfig { batch, ..RunConfig::default() }, ..spec() }
}

fn trial(rate: f64, failed_by: Option<Limit>) -> Trial {
    Trial {
        passed: failed_by.is_none(),
        failed_by,
        phase: Phase::Refine,
        confirmation: true,
        stray: false,
        run: RunResult { target_rate: rate, actual_rate: rate, duration_s: 2.0, batch: 1, ..Default::default() },
    }
}

/// A host whose producer thread spends `trigger_ns` per syscall and
/// `event_ns` per event (so a batch b offers b / (trigger + b × event)
/// events/s), and whose consumer keeps up with a capacity drawn afresh per
/// trial (logistic in log-rate around `consumer` with width `noise`), so
/// the rate passing with probability q is known. Disturbances: a share of
/// trials whose consumer is `slow_factor` slower (a neighbour took its CPU),
/// and a share of unpaced probes whose producers are 3x slower.
struct SyntheticHost {
    trigger_ns: f64,
    event_ns: f64,
    consumer: f64,
    noise: f64,
    slow_trials: f64,
    slow_factor: f64,
    slow_probes: f64,
    /// Every run's producers offer up to this share less (a trigger's cost
    /// varies from run to run: 12% on this host at batch 1).
    producer_noise: f64,
    /// The first this many runs (probes included) find the producers in a
    /// slow spell, [`SLOW_SPELL`] slower.
    slow_producer_runs: usize,
    runs: usize,
    rng: rand::rngs::StdRng,
}

/// How much slower producers are in a slow spell: 28M/s calibrated here
/// once, against 33 to 35M/s in the searches after it.
const SLOW_SPELL: f64 = 0.83;

impl SyntheticHost {
    fn new(consumer: f64, noise: f64, seed: u64) -> Self {
        Self {
            trigger_ns: 1900.0,
            event_ns: 150.0,
            consumer,
            noise,
            slow_trials: 0.0,
            slow_factor: 1.0,
            slow_probes: 0.0,
            producer_noise: 0.0,
            slow_producer_runs: 0,
            runs: 0,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        }
    }

    /// Some trials' consumers lose the CPU, some probes' producers do.
    fn disturbed(self) -> Self {
        Self { slow_trials: 0.05, slow_factor: 0.8, slow_probes: 0.2, ..self }
    }

    /// The rate passing with probability `q` (the drop threshold's
    /// slack of 0.1% and the disturbances aside).
    fn passing_with(&self, q: f64) -> f64 {
        self.consumer * (self.noise * ((1.0 - q) / q).ln()).exp()
    }

    fn producers(&self, batch: u32) -> f64 {
        let b = f64::from(batch);
        b / (self.trigger_ns + b * self.event_ns) * 1e9
    }

    fn run(&mut self, config: &RunConfig) -> RunResult {
        let u: f64 = self.rng.random_range(1e-9..1.0 - 1e-9);
        let mut capacity = self.consumer * (self.noise * (u / (1.0 - u)).ln()).exp();
        if self.rng.random_bool(self.slow_trials) {
            capacity *= self.slow_factor;
        }
        let mut producers = self.producers(config.batch);
        if self.producer_noise > 0.0 {
            producers *= 1.0 - self.rng.random_range(0.0..self.producer_noise);
        }
        self.runs += 1;
        if self.runs <= self.slow_producer_runs {
            producers *= SLOW_SPELL;
        }
        if config.rate.is_infinite() && self.rng.random_bool(self.slow_probes) {
            producers /= 3.0;
        }
        let offered = config.rate.min(producers);
        let d = config.duration.as_secs_f64();
        let attempted = (offered * d) as u64;
        let consumed = attempted.min((capacity * d) as u64);
        RunResult {
            target_rate: config.rate,
            actual_rate: offered,
            duration_s: d,
            triggers: attempted / u64::from(config.batch),
            emitted: consumed,
            consumed,
            dropped: attempted - consumed,
            drop_rate: (attempted - consumed) as f64 / attempted.max(1) as f64,
            map_updates: attempted,
            event_size: config.event_size(),
            record_bytes: 72,
            batch: config.batch,
            producers: config.producers,
            ringbuf_size: config.ringbuf_size,
            wakeup: config.wakeup,
            dropped_full: attempted - consumed,
            seq_gaps: attempted - consumed,
            issued_triggers: attempted / u64::from(config.batch),
            ..RunResult::default()
        }
    }
}

fn search_on(host: &mut SyntheticHost, spec: &SearchSpec) -> SearchResult {
    let stop = AtomicBool::new(false);
    let mut run = |config: &RunConfig, _: &AtomicBool| Ok(host.run(config));
    search_with(spec, &stop, &mut run).unwrap()
}

/// What the issue asks of five searches back to back, over every window
/// of five consecutive seeds: max/min ≤ 1.05, one batch, spreads that
/// overlap pairwise, the spread's top below `high`.
fn assert_agree(results: &[SearchResult], spec: &SearchSpec) {
    for (i, window) in results.windows(5).enumerate() {
        let answers: Vec<f64> = window.iter().map(|r| r.max_sustainable_rate).collect();
        let (min, max) = answers.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &a| (lo.min(a), hi.max(a)));
        assert!(max / min <= 1.05, "window {i}: answers {answers:?}");
        for a in window {
            assert_eq!(a.batch, window[0].batch, "window {i}: batches differ");
            assert!(a.spread.max < spec.high, "window {i}: spread reaches high: {:?}", a.spread);
            for b in window {
                assert!(a.spread.overlaps(&b.spread), "window {i}: {:?} and {:?} are disjoint", a.spread, b.spread);
            }
        }
    }
}

/// The defaults case: the batch is the search's to choose, the
/// producers' probes are sometimes 3x slow, some trials' consumers lose
/// their CPU. Twenty searches: every five in a row agree, every one uses
/// batch 512 (no batch offers 10M/s with headroom), none claims
/// more than the truth.
#[test]
fn calibrated_searches_on_a_disturbed_host_repeat() {
    let spec = spec();
    let results: Vec<SearchResult> = (1..=20)
        .map(|seed| {
            let mut host = SyntheticHost::new(2.5e6, 0.01, seed).disturbed();
            let truth = host.passing_with(0.9);
            let r = search_on(&mut host, &spec);
            assert_eq!(r.batch_source, BatchSource::Calibrated);
            assert_eq!(r.requested_batch, None);
            assert_eq!(r.batch, 512, "seed {seed}: {:?}", r.calibration);
            assert!(r.trials.iter().all(|t| t.run.batch == 512), "seed {seed}: the batch changed mid-search");
            assert_eq!(r.limited_by, Limit::Drops, "seed {seed}: {r:?}");
            // A 95% lower bound, of which 1% of rate is the precision of the ladder.
            assert!(
                r.max_sustainable_rate <= truth * 1.01,
                "seed {seed}: {} above the truth {truth}",
                r.max_sustainable_rate
            );
            assert!(r.elapsed_s <= 90.0 + 1.0);
            r
        })
        .collect();
    assert_agree(&results, &spec);
}

/// The consumer-bound case (`--batch 8`, consumer 900k/s), with
/// the same disturbances: the batch stays 8 and answers agree.
#[test]
fn consumer_bound_searches_on_a_disturbed_host_repeat_under_the_truth() {
    let spec = requested(8);
    let (mut strays, mut below) = (0, 0);
    let results: Vec<SearchResult> = (1..=20)
        .map(|seed| {
            let mut host = SyntheticHost::new(900e3, 0.01, seed).disturbed();
            let truth = host.passing_with(0.9);
            let r = search_on(&mut host, &spec);
            assert_eq!((r.batch, r.requested_batch, r.batch_source), (8, Some(8), BatchSource::Requested));
            assert_eq!(r.limited_by, Limit::Drops, "seed {seed}: {r:?}");
            assert!(r.confirmed && !r.interrupted);
            assert!(
                r.max_sustainable_rate <= truth * 1.01,
                "seed {seed}: {} above the truth {truth}",
                r.max_sustainable_rate
            );
            below += usize::from(r.max_sustainable_rate <= truth);
            // At the knee: within 6% of the truth.
            assert!(r.max_sustainable_rate * 1.06 > truth, "seed {seed}: {} far below {truth}", r.max_sustainable_rate);
            assert!(r.spread.min <= r.max_sustainable_rate && r.max_sustainable_rate <= r.spread.max, "{r:?}");
            assert!(r.noise > 0.005 && r.noise < 0.06, "seed {seed}: noise {}", r.noise);
            strays += r.stray_failures;
            r
        })
        .collect();
    assert_agree(&results, &spec);
    assert!(strays > 0, "no slow trial was ever retested");
    assert!(below >= 17, "the bound held in only {below} of 20");
}

/// A sharp knee (trials 0.2% apart, as this host's consumer-bound case
/// was: no drops at 900k, drops at 930k): passes pile up under it and one
/// failure above. A lone failure may be a lapse, and the midpoint's range
/// above it is wide, so the spread's top would climb with every pass
/// (once to 3.7M/s over a knee at 930k) unless a trial goes there.
#[test]
fn a_sharp_knee_keeps_the_spread_near_it() {
    let spec = requested(8);
    for seed in 1..=10 {
        let mut host = SyntheticHost::new(930e3, 0.002, seed);
        let truth = host.passing_with(0.9);
        // A consumer beside producers offering far more than it keeps up
        // with takes 5% less than it passes at (the probe at 17.3M/s
        // consumed 883k/s here, under passes at 901k/s).
        let stop = AtomicBool::new(false);
        let mut run = |config: &RunConfig, _: &AtomicBool| {
            let mut r = host.run(config);
            if r.dropped > r.consumed {
                let kept = (r.consumed as f64 * 0.95) as u64;
                r.dropped += r.consumed - kept;
                r.dropped_full = r.dropped;
                (r.consumed, r.emitted) = (kept, kept);
                r.drop_rate = r.dropped as f64 / (r.consumed + r.dropped) as f64;
            }
            Ok(r)
        };
        let r = search_with(&spec, &stop, &mut run).unwrap();
        assert_eq!(r.limited_by, Limit::Drops, "seed {seed}: {r:?}");
        assert!(r.spread.max < truth * 1.1, "seed {seed}: spread {:?} over a knee at {truth}", r.spread);
        assert!(r.max_sustainable_rate * 1.06 > truth, "seed {seed}: {} far below {truth}", r.max_sustainable_rate);
    }
}

/// Two searches a minute apart on a host that moved by its own
/// trial-to-trial noise in between (trials 1.8% apart, the consumer 1.8%
/// slower the second time): each search alone narrows below that, but the
/// spreads, never narrower than the noise, still overlap (but for the
/// rare search whose first capacities were all low draws).
#[test]
fn searches_on_a_host_that_moved_by_its_noise_still_overlap() {
    let spec = requested(8);
    let overlapping = (1..=10)
        .filter(|seed| {
            let first = search_on(&mut SyntheticHost::new(900e3, 0.01, *seed), &spec);
            let second = search_on(&mut SyntheticHost::new(900e3 * 0.982, 0.01, seed + 100), &spec);
            first.spread.overlaps(&second.spread)
        })
        .count();
    // Built for 19 in 20 (the seeds are fixed: this is one draw of ten).
    assert!(overlapping >= 9, "{overlapping} of 10 pairs overlapped");
}

/// A failure below passes is retested; when the retest passes it is
/// stray, and it moves the answer less than a repeated failure would.
#[test]
fn a_failure_below_passes_is_retested_and_counted_stray() {
    let spec = requested(8);
    let mut host = SyntheticHost { slow_trials: 0.15, slow_factor: 0.7, ..SyntheticHost::new(900e3, 0.005, 3) };
    let truth = host.passing_with(0.9);
    let r = search_on(&mut host, &spec);
    assert!(r.stray_failures >= 1, "{r:?}");
    let strays: Vec<&Trial> = r.trials.iter().filter(|t| t.stray).collect();
    assert_eq!(strays.len(), r.stray_failures);
    for s in strays {
        assert!(!s.passed);
        assert!(r
            .trials
            .iter()
            .any(|t| t.phase == Phase::Retest && t.passed && t.run.target_rate == s.run.target_rate));
    }
    assert!(r.max_sustainable_rate > truth * 0.94 && r.max_sustainable_rate <= truth, "{r:?}");
}

/// A small `high` needs no batch: one event per syscall offers it.
#[test]
fn a_calibrated_batch_is_one_when_one_offers_high() {
    let spec = SearchSpec { high: 60e3, ..spec() };
    let mut host = SyntheticHost::new(20e3, 0.01, 5);
    let r = search_on(&mut host, &spec);
    assert_eq!(r.batch, 1);
    let calibration = r.calibration.expect("calibrated");
    assert_eq!(calibration.rungs.len(), 1, "{calibration:?}");
    assert_eq!(calibration.rungs[0].offered_per_s.len(), calibrate::PROBES);
    assert!(r.max_sustainable_rate <= host.passing_with(0.9));
}

/// With a requested batch the producers' limit is the answer's, said so.
#[test]
fn with_a_requested_batch_a_producer_limit_names_the_setting() {
    let mut host = SyntheticHost::new(3e6, 0.01, 9);
    let r = search_on(&mut host, &requested(1));
    assert_eq!(r.limited_by, Limit::Producer, "{r:?}");
    assert_eq!(r.batch, 1);
    let advice = r.advice.expect("advice").to_string();
    assert!(advice.contains("rerun with batch "), "{advice}");
    // 1 / 2.05 µs = 488k events/s.
    assert!(r.max_sustainable_rate <= 488e3 / PRODUCER_TOLERANCE, "{}", r.max_sustainable_rate);
    assert!(r.spread.max < r.high);
}

/// CI's case: batch 1, producers whose reach varies 12% from run to run,
/// five trials. Failures of the producers mix with passes, so the curve
/// alone cannot rule out a ring limit anywhere up to `high`; but no rerun
/// can offer more than the producers reach, so neither can its answer, and
/// the spread stops there.
#[test]
fn a_producer_limited_spread_stops_where_the_producers_do() {
    for seed in 1..=20 {
        let spec = SearchSpec { max_trials: Some(5), high: 8e6, ..requested(1) };
        let mut host = SyntheticHost { producer_noise: 0.12, ..SyntheticHost::new(3e6, 0.01, seed) };
        let r = search_on(&mut host, &spec);
        assert_eq!(r.limited_by, Limit::Producer, "seed {seed}: {r:?}");
        // What the producers offered: calibrated, a trial's target when it
        // passed (within their tolerance), what they reached when it did not.
        let calibrated = r.calibration.as_ref().expect("calibration").offered_per_s;
        let reach = r
            .trials
            .iter()
            .map(|t| if t.passed { t.run.target_rate } else { t.run.actual_rate })
            .fold(calibrated, f64::max);
        // 10% above, on the rates' 1% ladder.
        assert!(r.spread.max <= reach * 1.1 * 1.01, "seed {seed}: {:?} above the producers' {reach}", r.spread);
        assert!(r.spread.min <= r.max_sustainable_rate && r.max_sustainable_rate <= r.spread.max, "seed {seed}: {r:?}");
    }
}

/// Where the producers limit, the noise is at least how much their reach
/// moved (probes and shortfalls alike), even when the pass-or-fail curve
/// looks sharper: the next search meets producers that moved as much.
#[test]
fn a_producer_limited_noise_is_at_least_the_producers_own() {
    for seed in 1..=10 {
        let spec = requested(64);
        let mut host = SyntheticHost { producer_noise: 0.08, ..SyntheticHost::new(100e6, 0.005, seed) };
        let r = search_on(&mut host, &spec);
        assert_eq!(r.limited_by, Limit::Producer, "seed {seed}: {r:?}");
        let calibration = r.calibration.as_ref().expect("calibration");
        let probes = &calibration.rungs.iter().find(|g| g.batch == 64).expect("batch 64 probed").offered_per_s;
        let shortfalls = r.trials.iter().filter(|t| t.failed_by == Some(Limit::Producer)).map(|t| t.run.actual_rate);
        let reach: Vec<f64> = probes.iter().copied().chain(shortfalls).collect();
        let (_, moved) = super::calibrate::median_and_spread(&reach);
        assert!(moved > 0.005, "seed {seed}: the producers moved {moved}");
        assert!(r.noise >= moved, "seed {seed}: noise {} under the producers' {moved}", r.noise);
        let side = r.noise * 1.2;
        assert!(r.spread.min <= r.estimate * (-side).exp() * 1.0001, "seed {seed}: {r:?}");
    }
}

/// The defaults' case on this host: producers at batch 512 limit, their
/// reach moving 2% from run to run, and one search in two starting in a
/// slow spell (its calibration and first seven trials 17% slower). The
/// spell must not set the answer: it is sampled among the reach of the
/// whole search, and the searches agree as the issue asks.
#[test]
fn a_slow_spell_of_the_producers_at_the_start_does_not_set_the_answer() {
    let spec = requested(512);
    let results: Vec<SearchResult> = (1..=10)
        .map(|seed| {
            let spell = if seed % 2 == 1 { 12 } else { 0 };
            let mut host = SyntheticHost {
                producer_noise: 0.02,
                slow_producer_runs: spell,
                ..SyntheticHost::new(100e6, 0.005, seed)
            };
            let r = search_on(&mut host, &spec);
            assert_eq!(r.limited_by, Limit::Producer, "seed {seed}: {r:?}");
            assert!(r.trials.iter().any(|t| t.phase == Phase::Reach), "seed {seed}: the reach was never sampled");
            assert!(r.elapsed_s <= 90.0 + 1.0);
            r
        })
        .collect();
    assert_agree(&results, &spec);
}

/// A calibrated batch that proves too small restarts the search with the
/// next batch, visibly, once.
#[test]
fn a_calibrated_batch_that_falls_short_restarts_once() {
    let mut host = SyntheticHost::new(2.5e6, 0.01, 11);
    // The probes see fast producers; the trials see them 3x slower.
    let stop = AtomicBool::new(false);
    let mut run = |config: &RunConfig, _: &AtomicBool| {
        let mut r = host.run(config);
        if config.rate.is_finite() && config.batch == 64 {
            r.actual_rate = r.actual_rate.min(host.producers(64) / 3.0);
        }
        Ok(r)
    };
    let spec = SearchSpec { high: 2e6, ..spec() };
    let r = search_with(&spec, &stop, &mut run).unwrap();
    assert_eq!(r.restarts, 1, "{r:?}");
    assert_eq!(r.batch, 512);
    assert!(r.trials.iter().any(|t| t.run.batch == 64) && r.trials.last().unwrap().run.batch == 512);
    assert_eq!(BATCH_LADDER[3], 512);
}

/// The simulation study behind ARCHITECTURE.md's figures: 40 searches
/// per noise level. About a minute, so not in the default run:
/// `cargo xtask test -- -p capacity-user simulated_coverage -- --ignored --nocapture`.
#[test]
#[ignore]
fn simulated_coverage_and_repeatability() {
    let spec = requested(8);
    for (noise, min_covered, min_close) in [(0.01, 38, 11), (0.02, 38, 9), (0.04, 34, 7)] {
        let mut answers = Vec::new();
        let mut covered = 0;
        for seed in 100..140 {
            let mut host = SyntheticHost::new(850e3, noise, seed);
            let truth = host.passing_with(0.9);
            let r = search_on(&mut host, &spec);
            covered += usize::from(r.max_sustainable_rate <= truth);
            answers.push(r.max_sustainable_rate / truth);
        }
        let close = answers
            .chunks_exact(3)
            .filter(|c| c.iter().copied().fold(0.0, f64::max) / c.iter().copied().fold(f64::MAX, f64::min) <= 1.05)
            .count();
        let mean = answers.iter().sum::<f64>() / answers.len() as f64;
        eprintln!("noise {noise}: bound held {covered}/40, mean answer/truth {mean:.3}, triples within 5%: {close}/13");
        assert!(covered >= min_covered && close >= min_close, "noise {noise}: {covered}/40, {close}/13");
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
fn candidates_lie_on_a_one_percent_ladder_within_the_range() {
    let s = spec();
    assert_eq!(candidate(812_345.0, &s), candidate(812_000.0, &s));
    assert_eq!(candidate(812_345.0, &s) % 1000.0, 0.0);
    let (a, b) = (candidate(800_000.0, &s), candidate(808_100.0, &s));
    assert!((b / a - 1.01).abs() < 0.003, "{a} {b}");
    assert_eq!(candidate(1.0, &s), 1000.0);
    assert_eq!(candidate(1e9, &s), 100e6);
}

#[test]
fn the_answer_is_the_lower_bound_inside_the_spread() {
    let s = spec();
    let mut curve = PassCurve::new(s.low, s.high, s.pass_probability);
    for _ in 0..5 {
        curve.observe(780_000.0, true);
        curve.observe(800_000.0, true);
        curve.observe(840_000.0, false);
    }
    curve.observe(820_000.0, true);
    curve.observe(820_000.0, false);
    let e = estimate(&curve, &s);
    assert!(e.spread.min <= e.answer && e.answer <= e.spread.max, "{e:?}");
    assert!(e.answer < e.median && e.median < e.spread.max, "{e:?}");
    assert!(e.answer >= 760_000.0 && e.spread.max <= 840_000.0, "{e:?}");
    assert_eq!(e.answer % 1000.0, 0.0);
    assert!(!e.noisy_host);
}

#[test]
fn passes_at_high_state_high_and_failures_at_low_state_zero() {
    let s = SearchSpec { low: 1000.0, high: 5000.0, ..spec() };
    let mut curve = PassCurve::new(s.low, s.high, s.pass_probability);
    let mut passes = 0;
    while estimate(&curve, &s).answer < s.high {
        curve.observe(s.high, true);
        passes += 1;
        assert!(passes <= 10, "10 passes at high do not state it: {:?}", estimate(&curve, &s));
    }
    assert_eq!(estimate(&curve, &s).spread.max, 5000.0);
    let mut curve = PassCurve::new(s.low, s.high, s.pass_probability);
    for _ in 0..3 {
        curve.observe(s.low, false);
    }
    let e = estimate(&curve, &s);
    assert_eq!(e.answer, 0.0);
    assert_eq!(e.spread.min, 0.0);
}

#[test]
fn no_trials_claim_nothing() {
    let s = spec();
    let e = estimate(&PassCurve::new(s.low, s.high, s.pass_probability), &s);
    assert_eq!(e.answer, 0.0);
    assert_eq!(e.spread, Spread { min: 0.0, max: s.high });
}

#[test]
fn statements_read_as_written() {
    assert_eq!(statement(0.9, 0.95), "passes with probability >= 0.9 at 95% confidence");
    assert_eq!(statement(0.99, 0.9), "passes with probability >= 0.99 at 90% confidence");
    assert_eq!(statement(0.9, 0.975), "passes with probability >= 0.9 at 97.5% confidence");
}

#[test]
fn the_limit_is_the_commoner_failure_above_the_answer() {
    let trials = [
        trial(700e3, Some(Limit::Producer)), // below the answer: ignored
        trial(900e3, Some(Limit::Drops)),
        trial(950e3, Some(Limit::Drops)),
        trial(1e6, Some(Limit::Producer)),
        trial(800e3, None),
    ];
    assert_eq!(limit(&trials, 800e3, 10e6), Limit::Drops);
    assert_eq!(limit(&trials, 960e3, 10e6), Limit::Producer);
    assert_eq!(limit(&trials, 10e6, 10e6), Limit::High);
}

#[test]
fn limits_and_phases_print_as_their_json_names() {
    for limit in [Limit::Drops, Limit::Producer, Limit::High] {
        assert_eq!(serde_json::to_string(&limit).unwrap(), format!("\"{limit}\""));
    }
    for phase in [Phase::Probe, Phase::Bracket, Phase::Refine, Phase::Reach, Phase::Retest] {
        assert_eq!(serde_json::to_string(&phase).unwrap(), format!("\"{phase}\""));
    }
}

#[test]
fn bad_settings_are_refused() {
    assert!(validate(&SearchSpec { low: 5000.0, high: 1000.0, ..spec() }).is_err());
    assert!(validate(&SearchSpec { max_drop_rate: 0.0, ..spec() }).is_err());
    assert!(validate(&SearchSpec { pass_probability: 1.0, ..spec() }).is_err());
    assert!(validate(&SearchSpec { confidence: 0.3, ..spec() }).is_err());
    assert!(validate(&SearchSpec { max_trials: Some(2), ..spec() }).is_err());
    assert!(validate(&spec()).is_ok());
}

/// `--max-trials` holds retests too: a failure below passes awaiting its
/// retest counts against it (a search with `--max-trials 6` once ran 7).
#[test]
fn max_trials_counts_the_failures_awaiting_their_retest() {
    for seed in 1..=20 {
        let spec = SearchSpec { max_trials: Some(6), ..requested(8) };
        let mut host = SyntheticHost { slow_trials: 0.3, slow_factor: 0.7, ..SyntheticHost::new(900e3, 0.01, seed) };
        let r = search_on(&mut host, &spec);
        assert!(r.trials.len() <= 6, "seed {seed}: {} trials", r.trials.len());
    }
}
