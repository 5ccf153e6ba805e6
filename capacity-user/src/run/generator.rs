//! The load generator: producer threads that fire triggers at a fixed rate.
//!
//! Pacing is against absolute deadlines from one start instant: a producer
//! that falls behind catches up in bursts instead of drifting, and one that
//! is ahead sleeps (or spins, when the next deadline is too close to sleep).
use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use super::program::trigger;

/// Triggers issued back to back before the clock is read again.
const BURST: u64 = 64;
/// Below this, sleeping overshoots (timer slack); spin instead.
const MIN_SLEEP: Duration = Duration::from_micros(200);

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
}
