//! `cargo xtask bench`: capacity's consumer against the consumer most C
//! tools use (libbpf's `ring_buffer__poll`, bench/reference/), on the same
//! workload, then the load generator's pacing accuracy.
//!
//! The machines are shared and noisy, so no absolute figure is a goal: the
//! two consumers run interleaved (A B A B ...) in one invocation and the
//! result is the median of the per-round ratios. The ratio is reported, not
//! gated; only a failed run or a broken invariant fails the bench.
use std::{fmt::Write as _, path::Path, process::Command};

use anyhow::{bail, Result};
use clap::Args;
use serde_json::{json, Value};

use capacity_common::Wakeup;

use crate::{
    bench_output::{field, format_rate, json_output, median, optional_field},
    bench_reference::build_reference,
    setup::{apt_install, ensure_toolchain, step},
    table,
    tasks::{build_release_capacity, is_root},
};

/// Debian packages the reference consumer is built with.
const REFERENCE_PACKAGES: &[&str] = &["clang", "libbpf-dev", "libelf-dev", "zlib1g-dev", "pkg-config"];
/// Pacing targets, events per second.
const PACING_RATES: &[f64] = &[10e3, 50e3, 200e3, 1e6, 2e6];
/// Triggers per second the pacing runs stay under (batch = rate / this),
/// well below one core's ~5 M syscalls/s so the generator, not the
/// syscall, sets the pace.
const PACING_TRIGGERS_PER_S: f64 = 100e3;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    kind: Option<BenchKind>,
    /// Interleaved rounds, each one run of capacity and one of the reference.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Seconds of each unpaced run.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Events per trigger.
    #[arg(long, default_value_t = 64)]
    batch: u32,
    /// Whole record the program reserves, header included.
    #[arg(long, default_value_t = 64)]
    event_size: u32,
    /// Ring buffer size (bytes or K/M/G), passed to both consumers as is.
    #[arg(long, default_value = "16M")]
    ringbuf_size: String,
    /// Consumer wakeups: adaptive or sampled:N.
    #[arg(long, default_value = "adaptive")]
    wakeup: Wakeup,
    /// Seconds of each pacing run.
    #[arg(long, default_value_t = 2.0)]
    pacing_duration: f64,
    /// Print one JSON object (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

/// Benches other than the consumer comparison.
#[derive(Debug, clap::Subcommand)]
enum BenchKind {
    /// Run `capacity search` several times: each answer, its spread and time, and max/min of the answers.
    Search(crate::bench_search::SearchBenchArgs),
    /// Create 10 to 10000 maps (some hash maps with 100k entries): CPU time of one `capacity host`
    /// and of one watch sample, scrape time and RSS at each count.
    Host(crate::bench_host::HostBenchArgs),
    /// The CPU that sampling one ring every 1 ms (observe) and 10 ms (watch --ring-interval) costs.
    Observe(crate::bench_observe::ObserveBenchArgs),
    /// Drain a prefilled ring with capacity's reader, aya's RingBuf::next() and libbpf's ring_buffer__consume
    /// (--perf: one CPU's perf buffer, with capacity's PerfBuffer and aya's PerfEventArrayBuffer).
    Drain(crate::bench_drain::DrainBenchArgs),
    /// capacity --map off beside the kernel selftests' ring buffer benchmark (built from linux-source-6.12).
    Kernel(crate::bench_kernel::KernelBenchArgs),
}

/// One unpaced run of either consumer.
#[derive(Debug, Clone, Copy)]
struct Throughput {
    /// Consumed events per second of producer run time.
    events_per_s: f64,
    /// Attempted (consumed + dropped) per second: how fast the producer went,
    /// which the consumer's wakeups slow down.
    offered_per_s: f64,
    dropped: u64,
    /// In-kernel run time per event: shows both programs did the same work.
    kernel_ns: Option<f64>,
    /// Consumer thread CPU time per consumed event.
    consumer_ns: Option<f64>,
}

struct Round {
    capacity: Throughput,
    libbpf: Throughput,
}

impl Round {
    fn ratio(&self) -> f64 {
        self.capacity.events_per_s / self.libbpf.events_per_s
    }
}

