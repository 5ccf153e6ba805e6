//! The kernel side of capacity: a tracepoint program per layout that turns
//! each trigger from the driver into `BATCH` events and per-flow map
//! updates, and counts what happened to every one of them. `capacity_emit`
//! writes to one shared ring, `capacity_emit_rings` to the ring of its CPU
//! in an array of rings, `capacity_emit_perf` to its CPU's perf buffer;
//! userspace loads and attaches only the one its layout needs, so the
//! shared ring's path carries nothing of the others.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod program {
    use core::ffi::c_void;

    use aya_ebpf::{
        bindings::{
            BPF_F_CURRENT_CPU, BPF_NOEXIST, BPF_RB_AVAIL_DATA, BPF_RB_CONS_POS, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP,
            BPF_RB_PROD_POS, BPF_RB_RING_SIZE,
        },
        btf_maps::{self, ArrayOfMaps, PerfEventByteArray},
        helpers::{
            bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns,
            generated::{bpf_loop, bpf_perf_event_output, bpf_ringbuf_query},
        },
        macros::{btf_map, map, tracepoint},
        maps::{Array, HashMap, PerCpuArray, RingBuf},
        programs::TracePointContext,
        EbpfContext,
    };
    use aya_log_ebpf::warn;
    use capacity_common::{
        counter, names, record_bytes, EventHeader, FlowState, BPF_RB_OVERWRITE_POS, EVENT_HEADER_SIZE, FLUSH_PRODUCER,
        MAX_BATCH, MAX_MIX_EVENT_SIZE, MAX_PRODUCERS, SIZE_SLOTS,
    };

    /// include/uapi/asm-generic/errno-base.h; helpers return it negated.
    const EEXIST: i32 = 17;
    /// What bpf_perf_event_output returns when the CPU's buffer has no room
    /// (the kernel then counts the sample in its next PERF_RECORD_LOST).
    const ENOSPC: i64 = 28;

    // Load-time settings. They live in .rodata, which the loader freezes, so
    // the verifier treats them as constants: bpf_ringbuf_reserve needs a size
    // it knows.
    #[no_mangle]
    static TARGET_TGID: u32 = 0;
    #[no_mangle]
    static RUN_TOKEN: u32 = 0;
    #[no_mangle]
    static EVENT_SIZE: u32 = 16;
    #[no_mangle]
    static BATCH: u32 = 1;
    #[no_mangle]
    static KEYSPACE: u32 = 1;
    /// 0: the kernel's adaptive wakeups. N: no wakeup except on every Nth event.
    #[no_mangle]
    static WAKEUP_EVERY: u32 = 0;
    /// 1: the ring was created with BPF_F_RB_OVERWRITE (the loader patches
    /// the map definition's flags).
    #[no_mangle]
    static OVERWRITE: u32 = 0;
    /// 0: every event is EVENT_SIZE bytes. Otherwise event `seq` is
    /// EVENT_SIZES[seq % SIZE_SLOTS] bytes (a size mix).
    #[no_mangle]
    static SIZE_MIX: u32 = 0;
    /// 1: every event updates its flow in FLOWS. 0: the ring alone (`--map off`).
    #[no_mangle]
    static MAP: u32 = 1;
    /// Rings layouts: CPUs sharing one ring of RINGS (ring = cpu / this).
    #[no_mangle]
    static CPUS_PER_RING: u32 = 1;

    // Sizes are placeholders: the loader sets the real ones.
    #[map(name = "EVENTS")]
    static EVENTS: RingBuf = RingBuf::with_byte_size(4096, 0);
    /// Rings per CPU (or per N CPUs), as agents keep them: an array of maps
    /// whose inner maps are ring buffers. The inner definition is the
    /// template the kernel checks each ring against; userspace creates the
    /// rings at their run-time size and stores them.
    #[btf_map]
    static RINGS: ArrayOfMaps<btf_maps::RingBuf<u8, 4096>, 1> = ArrayOfMaps::new();
    /// The perf layout: one perf buffer per CPU (the loader sizes it to the
    /// CPUs; userspace opens and stores the buffers).
    #[btf_map]
    static PERF: PerfEventByteArray = PerfEventByteArray::new();
    #[map(name = "FLOWS")]
    static FLOWS: HashMap<u32, FlowState> = HashMap::with_max_entries(1, 0);
    #[map(name = "COUNTERS")]
    static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::SLOTS, 0);
    #[map(name = "PRODUCER_SEQ")]
    static PRODUCER_SEQ: Array<u32> = Array::with_max_entries(MAX_PRODUCERS, 0);
    /// A size mix's table, filled by the loader.
    #[map(name = "EVENT_SIZES")]
    static EVENT_SIZES: Array<u32> = Array::with_max_entries(SIZE_SLOTS, 0);
    /// Where a mixed-size event is written before bpf_ringbuf_output copies
    /// it into the ring: bpf_ringbuf_reserve only takes a constant size.
    #[map(name = "MIX_SCRATCH")]
    static MIX_SCRATCH: PerCpuArray<[u8; MAX_MIX_EVENT_SIZE]> = PerCpuArray::with_max_entries(1, 0);

    fn setting(value: &'static u32) -> u32 {
        // A volatile read keeps the compiler from folding in the placeholder.
        // SAFETY: `value` is a valid, aligned `&'static u32` in .rodata.
        unsafe { core::ptr::read_volatile(value) }
    }

    /// What one trigger's batch did; counters are added once per trigger.
    #[repr(C)]
    struct Batch {
        base_seq: u32,
        producer: u16,
        cpu: u16,
        /// bpf_ktime_get_ns() once per trigger, just before its first event
        /// (a clock read per event cost 27-30 ns, more than the map update).
        now: u64,
        /// The timestamp the next event carries: `now` for the batch's first
        /// event, its latency sample, then 0. Cleared by a store rather than
        /// chosen by a branch on the index: one more branch per event made
        /// the verifier's walk of a size mix with sampled wakeups too long.
        stamp: u64,
        /// The sequence number of a flow-0 event at or before the next one:
        /// an event's flow is `seq - flow_start`, `seq % KEYSPACE` without a
        /// division per event.
        flow_start: u32,
        /// The sequence number of the next forced wakeup (sampled wakeups:
        /// the `seq % N == N - 1`), likewise. Both are kept as positions,
        /// never reset to a constant: a constant carried between bpf_loop
        /// iterations makes the verifier walk each iteration apart.
        next_wakeup: u32,
        emitted: u64,
        dropped: u64,
        dropped_full: u64,
        dropped_busy: u64,
        /// A position no later than the kernel's "oldest record still in the
        /// way" when any reserve of this batch runs (consumer position, or in
        /// overwrite mode the overwrite position): positions only grow, so a
        /// failed reserve with `prod + record - floor` below the ring size
        /// certainly had room.
        floor: u64,
        map_updates: u64,
        map_errors: u64,
        /// Rings layouts: this CPU's ring in RINGS.
        ring: u32,
        /// The program's context (the perf layout's output needs it).
        ctx: *mut c_void,
    }

    /// Where a layout's events go. Each layout is its own program, so each
    /// sink's calls are compiled into its program alone.
    trait Sink {
        /// Whether the layout takes flush triggers (see `flush`).
        const FLUSHES: bool = false;
        /// A position no later than the oldest record in the way (see `Batch::floor`).
        fn floor(state: &Batch) -> u64;
        /// One fixed-size event with `header` in front. Err: the helper's error (0: none given).
        fn emit(state: &Batch, size: u32, header: EventHeader, flags: u64) -> Result<(), i64>;
        /// One event's bytes, copied.
        fn output(state: &Batch, bytes: &[u8], flags: u64) -> Result<(), i64>;
        /// Whether a failure with `error` for a record of `record` bytes was for lack of room.
        fn no_room(state: &Batch, record: u64, error: i64) -> bool;
        /// Bytes waiting in the ring (perf: 0, the consumer measures it).
        fn occupancy(state: &Batch) -> u64;
    }

    /// The `shared` layout: one ring, EVENTS.
    struct Shared;

    impl Sink for Shared {
        fn floor(_: &Batch) -> u64 {
            if setting(&OVERWRITE) != 0 {
                EVENTS.query(BPF_RB_OVERWRITE_POS)
            } else {
                EVENTS.query(BPF_RB_CONS_POS as u64)
            }
        }

        #[inline(always)]
        fn emit(_: &Batch, size: u32, header: EventHeader, flags: u64) -> Result<(), i64> {
            let Some(mut record) = EVENTS.reserve_bytes(size as usize, 0) else {
                return Err(0);
            };
            // SAFETY: the reserved record holds `size` bytes, at least
            // EVENT_HEADER_SIZE (validated before loading), and ring
            // records start 8-byte aligned.
            unsafe { core::ptr::write(record.as_mut_ptr() as *mut EventHeader, header) };
            record.submit(flags);
            Ok(())
        }

        fn output(_: &Batch, bytes: &[u8], flags: u64) -> Result<(), i64> {
            EVENTS.output::<[u8]>(bytes, flags).map_err(i64::from)
        }

        fn no_room(state: &Batch, record: u64, _: i64) -> bool {
            let produced = EVENTS.query(BPF_RB_PROD_POS as u64);
            let ring = EVENTS.query(BPF_RB_RING_SIZE as u64);
            produced.wrapping_add(record).wrapping_sub(state.floor) >= ring
        }

        fn occupancy(_: &Batch) -> u64 {
            EVENTS.query(BPF_RB_AVAIL_DATA as u64)
        }
    }

    /// The `per-cpu` and `per-cpus:N` layouts: the ring of this CPU in RINGS,
    /// looked up per event (an array-of-maps lookup the verifier inlines).
    struct Rings;

    impl Rings {
        fn query(state: &Batch, flag: u64) -> u64 {
            match RINGS.get(state.ring) {
                // SAFETY: the inner map pointer the lookup returned, a ring.
                Some(ring) => unsafe { bpf_ringbuf_query(ring as *const _ as *mut c_void, flag) },
                None => 0,
            }
        }
    }

    impl Sink for Rings {
        fn floor(state: &Batch) -> u64 {
            Self::query(state, BPF_RB_CONS_POS as u64)
        }

        #[inline(always)]
        fn emit(state: &Batch, size: u32, header: EventHeader, flags: u64) -> Result<(), i64> {
            let Some(ring) = RINGS.get(state.ring) else {
                return Err(0);
            };
            let Some(mut record) = ring.reserve_bytes(size as usize, 0) else {
                return Err(0);
            };
            // SAFETY: as for the shared ring.
            unsafe { core::ptr::write(record.as_mut_ptr() as *mut EventHeader, header) };
            record.submit(flags);
            Ok(())
        }

        fn output(state: &Batch, bytes: &[u8], flags: u64) -> Result<(), i64> {
            match RINGS.get(state.ring) {
                Some(ring) => ring.output_untyped::<[u8]>(bytes, flags).map_err(i64::from),
                None => Err(0),
            }
        }

        fn no_room(state: &Batch, record: u64, _: i64) -> bool {
            let produced = Self::query(state, BPF_RB_PROD_POS as u64);
            let ring = Self::query(state, BPF_RB_RING_SIZE as u64);
            produced.wrapping_add(record).wrapping_sub(state.floor) >= ring
        }

        fn occupancy(state: &Batch) -> u64 {
            Self::query(state, BPF_RB_AVAIL_DATA as u64)
        }
    }

    /// The `perf` layout: this CPU's buffer in PERF. Events are copied from
    /// the per-CPU scratch buffer (perf has no reserve).
    struct Perf;

    impl Perf {
        fn send(state: &Batch, data: *const u8, size: u64) -> Result<(), i64> {
            let map = core::ptr::from_ref(&PERF).cast_mut().cast::<c_void>();
            // SAFETY: `ctx` is this run's context, `data` points at `size`
            // readable bytes of the scratch buffer or the stack.
            let ret = unsafe { bpf_perf_event_output(state.ctx, map, BPF_F_CURRENT_CPU, data as *mut c_void, size) };
            if ret < 0 {
                Err(ret)
            } else {
                Ok(())
            }
        }
    }

    impl Sink for Perf {
        const FLUSHES: bool = true;

        fn floor(_: &Batch) -> u64 {
            0
        }

        fn emit(state: &Batch, size: u32, header: EventHeader, _: u64) -> Result<(), i64> {
            let size = (size as usize).clamp(EVENT_HEADER_SIZE, MAX_MIX_EVENT_SIZE);
            let Some(scratch) = MIX_SCRATCH.get_ptr_mut(0) else {
                return Err(0);
            };
            // SAFETY: this CPU's scratch value, which only this run uses
            // until the output has copied it; it holds more than a header
            // and starts 8-byte aligned.
            let scratch = unsafe { &mut *scratch };
            unsafe { core::ptr::write(scratch.as_mut_ptr() as *mut EventHeader, header) };
            match scratch.get(..size) {
                Some(bytes) => Self::send(state, bytes.as_ptr(), bytes.len() as u64),
                None => Err(0),
            }
        }

        fn output(state: &Batch, bytes: &[u8], _: u64) -> Result<(), i64> {
            Self::send(state, bytes.as_ptr(), bytes.len() as u64)
        }

        fn no_room(_: &Batch, _: u64, error: i64) -> bool {
            error == -ENOSPC
        }

        fn occupancy(_: &Batch) -> u64 {
            0
        }
    }

    // sys_enter_* tracepoint layout: 8 bytes of common fields, the syscall
    // number padded to 8, then the six arguments as unsigned longs.
    const ARG0: usize = 16;
    const ARG1: usize = 24;

    #[tracepoint]
    pub fn capacity_emit(ctx: TracePointContext) -> u32 {
        run::<Shared>(ctx)
    }

    #[tracepoint]
    pub fn capacity_emit_rings(ctx: TracePointContext) -> u32 {
        run::<Rings>(ctx)
    }

    #[tracepoint]
    pub fn capacity_emit_perf(ctx: TracePointContext) -> u32 {
        run::<Perf>(ctx)
    }

    #[inline(always)]
    fn run<S: Sink>(ctx: TracePointContext) -> u32 {
        if (bpf_get_current_pid_tgid() >> 32) as u32 != setting(&TARGET_TGID) {
            add(counter::OTHER_RUNS, 1);
            return 0;
        }
        let args = ctx.as_ptr() as *const u8;
        // SAFETY: the tracepoint context holds the six syscall arguments at
        // ARG0.. (layout above); the verifier checks the read is in bounds.
        let token = unsafe { core::ptr::read(args.add(ARG0) as *const u64) };
        if token as u32 != setting(&RUN_TOKEN) {
            add(counter::OTHER_RUNS, 1);
            return 0;
        }
        // SAFETY: as for the token, the second argument's 8 bytes at ARG1.
        let producer = unsafe { core::ptr::read(args.add(ARG1) as *const u64) };
        if S::FLUSHES && producer == FLUSH_PRODUCER as u64 {
            flush::<S>(&ctx);
            return 0;
        }
        if producer >= MAX_PRODUCERS as u64 {
            // Diagnostics only, never per event; userspace keeps the level
            // off while measuring unless CAPACITY_BPF_LOG asks for it.
            warn!(&ctx, target: names::LOG_TARGET, "capacity: producer id {} is out of range, trigger ignored", producer);
            add(counter::OTHER_RUNS, 1);
            return 0;
        }
        let Some(seq) = PRODUCER_SEQ.get_ptr_mut(producer as u32) else {
            add(counter::OTHER_RUNS, 1);
            return 0;
        };
        // SAFETY: a helper without arguments, callable from any program.
        let cpu = unsafe { bpf_get_smp_processor_id() };
        let batch = setting(&BATCH);
        // SAFETY: `seq` is a non-null pointer into PRODUCER_SEQ's value,
        // valid for this run; one thread per producer id, so a plain
        // read-modify-write races with no one.
        let base_seq = unsafe { *seq };
        // SAFETY: a helper without arguments, callable from any program.
        // One timestamp per batch: its first event carries it (see `emit_one`).
        let now = unsafe { bpf_ktime_get_ns() };
        let every = setting(&WAKEUP_EVERY);
        let mut state = Batch {
            base_seq,
            producer: producer as u16,
            cpu: cpu as u16,
            now,
            stamp: now,
            // `max(1)` keeps Rust's divide-by-zero panic path, which the
            // verifier refuses, out of the program.
            flow_start: base_seq.wrapping_sub(base_seq % setting(&KEYSPACE).max(1)),
            next_wakeup: base_seq.wrapping_add((every.max(1) - 1) - base_seq % every.max(1)),
            emitted: 0,
            dropped: 0,
            dropped_full: 0,
            dropped_busy: 0,
            floor: 0,
            map_updates: 0,
            map_errors: 0,
            // `max(1)`: as for flow_start.
            ring: cpu / setting(&CPUS_PER_RING).max(1),
            ctx: ctx.as_ptr(),
        };
        state.floor = S::floor(&state);
        let n = if batch > MAX_BATCH { MAX_BATCH } else { batch };
        // SAFETY: bpf_loop calls `emit_one` with `state`, which lives on
        // this stack across the call and is not touched here meanwhile;
        // `seq` is still the map value read above.
        unsafe {
            bpf_loop(n, emit_one::<S> as *mut c_void, &mut state as *mut Batch as *mut c_void, 0);
            *seq = state.base_seq.wrapping_add(n);
        }
        add(counter::TRIGGERS, 1);
        add(counter::EMITTED, state.emitted);
        add(counter::DROPPED, state.dropped);
        add(counter::DROPPED_FULL, state.dropped_full);
        add(counter::DROPPED_BUSY, state.dropped_busy);
        add(counter::MAP_UPDATES, state.map_updates);
        add(counter::MAP_ERRORS, state.map_errors);
        // Sampled once per trigger, right after the batch: when the ring is fullest.
        let occupancy = S::occupancy(&state);
        if let Some(peak) = COUNTERS.get_ptr_mut(counter::PEAK_OCCUPANCY) {
            // SAFETY: a non-null pointer to this CPU's slot, which no other
            // run touches meanwhile (see `add`).
            unsafe {
                if occupancy > *peak {
                    *peak = occupancy;
                }
            }
        }
        0
    }

    /// The perf layout's flush: the kernel writes a buffer's pending
    /// PERF_RECORD_LOST only in front of that buffer's next sample, so after
    /// the final drain userspace triggers one marker sample on every CPU
    /// (producer FLUSH_PRODUCER) to bring out the last lost counts.
    fn flush<S: Sink>(ctx: &TracePointContext) {
        let marker = EventHeader { ts_ns: 0, seq: 0, cpu: 0, producer: FLUSH_PRODUCER };
        let state_ctx = ctx.as_ptr();
        let map = core::ptr::from_ref(&PERF).cast_mut().cast::<c_void>();
        // SAFETY: this run's context and a header on this stack.
        let ret = unsafe {
            bpf_perf_event_output(
                state_ctx,
                map,
                BPF_F_CURRENT_CPU,
                &marker as *const EventHeader as *mut c_void,
                EVENT_HEADER_SIZE as u64,
            )
        };
        add(if ret < 0 { counter::FLUSH_FAILURES } else { counter::FLUSHES }, 1);
    }

    fn add(slot: u32, value: u64) {
        if value == 0 {
            return;
        }
        if let Some(counter) = COUNTERS.get_ptr_mut(slot) {
            // Per-CPU slot, and never two runs of this program on one CPU
            // at once: since 7.x a run can be preempted, but the kernel
            // then skips the other run (bpf_prog_active: missed_runs).
            // SAFETY: a non-null pointer to that slot, valid for this run.
            unsafe { *counter += value };
        }
    }

    extern "C" fn emit_one<S: Sink>(index: u32, ctx: *mut c_void) -> i64 {
        // SAFETY: bpf_loop passes back the `&mut Batch` capacity_emit gave
        // it, the only reference to it while the loop runs.
        let state = unsafe { &mut *(ctx as *mut Batch) };
        let seq = state.base_seq.wrapping_add(index);
        // The batch's latency sample is its first event; 0 marks the others.
        let stamp = state.stamp;
        state.stamp = 0;
        let flags = wakeup_flags(seq, state);
        let size = if setting(&SIZE_MIX) != 0 {
            emit_mixed::<S>(seq, stamp, flags, state)
        } else {
            emit_fixed::<S>(seq, stamp, flags, state)
        };
        let keyspace = setting(&KEYSPACE);
        let mut flow = seq.wrapping_sub(state.flow_start);
        if flow >= keyspace {
            state.flow_start = state.flow_start.wrapping_add(keyspace);
            flow -= keyspace;
        }
        if setting(&MAP) != 0 {
            update_flow(flow, size, state.now, state);
        }
        0
    }

    /// One event of the fixed size, reserved in the ring and written in
    /// place (perf: copied). Returns the size.
    #[inline(always)]
    fn emit_fixed<S: Sink>(seq: u32, now: u64, flags: u64, state: &mut Batch) -> u32 {
        let size = setting(&EVENT_SIZE);
        let header = EventHeader { ts_ns: now, seq, cpu: state.cpu, producer: state.producer };
        match S::emit(state, size, header, flags) {
            Ok(()) => state.emitted += 1,
            Err(error) => count_drop::<S>(size, error, state),
        }
        size
    }

    /// A reserve or output that failed, attributed. The kernel refuses one
    /// when the new record would reach the oldest record still in the way
    /// (full), or when its lock times out or detects a deadlock (6.15+:
    /// busy), and says not which. With `floor` at or before that oldest
    /// record and the producer position read now at or after the one the
    /// reserve saw, "no room" here covers every full failure; what is left
    /// certainly had room.
    fn count_drop<S: Sink>(size: u32, error: i64, state: &mut Batch) {
        state.dropped += 1;
        if S::no_room(state, record_bytes(size as u64), error) {
            state.dropped_full += 1;
        } else {
            state.dropped_busy += 1;
        }
    }

    /// One event of a size mix: its size from the table, written through
    /// the per-CPU scratch buffer. Returns the size.
    fn emit_mixed<S: Sink>(seq: u32, now: u64, flags: u64, state: &mut Batch) -> u32 {
        let size = match EVENT_SIZES.get(seq & (SIZE_SLOTS - 1)) {
            Some(size) => *size as usize,
            None => EVENT_HEADER_SIZE,
        };
        // Bounds the verifier can see: header ..= scratch size.
        let size = size.clamp(EVENT_HEADER_SIZE, MAX_MIX_EVENT_SIZE);
        let Some(scratch) = MIX_SCRATCH.get_ptr_mut(0) else {
            count_drop::<S>(size as u32, 0, state);
            return size as u32;
        };
        let header = EventHeader { ts_ns: now, seq, cpu: state.cpu, producer: state.producer };
        // SAFETY: a non-null pointer to this CPU's scratch value, which only
        // this run uses until bpf_ringbuf_output has copied it.
        let scratch = unsafe { &mut *scratch };
        // SAFETY: the scratch buffer is MAX_MIX_EVENT_SIZE bytes, more than a
        // header, and a map value starts 8-byte aligned.
        unsafe { core::ptr::write(scratch.as_mut_ptr() as *mut EventHeader, header) };
        let sent = match scratch.get(..size) {
            Some(bytes) => S::output(state, bytes, flags),
            None => Err(0),
        };
        match sent {
            Ok(()) => state.emitted += 1,
            Err(error) => count_drop::<S>(size as u32, error, state),
        }
        size as u32
    }

    /// The flags of the next event's commit: a forced wakeup on every Nth
    /// event (`seq % N == N - 1`), none otherwise; 0 for adaptive wakeups.
    fn wakeup_flags(seq: u32, state: &mut Batch) -> u64 {
        let every = setting(&WAKEUP_EVERY);
        if every == 0 {
            0
        } else if seq == state.next_wakeup {
            state.next_wakeup = seq.wrapping_add(every);
            BPF_RB_FORCE_WAKEUP as u64
        } else {
            BPF_RB_NO_WAKEUP as u64
        }
    }

    fn update_flow(flow: u32, size: u32, now: u64, state: &mut Batch) {
        if let Some(existing) = FLOWS.get_ptr_mut(&flow) {
            // Plain updates: the BPF target's `core` has no atomic RMW, and
            // these values stand in for per-connection state; nothing is
            // measured from them (producers sharing a flow may lose a count).
            // SAFETY: a non-null pointer to the flow's value, which the
            // kernel keeps valid for this run (RCU) even if it is deleted.
            unsafe {
                (*existing).count += 1;
                (*existing).bytes += size as u64;
                (*existing).last_ts_ns = now;
            }
            state.map_updates += 1;
            return;
        }
        let fresh = FlowState { count: 1, bytes: size as u64, last_ts_ns: now };
        match FLOWS.insert(&flow, &fresh, BPF_NOEXIST as u64) {
            Ok(()) => state.map_updates += 1,
            // Another CPU created it between our lookup and insert: it exists.
            Err(e) if e == -EEXIST => state.map_updates += 1,
            // E2BIG: the map is full. Counted, never fatal.
            Err(_) => state.map_errors += 1,
        }
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
