//! What one fixed-rate run is asked to do: its settings, their defaults,
//! and every check on them made before anything touches the kernel.
use std::time::Duration;

pub use capacity_common::Wakeup;
use capacity_common::{
    record_bytes, EVENT_HEADER_SIZE, MAX_BATCH, MAX_EVENT_SIZE, MAX_MIX_EVENT_SIZE, MAX_PRODUCERS, MAX_RING_BYTES,
};

use super::{arrivals::Arrivals, consumer::ConsumerModel, generator::Pace, program::ProgramSettings};
pub use crate::layout::Layout;
use crate::{
    event_sizes::EventSizes,
    refuse,
    settings::{Piece, Setting, SettingError},
    sys::page_size,
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
    /// Each event's size, header included: one size, or a mix (a range or
    /// weights) whose table the program and the consumer share.
    pub event_sizes: EventSizes,
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
    /// One shared ring, rings per CPU or per N CPUs, or perf buffers.
    /// `ringbuf_size` is each ring's size.
    pub layout: Layout,
    /// Perf layout: data pages of each CPU's perf buffer (a power of two).
    pub perf_pages: u32,
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
    pub const LAYOUT: &str = "shared";
    /// 64 pages: libbpf's and aya's examples use 8 to 64.
    pub const PERF_PAGES: u32 = 64;

    /// `RINGBUF_SIZE` in bytes.
    pub fn ringbuf_size() -> u64 {
        crate::units::parse_size(RINGBUF_SIZE).expect("the default ring size parses")
    }

    /// `WARMUP` as a duration.
    pub fn warmup() -> std::time::Duration {
        crate::units::parse_duration(WARMUP).expect("the default warm-up parses")
    }
}

impl Default for RunConfig {
    /// The command line's defaults, at 100k events/s.
    fn default() -> Self {
        Self {
            rate: 100_000.0,
            duration: crate::units::parse_duration(defaults::DURATION).expect("the default duration parses"),
            warmup: defaults::warmup(),
            event_sizes: defaults::EVENT_SIZE.parse().expect("the default event size parses"),
            ringbuf_size: defaults::ringbuf_size(),
            batch: defaults::BATCH,
            producers: defaults::PRODUCERS,
            keyspace: defaults::KEYSPACE,
            map_entries: defaults::MAP_ENTRIES,
            consumer: ConsumerModel::default(),
            wakeup: defaults::WAKEUP.parse().expect("the default wakeup parses"),
            overwrite: false,
            map: MapUpdates::On,
            arrivals: Arrivals::default(),
            layout: Layout::Shared,
            perf_pages: defaults::PERF_PAGES,
        }
    }
}

