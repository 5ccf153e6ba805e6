//! Types and constants shared by the kernel program (capacity-ebpf) and the
//! userspace driver (capacity-user). Everything here is `#[repr(C)]` because
//! both sides read the same bytes.
#![no_std]

/// The header at the start of every ring buffer record; the payload follows.
/// 16 bytes so that the smallest event the tool allows is 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    /// `bpf_ktime_get_ns()` when the event was written (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// Per-producer attempt number, wrapping. It advances for dropped events
    /// too, so the consumer can count drops from the gaps on its own.
    pub seq: u32,
    /// CPU the event was produced on.
    pub cpu: u16,
    /// Producer (trigger thread) id.
    pub producer: u16,
}

pub const EVENT_HEADER_SIZE: usize = core::mem::size_of::<EventHeader>();
/// Largest event the program reserves; far below the kernel's record limit.
pub const MAX_EVENT_SIZE: usize = 64 * 1024;
/// Largest batch per trigger (bpf_loop accepts up to 1 << 23).
pub const MAX_BATCH: u32 = 65_536;
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
    pub const SLOTS: u32 = 8;
}

/// Names of the program, maps and load-time globals, so both sides agree.
pub mod names {
    pub const PROGRAM: &str = "capacity_emit";
    pub const TRACEPOINT_CATEGORY: &str = "syscalls";
    /// getpriority(2) is cheap, rare system-wide, and takes two integers we
    /// use as the run token and the producer id (an invalid `which` makes it
    /// fail at once with EINVAL).
    pub const TRACEPOINT_NAME: &str = "sys_enter_getpriority";
    pub const RING: &str = "EVENTS";
    pub const FLOWS: &str = "FLOWS";
    pub const COUNTERS: &str = "COUNTERS";
    pub const PRODUCER_SEQ: &str = "PRODUCER_SEQ";
    pub const TARGET_TGID: &str = "TARGET_TGID";
    pub const RUN_TOKEN: &str = "RUN_TOKEN";
    pub const EVENT_SIZE: &str = "EVENT_SIZE";
    pub const BATCH: &str = "BATCH";
    pub const KEYSPACE: &str = "KEYSPACE";
    pub const WAKEUP_EVERY: &str = "WAKEUP_EVERY";
    /// Non-zero: events take their sizes from the `EVENT_SIZES` table.
    pub const SIZE_MIX: &str = "SIZE_MIX";
    pub const EVENT_SIZES: &str = "EVENT_SIZES";
}
