//! `cargo xtask bench drain`: how fast each reader empties a ring that is
//! already full. The kernel program fills a ring (256 MiB by default) while
//! nothing reads it, then one reader drains it alone: capacity's own reader,
//! aya 0.14's `RingBuf::next()` (both in tests/src/bin/ring_drain.rs) and
//! libbpf's `ring_buffer__consume` (bench/reference, a ring filled the same
//! way in its own process). Readers take turns, repeat after repeat; the
//! median of each is reported, in M records/s.
//!
//! With `--perf`, the same for the `perf` layout: one CPU's perf buffer
//! (64 MiB by default), drained by capacity's `PerfBuffer` or by aya 0.14's
//! `PerfEventArrayBuffer::for_each` (tests/src/bin/perf_drain.rs).
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use crate::{
    bench_output::{field, json_output, json_output_unless_exit, median},
    setup::{ensure_toolchain, run_checked, step, BpfToolchain},
    table,
    tasks::is_root,
    workspace::{cargo, workspace_root},
};

#[derive(Debug, Args)]
pub struct DrainBenchArgs {
    /// Fill-and-drain rounds per reader (at least 5).
    #[arg(long, default_value_t = 5)]
    repeats: u32,
    /// Ring size in bytes.
    #[arg(long, default_value_t = 256 << 20)]
    ringbuf_size: u32,
    /// Whole record the program reserves, header included (16: the smallest).
    #[arg(long, default_value_t = 16)]
    event_size: u32,
    /// Print one JSON object (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Drain one CPU's perf buffer instead: capacity's PerfBuffer and aya's PerfEventArrayBuffer.
    #[arg(long)]
    perf: bool,
    /// With --perf: the buffer's data pages (a power of two), halved while it cannot be mapped here.
    #[arg(long, default_value_t = 16384)]
    perf_pages: u32,
}

const READERS: [&str; 3] = ["capacity", "aya", "libbpf"];
const PERF_READERS: [&str; 2] = ["capacity", "aya"];
/// perf_drain's exit code when a buffer of the pages asked for cannot be opened.
const PERF_TOO_LARGE: i32 = 3;

pub fn run(args: &DrainBenchArgs) -> Result<()> {
    if args.repeats < 5 {
        bail!("--repeats must be at least 5");
    }
    if !is_root() {
        bail!("the bench loads BPF programs: run it as root");
    }
    if args.perf && !args.perf_pages.is_power_of_two() {
        bail!("--perf-pages must be a power of two");
    }
    let toolchain = ensure_toolchain()?;
    if args.perf {
        return run_perf(args, &toolchain);
    }
    let ring_drain = build_bin(&toolchain, "ring_drain")?;
    let reference = crate::bench_reference::build_reference()?;

    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); READERS.len()];
    for repeat in 1..=args.repeats {
        for (i, reader) in READERS.iter().enumerate() {
            step(&format!("repeat {repeat}/{}: {reader}", args.repeats));
            let mut cmd = match *reader {
                "libbpf" => libbpf_drain(&reference, args),
                _ => {
                    let mut cmd = Command::new(&ring_drain);
                    cmd.arg(reader).arg(args.ringbuf_size.to_string()).arg(args.event_size.to_string());
                    cmd
                }
            };
            let out = json_output(&mut cmd)?;
            rates[i].push(field(&out, "records_per_s")?);
        }
    }
    let medians = medians(&rates);
    let record = capacity_common::record_bytes(args.event_size.into());
    if args.json {
        let report = json!({
            "ringbuf_size": args.ringbuf_size,
            "event_size": args.event_size,
            "record_bytes": record,
            "repeats": args.repeats,
            "records_per_s": by_reader(&READERS, &rates),
            "median_records_per_s": by_reader(&READERS, &medians),
        });
        println!("{report}");
        return Ok(());
    }
    println!(
        "\nprefilled-ring drain: a {} MiB ring of {}-byte records ({} B events), each reader alone, {} repeats",
        args.ringbuf_size >> 20,
        record,
        args.event_size,
        args.repeats
    );
    println!("{}", rates_table(&READERS, &rates, &medians));
    Ok(())
}

/// The perf buffer's drain: both readers, repeat after repeat, with the
/// largest buffer up to `--perf-pages` that maps here.
fn run_perf(args: &DrainBenchArgs, toolchain: &BpfToolchain) -> Result<()> {
    let perf_drain = build_bin(toolchain, "perf_drain")?;
    let mut pages = args.perf_pages;
    let runs = loop {
        match perf_repeats(&perf_drain, args, pages)? {
            Some(runs) => break runs,
            None if pages > 1 => {
                step(&format!("a perf buffer of {pages} pages cannot be mapped here: trying {}", pages / 2));
                pages /= 2;
            }
            None => bail!("not even a one-page perf buffer can be opened here"),
        }
    };
    let medians = medians(&runs.rates);
    let record = runs.record_bytes;
    if args.json {
        let report = json!({
            "perf_pages": pages,
            "perf_pages_asked": args.perf_pages,
            "buffer_bytes": runs.buffer_bytes,
            "event_size": args.event_size,
            "record_bytes": record,
            "samples": runs.samples,
            "lost": runs.lost,
            "repeats": args.repeats,
            "records_per_s": by_reader(&PERF_READERS, &runs.rates),
            "median_records_per_s": by_reader(&PERF_READERS, &medians),
        });
        println!("{report}");
        return Ok(());
    }
    let fallback =
        if pages == args.perf_pages { String::new() } else { format!(", {} asked for did not map", args.perf_pages) };
    println!(
        "\nprefilled perf-buffer drain: one CPU's {} MiB buffer ({pages} pages{fallback}) of {record}-byte records \
         ({} B events, {} samples, {} lost), each reader alone, {} repeats",
        runs.buffer_bytes >> 20,
        args.event_size,
        runs.samples,
        runs.lost,
        args.repeats
    );
    println!("{}", rates_table(&PERF_READERS, &runs.rates, &medians));
    Ok(())
}

