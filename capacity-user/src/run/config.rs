//! What one fixed-rate run is asked to do: its settings, their defaults,
//! and every check on them made before anything touches the kernel.
use std::time::Duration;

pub use capacity_common::Wakeup;
use capacity_common::{record_bytes, EVENT_HEADER_SIZE, MAX_BATCH, MAX_EVENT_SIZE, MAX_PRODUCERS};

use super::{
    arrivals::Arrivals,
    consumer::ConsumerModel,
    generator::Pace,
    program::ProgramSettings,
};
use crate::{
    event_sizes::EventSizes,
    memory::host::page_size,
    settings::{Names, Setting},
    units::{format_bytes, plain_rate},
};

/// Whether the program updates a flow in its hash map per event (`--map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MapUpdates {
    #[default]
    On,
    /// The ring alone: no map update, as the kernel's ring buffer benchmark.
    Off,
}

impl std::str::FromStr for MapUpdates {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "on" => Ok(MapUpdates::On),
            "off" => Ok(MapUpdates::Off),
            _ => Err(format!("`{text}` is neither on nor off")),
        }
    }
}

impl std::fmt::Display for MapUpdates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MapUpdates::On => "on",
            MapUpdates::Off => "off",
        })
    }
}

/// Everything one fixed-rate run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Events per second offered (triggers per second × batch); infinite
    /// means unpaced.
    pub rate: f64,
    pub duration: Duration,
    /// Run first for this long, uncounted, so caches, the map and the ring are warm.
    pub warmup: Duration,
    /// The whole record the program reserves, header included.
    pub event_size: u32,
    pub ringbuf_size: u64,
    pub batch: u32,
    pub producers: u32,
    pub keyspace: u32,
    pub map_entries: u32,
    pub consumer: ConsumerModel,
    pub wakeup: Wakeup,
    /// Run the ring in overwrite mode (BPF_F_RB_OVERWRITE, Linux 6.19+):
    /// a full ring overwrites its oldest records instead of dropping new ones.
    pub overwrite: bool,
    /// Whether each event updates its flow in the hash map (`off`: the
    /// ring alone, as the kernel's own ring buffer benchmark measures it).
    pub map: MapUpdates,
    /// How triggers arrive around the mean rate.
    pub arrivals: Arrivals,
    /// A size mix (`event_size` is then its mean, rounded); None: every
    /// event is `event_size` bytes.
    pub size_mix: Option<EventSizes>,
    /// How errors and advice name these settings: as the command line's
    /// flags, a workload file's keys, or in plain words (the default).
    pub names: Names,
}

/// The defaults of a run's settings, in the command line's own grammar. The
/// command line, `RunConfig::default` and the capacity plan's check all take
/// them from here.
pub mod defaults {
    pub const DURATION: &str = "5";
    pub const WARMUP: &str = "0.2s";
    pub const EVENT_SIZE: &str = "64";
    pub const RINGBUF_SIZE: &str = "8M";
    pub const BATCH: u32 = 1;
    pub const PRODUCERS: u32 = 1;
    pub const KEYSPACE: u32 = 1024;
    pub const MAP_ENTRIES: u32 = 10_240;
    pub const WAKEUP: &str = "adaptive";
    pub const MAP: &str = "on";

    /// `WARMUP` as a duration.
    pub fn warmup() -> std::time::Duration {
        crate::units::parse_duration(WARMUP).expect("the default warm-up parses")
    }
}

impl Default for RunConfig {
    /// The command line's defaults, at 100k events/s.
    fn default() -> Self {
        let size = |text| crate::units::parse_size(text).expect("default sizes parse");
        Self {
            rate: 100_000.0,
            duration: crate::units::parse_duration(defaults::DURATION).expect("the default duration parses"),
            warmup: defaults::warmup(),
            event_size: size(defaults::EVENT_SIZE) as u32,
            ringbuf_size: size(defaults::RINGBUF_SIZE),
            batch: defaults::BATCH,
            producers: defaults::PRODUCERS,
            keyspace: defaults::KEYSPACE,
            map_entries: defaults::MAP_ENTRIES,
            consumer: ConsumerModel::default(),
            wakeup: defaults::WAKEUP.parse().expect("the default wakeup parses"),
            overwrite: false,
            map: MapUpdates::On,
            arrivals: Arrivals::default(),
            size_mix: None,
            names: Setting::plain,
        }
    }
}

