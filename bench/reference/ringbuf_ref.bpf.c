// SPDX-License-Identifier: MIT OR Apache-2.0
//
// The reference workload for `cargo xtask bench`: the same program shape as
// capacity-ebpf (capacity-ebpf/src/main.rs), written in C for libbpf, so the
// two consumers are compared on equal kernel-side work. Keep the two in step:
// same tracepoint, filters, loop, record layout, wakeup flags, map traffic
// and counters.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_BATCH 65536
#define MAX_PRODUCERS 256
#define EEXIST 17

// capacity_common::counter
enum counter {
	TRIGGERS = 0,
	EMITTED = 1,
	DROPPED = 2,
	MAP_UPDATES = 3,
	MAP_ERRORS = 4,
	PEAK_OCCUPANCY = 5,
	SLOTS = 8,
};

// capacity_common::EventHeader
struct event_header {
	__u64 ts_ns;
	__u32 seq;
	__u16 cpu;
	__u16 producer;
};

// capacity_common::FlowState
struct flow_state {
	__u64 count;
	__u64 bytes;
	__u64 last_ts_ns;
};

// Load-time settings, set by the loader before load. libbpf freezes .rodata,
// so the verifier sees constants (bpf_ringbuf_reserve needs a known size).
const volatile __u32 TARGET_TGID = 0;
const volatile __u32 RUN_TOKEN = 0;
const volatile __u32 EVENT_SIZE = 16;
const volatile __u32 BATCH = 1;
const volatile __u32 KEYSPACE = 1;
// 0: the kernel's adaptive wakeups. N: no wakeup except on every Nth event.
const volatile __u32 WAKEUP_EVERY = 0;
// 1: every event updates its flow in FLOWS. 0: the ring alone (--map off).
const volatile __u32 MAP = 1;

// Sizes are placeholders: the loader sets the real ones.
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_state);
} FLOWS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} COUNTERS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PRODUCERS);
	__type(key, __u32);
	__type(value, __u32);
} PRODUCER_SEQ SEC(".maps");

// sys_enter_* tracepoint layout: 8 bytes of common fields, the syscall
// number padded to 8, then the six arguments.
struct sys_enter_ctx {
	__u64 common;
	long syscall_nr;
	unsigned long args[6];
};

// Zero at run time but not to the verifier (.bss is writable, so it reads as
// an unknown scalar). The batch counters start from it: counters that start
// as known constants make the verifier walk every bpf_loop iteration apart
// until its 1M-instruction limit. (capacity-ebpf's start unknown too: rustc
// zeroes its struct with a memset loop.)
__u64 opaque_zero;

// What one trigger's batch did; counters are added once per trigger.
struct batch {
	__u32 base_seq;
	__u16 producer;
	__u16 cpu;
	// One clock read per trigger: the first event carries it (the latency
	// sample), the others 0.
	__u64 now;
	// A flow-0 sequence number at or before the next event (its flow is
	// seq - flow_start) and the next forced wakeup's: seq % N without a
	// division per event, kept as positions, never reset to a constant (a
	// constant carried between iterations makes the verifier walk each apart).
	__u32 flow_start;
	__u32 next_wakeup;
	__u64 emitted;
	__u64 dropped;
	__u64 map_updates;
	__u64 map_errors;
};

static __always_inline void add(__u32 slot, __u64 value)
{
	if (value == 0)
		return;
	__u64 *counter = bpf_map_lookup_elem(&COUNTERS, &slot);
	// Per-CPU slot and no preemption inside a tracepoint program.
	if (counter)
		*counter += value;
}

static __always_inline __u64 wakeup_flags(__u32 seq, struct batch *state)
{
	__u32 every = WAKEUP_EVERY;
	if (every == 0)
		return 0;
	if (seq == state->next_wakeup) {
		state->next_wakeup = seq + every;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void update_flow(__u32 flow, __u32 size, __u64 now, struct batch *state)
{
	struct flow_state *existing = bpf_map_lookup_elem(&FLOWS, &flow);
	if (existing) {
		// Plain updates, as in capacity-ebpf: nothing is measured from them.
		existing->count += 1;
		existing->bytes += size;
		existing->last_ts_ns = now;
		state->map_updates += 1;
		return;
	}
	struct flow_state fresh = { .count = 1, .bytes = size, .last_ts_ns = now };
	long err = bpf_map_update_elem(&FLOWS, &flow, &fresh, BPF_NOEXIST);
	// -EEXIST: another CPU created it between our lookup and insert.
	if (err == 0 || err == -EEXIST)
		state->map_updates += 1;
	else
		state->map_errors += 1;
}

static long emit_one(__u32 index, void *ctx)
{
	struct batch *state = ctx;
	__u32 seq = state->base_seq + index;
	__u32 size = EVENT_SIZE;
	__u64 flags = wakeup_flags(seq, state);

	struct event_header *record = bpf_ringbuf_reserve(&EVENTS, size, 0);
	if (record) {
		record->ts_ns = index == 0 ? state->now : 0;
		record->seq = seq;
		record->cpu = state->cpu;
		record->producer = state->producer;
		bpf_ringbuf_submit(record, flags);
		state->emitted += 1;
	} else {
		state->dropped += 1;
	}

	__u32 keyspace = KEYSPACE;
	__u32 flow = seq - state->flow_start;
	if (flow >= keyspace) {
		state->flow_start += keyspace;
		flow -= keyspace;
	}
	if (MAP)
		update_flow(flow, size, state->now, state);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpriority")
int capacity_emit(struct sys_enter_ctx *ctx)
{
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != TARGET_TGID)
		return 0;
	if ((__u32)ctx->args[0] != RUN_TOKEN)
		return 0;
	__u64 producer = ctx->args[1];
	if (producer >= MAX_PRODUCERS)
		return 0;
	__u32 key = producer;
	__u32 *seq = bpf_map_lookup_elem(&PRODUCER_SEQ, &key);
	if (!seq)
		return 0;

	__u32 batch = BATCH;
	__u32 every = WAKEUP_EVERY;
	__u32 keyspace = KEYSPACE;
	// One thread per producer id, so a plain read-modify-write is safe.
	__u32 base_seq = *seq;
	struct batch state = {
		.base_seq = base_seq,
		.producer = producer,
		.cpu = bpf_get_smp_processor_id(),
		.now = bpf_ktime_get_ns(),
		.flow_start = base_seq - base_seq % (keyspace ? keyspace : 1),
		.next_wakeup = every ? base_seq + (every - 1 - base_seq % every) : 0,
		.emitted = opaque_zero,
		.dropped = opaque_zero,
		.map_updates = opaque_zero,
		.map_errors = opaque_zero,
	};
	__u32 n = batch > MAX_BATCH ? MAX_BATCH : batch;
	bpf_loop(n, emit_one, &state, 0);
	*seq = state.base_seq + n;

	add(TRIGGERS, 1);
	add(EMITTED, state.emitted);
	add(DROPPED, state.dropped);
	add(MAP_UPDATES, state.map_updates);
	add(MAP_ERRORS, state.map_errors);
	// Sampled once per trigger, right after the batch: when the ring is fullest.
	__u64 occupancy = bpf_ringbuf_query(&EVENTS, BPF_RB_AVAIL_DATA);
	__u32 slot = PEAK_OCCUPANCY;
	__u64 *peak = bpf_map_lookup_elem(&COUNTERS, &slot);
	if (peak && occupancy > *peak)
		*peak = occupancy;
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