/// What the perf repeats measured.
struct PerfRuns {
    /// Samples per second, by reader in [`PERF_READERS`]' order, repeat after repeat.
    rates: Vec<Vec<f64>>,
    /// The most samples one run drained, and the lost samples of all runs.
    samples: u64,
    lost: u64,
    buffer_bytes: u64,
    /// What one sample takes in the buffer, as capacity's layout model says.
    record_bytes: u64,
}

/// Every repeat of both readers with buffers of `pages` pages; None if a
/// buffer that large cannot be mapped here.
fn perf_repeats(perf_drain: &Path, args: &DrainBenchArgs, pages: u32) -> Result<Option<PerfRuns>> {
    let mut runs =
        PerfRuns { rates: vec![Vec::new(); PERF_READERS.len()], samples: 0, lost: 0, buffer_bytes: 0, record_bytes: 0 };
    for repeat in 1..=args.repeats {
        for (i, reader) in PERF_READERS.iter().enumerate() {
            step(&format!("repeat {repeat}/{}: {reader} ({pages} pages)", args.repeats));
            let mut cmd = Command::new(perf_drain);
            cmd.arg(reader).arg(pages.to_string()).arg(args.event_size.to_string());
            let Some(out) = json_output_unless_exit(&mut cmd, Some(PERF_TOO_LARGE))? else {
                return Ok(None);
            };
            runs.rates[i].push(field(&out, "records_per_s")?);
            runs.samples = runs.samples.max(field(&out, "records")? as u64);
            runs.lost += field(&out, "lost")? as u64;
            runs.buffer_bytes = field(&out, "buffer_bytes")? as u64;
            runs.record_bytes = field(&out, "record_bytes")? as u64;
        }
    }
    Ok(Some(runs))
}

/// A bin of capacity-tests, built in release.
fn build_bin(toolchain: &BpfToolchain, name: &str) -> Result<PathBuf> {
    step(&format!("building {name} (release)"));
    let mut build = cargo(&["build", "--release", "--package", "capacity-tests", "--bin", name]);
    toolchain.apply(&mut build);
    run_checked(&mut build)?;
    Ok(workspace_root().join("target/release").join(name))
}

fn medians(rates: &[Vec<f64>]) -> Vec<f64> {
    rates.iter().map(|r| median(r.clone())).collect()
}

/// `values` keyed by reader, for the JSON report.
fn by_reader<T: Clone + Into<serde_json::Value>>(
    readers: &[&str],
    values: &[T],
) -> serde_json::Map<String, serde_json::Value> {
    readers.iter().zip(values).map(|(r, v)| (r.to_string(), v.clone().into())).collect()
}

/// One row per reader: its median, its ratio to the first reader's, and
/// every repeat, in M records/s.
fn rates_table(readers: &[&str], rates: &[Vec<f64>], medians: &[f64]) -> String {
    let rows = readers.iter().zip(rates).zip(medians).map(|((reader, all), median)| {
        let runs: Vec<String> = all.iter().map(|r| format!("{:.1}", r / 1e6)).collect();
        [reader.to_string(), format!("{:.1}", median / 1e6), format!("{:.2}", median / medians[0]), runs.join(" ")]
    });
    table::plain(["reader", "median M records/s", "vs capacity", "each repeat"], rows, &[1, 2])
}

/// The libbpf reference filling and draining a ring of the same shape.
fn libbpf_drain(reference: &Path, args: &DrainBenchArgs) -> Command {
    let mut cmd = Command::new(reference);
    cmd.args(["--drain", "--map", "off", "--batch", "512", "--duration", "1"])
        .arg("--event-size")
        .arg(args.event_size.to_string())
        .arg("--ringbuf-size")
        .arg(args.ringbuf_size.to_string())
        // No wakeups while nobody reads (ring_drain sets the same).
        .args(["--wakeup-every", "4294967295"]);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_each_readers_median_ratio_and_repeats() {
        let rates = vec![vec![100e6, 120e6, 110e6], vec![50e6, 60e6, 55e6]];
        let medians = medians(&rates);
        assert_eq!(medians, [110e6, 55e6]);
        assert_eq!(
            rates_table(&PERF_READERS, &rates, &medians),
            "reader    median M records/s  vs capacity  each repeat\n\
             capacity               110.0         1.00  100.0 120.0 110.0\n\
             aya                     55.0         0.50  50.0 60.0 55.0"
        );
        assert_eq!(by_reader(&PERF_READERS, &medians)["aya"], json!(55e6));
    }
}
