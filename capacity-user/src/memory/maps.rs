//! Real maps, made without a program or an object file, for `verify`: a
//! map of a [`MapSpec`]'s shape, filled with keys of sizes known only at
//! run time (aya's typed maps need them at compile time), through the
//! bpf(2) commands in `sys::bpf`. Dropping a [`BpfMap`] closes its fd, and
//! the kernel frees the map.
use std::{
    io,
    os::fd::{AsFd, BorrowedFd},
    time::Duration,
};

use anyhow::Context as _;
use aya::maps::MapData;

use super::{round_up, MapSpec};
use crate::sys::{
    bpf::{create_map, map_update_elem},
    bpf_map_type::BPF_MAP_TYPE_RINGBUF,
    BPF_F_NO_PREALLOC,
};

const ENOMEM_RETRIES: u32 = 100;

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
        let map = create_map(BPF_MAP_TYPE_RINGBUF, 0, 0, entries, 0)
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
        // A map without preallocation takes elements from per-CPU caches
        // that irq_work refills; a burst of inserts can find them empty for
        // a moment. Give the refill a chance before calling it a failure.
        for _ in 0..ENOMEM_RETRIES {
            match map_update_elem(self.as_fd(), key, value) {
                Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => std::thread::sleep(Duration::from_millis(1)),
                other => return other,
            }
        }
        map_update_elem(self.as_fd(), key, value)
    }
}
