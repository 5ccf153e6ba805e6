//! The consumer: drains the ring buffer on its own thread, checks every
//! record's sequence number, and records emit-to-consume latency.
//!
//! Sequence numbers advance per producer for every attempted event, dropped
//! ones included, so the gaps the consumer sees are the drops, counted from
//! userspace independently of the kernel's counter.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use super::{
    reader::{perf_raw_len, Reader},
    ring::{Record, RELEASE_EVERY},
};
use capacity_common::{record_bytes, EventHeader, MAX_PRODUCERS};
use hdrhistogram::Histogram;

/// A pass that finds fewer records than this lets records gather before the
/// next: it naps for [`NAP`] where the rings hold that long a gathering (512
/// KiB or more, [`Reader::holds_a_nap`]), else spins for [`POLL_GAP`]. On this 2-core
/// VM (`capacity load --rate max --batch 64 --ringbuf-size 16M --duration
/// 2`, two runs each): a 50-µs nap 10.0M and 14.1M events/s at 21 and 17
/// consumer ns/event; spinning 1 µs 5.1M and 5.3M at 195 and 189 (the
/// spinning consumer takes the CPU the producer's vCPU shares); the reader
/// before this one, rereading at once, 3.0M to 4.5M (`cargo xtask bench`).
const FULL_PASS: u64 = 16;
const NAP: Duration = Duration::from_micros(50);
const POLL_GAP: Duration = Duration::from_micros(1);

/// How the consumer behaves: the models that change the answer the way real
/// consumers do.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsumerModel {
    /// Busy work per event, like parsing or forwarding it.
    pub work: Duration,
    /// Periodic pauses, like a GC or a slow disk.
    pub stall: Option<Stall>,
    /// Spin instead of sleeping in poll(2) when the ring is empty: no
    /// wakeup latency, at the price of a whole CPU.
    pub busy_poll: bool,
}

/// The consumer time the reader's held position may stand for. Stores then
/// cost a consumer that works 1 us per record well under 1% of its time,
/// and a 16 KiB step walked at that pace would hold 16 KiB of the ring for
/// about 230 us; through a stall it would hold it for the whole pause, which
/// `size` would then charge to the ring.
const HOLD_AT_MOST: Duration = Duration::from_micros(10);

impl ConsumerModel {
    /// Bytes the reader walks between stores of the consumer position, for
    /// records of at most `record_bytes`: [`RELEASE_EVERY`] for a consumer
    /// that spends nothing per record; [`HOLD_AT_MOST`] of its work for one
    /// that does; one record for one that stalls, so that a stall holds
    /// back no more than a record.
    pub fn release_every(&self, record_bytes: u64) -> u64 {
        if self.stall.is_some() {
            return record_bytes;
        }
        if self.work.is_zero() {
            return RELEASE_EVERY;
        }
        let records = (HOLD_AT_MOST.as_nanos() / self.work.as_nanos()).max(1) as u64;
        (records * record_bytes).min(RELEASE_EVERY)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    pub pause: Duration,
    pub every: Duration,
}

impl std::str::FromStr for Stall {
    type Err = String;

    /// `MS@EVERY_MS`, e.g. `50@1000`: pause 50 ms every second.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a stall: use PAUSE_MS@EVERY_MS, e.g. 50@1000");
        let (pause, every) = text.split_once('@').ok_or_else(bad)?;
        let pause: u64 = pause.trim().parse().map_err(|_| bad())?;
        let every: u64 = every.trim().parse().map_err(|_| bad())?;
        if every == 0 || pause >= every {
            return Err(format!("stall `{text}`: the pause must be shorter than its period"));
        }
        Ok(Stall { pause: Duration::from_millis(pause), every: Duration::from_millis(every) })
    }
}

/// The size every record must have: one size, or a mix's table indexed by
/// the record's sequence number (as the kernel program indexes it).
#[derive(Debug, Clone)]
pub enum RecordSizes {
    Fixed(u32),
    Mix(Vec<u32>),
}

impl RecordSizes {
    fn of(&self, seq: u32) -> usize {
        match self {
            RecordSizes::Fixed(size) => *size as usize,
            RecordSizes::Mix(table) => crate::event_sizes::EventSizes::size_of(table, seq) as usize,
        }
    }
}

/// What the consumer saw.
#[derive(Debug, Clone)]
pub struct ConsumerReport {
    pub consumed: u64,
    /// Of `consumed`, the records read after the producers stopped: the
    /// ring's backlog at the end, drained in the consumer's own time.
    pub drained_after_stop: u64,
    /// Ring bytes of the consumed records (header and alignment included).
    pub consumed_bytes: u64,
    /// Events missing between consecutive records of a producer.
    pub seq_gaps: u64,
    /// Records that went backwards or repeated within a producer: never expected.
    pub out_of_order: u64,
    /// Records of the wrong size or with a producer id out of range.
    pub malformed: u64,
    /// Overwrite mode: records the kernel overwrote before the consumer read
    /// them (counted from the kernel's overwrite position).
    pub overwritten: u64,
    /// Per producer: the sequence number expected next (attempts seen so far).
    pub next_seq: Vec<u64>,
    pub latency: Histogram<u64>,
    pub cpu_time: Duration,
}

