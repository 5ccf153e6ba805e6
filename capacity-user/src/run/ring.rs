//! Reading the ring buffer: one reader of our own for both modes. It maps
//! the ring's pages, reads the producer position once per pass, walks the
//! committed records ([`super::walk`]) and hands the consumer position back
//! one step behind the walk, every so many bytes (at most [`RELEASE_EVERY`],
//! fewer for a consumer that spends time on each record), and whole before
//! the consumer sleeps ([`Ring::release_held`]), where aya 0.14's
//! `RingBuf::next()` (and libbpf) store it after every record.
//! In overwrite mode (BPF_F_RB_OVERWRITE, Linux 6.19+), which aya knows
//! nothing of, it also follows the kernel's overwrite position: a record
//! the kernel has overwritten must be skipped, never parsed, and counted.
use std::{
    os::fd::{AsFd, BorrowedFd},
    sync::atomic::{fence, AtomicU64, Ordering},
};

use anyhow::Context as _;
use aya::maps::{MapData, RingBuf};
use capacity_common::{EventHeader, EVENT_HEADER_SIZE, OVERWRITE_POS_OFFSET};

use crate::sys::ring_records::{RingData, Step, Stopped};
use crate::sys::{page_size, Access, Mapping};

/// The consumer position is stored at least every this many bytes of
/// records read, so that producers see room while a long backlog drains.
/// Four pages. Measured with `capacity load --rate max --batch 64 --wakeup
/// sampled:256 --event-size 64 --ringbuf-size 16M --duration 2`, one run
/// each on the shared 2-core host: 4 KiB 2.19 M/s consumed (23.6 consumer
/// ns/event), 16 KiB 2.49 M/s (18.4), 64 KiB 2.42 (17.8), once per pass
/// 2.37 (19.3); a 256 KiB ring dropped 79-86% with every step alike.
/// That is for a consumer that spends nothing per record: one that does
/// (`--consumer-work`, stalls) hands back sooner (`release_every`), as every
/// held byte is ring space its producers lose while it works.
pub const RELEASE_EVERY: u64 = 16 * 1024;

/// One record as the consumer needs it.
pub enum Record {
    /// Its header and its length (the consumer checks the length against
    /// the size the program wrote for that sequence number).
    Event { header: EventHeader, len: usize },
    /// Shorter than a header, or a header the walk could not get past:
    /// never expected.
    Malformed,
}

/// The ring's pages mapped as the kernel lays them out (struct bpf_ringbuf):
/// the consumer page (writable), then the producer page and the data pages
/// twice over (read-only), so a record that wraps reads as one piece.
pub struct Ring {
    ring: RingBuf<MapData>,
    consumer_page: Mapping,
    producer_area: Mapping,
    page: usize,
    ring_size: u64,
    /// Bytes walked between stores of the consumer position (see [`RELEASE_EVERY`]).
    release_every: u64,
    /// Overwrite mode: every record has this size (overwrite mode takes one
    /// event size), so overwritten records are counted from positions.
    overwrite: Option<u64>,
    /// What has been handed back to the kernel.
    consumer_pos: u64,
    /// Where the walk is: ahead of `consumer_pos` by the last pass's records
    /// while they are held (normal mode).
    read_pos: u64,
    overwritten: u64,
}

impl Ring {
    /// `ring` is the program's ring buffer; `overwrite` says how it was
    /// created; the position is handed back every `release_every` bytes read
    /// (at least one record, at most [`RELEASE_EVERY`]).
    pub fn new(
        ring: RingBuf<MapData>,
        overwrite: bool,
        ring_size: u64,
        event_size: usize,
        release_every: u64,
    ) -> anyhow::Result<Self> {
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
            ring_size,
            release_every: release_every.clamp(1, RELEASE_EVERY),
            overwrite: overwrite.then(|| capacity_common::record_bytes(event_size as u64)),
            consumer_pos: 0,
            read_pos: 0,
            overwritten: 0,
        };
        this.consumer_pos = this.consumer().load(Ordering::Acquire);
        this.read_pos = this.consumer_pos;
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

    fn overwrite_pos_word(&self) -> &AtomicU64 {
        self.producer_area.atomic_u64(OVERWRITE_POS_OFFSET)
    }

