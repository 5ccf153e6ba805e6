//! Where the trials of a rate search go, and when it stops.
//!
//! The batch is fixed before the first trial (calibrated or requested).
//! A probe at the top of what the producers can offer; when it drops, its
//! consumed rate says where the consumer gave up, and trials step from there
//! until one passes and one fails; then each trial goes where the current
//! estimate of the answer lies, until the spread it would report is narrow
//! or the budget is spent. Where the producers limit, every other trial
//! goes above their reach, to measure it again. A failure well below a
//! rate that passed is retested before it moves the answer.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use super::{
    calibrate::{calibrate, median_and_spread, Calibration, BATCH_LADDER},
    report::{limit, SearchResult, Trial},
    spec::{candidate, judge, trial_duration, validate, BatchSource, Limit, Phase, SearchSpec},
    statement::{estimate, statement, Estimate},
    TrialRunner,
};
use crate::{
    progress::Progress,
    run::{RunConfig, RunResult},
    search::{offered_load, pass_curve::PassCurve},
    settings::Setting,
    units::format_rate,
};

/// Stepping from the probe's hint: up by this factor, down by its inverse
/// (squared after every further failure, so a bad hint costs few trials).
const BRACKET_STEP: f64 = 1.1;
/// The search stops early once the spread it would report (never narrower
/// than the host's noise) is within this share of its low end, after at
/// least `MIN_TRIALS` trials: answers of searches whose spreads overlap then
/// lie within about this share of each other. A host noisier than that
/// spends the budget.
const SPREAD_TOLERANCE: f64 = 0.03;
const MIN_TRIALS: usize = 12;
/// Trials at `high` before it is the answer: there the statement leans on
/// the model's prior margin above the range (two passes would state it),
/// so it also needs three trials.
const TRIALS_AT_HIGH: usize = 3;
/// An answer whose spread is wider than this share was not settled: the
/// result says what would help.
const SETTLED: f64 = 0.05;
/// What a run costs beyond its warm-up and measured part (loading and
/// attaching the program, the final drain), until runs measure it.
const RUN_OVERHEAD: Duration = Duration::from_millis(250);
/// The probe goes this far below the producers' calibrated rate, so that
/// it measures the consumer rather than the generator's own limit.
const PROBE_BELOW_PRODUCERS: f64 = 0.95;
/// Refining trials go at most this far above what the producers have been
/// seen to reach: far enough to find where they fall short, never so far
/// that a trial only repeats what is known (unpaced probes can fall short
/// of what paced trials reach: 2.53M/s calibrated, 2.67M/s passed here).
const ABOVE_PRODUCERS: f64 = 1.1;
/// A calibrated batch proved too small when the producers fall this far
/// short of their calibrated rate.
const PRODUCERS_FELL_SHORT: f64 = 0.8;
/// A failure is retested when what it measured (the rate its consumer kept
/// up with, or its rate) lies this far below a rate that passed: so far
/// below a pass it is no evidence of the knee but of a neighbour. Near the
/// knee, where passes and failures mix, failures are the evidence and are
/// not retested.
const STRAY_MARGIN: f64 = 1.03;
/// A spread whose top lies this far above a rate that failed doubts that
/// failure (holds it for a lapse).
const DOUBTED: f64 = 1.1;
/// A failure offered more than this multiple of what its consumer kept up
/// with measured a consumer that shared the host with far busier producers:
/// on this 2-core host the probe at 17.3M/s read 883k/s while trials at
/// 901k/s passed, and the curve, holding both, moved its top to 3.7M/s
/// (taking the failures near the knee for lapses). It counts as a failure
/// at its rate; the bracket still starts from its reading.
const OVERLOADED: f64 = 1.25;
/// Retests of a suspect failure, at most: a failure that repeats this many
/// more times counts.
const MAX_RETESTS: usize = 2;
/// Restarts with a larger batch, at most.
const MAX_RESTARTS: usize = 1;

/// Time the search has spent, counted per run: its wall time, and never
/// less than its warm-up, measured part and the usual overhead (so that a
/// simulated host spends the same as a real one).
struct Budget {
    started: Instant,
    spent: Duration,
    overhead: Duration,
    runs: u32,
}

impl Budget {
    fn charge(&mut self, config: &RunConfig, wall: Duration) {
        let nominal = config.duration + config.warmup;
        self.runs += 1;
        // The mean overhead so far (the first run's is the default's).
        let overhead = wall.saturating_sub(nominal);
        self.overhead = (self.overhead * (self.runs - 1) + overhead.max(RUN_OVERHEAD)) / self.runs;
        self.spent += wall.max(nominal + RUN_OVERHEAD);
    }

