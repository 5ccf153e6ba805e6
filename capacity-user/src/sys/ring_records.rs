//! Walking a BPF ring buffer's records between two positions, as the kernel
//! lays them out (kernel/bpf/ringbuf.c): an 8-byte header (length, busy and
//! discard bits, page offset) before each record, records 8-byte aligned,
//! and the data pages mapped twice in a row so a record that wraps reads as
//! one piece. A pure function of the mapped memory and the positions: it
//! neither reads nor stores the producer or consumer position. One loop
//! serves both readers: the consumer here ([`RingData::walk`], which stops
//! at a record still being written) and a passive observer of another
//! program's ring ([`RingData::count_reserved`], which counts every record
//! the producer position has passed, busy or discarded ones too).
use std::sync::atomic::{AtomicU32, Ordering};

use super::Mapping;

/// BPF_RINGBUF_BUSY_BIT: the record is reserved, not yet committed.
pub const BUSY_BIT: u32 = 1 << 31;
/// BPF_RINGBUF_DISCARD_BIT: committed, but discarded by its producer.
pub const DISCARD_BIT: u32 = 1 << 30;
/// BPF_RINGBUF_HDR_SZ.
pub const HEADER: u64 = capacity_common::RINGBUF_HEADER;

/// What a visitor wants after seeing a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Take the record and go on.
    Next,
    /// Leave the record where it is and stop (it is not consumed).
    Stop,
}

/// Why a walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Reached the end position asked for.
    End,
    /// At a record still being written (busy bit set): the producer has not
    /// committed it, and nothing after it may be read yet.
    Busy,
    /// The visitor asked to stop.
    Visitor,
    /// A header whose length cannot be (larger than the ring): the walk
    /// cannot find the next record.
    Corrupt,
    /// Overwrite mode: the kernel overwrote the record at `pos` while it was
    /// read (its header may be torn); nothing from there on was trusted.
    Overwritten,
}

/// Where a walk ended and what it passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// The position after the last record taken (or skipped as discarded):
    /// what the consumer position may be set to.
    pub pos: u64,
    pub stopped: Stopped,
    /// Committed records: taken by the visitor, or counted.
    pub records: u64,
    /// Discarded records skipped.
    pub discarded: u64,
    /// Records still being written that were passed over (counting only:
    /// the consumer stops at the first).
    pub busy: u64,
    /// The largest record passed over, header included.
    pub largest_bytes: u64,
}

impl Walked {
    /// Every record passed over, as the producer reserved them.
    pub fn reserved(&self) -> u64 {
        self.records + self.discarded + self.busy
    }
}

/// What a walk does at each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The consumer's: hand committed records to the visitor, skip
    /// discarded ones, stop at a busy one.
    Consume,
    /// An observer's: count every record by its header alone, busy ones
    /// too (a reserved record's length is set at reserve), reading no data.
    CountReserved,
}

