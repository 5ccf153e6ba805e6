//! The measured minimum ring: a binary search over power-of-two ring sizes
//! (for perf buffers, each CPU's data bytes: a power of two of pages) for
//! the smallest one whose runs of a workload keep the drop rate at or
//! under a threshold, with the rate search's discipline (warm-up in every
//! run, trials long enough to see the workload's worst moment and enough
//! events, and the answer confirmed by runs in a row).
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use serde::Serialize;

use super::rate::{self, Limit, MAX_TRIAL};

/// Consecutive passes at the answer that confirm it.
const CONFIRM_PASSES: usize = 3;
/// Confirmation runs, in all, before giving up on confirming an answer.
const MAX_CONFIRMATION_RUNS: usize = 12;
use capacity_common::{record_bytes, MAX_RING_BYTES};

use crate::{
    layout::{perf_record_bytes, Layout, MAX_PERF_PAGES},
    memory::{layout_cost::layout_cost, model::Model, ring_size::RingFormula},
    output::{key_values, Report, Table},
    progress::Progress,
    refuse,
    run::{run_fixed_rate, RunConfig, RunResult},
    settings::{Setting, SettingError},
    sys::page_size,
    units::{format_bytes, format_rate},
};

/// The largest size tried unless told (`--max`).
pub const DEFAULT_MAX: &str = "64M";

#[derive(Debug, Clone)]
pub struct SizeSpec {
    /// Smallest ring tried (a power of two, at least one page); for perf,
    /// each CPU's buffer's data bytes.
    pub min: u64,
    /// Largest ring tried (perf: each CPU's buffer's data bytes).
    pub max: u64,
    pub max_drop_rate: f64,
    pub step_duration: Duration,
    /// Seconds of events the lab's formula buffers (for `lab_bytes` and
    /// `recommended_bytes`, reported beside the answer).
    pub buffer_seconds: f64,
    /// The workload; its ring size and duration are set per trial.
    pub workload: RunConfig,
}

/// Why no ring up to `--max` holds the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SizeLimit {
    /// Drops at every size: the consumer is too slow on average.
    Consumer,
    /// The producers could not generate the rate: no size can be judged.
    Producer,
}

impl std::fmt::Display for SizeLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::output::serde_name(self))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeTrial {
    pub passed: bool,
    /// Why it failed (`drops` or `producer`), null when it passed.
    pub failed_by: Option<Limit>,
    /// A re-run of the answer, not a bisection step.
    pub confirmation: bool,
    /// The run itself, its fields inline in the JSON: `ringbuf_size`,
    /// `drop_rate`, `peak_occupancy_bytes`, the rates, the counts and the
    /// rest of `capacity load`'s result.
    #[serde(flatten)]
    pub run: RunResult,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeResult {
    /// The layout searched (`--layout`): its rings' size, or its perf buffers'.
    pub layout: Layout,
    /// The smallest ring that held the workload (perf: each CPU's buffer's
    /// data bytes); null when none up to `max` did.
    pub min_ringbuf_size: Option<u64>,
    /// Perf: the answer's data pages per CPU; null for rings or no answer.
    pub min_perf_pages: Option<u32>,
    /// The answer passed `CONFIRM_PASSES` runs in a row after the search.
    pub confirmed: bool,
    /// Highest occupancy over the answer's runs.
    pub peak_occupancy_bytes: Option<u64>,
    /// What the answer's whole layout costs (`estimate ringbuf --layout`'s
    /// `total_bytes`): the ring's memlock for `shared`; every ring's and the
    /// array of maps' for per-cpu; for perf, every CPU's mapped buffer (not
    /// map memory) and the perf event array's memlock.
    pub memlock_bytes: Option<u64>,
    /// The lab's formula: next_power_of_two(rate × event_size × seconds × 1.2).
    pub lab_bytes: u64,
    /// Null when the formula's ring is beyond the kernel's largest (2 GiB).
    pub lab_memlock_bytes: Option<u64>,
    /// The formula with real record sizes: next_power_of_two(rate × record × seconds × 1.2).
    pub recommended_bytes: u64,
    pub recommended_memlock_bytes: Option<u64>,
    /// The memory figures are the kernel's own to the byte.
    pub memlock_exact: bool,
    /// Null when an answer was found.
    pub limited_by: Option<SizeLimit>,
    pub rate: f64,
    pub event_size: u32,
    pub record_bytes: u64,
    /// The size mix, null for one size.
    pub event_size_mix: Option<String>,
    pub mean_record_bytes: f64,
    pub buffer_seconds: f64,
    pub min: u64,
    pub max: u64,
    pub max_drop_rate: f64,
    pub trials: Vec<SizeTrial>,
    pub interrupted: bool,
}

/// A ring search whose settings passed [`validate`]: the only kind [`size`]
/// runs, so they are checked once, before the caller prepares anything.
#[derive(Debug, Clone, Copy)]
pub struct Valid<'a>(&'a SizeSpec);

