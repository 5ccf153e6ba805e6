//! `capacity load` and the load options ramp, search and report share.
use std::time::Duration;

use clap::Args;

use crate::{
    error::Outcome,
    output,
    run::{
        config::defaults,
        consumer::{ConsumerModel, Stall},
        run_fixed_rate, RunConfig, Wakeup,
    },
    signal::stop_flag,
    units::{parse_duration, parse_rate, parse_size},
};

/// The workload shape: everything about a run except its rate and length.
#[derive(Debug, Clone, Args)]
pub struct LoadOptions {
    /// The whole record the program reserves, header (16 B) included.
    #[arg(long, default_value = defaults::EVENT_SIZE, value_parser = parse_size)]
    pub event_size: u64,
    /// Ring buffer size: a power of two and a multiple of the page size.
    #[arg(long, default_value = defaults::RINGBUF_SIZE, value_parser = parse_size)]
    pub ringbuf_size: u64,
    /// Events per trigger (one syscall emits this many events).
    #[arg(long, default_value_t = defaults::BATCH)]
    pub batch: u32,
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
    /// Uncounted warm-up before the measured part of each run.
    #[arg(long, default_value = defaults::WARMUP, value_parser = parse_duration_or_zero)]
    pub warmup: Duration,
}

impl LoadOptions {
    /// The run configuration at `rate` for `duration`.
    pub fn config(&self, rate: f64, duration: Duration) -> anyhow::Result<RunConfig> {
        let event_size = u32::try_from(self.event_size)
            .map_err(|_| crate::error::usage(format!("--event-size {} is too large", self.event_size)))?;
        Ok(RunConfig {
            rate,
            duration,
            warmup: self.warmup,
            event_size,
            ringbuf_size: self.ringbuf_size,
            batch: self.batch,
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
        })
    }
}

fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    if text.trim().trim_end_matches('s').trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(text)
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Events per second, e.g. 250000, 250k, 2.5M.
    #[arg(long, value_parser = parse_rate, allow_hyphen_values = true)]
    pub rate: f64,
    /// Length of the measured run: 5, 2s, 500ms.
    #[arg(long, default_value = defaults::DURATION, value_parser = parse_duration, allow_hyphen_values = true)]
    pub duration: Duration,
    #[command(flatten)]
    pub options: LoadOptions,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: LoadArgs) -> anyhow::Result<Outcome> {
    let config = args.options.config(args.rate, args.duration)?;
    let stop = stop_flag();
    let result = run_fixed_rate(&config, stop)?;
    output::print(&result, args.json)?;
    Ok(if result.interrupted { Outcome::Interrupted } else { Outcome::Success })
}
