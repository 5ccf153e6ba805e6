//! The load generator: producer threads that fire triggers at a mean rate,
//! arriving as the run's arrival process says (`arrivals.rs`).
//!
//! Pacing is against absolute deadlines from one start instant: a producer
//! that falls behind catches up in bursts instead of drifting, and one that
//! is ahead sleeps (or spins, when the next deadline is too close to sleep).
use std::{
    ops::RangeInclusive,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use super::{
    arrivals::{Arrivals, Schedule},
    program::trigger,
};

/// Triggers issued back to back before the clock is read again.
const BURST: u64 = 64;
/// Below this, sleeping overshoots (timer slack); spin instead.
const MIN_SLEEP: Duration = Duration::from_micros(200);

/// Deadlines are whole nanoseconds (`Duration`, `Instant`): a producer
/// cannot be paced to more than one trigger per nanosecond.
pub const MAX_TRIGGERS_PER_SECOND: f64 = 1e9;

/// The events per second the generator can pace in a run of `duration`
/// with `batch` events per trigger and `producers` producers: from one
/// trigger per producer in the whole run (below that a producer fires
/// nothing) to one trigger per producer per nanosecond, and never more
/// events in the run than a u64 counts. Outside it, use unpaced (infinite).
pub fn paceable_rates(batch: u32, producers: u32, duration: Duration) -> RangeInclusive<f64> {
    let per_trigger = f64::from(batch) * f64::from(producers);
    let seconds = duration.as_secs_f64();
    let fastest = (MAX_TRIGGERS_PER_SECOND * per_trigger).min(u64::MAX as f64 / seconds);
    per_trigger / seconds..=fastest
}

#[derive(Debug, Clone)]
pub struct Pace {
    /// Mean triggers per second for this producer; infinite means unpaced.
    pub triggers_per_second: f64,
    pub duration: Duration,
    pub arrivals: Arrivals,
}

/// What one producer did.
#[derive(Debug, Clone, Default)]
pub struct ProducerReport {
    pub triggers: u64,
    pub elapsed: Duration,
    /// Triggers fired in each phase of the arrival shape.
    pub per_phase: Vec<u64>,
    /// Triggers the schedule held for the run (`triggers` when unpaced).
    pub scheduled: u64,
}

/// Fire triggers for `producer` until the duration ends or `stop` is set.
pub fn produce(token: u32, producer: u32, pace: &Pace, stop: &AtomicBool) -> ProducerReport {
    let mut schedule = Schedule::new(&pace.arrivals, pace.triggers_per_second, producer);
    let mut per_phase = vec![0u64; pace.arrivals.phase_names().len()];
    let start = Instant::now();
    let end = start + pace.duration;
    let scheduled = schedule.total(pace.duration);
    let total = scheduled.unwrap_or(u64::MAX);
    let mut issued = 0u64;
    while issued < total && !stop.load(Ordering::Relaxed) {
        let elapsed = start.elapsed();
        if elapsed >= pace.duration {
            break; // Could not keep up: the shortfall shows in the actual rate.
        }
        let due = schedule.due_by(elapsed).min(total);
        if issued < due {
            let burst = (due - issued).min(BURST);
            for _ in 0..burst {
                trigger(token, producer);
            }
            issued += burst;
            per_phase[schedule.phase_of(elapsed)] += burst;
            continue;
        }
        // Trigger number `issued` (from 0) is the next one due.
        let next_deadline = (start + schedule.deadline(issued)).min(end);
        let wait = next_deadline.saturating_duration_since(Instant::now());
        if wait > MIN_SLEEP {
            thread::sleep(wait - MIN_SLEEP / 2);
        } else {
            std::hint::spin_loop();
        }
    }
    // A shape may schedule nothing at the end of the run (a burst that
    // carries the whole period): the run still lasts its duration.
    while !stop.load(Ordering::Relaxed) && scheduled.is_some() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        thread::sleep(left.min(Duration::from_millis(50)));
    }
    ProducerReport { triggers: issued, elapsed: start.elapsed(), per_phase, scheduled: scheduled.unwrap_or(issued) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paceable_rates_span_one_trigger_per_run_to_one_per_nanosecond() {
        // Batch 1, one producer, 5 s: one trigger in 5 s up to 1e9 triggers/s.
        assert_eq!(paceable_rates(1, 1, Duration::from_secs(5)), 0.2..=1e9);
        // Each trigger carries batch × producers events.
        assert_eq!(paceable_rates(8, 2, Duration::from_secs(1)), 16.0..=16e9);
        // Over a very long run, the event count must still fit in a u64.
        let long = Duration::from_secs(1 << 40);
        assert_eq!(*paceable_rates(1, 1, long).end(), u64::MAX as f64 / (1u64 << 40) as f64);
    }
}
