//! `--record FILE.csv`: the produced rate series as `seconds,events_per_second`
//! rows, the format `--profile` replays (`run::arrivals::Profile`).
use std::{fmt::Write as _, path::Path};

use anyhow::Context as _;

use super::sampler::Series;

/// Rows are this long (or one sample interval when that is longer): fine
/// enough to keep bursts, coarse enough for the load generator to pace.
pub const ROW_NS: u64 = 10_000_000;

/// Events per second in each row of `row_ns`. Events are the records walked
/// when every span could be walked, otherwise bytes / `record_bytes`; None
/// when neither is known.
pub fn rows(series: &Series, row_ns: u64, record_bytes: Option<f64>) -> Option<Vec<(f64, f64)>> {
    let walked = series.walked;
    if !walked && record_bytes.is_none_or(|b| b <= 0.0) {
        return None;
    }
    let samples = &series.samples;
    let mut out = Vec::new();
    let mut start = 0;
    while start + 1 < samples.len() {
        let begin = samples[start];
        let end = samples[start + 1..].iter().position(|s| s.t_ns - begin.t_ns >= row_ns).map(|i| start + 1 + i);
        let end = end.unwrap_or(samples.len() - 1);
        let last = samples[end];
        let seconds = (last.t_ns - begin.t_ns) as f64 / 1e9;
        let events = if walked {
            (last.records - begin.records) as f64
        } else {
            (last.producer - begin.producer) as f64 / record_bytes.unwrap_or(1.0)
        };
        out.push(((begin.t_ns - samples[0].t_ns) as f64 / 1e9, events / seconds));
        start = end;
    }
    Some(out)
}

/// The file's text: a header line, then one row per line.
pub fn csv(rows: &[(f64, f64)]) -> String {
    let mut text = String::from("seconds,events_per_second\n");
    for (seconds, rate) in rows {
        let _ = writeln!(text, "{seconds:.6},{rate:.3}");
    }
    text
}

/// Creates the file empty, so that an unwritable path fails before sampling.
pub fn create(path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, "").with_context(|| format!("cannot write --record {}", path.display()))
}

pub fn write(path: &Path, rows: &[(f64, f64)]) -> anyhow::Result<()> {
    std::fs::write(path, csv(rows)).with_context(|| format!("cannot write --record {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{observe::sampler::Sample, run::arrivals::Profile};

    #[test]
    fn rows_replay_as_a_profile_at_the_observed_rate() {
        // 1000 records of 64 B per second, sampled every ms for 100 ms.
        let samples: Vec<Sample> = (0..=100u64)
            .map(|ms| Sample { t_ns: ms * 1_000_000, consumer: 0, producer: ms * 64, records: ms })
            .collect();
        let walked = Series { size: 4096, samples: samples.clone(), walked: true, largest_record_bytes: 64 };
        let walked_rows = rows(&walked, ROW_NS, None).unwrap();
        assert_eq!(walked_rows.len(), 10);
        assert!(walked_rows.iter().all(|(_, r)| (r - 1000.0).abs() < 1e-6), "{walked_rows:?}");
        let profile = Profile::parse(&csv(&walked_rows), "observed.csv", 1.0).unwrap();
        assert!((profile.mean_rate() - 1000.0).abs() < 1e-6);
        assert!((profile.length() - 0.1).abs() < 1e-9);
        let bytes_only = Series { walked: false, samples, ..walked };
        assert_eq!(rows(&bytes_only, ROW_NS, None), None);
        let by_size = rows(&bytes_only, ROW_NS, Some(32.0)).unwrap();
        assert!((by_size[0].1 - 2000.0).abs() < 1e-6);
    }
}