    /// The data pages, which follow the producer page (a view, made per pass
    /// so that nothing but the mapping itself holds a raw pointer into it).
    fn data(&self) -> RingData<'_> {
        // producer_area holds the producer page and then the ring's data pages mapped twice.
        RingData::in_mapping(&self.producer_area, self.page, self.ring_size)
    }

    /// The ring's data size in bytes.
    pub fn size(&self) -> u64 {
        self.ring_size
    }

    /// Records the kernel overwrote before this reader got to them, so far.
    pub fn overwritten(&self) -> u64 {
        self.overwritten
    }

    /// The kernel's overwrite position (0 for a normal ring).
    pub fn overwrite_pos(&self) -> u64 {
        match self.overwrite {
            None => 0,
            Some(_) => self.overwrite_pos_word().load(Ordering::Acquire),
        }
    }

    /// Hand back what the last passes held: before sleeping, and at the
    /// end. A consumer that has caught up
    /// and stores the position the producer writes next makes the
    /// producer's next commit wake it (the kernel's adaptive wakeup: an
    /// irq_work, a self-IPI that costs microseconds in a VM); held back by one
    /// pass, the position is one the producer has already passed, and a fast
    /// consumer costs the producer one wakeup per sleep instead of one per
    /// catch-up (the figures are with `NAP` in consumer.rs).
    pub fn release_held(&mut self) {
        self.release(self.read_pos);
    }

    /// The most the reader holds back between stores: `release_every`, or a
    /// quarter of a smaller ring.
    fn hold_at_most(&self) -> u64 {
        self.release_every.min(self.ring_size / 4)
    }

    /// Hand the records read so far back to the kernel. Release pairs with
    /// the kernel's acquire of the consumer position in a reserve: our reads
    /// of those records are done before it may reuse their bytes.
    fn release(&mut self, pos: u64) {
        if pos == self.consumer_pos {
            return; // A store to the page producers read costs them a cache miss.
        }
        self.consumer_pos = pos;
        self.consumer().store(pos, Ordering::Release);
    }

    /// Overwrite mode: skip what the kernel overwrote since we last looked,
    /// counting it.
    fn catch_up(&mut self, record_bytes: u64) {
        let over = self.overwrite_pos_word().load(Ordering::Acquire);
        if over > self.consumer_pos {
            // Records between here and the overwrite position are gone.
            self.overwritten += (over - self.consumer_pos) / record_bytes;
            self.release(over);
        }
    }

    /// Read every record committed when the pass began, in order, handing
    /// each to `visit`; stop at the first one still being written. Returns
    /// the records handed over.
    pub fn drain(&mut self, mut visit: impl FnMut(Record)) -> u64 {
        // Acquire pairs with the kernel's release of producer_pos: every
        // header before it is then readable (busy or committed).
        let produced = self.producer().load(Ordering::Acquire);
        let mut records = 0;
        loop {
            if let Some(record_bytes) = self.overwrite {
                // The kernel publishes overwrite_pos before producer_pos.
                self.catch_up(record_bytes);
                self.read_pos = self.consumer_pos;
            }
            if self.read_pos >= produced {
                return records;
            }
            let until = produced.min(self.read_pos + self.release_every);
            let overwrite = self.overwrite.is_some();
            let over_word = self.overwrite_pos_word();
            // Overwrite mode: a record is intact while the overwrite
            // position has not passed it (read after the record, hence the
            // fence).
            let intact = |pos: u64| {
                fence(Ordering::Acquire);
                !overwrite || over_word.load(Ordering::Acquire) <= pos
            };
            let walked = self.data().walk_intact(self.read_pos, until, intact, |pos, data| {
                let record = parse(data);
                if overwrite {
                    // Everything is read: if the kernel overwrote the record
                    // meanwhile, what we read is torn, and it counts as
                    // overwritten (catch_up, on the next round).
                    fence(Ordering::Acquire);
                    if over_word.load(Ordering::Acquire) > pos {
                        return Step::Stop;
                    }
                }
                visit(record);
                Step::Next
            });
            records += walked.records;
            let start = std::mem::replace(&mut self.read_pos, walked.pos);
            match walked.stopped {
                Stopped::End | Stopped::Visitor | Stopped::Busy => {
                    if self.overwrite.is_some() {
                        self.release(walked.pos);
                    } else if walked.records > 0 && start - self.consumer_pos >= self.hold_at_most() {
                        // Normal mode hands back one step behind the walk:
                        // up to the first record just read, whose commit is
                        // past, so no commit finds its own position there;
                        // and only every so many bytes, as each store costs
                        // the producers a cache miss on their next reserve.
                        self.release(start);
                    }
                    if walked.stopped == Stopped::Busy {
                        return records;
                    }
                }
                // The overwrite position passed the record being read:
                // catch_up counts it and what else was overwritten.
                Stopped::Overwritten => self.release(walked.pos),
                Stopped::Corrupt => {
                    // No way to the next record: give up what was produced,
                    // and say so (the accounting then fails visibly).
                    visit(Record::Malformed);
                    self.read_pos = produced;
                    self.release(produced);
                    return records + 1;
                }
            }
        }
    }
}

/// The consumer's view of one record's data.
pub(super) fn parse(data: &[u8]) -> Record {
    if data.len() < EVENT_HEADER_SIZE {
        return Record::Malformed;
    }
    // SAFETY: at least EVENT_HEADER_SIZE bytes, read unaligned.
    let header = unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<EventHeader>()) };
    Record::Event { header, len: data.len() }
}

impl AsFd for Ring {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }
}
