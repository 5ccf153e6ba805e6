//! `cargo xtask bench kernel`: capacity with `--map off` (the ring alone)
//! beside the kernel's own ring buffer benchmark
//! (tools/testing/selftests/bpf/benchs/bench_ringbufs.c), on the same
//! workload: one producer, the batch, the ring (the kernel benchmark's is
//! fixed at 512 KiB) and the wakeups, adaptive and sampled. The kernel
//! benchmark is built from Debian's linux-source-6.12 by bench/kernel/build.sh
//! and cached under target/kbench/; nothing of it is kept in the repository.
//!
//! Records differ, and the table says so: the kernel benchmark writes an
//! 8-byte sample (16 ring bytes with the header), capacity its smallest
//! event, 16 bytes (24 ring bytes), which carries the sequence number its
//! accounting needs. Rounds are interleaved (capacity, rb-libbpf, rb-custom,
//! ...) and the ratio is capacity's consumed events/s over the better of the
//! two kernel readers, median of the per-round ratios.
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::{
    bench_output::{field, format_rate, json_output},
    setup::{apt_install, describe, ensure_toolchain, run_checked, step},
    table,
    tasks::{build_release_capacity, is_root},
    workspace::workspace_root,
};

/// The kernel benchmark's ring (`ringbuf_sz` in bench_ringbufs.c).
const KERNEL_RING: &str = "512K";
/// capacity's smallest event and the kernel benchmark's sample, in ring bytes.
const CAPACITY_RECORD: u32 = 24;
const KERNEL_RECORD: u32 = 16;

#[derive(Debug, Args)]
pub struct KernelBenchArgs {
    /// Interleaved rounds per wakeup mode.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds each run measures.
    #[arg(long, default_value_t = 3)]
    duration: u32,
    /// Records per trigger (the kernel benchmark's --rb-batch-cnt).
    #[arg(long, default_value_t = 500)]
    batch: u32,
    /// The sampled mode's wakeup interval (--rb-sample-rate, --wakeup sampled:N).
    #[arg(long, default_value_t = 500)]
    sample_rate: u32,
}

struct Round {
    capacity: f64,
    rb_libbpf: f64,
    rb_custom: f64,
}

impl Round {
    fn ratio(&self) -> f64 {
        self.capacity / self.rb_libbpf.max(self.rb_custom)
    }
}

pub fn run(args: &KernelBenchArgs) -> Result<()> {
    if args.rounds == 0 || args.duration == 0 || args.batch == 0 || args.sample_rate == 0 {
        bail!("--rounds, --duration, --batch and --sample-rate must be positive");
    }
    if !is_root() {
        bail!("the bench loads BPF programs: run it as root");
    }
    let capacity = build_release_capacity(&ensure_toolchain()?)?;
    let kernel = build_kernel_bench()?;
    let modes = [("adaptive".to_string(), None), (format!("sampled:{}", args.sample_rate), Some(args.sample_rate))];
    let mut report = String::new();
    for (wakeup, sample) in &modes {
        let mut rounds = Vec::new();
        for round in 1..=args.rounds {
            step(&format!("{wakeup}, round {round}/{}", args.rounds));
            let mut load = Command::new(&capacity);
            load.args(["load", "--json", "--rate", "max", "--map", "off", "--event-size", "16", "--warmup", "0.2s"])
                .args(["--ringbuf-size", KERNEL_RING, "--wakeup", wakeup])
                .arg("--batch")
                .arg(args.batch.to_string())
                .arg("--duration")
                .arg(args.duration.to_string());
            let json = json_output(&mut load)?;
            let capacity = field(&json, "consumed_per_s")?;
            let rb_libbpf = kernel_run(&kernel, "rb-libbpf", args, *sample)?;
            let rb_custom = kernel_run(&kernel, "rb-custom", args, *sample)?;
            rounds.push(Round { capacity, rb_libbpf, rb_custom });
        }
        report.push_str(&mode_table(wakeup, args, &rounds));
    }
    print!("{report}");
    Ok(())
}