struct Pacing {
    target: f64,
    batch: u32,
    actual: f64,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.kind {
        Some(BenchKind::Search(search)) => return crate::bench_search::run(search),
        Some(BenchKind::Drain(drain)) => return crate::bench_drain::run(drain),
        Some(BenchKind::Kernel(kernel)) => return crate::bench_kernel::run(kernel),
        Some(BenchKind::Host(host)) => return crate::bench_host::run(host),
        Some(BenchKind::Observe(observe)) => return crate::bench_observe::run(observe),
        None => {}
    }
    if args.rounds == 0 || args.batch == 0 || args.duration <= 0.0 || args.pacing_duration <= 0.0 {
        bail!("--rounds, --duration, --pacing-duration and --batch must be positive");
    }
    if !is_root() {
        bail!("the bench loads BPF programs: run it as root");
    }
    let toolchain = ensure_toolchain()?;
    apt_install(REFERENCE_PACKAGES)?;
    let capacity = build_release_capacity(&toolchain)?;
    let reference = build_reference()?;

    step(&format!(
        "{} interleaved rounds of {} s: batch {}, {} B events, ring {}, {} wakeups, unpaced",
        args.rounds, args.duration, args.batch, args.event_size, args.ringbuf_size, args.wakeup
    ));
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        step(&format!("round {round}/{}: capacity", args.rounds));
        let capacity = run_capacity_unpaced(&capacity, args)?;
        step(&format!("round {round}/{}: libbpf reference", args.rounds));
        let libbpf = run_reference(&reference, args)?;
        rounds.push(Round { capacity, libbpf });
    }

    let mut pacing = Vec::new();
    for &target in PACING_RATES {
        let batch = pacing_batch(target);
        step(&format!("pacing: capacity at {} (batch {batch})", format_rate(target)));
        pacing.push(Pacing { target, batch, actual: run_capacity_paced(&capacity, args, target, batch)? });
    }

    if args.json {
        println!("{}", json_report(args, &rounds, &pacing));
    } else {
        print!("{}", human_report(args, &rounds, &pacing));
    }
    Ok(())
}

/// The workload options both tools take, spelled alike.
fn workload(args: &BenchArgs, batch: u32) -> Vec<String> {
    vec![
        "--batch".into(),
        batch.to_string(),
        "--event-size".into(),
        args.event_size.to_string(),
        "--ringbuf-size".into(),
        args.ringbuf_size.clone(),
    ]
}

/// A `capacity load` with the bench's workload.
fn capacity_load(binary: &Path, args: &BenchArgs, batch: u32) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args(["load", "--json", "--wakeup"]).arg(args.wakeup.to_string()).args(workload(args, batch));
    cmd
}

fn run_capacity_unpaced(binary: &Path, args: &BenchArgs) -> Result<Throughput> {
    let mut cmd = capacity_load(binary, args, args.batch);
    cmd.args(["--rate", "max", "--warmup", "0", "--duration"]).arg(args.duration.to_string());
    let json = json_output(&mut cmd)?;
    let consumed = field(&json, "consumed")?;
    check_accounting(&json, args.batch, consumed)?;
    let (duration, dropped) = (field(&json, "duration_s")?, field(&json, "dropped")?);
    Ok(Throughput {
        events_per_s: consumed / duration,
        offered_per_s: (consumed + dropped) / duration,
        dropped: dropped as u64,
        kernel_ns: optional_field(&json, "kernel_ns_per_event"),
        consumer_ns: optional_field(&json, "consumer_ns_per_event"),
    })
}

fn run_reference(binary: &Path, args: &BenchArgs) -> Result<Throughput> {
    let mut cmd = Command::new(binary);
    cmd.arg("--duration").arg(args.duration.to_string()).args(workload(args, args.batch));
    if let Wakeup::Sampled(n) = args.wakeup {
        cmd.arg("--wakeup-every").arg(n.to_string());
    }
    let json = json_output(&mut cmd)?;
    let consumed = field(&json, "consumed")?;
    check_accounting(&json, args.batch, consumed)?;
    let (duration, dropped) = (field(&json, "duration_s")?, field(&json, "dropped")?);
    Ok(Throughput {
        events_per_s: field(&json, "events_per_s")?,
        offered_per_s: (consumed + dropped) / duration,
        dropped: dropped as u64,
        // 0 when the kernel refused BPF_ENABLE_STATS.
        kernel_ns: optional_field(&json, "kernel_ns_per_event").filter(|ns| *ns > 0.0),
        consumer_ns: optional_field(&json, "consumer_ns_per_event"),
    })
}