impl ConsumerReport {
    /// Attempts after each producer's last consumed record, given how many
    /// events each producer attempted in all.
    pub fn tail_missing(&self, attempted: &[u64]) -> u64 {
        attempted.iter().zip(&self.next_seq).map(|(a, seen)| a.saturating_sub(*seen)).sum()
    }
}

/// Drain `ring` until `producers_done` is set and the ring is empty; then
/// call `flush` (perf: brings out the kernel's last lost-sample records)
/// and drain once more.
pub fn consume(
    ring: &mut Reader,
    model: &ConsumerModel,
    sizes: &RecordSizes,
    producers_done: &AtomicBool,
    interrupted: &AtomicBool,
    flush: impl Fn(),
) -> ConsumerReport {
    let cpu_start = thread_cpu_time();
    let overwritten_before = ring.overwritten();
    let perf = ring.is_perf();
    let mut flushed = false;
    let mut state = SeqTracker::new();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    let (mut consumed, mut malformed, mut consumed_bytes) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    let mut next_stall = model.stall.map(|s| started + s.every);
    let mut clock = LatencyClock::default();

    // What the drains after the producers stopped read: the ring's backlog.
    let mut drained_after_stop = 0u64;
    let may_nap = ring.holds_a_nap();
    loop {
        // Read before draining: once set, the drain below sees every record.
        let done = producers_done.load(Ordering::Acquire);
        let drained = ring.drain(|record| {
            let Record::Event { header, len } = record else {
                malformed += 1;
                return;
            };
            let expected = if perf { perf_raw_len(sizes.of(header.seq)) } else { sizes.of(header.seq) };
            if len != expected {
                malformed += 1;
                return;
            }
            if state.observe(&header) {
                consumed_bytes += record_bytes(len as u64);
            } else {
                malformed += 1;
            }
            // One event per batch carries a timestamp, the latency sample.
            if header.ts_ns != 0 {
                latency.saturating_record(clock.now_for(header.ts_ns).saturating_sub(header.ts_ns).max(1));
            }
            // After Ctrl-C, drain at full speed so the exit is prompt.
            if interrupted.load(Ordering::Relaxed) {
                return;
            }
            if !model.work.is_zero() {
                spin_for(model.work);
            }
            if let (Some(stall), Some(at)) = (model.stall, next_stall) {
                if Instant::now() >= at {
                    std::thread::sleep(stall.pause);
                    next_stall = Some(at + stall.every);
                }
            }
        });
        consumed += drained;
        if done {
            drained_after_stop += drained;
        }
        if done && !flushed {
            flush();
            flushed = true;
            continue;
        }
        if done {
            break;
        }
        if drained >= FULL_PASS {
            continue;
        }
        // Few or none: a consumer that rereads the producer position at
        // once steals its cache line from the producer's next reserve, and
        // one that hands back each pass at once makes the next commit wake
        // it; let records gather.
        if drained > 0 && may_nap {
            std::thread::sleep(NAP);
        } else {
            let now = Instant::now();
            while now.elapsed() < POLL_GAP {
                std::hint::spin_loop();
            }
        }
        if drained > 0 {
            continue;
        }
        // Nothing new: hand back what the last passes held, then sleep.
        ring.release_held();
        if !model.busy_poll {
            // Short timeout: sampled wakeups may never come, and the end of
            // the run is signalled by the flag, not by the ring.
            ring.wait(10);
        }
    }
    ring.release_held();

    ConsumerReport {
        consumed: consumed - malformed,
        drained_after_stop: drained_after_stop.min(consumed - malformed),
        consumed_bytes,
        seq_gaps: state.gaps,
        out_of_order: state.out_of_order,
        malformed,
        overwritten: ring.overwritten() - overwritten_before,
        next_seq: state.next,
        latency,
        cpu_time: thread_cpu_time().saturating_sub(cpu_start),
    }
}

/// Follows each producer's wrapping 32-bit sequence as a 64-bit count.
struct SeqTracker {
    next: Vec<u64>,
    gaps: u64,
    out_of_order: u64,
}

impl SeqTracker {
    fn new() -> Self {
        Self { next: vec![0; MAX_PRODUCERS as usize], gaps: 0, out_of_order: 0 }
    }

    /// False when the producer id is out of range.
    fn observe(&mut self, header: &EventHeader) -> bool {
        let Some(next) = self.next.get_mut(header.producer as usize) else {
            return false;
        };
        let ahead = header.seq.wrapping_sub(*next as u32);
        if ahead > u32::MAX / 2 {
            self.out_of_order += 1; // Behind what we already saw.
            return true;
        }
        self.gaps += u64::from(ahead);
        *next += u64::from(ahead) + 1;
        true
    }
}

/// The consume-side timestamp for latency. Reading CLOCK_MONOTONIC costs
/// about 50 ns in a VM, half the consumer's per-event cost, so one reading
/// serves a run of records drained back to back: it is re-read for a record
/// stamped after it, and at least every `REREAD_EVERY` records. Latency can
/// then read low by at most the time to drain that many records (about 1 µs).
#[derive(Default)]
struct LatencyClock {
    now: u64,
    uses: u32,
}

