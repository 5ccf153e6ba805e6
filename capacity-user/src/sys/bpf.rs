//! The bpf(2) commands aya 0.14 does not offer for run-time shapes, each as
//! one function with a typed result: create a map of any shape, update an
//! element, walk keys and look them up in batches, of sizes known only at
//! run time, and read a
//! program's full `bpf_prog_info` (aya's has no `recursion_misses`).
use std::{
    io, mem,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

use aya::maps::{MapData, MapError};
use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_map_type, bpf_prog_info, BPF_ANY};

/// Shown by bpftool for the maps this tool creates; the kernel keeps 15
/// characters and refuses dots.
const MAP_NAME: &str = "capacity_verify";

/// One bpf(2) call; the kernel's error as an io::Error.
fn sys_bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, fully initialised `union bpf_attr` of the
    // size passed; the pointers the caller put in it outlive the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, cmd as libc::c_long, attr as *mut bpf_attr, mem::size_of::<bpf_attr>()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn zeroed_attr() -> bpf_attr {
    // SAFETY: `union bpf_attr` is plain integers; all zeroes is what the
    // kernel expects in every field a command does not use.
    unsafe { mem::zeroed() }
}

/// BPF_MAP_CREATE of any type and flags (named `capacity_verify`), through
/// aya so that the map is an aya `MapData`. The error is the kernel's own.
pub fn create_map(
    map_type: bpf_map_type,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
) -> io::Result<MapData> {
    create_named_map(MAP_NAME, map_type, key_size, value_size, max_entries, map_flags)
}

/// [`create_map`] with the name bpftool and `capacity host` show.
pub fn create_named_map(
    name: &str,
    map_type: bpf_map_type,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
) -> io::Result<MapData> {
    let definition = aya_obj::Map::new_from_params(map_type as u32, key_size, value_size, max_entries, map_flags);
    MapData::create(definition, name, None).map_err(|e| match e {
        MapError::CreateError { io_error, .. } => io_error,
        other => io::Error::other(other),
    })
}

