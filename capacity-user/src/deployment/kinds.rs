//! The kernel's names for map types, program types and map flags
//! (`enum bpf_map_type`, `enum bpf_prog_type`, `BPF_F_*` in
//! include/uapi/linux/bpf.h), spelled as `capacity` spells map types:
//! lower case with hyphens. The numbers and the names both come from aya's
//! generated bindings, so a type the bindings know is never mistyped here.
use aya_obj::generated::{
    BPF_F_CLONE, BPF_F_INNER_MAP, BPF_F_LINK, BPF_F_MMAPABLE, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC,
    BPF_F_NO_USER_CONV, BPF_F_NUMA_NODE, BPF_F_PATH_FD, BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY, BPF_F_RDONLY_PROG,
    BPF_F_SEGV_ON_FAULT, BPF_F_STACK_BUILD_ID, BPF_F_TOKEN_FD, BPF_F_VTYPE_BTF_OBJ_FD, BPF_F_WRONLY, BPF_F_WRONLY_PROG,
    BPF_F_ZERO_SEED,
};

use crate::sys::{bpf_map_type, bpf_prog_type};

/// `BPF_F_*` map flags and their names.
const MAP_FLAGS: &[(u32, &str)] = &[
    (BPF_F_NO_PREALLOC, "no-prealloc"),
    (BPF_F_NO_COMMON_LRU, "no-common-lru"),
    (BPF_F_NUMA_NODE, "numa-node"),
    (BPF_F_RDONLY, "rdonly"),
    (BPF_F_WRONLY, "wronly"),
    (BPF_F_STACK_BUILD_ID, "stack-build-id"),
    (BPF_F_ZERO_SEED, "zero-seed"),
    (BPF_F_RDONLY_PROG, "rdonly-prog"),
    (BPF_F_WRONLY_PROG, "wronly-prog"),
    (BPF_F_CLONE, "clone"),
    (BPF_F_MMAPABLE, "mmapable"),
    (BPF_F_PRESERVE_ELEMS, "preserve-elems"),
    (BPF_F_INNER_MAP, "inner-map"),
    (BPF_F_LINK, "link"),
    (BPF_F_PATH_FD, "path-fd"),
    (BPF_F_VTYPE_BTF_OBJ_FD, "vtype-btf-obj-fd"),
    (BPF_F_TOKEN_FD, "token-fd"),
    (BPF_F_SEGV_ON_FAULT, "segv-on-fault"),
    (BPF_F_NO_USER_CONV, "no-user-conv"),
];

/// A binding's variant name (`BPF_MAP_TYPE_LRU_HASH`) without its prefix,
/// in lower case with hyphens (`lru-hash`). Types the kernel renamed
/// `*_DEPRECATED` keep the name they had.
fn spelled(variant: impl std::fmt::Debug, prefix: &str) -> String {
    let variant = format!("{variant:?}");
    let bare = variant.strip_prefix(prefix).unwrap_or(&variant);
    bare.strip_suffix("_DEPRECATED").unwrap_or(bare).to_ascii_lowercase().replace('_', "-")
}

/// A map type's name; unknown (newer) types as `type-N`.
pub fn map_type_name(map_type: u32) -> String {
    bpf_map_type::try_from(map_type).map_or_else(|_| format!("type-{map_type}"), |t| spelled(t, "BPF_MAP_TYPE_"))
}

/// A program type's name; unknown (newer) types as `type-N`.
pub fn prog_type_name(prog_type: u32) -> String {
    bpf_prog_type::try_from(prog_type).map_or_else(|_| format!("type-{prog_type}"), |t| spelled(t, "BPF_PROG_TYPE_"))
}

/// The names of the flags set in `flags`; unknown bits as `0x…`.
pub fn flag_names(flags: u32) -> Vec<String> {
    (0..32)
        .map(|bit| 1u32 << bit)
        .filter(|flag| flags & flag != 0)
        .map(|flag| {
            MAP_FLAGS.iter().find(|(f, _)| *f == flag).map_or_else(|| format!("{flag:#x}"), |(_, n)| n.to_string())
        })
        .collect()
}

/// Map types that hold keys the kernel can count one by one (hash tables).
pub fn is_hash_family(map_type: u32) -> bool {
    use bpf_map_type::*;
    matches!(
        bpf_map_type::try_from(map_type),
        Ok(BPF_MAP_TYPE_HASH
            | BPF_MAP_TYPE_PERCPU_HASH
            | BPF_MAP_TYPE_LRU_HASH
            | BPF_MAP_TYPE_LRU_PERCPU_HASH
            | BPF_MAP_TYPE_HASH_OF_MAPS
            | BPF_MAP_TYPE_SOCKHASH
            | BPF_MAP_TYPE_DEVMAP_HASH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        memory::MapKind,
        sys::bpf_map_type::{BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_RINGBUF},
    };

    #[test]
    fn names_follow_the_uapi_enums() {
        for kind in MapKind::ALL {
            assert_eq!(map_type_name(kind.bpf_map_type() as u32), kind.name(), "same spelling as the memory model");
        }
        assert_eq!(map_type_name(BPF_MAP_TYPE_RINGBUF as u32), "ringbuf");
        assert_eq!(map_type_name(BPF_MAP_TYPE_ARRAY_OF_MAPS as u32), "array-of-maps");
        assert_eq!(map_type_name(19), "cgroup-storage");
        assert_eq!(map_type_name(33), "arena");
        assert_eq!(prog_type_name(24), "raw-tracepoint-writable");
        assert!(is_hash_family(BPF_MAP_TYPE_HASH_OF_MAPS as u32) && !is_hash_family(BPF_MAP_TYPE_RINGBUF as u32));
        assert_eq!(map_type_name(99), "type-99");
        assert_eq!(prog_type_name(5), "tracepoint");
        assert_eq!(prog_type_name(32), "netfilter");
        assert_eq!(flag_names(BPF_F_NO_PREALLOC | BPF_F_MMAPABLE), ["no-prealloc", "mmapable"]);
        assert_eq!(flag_names(1 << 31), ["0x80000000"]);
        assert!(flag_names(0).is_empty());
    }
}
