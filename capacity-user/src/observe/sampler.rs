//! Sampling live rings at a fine interval: each ring's producer and
//! consumer positions, and the records between two samples where their
//! headers can be walked. Only mapped memory is read; nothing is written.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use crate::deployment::ringbuf::RingView;

/// One ring at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Nanoseconds since sampling began.
    pub t_ns: u64,
    pub consumer: u64,
    pub producer: u64,
    /// Records produced since the first sample, while every span so far
    /// could be walked.
    pub records: u64,
}

/// Everything sampled from one ring.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub size: u64,
    pub samples: Vec<Sample>,
    /// Every span between two samples was walked: `records` counts them all.
    pub walked: bool,
    /// The largest record walked, header included.
    pub largest_record_bytes: u64,
}

impl Series {
    fn new(size: u64, walkable: bool) -> Self {
        Self { size, samples: Vec::new(), walked: walkable, largest_record_bytes: 0 }
    }

    /// Adds one reading of `view`.
    fn push(&mut self, view: &RingView, t_ns: u64) {
        let positions = view.positions();
        let records = match self.samples.last() {
            None => 0,
            Some(last) if self.walked => match view.walk(last.producer, positions.producer) {
                Some(walked) => {
                    self.largest_record_bytes = self.largest_record_bytes.max(walked.largest_bytes);
                    last.records + walked.reserved()
                }
                None => {
                    self.walked = false;
                    last.records
                }
            },
            Some(last) => last.records,
        };
        self.samples.push(Sample { t_ns, consumer: positions.consumer, producer: positions.producer, records });
    }
}

/// Samples every ring in `views` each `interval` for `duration`, against
/// absolute deadlines (a late sample does not make the next one early), or
/// until `stop` is set. One series per view, in the same order.
pub fn sample(views: &[&RingView], interval: Duration, duration: Duration, stop: &AtomicBool) -> Vec<Series> {
    let mut series: Vec<Series> = views.iter().map(|v| Series::new(v.size(), v.has_data())).collect();
    let expected = (duration.as_nanos() / interval.as_nanos().max(1)) as usize + 2;
    for s in &mut series {
        s.samples.reserve(expected.min(10_000_000));
    }
    let start = Instant::now();
    let mut tick: u32 = 0;
    loop {
        let now = start.elapsed();
        for (s, view) in series.iter_mut().zip(views) {
            s.push(view, now.as_nanos() as u64);
        }
        if now >= duration || stop.load(Ordering::Relaxed) {
            break;
        }
        // The next deadline after now: missed ones are skipped, not caught up.
        tick = tick.max((now.as_nanos() / interval.as_nanos().max(1)) as u32) + 1;
        let next = (interval * tick).min(duration);
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    series
}
