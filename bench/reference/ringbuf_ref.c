// SPDX-License-Identifier: MIT OR Apache-2.0
//
// The reference consumer for `cargo xtask bench`: the consumer most C tools
// use (libbpf's ring_buffer__poll with a callback), driven the way
// `capacity load --rate max` drives its own: one unpaced producer thread
// firing getpriority(token, 0) triggers, the consumer on the main thread.
// Loads ringbuf_ref.bpf.o (the same program shape as capacity-ebpf), prints
// one JSON line, and exits non-zero if an event is unaccounted for.
//
// Usage: ringbuf_ref --duration S --batch N --event-size B --ringbuf-size B
//                    [--wakeup-every N] [--keyspace N] [--map-entries N]
//                    [--map on|off] [--drain] [--object PATH]
//
// --drain: the prefilled-ring drain benchmark's libbpf side. Fills the ring
// while nothing reads it (until the program drops), then drains it with one
// ring_buffer__consume and prints {"reader", "records", "seconds",
// "records_per_s"}; every emitted record must be read.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_PRODUCERS 256
#define MAX_BATCH 65536
#define EVENT_HEADER_SIZE 16
// Triggers between two clock reads, as capacity's generator does (BURST).
#define BURST 64

// capacity_common::counter
enum { TRIGGERS, EMITTED, DROPPED, MAP_UPDATES, MAP_ERRORS };

struct event_header {
	uint64_t ts_ns;
	uint32_t seq;
	uint16_t cpu;
	uint16_t producer;
};

struct options {
	double duration_s;
	uint32_t batch;
	uint32_t event_size;
	uint64_t ringbuf_size;
	uint32_t wakeup_every;
	uint32_t keyspace;
	uint32_t map_entries;
	// 0: --map off, the ring alone.
	uint32_t map;
	// --drain: fill the ring with no consumer, then time ring_buffer__consume alone.
	bool drain;
	const char *object;
};

// What the consumer saw; mirrors capacity-user's SeqTracker.
struct consumer {
	size_t event_size;
	uint64_t consumed;
	uint64_t malformed;
	uint64_t gaps;
	uint64_t out_of_order;
	uint64_t next[MAX_PRODUCERS];
};

struct producer {
	uint32_t token;
	double duration_s;
	uint64_t triggers;
	double elapsed_s;
	atomic_bool done;
};

static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ringbuf_ref: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// A byte count, with an optional binary K/M/G suffix.
static uint64_t parse_size(const char *text)
{
	char *end;
	errno = 0;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno || end == text)
		die("`%s` is not a size", text);
	switch (*end) {
	case 'k': case 'K': value <<= 10; end++; break;
	case 'm': case 'M': value <<= 20; end++; break;
	case 'g': case 'G': value <<= 30; end++; break;
	}
	if (*end != '\0' && strcmp(end, "B") != 0 && strcmp(end, "iB") != 0)
		die("`%s` is not a size", text);
	return value;
}

static uint32_t parse_u32(const char *text, const char *what)
{
	uint64_t value = parse_size(text);
	if (value > UINT32_MAX)
		die("%s %s is too large", what, text);
	return (uint32_t)value;
}

// The object sits next to this binary unless --object says otherwise.
static char *default_object(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	if (n <= 0)
		die("cannot find my own path: use --object");
	path[n] = '\0';
	strcat(dirname(path), "/ringbuf_ref.bpf.o");
	return path;
}