    /// What a run of `duration` after `warmup` is expected to cost.
    fn expected(&self, duration: Duration, warmup: Duration) -> Duration {
        duration + warmup + self.overhead
    }
}

/// What the curve learns from one trial.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    /// The rate its consumer kept up with while the ring overflowed.
    Capacity(f64),
    /// Passed or failed at this rate.
    Outcome(f64, bool),
}

struct Searcher<'s, 'a> {
    spec: &'s SearchSpec,
    stop: &'s AtomicBool,
    run: &'s mut TrialRunner<'a>,
    progress: Progress,
    budget: Budget,
    calibration: Calibration,
    /// The workload as run now: the spec's with the batch fixed.
    workload: RunConfig,
    trials: Vec<Trial>,
    stray_failures: usize,
    restarts: usize,
    /// The curve as last learned, and from what.
    learned: std::cell::RefCell<(Vec<Seen>, PassCurve)>,
}

/// Why the trials stopped short of a settled answer.
enum Stopped {
    Interrupted,
    Restart,
}

type Step<T> = anyhow::Result<Result<T, Stopped>>;

impl Searcher<'_, '_> {
    fn run_timed(&mut self, config: &RunConfig) -> anyhow::Result<RunResult> {
        let started = Instant::now();
        let result = (self.run)(config, self.stop);
        self.budget.charge(config, started.elapsed());
        result
    }

    /// Whether `trials` more trials at `rate` fit: `--max-trials` when given,
    /// else the time budget. `pending`: trials already run but not yet in
    /// `self.trials` (a failure awaiting its retest); their time is spent.
    fn room_for(&self, rate: f64, trials: u32, pending: usize) -> bool {
        match self.spec.max_trials {
            Some(n) => self.trials.len() + pending + trials as usize <= n,
            None => {
                let next = self.budget.expected(trial_duration(rate, self.spec), self.workload.warmup);
                self.budget.spent + next * trials <= self.spec.time_budget
            }
        }
    }

