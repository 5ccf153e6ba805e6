//! Reading every output of a layout: one ring, the rings of an array of
//! maps, or the perf buffers of every CPU. One consumer thread drains them
//! all in turn and sleeps in one poll(2) over all their fds: a producer
//! pinned to one CPU writes to one ring, so its records stay in order.
//! (A poll over a few fds, not tokio: nothing on the measured path goes
//! through an async runtime, ARCHITECTURE.md.)
use std::os::fd::AsFd;

use capacity_common::FLUSH_PRODUCER;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::{
    program::Outputs,
    ring::{parse, Record, Ring},
};
use crate::sys::perf::{PerfBuffer, PerfRecord};

/// The smallest ring a consumer naps on (see [`Reader::holds_a_nap`]).
const NAP_RING_MIN: u64 = 512 << 10;

/// What the reader saw of one ring or perf buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputCounts {
    /// Records handed to the consumer (malformed ones included).
    pub records: u64,
    /// Perf: samples the kernel reported lost (PERF_RECORD_LOST).
    pub lost: u64,
    /// Perf: the largest backlog the reader found at the start of a pass.
    pub peak_backlog_bytes: u64,
}

enum Output {
    Ring(Box<Ring>),
    Perf(PerfBuffer),
}

/// Every output of the program, drained in turn.
pub struct Reader {
    outputs: Vec<Output>,
    counts: Vec<OutputCounts>,
}

impl Reader {
    /// The reader of `outputs`; rings in overwrite mode when `overwrite`,
    /// handing back every `release_every` bytes (see [`Ring::new`]).
    pub fn new(
        outputs: Outputs,
        overwrite: bool,
        ring_size: u64,
        event_size: usize,
        release_every: u64,
    ) -> anyhow::Result<Self> {
        let outputs: Vec<Output> = match outputs {
            Outputs::Rings(rings) => rings
                .into_iter()
                .map(|ring| {
                    Ring::new(ring, overwrite, ring_size, event_size, release_every).map(|r| Output::Ring(Box::new(r)))
                })
                .collect::<anyhow::Result<_>>()?,
            Outputs::Perf(buffers) => buffers.into_iter().map(Output::Perf).collect(),
        };
        let counts = vec![OutputCounts::default(); outputs.len()];
        Ok(Self { outputs, counts })
    }

    /// What each output gave so far.
    pub fn counts(&self) -> &[OutputCounts] {
        &self.counts
    }

    /// Records the kernel overwrote before they were read (overwrite mode).
    pub fn overwritten(&self) -> u64 {
        self.outputs
            .iter()
            .map(|o| match o {
                Output::Ring(ring) => ring.overwritten(),
                Output::Perf(_) => 0,
            })
            .sum()
    }

    /// One pass over every output: each record to `visit`. Returns the
    /// records handed over (flush markers are not).
    pub fn drain(&mut self, mut visit: impl FnMut(Record)) -> u64 {
        let mut total = 0;
        for (output, counts) in self.outputs.iter_mut().zip(&mut self.counts) {
            let records = match output {
                Output::Ring(ring) => ring.drain(&mut visit),
                Output::Perf(buffer) => {
                    counts.peak_backlog_bytes = counts.peak_backlog_bytes.max(buffer.backlog());
                    let mut records = 0;
                    buffer.drain(|record| match record {
                        PerfRecord::Lost(n) => counts.lost += n,
                        PerfRecord::Sample(data) => {
                            let record = parse(data);
                            if !matches!(&record, Record::Event { header, .. } if header.producer == FLUSH_PRODUCER) {
                                records += 1;
                                visit(record);
                            }
                        }
                    });
                    records
                }
            };
            counts.records += records;
            total += records;
        }
        total
    }

    /// Whether every output is a ring large enough that the records of a
    /// consumer's nap (`NAP` in consumer.rs, about 100 µs with timer slack)
    /// fit in a small share of it: 100 µs of 64-byte events at 10M/s fill
    /// 72 KiB, 14% of 512 KiB. Smaller rings and perf buffers are not
    /// napped on.
    pub fn holds_a_nap(&self) -> bool {
        self.outputs.iter().all(|o| matches!(o, Output::Ring(ring) if ring.size() >= NAP_RING_MIN))
    }

    /// Hand back to the kernel what each ring's last pass held (see
    /// [`Ring::release_held`]): before sleeping, and at the end.
    pub fn release_held(&mut self) {
        for output in &mut self.outputs {
            if let Output::Ring(ring) = output {
                ring.release_held();
            }
        }
    }

    /// Sleep until an output has data or `timeout_ms` passed.
    pub fn wait(&self, timeout_ms: u8) {
        let mut fds: Vec<PollFd<'_>> = self
            .outputs
            .iter()
            .map(|o| match o {
                Output::Ring(ring) => PollFd::new(ring.as_fd(), PollFlags::POLLIN),
                Output::Perf(buffer) => PollFd::new(buffer.as_fd(), PollFlags::POLLIN),
            })
            .collect();
        let _ = nix::poll::poll(&mut fds, PollTimeout::from(timeout_ms));
    }

    /// Whether the outputs are perf buffers (which need a flush, see `fixed_rate`).
    pub fn is_perf(&self) -> bool {
        matches!(self.outputs.first(), Some(Output::Perf(_)))
    }
}

/// The length a perf sample of `size` bytes is read back with: the kernel
/// pads the u32 size word and the data together to a multiple of 8.
pub fn perf_raw_len(size: usize) -> usize {
    (size + 4).next_multiple_of(8) - 4
}
