//! What one stage of a run (its warm-up, or its measured part) measured,
//! before it is summarised and checked: the raw material that the result
//! and the invariants both read.
use super::{consumer::ConsumerReport, generator::ProducerReport, program::KernelStats};

pub(super) struct Stage {
    pub(super) producers: Vec<ProducerReport>,
    pub(super) consumer: ConsumerReport,
    /// The kernel's program statistics over this stage alone.
    pub(super) kernel: KernelStats,
    /// Whether the kernel counted runs (BPF_ENABLE_STATS held): without it
    /// `kernel.run_count` and `run_time` stay 0.
    pub(super) stats_enabled: bool,
    /// Per producer: events the program attempted for it (its triggers the
    /// kernel ran × batch), from the program's own sequence numbers.
    pub(super) kernel_attempted: Vec<u64>,
    /// Per ring: records consumed in this stage.
    pub(super) consumed_per_ring: Vec<u64>,
    /// Perf: samples the kernel reported lost in this stage (PERF_RECORD_LOST).
    pub(super) lost: u64,
}
