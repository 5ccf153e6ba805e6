//! `capacity observe`: arguments. The work is in `crate::observe`.
use std::{path::PathBuf, time::Duration};

use clap::Args;

use super::JsonOutput;
use crate::{
    error::Outcome,
    observe::{observe, rings::Selector, Options},
    preflight, signal,
    units::{parse_duration, parse_size},
};

#[derive(Debug, Args)]
pub struct ObserveArgs {
    /// The ring: a map id, a map name, or pid:PID for every ring that process holds.
    #[arg(value_name = "RING")]
    pub ring: Selector,
    /// How long to watch (e.g. 10s).
    #[arg(long, value_name = "D", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Time between two readings of the ring's positions (e.g. 1ms, 500us).
    #[arg(long, value_name = "I", default_value = "1ms", value_parser = parse_duration)]
    pub interval: Duration,
    /// Write the produced rate series to FILE.csv (`seconds,events_per_second`, the --profile format).
    #[arg(long, value_name = "FILE.csv")]
    pub record: Option<PathBuf>,
    /// Bytes one record takes in the ring, header included: counts events from bytes where headers cannot be walked.
    #[arg(long, value_name = "B", value_parser = parse_size, requires = "record")]
    pub record_size: Option<u64>,
    #[command(flatten)]
    pub output: JsonOutput,
}

pub fn run(args: ObserveArgs) -> anyhow::Result<Outcome> {
    let options = Options {
        selector: args.ring,
        duration: args.duration,
        interval: args.interval,
        record: args.record,
        record_size: args.record_size,
    };
    crate::observe::check(&options)?;
    preflight::check_admin("capacity observe")?;
    let stop = signal::stop_flag();
    let (report, written) = observe(&options, stop)?;
    args.output.print(&report)?;
    for path in written {
        log::info!("wrote {}", path.display());
    }
    Ok(if stop.load(std::sync::atomic::Ordering::SeqCst) { Outcome::Interrupted } else { Outcome::Success })
}