static struct options parse_options(int argc, char **argv)
{
	struct options o = {
		.duration_s = 3, .batch = 64, .event_size = 64, .ringbuf_size = 16 << 20,
		.wakeup_every = 0, .keyspace = 1024, .map_entries = 10240, .map = 1, .object = NULL,
	};
	static const struct option longopts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "batch", required_argument, NULL, 'b' },
		{ "event-size", required_argument, NULL, 'e' },
		{ "ringbuf-size", required_argument, NULL, 'r' },
		{ "wakeup-every", required_argument, NULL, 'w' },
		{ "keyspace", required_argument, NULL, 'k' },
		{ "map-entries", required_argument, NULL, 'm' },
		{ "object", required_argument, NULL, 'o' },
		{ "map", required_argument, NULL, 'M' },
		{ "drain", no_argument, NULL, 'D' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o.duration_s = strtod(optarg, NULL); break;
		case 'b': o.batch = parse_u32(optarg, "--batch"); break;
		case 'e': o.event_size = parse_u32(optarg, "--event-size"); break;
		case 'r': o.ringbuf_size = parse_size(optarg); break;
		case 'w': o.wakeup_every = parse_u32(optarg, "--wakeup-every"); break;
		case 'k': o.keyspace = parse_u32(optarg, "--keyspace"); break;
		case 'm': o.map_entries = parse_u32(optarg, "--map-entries"); break;
		case 'o': o.object = optarg; break;
		case 'D': o.drain = true; break;
		case 'M':
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				die("--map takes on or off");
			o.map = strcmp(optarg, "on") == 0;
			break;
		default: die("usage: ringbuf_ref --duration S --batch N --event-size B --ringbuf-size B "
			     "[--wakeup-every N] [--keyspace N] [--map-entries N] [--map on|off] [--object PATH]");
		}
	}
	if (!(o.duration_s > 0))
		die("--duration must be positive");
	if (o.batch == 0 || o.batch > MAX_BATCH)
		die("--batch must be 1 to %d", MAX_BATCH);
	if (o.event_size < EVENT_HEADER_SIZE)
		die("--event-size must be at least %d (the header)", EVENT_HEADER_SIZE);
	if (o.ringbuf_size == 0 || (o.ringbuf_size & (o.ringbuf_size - 1)) || o.ringbuf_size > (1ull << 31))
		die("--ringbuf-size must be a power of two, at most 2G");
	if (o.keyspace == 0 || o.map_entries == 0)
		die("--keyspace and --map-entries must be at least 1");
	if (!o.object)
		o.object = default_object();
	return o;
}

// Set the program's `const volatile` globals: find each in the .rodata
// section's BTF and write it into the map's initial value, before load.
static void set_rodata(struct bpf_object *obj, const char *name, uint32_t value)
{
	struct bpf_map *map, *rodata = NULL;
	bpf_object__for_each_map(map, obj) {
		const char *n = bpf_map__name(map);
		size_t len = strlen(n);
		if (bpf_map__is_internal(map) && len >= 7 && strcmp(n + len - 7, ".rodata") == 0)
			rodata = map;
	}
	if (!rodata)
		die("the object has no .rodata map");
	size_t size;
	// Writable until load: the skeletons generated by bpftool write here too.
	char *data = (char *)bpf_map__initial_value(rodata, &size);
	const struct btf *btf = bpf_object__btf(obj);
	int id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	if (!data || id < 0)
		die("the object's .rodata has no BTF (compile with -g)");
	const struct btf_type *sec = btf__type_by_id(btf, id);
	const struct btf_var_secinfo *vars = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++) {
		const struct btf_type *var = btf__type_by_id(btf, vars[i].type);
		if (strcmp(btf__name_by_offset(btf, var->name_off), name) != 0)
			continue;
		if (vars[i].size != sizeof(value) || vars[i].offset + sizeof(value) > size)
			die("%s is not a u32 in .rodata", name);
		memcpy(data + vars[i].offset, &value, sizeof(value));
		return;
	}
	die("the object has no global %s", name);
}

static struct bpf_map *map_named(struct bpf_object *obj, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);
	if (!map)
		die("the object has no map %s", name);
	return map;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;
	c->consumed++;
	if (size != c->event_size || size < EVENT_HEADER_SIZE) {
		c->malformed++;
		return 0;
	}
	struct event_header h;
	memcpy(&h, data, sizeof(h));
	if (h.producer >= MAX_PRODUCERS) {
		c->malformed++;
		return 0;
	}
	uint64_t *next = &c->next[h.producer];
	uint32_t ahead = h.seq - (uint32_t)*next;
	if (ahead > UINT32_MAX / 2) {
		c->out_of_order++; // Behind what we already saw.
		return 0;
	}
	c->gaps += ahead;
	*next += (uint64_t)ahead + 1;
	return 0;
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	uint64_t start = clock_ns(CLOCK_MONOTONIC);
	uint64_t length = (uint64_t)(p->duration_s * 1e9);
	uint64_t issued = 0, now;
	while ((now = clock_ns(CLOCK_MONOTONIC)) - start < length) {
		for (int i = 0; i < BURST; i++)
			syscall(SYS_getpriority, (long)p->token, 0L);
		issued += BURST;
	}
	p->triggers = issued;
	p->elapsed_s = (double)(clock_ns(CLOCK_MONOTONIC) - start) / 1e9;
	atomic_store_explicit(&p->done, true, memory_order_release);
	return NULL;
}