impl RunConfig {
    /// Every bad combination, before anything touches the kernel.
    pub fn validate(&self) -> anyhow::Result<()> {
        let name = self.names;
        let page = page_size();
        if self.rate.is_nan() || self.rate <= 0.0 {
            anyhow::bail!("{} must be a positive number of events per second", name(Setting::Rate));
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            let batch = name(Setting::Batch);
            anyhow::bail!("{batch} {} is out of range: use 1 to {MAX_BATCH} events per trigger", self.batch);
        }
        if (self.event_size as usize) < EVENT_HEADER_SIZE || self.event_size as usize > MAX_EVENT_SIZE {
            anyhow::bail!(
                "{} {} is out of range: use {EVENT_HEADER_SIZE} (the header) to {MAX_EVENT_SIZE} bytes",
                name(Setting::EventSize),
                self.event_size
            );
        }
        let ring = self.ringbuf_size;
        if !ring.is_power_of_two() || !ring.is_multiple_of(page) {
            anyhow::bail!(
                "{} {ring} must be a power of two and a multiple of the page size ({page}): try {}",
                name(Setting::RingbufSize),
                ring.next_power_of_two().max(page)
            );
        }
        if ring > 1 << 31 {
            anyhow::bail!("{} {} is larger than the kernel allows (2G)", name(Setting::RingbufSize), format_bytes(ring));
        }
        if let Some(mix) = &self.size_mix {
            mix.check_for_program().map_err(|why| anyhow::anyhow!("{} {mix}: {why}", name(Setting::EventSize)))?;
        }
        let largest = self.size_mix.as_ref().map_or(self.event_size, EventSizes::largest);
        let record = record_bytes(largest.into());
        if record > ring {
            let ring_name = name(Setting::RingbufSize);
            anyhow::bail!(
                "an event of {largest} bytes takes {record} bytes in the ring, more than {ring_name} {ring}: use {ring_name} {} or more",
                record.next_power_of_two().max(page)
            );
        }
        if self.producers == 0 || self.producers > MAX_PRODUCERS {
            anyhow::bail!("{} {} is out of range: use 1 to {MAX_PRODUCERS}", name(Setting::Producers), self.producers);
        }
        if self.keyspace == 0 || self.map_entries == 0 {
            anyhow::bail!("{} and {} must be at least 1", name(Setting::Keyspace), name(Setting::MapEntries));
        }
        if self.overwrite && self.size_mix.is_some() {
            anyhow::bail!(
                "{} takes a single {}, not a mix: overwritten records are counted from the overwrite position by their one size",
                name(Setting::Overwrite),
                name(Setting::EventSize)
            );
        }
        if self.duration.is_zero() {
            anyhow::bail!("{} must be positive", name(Setting::Duration));
        }
        let (batch, producers) = (self.batch, self.producers);
        let paceable = super::generator::paceable_rates(batch, producers, self.duration);
        if self.rate.is_finite() && self.rate > *paceable.end() {
            let unpaced = match name(Setting::Unpaced) {
                "" => String::new(),
                how => format!(", or run unpaced ({how})"),
            };
            anyhow::bail!(
                "{} {} events/s is more than the generator can pace: at most {} events/s with batch {batch} and {producers} producer(s) (one trigger per nanosecond each); lower it{unpaced}",
                name(Setting::Rate),
                plain_rate(self.rate),
                plain_rate(*paceable.end()),
            );
        }
        if self.rate < *paceable.start() {
            anyhow::bail!(
                "{} {} events/s fires no trigger in a {} s run with batch {batch} and {producers} producer(s): the lowest is {} events/s; raise it, or {}",
                name(Setting::Rate),
                plain_rate(self.rate),
                self.duration.as_secs_f64(),
                plain_rate(*paceable.start()),
                name(Setting::Duration)
            );
        }
        if self.rate.is_infinite() && self.arrivals != Arrivals::Constant {
            let (arrivals, rate) = (name(Setting::Arrivals), name(Setting::Rate));
            anyhow::bail!("{arrivals} {} needs a paced {rate} (the mean), not an unpaced one", self.arrivals);
        }
        self.arrivals.check().map_err(anyhow::Error::msg)?;
        Ok(())
    }