    /// Trials at the current batch, the ones the curve has learned from.
    fn current(&self) -> impl Iterator<Item = &Trial> + '_ {
        let batch = self.workload.batch;
        self.trials.iter().filter(move |t| t.run.batch == batch)
    }

    /// One trial at `rate`, and its retest when it failed below a rate that
    /// passed. Ok(None) when there was no room for it.
    fn trial(&mut self, rate: f64, phase: Phase) -> Step<Option<Trial>> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(Err(Stopped::Interrupted));
        }
        // A refining trial leaves room for its retest.
        let trials = if phase == Phase::Refine { 2 } else { 1 };
        if !self.room_for(rate, trials, 0) {
            return Ok(Ok(None));
        }
        let Some(first) = self.one(rate, phase)? else { return Ok(Err(Stopped::Interrupted)) };
        if first.failed_by == Some(Limit::Producer) && self.producers_fell_short(&first) {
            self.report(&first);
            self.trials.push(first);
            return Ok(Err(Stopped::Restart));
        }
        // A trial above the producers' reach fails by design: retesting it
        // could only fail again.
        let suspect = !first.passed && phase != Phase::Reach && self.below_a_pass(first.evidence());
        if !suspect || !self.room_for(rate, 1, 1) {
            self.report(&first);
            self.trials.push(first.clone());
            return Ok(Ok(Some(first)));
        }
        // Retest until a pass, or until the failure has repeated enough
        // times to be believed; neighbours come in spells, so one repeat
        // is not enough.
        let mut failures = vec![first];
        let last = loop {
            let Some(again) = self.one(rate, Phase::Retest)? else {
                // Interrupted: the failures seen so far stay in the result.
                self.trials.append(&mut failures);
                return Ok(Err(Stopped::Interrupted));
            };
            let repeated = !again.passed && failures.len() > MAX_RETESTS - 1;
            if again.passed || repeated || !self.room_for(rate, 1, failures.len() + 1) {
                break again;
            }
            failures.push(again);
        };
        for mut failure in failures {
            failure.stray = last.passed;
            self.stray_failures += usize::from(failure.stray);
            self.report(&failure);
            self.trials.push(failure);
        }
        self.report(&last);
        self.trials.push(last.clone());
        Ok(Ok(Some(last)))
    }

    /// Run one trial (not yet learned from); None when interrupted.
    fn one(&mut self, rate: f64, phase: Phase) -> anyhow::Result<Option<Trial>> {
        let duration = trial_duration(rate, self.spec);
        self.progress.running(format!("{phase} at {} for {:.1} s", format_rate(rate), duration.as_secs_f64()));
        let config = RunConfig { rate, duration, ..self.workload.clone() };
        let result = self.run_timed(&config)?;
        if result.interrupted {
            return Ok(None);
        }
        let failed_by = judge(&result, self.spec.max_drop_rate);
        Ok(Some(Trial {
            passed: failed_by.is_none(),
            failed_by,
            phase,
            confirmation: phase == Phase::Refine,
            stray: false,
            run: result,
        }))
    }

    /// The lowest rate above `median` that failed, if the spread's `top`
    /// lies [`DOUBTED`] above it.
    fn doubted_failure(&self, median: f64, top: f64) -> Option<f64> {
        self.current()
            .filter(|t| !t.passed && !t.stray && t.run.target_rate > median)
            .map(|t| t.run.target_rate)
            .min_by(f64::total_cmp)
            .filter(|&failed| top > failed * DOUBTED)
    }

    /// Whether a rate [`STRAY_MARGIN`] above `rate` passed.
    fn below_a_pass(&self, rate: f64) -> bool {
        self.current().any(|t| t.passed && t.run.target_rate >= rate * STRAY_MARGIN)
    }

    /// The pass curve learned from every trial at the current batch, in
    /// hindsight: a failure that measured the consumer's capacity says where
    /// it gave up, unless that lies [`STRAY_MARGIN`] below a rate that
    /// passed (then, repeated or not, it says only that trials fail there
    /// sometimes: a spell of neighbours must not drag the answer) or the
    /// trial offered [`OVERLOADED`] times more (its consumer ran beside far
    /// busier producers: it only failed at its rate). A stray
    /// failure (it passed on retest) is left out: it says that a neighbour
    /// took the consumer's CPU once, which `stray_failures` reports.
    fn curve(&self) -> PassCurve {
        let seen: Vec<Seen> = self
            .current()
            .filter(|t| !t.stray)
            .map(|t| match t.capacity_measured() {
                Some(capacity) if !self.below_a_pass(capacity) && t.run.target_rate <= capacity * OVERLOADED => {
                    Seen::Capacity(capacity)
                }
                _ => Seen::Outcome(t.run.target_rate, t.passed),
            })
            .collect();
        // Learning is incremental while hindsight changes nothing already
        // learned (a grid pass per trial, not per trial squared).
        let mut cache = self.learned.borrow_mut();
        if !seen.starts_with(&cache.0) {
            *cache = (Vec::new(), PassCurve::new(self.spec.low, self.spec.high, self.spec.pass_probability));
        }
        for new in &seen[cache.0.len()..] {
            match *new {
                Seen::Capacity(capacity) => cache.1.observe_capacity(capacity),
                Seen::Outcome(rate, passed) => cache.1.observe(rate, passed),
            }
        }
        cache.0 = seen;
        cache.1.clone()
    }

    fn report(&self, trial: &Trial) {
        let now = estimate(&self.curve(), self.spec);
        let verdict = match trial.failed_by {
            None => "pass".to_string(),
            Some(l) if trial.stray => format!("fail ({l}; stray: passed on retest)"),
            Some(l) => format!("fail ({l})"),
        };
        self.progress.finished(format!(
            "{:<7} {:>10} (batch {}): actual {}, drops {:.4}% -> {verdict}; answer so far {} (spread {} to {})",
            trial.phase.to_string(),
            format_rate(trial.run.target_rate),
            trial.run.batch,
            format_rate(trial.run.actual_rate),
            trial.run.drop_rate * 100.0,
            format_rate(now.answer),
            format_rate(now.spread.min),
            format_rate(now.spread.max),
        ));
    }

    /// The calibrated batch proved too small: the producers reached well
    /// under what calibration measured. Only a calibrated batch changes,
    /// and only up the ladder.
    fn producers_fell_short(&self, trial: &Trial) -> bool {
        self.spec.batch_source == BatchSource::Calibrated
            && self.restarts < MAX_RESTARTS
            && self.workload.batch < *BATCH_LADDER.last().expect("a ladder")
            && trial.run.actual_rate < self.calibration.offered_per_s * PRODUCERS_FELL_SHORT
    }

    /// Start again with the next batch on the ladder, saying so.
    fn restart(&mut self) {
        let next = BATCH_LADDER.iter().copied().find(|&b| b > self.workload.batch).expect("checked: a larger batch");
        log::info!(
            "the producers reached {} at batch {}, well under the {} calibrated: starting the search again with batch {next}",
            format_rate(self.trials.last().map_or(0.0, |t| t.run.actual_rate)),
            self.workload.batch,
            format_rate(self.calibration.offered_per_s),
        );
        self.workload.batch = next;
        self.calibration.batch = next;
        self.restarts += 1;
    }

    /// The most the producers have been seen to offer: calibrated, reached
    /// in a trial that fell short, or passed.
    fn producers_reach(&self) -> f64 {
        self.current()
            .map(|t| if t.passed { t.run.target_rate } else { t.run.actual_rate })
            .fold(self.calibration.offered_per_s, f64::max)
    }

    /// How much the producers' reach moved over the search (a robust
    /// standard deviation, a fraction): their calibration probes at the
    /// batch and the rate of every trial they fell short in. NaN with
    /// fewer than three of those.
    fn producers_noise(&self) -> f64 {
        let probes = self.calibration.rung(self.workload.batch).map_or(&[][..], |r| &r.offered_per_s[..]);
        let shortfalls = self.current().filter(|t| t.failed_by == Some(Limit::Producer)).map(|t| t.run.actual_rate);
        let reach: Vec<f64> = probes.iter().copied().chain(shortfalls).collect();
        if reach.len() < 3 {
            return f64::NAN;
        }
        median_and_spread(&reach).1
    }

    /// What limits the answer `answer`, as the trials at the current batch say.
    fn limited_by(&self, answer: f64) -> Limit {
        limit(self.current(), answer, self.spec.high)
    }

    /// `found`, the curve's estimate, as the result reports it, and what
    /// limits it.
    fn reported(&self, mut found: Estimate) -> (Estimate, Limit) {
        let spec = self.spec;
        let limited_by = self.limited_by(found.answer);
        if limited_by == Limit::Producer {
            // Where the producers limit, a trial passes or not as their
            // reach moves, and each probe and shortfall measured that reach
            // directly: the curve, which sees only pass or fail, can take
            // it for sharper.
            found.noise = found.noise.max(self.producers_noise());
        }
        // The next search meets a host that moved by its noise: the spread
        // is never narrower.
        let found = found.at_least_noise_wide(spec);
        // The producers' failures say nothing of the ring above them, so
        // the curve alone may leave the spread open to `high`; but no rerun
        // offers more than the producers reach, so its answer cannot land
        // above that.
        let found = if limited_by == Limit::Producer {
            found.capped_at(candidate(self.highest_offered(), spec))
        } else {
            found
        };
        (found, limited_by)
    }

    /// The highest rate a refining trial is offered at: a little above what
    /// the producers reach, and so the highest a rerun's answer can be.
    fn highest_offered(&self) -> f64 {
        self.producers_reach() * ABOVE_PRODUCERS
    }

    /// The top of what can be searched: `high`, or just under what the
    /// producers offer.
    fn top(&self) -> f64 {
        let offered = self.calibration.offered_per_s * PROBE_BELOW_PRODUCERS;
        if offered >= self.spec.high {
            self.spec.high
        } else {
            candidate(offered, self.spec)
        }
    }

    /// Probe at the top. Some(hint) where to start stepping (None: the top
    /// passed).
    fn probe(&mut self) -> Step<Option<f64>> {
        let top = self.top();
        let t = match self.trial(top, Phase::Probe)? {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(Ok(None)),
            Err(stopped) => return Ok(Err(stopped)),
        };
        Ok(Ok(match t.failed_by {
            None => None,
            Some(_) => Some(t.capacity_measured().unwrap_or(t.run.actual_rate).min(top / BRACKET_STEP)),
        }))
    }

    /// Step from `hint` until a pass and a failure are both seen (or the
    /// range ends).
    fn bracket(&mut self, hint: f64) -> Step<()> {
        let spec = self.spec;
        let mut rate = candidate(hint, spec);
        let mut down = 1.0 / BRACKET_STEP;
        let mut first: Option<bool> = None;
        loop {
            let t = match self.trial(rate, Phase::Bracket)? {
                Ok(Some(t)) => t,
                Ok(None) => return Ok(Ok(())),
                Err(stopped) => return Ok(Err(stopped)),
            };
            if first.is_some_and(|f| f != t.passed) {
                return Ok(Ok(()));
            }
            first = Some(t.passed);
            let next = if t.passed {
                candidate(rate * BRACKET_STEP, spec)
            } else {
                let next = candidate(rate * down, spec);
                down *= down;
                next
            };
            if next == rate || next >= spec.high {
                return Ok(Ok(()));
            }
            rate = next;
        }
    }

    /// Trials where the answer's estimate lies, until the spread is narrow,
    /// `high` holds, or the budget is spent.
    fn refine(&mut self) -> Step<()> {
        let spec = self.spec;
        loop {
            let now = estimate(&self.curve(), spec);
            let at_high = self.current().filter(|t| t.run.target_rate == spec.high).count();
            if now.answer >= spec.high && at_high >= TRIALS_AT_HIGH {
                return Ok(Ok(()));
            }
            let (reported, limited_by) = self.reported(now);
            let spread = reported.spread;
            let narrow = spread.max - spread.min <= spec.precision.max(SPREAD_TOLERANCE * spread.min);
            if self.current().count() >= MIN_TRIALS && narrow && now.answer > 0.0 {
                return Ok(Ok(()));
            }
            // Failing at low is settled once low failed most of a few times.
            let at_low: Vec<bool> =
                self.current().filter(|t| t.run.target_rate == spec.low).map(|t| t.passed).collect();
            if at_low.len() >= 3 && at_low.iter().filter(|p| !**p).count() * 2 > at_low.len() {
                return Ok(Ok(()));
            }
            // Where the producers limit, a trial above their reach measures
            // it (what they reached is a capacity the curve learns from),
            // where a pass under it says only "at least". Every other trial
            // goes there, so that the reach is sampled over the whole
            // search: a slow spell early on (28M/s calibrated here, against
            // 34M/s a minute later) is then one sample among many, not the
            // last word. The others check the estimate, paced.
            let after_a_check = self.current().last().is_some_and(|t| t.failed_by != Some(Limit::Producer));
            let (target, phase) = if limited_by == Limit::Producer && after_a_check {
                (self.highest_offered(), Phase::Reach)
            // While the spread still reaches `high` below an answer that
            // does not, its top is where a failure tells most (a lone
            // failure there may be a lapse). While it reaches well above a
            // rate that failed, the curve holds that failure for a lapse:
            // that rate again tells whether it was one. Otherwise the median.
            } else if now.spread.max >= spec.high && now.answer < spec.high {
                (now.spread.max, Phase::Refine)
            } else {
                (self.doubted_failure(now.median, now.spread.max).unwrap_or(now.median), Phase::Refine)
            };
            let rate = candidate(target.min(self.highest_offered()), spec);
            match self.trial(rate, phase)? {
                Ok(Some(_)) => {}
                Ok(None) => return Ok(Ok(())),
                Err(stopped) => return Ok(Err(stopped)),
            }
        }
    }

    /// Probe, bracket, refine; again from the probe after a restart. False
    /// when interrupted.
    fn all(&mut self) -> anyhow::Result<bool> {
        loop {
            let done = match self.probe()? {
                Ok(None) => self.refine()?,
                Ok(Some(hint)) => match self.bracket(hint)? {
                    Ok(()) => self.refine()?,
                    Err(stopped) => Err(stopped),
                },
                Err(stopped) => Err(stopped),
            };
            match done {
                Ok(()) => return Ok(true),
                Err(Stopped::Interrupted) => return Ok(false),
                Err(Stopped::Restart) => self.restart(),
            }
        }
    }
}

