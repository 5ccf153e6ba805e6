//! `capacity observe`: a live ring of another program watched at a fine
//! interval through read-only mappings, nothing attached or changed. The
//! rings are found in [`rings`], sampled in [`sampler`], summed up in
//! [`statistics`] and answered in [`report`]; [`record`] writes the
//! produced rate series for `capacity size --profile`.
pub mod record;
pub mod report;
pub mod rings;
pub mod sampler;
pub mod statistics;

use std::{path::PathBuf, sync::atomic::AtomicBool, time::Duration};

use self::{
    report::{Observation, RingObservation},
    rings::Selector,
};
use crate::{
    memory::host::Host,
    refuse,
    settings::{Setting, SettingError},
};

/// What to observe and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub selector: Selector,
    pub duration: Duration,
    pub interval: Duration,
    /// Where to write the produced rate series.
    pub record: Option<PathBuf>,
    /// Bytes one record takes (header included) when headers cannot be walked.
    pub record_size: Option<u64>,
}

/// Checks the settings before anything is mapped; a refusal names the
/// setting as data, for the caller to word.
pub fn check(options: &Options) -> Result<(), SettingError> {
    if options.duration.is_zero() {
        return Err(refuse!(Setting::Duration; Setting::Duration, " must be longer than 0, e.g. 5s"));
    }
    if options.interval.is_zero() || options.interval > options.duration {
        return Err(refuse!(Setting::Interval;
            Setting::Interval,
            " must be above 0 and at most ",
            Setting::Duration,
            format!(" ({:?}), e.g. 1ms", options.duration)
        ));
    }
    if options.record_size.is_some_and(|b| b < 8) {
        return Err(refuse!(Setting::RecordSize; Setting::RecordSize, " must be at least 8 bytes (a record's header)"));
    }
    Ok(())
}

/// Finds the rings, samples them for the whole duration (or until `stop`),
/// and writes `--record`: the observation and the files written. Needs
/// CAP_SYS_ADMIN (the caller checks).
pub fn observe(options: &Options, stop: &AtomicBool) -> anyhow::Result<(Observation, Vec<PathBuf>)> {
    check(options)?;
    let rings = rings::find(&options.selector)?;
    if let Some(path) = &options.record {
        if options.record_size.is_none() {
            if let Some(ring) = rings.iter().find(|r| !r.view.has_data()) {
                return Err(refuse!(Setting::RecordSize;
                    format!(
                        "ring {} ({}): the kernel refused to map its data pages, so its record headers cannot be walked: give ",
                        ring.info.id, ring.info.name
                    ),
                    Setting::RecordSize,
                    " B with ",
                    Setting::Record
                )
                .into());
            }
        }
        record::create(path)?;
    }
    let views: Vec<_> = rings.iter().map(|r| &r.view).collect();
    let series = sampler::sample(&views, options.interval, options.duration, stop);
    let page = Host::this().page_size;
    let interval_ns = options.interval.as_nanos() as u64;
    let several = rings.len() > 1;
    let mut observed = Vec::new();
    let mut written = Vec::new();
    if let (true, Some(path)) = (several, &options.record) {
        // Created only to fail early; each ring has its own file.
        let _ = std::fs::remove_file(path);
    }
    for (ring, series) in rings.into_iter().zip(&series) {
        let figures = statistics::figures(series, options.record_size);
        let path = options.record.as_ref().map(|p| if several { per_ring_path(p, ring.info.id) } else { p.clone() });
        if let Some(path) = &path {
            let per_record = options.record_size.map(|b| b as f64).or(figures.mean_record_bytes);
            let Some(rows) = record::rows(series, record::ROW_NS.max(interval_ns), per_record) else {
                return Err(refuse!(Setting::RecordSize;
                    format!(
                        "ring {} ({}): its record headers could not be walked between samples (the producer ran more than a ring ahead), so ",
                        ring.info.id, ring.info.name
                    ),
                    Setting::Record,
                    " needs ",
                    Setting::RecordSize,
                    " B to count events"
                )
                .into());
            };
            record::write(path, &rows)?;
            written.push(path.clone());
        }
        let profile = path.map_or("observed.csv".to_string(), |p| p.display().to_string());
        observed.push(RingObservation::new(ring.info, interval_ns, figures, options.record_size, &profile, page));
    }
    let observation = match options.selector {
        Selector::Pid(pid) => Observation::Process { pid, rings: observed },
        _ => Observation::One(Box::new(observed.pop().expect("find returns at least one ring"))),
    };
    Ok((observation, written))
}

/// `observed.csv` for ring 42 of several: `observed-42.csv`.
pub fn per_ring_path(path: &std::path::Path, id: u32) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{id}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{id}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_setting_is_refused_as_data_for_the_caller_to_word() {
        let options = Options {
            selector: Selector::Id(1),
            duration: Duration::from_secs(5),
            interval: Duration::ZERO,
            record: None,
            record_size: None,
        };
        let refusal = check(&options).unwrap_err();
        assert_eq!(refusal.setting, Setting::Interval);
        let flags = |s: Setting| match s {
            Setting::Interval => "--interval",
            Setting::Duration => "--duration",
            other => other.plain(),
        };
        assert_eq!(refusal.message(flags), "--interval must be above 0 and at most --duration (5s), e.g. 1ms");
        let small = Options { interval: Duration::from_millis(1), record_size: Some(4), ..options };
        assert_eq!(check(&small).unwrap_err().setting, Setting::RecordSize);
    }
}
