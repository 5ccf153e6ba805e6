//! A process of known ring behaviour for tests/tests/integration/observe.rs:
//! `ring_workload OBJECT BURST PERIOD_US WORK_NS STALL_MS EVERY_MS` loads
//! tests/bpf/observed.bpf.c's object; a producer thread writes BURST records
//! of 64 bytes into `observed_ring` every PERIOD_US (absolute deadlines, so
//! the rate is BURST / PERIOD_US exactly over time); a consumer thread takes
//! one record per WORK_NS while it has work (its capacity: it never goes
//! faster, and goes that fast while it has a CPU) and pauses STALL_MS every
//! EVERY_MS. It prints `ready ID` (the ring's map id) and runs until its
//! stdin closes, then prints one JSON line: records produced and consumed,
//! the longest pause it really took, and the most records that waited (at
//! the end of a pause, from its own counts).
use std::{
    io::{BufRead, Write},
    os::fd::{AsFd, BorrowedFd},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use aya::{
    maps::RingBuf,
    programs::{ProgramFd, SocketFilter},
    Ebpf,
};

/// Runs the socket filter `fd` `times` times: `times` records.
fn test_run(fd: BorrowedFd<'_>, times: u32) {
    let packet = [0u8; 64];
    capacity::sys::bpf::prog_test_run(fd, &packet, times).expect("BPF_PROG_TEST_RUN");
}

/// Runs the calling thread under SCHED_FIFO: on a host busy with other
/// work, a consumer that competes for its CPU would take less than its
/// capacity, and the producer would fall behind its rate. Both sleep most
/// of the time, so the real-time class costs the host little.
fn real_time() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: pid 0 is the calling thread; `param` outlives the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        eprintln!(
            "ring_workload: SCHED_FIFO refused ({}): rates depend on the host's load",
            std::io::Error::last_os_error()
        );
    }
}

fn spin_until(deadline: Instant) {
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, object, burst, period_us, work_ns, stall_ms, every_ms] = args.as_slice() else {
        panic!("usage: ring_workload OBJECT BURST PERIOD_US WORK_NS STALL_MS EVERY_MS");
    };
    let number = |s: &str| -> u64 { s.parse().expect("a whole number") };
    let burst = number(burst) as u32;
    let period = Duration::from_micros(number(period_us));
    let work = Duration::from_nanos(number(work_ns));
    let (stall, every) = (Duration::from_millis(number(stall_ms)), Duration::from_millis(number(every_ms)));

    let mut ebpf = Ebpf::load_file(object).expect("load object");
    let program: &mut SocketFilter =
        ebpf.program_mut("observed_emit").expect("program").try_into().expect("socket filter");
    program.load().expect("load program");
    let emit: ProgramFd = program.fd().expect("program fd").try_clone().expect("clone fd");
    let map = ebpf.take_map("observed_ring").expect("observed_ring");
    let aya::maps::Map::RingBuf(data) = &map else { panic!("observed_ring is not a ring buffer") };
    let id = data.info().expect("map info").id();
    let mut ring = RingBuf::try_from(map).expect("ring buffer");

    let done = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let producer = {
        let (done, produced) = (done.clone(), produced.clone());
        std::thread::spawn(move || {
            real_time();
            let start = Instant::now();
            let mut next = start;
            while !done.load(Ordering::Relaxed) {
                test_run(emit.as_fd(), burst);
                produced.fetch_add(burst.into(), Ordering::Relaxed);
                next += period;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        })
    };
    let consumer = {
        let (done, produced) = (done.clone(), produced.clone());
        std::thread::spawn(move || {
            real_time();
            capacity_tests::pin_to_last_cpu();
            let (mut consumed, mut longest_stall, mut peak_records) = (0u64, Duration::ZERO, 0u64);
            let start = Instant::now();
            // Half a period in, so that no pause straddles the end of an
            // observation as long as the whole periods it is given.
            let mut next_stall = start + every / 2;
            // Each record takes `work` from the end of the one before, as
            // long as the loop itself runs within a record of it (its own
            // cost is absorbed): one record per `work` at most, and exactly
            // that while it has work and a CPU. A consumer the host preempts
            // falls behind and does not catch up, as a real one.
            let mut schedule: Option<Instant> = None;
            while !done.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now >= next_stall {
                    std::thread::sleep(stall);
                    longest_stall = longest_stall.max(now.elapsed());
                    // The backlog is highest as the pause ends: everything
                    // produced and not yet consumed.
                    peak_records = peak_records.max(produced.load(Ordering::Relaxed).saturating_sub(consumed));
                    next_stall += every;
                    schedule = None;
                    continue;
                }
                match ring.next() {
                    Some(record) => {
                        let due = schedule.filter(|due| now <= *due + work).unwrap_or(now) + work;
                        schedule = Some(due);
                        spin_until(due);
                        drop(record);
                        consumed += 1;
                    }
                    None => {
                        schedule = None;
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            }
            (consumed, longest_stall, peak_records)
        })
    };

    println!("ready {id}");
    std::io::stdout().flush().expect("flush");
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    producer.join().expect("producer");
    let (consumed, longest_stall, peak_records) = consumer.join().expect("consumer");
    println!(
        "{{\"produced\": {}, \"consumed\": {consumed}, \"longest_stall_ns\": {}, \"peak_records\": {peak_records}}}",
        produced.load(Ordering::Relaxed),
        longest_stall.as_nanos()
    );
}
