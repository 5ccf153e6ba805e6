//! `cargo xtask bench search`: how far repeated `capacity search` answers
//! lie apart on this host, and how long each takes.
//!
//! The goal (issue 12) is answers within 5% of each other (max/min ≤ 1.05)
//! at no more than about 60 s each. It is reported, not gated: the figure
//! depends on what else the host runs, so the host's load is printed too.
use std::{process::Command, time::Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::{
    bench_output::{field, format_rate, json_output},
    setup::{ensure_toolchain, step},
    table,
    tasks::{build_release_capacity, is_root},
};

/// The workload of issue 12's consumer-limited search.
const DEFAULT_SEARCH: &[&str] =
    &["--event-size", "64", "--batch", "8", "--consumer-work", "1000", "--ringbuf-size", "256K", "--step-duration", "2s"];
/// Answers this close (max/min) and searches this short meet the goal.
const GOAL_RATIO: f64 = 1.05;
const GOAL_SECONDS: f64 = 60.0;

#[derive(Debug, Args)]
pub struct SearchBenchArgs {
    /// Searches to run back to back.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Print one JSON object (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// `capacity search` options (default: the workload,
    /// `--event-size 64 --batch 8 --consumer-work 1000 --ringbuf-size 256K --step-duration 2s`).
    #[arg(last = true)]
    search: Vec<String>,
}

struct Answer {
    rate: f64,
    spread: (f64, f64),
    limited_by: String,
    batch: u64,
    trials: usize,
    seconds: f64,
}

pub fn run(args: &SearchBenchArgs) -> Result<()> {
    if args.runs < 2 {
        bail!("--runs must be at least 2: the bench compares searches with each other");
    }
    if !is_root() {
        bail!("the bench loads BPF programs: run it as root");
    }
    let capacity = build_release_capacity(&ensure_toolchain()?)?;
    let search: Vec<String> = if args.search.is_empty() {
        DEFAULT_SEARCH.iter().map(|s| s.to_string()).collect()
    } else {
        args.search.clone()
    };
    let load_before = load_average()?;
    let mut answers = Vec::new();
    for run in 1..=args.runs {
        step(&format!("search {run}/{}: capacity search {}", args.runs, search.join(" ")));
        // The integration tests' lock: a search that shares the kernel and
        // the CPUs with a test measures neither.
        let lock = std::fs::File::options()
            .create(true)
            .append(true)
            .open(std::env::temp_dir().join("capacity-tests.lock"))
            .context("opening the kernel tests' lock file")?;
        lock.lock().context("waiting for the kernel tests' lock")?;
        let started = Instant::now();
        let out = json_output(Command::new(&capacity).args(["search", "--json"]).args(&search))?;
        let seconds = started.elapsed().as_secs_f64();
        drop(lock);
        answers.push(Answer {
            rate: field(&out, "max_sustainable_rate")?,
            spread: (field(&out["spread"], "min")?, field(&out["spread"], "max")?),
            limited_by: out["limited_by"].as_str().unwrap_or("?").to_string(),
            batch: out["batch"].as_u64().unwrap_or(0),
            trials: out["trials"].as_array().map_or(0, Vec::len),
            seconds,
        });
    }
    let load_after = load_average()?;
    let (min, max) = answers.iter().fold((f64::MAX, 0.0f64), |(lo, hi), a| (lo.min(a.rate), hi.max(a.rate)));
    let ratio = if min > 0.0 { max / min } else { f64::INFINITY };
    let slowest = answers.iter().map(|a| a.seconds).fold(0.0, f64::max);
    let met = ratio <= GOAL_RATIO && slowest <= GOAL_SECONDS;
    if args.json {
        let runs: Vec<Value> = answers
            .iter()
            .map(|a| {
                json!({
                    "max_sustainable_rate": a.rate,
                    "spread": {"min": a.spread.0, "max": a.spread.1},
                    "limited_by": a.limited_by,
                    "batch": a.batch,
                    "trials": a.trials,
                    "seconds": a.seconds,
                })
            })
            .collect();
        let report = json!({
            "search": search,
            "runs": runs,
            "max_over_min": ratio,
            "slowest_seconds": slowest,
            "goal_met": met,
            "load_average_before": load_before,
            "load_average_after": load_after,
        });
        println!("{report}");
        return Ok(());
    }
    println!("\nrepeated searches: capacity search {}", search.join(" "));
    let rows = answers.iter().enumerate().map(|(i, a)| {
        [
            (i + 1).to_string(),
            format_rate(a.rate),
            format!("{} .. {}", format_rate(a.spread.0), format_rate(a.spread.1)),
            a.limited_by.to_string(),
            a.batch.to_string(),
            a.trials.to_string(),
            format!("{:.1}s", a.seconds),
        ]
    });
    let header = ["run", "answer", "spread", "limited_by", "batch", "trials", "time"];
    println!("{}", table::plain(header, rows, &[1, 2, 4, 5, 6]));
    println!(
        "max/min of the answers: {ratio:.3}; slowest search {slowest:.1} s; goal (<= {GOAL_RATIO}, <= {GOAL_SECONDS} s): {}",
        if met { "met" } else { "not met" }
    );
    println!("load average (1, 5, 15 min) before: {load_before}; after: {load_after}");
    Ok(())
}

/// The host's load average, as `uptime` shows it: the bench's figures
/// depend on it.
fn load_average() -> Result<String> {
    let text = std::fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    Ok(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}
