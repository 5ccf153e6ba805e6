// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Maps in the legacy `maps` section (struct bpf_map_def, as iproute2 and
// aya-ebpf write them; libbpf 1.0 no longer reads them, aya does). Used by
// tests/tests/integration/inspect.rs.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// The five fields every legacy loader reads.
struct bpf_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 8,
	.value_size = 16,
	.max_entries = 1000,
};

struct bpf_map_def SEC("maps") legacy_sparse = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 5,
	.value_size = 13,
	.max_entries = 3000,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def SEC("maps") legacy_pcpu = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = 4,
	.value_size = 24,
	.max_entries = 64,
};

struct bpf_map_def SEC("maps") legacy_lru = {
	.type = BPF_MAP_TYPE_LRU_PERCPU_HASH,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 1024,
};

char LICENSE[] SEC("license") = "Dual MIT/GPL";
