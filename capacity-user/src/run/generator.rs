//! The load generator: producer threads that fire triggers at a fixed rate.
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

use super::program::trigger;

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

#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Triggers per second for this producer; infinite means unpaced.
    pub triggers_per_second: f64,
    pub duration: Duration,
}

/// What one producer did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProducerReport {
    pub triggers: u64,
    pub elapsed: Duration,
}

/// Fire triggers for `producer` until the duration ends or `stop` is set.
pub fn produce(token: u32, producer: u32, pace: Pace, stop: &AtomicBool) -> ProducerReport {
    let start = Instant::now();
    let total = if pace.triggers_per_second.is_finite() {
        (pace.triggers_per_second * pace.duration.as_secs_f64()).round() as u64
    } else {
        u64::MAX
    };
    let mut issued = 0u64;
    while issued < total && !stop.load(Ordering::Relaxed) {
        let elapsed = start.elapsed();
        if elapsed >= pace.duration {
            break; // Could not keep up: the shortfall shows in the actual rate.
        }
        let due = due_by(elapsed, pace.triggers_per_second).min(total);
        if issued < due {
            let burst = (due - issued).min(BURST);
            for _ in 0..burst {
                trigger(token, producer);
            }
            issued += burst;
            continue;
        }
        let next_deadline = start + Duration::from_secs_f64((issued + 1) as f64 / pace.triggers_per_second);
        let wait = next_deadline.saturating_duration_since(Instant::now());
        if wait > MIN_SLEEP {
            thread::sleep(wait - MIN_SLEEP / 2);
        } else {
            std::hint::spin_loop();
        }
    }
    ProducerReport { triggers: issued, elapsed: start.elapsed() }
}

/// How many triggers should have been issued `elapsed` into the run.
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
