//! Entries in use in a live hash map, counted by the kernel: the map's keys
//! walked with BPF_MAP_GET_NEXT_KEY, stopping at a bound on keys and time so
//! that a huge map cannot stall the report (the count then says it is partial).
use std::{
    io,
    os::fd::BorrowedFd,
    time::{Duration, Instant},
};

use crate::sys::bpf::map_get_next_key;

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

/// Counts the keys of the map `fd` (keys of `key_size` bytes).
pub fn count(fd: BorrowedFd<'_>, key_size: u32, bound: Bound) -> io::Result<Count> {
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
