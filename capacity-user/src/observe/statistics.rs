//! What a sampled series says about a ring: rates and their peaks, the
//! backlog's distribution, time near full, the consumer's drain rate while
//! it had work, and its stalls. Pure arithmetic over the samples.
use hdrhistogram::Histogram;
use serde::Serialize;

use super::sampler::{Sample, Series};

/// Peak produced rates over sliding windows; null when the observation was
/// shorter than the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Peaks {
    #[serde(rename = "10ms")]
    pub ms10: Option<f64>,
    #[serde(rename = "100ms")]
    pub ms100: Option<f64>,
    #[serde(rename = "1s")]
    pub s1: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BacklogQuantiles {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// Stretches of at least `MIN_STALL_NS` where the consumer's position stood
/// still while records waited. `count`, `longest_ms` and `period_ms` are of
/// those at least half as long as the longest; `short_count` the others.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stalls {
    pub count: u64,
    pub short_count: u64,
    pub longest_ms: Option<f64>,
    /// The median time from one stall's start to the next one's.
    pub period_ms: Option<f64>,
}

/// The figures of one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub samples: u64,
    pub duration_s: f64,
    pub produced_bytes_per_s: f64,
    pub consumed_bytes_per_s: f64,
    pub peak_produced_bytes_per_s: Peaks,
    pub records_per_s: Option<f64>,
    /// Record bytes (header included) per record walked.
    pub mean_record_bytes: Option<f64>,
    pub largest_record_bytes: Option<u64>,
    pub backlog_bytes: BacklogQuantiles,
    pub time_above_half_s: f64,
    pub time_above_90pct_s: f64,
    pub near_full_events: u64,
    pub drain_bytes_per_s: Option<f64>,
    pub consumer_stalls: Stalls,
}

/// A stall shorter than this is scheduling noise, not a pause a replay needs.
pub const MIN_STALL_NS: u64 = 5_000_000;
/// The drain rate is judged over stretches of at least this long.
pub const DRAIN_CHUNK_NS: u64 = 10_000_000;

fn pending(s: &Sample) -> u64 {
    s.producer.saturating_sub(s.consumer)
}

/// Computes every figure. `record_bytes` is what one record takes when the
/// headers could not be walked (`--record-size`), for "within one record of
/// full".
pub fn figures(series: &Series, record_bytes: Option<u64>) -> Figures {
    let samples = &series.samples;
    let (first, last) = match (samples.first(), samples.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => {
            let zero = Sample { t_ns: 0, consumer: 0, producer: 0, records: 0 };
            (zero, zero)
        }
    };
    let seconds = (last.t_ns - first.t_ns) as f64 / 1e9;
    let per_s = |bytes: u64| if seconds > 0.0 { bytes as f64 / seconds } else { 0.0 };
    let produced = last.producer - first.producer;
    let walked = series.walked && last.records > 0;
    let largest = walked.then_some(series.largest_record_bytes);
    let near_record = largest.or(record_bytes).unwrap_or(8).max(8);
    Figures {
        samples: samples.len() as u64,
        duration_s: seconds,
        produced_bytes_per_s: per_s(produced),
        consumed_bytes_per_s: per_s(last.consumer - first.consumer),
        peak_produced_bytes_per_s: Peaks {
            ms10: peak_rate(samples, 10_000_000),
            ms100: peak_rate(samples, 100_000_000),
            s1: peak_rate(samples, 1_000_000_000),
        },
        records_per_s: (series.walked && seconds > 0.0).then(|| last.records as f64 / seconds),
        mean_record_bytes: walked.then(|| produced as f64 / last.records as f64),
        largest_record_bytes: largest,
        backlog_bytes: backlog_quantiles(samples, series.size),
        time_above_half_s: time_above(samples, series.size / 2),
        time_above_90pct_s: time_above(samples, series.size * 9 / 10),
        near_full_events: near_full_events(samples, series.size, near_record),
        drain_bytes_per_s: drain_rate(samples),
        consumer_stalls: stalls(samples),
    }
}

/// The highest produced rate over any window of at least `window_ns`
/// between two samples.
fn peak_rate(samples: &[Sample], window_ns: u64) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut j = 0;
    for (i, a) in samples.iter().enumerate() {
        j = j.max(i + 1);
        while j < samples.len() && samples[j].t_ns - a.t_ns < window_ns {
            j += 1;
        }
        let Some(b) = samples.get(j) else { break };
        let rate = (b.producer - a.producer) as f64 / ((b.t_ns - a.t_ns) as f64 / 1e9);
        best = Some(best.map_or(rate, |r: f64| r.max(rate)));
    }
    best
}