static uint64_t counter_sum(int fd, uint32_t slot, int cpus)
{
	uint64_t values[cpus];
	if (bpf_map_lookup_elem(fd, &slot, values))
		die("reading counter %u: %s", slot, strerror(errno));
	uint64_t sum = 0;
	for (int i = 0; i < cpus; i++)
		sum += values[i];
	return sum;
}

static uint64_t prog_run_time_ns(int prog_fd)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	return info.run_time_ns;
}

static int count_record(void *ctx, void *data, size_t size)
{
	uint64_t *count = ctx;
	uint32_t seq;
	memcpy(&seq, (char *)data + 8, sizeof(seq));
	count[0]++;
	count[1] += seq; // Read the record, as the other readers do.
	(void)size;
	return 0;
}

// Fill the ring until the program finds it full, then drain it alone.
static int drain(struct bpf_object *obj, uint32_t token)
{
	int cpus = libbpf_num_possible_cpus();
	int counters = bpf_map__fd(map_named(obj, "COUNTERS"));
	while (counter_sum(counters, DROPPED, cpus) == 0)
		for (int i = 0; i < BURST; i++)
			syscall(SYS_getpriority, (long)token, 0L);
	uint64_t emitted = counter_sum(counters, EMITTED, cpus);
	static uint64_t count[2];
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(map_named(obj, "EVENTS")), count_record, count, NULL);
	if (!rb)
		die("ring_buffer__new: %s", strerror(errno));
	uint64_t start = clock_ns(CLOCK_MONOTONIC);
	if (ring_buffer__consume(rb) < 0)
		die("ring_buffer__consume failed");
	double seconds = (double)(clock_ns(CLOCK_MONOTONIC) - start) / 1e9;
	printf("{\"reader\":\"libbpf\",\"records\":%llu,\"seconds\":%.6f,\"records_per_s\":%.1f,\"checksum\":%llu}\n",
	       (unsigned long long)count[0], seconds, (double)count[0] / seconds, (unsigned long long)count[1]);
	ring_buffer__free(rb);
	if (count[0] != emitted) {
		fprintf(stderr, "ringbuf_ref: %llu records emitted but %llu read\n", (unsigned long long)emitted,
			(unsigned long long)count[0]);
		return 1;
	}
	return 0;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	struct options o = parse_options(argc, argv);
	libbpf_set_print(quiet);

	// A per-run token in getpriority's `which`, clear of the real values 0-2.
	uint32_t token = ((uint32_t)clock_ns(CLOCK_REALTIME) ^ ((uint32_t)getpid() << 16)) | 0x40000000u;

	struct bpf_object *obj = bpf_object__open_file(o.object, NULL);
	if (!obj)
		die("opening %s: %s", o.object, strerror(errno));
	set_rodata(obj, "TARGET_TGID", (uint32_t)getpid());
	set_rodata(obj, "RUN_TOKEN", token);
	set_rodata(obj, "EVENT_SIZE", o.event_size);
	set_rodata(obj, "BATCH", o.batch);
	set_rodata(obj, "KEYSPACE", o.keyspace);
	set_rodata(obj, "WAKEUP_EVERY", o.wakeup_every);
	set_rodata(obj, "MAP", o.map);
	if (bpf_map__set_max_entries(map_named(obj, "EVENTS"), (uint32_t)o.ringbuf_size) ||
	    bpf_map__set_max_entries(map_named(obj, "FLOWS"), o.map_entries))
		die("setting map sizes");
	if (bpf_object__load(obj))
		die("loading %s: %s", o.object, strerror(errno));
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "capacity_emit");
	if (!prog)
		die("the object has no program capacity_emit");
	// Kernel run time per event, to show both programs cost the same.
	int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	struct bpf_link *link = bpf_program__attach(prog);
	if (!link)
		die("attaching: %s", strerror(errno));

	if (o.drain)
		return drain(obj, token);

	static struct consumer consumer;
	consumer.event_size = o.event_size;
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(map_named(obj, "EVENTS")), on_event, &consumer, NULL);
	if (!rb)
		die("ring_buffer__new: %s", strerror(errno));

	struct producer producer = { .token = token, .duration_s = o.duration_s };
	uint64_t cpu_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	uint64_t kernel_start = prog_run_time_ns(bpf_program__fd(prog));
	pthread_t thread;
	if (pthread_create(&thread, NULL, produce, &producer))
		die("starting the producer");
	for (;;) {
		// Read before polling: once set, this poll and the drain below see every record.
		bool done = atomic_load_explicit(&producer.done, memory_order_acquire);
		int n = ring_buffer__poll(rb, 100);
		if (n < 0 && n != -EINTR)
			die("ring_buffer__poll: %s", strerror(-n));
		if (done)
			break;
	}
	pthread_join(thread, NULL);
	// Sampled wakeups may leave records that no poll was woken for.
	if (ring_buffer__consume(rb) < 0)
		die("ring_buffer__consume failed");
	uint64_t cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
	uint64_t kernel_ns = prog_run_time_ns(bpf_program__fd(prog)) - kernel_start;

	int cpus = libbpf_num_possible_cpus();
	if (cpus <= 0)
		die("cannot count possible CPUs");
	int counters = bpf_map__fd(map_named(obj, "COUNTERS"));
	uint64_t triggers = counter_sum(counters, TRIGGERS, cpus);
	uint64_t emitted = counter_sum(counters, EMITTED, cpus);
	uint64_t dropped = counter_sum(counters, DROPPED, cpus);
	uint64_t map_updates = counter_sum(counters, MAP_UPDATES, cpus);
	uint64_t map_errors = counter_sum(counters, MAP_ERRORS, cpus);

	uint64_t consumed = consumer.consumed - consumer.malformed;
	uint64_t attempted = triggers * o.batch;
	uint64_t missing = consumer.gaps + (attempted - consumer.next[0]);
	double events_per_s = producer.elapsed_s > 0 ? (double)consumed / producer.elapsed_s : 0;
	printf("{\"consumed\":%llu,\"emitted\":%llu,\"dropped\":%llu,\"triggers\":%llu,"
	       "\"map_updates\":%llu,\"map_errors\":%llu,\"duration_s\":%.6f,\"events_per_s\":%.1f,"
	       "\"consumer_ns_per_event\":%.1f,\"kernel_ns_per_event\":%.1f}\n",
	       (unsigned long long)consumed, (unsigned long long)emitted, (unsigned long long)dropped,
	       (unsigned long long)triggers, (unsigned long long)map_updates, (unsigned long long)map_errors,
	       producer.elapsed_s, events_per_s, consumed ? (double)cpu_ns / (double)consumed : 0.0,
	       stats_fd >= 0 && attempted ? (double)kernel_ns / (double)attempted : 0.0);
	fflush(stdout);

	// Every event is consumed or counted as dropped; a mismatch is a bug.
	int broken = 0;
