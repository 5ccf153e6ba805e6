//! `cargo xtask bench drain`: how fast each reader empties a ring that is
//! already full. The kernel program fills a ring (256 MiB by default) while
//! nothing reads it, then one reader drains it alone: capacity's own reader,
//! aya 0.14's `RingBuf::next()` (both in tests/src/bin/ring_drain.rs) and
//! libbpf's `ring_buffer__consume` (bench/reference, a ring filled the same
//! way in its own process). Readers take turns, repeat after repeat; the
//! median of each is reported, in M records/s.
use std::{path::Path, process::Command};

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use crate::{
    bench_output::{field, json_output},
    setup::{ensure_toolchain, run_checked, step},
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
}

const READERS: [&str; 3] = ["capacity", "aya", "libbpf"];

pub fn run(args: &DrainBenchArgs) -> Result<()> {
    if args.repeats < 5 {
        bail!("--repeats must be at least 5");
    }
    if !is_root() {
        bail!("the bench loads BPF programs: run it as root");
    }
    let toolchain = ensure_toolchain()?;
    step("building ring_drain (release)");
    let mut build = cargo(&["build", "--release", "--package", "capacity-tests", "--bin", "ring_drain"]);
    toolchain.apply(&mut build);
    run_checked(&mut build)?;
    let ring_drain = workspace_root().join("target/release/ring_drain");
    let reference = crate::bench_reference::build_reference()?;

    let mut rates: [Vec<f64>; 3] = Default::default();
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
    let medians: Vec<f64> = rates.iter().map(|r| crate::bench_output::median(r.clone())).collect();
    let record = capacity_common::record_bytes(args.event_size.into());
    if args.json {
        let report = json!({
            "ringbuf_size": args.ringbuf_size,
            "event_size": args.event_size,
            "record_bytes": record,
            "repeats": args.repeats,
            "records_per_s": READERS.iter().zip(&rates).map(|(r, v)| (r.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "median_records_per_s": READERS.iter().zip(&medians).map(|(r, m)| (r.to_string(), json!(m))).collect::<serde_json::Map<_, _>>(),
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
    let rows = READERS.iter().zip(&rates).zip(&medians).map(|((reader, all), median)| {
        let runs: Vec<String> = all.iter().map(|r| format!("{:.1}", r / 1e6)).collect();
        [reader.to_string(), format!("{:.1}", median / 1e6), format!("{:.2}", median / medians[0]), runs.join(" ")]
    });
    println!("{}", table::plain(["reader", "median M records/s", "vs capacity", "each repeat"], rows, &[1, 2]));
    Ok(())
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
