//! The capacity side of `cargo xtask bench drain`: fills a ring with the
//! kernel program while nothing reads it, then drains it with one reader
//! alone (capacity's own, or aya's `RingBuf::next()`) and prints one JSON
//! line with the records read and the time taken. Every record emitted
//! must be read back, or it exits 1.
//!
//! Usage: ring_drain capacity|aya [RINGBUF_SIZE [EVENT_SIZE]]
use std::time::Instant;

use aya::maps::RingBuf;
use capacity::run::{
    program::{trigger, EmitProgram, ProgramSettings},
    ring::{Record, Ring, RELEASE_EVERY},
};

type Error = Box<dyn std::error::Error + Send + Sync>;

enum Reader {
    Capacity(Ring),
    Aya(RingBuf<aya::maps::MapData>),
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let reader = args.get(1).map(String::as_str).unwrap_or("capacity");
    let ring_size: u32 = args.get(2).map_or(Ok(256 << 20), |s| s.parse())?;
    let event_size: u32 = args.get(3).map_or(Ok(16), |s| s.parse())?;
    capacity::preflight::check_load_environment("ring_drain")?;
    let settings = ProgramSettings {
        event_size,
        size_table: None,
        batch: 512,
        keyspace: 1,
        ringbuf_size: ring_size,
        map_entries: 1,
        // No wakeup: nobody waits.
        wakeup_every: u32::MAX,
        overwrite: false,
        map: false,
        layout: Default::default(),
        perf_pages: 1,
    };
    let mut program = EmitProgram::load(&settings)?;
    let ring = program.take_ring()?;
    // Fill until the program finds the ring full.
    let token = program.token();
    while program.counters()?.dropped == 0 {
        for _ in 0..64 {
            trigger(token, 0);
        }
    }
    let emitted = program.counters()?.emitted;

    let (mut records, mut checksum) = (0u64, 0u64);
    // Each reader maps the ring before the clock starts, as libbpf's
    // ring_buffer__new does (aya's RingBuf mapped it in take_ring).
    let mut ring = match reader {
        "capacity" => {
            Reader::Capacity(Ring::new(ring, false, u64::from(ring_size), event_size as usize, RELEASE_EVERY)?)
        }
        "aya" => Reader::Aya(ring),
        other => return Err(format!("unknown reader `{other}`: use capacity or aya").into()),
    };
    let started = Instant::now();
    match &mut ring {
        Reader::Capacity(ring) => loop {
            let n = ring.drain(|record| {
                if let Record::Event { header, .. } = record {
                    checksum = checksum.wrapping_add(u64::from(header.seq));
                }
            });
            if n == 0 {
                break;
            }
            records += n;
        },
        Reader::Aya(ring) => {
            while let Some(record) = ring.next() {
                records += 1;
                // The sequence number, as capacity's reader reads it.
                checksum = checksum.wrapping_add(u64::from(u32::from_ne_bytes(record[8..12].try_into()?)));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"reader\":\"{reader}\",\"records\":{records},\"seconds\":{seconds:.6},\"records_per_s\":{:.1},\"checksum\":{checksum}}}",
        records as f64 / seconds
    );
    if records != emitted {
        eprintln!("ring_drain: {emitted} records emitted but {records} read");
        std::process::exit(1);
    }
    Ok(())
}
