//! Real maps, made without a program or an object file: aya's
//! `MapData::create` from a bare map definition. Elements go in through the
//! bpf(2) syscall directly, since aya's typed maps need key and value types
//! of the map's sizes at compile time and these sizes come at run time.
//! Dropping a [`BpfMap`] closes its fd, and the kernel frees the map.
use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
    time::Duration,
};

use anyhow::Context as _;
use aya::maps::{MapData, MapError};
use aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_RINGBUF;

use super::{round_up, MapSpec};

const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_F_NO_PREALLOC: u32 = 1;
const BPF_ANY: u64 = 0;
const ENOMEM_RETRIES: u32 = 100;
/// Shown by bpftool; the kernel keeps 15 characters and refuses dots.
const MAP_NAME: &str = "capacity_verify";

/// `union bpf_attr` for BPF_MAP_UPDATE_ELEM.
#[repr(C)]
struct MapUpdateAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised repr(C) prefix of union bpf_attr
    // and the size passed is its own.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>() as libc::c_uint) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A map this process created and owns.
#[derive(Debug)]
pub struct BpfMap {
    map: MapData,
    key_size: u32,
    /// Bytes one update passes: per-CPU maps take a value for every possible CPU.
    value_bytes: usize,
}

impl AsFd for BpfMap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd().as_fd()
    }
}

impl BpfMap {
    /// Creates the map `spec` describes (BPF_F_NO_PREALLOC when it says so).
    /// `cpus` is the number of possible CPUs, for per-CPU value buffers.
    pub fn create(spec: &MapSpec, cpus: u32) -> anyhow::Result<Self> {
        let flags = if spec.prealloc { 0 } else { BPF_F_NO_PREALLOC };
        let map = create_map(spec.kind.bpf_map_type(), spec.key_size, spec.value_size, spec.entries, flags)
            .with_context(|| {
                format!(
                    "the kernel refused to create a {} map ({} entries, key {} B, value {} B{})",
                    spec.kind,
                    spec.entries,
                    spec.key_size,
                    spec.value_size,
                    if spec.prealloc { "" } else { ", no prealloc" }
                )
            })?;
        let value_bytes = if spec.kind.is_percpu() {
            round_up(spec.value_size.into(), 8) as usize * cpus as usize
        } else {
            spec.value_size as usize
        };
        Ok(Self { map, key_size: spec.key_size, value_bytes })
    }

    /// Creates a ring buffer of `size` bytes.
    pub fn ring(size: u64) -> anyhow::Result<Self> {
        let entries = u32::try_from(size).context("ring size over 4 GiB")?;
        let map = create_map(BPF_MAP_TYPE_RINGBUF as u32, 0, 0, entries, 0)
            .with_context(|| format!("the kernel refused to create a ring buffer of {size} bytes"))?;
        Ok(Self { map, key_size: 0, value_bytes: 0 })
    }

    /// Inserts keys 0..count (little-endian in the key's bytes), zero values.
    pub fn fill(&self, count: u32) -> anyhow::Result<()> {
        let key_bits = u64::from(self.key_size.min(8)) * 8;
        if key_bits < 64 && u64::from(count) > 1u64 << key_bits {
            anyhow::bail!("{count} distinct keys do not fit in {} key bytes", self.key_size);
        }
        let mut key = vec![0u8; self.key_size as usize];
        let value = vec![0u8; self.value_bytes];
        for index in 0..u64::from(count) {
            let bytes = index.to_le_bytes();
            let n = key.len().min(8);
            key[..n].copy_from_slice(&bytes[..n]);
            self.update(&key, &value).with_context(|| format!("inserting key {index} of {count}"))?;
        }
        Ok(())
    }

    fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let mut attr = MapUpdateAttr {
            map_fd: self.as_fd().as_raw_fd() as u32,
            _pad: 0,
            key: key.as_ptr() as u64,
            value: value.as_ptr() as u64,
            flags: BPF_ANY,
        };
        // A map without preallocation takes elements from per-CPU caches
        // that irq_work refills; a burst of inserts can find them empty for
        // a moment. Give the refill a chance before calling it a failure.
        for _ in 0..ENOMEM_RETRIES {
            match bpf(BPF_MAP_UPDATE_ELEM, &mut attr) {
                Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => std::thread::sleep(Duration::from_millis(1)),
                other => return other.map(drop),
            }
        }
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
    }
}

/// A map of any type and flags (named `capacity_verify`), also for shapes
/// `MapSpec` does not describe. The error is the kernel's own.
pub fn create_map(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
) -> io::Result<MapData> {
    let definition = aya_obj::Map::new_from_params(map_type, key_size, value_size, max_entries, map_flags);
    MapData::create(definition, MAP_NAME, None).map_err(|e| match e {
        MapError::CreateError { io_error, .. } => io_error,
        other => io::Error::other(other),
    })
}
