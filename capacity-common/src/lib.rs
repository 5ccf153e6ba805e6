//! Types and constants shared by the kernel program (capacity-ebpf) and the
//! userspace driver (capacity-user). Everything here is `#[repr(C)]` because
//! both sides read the same bytes.
#![no_std]

/// The header at the start of every ring buffer record; the payload follows.
/// 16 bytes so that the smallest event the tool allows is 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) just before the event was
    /// written, on the first event of each trigger's batch: the latency
    /// sample. 0 on the batch's other events (one clock read per event cost
    /// more than the ring's own reserve).
    pub ts_ns: u64,
    /// Per-producer attempt number, wrapping. It advances for dropped events
    /// too, so the consumer can count drops from the gaps on its own.
    pub seq: u32,
    /// CPU the event was produced on.
    pub cpu: u16,
    /// Producer (trigger thread) id.
    pub producer: u16,
}

/// The kernel's ring buffer record header (`BPF_RINGBUF_HDR_SZ`).
pub const RINGBUF_HEADER: u64 = 8;

/// The largest ring buffer: `max_entries` is a u32 and must be a power of
/// two (`ringbuf_map_alloc`), so 2 GiB.
pub const MAX_RING_BYTES: u64 = 1 << 31;

/// Bytes one record of `event_size` takes in a ring buffer: the header plus
/// the data, rounded up to 8 (`__bpf_ringbuf_reserve`, kernel/bpf/ringbuf.c).
pub const fn record_bytes(event_size: u64) -> u64 {
    (event_size + RINGBUF_HEADER).next_multiple_of(8)
}

pub const EVENT_HEADER_SIZE: usize = core::mem::size_of::<EventHeader>();
/// Largest event the program reserves; far below the kernel's record limit.
pub const MAX_EVENT_SIZE: usize = 64 * 1024;
/// Largest batch per trigger (bpf_loop accepts up to 1 << 23).
pub const MAX_BATCH: u32 = 65_536;
/// The producer id of a perf layout's flush trigger: its marker sample
/// carries it, and the consumer skips it.
pub const FLUSH_PRODUCER: u16 = u16::MAX;
/// Slots in the per-producer sequence array.
pub const MAX_PRODUCERS: u32 = 256;
/// Slots of the event-size table of a size mix: event `seq` has the size in
/// slot `seq % SIZE_SLOTS` (a power of two, so the program masks).
pub const SIZE_SLOTS: u32 = 1024;
/// Largest event of a size mix: mixed sizes go through a per-CPU scratch
/// buffer of this size (`bpf_ringbuf_reserve` needs a constant size).
pub const MAX_MIX_EVENT_SIZE: usize = 16 * 1024;

/// Value of the per-flow hash map: the stand-in for per-connection state.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowState {
    pub count: u64,
    pub bytes: u64,
    pub last_ts_ns: u64,
}

/// Slots of the per-CPU `COUNTERS` array.
pub mod counter {
    pub const TRIGGERS: u32 = 0;
    pub const EMITTED: u32 = 1;
    pub const DROPPED: u32 = 2;
    pub const MAP_UPDATES: u32 = 3;
    pub const MAP_ERRORS: u32 = 4;
    /// Per-CPU high-water mark of unconsumed ring bytes (BPF_RB_AVAIL_DATA),
    /// combined with max, not sum.
    pub const PEAK_OCCUPANCY: u32 = 5;
    /// Reserve failures with the ring full: no room between the oldest
    /// unconsumed (overwrite mode: uncommitted) record and the new one.
    pub const DROPPED_FULL: u32 = 6;
    /// Reserve failures although the ring certainly had room: the ring's
    /// lock timed out or detected a deadlock (rqspinlock, Linux 6.15+).
    /// DROPPED == DROPPED_FULL + DROPPED_BUSY.
    pub const DROPPED_BUSY: u32 = 7;
    /// Runs of the program that were not a trigger of this instance: other
    /// processes' (or other instances') getpriority calls. With the kernel's
    /// run count: run_cnt == TRIGGERS + OTHER_RUNS.
    pub const OTHER_RUNS: u32 = 8;
    /// Perf layout: flush triggers after a stage's final drain (one marker
    /// sample per CPU, see `FLUSH_PRODUCER`), and those whose marker found
    /// no room (never expected: the buffers were just drained).
    pub const FLUSHES: u32 = 9;
    pub const FLUSH_FAILURES: u32 = 10;
    pub const SLOTS: u32 = 16;
}

/// BPF_F_RB_OVERWRITE (include/uapi/linux/bpf.h, Linux 6.19+): the ring
/// overwrites its oldest committed records instead of refusing new ones.
pub const BPF_F_RB_OVERWRITE: u32 = 1 << 19;
/// bpf_ringbuf_query flag for the overwrite position (Linux 6.19+).
pub const BPF_RB_OVERWRITE_POS: u64 = 4;
/// Offset of `overwrite_pos` in the ring's producer page (after
/// `producer_pos` and `pending_pos`, struct bpf_ringbuf in kernel/bpf/ringbuf.c).
pub const OVERWRITE_POS_OFFSET: usize = 16;