impl std::ops::Deref for Valid<'_> {
    type Target = SizeSpec;

    fn deref(&self) -> &SizeSpec {
        self.0
    }
}

/// Every bad setting of a ring search, before anything touches the kernel:
/// what is wrong with which setting, for the caller to word.
pub fn validate(spec: &SizeSpec) -> Result<Valid<'_>, SettingError> {
    let page = page_size();
    for (setting, size) in [(Setting::SmallestRing, spec.min), (Setting::LargestRing, spec.max)] {
        if !size.is_power_of_two() || size < page {
            let why = format!(
                " {size} must be a power of two of at least one page ({page}): try {}",
                size.next_power_of_two().max(page)
            );
            return Err(refuse!(setting; setting, why));
        }
    }
    if spec.max > MAX_RING_BYTES {
        let why = format!(" {} is larger than the kernel allows (2G)", format_bytes(spec.max));
        return Err(refuse!(Setting::LargestRing; Setting::LargestRing, why));
    }
    let largest_perf = u64::from(MAX_PERF_PAGES) * page;
    if spec.workload.layout == Layout::Perf && spec.max > largest_perf {
        let why = format!(
            " {} is more than the largest perf buffer searched ({MAX_PERF_PAGES} pages, {}): lower it",
            format_bytes(spec.max),
            format_bytes(largest_perf)
        );
        return Err(refuse!(Setting::LargestRing; Setting::LargestRing, why));
    }
    let largest_event = spec.workload.event_sizes.largest();
    let perf_record = perf_record_bytes(largest_event.into());
    if spec.workload.layout == Layout::Perf && perf_record > spec.max {
        let why = format!(
            " {} cannot hold one event of {largest_event} bytes ({perf_record} in a perf buffer): raise it",
            spec.max
        );
        return Err(refuse!(Setting::LargestRing; Setting::LargestRing, why));
    }
    if spec.min > spec.max {
        return Err(refuse!(Setting::SmallestRing;
            Setting::SmallestRing,
            format!(" {} is above ", format_bytes(spec.min)),
            Setting::LargestRing,
            format!(" {}", format_bytes(spec.max)),
        ));
    }
    if !(0.0..1.0).contains(&spec.max_drop_rate) {
        return Err(refuse!(Setting::MaxDropRate;
            Setting::MaxDropRate,
            " must be at least 0 and below 1 (e.g. 0 for no drops, 0.001 for 0.1%)",
        ));
    }
    if !(spec.buffer_seconds.is_finite() && spec.buffer_seconds > 0.0) {
        return Err(refuse!(Setting::BufferSeconds; Setting::BufferSeconds, " must be positive"));
    }
    if spec.workload.rate.is_infinite() {
        return Err(refuse!(Setting::Rate;
            "size needs a paced ",
            Setting::Rate,
            ": a ring for an unpaced producer has no answer",
        ));
    }
    trial_config(spec, spec.max, spec.workload.duration).validate()?;
    Ok(Valid(spec))
}

