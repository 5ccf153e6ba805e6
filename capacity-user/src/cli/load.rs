//! `capacity load` and the load options ramp, search and report share.
use std::time::Duration;

use clap::Args;

use super::JsonOutput;
use crate::{
    error::Outcome,
    event_sizes::EventSizes,
    layout::Layout,
    run::{
        arrivals::{Arrivals, Profile},
        config::defaults,
        consumer::{ConsumerModel, Stall},
        run_fixed_rate, MapUpdates, RunConfig, Wakeup,
    },
    signal::stop_flag,
    units::{parse_duration, parse_rate, parse_size},
};

/// The workload shape: everything about a run except its rate and length.
#[derive(Debug, Clone, Args)]
pub struct LoadOptions {
    /// The whole record the program reserves, header (16 B) included: one
    /// size, LO..HI (every size equally often) or S1:W1,S2:W2,... (weighted).
    #[arg(long, default_value = defaults::EVENT_SIZE, value_name = "S|LO..HI|S1:W1,...")]
    pub event_size: EventSizes,
    // An Option, not a default value, so that `size` can tell it was given.
    #[arg(long, value_name = "B", value_parser = parse_size, help = format!(
        "Ring buffer size: a power of two and a multiple of the page size [default: {}]",
        defaults::RINGBUF_SIZE
    ))]
    pub ringbuf_size: Option<u64>,
    /// Events per trigger (one syscall emits this many events) [default: 1;
    /// search: chosen once by calibrating the producers].
    #[arg(long)]
    pub batch: Option<u32>,
    /// Producer threads firing triggers.
    #[arg(long, default_value_t = defaults::PRODUCERS)]
    pub producers: u32,
    /// Distinct flow keys the events update in the hash map.
    #[arg(long, default_value_t = defaults::KEYSPACE)]
    pub keyspace: u32,
    /// Capacity of the per-flow hash map.
    #[arg(long, default_value_t = defaults::MAP_ENTRIES)]
    pub map_entries: u32,
    /// Simulated consumer work per event, in nanoseconds.
    #[arg(long, default_value_t = 0, value_name = "NS")]
    pub consumer_work: u64,
    /// Periodic consumer pauses: PAUSE_MS@EVERY_MS, e.g. 50@1000.
    #[arg(long, value_name = "MS@EVERY_MS")]
    pub consumer_stall: Option<Stall>,
    /// Consumer spins instead of sleeping when the ring is empty.
    #[arg(long)]
    pub busy_poll: bool,
    /// Consumer wakeups: adaptive (the kernel's default) or sampled:N.
    #[arg(long, default_value = defaults::WAKEUP)]
    pub wakeup: Wakeup,
    /// Run the ring in overwrite mode (BPF_F_RB_OVERWRITE, Linux 6.19+): a
    /// full ring overwrites its oldest records; `overwritten` counts them.
    #[arg(long)]
    pub overwrite: bool,
    /// How events reach userspace: shared (one ring), per-cpu (a ring per
    /// CPU), per-cpus:N (a ring per N CPUs), or perf (a perf buffer per
    /// CPU). --ringbuf-size is each ring's size.
    #[arg(long, default_value = defaults::LAYOUT, value_name = "shared|per-cpu|per-cpus:N|perf")]
    pub layout: Layout,
    /// Perf layout: data pages of each CPU's perf buffer, a power of two.
    #[arg(long, default_value_t = defaults::PERF_PAGES, value_name = "P")]
    pub perf_pages: u32,
    /// Per-event hash map update: on, or off for the ring alone (as the
    /// kernel's ring buffer benchmark measures it).
    #[arg(long, default_value = defaults::MAP, value_name = "on|off")]
    pub map: MapUpdates,
    /// Uncounted warm-up before the measured part of each run.
    #[arg(long, default_value = defaults::WARMUP, value_parser = parse_duration_or_zero)]
    pub warmup: Duration,
    /// How events arrive around the mean --rate: constant, poisson[:SEED], or
    /// burst:PEAKxON/PERIOD (e.g. burst:4x50ms/1s: 4x the rate for 50 ms of
    /// each second, the rest of the second at the level that keeps the mean).
    #[arg(long, default_value = "constant", conflicts_with = "profile")]
    pub arrivals: Arrivals,
    /// Replay a recorded rate series, rows of `seconds,events_per_second`
    /// (looped; scaled to --rate when given, else at its own mean).
    #[arg(long, value_name = "FILE.csv")]
    pub profile: Option<std::path::PathBuf>,
    /// Replay the profile this many times faster.
    #[arg(long, value_name = "F", default_value_t = 1.0, requires = "profile")]
    pub speedup: f64,
}

