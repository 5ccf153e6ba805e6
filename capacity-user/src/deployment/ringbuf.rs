//! Bytes pending in a live BPF ring buffer: its producer position minus its
//! consumer position, read through a read-only mapping of the two position
//! pages (`ringbuf_map_mmap_kern` allows read-only mappings of both; only
//! the consumer page may be mapped writable, and this never does).
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
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

/// Reads the positions of the ring `fd` (data size `size`).
pub fn backlog(fd: BorrowedFd<'_>, size: u64) -> io::Result<Backlog> {
    let page = crate::memory::host::Host::this().page_size as usize;
    let len = 2 * page;
    // SAFETY: a fresh shared read-only mapping of the ring's first two
    // pages; nothing else aliases it and it is unmapped below.
    let base = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base = NonNull::new(base.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
    // SAFETY: both positions are page-aligned u64s inside the mapping,
    // written by the kernel and the ring's consumer: read them atomically.
    let (consumer, producer) = unsafe {
        let consumer = &*base.as_ptr().cast::<AtomicU64>();
        let producer = &*base.as_ptr().add(page).cast::<AtomicU64>();
        (consumer.load(Ordering::Acquire), producer.load(Ordering::Acquire))
    };
    // SAFETY: the mapping made above, with its length.
    unsafe { libc::munmap(base.as_ptr().cast(), len) };
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