    pub(super) fn program_settings(&self) -> ProgramSettings {
        ProgramSettings {
            event_size: self.event_size,
            size_table: self.size_mix.as_ref().map(EventSizes::table),
            batch: self.batch,
            keyspace: self.keyspace,
            ringbuf_size: self.ringbuf_size as u32,
            map_entries: self.map_entries,
            wakeup_every: self.wakeup.every(),
            overwrite: self.overwrite,
            map: self.map == MapUpdates::On,
        }
    }

    /// Bytes one event takes in the ring on average, header and alignment included.
    pub fn mean_record_bytes(&self) -> f64 {
        match &self.size_mix {
            Some(mix) => mix.mean_record_bytes(),
            None => record_bytes(self.event_size.into()) as f64,
        }
    }

    pub(super) fn pace(&self, duration: Duration) -> Pace {
        Pace {
            triggers_per_second: self.rate / f64::from(self.batch) / f64::from(self.producers),
            duration,
            arrivals: self.arrivals.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_are_refused_with_the_fix() {
        let bad = |c: RunConfig| c.validate().unwrap_err().to_string();
        assert!(bad(RunConfig { ringbuf_size: 5000, ..Default::default() }).contains("power of two"));
        assert!(bad(RunConfig { ringbuf_size: 2048, ..Default::default() }).contains("multiple of the page size"));
        assert!(bad(RunConfig { batch: 0, ..Default::default() }).contains("batch 0"));
        assert!(bad(RunConfig { event_size: 8, ..Default::default() }).contains("event size 8"));
        assert!(bad(RunConfig { event_size: 4096, ringbuf_size: 4096, ..Default::default() })
            .contains("takes 4104 bytes in the ring"));
        assert!(bad(RunConfig { producers: 0, ..Default::default() }).contains("producers 0"));
        assert!(bad(RunConfig { rate: 1e30, ..Default::default() }).contains("at most 1000000000 events/s with batch 1"));
        assert!(bad(RunConfig { rate: 1e-9, ..Default::default() }).contains("the lowest is 0.2 events/s"));
        let valid = |c: RunConfig| c.validate().is_ok();
        assert!(valid(RunConfig { rate: 1e9, ..Default::default() }));
        assert!(valid(RunConfig { rate: 0.2, ..Default::default() }));
        assert!(valid(RunConfig { rate: f64::INFINITY, ..Default::default() }));
        let mix: crate::event_sizes::EventSizes = "64:1,128:1".parse().unwrap();
        assert!(bad(RunConfig { overwrite: true, size_mix: Some(mix), ..Default::default() })
            .contains("overwrite mode takes a single event size"));
        assert!(valid(RunConfig::default()));
    }

    #[test]
    fn errors_name_settings_as_the_caller_knows_them() {
        let from_a_file = |s: Setting| match s {
            Setting::RingbufSize => "the plan's ring",
            other => other.plain(),
        };
        let config = RunConfig { event_size: 4096, ringbuf_size: 4096, names: from_a_file, ..Default::default() };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "an event of 4096 bytes takes 4104 bytes in the ring, more than the plan's ring 4096: use the plan's ring 8192 or more"
        );
    }
}