/// Build (once; cached in target/kbench/) the kernel's benchmark binary.
fn build_kernel_bench() -> Result<std::path::PathBuf> {
    let out = workspace_root().join("target/kbench");
    let binary = out.join("bench");
    if binary.exists() {
        return Ok(binary);
    }
    apt_install(&["linux-source-6.12", "bpftool", "clang", "libelf-dev", "zlib1g-dev", "make"])?;
    step("building the kernel's ring buffer benchmark from linux-source-6.12 (about 80 s)");
    run_checked(Command::new("sh").arg(workspace_root().join("bench/kernel/build.sh")).arg(&out))?;
    Ok(binary)
}

/// One run of the kernel benchmark: its consumed records per second.
fn kernel_run(binary: &std::path::Path, bench: &str, args: &KernelBenchArgs, sample: Option<u32>) -> Result<f64> {
    let mut cmd = Command::new(binary);
    cmd.args(["-w1", "-a", "-c1"])
        .arg(format!("-d{}", args.duration))
        .arg("--rb-batch-cnt")
        .arg(args.batch.to_string());
    if let Some(rate) = sample {
        cmd.args(["--rb-sampled", "--rb-sample-rate"]).arg(rate.to_string());
    }
    cmd.arg(bench);
    eprintln!("xtask: $ {}", describe(&cmd));
    let out = cmd.output().with_context(|| format!("cannot start `{}`", describe(&cmd)))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("`{}` failed ({}): {text}{}", describe(&cmd), out.status, String::from_utf8_lossy(&out.stderr));
    }
    summary_hits(&text).with_context(|| format!("`{}` printed no summary: {text}", describe(&cmd)))
}

/// `Summary: hits    5.391 ± 0.112M/s (...)` → 5.391e6.
fn summary_hits(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("Summary:"))?;
    let hits = line.split("hits").nth(1)?.split_whitespace().next()?;
    Some(hits.parse::<f64>().ok()? * 1e6)
}

fn mode_table(wakeup: &str, args: &KernelBenchArgs, rounds: &[Round]) -> String {
    let median = |pick: fn(&Round) -> f64| crate::bench_output::median(rounds.iter().map(pick).collect());
    let mut rows: Vec<[String; 5]> = rounds
        .iter()
        .enumerate()
        .map(|(i, r)| {
            [
                (i + 1).to_string(),
                format_rate(r.capacity),
                format_rate(r.rb_libbpf),
                format_rate(r.rb_custom),
                format!("{:.3}", r.ratio()),
            ]
        })
        .collect();
    rows.push([
        "median".into(),
        format_rate(median(|r| r.capacity)),
        format_rate(median(|r| r.rb_libbpf)),
        format_rate(median(|r| r.rb_custom)),
        format!("{:.3}", median(Round::ratio)),
    ]);
    format!(
        "\n{wakeup} wakeups: batch {}, ring {KERNEL_RING}, one producer, {} s per run; records: capacity {CAPACITY_RECORD} B \
         (16 B event, --map off), kernel benchmark {KERNEL_RECORD} B (8 B sample)\n{}\nratio capacity / better of rb-libbpf, \
         rb-custom (median of rounds): {:.3}\n",
        args.batch,
        args.duration,
        table::plain(["round", "capacity", "rb-libbpf", "rb-custom", "ratio"], rows, &[1, 2, 3, 4]),
        median(Round::ratio)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_summary_line_gives_the_hits() {
        let out = "Iter   4 (15920.489us): hits    2.672M/s\nSummary: hits    2.751 ± 0.032M/s (  2.751M/prod), drops    8.336 ± 0.508M/s";
        assert_eq!(super::summary_hits(out), Some(2.751e6));
        assert_eq!(super::summary_hits("nothing"), None);
    }
}