/// The smallest ring to try: `min`, raised to hold the largest record (for
/// perf, the largest sample and its headers).
pub fn first_size(spec: &SizeSpec) -> u64 {
    match spec.workload.layout {
        Layout::Perf => perf_record_bytes(spec.workload.event_sizes.largest().into()).next_power_of_two().max(spec.min),
        _ => RingFormula::of(&spec.workload.event_sizes).smallest_bytes(spec.min),
    }
}

/// The workload of a trial at `size`: rings of `size` bytes, or perf
/// buffers of `size` data bytes per CPU (`perf_pages` = size / page size;
/// the run's `ringbuf_size` then reports the same bytes).
pub fn trial_config(spec: &SizeSpec, size: u64, duration: Duration) -> RunConfig {
    let mut config = RunConfig { ringbuf_size: size, duration, ..spec.workload.clone() };
    if config.layout == Layout::Perf {
        config.perf_pages = perf_pages(size);
    }
    config
}

/// Data pages of a perf buffer of `bytes` per CPU (0 when below one page).
fn perf_pages(bytes: u64) -> u32 {
    u32::try_from(bytes / page_size()).unwrap_or(u32::MAX)
}

/// The lab's ring and the recommended one for the workload: (lab,
/// recommended). Not capped at the kernel's largest ring: a formula that
/// asks for more is a finding, not a reason to refuse the measurement.
fn formulas(spec: &SizeSpec, model: &Model) -> (u64, u64) {
    let (w, seconds) = (&spec.workload, spec.buffer_seconds);
    let formula = RingFormula::of(&w.event_sizes);
    (formula.lab_bytes(w.rate, seconds), formula.recommended_bytes(w.rate, seconds, model.host.page_size))
}

/// How long a trial runs: the step duration, longer when a trial must see
/// the workload's worst moment (the first consumer stall starts one period
/// into the run; the trial covers it and as long again to drain; a burst or
/// a profile is seen whole in one period of its shape), or enough events to
/// bound a non-zero drop threshold (capped like search's trials).
pub fn trial_duration(spec: &SizeSpec) -> Duration {
    let w = &spec.workload;
    let mut duration = spec.step_duration;
    if let Some(period) = w.arrivals.period() {
        duration = duration.max(period);
    }
    if let Some(stall) = w.consumer.stall {
        duration = duration.max(stall.every + stall.pause * 2);
    }
    if spec.max_drop_rate > 0.0 {
        let needed = Duration::from_secs_f64(rate::min_events(spec.max_drop_rate) / w.rate);
        duration = duration.max(needed.min(MAX_TRIAL));
    }
    duration
}

/// The power-of-two sizes from `lo` to `hi`, both included.
pub fn sizes(lo: u64, hi: u64) -> Vec<u64> {
    std::iter::successors(Some(lo), |s| s.checked_mul(2)).take_while(|s| *s <= hi).collect()
}

struct Sizer<'a> {
    spec: &'a SizeSpec,
    duration: Duration,
    stop: &'a AtomicBool,
    progress: &'a Progress,
    /// Put before each progress line (compare's layout), or empty.
    label: &'a str,
    trials: Vec<SizeTrial>,
}

impl Sizer<'_> {
    /// Run one trial; None when interrupted.
    fn trial(&mut self, size: u64, confirmation: bool) -> anyhow::Result<Option<bool>> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        self.progress.running(format!(
            "{}trial with {} for {:.1} s",
            self.label,
            describe(self.spec.workload.layout, size),
            self.duration.as_secs_f64()
        ));
        let config = trial_config(self.spec, size, self.duration);
        let result: RunResult = run_fixed_rate(&config, self.stop)?;
        if result.interrupted {
            return Ok(None);
        }
        let failed_by = rate::judge(&result, self.spec.max_drop_rate);
        self.progress.finished(format!(
            "{}{} {}: drops {:.4}%, peak {}, actual {}{}",
            self.label,
            if confirmation { "confirm" } else { "trial  " },
            describe(self.spec.workload.layout, size),
            result.drop_rate * 100.0,
            format_bytes(result.peak_occupancy_bytes),
            format_rate(result.actual_rate),
            match failed_by {
                None => " -> pass".to_string(),
                Some(l) => format!(" -> fail ({l})"),
            }
        ));
        self.trials.push(SizeTrial { passed: failed_by.is_none(), failed_by, confirmation, run: result });
        Ok(Some(failed_by.is_none()))
    }

    fn limit_at(&self, size: u64) -> SizeLimit {
        match self.trials.iter().rev().find(|t| t.run.ringbuf_size == size && !t.passed).and_then(|t| t.failed_by) {
            Some(Limit::Producer) => SizeLimit::Producer,
            _ => SizeLimit::Consumer,
        }
    }
}

