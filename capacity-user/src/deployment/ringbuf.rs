//! Bytes pending in a live BPF ring buffer: its producer position minus its
//! consumer position, read through a read-only mapping of the two position
//! pages (`ringbuf_map_mmap_kern` allows read-only mappings of both; only
//! the consumer page may be mapped writable, and this never does).
use std::{io, os::fd::BorrowedFd, sync::atomic::Ordering};

use crate::sys::{page_size, Access, Mapping};

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

/// Reads the positions of the ring `fd` (data size `size`).
pub fn backlog(fd: BorrowedFd<'_>, size: u64) -> io::Result<Backlog> {
    let page = page_size() as usize;
    let positions = Mapping::shared(fd, 2 * page, 0, Access::Read)?;
    // Written by the kernel and the ring's consumer: read atomically.
    let consumer = positions.atomic_u64(0).load(Ordering::Acquire);
    let producer = positions.atomic_u64(page).load(Ordering::Acquire);
    Ok(Backlog::of(consumer, producer, size))
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
