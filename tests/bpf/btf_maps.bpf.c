// SPDX-License-Identifier: MIT OR Apache-2.0
//
// BTF-defined maps (`.maps`) of many kinds, for tests/tests/integration/inspect.rs:
// a padded key (the kernel sees 8 bytes), per-CPU and LRU types, a map
// without preallocation, a ring buffer, arrays of maps and hashes of maps
// with their inner maps, a program array, an LPM trie (a type the memory
// model does not cover) and global data (.data, .bss, .rodata).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// 4 + 1 bytes of fields, padded to 8 by the compiler: BTF says 8.
struct padded_key {
	__u32 addr;
	__u8 proto;
};

struct flow {
	__u64 packets;
	__u8 state;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10000);
	__type(key, struct padded_key);
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 5000);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct padded_key);
	__type(value, __u64);
} sparse SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 2048);
	__type(key, __u32);
	__type(value, struct flow);
} pcpu_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 100);
	__type(key, __u32);
	__type(value, char[3]);
} tiny SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct inner_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct inner_array);
} per_tenant SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 128);
		__type(key, __u32);
		__type(value, __u32);
	});
} per_cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jumps SEC(".maps");

// LPM trie keys are a prefix length and the data (the kernel checks BTF).
struct prefix_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefix_key);
	__type(value, __u32);
} prefixes SEC(".maps");

// Global data: each section is one more map.
__u64 packets_seen = 1;
__u64 scratch[10];
const volatile __u32 config_port = 443;

SEC("socket")
int count_packets(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&counters, &key);
	if (count)
		*count += config_port + packets_seen + scratch[0];
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
