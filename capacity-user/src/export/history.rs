//! The samples of each map and ring over the fit window, and their
//! forecasts: when entries reach max_entries, when a ring's backlog fills it.
use std::{collections::BTreeMap, time::Duration};

use super::{sample::Snapshot, trend::Fit};

/// One series: (time, value) points and the limit it runs into.
#[derive(Debug, Clone, Default)]
struct Track {
    points: Vec<(f64, f64)>,
    limit: f64,
}

impl Track {
    fn push(&mut self, t: f64, value: f64, limit: f64, window: f64) {
        self.points.push((t, value));
        self.limit = limit;
        self.points.retain(|&(at, _)| t - at <= window);
    }

    fn fit(&self) -> Option<Fit> {
        Fit::of(&self.points)
    }
}

/// What the fit says about one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Units per second over the window (entries/s, bytes/s).
    pub slope: f64,
    /// Seconds until the limit; None when not growing.
    pub exhaustion_seconds: Option<f64>,
    pub samples: usize,
}

/// Per map id: entries; per ring id: pending bytes.
#[derive(Debug, Clone)]
pub struct History {
    window: Duration,
    entries: BTreeMap<u32, Track>,
    backlog: BTreeMap<u32, Track>,
}

impl History {
    pub fn new(window: Duration) -> Self {
        Self { window, entries: BTreeMap::new(), backlog: BTreeMap::new() }
    }

    /// Adds a snapshot; maps gone from it are forgotten.
    pub fn record(&mut self, snapshot: &Snapshot) {
        let window = self.window.as_secs_f64();
        self.entries.retain(|id, _| snapshot.maps.iter().any(|m| m.id == *id && m.entries.is_some()));
        self.backlog.retain(|id, _| snapshot.maps.iter().any(|m| m.id == *id && m.ring.is_some()));
        for map in &snapshot.maps {
            if let Some(entries) = map.entries {
                let track = self.entries.entry(map.id).or_default();
                track.push(snapshot.at, entries as f64, f64::from(map.max_entries), window);
            }
            if let Some(ring) = map.ring {
                let track = self.backlog.entry(map.id).or_default();
                track.push(snapshot.at, ring.pending_bytes as f64, ring.size_bytes as f64, window);
            }
        }
    }

    fn forecast(track: Option<&Track>) -> Option<Forecast> {
        let track = track?;
        let fit = track.fit()?;
        Some(Forecast { slope: fit.slope, exhaustion_seconds: fit.seconds_until(track.limit), samples: fit.samples })
    }

    /// The entries of map `id` against its max_entries.
    pub fn map(&self, id: u32) -> Option<Forecast> {
        Self::forecast(self.entries.get(&id))
    }

    /// The backlog of ring `id` against its size.
    pub fn ring(&self, id: u32) -> Option<Forecast> {
        Self::forecast(self.backlog.get(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::sample::{MapSample, RingSample};

    fn snapshot(at: f64, entries: u64, pending: u64) -> Snapshot {
        let map = |id, entries, ring| MapSample {
            id,
            name: format!("m{id}"),
            type_name: "hash".into(),
            owner: String::new(),
            memory_bytes: 0,
            entries,
            max_entries: 1000,
            pressure: None,
            level: None,
            ring,
        };
        Snapshot {
            at,
            read_seconds: 0.0,
            maps: vec![
                map(1, Some(entries), None),
                map(2, None, Some(RingSample { pending_bytes: pending, size_bytes: 4096, pending_bytes_max: None })),
            ],
            programs: vec![],
        }
    }

    #[test]
    fn forecasts_follow_the_window() {
        let mut history = History::new(Duration::from_secs(10));
        for i in 0..30u64 {
            // Entries grow 5/s; the ring's backlog drains.
            history.record(&snapshot(100.0 + i as f64, 5 * i, 4000 - 100 * i));
        }
        let map = history.map(1).unwrap();
        assert_eq!(map.samples, 11, "only the last 10 s are fitted");
        assert!((map.slope - 5.0).abs() < 1e-9);
        // At 145 entries, (1000 − 145) / 5 s to go.
        assert!((map.exhaustion_seconds.unwrap() - 171.0).abs() < 1e-9);
        assert_eq!(history.ring(2).unwrap().exhaustion_seconds, None);
        assert_eq!(history.map(2), None);
    }

    #[test]
    fn maps_that_go_away_are_forgotten() {
        let mut history = History::new(Duration::from_secs(60));
        history.record(&snapshot(0.0, 1, 0));
        history.record(&snapshot(1.0, 2, 0));
        assert!(history.map(1).is_some());
        history.record(&Snapshot { at: 2.0, read_seconds: 0.0, maps: vec![], programs: vec![] });
        assert_eq!(history.map(1), None);
    }
}
