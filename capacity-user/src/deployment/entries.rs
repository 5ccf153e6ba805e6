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