/// [`super::search`] with trials run by `run`.
pub fn search_with<'a>(
    spec: &SearchSpec,
    stop: &AtomicBool,
    run: &mut TrialRunner<'a>,
) -> anyhow::Result<SearchResult> {
    validate(spec)?;
    let progress = Progress::new(None);
    let mut budget = Budget { started: Instant::now(), spent: Duration::ZERO, overhead: RUN_OVERHEAD, runs: 0 };
    let calibration = {
        let mut timed = |config: &RunConfig, stop: &AtomicBool| {
            let started = Instant::now();
            let result = run(config, stop);
            budget.charge(config, started.elapsed());
            result
        };
        calibrate(spec, stop, &mut timed, &progress)?
    };
    let Some(calibration) = calibration else {
        return Ok(interrupted_before_trials(spec, &spec.workload, budget.started));
    };
    if spec.batch_source == BatchSource::Calibrated {
        log::info!(
            "batch {} chosen for the whole search: the producers offer {} there (second highest of {} probes)",
            calibration.batch,
            format_rate(calibration.offered_per_s),
            super::calibrate::PROBES
        );
    }
    let workload = RunConfig { batch: calibration.batch, ..spec.workload.clone() };
    let mut s = Searcher {
        spec,
        stop,
        run,
        progress,
        budget,
        calibration,
        workload,
        trials: Vec::new(),
        stray_failures: 0,
        restarts: 0,
        learned: std::cell::RefCell::new((Vec::new(), PassCurve::new(spec.low, spec.high, spec.pass_probability))),
    };
    let completed = s.all()?;
    Ok(result(s, completed))
}