fn backlog_quantiles(samples: &[Sample], size: u64) -> BacklogQuantiles {
    // A backlog is at most the ring's size; twice that leaves room for a
    // producer that moved between the two position reads.
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, size.saturating_mul(2).max(2), 3).expect("valid histogram bounds");
    for s in samples {
        histogram.saturating_record(pending(s));
    }
    if histogram.is_empty() {
        return BacklogQuantiles { p50: 0, p99: 0, max: 0 };
    }
    // A bucket's lowest value (within 0.1% at 3 significant figures), so an
    // empty ring reads 0; the max is exact.
    let at = |q: f64| histogram.lowest_equivalent(histogram.value_at_quantile(q));
    BacklogQuantiles { p50: at(0.5), p99: at(0.99), max: samples.iter().map(pending).max().unwrap_or(0) }
}

/// Seconds the backlog was above `bytes`: each interval counts by the
/// backlog at its start.
fn time_above(samples: &[Sample], bytes: u64) -> f64 {
    let ns: u64 = samples.windows(2).filter(|w| pending(&w[0]) > bytes).map(|w| w[1].t_ns - w[0].t_ns).sum();
    ns as f64 / 1e9
}

/// How many times the ring went from having room to being full or within
/// one record of full.
fn near_full_events(samples: &[Sample], size: u64, record_bytes: u64) -> u64 {
    let mut events = 0;
    let mut near = false;
    for s in samples {
        let now = pending(s) + record_bytes >= size;
        if now && !near {
            events += 1;
        }
        near = now;
    }
    events
}

/// What the consumer takes per second while it has work: over the
/// intervals where it moved and took less than was waiting at their start
/// (so records that waited at the start still waited at the end: it never
/// ran dry in between), cut into stretches of at least 10 ms, the 90th
/// percentile of the stretches' rates: the most it took, short of timing
/// noise (a stretch where the host ran it late takes less). Null when it
/// never fell behind.
fn drain_rate(samples: &[Sample]) -> Option<f64> {
    let mut rates = Vec::new();
    let (mut bytes, mut ns) = (0u64, 0u64);
    let (mut all_bytes, mut all_ns) = (0u64, 0u64);
    for w in samples.windows(2) {
        let taken = w[1].consumer - w[0].consumer;
        // Records waiting at the start were still waiting at the end: it
        // never ran out of work in between. (Taking exactly what waited, as a
        // consumer that keeps up does burst after burst, is not enough.)
        let busy = taken > 0 && pending(&w[0]) > taken;
        if !busy {
            (bytes, ns) = (0, 0);
            continue;
        }
        let dt = w[1].t_ns - w[0].t_ns;
        bytes += taken;
        ns += dt;
        all_bytes += taken;
        all_ns += dt;
        if ns >= DRAIN_CHUNK_NS {
            rates.push(bytes as f64 / (ns as f64 / 1e9));
            (bytes, ns) = (0, 0);
        }
    }
    if rates.is_empty() {
        return (all_ns > 0).then(|| all_bytes as f64 / (all_ns as f64 / 1e9));
    }
    rates.sort_by(f64::total_cmp);
    Some(rates[(rates.len() * 9 / 10).min(rates.len() - 1)])
}