impl LatencyClock {
    const REREAD_EVERY: u32 = 16;

    fn now_for(&mut self, stamped: u64) -> u64 {
        self.now_with(stamped, monotonic_ns)
    }

    fn now_with(&mut self, stamped: u64, read: impl FnOnce() -> u64) -> u64 {
        if stamped > self.now || self.uses >= Self::REREAD_EVERY {
            self.now = read();
            self.uses = 0;
        }
        self.uses += 1;
        self.now
    }
}

fn spin_for(work: Duration) {
    let start = Instant::now();
    while start.elapsed() < work {
        std::hint::spin_loop();
    }
}

/// CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns().
fn monotonic_ns() -> u64 {
    clock_ns(nix::time::ClockId::CLOCK_MONOTONIC)
}

fn thread_cpu_time() -> Duration {
    Duration::from_nanos(clock_ns(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID))
}

fn clock_ns(clock: nix::time::ClockId) -> u64 {
    // Both clocks always exist (clock_gettime(2) fails only for a bad id).
    let ts = nix::time::clock_gettime(clock).unwrap_or_else(|_| nix::sys::time::TimeSpec::new(0, 0));
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(producer: u16, seq: u32) -> EventHeader {
        EventHeader { ts_ns: 0, seq, cpu: 0, producer }
    }

    #[test]
    fn a_consumer_that_works_or_stalls_holds_back_little() {
        let idle = ConsumerModel::default();
        assert_eq!(idle.release_every(72), RELEASE_EVERY, "nothing spent per record: the full step");
        let working = ConsumerModel { work: Duration::from_nanos(1000), ..idle };
        assert_eq!(working.release_every(72), 10 * 72, "10 us of 1-us records");
        let slow = ConsumerModel { work: Duration::from_micros(50), ..idle };
        assert_eq!(slow.release_every(72), 72, "one record when one takes longer than the hold");
        let light = ConsumerModel { work: Duration::from_nanos(1), ..idle };
        assert_eq!(light.release_every(72), RELEASE_EVERY, "never more than the full step");
        let stalling = ConsumerModel {
            stall: Some(Stall { pause: Duration::from_millis(5), every: Duration::from_millis(100) }),
            ..idle
        };
        assert_eq!(stalling.release_every(72), 72, "a stall holds back one record at most");
    }

    #[test]
    fn gaps_count_missing_sequence_numbers() {
        let mut t = SeqTracker::new();
        for seq in [0, 1, 4, 5, 9] {
            assert!(t.observe(&header(0, seq)));
        }
        assert_eq!(t.gaps, 2 + 3);
        assert_eq!(t.next[0], 10);
        assert_eq!(t.out_of_order, 0);
    }

    #[test]
    fn producers_are_tracked_apart_and_wrap() {
        let mut t = SeqTracker::new();
        t.next[1] = u32::MAX as u64; // About to wrap.
        assert!(t.observe(&header(1, u32::MAX)));
        assert!(t.observe(&header(1, 0)));
        assert!(t.observe(&header(2, 0)));
        assert_eq!(t.next[1], u32::MAX as u64 + 2);
        assert_eq!(t.gaps, 0);
        assert!(t.observe(&header(1, 0)));
        assert_eq!(t.out_of_order, 1);
        assert!(!t.observe(&header(u16::MAX, 0)));
    }

    #[test]
    fn the_clock_is_reread_for_newer_records_and_every_sixteen_uses() {
        let mut clock = LatencyClock::default();
        let reads = std::cell::Cell::new(0u64);
        let fake = || {
            reads.set(reads.get() + 1);
            1000 * reads.get()
        };
        assert_eq!(clock.now_with(5, fake), 1000);
        // Older records reuse the reading, up to 16 uses.
        for _ in 1..16 {
            assert_eq!(clock.now_with(999, fake), 1000);
        }
        assert_eq!(clock.now_with(999, fake), 2000, "the 17th use re-reads");
        // A record stamped after the reading forces a new one at once.
        assert_eq!(clock.now_with(2001, fake), 3000);
        assert_eq!(reads.get(), 3);
    }

    #[test]
    fn stalls_parse_and_reject_nonsense() {
        assert_eq!(
            "50@1000".parse(),
            Ok(Stall { pause: Duration::from_millis(50), every: Duration::from_millis(1000) })
        );
        assert!("1000@50".parse::<Stall>().is_err());
        assert!("50".parse::<Stall>().is_err());
    }

    #[test]
    fn tail_counts_unseen_attempts() {
        let mut latency = Histogram::new(3).unwrap();
        latency.record(1).unwrap();
        let report = ConsumerReport {
            consumed: 0,
            drained_after_stop: 0,
            consumed_bytes: 0,
            seq_gaps: 0,
            out_of_order: 0,
            malformed: 0,
            overwritten: 0,
            next_seq: vec![5, 7],
            latency,
            cpu_time: Duration::ZERO,
        };
        assert_eq!(report.tail_missing(&[8, 7]), 3);
    }
}
