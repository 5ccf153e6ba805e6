//! Reading the ring buffer: aya's reader for a normal ring, and for a ring
//! in overwrite mode (BPF_F_RB_OVERWRITE, Linux 6.19+) a reader of our own
//! that follows the kernel's overwrite position, which aya 0.14 knows
//! nothing of: a record the kernel has overwritten must be skipped, never
//! parsed, and counted.
use std::{
    os::fd::{AsFd, BorrowedFd},
    sync::atomic::{fence, AtomicU32, AtomicU64, Ordering},
};

use anyhow::Context as _;
use aya::maps::{MapData, RingBuf};
use capacity_common::{EventHeader, EVENT_HEADER_SIZE, OVERWRITE_POS_OFFSET, RINGBUF_HEADER};

use crate::sys::{page_size, Access, Mapping};

/// Record header bits (BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT).
const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;

/// One record as the consumer needs it.
pub enum Record {
    /// Its header and its length (the consumer checks the length against
    /// the size the program wrote for that sequence number).
    Event { header: EventHeader, len: usize },
    /// Shorter than a header: never expected.
    Malformed,
}

pub enum Ring {
    Normal(RingBuf<MapData>),
    Overwrite(OverwriteRing),
}

impl Ring {
    /// `ring` is the program's ring buffer; `overwrite` says how it was created.
    pub fn new(ring: RingBuf<MapData>, overwrite: bool, ring_size: u64, event_size: usize) -> anyhow::Result<Self> {
        Ok(if overwrite {
            Ring::Overwrite(OverwriteRing::new(ring, ring_size, event_size)?)
        } else {
            Ring::Normal(ring)
        })
    }

    /// The next committed record, released back to the ring at once.
    pub fn next(&mut self) -> Option<Record> {
        match self {
            Ring::Normal(ring) => {
                let record = ring.next()?;
                if record.len() < EVENT_HEADER_SIZE {
                    return Some(Record::Malformed);
                }
                // SAFETY: at least EVENT_HEADER_SIZE bytes, read unaligned.
                let header = unsafe { std::ptr::read_unaligned(record.as_ptr().cast()) };
                Some(Record::Event { header, len: record.len() })
            }
            Ring::Overwrite(ring) => ring.next(),
        }
    }

    /// Records the kernel overwrote before this reader got to them, so far.
    pub fn overwritten(&self) -> u64 {
        match self {
            Ring::Normal(_) => 0,
            Ring::Overwrite(ring) => ring.overwritten,
        }
    }

    /// The kernel's overwrite position (0 for a normal ring).
    pub fn overwrite_pos(&self) -> u64 {
        match self {
            Ring::Normal(_) => 0,
            Ring::Overwrite(ring) => ring.overwrite_pos().load(Ordering::Acquire),
        }
    }
}

impl AsFd for Ring {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Ring::Normal(ring) => ring.as_fd(),
            Ring::Overwrite(ring) => ring.ring.as_fd(),
        }
    }
}

/// The ring's pages mapped as the kernel lays them out (struct bpf_ringbuf):
/// the consumer page (writable), then the producer page and the data pages
/// twice over (read-only), so a record that wraps reads as one piece.
pub struct OverwriteRing {
    ring: RingBuf<MapData>,
    consumer_page: Mapping,
    producer_area: Mapping,
    page: usize,
    mask: u64,
    /// Every record has this size here: overwrite mode takes one event size.
    record_bytes: u64,
    consumer_pos: u64,
    overwritten: u64,
}

impl OverwriteRing {
    fn new(ring: RingBuf<MapData>, ring_size: u64, event_size: usize) -> anyhow::Result<Self> {
        let page = page_size() as usize;
        let fd = ring.as_fd();
        let consumer_page =
            Mapping::shared(fd, page, 0, Access::ReadWrite).context("mapping the ring buffer's consumer page")?;
        let producer_area = Mapping::shared(fd, page + 2 * ring_size as usize, page, Access::Read)
            .context("mapping the ring buffer's producer and data pages")?;
        let mut this = Self {
            ring,
            consumer_page,
            producer_area,
            page,
            mask: ring_size - 1,
            record_bytes: capacity_common::record_bytes(event_size as u64),
            consumer_pos: 0,
            overwritten: 0,
        };
        this.consumer_pos = this.consumer().load(Ordering::Acquire);
        Ok(this)
    }

    fn consumer(&self) -> &AtomicU64 {
        // consumer_pos is the first word of the consumer page.
        self.consumer_page.atomic_u64(0)
    }

    fn producer(&self) -> &AtomicU64 {
        // producer_pos is the first word of the producer page.
        self.producer_area.atomic_u64(0)
    }

    fn overwrite_pos(&self) -> &AtomicU64 {
        self.producer_area.atomic_u64(OVERWRITE_POS_OFFSET)
    }

    /// Address of ring position `pos` (data pages follow the producer page).
    fn at(&self, pos: u64) -> *const u8 {
        // SAFETY: (pos & mask) + a record fits the doubly mapped data area.
        unsafe { self.producer_area.as_ptr().add(self.page + (pos & self.mask) as usize) }
    }

    /// Skips what the kernel overwrote since we last looked, counting it.
    fn catch_up(&mut self) {
        let over = self.overwrite_pos().load(Ordering::Acquire);
        if over > self.consumer_pos {
            // Records between here and the overwrite position are gone.
            self.overwritten += (over - self.consumer_pos) / self.record_bytes;
            self.consumer_pos = over;
            self.consumer().store(over, Ordering::Release);
        }
    }

    fn next(&mut self) -> Option<Record> {
        loop {
            // The kernel publishes overwrite_pos before producer_pos.
            let produced = self.producer().load(Ordering::Acquire);
            self.catch_up();
            if self.consumer_pos >= produced {
                return None;
            }
            let pos = self.consumer_pos;
            // SAFETY: the header word of the record at `pos`, 8-byte aligned.
            let len_word = unsafe { &*self.at(pos).cast::<AtomicU32>() }.load(Ordering::Acquire);
            if len_word & BUSY_BIT != 0 {
                return None; // Not committed yet.
            }
            let len = (len_word & !(BUSY_BIT | DISCARD_BIT)) as usize;
            let header = (len >= EVENT_HEADER_SIZE && (len as u64) <= self.mask).then(|| {
                // SAFETY: the record's data follows its 8-byte header.
                unsafe { std::ptr::read_unaligned(self.at(pos + RINGBUF_HEADER).cast::<EventHeader>()) }
            });
            // Read everything first, then check that the kernel did not
            // overwrite the record meanwhile: if it did, what we read is
            // torn, and the record counts as overwritten.
            fence(Ordering::Acquire);
            if self.overwrite_pos().load(Ordering::Acquire) > pos {
                continue;
            }
            self.consumer_pos = pos + (len as u64 + RINGBUF_HEADER).next_multiple_of(8);
            self.consumer().store(self.consumer_pos, Ordering::Release);
            if len_word & DISCARD_BIT != 0 {
                continue;
            }
            return Some(match header {
                Some(header) => Record::Event { header, len },
                None => Record::Malformed,
            });
        }
    }
}
