//! What one phase of a run measured, before it is summarised and checked:
//! the raw material that the result and the invariants both read.
use super::{consumer::ConsumerReport, generator::ProducerReport, program::KernelStats};

pub(super) struct Phase {
    pub(super) producers: Vec<ProducerReport>,
    pub(super) consumer: ConsumerReport,
    /// The kernel's run-time statistics over this phase alone.
    pub(super) kernel: KernelStats,
}