/// Nothing measured: nothing claimed. Also the frame every result fills
/// in: what was asked, with `workload` as run.
fn interrupted_before_trials(spec: &SearchSpec, workload: &RunConfig, started: Instant) -> SearchResult {
    let found = estimate(&PassCurve::new(spec.low, spec.high, spec.pass_probability), spec);
    SearchResult {
        max_sustainable_rate: 0.0,
        limited_by: Limit::High,
        confirmed: false,
        statement: statement(spec.pass_probability, spec.confidence),
        pass_probability: spec.pass_probability,
        confidence: spec.confidence,
        spread: found.spread,
        estimate: 0.0,
        noise: f64::NAN,
        noisy_host: false,
        stray_failures: 0,
        low: spec.low,
        high: spec.high,
        precision: spec.precision,
        max_drop_rate: spec.max_drop_rate,
        event_size: workload.event_size(),
        batch: workload.batch,
        batch_source: spec.batch_source,
        requested_batch: (spec.batch_source == BatchSource::Requested).then_some(spec.workload.batch),
        calibration: None,
        restarts: 0,
        producers: workload.producers,
        ringbuf_size: workload.ringbuf_size,
        wakeup: workload.wakeup,
        step_duration_s: spec.step().as_secs_f64(),
        time_budget_s: spec.time_budget.as_secs_f64(),
        elapsed_s: started.elapsed().as_secs_f64(),
        advice: None,
        peak_occupancy_bytes: None,
        kernel_ns_per_event: None,
        consumer_ns_per_event: None,
        trials: Vec::new(),
        interrupted: true,
    }
}

