//! `cargo xtask bench observe`: the CPU that sampling one ring costs, the
//! figure `capacity observe` (1 ms by default) and `watch --ring-interval`
//! (10 ms) pay. A `capacity load` run holds a ring at a steady rate; for
//! each interval, `capacity observe pid:LOAD` samples it and its CPU time
//! is read from /proc (schedstat, nanoseconds) over the middle of the run,
//! leaving out start-up (finding the ring) and the report.
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use crate::{
    setup::{ensure_toolchain, step},
    table,
    tasks::{build_release_capacity, is_root},
};

#[derive(Debug, Args)]
pub struct ObserveBenchArgs {
    /// Seconds each observation's CPU is measured over.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Events per second the observed ring carries.
    #[arg(long, default_value = "100k")]
    rate: String,
    /// Print one JSON object (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

/// Sampling intervals measured: observe's default and watch's.
const INTERVALS: &[&str] = &["1ms", "10ms"];
/// Left out at each end of an observation.
const MARGIN: Duration = Duration::from_secs(1);

/// Nanoseconds every thread of `pid` has run (first field of each schedstat).
fn cpu_ns(pid: u32) -> Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).context("reading the observer's threads")? {
        let stat = std::fs::read_to_string(task?.path().join("schedstat")).unwrap_or_default();
        total += stat.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    Ok(total)
}

struct Cost {
    interval: String,
    /// CPU seconds per wall-clock second.
    cpu_fraction: f64,
    samples_per_s: f64,
    ns_per_sample: f64,
}

fn measure(capacity: &std::path::Path, load: &Child, interval: &str, seconds: f64) -> Result<Cost> {
    let duration = seconds + 2.0 * MARGIN.as_secs_f64();
    let observe = Command::new(capacity)
        .args(["observe", &format!("pid:{}", load.id()), "--interval", interval, "--json"])
        .args(["--duration", &format!("{duration}s")])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting capacity observe")?;
    std::thread::sleep(MARGIN);
    let (start, before) = (Instant::now(), cpu_ns(observe.id())?);
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (wall, after) = (start.elapsed().as_secs_f64(), cpu_ns(observe.id())?);
    let out = observe.wait_with_output()?;
    if !out.status.success() {
        bail!("capacity observe failed ({})", out.status);
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).context("observe's JSON")?;
    let ring = &report["rings"][0];
    let samples_per_s = ring["samples"].as_f64().unwrap_or(0.0) / ring["duration_s"].as_f64().unwrap_or(1.0);
    let cpu = (after - before) as f64 / 1e9;
    Ok(Cost {
        interval: interval.to_string(),
        cpu_fraction: cpu / wall,
        samples_per_s,
        ns_per_sample: cpu * 1e9 / (samples_per_s * wall).max(1.0),
    })
}

pub fn run(args: &ObserveBenchArgs) -> Result<()> {
    if !is_root() {
        bail!("the bench loads a BPF program and maps another process's ring: run it as root");
    }
    if args.seconds <= 0.0 {
        bail!("--seconds must be positive");
    }
    let capacity = build_release_capacity(&ensure_toolchain()?)?;
    let load_seconds = INTERVALS.len() as f64 * (args.seconds + 3.0 * MARGIN.as_secs_f64()) + 5.0;
    step(&format!("a ring to observe: capacity load --rate {} --duration {load_seconds}", args.rate));
    let mut load = Command::new(&capacity)
        .args(["load", "--rate", &args.rate, "--duration", &load_seconds.to_string(), "--json"])
        .stdout(Stdio::null())
        .spawn()
        .context("starting capacity load")?;
    // Its warm-up and the ring's first records.
    std::thread::sleep(Duration::from_secs(2));
    let mut costs = Vec::new();
    for interval in INTERVALS {
        step(&format!("capacity observe pid:{} --interval {interval}: CPU over {} s", load.id(), args.seconds));
        match measure(&capacity, &load, interval, args.seconds) {
            Ok(cost) => costs.push(cost),
            Err(e) => {
                let _ = load.kill();
                let _ = load.wait();
                return Err(e);
            }
        }
    }
    let _ = load.kill();
    let _ = load.wait();
    if args.json {
        let rows: Vec<_> = costs
            .iter()
            .map(|c| {
                json!({"interval": c.interval, "cpu_fraction": c.cpu_fraction,
                       "samples_per_s": c.samples_per_s, "ns_per_sample": c.ns_per_sample})
            })
            .collect();
        println!("{}", json!({"rate": args.rate, "seconds": args.seconds, "costs": rows}));
        return Ok(());
    }
    println!("\nCPU of sampling one ring (capacity observe, ring at {} events/s):", args.rate);
    let rows = costs.iter().map(|c| {
        [
            c.interval.clone(),
            format!("{:.0}", c.samples_per_s),
            format!("{:.2}%", c.cpu_fraction * 100.0),
            format!("{:.0} ns", c.ns_per_sample),
        ]
    });
    println!("{}", table::plain(["interval", "samples/s", "CPU of one core", "CPU per sample"], rows, &[1, 2, 3]));
    Ok(())
}