#define CHECK(ok, ...) do { if (!(ok)) { fprintf(stderr, "ringbuf_ref: invariant broken: " __VA_ARGS__); fputc('\n', stderr); broken = 1; } } while (0)
	CHECK(triggers == producer.triggers, "kernel saw %llu triggers, the producer issued %llu",
	      (unsigned long long)triggers, (unsigned long long)producer.triggers);
	CHECK(attempted == emitted + dropped, "triggers x batch = %llu but emitted + dropped = %llu",
	      (unsigned long long)attempted, (unsigned long long)(emitted + dropped));
	CHECK(emitted == consumed, "emitted %llu but consumed %llu",
	      (unsigned long long)emitted, (unsigned long long)consumed);
	CHECK(map_updates + map_errors == (o.map ? attempted : 0), "map updates + errors = %llu for %llu events",
	      (unsigned long long)(map_updates + map_errors), (unsigned long long)attempted);
	CHECK(missing == dropped, "sequence gaps show %llu missing, kernel dropped %llu",
	      (unsigned long long)missing, (unsigned long long)dropped);
	CHECK(consumer.out_of_order == 0, "%llu records out of order", (unsigned long long)consumer.out_of_order);
	CHECK(consumer.malformed == 0, "%llu malformed records", (unsigned long long)consumer.malformed);
#undef CHECK

	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	if (stats_fd >= 0)
		close(stats_fd);
	return broken;
}
