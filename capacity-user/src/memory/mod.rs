//! What BPF maps and ring buffers cost in kernel memory: the lab's naive
//! formulas, an exact model of the kernel's own figure, and the machinery
//! that checks the model against real maps.
//!
//! - [`naive`]: the lab's formulas, kept exactly as defined;
//! - [`btf`]: sizes of kernel structures, read from the kernel's BTF;
//! - [`kernels`]: those sizes for the kernels capacity knows (kernels.toml);
//! - [`model`]: what a given kernel reports as `memlock` (per map type);
//! - [`ring_size`]: the ring a rate of events needs, the lab's and recommended;
//! - [`host`]: the CPUs and page size a model assumes (this machine's, or given);
//! - [`estimate`]: the `capacity estimate` reports;
//! - [`maps`]: creating and filling maps with the bpf(2) syscall;
//! - [`measure`]: the `memlock:` figure and a memory cgroup's charge;
//! - [`verify`]: the matrix of real maps behind `capacity verify`.
use std::{fmt, str::FromStr};

use serde::Serialize;

use crate::sys::bpf_map_type::{self, *};

pub mod btf;
pub mod estimate;
pub mod host;
pub mod kernels;
pub mod layout_cost;
pub mod maps;
pub mod measure;
pub mod model;
pub mod naive;
pub mod ring_size;
pub mod verify;

/// The map types the tool models and creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapKind {
    Hash,
    PercpuHash,
    LruHash,
    LruPercpuHash,
    Array,
    PercpuArray,
}

impl MapKind {
    pub const ALL: [MapKind; 6] = [
        MapKind::Hash,
        MapKind::PercpuHash,
        MapKind::LruHash,
        MapKind::LruPercpuHash,
        MapKind::Array,
        MapKind::PercpuArray,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MapKind::Hash => "hash",
            MapKind::PercpuHash => "percpu-hash",
            MapKind::LruHash => "lru-hash",
            MapKind::LruPercpuHash => "lru-percpu-hash",
            MapKind::Array => "array",
            MapKind::PercpuArray => "percpu-array",
        }
    }

    /// Its `enum bpf_map_type` (include/uapi/linux/bpf.h).
    pub fn bpf_map_type(self) -> bpf_map_type {
        match self {
            MapKind::Hash => BPF_MAP_TYPE_HASH,
            MapKind::Array => BPF_MAP_TYPE_ARRAY,
            MapKind::PercpuHash => BPF_MAP_TYPE_PERCPU_HASH,
            MapKind::PercpuArray => BPF_MAP_TYPE_PERCPU_ARRAY,
            MapKind::LruHash => BPF_MAP_TYPE_LRU_HASH,
            MapKind::LruPercpuHash => BPF_MAP_TYPE_LRU_PERCPU_HASH,
        }
    }

    pub fn is_hash(self) -> bool {
        !matches!(self, MapKind::Array | MapKind::PercpuArray)
    }

    pub fn is_percpu(self) -> bool {
        matches!(self, MapKind::PercpuHash | MapKind::LruPercpuHash | MapKind::PercpuArray)
    }

    pub fn is_lru(self) -> bool {
        matches!(self, MapKind::LruHash | MapKind::LruPercpuHash)
    }

    /// BPF_F_NO_PREALLOC is accepted by plain and per-CPU hash maps only
    /// (`htab_map_alloc_check` refuses it for LRU; arrays have no such flag).
    pub fn can_skip_prealloc(self) -> bool {
        matches!(self, MapKind::Hash | MapKind::PercpuHash)
    }

    /// The modelled kind of a kernel map type, if it is one.
    pub fn from_bpf_map_type(map_type: u32) -> Option<Self> {
        MapKind::ALL.into_iter().find(|k| k.bpf_map_type() as u32 == map_type)
    }
}

impl fmt::Display for MapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MapKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
        MapKind::ALL.into_iter().find(|k| k.name() == wanted).ok_or_else(|| {
            let names: Vec<&str> = MapKind::ALL.iter().map(|k| k.name()).collect();
            format!("`{text}` is not a map type: use one of {}", names.join(", "))
        })
    }
}

impl Serialize for MapKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One map as the user describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MapSpec {
    #[serde(rename = "type")]
    pub kind: MapKind,
    pub entries: u32,
    pub key_size: u32,
    pub value_size: u32,
    /// False with BPF_F_NO_PREALLOC: elements are allocated as they are added.
    pub prealloc: bool,
    /// Live elements; only a map without preallocation reports them.
    pub filled: u32,
    /// BPF_F_MMAPABLE (arrays): values on whole pages, as libbpf creates
    /// `.data` and `.bss`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mmapable: bool,
}

impl MapSpec {
    /// The lab's formula for this map: entries × (key + value + 64).
    pub fn naive_bytes(&self) -> u64 {
        naive::map_bytes(self.entries.into(), self.key_size.into(), self.value_size.into())
    }

    /// A preallocated map, full.
    pub fn new(kind: MapKind, entries: u32, key_size: u32, value_size: u32) -> Self {
        Self { kind, entries, key_size, value_size, prealloc: true, filled: entries, mmapable: false }
    }

    /// The array created with BPF_F_MMAPABLE.
    pub fn mmapable(self) -> Self {
        Self { mmapable: true, ..self }
    }

    /// The map created with BPF_F_NO_PREALLOC and holding `filled` elements.
    pub fn without_prealloc(self, filled: u32) -> Self {
        Self { prealloc: false, filled, ..self }
    }
}

/// Round `value` up to a multiple of `align` (the kernel's `round_up`).
pub(crate) fn round_up(value: u64, align: u64) -> u64 {
    value.div_ceil(align) * align
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_types_parse_by_name() {
        assert_eq!("hash".parse(), Ok(MapKind::Hash));
        assert_eq!("lru_percpu_hash".parse(), Ok(MapKind::LruPercpuHash));
        assert_eq!("PERCPU-ARRAY".parse(), Ok(MapKind::PercpuArray));
        let err = "btree".parse::<MapKind>().unwrap_err();
        assert!(err.contains("percpu-array"), "{err}");
        assert_eq!(MapKind::from_bpf_map_type(10), Some(MapKind::LruPercpuHash));
        assert_eq!(MapKind::from_bpf_map_type(BPF_MAP_TYPE_RINGBUF as u32), None);
    }

    #[test]
    fn round_up_matches_the_kernel() {
        assert_eq!(round_up(0, 8), 0);
        assert_eq!(round_up(5, 8), 8);
        assert_eq!(round_up(16, 8), 16);
        assert_eq!(round_up(4097, 4096), 8192);
    }
}