/// A ring of `size` bytes, or a perf buffer of as many data bytes, in words.
fn describe(layout: Layout, size: u64) -> String {
    match layout {
        Layout::Perf => format!("{} pages ({})", perf_pages(size), format_bytes(size)),
        _ => format!("a {} ring", format_bytes(size)),
    }
}

/// Binary search over the power-of-two sizes from `min` to `max`, with its
/// own progress spinner.
pub fn size(spec: Valid<'_>, model: &Model, stop: &AtomicBool) -> anyhow::Result<SizeResult> {
    size_within(spec, model, stop, &Progress::new(None), "")
}

/// [`size`] reporting on the caller's `progress`, each line after `label`
/// (`capacity compare` runs one search per layout under one spinner).
pub fn size_within(
    spec: Valid<'_>,
    model: &Model,
    stop: &AtomicBool,
    progress: &Progress,
    label: &str,
) -> anyhow::Result<SizeResult> {
    let spec = spec.0;
    let w = &spec.workload;
    let (lab_bytes, recommended_bytes) = formulas(spec, model);
    let candidates = sizes(first_size(spec), spec.max);
    let mut s = Sizer { spec, duration: trial_duration(spec), stop, progress, label, trials: Vec::new() };
    let mut interrupted = false;
    let mut answer: Option<usize> = None;
    let mut limited_by = None;

    // The largest ring first: if it drops, no size holds the workload.
    let (mut lo, mut hi) = (0usize, candidates.len() - 1);
    match s.trial(candidates[hi], false)? {
        None => interrupted = true,
        Some(false) => limited_by = Some(s.limit_at(candidates[hi])),
        Some(true) if hi == 0 => answer = Some(0),
        Some(true) => match s.trial(candidates[lo], false)? {
            None => interrupted = true,
            Some(true) => answer = Some(lo),
            Some(false) => {
                // Invariant: candidates[lo] fails, candidates[hi] holds.
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2;
                    match s.trial(candidates[mid], false)? {
                        None => {
                            interrupted = true;
                            break;
                        }
                        Some(true) => hi = mid,
                        Some(false) => lo = mid,
                    }
                }
                answer = Some(hi);
            }
        },
    }

    // Confirm: the answer must hold CONFIRM_PASSES times in a row; a
    // failure doubles it and starts the count again.
    let mut confirmed = false;
    let mut passes = 0;
    if !interrupted {
        for _ in 0..MAX_CONFIRMATION_RUNS {
            let Some(index) = answer else { break };
            match s.trial(candidates[index], true)? {
                None => {
                    interrupted = true;
                    break;
                }
                Some(true) => {
                    passes += 1;
                    if passes == CONFIRM_PASSES {
                        confirmed = true;
                        break;
                    }
                }
                Some(false) => {
                    passes = 0;
                    if index + 1 < candidates.len() {
                        answer = Some(index + 1);
                    } else {
                        limited_by = Some(s.limit_at(candidates[index]));
                        answer = None;
                    }
                }
            }
        }
    }
    let min_ringbuf_size = answer.map(|i| candidates[i]);
    let at_answer = || s.trials.iter().filter(move |t| Some(t.run.ringbuf_size) == min_ringbuf_size);
    let peak_occupancy_bytes = min_ringbuf_size.and_then(|_| at_answer().map(|t| t.run.peak_occupancy_bytes).max());
    let pages = |size: u64| perf_pages(size).max(1);
    let answer_figure = min_ringbuf_size.map(|size| layout_cost(model, w.layout, size, pages(size))).transpose()?;
    let lab_figure = model.ring(lab_bytes.max(model.host.page_size)).ok();
    let recommended_figure = model.ring(recommended_bytes).ok();
    let memlock_exact = [&lab_figure, &recommended_figure].iter().all(|f| f.as_ref().is_none_or(|f| f.exact))
        && answer_figure.as_ref().is_none_or(|f| f.exact);
    Ok(SizeResult {
        layout: w.layout,
        min_ringbuf_size,
        min_perf_pages: min_ringbuf_size.filter(|_| w.layout == Layout::Perf).map(perf_pages),
        confirmed,
        peak_occupancy_bytes,
        memlock_bytes: answer_figure.map(|f| f.total_bytes),
        lab_bytes,
        lab_memlock_bytes: lab_figure.map(|f| f.bytes),
        recommended_bytes,
        recommended_memlock_bytes: recommended_figure.map(|f| f.bytes),
        memlock_exact,
        limited_by,
        rate: w.rate,
        event_size: w.event_size(),
        record_bytes: record_bytes(w.event_size().into()),
        event_size_mix: w.event_sizes.is_mix().then(|| w.event_sizes.to_string()),
        mean_record_bytes: w.mean_record_bytes(),
        buffer_seconds: spec.buffer_seconds,
        min: spec.min,
        max: spec.max,
        max_drop_rate: spec.max_drop_rate,
        trials: s.trials,
        interrupted: interrupted || stop.load(Ordering::Relaxed),
    })
}

