//! The kernel's names for map types, program types and map flags
//! (`enum bpf_map_type`, `enum bpf_prog_type`, `BPF_F_*` in
//! include/uapi/linux/bpf.h), spelled as `capacity` spells map types:
//! lower case with hyphens.

/// `enum bpf_map_type`, in order from 0.
const MAP_TYPES: &[&str] = &[
    "unspec",
    "hash",
    "array",
    "prog-array",
    "perf-event-array",
    "percpu-hash",
    "percpu-array",
    "stack-trace",
    "cgroup-array",
    "lru-hash",
    "lru-percpu-hash",
    "lpm-trie",
    "array-of-maps",
    "hash-of-maps",
    "devmap",
    "sockmap",
    "cpumap",
    "xskmap",
    "sockhash",
    "cgroup-storage",
    "reuseport-sockarray",
    "percpu-cgroup-storage",
    "queue",
    "stack",
    "sk-storage",
    "devmap-hash",
    "struct-ops",
    "ringbuf",
    "inode-storage",
    "task-storage",
    "bloom-filter",
    "user-ringbuf",
    "cgrp-storage",
    "arena",
];

/// `enum bpf_prog_type`, in order from 0.
const PROG_TYPES: &[&str] = &[
    "unspec",
    "socket-filter",
    "kprobe",
    "sched-cls",
    "sched-act",
    "tracepoint",
    "xdp",
    "perf-event",
    "cgroup-skb",
    "cgroup-sock",
    "lwt-in",
    "lwt-out",
    "lwt-xmit",
    "sock-ops",
    "sk-skb",
    "cgroup-device",
    "sk-msg",
    "raw-tracepoint",
    "cgroup-sock-addr",
    "lwt-seg6local",
    "lirc-mode2",
    "sk-reuseport",
    "flow-dissector",
    "cgroup-sysctl",
    "raw-tracepoint-writable",
    "cgroup-sockopt",
    "tracing",
    "struct-ops",
    "ext",
    "lsm",
    "sk-lookup",
    "syscall",
    "netfilter",
];

/// `BPF_F_*` map flags, by bit.
const MAP_FLAGS: &[&str] = &[
    "no-prealloc",
    "no-common-lru",
    "numa-node",
    "rdonly",
    "wronly",
    "stack-build-id",
    "zero-seed",
    "rdonly-prog",
    "wronly-prog",
    "clone",
    "mmapable",
    "preserve-elems",
    "inner-map",
    "link",
    "path-fd",
    "vtype-btf-obj-fd",
    "token-fd",
    "segv-on-fault",
    "no-user-conv",
];

pub const BPF_MAP_TYPE_HASH: u32 = 1;
pub const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
pub const BPF_MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
pub const BPF_MAP_TYPE_CGROUP_ARRAY: u32 = 8;
pub const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
pub const BPF_MAP_TYPE_HASH_OF_MAPS: u32 = 13;
pub const BPF_MAP_TYPE_RINGBUF: u32 = 27;
pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// A map type's name; unknown (newer) types as `type-N`.
pub fn map_type_name(map_type: u32) -> String {
    MAP_TYPES.get(map_type as usize).map_or_else(|| format!("type-{map_type}"), |n| n.to_string())
}

/// A program type's name; unknown (newer) types as `type-N`.
pub fn prog_type_name(prog_type: u32) -> String {
    PROG_TYPES.get(prog_type as usize).map_or_else(|| format!("type-{prog_type}"), |n| n.to_string())
}

/// The names of the flags set in `flags`; unknown bits as `0x…`.
pub fn flag_names(flags: u32) -> Vec<String> {
    (0..32)
        .filter(|bit| flags & (1 << bit) != 0)
        .map(|bit| MAP_FLAGS.get(bit).map_or_else(|| format!("{:#x}", 1u32 << bit), |n| n.to_string()))
        .collect()
}

/// Map types that hold keys the kernel can count one by one (hash tables).
pub fn is_hash_family(map_type: u32) -> bool {
    matches!(map_type, 1 | 5 | 9 | 10 | 13 | 18 | 25)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MapKind;

    #[test]
    fn names_follow_the_uapi_enums() {
        for kind in MapKind::ALL {
            assert_eq!(map_type_name(kind.bpf_map_type()), kind.name(), "same spelling as the memory model");
        }
        assert_eq!(map_type_name(BPF_MAP_TYPE_RINGBUF), "ringbuf");
        assert_eq!(map_type_name(BPF_MAP_TYPE_ARRAY_OF_MAPS), "array-of-maps");
        assert_eq!(map_type_name(33), "arena");
        assert_eq!(map_type_name(99), "type-99");
        assert_eq!(prog_type_name(5), "tracepoint");
        assert_eq!(prog_type_name(32), "netfilter");
        assert_eq!(flag_names(BPF_F_NO_PREALLOC | BPF_F_MMAPABLE), ["no-prealloc", "mmapable"]);
        assert_eq!(flag_names(1 << 31), ["0x80000000"]);
        assert!(flag_names(0).is_empty());
    }
}
