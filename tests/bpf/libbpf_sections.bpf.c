// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Programs in sections that libbpf knows and aya does not (tcx, ksyscall,
// uprobe.multi): `capacity inspect` reads an object's maps whatever its
// programs are. Used by tests/tests/integration/inspect.rs.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 512);
	__type(key, __u64);
	__type(value, __u64);
} seen SEC(".maps");

SEC("tcx/ingress")
int on_ingress(struct __sk_buff *skb)
{
	__u64 key = skb->mark;
	__u64 one = 1;
	bpf_map_update_elem(&seen, &key, &one, BPF_ANY);
	return 0;
}

SEC("ksyscall/kill")
int on_kill(void *ctx)
{
	return 0;
}

SEC("uprobe.multi")
int on_uprobe(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