fn memlock(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "beyond the kernel's 2 GiB limit".into(), format_bytes)
}

impl Report for SizeResult {
    fn human(&self) -> String {
        let perf = self.layout == Layout::Perf;
        let mut table =
            Table::new([if perf { "buffer per CPU" } else { "ring" }, "drops", "peak occupancy", "actual", "result"]);
        for t in &self.trials {
            table.row([
                match t.run.perf_pages {
                    Some(pages) => format!("{pages} pages ({})", format_bytes(t.run.ringbuf_size)),
                    None => format_bytes(t.run.ringbuf_size),
                },
                format!("{:.4}%", t.run.drop_rate * 100.0),
                format_bytes(t.run.peak_occupancy_bytes),
                format_rate(t.run.actual_rate),
                match (t.passed, t.confirmation) {
                    (true, false) => "pass".to_string(),
                    (true, true) => "pass (confirm)".to_string(),
                    (false, c) => format!(
                        "fail: {}{}",
                        t.failed_by.map(|l| l.to_string()).unwrap_or_default(),
                        if c { " (confirm)" } else { "" }
                    ),
                },
            ]);
        }
        let mut pairs = vec![(
            if perf { "smallest buffer" } else { "smallest ring" },
            match (self.min_ringbuf_size, self.limited_by) {
                (Some(size), _) if perf => format!(
                    "{} pages ({}) per CPU (layout memory {})",
                    self.min_perf_pages.unwrap_or_default(),
                    format_bytes(size),
                    format_bytes(self.memlock_bytes.unwrap_or_default())
                ),
                (Some(size), _) if self.layout != Layout::Shared => format!(
                    "{} per ring (layout memory {})",
                    format_bytes(size),
                    format_bytes(self.memlock_bytes.unwrap_or_default())
                ),
                (Some(size), _) => {
                    format!("{} (memlock {})", format_bytes(size), format_bytes(self.memlock_bytes.unwrap_or_default()))
                }
                (None, Some(limit)) => format!("none up to {}: limited by the {limit}", format_bytes(self.max)),
                (None, None) => "none (interrupted)".to_string(),
            },
        )];
        pairs.push(("confirmed", if self.confirmed { "yes".into() } else { "no".into() }));
        if let Some(p) = self.peak_occupancy_bytes {
            pairs.push(("peak occupancy", format_bytes(p)));
        }
        pairs.push((
            "lab formula",
            format!(
                "{} (memlock {}) for {} s of {} × {} B",
                format_bytes(self.lab_bytes),
                memlock(self.lab_memlock_bytes),
                self.buffer_seconds,
                format_rate(self.rate),
                self.event_size
            ),
        ));
        pairs.push((
            "recommended",
            format!(
                "{} (memlock {}) with {:.1} B records on average",
                format_bytes(self.recommended_bytes),
                memlock(self.recommended_memlock_bytes),
                self.mean_record_bytes
            ),
        ));
        if self.interrupted {
            pairs.push(("interrupted", "yes: partial result".into()));
        }
        format!("{}\n{}", table.render(), key_values(&pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{event_sizes::EventSizes, run::consumer::Stall};

    fn spec() -> SizeSpec {
        SizeSpec {
            min: 4096,
            max: 64 << 20,
            max_drop_rate: 0.0,
            step_duration: Duration::from_millis(500),
            buffer_seconds: 5.0,
            workload: RunConfig::default(),
        }
    }

    #[test]
    fn sizes_are_the_powers_of_two_between_the_bounds() {
        assert_eq!(sizes(4096, 32768), vec![4096, 8192, 16384, 32768]);
        assert_eq!(sizes(4096, 4096), vec![4096]);
        assert_eq!(sizes(4096, 64 << 20).len(), 15);
    }

    #[test]
    fn the_first_size_holds_one_record() {
        let mut s = spec();
        s.workload.event_sizes = EventSizes::Fixed(8000); // 8008-byte records need 8 KiB.
        assert_eq!(first_size(&s), 8192);
        assert_eq!(first_size(&spec()), 4096);
    }

    #[test]
    fn trials_cover_the_first_stall_and_its_drain() {
        assert_eq!(trial_duration(&spec()), Duration::from_millis(500));
        let mut s = spec();
        s.workload.consumer.stall = Some("50@1000".parse::<Stall>().unwrap());
        assert_eq!(trial_duration(&s), Duration::from_millis(1100));
        // A burst every 2 s: a trial sees one whole period.
        let mut s = spec();
        s.workload.arrivals = "burst:4x50ms/2s".parse().unwrap();
        assert_eq!(trial_duration(&s), Duration::from_secs(2));
        // A non-zero threshold needs 3/x events: 0.001 at 100k/s is 30 ms,
        // below the step; 1e-6 at 100k/s would be 30 s, capped there.
        assert_eq!(trial_duration(&SizeSpec { max_drop_rate: 0.001, ..spec() }), Duration::from_millis(500));
        assert_eq!(trial_duration(&SizeSpec { max_drop_rate: 1e-6, ..spec() }), MAX_TRIAL);
    }

    #[test]
    fn bad_bounds_are_refused() {
        let bad = |s: SizeSpec| validate(&s).unwrap_err().to_string();
        assert!(bad(SizeSpec { max: 5000, ..spec() }).contains("largest ring 5000 must be a power of two"));
        assert!(bad(SizeSpec { min: 1024, ..spec() }).contains("smallest ring 1024"));
        assert!(bad(SizeSpec { min: 1 << 20, max: 1 << 16, ..spec() }).contains("above largest ring"));
        assert!(bad(SizeSpec { max_drop_rate: 1.0, ..spec() }).contains("max drop rate"));
        assert!(bad(SizeSpec { max: 1 << 32, ..spec() }).contains("larger than the kernel allows"));
        assert!(validate(&spec()).is_ok());
    }

    fn perf() -> SizeSpec {
        let mut s = spec();
        s.workload.layout = Layout::Perf;
        s
    }

    #[test]
    fn perf_sizes_are_each_cpus_data_bytes_in_powers_of_two_of_pages() {
        // 64-byte events take 80 bytes (header, size, alignment): one page holds them.
        assert_eq!(first_size(&perf()), 4096);
        // 8192-byte events take 8208: three pages, so four.
        let mut s = perf();
        s.workload.event_sizes = EventSizes::Fixed(8192);
        assert_eq!(first_size(&s), 4 * 4096);
        let ladder = sizes(first_size(&s), 1 << 20);
        let pages: Vec<u32> = ladder.iter().map(|&b| trial_config(&s, b, Duration::from_secs(1)).perf_pages).collect();
        assert_eq!(pages, [4, 8, 16, 32, 64, 128, 256]);
        for (&bytes, config) in ladder.iter().zip(ladder.iter().map(|&b| trial_config(&s, b, Duration::from_secs(1)))) {
            assert_eq!(config.ringbuf_size, bytes, "the run reports the buffer's bytes");
            assert_eq!(u64::from(config.perf_pages) * 4096, bytes);
            assert!(config.validate().is_ok(), "{bytes}");
        }
        // Rings keep the workload's perf pages.
        assert_eq!(trial_config(&spec(), 1 << 20, Duration::from_secs(1)).perf_pages, spec().workload.perf_pages);
    }

    #[test]
    fn perf_bounds_are_refused_past_the_largest_buffer_or_below_one_event() {
        let bad = |s: SizeSpec| validate(&s).unwrap_err().to_string();
        assert!(validate(&perf()).is_ok(), "the default 64M is 16384 pages");
        assert!(validate(&SizeSpec { max: 256 << 20, ..perf() }).is_ok(), "65536 pages");
        assert!(bad(SizeSpec { max: 512 << 20, ..perf() }).contains("more than the largest perf buffer searched"));
        assert!(bad(SizeSpec { min: 2048, ..perf() }).contains("smallest ring 2048"));
        let mut s = SizeSpec { max: 8192, ..perf() };
        s.workload.event_sizes = EventSizes::Fixed(8192);
        assert!(bad(s).contains("cannot hold one event"));
    }

    #[test]
    fn the_answers_memory_is_the_whole_layouts() {
        let model = Model::new(
            Some(crate::kernel::KernelVersion::new(6, 18, 0)),
            None,
            crate::memory::host::Host { cpus: 4, page_size: 4096 },
        )
        .unwrap();
        let ring = model.ring(1 << 20).unwrap().bytes;
        let per_cpu = layout_cost(&model, Layout::PerCpus(1), 1 << 20, 1).unwrap();
        assert_eq!(per_cpu.total_bytes, 4 * ring + per_cpu.outer_map_bytes);
        let perf = layout_cost(&model, Layout::Perf, 1 << 20, perf_pages(1 << 20)).unwrap();
        assert_eq!(perf.total_bytes, 4 * 257 * 4096 + perf.outer_map_bytes);
    }

    #[test]
    fn formulas_follow_the_lab_and_the_record() {
        let model = Model::with(
            crate::kernel::KernelVersion::new(6, 18, 0),
            crate::memory::host::Host { cpus: 2, page_size: 4096 },
            crate::memory::model::Accounting::Footprint,
        );
        let mut s = spec();
        s.workload.rate = 200_000.0;
        // 200k × 64 × 6 = 76.8 MB and 200k × 72 × 6 = 86.4 MB: both 128 MiB.
        assert_eq!(formulas(&s, &model), (128 << 20, 128 << 20));
        // Beyond the kernel's 2 GiB: reported, not refused.
        s.workload.rate = 10e6;
        s.workload.event_sizes = EventSizes::Fixed(4096);
        assert_eq!(formulas(&s, &model), (1 << 38, 1 << 38));
        // A mix: its mean event for the lab, its mean record for the rest.
        s.workload.rate = 10_000.0;
        s.workload.event_sizes = "64:70,512:25,4096:5".parse().unwrap();
        assert_eq!(formulas(&s, &model), (32 << 20, 32 << 20));
    }

    #[test]
    fn limits_print_as_their_json_names() {
        for limit in [SizeLimit::Consumer, SizeLimit::Producer] {
            assert_eq!(serde_json::to_string(&limit).unwrap(), format!("\"{limit}\""));
        }
    }
}