impl LoadOptions {
    /// The run configuration at `rate` for `duration`.
    pub fn config(&self, rate: f64, duration: Duration) -> anyhow::Result<RunConfig> {
        Ok(RunConfig {
            arrivals: self.arrivals()?,
            rate,
            duration,
            warmup: self.warmup,
            event_sizes: self.event_size.clone(),
            ringbuf_size: self.ringbuf_size.unwrap_or_else(defaults::ringbuf_size),
            batch: self.batch.unwrap_or(defaults::BATCH),
            producers: self.producers,
            keyspace: self.keyspace,
            map_entries: self.map_entries,
            consumer: ConsumerModel {
                work: Duration::from_nanos(self.consumer_work),
                stall: self.consumer_stall,
                busy_poll: self.busy_poll,
            },
            wakeup: self.wakeup,
            overwrite: self.overwrite,
            map: self.map,
            layout: self.layout,
            perf_pages: self.perf_pages,
        })
    }
}

impl LoadOptions {
    /// The arrival process: `--arrivals`, or the `--profile` file.
    pub fn arrivals(&self) -> anyhow::Result<Arrivals> {
        match &self.profile {
            None => Ok(self.arrivals.clone()),
            Some(path) => Profile::read(path, self.speedup).map(Arrivals::Profile).map_err(anyhow::Error::msg),
        }
    }

    /// The mean rate: `--rate` when given, else the profile's own mean.
    pub fn mean_rate(&self, rate: Option<f64>) -> anyhow::Result<f64> {
        match (rate, self.arrivals()?) {
            (Some(rate), _) => Ok(rate),
            (None, Arrivals::Profile(p)) => Ok(p.mean_rate()),
            (None, _) => Err(anyhow::anyhow!("--rate is required (it may be left out only with --profile)")),
        }
    }
}

/// A duration, or zero in any unit (`0`, `0s`, `0ms`, `0.0`): no warm-up.
fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    let number = ["ms", "us", "s", "m", "h", "d"].iter().find_map(|unit| text.trim().strip_suffix(unit));
    match number.unwrap_or(text.trim()).trim().parse::<f64>() {
        Ok(0.0) => Ok(Duration::ZERO),
        _ => parse_duration(text),
    }
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Events per second (the mean), e.g. 250000, 250k, 2.5M; optional with --profile.
    #[arg(long, value_parser = parse_rate, allow_hyphen_values = true, required_unless_present = "profile")]
    pub rate: Option<f64>,
    /// Length of the measured run: 5, 2s, 500ms.
    #[arg(long, default_value = defaults::DURATION, value_parser = parse_duration, allow_hyphen_values = true)]
    pub duration: Duration,
    #[command(flatten)]
    pub options: LoadOptions,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(args: LoadArgs) -> anyhow::Result<Outcome> {
    let rate = args.options.mean_rate(args.rate)?;
    let config = args.options.config(rate, args.duration)?;
    let stop = stop_flag();
    let result = run_fixed_rate(&config, stop)?;
    args.output.print(&result)?;
    Ok(if result.interrupted { Outcome::Interrupted } else { Outcome::Success })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_warmup_is_zero_in_any_unit() {
        for zero in ["0", "0s", "0ms", "0.0", "0.0s", " 0 "] {
            assert_eq!(parse_duration_or_zero(zero), Ok(Duration::ZERO), "{zero}");
        }
        assert_eq!(parse_duration_or_zero("200ms"), Ok(Duration::from_millis(200)));
        assert!(parse_duration_or_zero("-1s").is_err());
        assert!(parse_duration_or_zero("0x").is_err());
    }
}