fn result(s: Searcher, completed: bool) -> SearchResult {
    let spec = s.spec;
    let interrupted = !completed || s.stop.load(Ordering::Relaxed);
    let (found, limited_by) = s.reported(estimate(&s.curve(), spec));
    let answer = found.answer;
    let w = &s.workload;
    let current: Vec<Trial> = s.current().cloned().collect();
    let advice = if limited_by == Limit::Producer {
        let peak = current.iter().map(|t| t.run.actual_rate).fold(s.calibration.offered_per_s, f64::max);
        let fixed = spec.batch_source == BatchSource::Requested;
        Some(offered_load::advice(spec.high, peak, w.batch, w.producers, fixed))
    } else if !interrupted && limited_by != Limit::High && found.spread.relative_width() > SETTLED {
        Some(crate::words!(
            format!(
                "this host was too noisy to state the answer within {:.0}% in {:.0} s (trials moved {:.1}% from one to the next): \
                 a longer ",
                SETTLED * 100.0,
                spec.time_budget.as_secs_f64(),
                found.noise * 100.0,
            ),
            Setting::TimeBudget,
            ", an idle host, or CPUs kept for the producers and the consumer would help",
        ))
    } else {
        None
    };
    let at_answer = current
        .iter()
        .filter(|t| t.passed && t.run.target_rate <= answer)
        .map(|t| &t.run)
        .max_by(|a, b| a.target_rate.total_cmp(&b.target_rate));
    SearchResult {
        max_sustainable_rate: answer,
        limited_by,
        confirmed: !interrupted && answer >= spec.low,
        spread: found.spread,
        estimate: found.median,
        noise: found.noise,
        noisy_host: found.noisy_host,
        stray_failures: s.stray_failures,
        advice,
        peak_occupancy_bytes: at_answer.map(|r| r.peak_occupancy_bytes),
        kernel_ns_per_event: at_answer.and_then(|r| r.kernel_ns_per_event),
        consumer_ns_per_event: at_answer.and_then(|r| r.consumer_ns_per_event),
        restarts: s.restarts,
        interrupted,
        calibration: Some(s.calibration),
        trials: s.trials,
        ..interrupted_before_trials(spec, w, s.budget.started)
    }
}