/// The data area of one ring: `2 * size` readable bytes, the second half
/// the same pages as the first.
/// It borrows what holds the bytes (`'a`), so it cannot outlive a mapping.
#[derive(Clone, Copy)]
pub struct RingData<'a> {
    base: *const u8,
    size: u64,
    bytes: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> RingData<'a> {
    /// # Safety
    /// `base` must point at `2 * size` readable bytes, 8-byte aligned, laid
    /// out as a ring of `size` bytes mapped twice (size a power of two), for
    /// as long as `'a`.
    pub unsafe fn new(base: *const u8, size: u64) -> Self {
        debug_assert!(size.is_power_of_two() && (base as usize).is_multiple_of(8));
        Self { base, size, bytes: std::marker::PhantomData }
    }

    /// The ring of `size` bytes whose data pages, mapped twice as the kernel
    /// lays out a ring buffer map, start at `offset` of `mapping`. Panics
    /// when they do not fit in it.
    pub fn in_mapping(mapping: &'a Mapping, offset: usize, size: u64) -> Self {
        let end = usize::try_from(size).ok().and_then(|s| s.checked_mul(2)).and_then(|d| d.checked_add(offset));
        assert!(
            size.is_power_of_two() && offset.is_multiple_of(8) && end.is_some_and(|end| end <= mapping.len()),
            "a ring of {size} B mapped twice from {offset} does not fit a {} B mapping",
            mapping.len()
        );
        // SAFETY: the 2 * size bytes from `offset` lie inside the mapping
        // (checked above), which stays mapped while it is borrowed for 'a,
        // and are 8-byte aligned (a mapping starts on a page). The walks
        // read only below 2 * size, so pages not mapped twice would give
        // wrong records, never a read outside the mapping.
        unsafe { Self::new(mapping.as_ptr().add(offset), size) }
    }

    /// Ring size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Walk the records from position `from` until position `to` (a record
    /// that starts before `to` is walked whole), handing each committed,
    /// not discarded record's data to `visit` with its position. `from` must
    /// be a record boundary (a consumer position); `to` no later than the
    /// producer position read (acquire) before the walk.
    pub fn walk(&self, from: u64, to: u64, visit: impl FnMut(u64, &[u8]) -> Step) -> Walked {
        self.walk_intact(from, to, |_| true, visit)
    }

    /// [`RingData::walk`] over a ring the kernel may overwrite while it is
    /// read (overwrite mode): `intact(pos)` says whether the record at `pos`
    /// is still there (the overwrite position has not passed it; called
    /// after its header was read). A header is trusted (busy, discarded, its
    /// length) only while its record is intact: an overwrite can tear it.
    /// The visitor checks its own record after reading it.
    pub fn walk_intact(
        &self,
        from: u64,
        to: u64,
        intact: impl Fn(u64) -> bool,
        visit: impl FnMut(u64, &[u8]) -> Step,
    ) -> Walked {
        self.walk_as(Mode::Consume, from, to, intact, visit)
    }

    /// Counts the records between `from` and `to` (a record that starts
    /// before `to` is counted whole) by their headers: committed, discarded
    /// and busy ones, each as the producer reserved it. For an observer of a
    /// ring it does not consume: `from` must be a record boundary (a
    /// producer position seen earlier), and since the producer may reuse
    /// the span meanwhile, the caller checks afterwards that it did not
    /// (the walk trusts each header; a torn one shows as `Corrupt` at worst).
    pub fn count_reserved(&self, from: u64, to: u64) -> Walked {
        self.walk_as(Mode::CountReserved, from, to, |_| true, |_, _| Step::Next)
    }

    fn walk_as(
        &self,
        mode: Mode,
        from: u64,
        to: u64,
        intact: impl Fn(u64) -> bool,
        mut visit: impl FnMut(u64, &[u8]) -> Step,
    ) -> Walked {
        let mut walked =
            Walked { pos: from, stopped: Stopped::End, records: 0, discarded: 0, busy: 0, largest_bytes: 0 };
        let mask = self.size - 1;
        while walked.pos < to {
            let pos = walked.pos;
            // SAFETY: (pos & mask) + 8 <= size, 8-byte aligned (records are).
            let at = unsafe { self.base.add((pos & mask) as usize) };
            // Acquire pairs with the kernel's release of the header at commit
            // (smp_store_release in bpf_ringbuf_commit): the data is then visible.
            // SAFETY: in bounds (above), 4-byte aligned, and read atomically
            // because the kernel writes it concurrently.
            let len_word = unsafe { &*at.cast::<AtomicU32>() }.load(Ordering::Acquire);
            let len = u64::from(len_word & !(BUSY_BIT | DISCARD_BIT));
            let (busy, discarded) = (len_word & BUSY_BIT != 0, len_word & DISCARD_BIT != 0);
            let trusted = !busy && len + HEADER <= self.size && !discarded;
            if !trusted && !intact(pos) {
                walked.stopped = Stopped::Overwritten;
                return walked;
            }
            if busy && mode == Mode::Consume {
                walked.stopped = Stopped::Busy;
                return walked;
            }
            if len + HEADER > self.size {
                walked.stopped = Stopped::Corrupt;
                return walked;
            }
            let span = capacity_common::record_bytes(len);
            if busy {
                walked.busy += 1;
            } else if discarded {
                walked.discarded += 1;
            } else {
                if mode == Mode::Consume {
                    // SAFETY: the data follows the header and ends within the
                    // second copy of the pages; the kernel does not touch a
                    // committed record until the consumer position passes it.
                    let data = unsafe { std::slice::from_raw_parts(at.add(HEADER as usize), len as usize) };
                    if visit(pos, data) == Step::Stop {
                        walked.stopped = Stopped::Visitor;
                        return walked;
                    }
                }
                walked.records += 1;
            }
            walked.largest_bytes = walked.largest_bytes.max(span);
            walked.pos = pos + span;
        }
        walked
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ring of `size` bytes laid out as the kernel lays it out, with its
    /// data pages seen twice (`bytes()`): records are written at positions
    /// and wrap.
    pub(crate) struct TestRing {
        words: Vec<u64>,
        size: u64,
        pub(crate) produced: u64,
    }

    impl TestRing {
        pub(crate) fn new(size: u64, start: u64) -> Self {
            Self { words: vec![0; (2 * size / 8) as usize], size, produced: start }
        }

        fn byte(&mut self, pos: u64, value: u8) {
            let bytes: &mut [u8] = bytemuck_bytes(&mut self.words);
            let at = (pos % self.size) as usize;
            bytes[at] = value;
            bytes[at + self.size as usize] = value; // The second mapping.
        }

        /// Append a record of `data` with header flags `bits`, as
        /// bpf_ringbuf_reserve + commit (or discard) would leave it.
        pub(crate) fn push(&mut self, data: &[u8], bits: u32) -> u64 {
            let pos = self.produced;
            let word = (data.len() as u32) | bits;
            for (i, b) in word.to_ne_bytes().into_iter().chain(0u32.to_ne_bytes()).enumerate() {
                self.byte(pos + i as u64, b);
            }
            for (i, b) in data.iter().enumerate() {
                self.byte(pos + HEADER + i as u64, *b);
            }
            self.produced += (data.len() as u64 + HEADER).next_multiple_of(8);
            pos
        }

        pub(crate) fn data(&self) -> RingData<'_> {
            // SAFETY: 2 * size bytes, u64-aligned, both halves kept equal.
            unsafe { RingData::new(self.words.as_ptr().cast(), self.size) }
        }
    }

    fn bytemuck_bytes(words: &mut [u64]) -> &mut [u8] {
        // SAFETY: any u64 buffer is a valid byte buffer of 8x the length.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), words.len() * 8) }
    }

    fn collect(ring: &TestRing, from: u64, to: u64) -> (Vec<(u64, Vec<u8>)>, Walked) {
        let mut seen = Vec::new();
        let walked = ring.data().walk(from, to, |pos, data| {
            seen.push((pos, data.to_vec()));
            Step::Next
        });
        (seen, walked)
    }

    #[test]
    fn a_ring_is_taken_from_a_mapping_only_where_it_fits() {
        use std::os::fd::AsFd as _;
        let path = std::env::temp_dir().join(format!("capacity-ring-data-{}", std::process::id()));
        let file = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        file.set_len(3 * 4096).unwrap();
        let mapping = Mapping::shared(file.as_fd(), 3 * 4096, 0, super::super::Access::Read).unwrap();
        // A page, then a 4 KiB ring "mapped twice" (here two zeroed pages): nothing to walk.
        let ring = RingData::in_mapping(&mapping, 4096, 4096);
        assert_eq!(ring.walk(0, 8, |_, _| Step::Next).stopped, Stopped::End);
        let too_far = std::panic::catch_unwind(|| RingData::in_mapping(&mapping, 8192, 4096).size());
        assert!(too_far.is_err(), "a ring past the mapping's end was taken");
    }

    #[test]
    fn mixed_sizes_are_walked_at_their_aligned_positions() {
        let mut ring = TestRing::new(4096, 0);
        let a = ring.push(&[1; 16], 0);
        let b = ring.push(&[2; 21], 0);
        let c = ring.push(&[3; 1], 0);
        let (seen, walked) = collect(&ring, 0, ring.produced);
        assert_eq!((a, b, c), (0, 24, 56), "8-byte header, 8-byte aligned");
        assert_eq!(seen, vec![(0, vec![1; 16]), (24, vec![2; 21]), (56, vec![3; 1])]);
        assert_eq!(
            walked,
            Walked { pos: 72, stopped: Stopped::End, records: 3, discarded: 0, busy: 0, largest_bytes: 32 }
        );
    }

    /// Overwrite mode: a header that is not plainly a committed record
    /// (busy, discarded, too long) is trusted only while its record is
    /// intact; an overwritten one stops the walk there, untrusted.
    #[test]
    fn an_overwritten_record_is_not_trusted() {
        let mut ring = TestRing::new(4096, 0);
        ring.push(&[1; 16], 0);
        let torn = ring.push(&[2; 16], DISCARD_BIT);
        ring.push(&[3; 16], 0);
        let overwritten_from = torn + 1;
        let mut seen = vec![];
        let walked = ring.data().walk_intact(
            0,
            ring.produced,
            |pos| pos >= overwritten_from,
            |pos, _| {
                seen.push(pos);
                Step::Next
            },
        );
        assert_eq!(seen, vec![0]);
        assert_eq!(walked.pos, torn);
        assert_eq!((walked.stopped, walked.records, walked.discarded), (Stopped::Overwritten, 1, 0));
        // Intact, the same header is a discard as before.
        let walked = ring.data().walk_intact(0, ring.produced, |_| true, |_, _| Step::Next);
        assert_eq!((walked.pos, walked.stopped, walked.records, walked.discarded), (ring.produced, Stopped::End, 2, 1));
    }

    #[test]
    fn discarded_records_are_skipped_and_passed() {
        let mut ring = TestRing::new(4096, 0);
        ring.push(&[1; 16], DISCARD_BIT);
        ring.push(&[2; 16], 0);
        ring.push(&[3; 40], DISCARD_BIT);
        let (seen, walked) = collect(&ring, 0, ring.produced);
        assert_eq!(seen, vec![(24, vec![2; 16])]);
        assert_eq!(
            walked,
            Walked { pos: 24 + 24 + 48, stopped: Stopped::End, records: 1, discarded: 2, busy: 0, largest_bytes: 48 }
        );
    }

    #[test]
    fn a_busy_record_stops_the_walk_before_it() {
        let mut ring = TestRing::new(4096, 0);
        ring.push(&[1; 16], 0);
        let busy = ring.push(&[2; 16], BUSY_BIT);
        ring.push(&[3; 16], 0); // Committed, but behind a busy one.
        let (seen, walked) = collect(&ring, 0, ring.produced);
        assert_eq!(seen.len(), 1);
        assert_eq!(
            walked,
            Walked { pos: busy, stopped: Stopped::Busy, records: 1, discarded: 0, busy: 0, largest_bytes: 24 }
        );
    }

    #[test]
    fn records_wrap_around_the_end_in_one_piece() {
        // Start 16 bytes before the end of a 4 KiB ring, many laps in.
        let start = 7 * 4096 + 4096 - 16;
        let mut ring = TestRing::new(4096, start);
        let data: Vec<u8> = (0..40).collect();
        ring.push(&data, 0); // Header at the end, data across the wrap.
        ring.push(&[9; 8], 0);
        let (seen, walked) = collect(&ring, start, ring.produced);
        assert_eq!(seen, vec![(start, data), (start + 48, vec![9; 8])]);
        assert_eq!(walked.pos, start + 48 + 16);
        assert_eq!(walked.stopped, Stopped::End);
    }

    #[test]
    fn the_walk_ends_past_the_record_that_crosses_the_end_position() {
        let mut ring = TestRing::new(4096, 0);
        for _ in 0..10 {
            ring.push(&[0; 56], 0);
        }
        let (seen, walked) = collect(&ring, 0, 100);
        assert_eq!(seen.len(), 2, "records at 0 and 64 start before 100");
        assert_eq!(walked.pos, 128);
    }

    #[test]
    fn a_visitor_can_leave_a_record_in_place() {
        let mut ring = TestRing::new(4096, 0);
        ring.push(&[1; 16], 0);
        ring.push(&[2; 16], 0);
        let walked = ring.data().walk(0, ring.produced, |pos, _| if pos == 24 { Step::Stop } else { Step::Next });
        assert_eq!(
            walked,
            Walked { pos: 24, stopped: Stopped::Visitor, records: 1, discarded: 0, busy: 0, largest_bytes: 24 }
        );
    }

    #[test]
    fn an_impossible_length_is_corrupt() {
        let mut ring = TestRing::new(4096, 0);
        ring.push(&[1; 16], 0);
        ring.push(&[], 0);
        // Overwrite the second header's length with more than the ring.
        for (i, b) in 5000u32.to_ne_bytes().into_iter().enumerate() {
            ring.byte(24 + i as u64, b);
        }
        let (seen, walked) = collect(&ring, 0, ring.produced);
        assert_eq!(seen.len(), 1);
        assert_eq!(
            walked,
            Walked { pos: 24, stopped: Stopped::Corrupt, records: 1, discarded: 0, busy: 0, largest_bytes: 24 }
        );
    }

    /// The observer's count: every reserved record, busy and discarded ones
    /// included, by its header alone; a busy record does not stop it.
    #[test]
    fn counting_passes_busy_and_discarded_records() {
        let mut ring = TestRing::new(4096, 0);
        ring.push(&[1; 16], 0);
        ring.push(&[2; 40], BUSY_BIT);
        ring.push(&[3; 16], DISCARD_BIT);
        ring.push(&[4; 8], 0);
        let walked = ring.data().count_reserved(0, ring.produced);
        assert_eq!(
            walked,
            Walked { pos: ring.produced, stopped: Stopped::End, records: 2, discarded: 1, busy: 1, largest_bytes: 48 }
        );
        assert_eq!(walked.reserved(), 4);
        // The consumer stops at the busy one.
        assert_eq!(ring.data().walk(0, ring.produced, |_, _| Step::Next).stopped, Stopped::Busy);
        // Across the wrap, from a producer position many laps in.
        let start = 3 * 4096 + 4096 - 8;
        let mut ring = TestRing::new(4096, start);
        ring.push(&[5; 100], BUSY_BIT);
        ring.push(&[6; 8], 0);
        let walked = ring.data().count_reserved(start, ring.produced);
        assert_eq!((walked.pos, walked.reserved(), walked.largest_bytes), (ring.produced, 2, 112));
    }
}
