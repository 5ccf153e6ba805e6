//! Entries in use in a live hash map, counted by the kernel: in batches
//! where the kernel can (BPF_MAP_LOOKUP_BATCH), else key by key
//! (BPF_MAP_GET_NEXT_KEY), stopping at a bound on keys and time so that a
//! huge map cannot stall the report (the count then says it is partial).
use std::{
    io,
    os::fd::BorrowedFd,
    time::{Duration, Instant},
};

use crate::sys::{
    bpf::{map_get_next_key, map_lookup_batch},
    bpf_map_type::{self, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH},
};

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

/// The kernel's own "operation not supported" (include/linux/errno.h), which reaches userspace as is.
const ENOTSUPP: i32 = 524;
/// Keys asked for per batch; a bucket holding more makes the kernel answer
/// ENOSPC, and the batch grows.
const BATCH: u32 = 4096;

/// Counts the keys of the map `fd` of type `map_type`: in batches where the
/// kernel can (plain and LRU hash maps: one syscall per few thousand keys
/// instead of one per key, a 100k-entry map in about a tenth of the time;
/// `cargo xtask bench host`), else key by key.
pub fn count(fd: BorrowedFd<'_>, map_type: u32, key_size: u32, value_size: u32, bound: Bound) -> io::Result<Count> {
    let batched = [BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH].map(|t: bpf_map_type| t as u32);
    // A bound below one batch is counted key by key, to stop exactly at it
    // (batches hold whole buckets, so a batched count may stop a few short).
    if batched.contains(&map_type) && bound.max_keys >= u64::from(BATCH) {
        match count_batched(fd, key_size, value_size, bound) {
            // Kernels or maps without batch lookup: walk key by key.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP | ENOTSUPP)) => {}
            done => return done,
        }
    }
    count_keys(fd, key_size, bound)
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
        let [from, next] = &mut position;
        let got = match map_lookup_batch(fd, (!first).then_some(&from[..]), next, &mut keys, &mut values, ask) {
            Ok(got) => got,
            // One bucket holds more keys than asked for.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && ask < batch => {
                return Ok(Count { entries, complete: false })
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && batch < (1 << 24) => {
                batch *= 2;
                continue;
            }
            Err(e) => return Err(e),
        };
        entries += u64::from(got.count);
        if got.end {
            return Ok(Count { entries, complete: true });
        }
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
        if !map_get_next_key(fd, (!first).then_some(&key[..]), &mut next)? {
            return Ok(Count { entries, complete: true });
        }
        entries += 1;
        first = false;
        std::mem::swap(&mut key, &mut next);
    }
}
