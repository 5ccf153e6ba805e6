// SPDX-License-Identifier: MIT OR Apache-2.0
//
// The layouts agents ship, for tests/tests/integration/layouts.rs: rings
// per CPU in an array of maps (Falco's modern probe: one 256 KiB ring per
// slot, 96 slots for a 96-CPU node) and a perf event array with one
// buffer per CPU (max_entries 0: the loader sets it to the CPUs).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 96);
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