impl RunConfig {
    /// Every bad combination, before anything touches the kernel: what is
    /// wrong with which setting, for the caller to word.
    pub fn validate(&self) -> Result<(), SettingError> {
        let page = page_size();
        if self.rate.is_nan() || self.rate <= 0.0 {
            return Err(refuse!(Setting::Rate; Setting::Rate, " must be a positive number of events per second"));
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            let why = format!(" {} is out of range: use 1 to {MAX_BATCH} events per trigger", self.batch);
            return Err(refuse!(Setting::Batch; Setting::Batch, why));
        }
        if let EventSizes::Fixed(size) = self.event_sizes {
            if (size as usize) < EVENT_HEADER_SIZE || size as usize > MAX_EVENT_SIZE {
                let why =
                    format!(" {size} is out of range: use {EVENT_HEADER_SIZE} (the header) to {MAX_EVENT_SIZE} bytes");
                return Err(refuse!(Setting::EventSize; Setting::EventSize, why));
            }
        }
        let ring = self.ringbuf_size;
        if !ring.is_power_of_two() || !ring.is_multiple_of(page) {
            let why = format!(
                " {ring} must be a power of two and a multiple of the page size ({page}): try {}",
                ring.next_power_of_two().max(page)
            );
            return Err(refuse!(Setting::RingbufSize; Setting::RingbufSize, why));
        }
        if ring > MAX_RING_BYTES {
            let why = format!(" {} is larger than the kernel allows (2G)", format_bytes(ring));
            return Err(refuse!(Setting::RingbufSize; Setting::RingbufSize, why));
        }
        if self.event_sizes.is_mix() {
            let mix = &self.event_sizes;
            mix.check_for_program()
                .map_err(|why| refuse!(Setting::EventSize; Setting::EventSize, format!(" {mix}: {why}")))?;
        }
        let largest = self.event_sizes.largest();
        let record = record_bytes(largest.into());
        if record > ring {
            return Err(refuse!(Setting::RingbufSize;
                format!("an event of {largest} bytes takes {record} bytes in the ring, more than "),
                Setting::RingbufSize,
                format!(" {ring}: use "),
                Setting::RingbufSize,
                format!(" {} or more", record.next_power_of_two().max(page)),
            ));
        }
        if self.producers == 0 || self.producers > MAX_PRODUCERS {
            let why = format!(" {} is out of range: use 1 to {MAX_PRODUCERS}", self.producers);
            return Err(refuse!(Setting::Producers; Setting::Producers, why));
        }
        if self.keyspace == 0 || self.map_entries == 0 {
            let setting = if self.keyspace == 0 { Setting::Keyspace } else { Setting::MapEntries };
            return Err(refuse!(setting; Setting::Keyspace, " and ", Setting::MapEntries, " must be at least 1"));
        }
        if self.overwrite && self.event_sizes.is_mix() {
            return Err(refuse!(Setting::Overwrite;
                Setting::Overwrite,
                " takes a single ",
                Setting::EventSize,
                ", not a mix: overwritten records are counted from the overwrite position by their one size",
            ));
        }
        self.validate_layout()?;
        if self.duration.is_zero() {
            return Err(refuse!(Setting::Duration; Setting::Duration, " must be positive"));
        }
        let (batch, producers) = (self.batch, self.producers);
        let paceable = super::generator::paceable_rates(batch, producers, self.duration);
        if self.rate.is_finite() && self.rate > *paceable.end() {
            let why = format!(
                " {} events/s is more than the generator can pace: at most {} events/s with batch {batch} and {producers} producer(s) (one trigger per nanosecond each); lower it",
                plain_rate(self.rate),
                plain_rate(*paceable.end()),
            );
            let unpaced = Piece::Offer { setting: Setting::Unpaced, before: ", or run unpaced (", after: ")" };
            return Err(refuse!(Setting::Rate; Setting::Rate, why, unpaced));
        }
        if self.rate < *paceable.start() {
            let why = format!(
                " {} events/s fires no trigger in a {} s run with batch {batch} and {producers} producer(s): the lowest is {} events/s; raise it, or ",
                plain_rate(self.rate),
                self.duration.as_secs_f64(),
                plain_rate(*paceable.start()),
            );
            return Err(refuse!(Setting::Rate; Setting::Rate, why, Setting::Duration));
        }
        if self.rate.is_infinite() && self.arrivals != Arrivals::Constant {
            let arrivals = format!(" {} needs a paced ", self.arrivals);
            return Err(
                refuse!(Setting::Arrivals; Setting::Arrivals, arrivals, Setting::Rate, " (the mean), not an unpaced one"),
            );
        }
        self.arrivals.check().map_err(|why| refuse!(Setting::Arrivals; why))?;
        Ok(())
    }

    /// What a layout other than `shared` refuses.
    fn validate_layout(&self) -> Result<(), SettingError> {
        if self.overwrite && self.layout != Layout::Shared {
            let why = format!(" {} takes no ", self.layout);
            return Err(
                refuse!(Setting::Overwrite; Setting::Layout, why, Setting::Overwrite, ": overwrite mode is a shared ring's"),
            );
        }
        if self.layout == Layout::Perf {
            if !self.perf_pages.is_power_of_two() {
                let why = format!(" {} must be a power of two", self.perf_pages);
                return Err(refuse!(Setting::PerfPages; Setting::PerfPages, why));
            }
            let largest = self.event_sizes.largest() as usize;
            if largest > MAX_MIX_EVENT_SIZE {
                let why = format!(
                    " {largest} is too large for perf buffers here: the program copies events through a {MAX_MIX_EVENT_SIZE}-byte buffer"
                );
                return Err(refuse!(Setting::EventSize; Setting::EventSize, why));
            }
            let buffer = u64::from(self.perf_pages) * page_size();
            let record = crate::layout::perf_record_bytes(largest as u64);
            if record > buffer {
                let why = format!(" {} bytes cannot hold one event of {largest} bytes: raise it", buffer);
                return Err(refuse!(Setting::PerfPages; Setting::PerfPages, why));
            }
        }
        Ok(())
    }