fn run_capacity_paced(binary: &Path, args: &BenchArgs, rate: f64, batch: u32) -> Result<f64> {
    let mut cmd = capacity_load(binary, args, batch);
    cmd.arg("--rate").arg(rate.to_string()).arg("--duration").arg(args.pacing_duration.to_string());
    let json = json_output(&mut cmd)?;
    check_accounting(&json, batch, field(&json, "consumed")?)?;
    field(&json, "actual_rate")
}

/// Enough events per trigger to keep the trigger rate reachable.
fn pacing_batch(rate: f64) -> u32 {
    (rate / PACING_TRIGGERS_PER_S).floor().max(1.0) as u32
}

/// Both tools check their own invariants and exit non-zero; this checks the
/// two that the comparison rests on from their output, the same way for both.
fn check_accounting(json: &Value, batch: u32, consumed: f64) -> Result<()> {
    let emitted = field(json, "emitted")?;
    let dropped = field(json, "dropped")?;
    let triggers = field(json, "triggers")?;
    if emitted != consumed {
        bail!("invariant broken: emitted {emitted} but consumed {consumed}");
    }
    if triggers * f64::from(batch) != emitted + dropped {
        bail!(
            "invariant broken: triggers × batch = {} but emitted + dropped = {}",
            triggers * f64::from(batch),
            emitted + dropped
        );
    }
    Ok(())
}

fn median_of(rounds: &[Round], pick: impl Fn(&Round) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = rounds.iter().filter_map(pick).collect();
    (!values.is_empty()).then(|| median(values))
}

fn format_ns(ns: Option<f64>) -> String {
    ns.map_or_else(|| "-".into(), |ns| format!("{ns:.0}"))
}

fn human_report(args: &BenchArgs, rounds: &[Round], pacing: &[Pacing]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nconsumer throughput, unpaced: batch {}, {} B events, ring {}, {} wakeups, {} s per run",
        args.batch, args.event_size, args.ringbuf_size, args.wakeup, args.duration
    );
    let ns_pair = |capacity: Option<f64>, libbpf: Option<f64>| format!("{}/{}", format_ns(capacity), format_ns(libbpf));
    let mut rows: Vec<Vec<String>> = rounds
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                (i + 1).to_string(),
                format_rate(r.capacity.events_per_s),
                format_rate(r.libbpf.events_per_s),
                format!("{:.3}", r.ratio()),
                format_rate(r.capacity.offered_per_s),
                format_rate(r.libbpf.offered_per_s),
                r.capacity.dropped.to_string(),
                r.libbpf.dropped.to_string(),
                ns_pair(r.capacity.kernel_ns, r.libbpf.kernel_ns),
                ns_pair(r.capacity.consumer_ns, r.libbpf.consumer_ns),
            ]
        })
        .collect();
    let m = |pick: fn(&Round) -> Option<f64>| median_of(rounds, pick);
    rows.push(vec![
        "median".into(),
        format_rate(m(|r| Some(r.capacity.events_per_s)).unwrap_or(0.0)),
        format_rate(m(|r| Some(r.libbpf.events_per_s)).unwrap_or(0.0)),
        format!("{:.3}", m(|r| Some(r.ratio())).unwrap_or(0.0)),
        format_rate(m(|r| Some(r.capacity.offered_per_s)).unwrap_or(0.0)),
        format_rate(m(|r| Some(r.libbpf.offered_per_s)).unwrap_or(0.0)),
        String::new(),
        String::new(),
        ns_pair(m(|r| r.capacity.kernel_ns), m(|r| r.libbpf.kernel_ns)),
        ns_pair(m(|r| r.capacity.consumer_ns), m(|r| r.libbpf.consumer_ns)),
    ]);
    let header = [
        "round", "capacity", "libbpf", "ratio", "cap offered", "lib offered", "cap drops", "lib drops",
        "kernel ns/ev c/l", "consumer ns/ev c/l",
    ];
    let _ = writeln!(out, "{}", table::plain(header, rows, &[1, 2, 3, 4, 5, 6, 7, 8, 9]));
    let _ = writeln!(
        out,
        "capacity, libbpf: consumed events / producer run time; offered: (consumed + dropped) / run time; \
         drops: events the ring had no room for;\nns/ev: in-kernel run time per event and consumer thread CPU \
         time per consumed event (capacity/libbpf)"
    );
    let _ = writeln!(
        out,
        "ratio capacity/libbpf (median of per-round ratios): {:.3}",
        m(|r| Some(r.ratio())).unwrap_or(0.0)
    );
    let _ = writeln!(
        out,
        "\npacing accuracy: capacity load, {} wakeups, {} s per run (batch = rate / {})",
        args.wakeup, args.pacing_duration, PACING_TRIGGERS_PER_S
    );
    let rows = pacing.iter().map(|p| {
        [format_rate(p.target), p.batch.to_string(), format_rate(p.actual), format!("{:.4}", p.actual / p.target)]
    });
    let _ = writeln!(out, "{}", table::plain(["target", "batch", "actual", "actual/target"], rows, &[0, 1, 2, 3]));
    out
}