/// BPF_MAP_CREATE of an array or a hash of maps (`map_type`) with u32 keys,
/// whose inner maps are shaped like `inner`, named `name` (an agent's rings
/// per CPU; aya 0.14 creates no map of maps from userspace).
pub fn create_map_of_maps(
    name: &str,
    map_type: bpf_map_type,
    inner: BorrowedFd<'_>,
    max_entries: u32,
) -> io::Result<OwnedFd> {
    let mut attr = zeroed_attr();
    // SAFETY: writing plain integers into the union's map-create member.
    let create = unsafe { &mut attr.__bindgen_anon_1 };
    create.map_type = map_type as u32;
    create.key_size = 4;
    // An inner map's fd on update, its id on lookup.
    create.value_size = 4;
    create.max_entries = max_entries;
    create.inner_map_fd = inner.as_raw_fd() as u32;
    // The kernel keeps 15 characters and a NUL.
    for (slot, byte) in create.map_name.iter_mut().zip(name.bytes().take(15)) {
        *slot = byte as libc::c_char;
    }
    let fd = sys_bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: BPF_MAP_CREATE returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_MAP_UPDATE_ELEM with BPF_ANY: `key` and `value` must be the map's
/// key size and value size (per-CPU maps: a value for every possible CPU,
/// each rounded up to 8 bytes); the kernel reads exactly that many bytes.
pub fn map_update_elem(fd: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = zeroed_attr();
    // SAFETY: writing plain integers into the union's map-element member.
    let elem = unsafe { &mut attr.__bindgen_anon_2 };
    elem.map_fd = fd.as_raw_fd() as u32;
    elem.key = key.as_ptr() as u64;
    elem.__bindgen_anon_1.value = value.as_ptr() as u64;
    elem.flags = BPF_ANY.into();
    sys_bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// BPF_MAP_LOOKUP_ELEM: the value of `key` into `value` (the map's value
/// size; for an array or hash of maps, the inner map's id as a u32). False
/// when the key has none (an empty slot).
pub fn map_lookup_elem(fd: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = zeroed_attr();
    // SAFETY: writing plain integers into the union's map-element member.
    let elem = unsafe { &mut attr.__bindgen_anon_2 };
    elem.map_fd = fd.as_raw_fd() as u32;
    elem.key = key.as_ptr() as u64;
    elem.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
    match sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// BPF_MAP_GET_NEXT_KEY: writes the key after `key` (the first key for
/// `None`) into `next`, which must hold the map's key size. False at the
/// end of the map.
pub fn map_get_next_key(fd: BorrowedFd<'_>, key: Option<&[u8]>, next: &mut [u8]) -> io::Result<bool> {
    let mut attr = zeroed_attr();
    // SAFETY: writing plain integers into the union's map-element member.
    let elem = unsafe { &mut attr.__bindgen_anon_2 };
    elem.map_fd = fd.as_raw_fd() as u32;
    // A null key asks for the first key.
    elem.key = key.map_or(0, |k| k.as_ptr() as u64);
    elem.__bindgen_anon_1.next_key = next.as_mut_ptr() as u64;
    match sys_bpf(bpf_cmd::BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What one BPF_MAP_LOOKUP_BATCH returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// Keys (and values) written.
    pub count: u32,
    /// The map has no more: the next call would start past its end.
    pub end: bool,
}

/// BPF_MAP_LOOKUP_BATCH: up to `count` keys and values from the position
/// `from` (None: the map's start) into `keys` and `values` (each room for
/// `count` of the map's keys and values); the position after them goes to
/// `next` (hash maps: a bucket index, at most a key's size, 8 bytes at
/// least). ENOSPC means one bucket holds more than `count` keys.
pub fn map_lookup_batch(
    fd: BorrowedFd<'_>,
    from: Option<&[u8]>,
    next: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: u32,
) -> io::Result<Batch> {
    let mut attr = zeroed_attr();
    // SAFETY: writing plain integers into the union's batch member.
    let batch = unsafe { &mut attr.batch };
    batch.in_batch = from.map_or(0, |b| b.as_ptr() as u64);
    batch.out_batch = next.as_mut_ptr() as u64;
    batch.keys = keys.as_mut_ptr() as u64;
    batch.values = values.as_mut_ptr() as u64;
    batch.count = count;
    batch.map_fd = fd.as_raw_fd() as u32;
    let result = sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_BATCH, &mut attr);
    // SAFETY: the kernel wrote back how many it copied into the same member.
    let count = unsafe { attr.batch.count };
    match result {
        Ok(_) => Ok(Batch { count, end: false }),
        // The end of the map: `count` says how many came with it.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(Batch { count, end: true }),
        Err(e) => Err(e),
    }
}

/// BPF_PROG_TEST_RUN: runs the program `fd` `repeat` times on `data` (a
/// packet for a socket filter) in the kernel, as a trigger that needs no
/// event; the program's return value of the last run.
pub fn prog_test_run(fd: BorrowedFd<'_>, data: &[u8], repeat: u32) -> io::Result<u32> {
    let mut attr = zeroed_attr();
    // SAFETY: writing plain integers into the union's test member.
    let test = unsafe { &mut attr.test };
    test.prog_fd = fd.as_raw_fd() as u32;
    test.data_size_in = data.len() as u32;
    test.data_in = data.as_ptr() as u64;
    test.repeat = repeat;
    sys_bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut attr)?;
    // SAFETY: the kernel wrote the return value back into the same member.
    Ok(unsafe { attr.test.retval })
}

/// BPF_OBJ_GET_INFO_BY_FD for a program. Kernels older than the struct
/// leave the fields they do not know at zero.
pub fn prog_info(fd: BorrowedFd<'_>) -> io::Result<bpf_prog_info> {
    // SAFETY: bpf_prog_info is plain integers; all zeroes is valid.
    let mut info: bpf_prog_info = unsafe { mem::zeroed() };
    let mut attr = zeroed_attr();
    // SAFETY: writing plain integers into the union's info member.
    let request = unsafe { &mut attr.info };
    request.bpf_fd = fd.as_raw_fd() as u32;
    request.info_len = mem::size_of::<bpf_prog_info>() as u32;
    request.info = &mut info as *mut bpf_prog_info as u64;
    sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd as _;

    use super::*;

    /// Needs CAP_BPF (root): skipped loudly otherwise (a write to the stderr
    /// handle, which libtest does not capture as it does `eprintln!`), but
    /// never under CI=true.
    fn privileged(test: &str) -> bool {
        use std::io::Write as _;
        let root = nix::unistd::geteuid().is_root();
        assert!(root || std::env::var_os("CI").is_none(), "CI=true: {test} needs root");
        if !root {
            let _ = writeln!(std::io::stderr().lock(), "\n*** SKIPPED {test}: creating maps needs root ***\n");
        }
        root
    }

    #[test]
    fn a_hash_map_takes_keys_and_walks_them_back() {
        if !privileged("a_hash_map_takes_keys_and_walks_them_back") {
            return;
        }
        let map = create_map(bpf_map_type::BPF_MAP_TYPE_HASH, 4, 8, 16, 0).expect("create a hash map");
        let fd = map.fd().as_fd();
        for key in [3u32, 9, 12] {
            map_update_elem(fd, &key.to_ne_bytes(), &[0u8; 8]).expect("update");
        }
        let (mut key, mut next, mut seen) = (None::<[u8; 4]>, [0u8; 4], vec![]);
        while map_get_next_key(fd, key.as_ref().map(|k| &k[..]), &mut next).expect("next key") {
            seen.push(u32::from_ne_bytes(next));
            key = Some(next);
        }
        seen.sort_unstable();
        assert_eq!(seen, [3, 9, 12]);
    }
}
