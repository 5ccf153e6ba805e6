//! Bytes pending in a live BPF ring buffer: its producer position minus its
//! consumer position, read through a read-only mapping of the two position
//! pages (`ringbuf_map_mmap_kern` allows read-only mappings of both; only
//! the consumer page may be mapped writable, and this never does).
use std::{io, os::fd::BorrowedFd, sync::atomic::Ordering};

use crate::sys::{
    page_size,
    ring_records::{RingData, Stopped, Walked},
    Access, Mapping,
};

/// How much of a ring is waiting for its consumer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    pub pending_bytes: u64,
    /// Pending bytes over the ring's data size.
    pub fill: f64,
}

impl Backlog {
    /// From the two positions; records reserved but not yet committed count
    /// as pending, as the kernel's `BPF_RB_AVAIL_DATA` does.
    pub fn of(consumer_pos: u64, producer_pos: u64, size: u64) -> Self {
        let pending_bytes = producer_pos.saturating_sub(consumer_pos);
        Self { pending_bytes, fill: if size == 0 { 0.0 } else { pending_bytes as f64 / size as f64 } }
    }
}

/// Reads the positions of the ring `fd` (data size `size`) once.
pub fn backlog(fd: BorrowedFd<'_>, size: u64) -> io::Result<Backlog> {
    let positions = RingView::open_positions(fd, size)?.positions();
    Ok(Backlog::of(positions.consumer, positions.producer, size))
}

/// One sample of a ring's positions: both only grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Positions {
    pub consumer: u64,
    pub producer: u64,
}

/// A live ring mapped read-only and kept mapped: the consumer page, the
/// producer page and, when the kernel allows it, the data pages (mapped
/// twice in a row by the kernel, so a record that wraps reads contiguously).
/// Reading it changes nothing for the ring's own producer and consumer.
pub struct RingView {
    mapping: Mapping,
    page: usize,
    size: u64,
    data: bool,
}

impl RingView {
    /// Maps the ring `fd` whose data size is `size` (a power of two). The
    /// data pages are left out, and headers cannot be walked, when the
    /// kernel refuses them.
    pub fn open(fd: BorrowedFd<'_>, size: u64) -> io::Result<Self> {
        let page = page_size() as usize;
        let with_data = usize::try_from(size).ok().and_then(|s| s.checked_mul(2)).and_then(|d| d.checked_add(2 * page));
        if let Some(len) = with_data.filter(|_| size.is_power_of_two()) {
            if let Ok(mapping) = Mapping::shared(fd, len, 0, Access::Read) {
                return Ok(Self { mapping, page, size, data: true });
            }
        }
        Self::open_positions(fd, size)
    }

    /// Maps only the two position pages (enough for the backlog).
    pub fn open_positions(fd: BorrowedFd<'_>, size: u64) -> io::Result<Self> {
        let page = page_size() as usize;
        Ok(Self { mapping: Mapping::shared(fd, 2 * page, 0, Access::Read)?, page, size, data: false })
    }

    /// The ring's data size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether record headers can be read at all.
    pub fn has_data(&self) -> bool {
        self.data
    }

    /// Both positions now: the producer's read last, so it is never behind
    /// the consumer's.
    pub fn positions(&self) -> Positions {
        // Written by the kernel and the ring's consumer: read atomically.
        let consumer = self.mapping.atomic_u64(0).load(Ordering::Acquire);
        let producer = self.mapping.atomic_u64(self.page).load(Ordering::Acquire);
        Positions { consumer, producer }
    }

    /// Counts the records from position `from` up to `to` (both producer
    /// positions seen earlier) by their headers, with the walker the
    /// consumer uses ([`RingData::count_reserved`]). None when it cannot be
    /// done safely: no data pages, more than a ring's worth between them, a
    /// header that makes no sense, or the producer overwrote the span while
    /// it was read (checked after reading: a header at position p is intact
    /// while the producer has not passed p + size).
    pub fn walk(&self, from: u64, to: u64) -> Option<Walked> {
        if !self.data || to < from || to - from > self.size {
            return None;
        }
        // With `data`, the mapping holds the two position pages and then the
        // `size` data pages mapped twice (`open`).
        let ring = RingData::in_mapping(&self.mapping, 2 * self.page, self.size);
        let walked = ring.count_reserved(from, to);
        let whole = walked.stopped == Stopped::End && walked.pos == to;
        (whole && self.positions().producer <= from + self.size).then_some(walked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_is_producer_minus_consumer() {
        let b = Backlog::of(4096, 4096 + 10 * 112, 4096);
        assert_eq!(b.pending_bytes, 1120);
        assert!((b.fill - 1120.0 / 4096.0).abs() < 1e-12);
        assert_eq!(Backlog::of(100, 100, 4096).pending_bytes, 0);
    }
}
