//! The perf side of `cargo xtask bench drain --perf`: loads the program with
//! the `perf` layout, pins itself to one CPU so every sample goes to that
//! CPU's buffer, fills the buffer while nothing reads it (until the program
//! counts drops), then drains it with one reader alone, capacity's own
//! `PerfBuffer` or aya 0.14's `PerfEventArrayBuffer::for_each`, and prints
//! one JSON line with the samples read and the time taken. Every sample
//! emitted must be read back, or it exits 1; PERF_RECORD_LOST records are
//! counted apart (`lost`).
//!
//! aya cannot read a buffer it did not open (`PerfEventArray::open` always
//! opens a new perf event and stores it in the map), so in the aya run the
//! program is loaded with one-page buffers of capacity's, and aya opens its
//! own buffer of PAGES pages for the pinned CPU in the same PERF map, which
//! replaces capacity's there. Each run is one process, one load, one reader;
//! both readers map their buffer before the fill, so before the clock starts.
//!
//! Usage: perf_drain capacity|aya [PAGES [EVENT_SIZE]] (exit 3: a buffer of
//! PAGES pages cannot be opened or mapped here)
use std::time::Instant;

use aya::maps::{
    perf::{PerfEvent, PerfEventArrayBuffer},
    MapData, PerfEventArray,
};
use capacity::{
    layout::Layout,
    run::program::{trigger, EmitProgram, Outputs, ProgramSettings},
    sys::{
        host::{allowed_cpus, set_affinity},
        perf::{PerfBuffer, PerfRecord},
    },
};

type Error = Box<dyn std::error::Error + Send + Sync>;

enum Reader {
    Capacity(PerfBuffer),
    Aya(PerfEventArrayBuffer<MapData>),
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let reader = args.get(1).map(String::as_str).unwrap_or("capacity");
    let pages: u32 = args.get(2).map_or(Ok(16384), |s| s.parse())?;
    let event_size: u32 = args.get(3).map_or(Ok(16), |s| s.parse())?;
    if !matches!(reader, "capacity" | "aya") {
        return Err(format!("unknown reader `{reader}`: use capacity or aya").into());
    }
    if !pages.is_power_of_two() {
        return Err(format!("{pages} pages: a perf buffer needs a power of two").into());
    }
    capacity::preflight::check_load_environment("perf_drain")?;
    // One CPU: the trigger's samples all go to its buffer (BPF_F_CURRENT_CPU).
    let cpu = *allowed_cpus().first().ok_or("cannot read this process's CPUs (sched_getaffinity)")?;
    set_affinity(&[cpu])?;
    // A buffer this large may not map here: say so with exit code 3, which
    // `cargo xtask bench drain --perf` answers with half the pages.
    if let Err(e) = PerfBuffer::open(cpu as u32, pages as usize, 1) {
        eprintln!("perf_drain: a perf buffer of {pages} pages cannot be opened on CPU {cpu}: {e}");
        std::process::exit(3);
    }
    let settings = ProgramSettings {
        event_size,
        size_table: None,
        batch: 512,
        keyspace: 1,
        ringbuf_size: 0,
        map_entries: 1,
        // No wakeup: nobody waits (aya's buffer wakes on every sample regardless).
        wakeup_every: u32::MAX,
        overwrite: false,
        map: false,
        layout: Layout::Perf,
        perf_pages: if reader == "capacity" { pages } else { 1 },
    };
    let mut program = EmitProgram::load(&settings)?;
    let Outputs::Perf(mut buffers) = program.take_outputs()? else {
        return Err("the perf layout gave no perf buffers".into());
    };
    let mut buffer = match reader {
        "capacity" => Reader::Capacity(buffers.swap_remove(cpu)),
        _ => {
            let mut array = PerfEventArray::try_from(program.take_perf_map()?)?;
            let buffer = array
                .open(cpu as u32, Some(pages as usize))
                .map_err(|e| format!("aya: opening the perf buffer of CPU {cpu} ({pages} pages): {e}"))?;
            Reader::Aya(buffer)
        }
    };
    drop(buffers);

    // Fill until the program finds the buffer full.
    let token = program.token();
    while program.counters()?.dropped == 0 {
        for _ in 0..64 {
            trigger(token, 0);
        }
    }
    let emitted = program.counters()?.emitted;

    let (mut records, mut lost, mut checksum) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    match &mut buffer {
        Reader::Capacity(buffer) => loop {
            let n = buffer.drain(|record| match record {
                PerfRecord::Sample(data) => {
                    records += 1;
                    checksum = checksum.wrapping_add(u64::from(seq(data, &[])));
                }
                PerfRecord::Lost(n) => lost += n,
            });
            if n == 0 {
                break;
            }
        },
        Reader::Aya(buffer) => {
            while buffer.readable() {
                buffer.for_each(|event| match event {
                    PerfEvent::Sample { head, tail } => {
                        records += 1;
                        checksum = checksum.wrapping_add(u64::from(seq(head, tail)));
                    }
                    PerfEvent::Lost { count } => lost += count,
                });
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"reader\":\"{reader}\",\"pages\":{pages},\"buffer_bytes\":{},\"record_bytes\":{},\"cpu\":{cpu},\"records\":{records},\"lost\":{lost},\"seconds\":{seconds:.6},\"records_per_s\":{:.1},\"checksum\":{checksum}}}",
        u64::from(pages) * capacity::sys::page_size(),
        capacity::layout::perf_record_bytes(event_size.into()),
        records as f64 / seconds
    );
    if records != emitted {
        eprintln!("perf_drain: {emitted} samples emitted but {records} read ({lost} reported lost)");
        std::process::exit(1);
    }
    Ok(())
}

/// The event's sequence number (bytes 8..12 of its header, as capacity's
/// reader reads it) from a sample in one piece or split at the buffer's end.
fn seq(head: &[u8], tail: &[u8]) -> u32 {
    if let Some(bytes) = head.get(8..12) {
        return u32::from_ne_bytes(bytes.try_into().unwrap_or_default());
    }
    let mut bytes = [0u8; 4];
    for (i, byte) in bytes.iter_mut().enumerate() {
        let at = 8 + i;
        *byte = head.get(at).or_else(|| tail.get(at - head.len())).copied().unwrap_or(0);
    }
    u32::from_ne_bytes(bytes)
}