/// Names of the program, maps and load-time globals, so both sides agree.
pub mod names {
    pub const PROGRAM: &str = "capacity_emit";
    pub const TRACEPOINT_CATEGORY: &str = "syscalls";
    /// getpriority(2) is cheap, rare system-wide, and takes two integers we
    /// use as the run token and the producer id (an invalid `which` makes it
    /// fail at once with EINVAL).
    pub const TRACEPOINT_NAME: &str = "sys_enter_getpriority";
    pub const RING: &str = "EVENTS";
    /// The program of the per-CPU rings layouts, and their array of rings.
    pub const PROGRAM_RINGS: &str = "capacity_emit_rings";
    pub const RINGS: &str = "RINGS";
    /// The program of the perf layout, and its perf event array.
    pub const PROGRAM_PERF: &str = "capacity_emit_perf";
    pub const PERF: &str = "PERF";
    /// Rings layouts: CPUs per ring.
    pub const CPUS_PER_RING: &str = "CPUS_PER_RING";
    /// The per-CPU buffer a size mix's records are written in.
    pub const MIX_SCRATCH: &str = "MIX_SCRATCH";
    pub const FLOWS: &str = "FLOWS";
    pub const COUNTERS: &str = "COUNTERS";
    pub const PRODUCER_SEQ: &str = "PRODUCER_SEQ";
    pub const TARGET_TGID: &str = "TARGET_TGID";
    pub const RUN_TOKEN: &str = "RUN_TOKEN";
    pub const EVENT_SIZE: &str = "EVENT_SIZE";
    pub const BATCH: &str = "BATCH";
    pub const KEYSPACE: &str = "KEYSPACE";
    pub const WAKEUP_EVERY: &str = "WAKEUP_EVERY";
    pub const OVERWRITE: &str = "OVERWRITE";
    /// Non-zero: events take their sizes from the `EVENT_SIZES` table.
    pub const SIZE_MIX: &str = "SIZE_MIX";
    /// Non-zero: every event updates its flow in `FLOWS`; 0: the ring alone.
    pub const MAP: &str = "MAP";
    pub const EVENT_SIZES: &str = "EVENT_SIZES";
    /// The `log` target of the kernel program's aya-log records: capacity
    /// prints them as `capacity: bpf LEVEL: ...`; `RUST_LOG=bpf=...` filters them.
    pub const LOG_TARGET: &str = "bpf";
}

/// How the kernel program wakes the consumer, as the driver and the
/// benchmarks both name it: the kernel's adaptive policy, or no wakeup
/// except on every Nth event (BPF_RB_NO_WAKEUP / BPF_RB_FORCE_WAKEUP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wakeup {
    /// The kernel wakes the consumer when it has caught up (flags 0).
    #[default]
    Adaptive,
    /// No wakeup except on every Nth event.
    Sampled(u32),
}

impl Wakeup {
    /// The program's `WAKEUP_EVERY` setting: 0 adaptive, N every Nth event.
    pub const fn every(self) -> u32 {
        match self {
            Wakeup::Adaptive => 0,
            Wakeup::Sampled(n) => n,
        }
    }
}

/// Why a wakeup policy did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeupError {
    /// `sampled:N` with N missing, zero or not a number.
    BadSampling,
    /// Neither `adaptive` nor `sampled:N`.
    Unknown,
}

impl core::fmt::Display for WakeupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WakeupError::BadSampling => "sampled:N needs N of at least 1",
            WakeupError::Unknown => "not a wakeup policy: use adaptive or sampled:N",
        })
    }
}

impl core::error::Error for WakeupError {}

impl core::str::FromStr for Wakeup {
    type Err = WakeupError;

    fn from_str(text: &str) -> Result<Self, WakeupError> {
        match text.split_once(':') {
            None if text == "adaptive" => Ok(Wakeup::Adaptive),
            Some(("sampled", n)) => match n.parse::<u32>() {
                Ok(n) if n > 0 => Ok(Wakeup::Sampled(n)),
                _ => Err(WakeupError::BadSampling),
            },
            _ => Err(WakeupError::Unknown),
        }
    }
}

impl core::fmt::Display for Wakeup {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Wakeup::Adaptive => f.write_str("adaptive"),
            Wakeup::Sampled(n) => write!(f, "sampled:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakeup_policies_parse_and_print_back() {
        assert_eq!("adaptive".parse(), Ok(Wakeup::Adaptive));
        assert_eq!("sampled:64".parse(), Ok(Wakeup::Sampled(64)));
        assert_eq!("sampled:0".parse::<Wakeup>(), Err(WakeupError::BadSampling));
        assert_eq!("eager".parse::<Wakeup>(), Err(WakeupError::Unknown));
        assert_eq!(Wakeup::Sampled(64).every(), 64);
        assert_eq!(Wakeup::Adaptive.every(), 0);
    }

    #[test]
    fn records_take_a_header_and_align_to_eight() {
        assert_eq!(record_bytes(16), 24);
        assert_eq!(record_bytes(64), 72);
        assert_eq!(record_bytes(65), 80);
        assert_eq!(record_bytes(4096), 4104);
    }
}
