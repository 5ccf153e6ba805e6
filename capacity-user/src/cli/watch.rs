//! `capacity watch`: arguments. The work is in `crate::export::watch`.
use std::{net::SocketAddr, time::Duration};

use clap::Args;

use crate::{
    error::Outcome,
    export::{
        ring_marks::RingMarks,
        sample::Snapshot,
        watch::{watch, WatchOptions},
    },
    output, preflight,
    units::parse_duration,
};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Time between samples of the host: 10s, 500ms, 1m.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "10s")]
    pub interval: Duration,
    /// Samples the time-to-exhaustion fit spans: 10m, 1h.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "10m")]
    pub window: Duration,
    /// Serve Prometheus text at http://ADDR/metrics (and /healthz) instead of drawing a table, e.g. 0.0.0.0:9435.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Time between two readings of every ring's positions between samples, for its high-water mark: 10ms, 1ms.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "10ms")]
    pub ring_interval: Duration,
    /// Stop after N samples (default: run until SIGINT or SIGTERM).
    #[arg(long, value_name = "N")]
    pub samples: Option<u64>,
    /// Keep the kernel's BPF run-time statistics on while watching, so that
    /// program run counts and run time grow (costs some ns per program run).
    #[arg(long)]
    pub enable_stats: bool,
    /// No table while watching; one JSON object (the last sample and its trends) when it stops.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: WatchArgs) -> anyhow::Result<Outcome> {
    let listen = match &args.listen {
        Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
            anyhow::anyhow!("--listen `{text}` is not an address: use IP:PORT, e.g. 127.0.0.1:9435 or 0.0.0.0:9435")
        })?),
        None => None,
    };
    if args.samples == Some(0) {
        return Err(anyhow::anyhow!("--samples must be at least 1"));
    }
    if args.window < args.interval * 2 {
        return Err(anyhow::anyhow!(
            "--window {:?} holds fewer than two samples of --interval {:?}: make it at least twice the interval",
            args.window,
            args.interval
        ));
    }
    if args.ring_interval.is_zero() || args.ring_interval > args.interval {
        return Err(anyhow::anyhow!("--ring-interval must be above 0 and at most --interval, e.g. 10ms"));
    }
    // Serving, a missing privilege is reported by /healthz and
    // capacity_sample_success 0 (the pod stays up); otherwise it fails now.
    if listen.is_none() {
        preflight::check_admin("capacity watch")?;
    }
    // Held for the whole watch: the kernel counts run time while the fd is open.
    let stats = if args.enable_stats {
        Some(aya::sys::enable_stats(aya::sys::Stats::RunTime).map_err(|e| {
            anyhow::anyhow!("the kernel refused BPF_ENABLE_STATS ({e}): --enable-stats needs kernel 5.8+ and root")
        })?)
    } else {
        None
    };
    let options = WatchOptions {
        interval: args.interval,
        window: args.window,
        listen,
        samples: args.samples,
        draw: listen.is_none() && !args.json,
    };
    let marks = RingMarks::start(args.ring_interval);
    let sampler = move || {
        preflight::check_admin("capacity watch")?;
        let mut snapshot = Snapshot::read_host()?;
        marks.apply(&mut snapshot);
        Ok(snapshot)
    };
    let report = watch(options, Box::new(sampler))?;
    drop(stats);
    log::info!("watch: stopped by {} after {} sample(s)", report.stopped_by, report.samples);
    if args.json {
        output::print(&report, true)?;
    }
    Ok(Outcome::Success)
}
