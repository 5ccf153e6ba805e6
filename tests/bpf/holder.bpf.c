// SPDX-License-Identifier: MIT OR Apache-2.0
//
// What tests/src/bin/bpf_holder.rs loads and holds for tests/tests/integration/host.rs:
// a ring the program writes RECORD_SIZE-byte records to and nobody reads,
// a hash map and a hash map without preallocation that the holder fills
// from userspace.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define RECORD_SIZE 100

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} held_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1000);
	__type(key, __u32);
	__type(value, __u64);
} held_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1000);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u64);
} held_sparse SEC(".maps");

// One record per run.
SEC("socket")
int held_emit(struct __sk_buff *skb)
{
	__u8 record[RECORD_SIZE] = {};
	bpf_ringbuf_output(&held_ring, record, sizeof(record), 0);
	return 0;
}

// Kept running by the holder, for --enable-stats.
SEC("socket")
int held_tick(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
