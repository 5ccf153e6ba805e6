//! A perf buffer of our own: perf_event_open(2) of a BPF output event on
//! one CPU, its pages mapped, its records walked. aya 0.14's `PerfBuffer`
//! always wakes the reader on every sample (`wakeup_events = 1`), and the
//! perf layout's `--wakeup sampled:N` sets it to N, so the buffer is opened
//! here; reading it is as aya does it (data_head acquired, data_tail
//! released once per pass).
use std::{
    io,
    mem::{offset_of, size_of},
    os::fd::{AsFd, BorrowedFd, FromRawFd as _, OwnedFd},
    sync::atomic::Ordering,
};

use aya_obj::generated::{
    perf_event_attr, perf_event_header, perf_event_mmap_page,
    perf_event_sample_format::PERF_SAMPLE_RAW,
    perf_event_type::{PERF_RECORD_LOST, PERF_RECORD_SAMPLE},
    perf_sw_ids::PERF_COUNT_SW_BPF_OUTPUT,
    perf_type_id::PERF_TYPE_SOFTWARE,
    PERF_FLAG_FD_CLOEXEC,
};

use super::{page_size, Access, Mapping};

/// What a pass over a perf buffer found, record by record.
pub enum PerfRecord<'a> {
    /// A sample's raw bytes (the program's data, padded by the kernel so
    /// that the u32 size in front and the data end 8-byte aligned).
    Sample(&'a [u8]),
    /// PERF_RECORD_LOST: samples the kernel could not write for lack of room.
    Lost(u64),
}

/// One CPU's perf buffer: the metadata page, then `pages` data pages.
pub struct PerfBuffer {
    fd: OwnedFd,
    mapping: Mapping,
    page: usize,
    size: usize,
    /// A sample that wraps the end of the data pages, reassembled.
    wrapped: Vec<u8>,
}

impl PerfBuffer {
    /// Opens the BPF output event of `cpu` with `pages` data pages (a power
    /// of two) waking the reader every `wakeup_events` samples.
    pub fn open(cpu: u32, pages: usize, wakeup_events: u32) -> io::Result<Self> {
        // SAFETY: perf_event_attr is plain integers; zero is "unset" for each.
        let mut attr: perf_event_attr = unsafe { std::mem::zeroed() };
        attr.type_ = PERF_TYPE_SOFTWARE as u32;
        attr.size = size_of::<perf_event_attr>() as u32;
        attr.config = PERF_COUNT_SW_BPF_OUTPUT as u64;
        attr.sample_type = PERF_SAMPLE_RAW as u64;
        attr.__bindgen_anon_1.sample_period = 1;
        // The kernel compares wakeup_events as an int: above i32::MAX it is
        // negative and every sample wakes the reader (a self-IPI each).
        attr.__bindgen_anon_2.wakeup_events = wakeup_events.clamp(1, i32::MAX as u32);
        // SAFETY: a fully initialised attr of the size given; pid -1 with a
        // CPU is "every process on that CPU", no group, close on exec.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const perf_event_attr,
                -1 as libc::pid_t,
                cpu as libc::c_int,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new fd the kernel just returned, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let page = page_size() as usize;
        let size = pages * page;
        let mapping = Mapping::shared(fd.as_fd(), page + size, 0, Access::ReadWrite)?;
        Ok(Self { fd, mapping, page, size, wrapped: Vec::new() })
    }

    /// Bytes written and not yet read.
    pub fn backlog(&self) -> u64 {
        let head = self.mapping.atomic_u64(offset_of!(perf_event_mmap_page, data_head)).load(Ordering::Acquire);
        let tail = self.mapping.atomic_u64(offset_of!(perf_event_mmap_page, data_tail)).load(Ordering::Relaxed);
        head.wrapping_sub(tail)
    }

    /// Hands every record written when the pass began to `visit`, then
    /// gives their bytes back to the kernel. Returns the records visited.
    pub fn drain(&mut self, mut visit: impl FnMut(PerfRecord<'_>)) -> u64 {
        let Self { mapping, page, size, wrapped, .. } = self;
        let head_word = mapping.atomic_u64(offset_of!(perf_event_mmap_page, data_head));
        // Acquire pairs with the kernel's publication of data_head.
        let head = head_word.load(Ordering::Acquire);
        let tail_at = offset_of!(perf_event_mmap_page, data_tail);
        let mut tail = mapping.atomic_u64(tail_at).load(Ordering::Relaxed);
        // SAFETY: the mapping holds the metadata page and then `size` data
        // bytes, which stay mapped while `self` is borrowed; the kernel does
        // not write the records between data_tail and data_head.
        let data = unsafe { std::slice::from_raw_parts(mapping.as_ptr().add(*page), *size) };
        // The kernel maps only a power of two of data pages: positions wrap with a mask.
        let mask = *size - 1;
        let mut records = 0;
        while tail < head {
            // Records start 8-byte aligned, so the header and each 8-byte
            // word after it lie whole before the data's end.
            let at = tail as usize & mask;
            let header: perf_event_header = word(data, at);
            let len = usize::from(header.size);
            if len < size_of::<perf_event_header>() {
                break; // Never written by the kernel: stop rather than spin.
            }
            let body = (at + size_of::<perf_event_header>()) & mask;
            match header.type_ {
                t if t == PERF_RECORD_SAMPLE as u32 => {
                    let raw = (word::<u32>(data, body) as usize).min(*size);
                    let from = body + 4;
                    let sample = if from + raw <= *size {
                        &data[from..from + raw]
                    } else {
                        // It wraps the data's end: reassembled.
                        let first = &data[from.min(*size)..];
                        wrapped.clear();
                        wrapped.extend_from_slice(first);
                        wrapped.extend_from_slice(&data[..raw - first.len()]);
                        &wrapped[..]
                    };
                    visit(PerfRecord::Sample(sample));
                }
                t if t == PERF_RECORD_LOST as u32 => {
                    // { header, u64 id, u64 lost }
                    visit(PerfRecord::Lost(word(data, (body + 8) & mask)));
                }
                _ => {}
            }
            records += 1;
            tail += len as u64;
        }
        // Release: our reads of those bytes are done before the kernel reuses them.
        mapping.atomic_u64(tail_at).store(tail, Ordering::Release);
        records
    }
}

/// A plain value at byte `at` of the data pages (never across their end:
/// the kernel aligns what is read this way).
fn word<T: Copy>(data: &[u8], at: usize) -> T {
    let bytes = &data[at..at + size_of::<T>()];
    // SAFETY: `bytes` holds size_of::<T>() bytes; T is plain data, read unaligned.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) }
}

impl AsFd for PerfBuffer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
