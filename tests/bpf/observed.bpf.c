// SPDX-License-Identifier: MIT OR Apache-2.0
//
// The ring tests/src/bin/ring_workload.rs produces into and consumes from
// for tests/tests/integration/observe.rs: each run of `observed_emit`
// writes one record of PAYLOAD bytes (PAYLOAD + 8 = 64 bytes in the ring).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PAYLOAD 56

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} observed_ring SEC(".maps");

SEC("socket")
int observed_emit(struct __sk_buff *skb)
{
	__u8 record[PAYLOAD] = {};
	bpf_ringbuf_output(&observed_ring, record, sizeof(record), 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