    pub(super) fn program_settings(&self) -> ProgramSettings {
        ProgramSettings {
            event_size: self.event_size(),
            size_table: self.event_sizes.is_mix().then(|| self.event_sizes.table()),
            batch: self.batch,
            keyspace: self.keyspace,
            ringbuf_size: self.ringbuf_size as u32,
            map_entries: self.map_entries,
            wakeup_every: self.wakeup.every(),
            overwrite: self.overwrite,
            map: self.map == MapUpdates::On,
            layout: self.layout,
            perf_pages: self.perf_pages,
        }
    }

    /// The one event size, or a mix's mean, rounded (what reports show as `event_size`).
    pub fn event_size(&self) -> u32 {
        match &self.event_sizes {
            EventSizes::Fixed(size) => *size,
            mix => mix.mean_event_size().round() as u32,
        }
    }

    /// Bytes one event takes in the ring on average, header and alignment included.
    pub fn mean_record_bytes(&self) -> f64 {
        match &self.event_sizes {
            EventSizes::Fixed(size) => record_bytes((*size).into()) as f64,
            mix => mix.mean_record_bytes(),
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
        assert!(bad(RunConfig { event_sizes: EventSizes::Fixed(8), ..Default::default() }).contains("event size 8"));
        assert!(bad(RunConfig { event_sizes: EventSizes::Fixed(4096), ringbuf_size: 4096, ..Default::default() })
            .contains("takes 4104 bytes in the ring"));
        assert!(bad(RunConfig { producers: 0, ..Default::default() }).contains("producers 0"));
        assert!(
            bad(RunConfig { rate: 1e30, ..Default::default() }).contains("at most 1000000000 events/s with batch 1")
        );
        assert!(bad(RunConfig { rate: 1e-9, ..Default::default() }).contains("the lowest is 0.2 events/s"));
        let valid = |c: RunConfig| c.validate().is_ok();
        assert!(valid(RunConfig { rate: 1e9, ..Default::default() }));
        assert!(valid(RunConfig { rate: 0.2, ..Default::default() }));
        assert!(valid(RunConfig { rate: f64::INFINITY, ..Default::default() }));
        let mix: EventSizes = "64:1,128:1".parse().unwrap();
        assert!(bad(RunConfig { overwrite: true, event_sizes: mix, ..Default::default() })
            .contains("overwrite mode takes a single event size"));
        assert!(valid(RunConfig::default()));
    }

    #[test]
    fn errors_name_settings_as_the_caller_knows_them() {
        let from_a_file = |s: Setting| match s {
            Setting::RingbufSize => "the plan's ring",
            other => other.plain(),
        };
        let config = RunConfig { event_sizes: EventSizes::Fixed(4096), ringbuf_size: 4096, ..Default::default() };
        let refusal = config.validate().unwrap_err();
        assert_eq!(refusal.setting, Setting::RingbufSize);
        assert_eq!(
            refusal.message(from_a_file),
            "an event of 4096 bytes takes 4104 bytes in the ring, more than the plan's ring 4096: use the plan's ring 8192 or more"
        );
        // An unpaced run is offered only where the caller has a way to ask for one.
        let too_fast = RunConfig { rate: 1e30, ..Default::default() }.validate().unwrap_err();
        assert!(too_fast.message(|s| if s == Setting::Unpaced { "" } else { s.plain() }).ends_with("lower it"));
        assert!(too_fast.to_string().ends_with("lower it, or run unpaced (an unpaced rate)"));
    }
}