fn json_report(args: &BenchArgs, rounds: &[Round], pacing: &[Pacing]) -> String {
    let run = |t: &Throughput| {
        json!({
            "events_per_s": t.events_per_s,
            "offered_per_s": t.offered_per_s,
            "dropped": t.dropped,
            "kernel_ns_per_event": t.kernel_ns,
            "consumer_ns_per_event": t.consumer_ns,
        })
    };
    let report = json!({
        "workload": {
            "batch": args.batch,
            "event_size": args.event_size,
            "ringbuf_size": args.ringbuf_size,
            "wakeup": args.wakeup.to_string(),
            "duration_s": args.duration,
        },
        "rounds": rounds
            .iter()
            .map(|r| json!({"capacity": run(&r.capacity), "libbpf": run(&r.libbpf), "ratio": r.ratio()}))
            .collect::<Vec<_>>(),
        "median_capacity_events_per_s": median_of(rounds, |r| Some(r.capacity.events_per_s)).unwrap_or(0.0),
        "median_libbpf_events_per_s": median_of(rounds, |r| Some(r.libbpf.events_per_s)).unwrap_or(0.0),
        "ratio": median_of(rounds, |r| Some(r.ratio())).unwrap_or(0.0),
        "pacing": pacing
            .iter()
            .map(|p| json!({
                "target": p.target,
                "batch": p.batch,
                "actual": p.actual,
                "actual_over_target": p.actual / p.target,
            }))
            .collect::<Vec<_>>(),
    });
    report.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_numbers_or_absent() {
        let out: Value = serde_json::from_str(
            "{\n  \"consumed\": 3055616,\n  \"kernel_ns_per_event\": null,\n  \"duration_s\": 2.0021\n}",
        )
        .unwrap();
        assert_eq!(optional_field(&out, "consumed"), Some(3055616.0));
        assert_eq!(optional_field(&out, "duration_s"), Some(2.0021));
        assert_eq!(optional_field(&out, "kernel_ns_per_event"), None);
        assert!(field(&out, "missing").is_err());
    }

    #[test]
    fn the_tables_are_plain_columns_numbers_right_aligned() {
        use clap::{Args, FromArgMatches};
        let defaults = BenchArgs::augment_args(clap::Command::new("bench")).get_matches_from(["bench"]);
        let args = BenchArgs::from_arg_matches(&defaults).unwrap();
        let run = |events_per_s, dropped| Throughput {
            events_per_s,
            offered_per_s: events_per_s,
            dropped,
            kernel_ns: Some(60.0),
            consumer_ns: None,
        };
        let rounds = [Round { capacity: run(2e6, 0), libbpf: run(1e6, 12) }];
        let pacing = [Pacing { target: 10e3, batch: 1, actual: 9.99e3 }];
        let out = human_report(&args, &rounds, &pacing);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[2..5],
            [
                "round    capacity     libbpf  ratio  cap offered  lib offered  cap drops  lib drops  \
                 kernel ns/ev c/l  consumer ns/ev c/l",
                concat!(
                    "1       2.000 M/s  1.000 M/s  2.000    2.000 M/s    1.000 M/s          0         12",
                    "             60/60                 -/-"
                ),
                concat!(
                    "median  2.000 M/s  1.000 M/s  2.000    2.000 M/s    1.000 M/s                      ",
                    "             60/60                 -/-"
                ),
            ]
        );
        assert_eq!(
            lines[10..],
            ["  target  batch    actual  actual/target", "10.0 k/s      1  10.0 k/s         0.9990"]
        );
    }

    #[test]
    fn medians_and_batches() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(pacing_batch(10e3), 1);
        assert_eq!(pacing_batch(200e3), 2);
        assert_eq!(pacing_batch(2e6), 20);
    }
}
