//! Entries in use in a live hash map, counted by the kernel: the map's keys
//! walked with BPF_MAP_GET_NEXT_KEY, stopping at a bound on keys and time so
//! that a huge map cannot stall the report (the count then says it is partial).
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
    time::{Duration, Instant},
};

const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

/// How far a count may go.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub max_keys: u64,
    pub max_time: Duration,
}

impl Default for Bound {
    fn default() -> Self {
        Self { max_keys: 10_000_000, max_time: Duration::from_secs(2) }
    }
}

/// Keys seen; `complete` when the walk reached the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub entries: u64,
    pub complete: bool,
}

/// `union bpf_attr` for BPF_MAP_GET_NEXT_KEY.
#[repr(C)]
struct NextKeyAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    next_key: u64,
}

/// Counts the keys of the map `fd` of type `map_type`: in batches where the
/// kernel can (plain and LRU hash maps: one syscall per few thousand keys
/// instead of one per key, a 100k-entry map in about a tenth of the time;
/// `cargo xtask bench host`), else key by key.
pub fn count(fd: BorrowedFd<'_>, map_type: u32, key_size: u32, value_size: u32, bound: Bound) -> io::Result<Count> {
    // A bound below one batch is counted key by key, to stop exactly at it
    // (batches hold whole buckets, so a batched count may stop a few short).
    if matches!(map_type, BPF_MAP_TYPE_HASH | BPF_MAP_TYPE_LRU_HASH) && bound.max_keys >= u64::from(BATCH) {
        match count_batched(fd, key_size, value_size, bound) {
            // Kernels or maps without batch lookup: walk key by key.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP | ENOTSUPP)) => {}
            done => return done,
        }
    }
    count_keys(fd, key_size, bound)
}

const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
/// The kernel's own "operation not supported" (include/linux/errno.h), which reaches userspace as is.
const ENOTSUPP: i32 = 524;
/// Keys asked for per batch; a bucket holding more makes the kernel answer
/// ENOSPC, and the batch grows.
const BATCH: u32 = 4096;

/// `union bpf_attr` for BPF_MAP_LOOKUP_BATCH.
#[repr(C)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

fn count_batched(fd: BorrowedFd<'_>, key_size: u32, value_size: u32, bound: Bound) -> io::Result<Count> {
    let start = Instant::now();
    let mut batch = BATCH;
    let (mut keys, mut values) = (vec![], vec![]);
    // The position token: a bucket index for hash maps, at most a key's size.
    let mut position = [vec![0u8; key_size.max(8) as usize], vec![0u8; key_size.max(8) as usize]];
    let mut entries = 0u64;
    let mut first = true;
    loop {
        if entries >= bound.max_keys || start.elapsed() > bound.max_time {
            return Ok(Count { entries, complete: false });
        }
        // Never past the bound.
        let ask = u64::from(batch).min(bound.max_keys - entries) as u32;
        keys.resize(ask as usize * key_size as usize, 0u8);
        values.resize(ask as usize * value_size as usize, 0u8);
        let mut attr = BatchAttr {
            in_batch: if first { 0 } else { position[0].as_ptr() as u64 },
            out_batch: position[1].as_mut_ptr() as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: ask,
            map_fd: fd.as_raw_fd() as u32,
            elem_flags: 0,
            flags: 0,
        };
        // SAFETY: `attr` is a repr(C) prefix of union bpf_attr; the buffers
        // hold `batch` keys and values and outlive the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &mut attr as *mut BatchAttr,
                std::mem::size_of::<BatchAttr>() as libc::c_uint,
            )
        };
        if ret < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                // The end: `count` says how many came with it.
                Some(libc::ENOENT) => Ok(Count { entries: entries + u64::from(attr.count), complete: true }),
                // One bucket holds more keys than asked for.
                Some(libc::ENOSPC) if ask < batch => Ok(Count { entries, complete: false }),
                Some(libc::ENOSPC) if batch < (1 << 24) => {
                    batch *= 2;
                    continue;
                }
                _ => Err(err),
            };
        }
        entries += u64::from(attr.count);
        first = false;
        position.swap(0, 1);
    }
}

/// Counts the keys of the map `fd` (keys of `key_size` bytes) one by one.
fn count_keys(fd: BorrowedFd<'_>, key_size: u32, bound: Bound) -> io::Result<Count> {
    let start = Instant::now();
    let mut key = vec![0u8; key_size as usize];
    let mut next = vec![0u8; key_size as usize];
    let mut entries = 0u64;
    let mut first = true;
    loop {
        if entries >= bound.max_keys || (entries.is_multiple_of(1024) && start.elapsed() > bound.max_time) {
            return Ok(Count { entries, complete: false });
        }
        let mut attr = NextKeyAttr {
            map_fd: fd.as_raw_fd() as u32,
            _pad: 0,
            // A null key asks for the first key.
            key: if first { 0 } else { key.as_ptr() as u64 },
            next_key: next.as_mut_ptr() as u64,
        };
        // SAFETY: `attr` is a repr(C) prefix of union bpf_attr; the key
        // buffers hold key_size bytes each and outlive the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_GET_NEXT_KEY,
                &mut attr as *mut NextKeyAttr,
                std::mem::size_of::<NextKeyAttr>() as libc::c_uint,
            )
        };
        if ret < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENOENT) => Ok(Count { entries, complete: true }),
                _ => Err(err),
            };
        }
        entries += 1;
        first = false;
        std::mem::swap(&mut key, &mut next);
    }
}