fn stalls(samples: &[Sample]) -> Stalls {
    // (start, length) of each stretch of intervals where the consumer stood
    // still with records waiting.
    let mut found: Vec<(u64, u64)> = Vec::new();
    let mut current: Option<(u64, u64)> = None;
    for w in samples.windows(2) {
        let still = w[1].consumer == w[0].consumer && pending(&w[0]) > 0;
        if still {
            let (start, _) = current.get_or_insert((w[0].t_ns, 0));
            current = Some((*start, w[1].t_ns - *start));
        } else if let Some(stall) = current.take() {
            found.push(stall);
        }
    }
    found.extend(current);
    found.retain(|(_, length)| *length >= MIN_STALL_NS);
    // The pauses that shape the backlog: at least half the longest. The
    // shorter ones beside them (a consumer the host ran late) would make
    // the period meaningless.
    let longest = found.iter().map(|(_, l)| *l).max().unwrap_or(0);
    let short = found.iter().filter(|(_, l)| *l < longest / 2).count() as u64;
    found.retain(|(_, l)| *l >= longest / 2);
    let mut gaps: Vec<u64> = found.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    Stalls {
        count: found.len() as u64,
        short_count: short,
        longest_ms: (longest > 0).then(|| longest as f64 / 1e6),
        period_ms: gaps.get(gaps.len() / 2).map(|g| *g as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A ring of 64 KiB: a producer at 64 B per ms (64 kB/s); a consumer
    /// that keeps up except for a 20 ms stall every 100 ms, after which it
    /// drains 640 B per ms.
    fn series() -> Series {
        let mut samples = Vec::new();
        let (mut producer, mut consumer) = (0u64, 0u64);
        for ms in 0..=1000u64 {
            samples.push(Sample { t_ns: ms * MS, consumer, producer, records: producer / 64 });
            producer += 64;
            let in_stall = ms % 100 < 20;
            if !in_stall {
                consumer = (consumer + 640).min(producer);
            }
        }
        Series { size: 64 * 1024, samples, walked: true, largest_record_bytes: 64 }
    }

    #[test]
    fn rates_backlog_drain_and_stalls_follow_the_arithmetic() {
        let f = figures(&series(), None);
        assert_eq!(f.samples, 1001);
        assert!((f.produced_bytes_per_s - 64_000.0).abs() < 1.0, "{f:?}");
        assert_eq!(f.records_per_s, Some(1000.0));
        assert_eq!(f.mean_record_bytes, Some(64.0));
        assert_eq!(f.peak_produced_bytes_per_s.ms10, Some(64_000.0));
        assert_eq!(f.peak_produced_bytes_per_s.s1, Some(64_000.0));
        // 20 ms of stall: 20 records of 64 B waiting at its end.
        assert_eq!(f.backlog_bytes.max, 20 * 64);
        // Caught up at most readings; the 1% highest are the ends of stalls.
        assert_eq!(f.backlog_bytes.p50, 0);
        assert_eq!(f.backlog_bytes.p99, 19 * 64, "{f:?}");
        // Behind for two intervals after each stall, taking 640 B per ms.
        assert_eq!(f.drain_bytes_per_s, Some(640_000.0), "{f:?}");
        assert_eq!(f.consumer_stalls.count, 10);
        assert_eq!(f.consumer_stalls.period_ms, Some(100.0));
        assert!(f.consumer_stalls.longest_ms.unwrap() >= 19.0, "{f:?}");
        assert_eq!(f.near_full_events, 0);
        assert_eq!(f.time_above_half_s, 0.0);
    }

    #[test]
    fn drain_rate_is_what_the_consumer_takes_while_behind() {
        // 100 KB waiting, producer idle, consumer takes 1000 B per ms.
        let samples: Vec<Sample> = (0..100u64)
            .map(|ms| Sample { t_ns: ms * MS, consumer: ms * 1000, producer: 100_000, records: 0 })
            .collect();
        let series = Series { size: 128 * 1024, samples, walked: false, largest_record_bytes: 0 };
        let f = figures(&series, Some(100));
        assert_eq!(f.drain_bytes_per_s, Some(1_000_000.0));
        assert_eq!(f.records_per_s, None);
        assert_eq!(f.consumer_stalls.count, 0);
        assert_eq!(f.backlog_bytes.max, 100_000);
        // Above half (65536 B) while pending > 65536: the first 34 intervals.
        assert!((f.time_above_half_s - 0.035).abs() < 1e-9, "{}", f.time_above_half_s);
        assert_eq!(f.near_full_events, 0);
    }

    #[test]
    fn short_stalls_beside_long_ones_leave_the_period_alone() {
        let still = |ms: u64| {
            (100..150).contains(&ms) || (300..306).contains(&ms) || (500..550).contains(&ms) || (900..950).contains(&ms)
        };
        let (mut consumer, mut samples) = (0u64, Vec::new());
        for ms in 0..1000u64 {
            // Always 640 B waiting; the consumer takes 64 B a ms unless still.
            samples.push(Sample { t_ns: ms * MS, consumer, producer: consumer + 640, records: 0 });
            if !still(ms) {
                consumer += 64;
            }
        }
        let series = Series { size: 65536, samples, walked: false, largest_record_bytes: 0 };
        let stalls = figures(&series, Some(64)).consumer_stalls;
        assert_eq!((stalls.count, stalls.short_count), (3, 1), "{stalls:?}");
        assert_eq!(stalls.period_ms, Some(400.0));
        assert_eq!(stalls.longest_ms, Some(50.0));
    }

    #[test]
    fn a_full_ring_counts_once_per_visit() {
        let at = |t: u64, consumer: u64, producer: u64| Sample { t_ns: t * MS, consumer, producer, records: 0 };
        let samples =
            vec![at(0, 0, 0), at(1, 0, 4000), at(2, 0, 4090), at(3, 0, 4096), at(4, 3096, 4096), at(5, 3096, 7192)];
        let series = Series { size: 4096, samples, walked: false, largest_record_bytes: 0 };
        assert_eq!(figures(&series, Some(64)).near_full_events, 2);
    }
}
