//! The kernel program: load it with this run's settings, attach it, read its
//! counters, detach it. Dropping [`EmitProgram`] detaches and unloads
//! everything (the link and the maps belong to this process alone: nothing
//! is pinned).
use std::{
    os::fd::{AsFd as _, AsRawFd as _, OwnedFd},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use aya::{
    maps::{Array, MapData, PerCpuArray, PerCpuValues, RingBuf},
    programs::TracePoint,
    Ebpf, EbpfLoader,
};
use capacity_common::{counter, names, BPF_F_RB_OVERWRITE, MAX_PRODUCERS};

use crate::{
    layout::Layout,
    sys::{self, bpf_map_type::BPF_MAP_TYPE_RINGBUF, perf::PerfBuffer},
};

static PROGRAM_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/capacity"));

/// The kernel program's ELF object, as embedded in this binary (for
/// `capacity inspect` and its tests).
pub fn object() -> &'static [u8] {
    PROGRAM_OBJECT
}

/// What the program is loaded with. All of it is fixed for the program's life.
#[derive(Debug, Clone)]
pub struct ProgramSettings {
    pub event_size: u32,
    /// A size mix's table (`SIZE_SLOTS` sizes, indexed by sequence number).
    pub size_table: Option<Vec<u32>>,
    pub batch: u32,
    pub keyspace: u32,
    pub ringbuf_size: u32,
    pub map_entries: u32,
    /// 0: adaptive wakeups; N: force a wakeup every Nth event, none otherwise.
    pub wakeup_every: u32,
    /// Create the ring with BPF_F_RB_OVERWRITE (check [`overwrite_supported`] first).
    pub overwrite: bool,
    /// Update each event's flow in the hash map (false: the ring alone).
    pub map: bool,
    /// Which program runs and where its events go.
    pub layout: Layout,
    /// Perf layout: data pages per CPU.
    pub perf_pages: u32,
}

/// Where the program's events go, for the consumer: what [`EmitProgram::take_outputs`] hands over.
pub enum Outputs {
    /// The shared ring, or the rings of an array of maps, in ring order.
    Rings(Vec<RingBuf<MapData>>),
    /// The perf buffers, by CPU.
    Perf(Vec<PerfBuffer>),
}

/// The counters of one program, summed over CPUs (peak occupancy: max).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub triggers: u64,
    pub emitted: u64,
    pub dropped: u64,
    /// Drops with the ring full (see `counter::DROPPED_FULL`).
    pub dropped_full: u64,
    /// Drops although the ring had room: its lock failed (6.15+).
    pub dropped_busy: u64,
    pub map_updates: u64,
    pub map_errors: u64,
    pub peak_occupancy_bytes: u64,
    /// Runs that were no trigger of this instance (other callers of getpriority).
    pub other_runs: u64,
    /// Perf layout: flush triggers run, and flushes whose marker found no room.
    pub flushes: u64,
    pub flush_failures: u64,
}

/// The counters a layout's rings are told apart by, per CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerCpuCounters {
    pub dropped: Vec<u64>,
    /// The high-water mark of the ring the CPU wrote to.
    pub peak_occupancy_bytes: Vec<u64>,
}

/// The kernel's own statistics of the program (`struct bpf_prog_info`).
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelStats {
    /// Time spent in the program (BPF_ENABLE_STATS only).
    pub run_time: Duration,
    /// Runs of the program (BPF_ENABLE_STATS only), every caller's.
    pub run_count: u64,
    /// Runs the kernel skipped because the program was already active on
    /// that CPU (`recursion_misses`, 5.12+; counted with or without stats).
    pub recursion_misses: u64,
}

impl KernelStats {
    /// What happened between `before` and these figures.
    pub fn since(&self, before: &KernelStats) -> KernelStats {
        KernelStats {
            run_time: self.run_time.saturating_sub(before.run_time),
            run_count: self.run_count.saturating_sub(before.run_count),
            recursion_misses: self.recursion_misses.saturating_sub(before.recursion_misses),
        }
    }
}

pub struct EmitProgram {
    ebpf: Ebpf,
    /// The program attached: the layout's.
    program: &'static str,
    outputs: Option<Outputs>,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    counters: PerCpuArray<MapData, u64>,
    producer_seq: Array<MapData, u32>,
    token: u32,
    // Keeps BPF_ENABLE_STATS on while the program lives (None if refused).
    _stats: Option<OwnedFd>,
}

impl EmitProgram {
    /// Load and attach. The program only reacts to this process and to this
    /// instance's token, so several instances can run side by side.
    pub fn load(settings: &ProgramSettings) -> anyhow::Result<Self> {
        let tgid = std::process::id();
        let token = run_token();
        let log_level = bpf_log_level()?;
        let overwrite = u32::from(settings.overwrite);
        let object = program_object(settings)?;
        let cpus = sys::possible_cpus()?;
        let rings = settings.layout.rings(cpus);
        let cpus_per_ring = match settings.layout {
            Layout::PerCpus(n) => n,
            _ => 1,
        };
        // The perf layout's wakeups are the buffers' (wakeup_events), not the program's.
        let wakeup_every = if settings.layout == Layout::Perf { 0 } else { settings.wakeup_every };
        let mut ebpf = EbpfLoader::new()
            .override_global(aya_log::LEVEL, &log_level, false)
            .override_global(names::TARGET_TGID, &tgid, true)
            .override_global(names::RUN_TOKEN, &token, true)
            .override_global(names::EVENT_SIZE, &settings.event_size, true)
            .override_global(names::BATCH, &settings.batch, true)
            .override_global(names::KEYSPACE, &settings.keyspace, true)
            .override_global(names::WAKEUP_EVERY, &wakeup_every, true)
            .override_global(names::CPUS_PER_RING, &cpus_per_ring, true)
            .override_global(names::OVERWRITE, &overwrite, true)
            .override_global(names::SIZE_MIX, &u32::from(settings.size_table.is_some()), true)
            .override_global(names::MAP, &u32::from(settings.map), true)
            // The shared ring only where it is used: one page otherwise.
            .map_max_entries(
                names::RING,
                if settings.layout == Layout::Shared { settings.ringbuf_size } else { sys::page_size() as u32 },
            )
            .map_max_entries(names::FLOWS, settings.map_entries)
            .map_max_entries(names::RINGS, if settings.layout.is_ring_array() { rings } else { 1 })
            .load(&object)
            .context("loading the kernel program")?;
        if let Some(table) = &settings.size_table {
            let mut sizes: Array<&mut MapData, u32> =
                Array::try_from(ebpf.map_mut(names::EVENT_SIZES).context("EVENT_SIZES map missing")?)?;
            for (slot, size) in table.iter().enumerate() {
                sizes.set(slot as u32, size, 0).context("filling the event-size table")?;
            }
        }
        let stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).ok();
        // Records go to the `log` logger the binary installed (cli::init_logging).
        let logger = if log_level > 0 { aya_log::EbpfLogger::init(&mut ebpf).ok() } else { None };
        let outputs = match settings.layout {
            Layout::Shared => {
                let ring = ebpf.take_map(names::RING).context("EVENTS map missing")?;
                Outputs::Rings(vec![RingBuf::try_from(ring)?])
            }
            Layout::PerCpus(_) => Outputs::Rings(fill_ring_array(&ebpf, rings, settings.ringbuf_size)?),
            Layout::Perf => Outputs::Perf(open_perf_buffers(&ebpf, cpus, settings)?),
        };
        let name = match settings.layout {
            Layout::Shared => names::PROGRAM,
            Layout::PerCpus(_) => names::PROGRAM_RINGS,
            Layout::Perf => names::PROGRAM_PERF,
        };
        let program: &mut TracePoint =
            ebpf.program_mut(name).with_context(|| format!("the kernel object has no {name} program"))?.try_into()?;
        program.load().context("the verifier rejected the kernel program")?;
        program.attach(names::TRACEPOINT_CATEGORY, names::TRACEPOINT_NAME).with_context(|| {
            format!("attaching to tracepoint {}/{}", names::TRACEPOINT_CATEGORY, names::TRACEPOINT_NAME)
        })?;
        let counters = PerCpuArray::try_from(ebpf.take_map(names::COUNTERS).context("COUNTERS map missing")?)?;
        let producer_seq = Array::try_from(ebpf.take_map(names::PRODUCER_SEQ).context("PRODUCER_SEQ map missing")?)?;
        Ok(Self { ebpf, program: name, outputs: Some(outputs), logger, counters, producer_seq, token, _stats: stats })
    }

    /// The token producers pass so that this instance, and only it, reacts.
    pub fn token(&self) -> u32 {
        self.token
    }

    /// The shared ring, for a reader of one ring. Can be taken once.
    pub fn take_ring(&mut self) -> anyhow::Result<RingBuf<MapData>> {
        match self.take_outputs()? {
            Outputs::Rings(mut rings) if rings.len() == 1 => Ok(rings.remove(0)),
            _ => anyhow::bail!("the program has no single ring"),
        }
    }

    /// The perf layout's PERF map, for a reader that opens buffers of its
    /// own in it (aya's `PerfEventArray`, tests/src/bin/perf_drain.rs).
    /// Can be taken once.
    pub fn take_perf_map(&mut self) -> anyhow::Result<aya::maps::Map> {
        self.ebpf.take_map(names::PERF).context("PERF map missing (or taken already)")
    }

    /// The rings or perf buffers, for the consumer. Can be taken once.
    pub fn take_outputs(&mut self) -> anyhow::Result<Outputs> {
        self.outputs.take().context("the program's outputs were already taken")
    }

    pub fn counters(&self) -> anyhow::Result<Counters> {
        let slot = |index: u32| -> anyhow::Result<PerCpuValues<u64>> { Ok(self.counters.get(&index, 0)?) };
        let sum = |index: u32| -> anyhow::Result<u64> { Ok(slot(index)?.iter().sum()) };
        Ok(Counters {
            triggers: sum(counter::TRIGGERS)?,
            emitted: sum(counter::EMITTED)?,
            dropped: sum(counter::DROPPED)?,
            dropped_full: sum(counter::DROPPED_FULL)?,
            dropped_busy: sum(counter::DROPPED_BUSY)?,
            other_runs: sum(counter::OTHER_RUNS)?,
            map_updates: sum(counter::MAP_UPDATES)?,
            map_errors: sum(counter::MAP_ERRORS)?,
            peak_occupancy_bytes: slot(counter::PEAK_OCCUPANCY)?.iter().copied().max().unwrap_or(0),
            flushes: sum(counter::FLUSHES)?,
            flush_failures: sum(counter::FLUSH_FAILURES)?,
        })
    }

    /// Drops and peaks per CPU, for the figures of each ring.
    pub fn per_cpu_counters(&self) -> anyhow::Result<PerCpuCounters> {
        let slot =
            |index: u32| -> anyhow::Result<Vec<u64>> { Ok(self.counters.get(&index, 0)?.iter().copied().collect()) };
        Ok(PerCpuCounters { dropped: slot(counter::DROPPED)?, peak_occupancy_bytes: slot(counter::PEAK_OCCUPANCY)? })
    }

    /// Each producer's next sequence number: the events the program
    /// attempted for it so far, modulo 2^32.
    pub fn producer_seqs(&self, producers: u32) -> anyhow::Result<Vec<u32>> {
        (0..producers).map(|p| Ok(self.producer_seq.get(&p, 0)?)).collect()
    }

    /// Zero the counters and sequence numbers, between a warm-up and the
    /// measured phase. Only call while no producer runs.
    pub fn reset(&mut self) -> anyhow::Result<()> {
        let cpus = sys::possible_cpus()? as usize;
        for slot in 0..capacity_common::counter::SLOTS {
            self.counters.set(slot, PerCpuValues::try_from(vec![0u64; cpus])?, 0)?;
        }
        for producer in 0..MAX_PRODUCERS {
            self.producer_seq.set(producer, 0, 0)?;
        }
        Ok(())
    }

    /// Hand what the program logged to the `log` logger (only when CAPACITY_BPF_LOG is set).
    pub fn flush_logs(&mut self) {
        if let Some(logger) = &mut self.logger {
            logger.flush();
        }
    }

    /// Whether the kernel counts the program's runs and run time (BPF_ENABLE_STATS held).
    pub fn stats_enabled(&self) -> bool {
        self._stats.is_some()
    }

    pub fn kernel_stats(&self) -> anyhow::Result<KernelStats> {
        let program =
            self.ebpf.program(self.program).with_context(|| format!("the {} program is gone", self.program))?;
        // aya 0.14's ProgramInfo has no `recursion_misses`: ask the kernel directly.
        let info = sys::bpf::prog_info(program.fd()?.as_fd()).context("reading the program's bpf_prog_info")?;
        Ok(KernelStats {
            run_time: Duration::from_nanos(info.run_time_ns),
            run_count: info.run_cnt,
            recursion_misses: info.recursion_misses,
        })
    }
}

/// The rings of an array of maps: `rings` ring buffers of `size` bytes,
/// created here at their run-time size (named `capacity_ring`) and stored
/// in the program's RINGS, which aya created from its BTF inner-map template.
/// RINGS holds them for the program; the returned handles are the consumer's.
fn fill_ring_array(ebpf: &Ebpf, rings: u32, size: u32) -> anyhow::Result<Vec<RingBuf<MapData>>> {
    let outer = ebpf.map(names::RINGS).context("RINGS map missing")?;
    let outer_fd = match outer {
        aya::maps::Map::ArrayOfMaps(data) => data.fd().as_fd(),
        _ => anyhow::bail!("RINGS is not an array of maps"),
    };
    (0..rings)
        .map(|index| {
            let ring = sys::bpf::create_named_map("capacity_ring", BPF_MAP_TYPE_RINGBUF, 0, 0, size, 0)
                .with_context(|| format!("creating ring {index} of {size} bytes"))?;
            let fd = ring.fd().as_fd().as_raw_fd() as u32;
            sys::bpf::map_update_elem(outer_fd, &index.to_ne_bytes(), &fd.to_ne_bytes())
                .with_context(|| format!("storing ring {index} in RINGS"))?;
            Ok(RingBuf::try_from(aya::maps::Map::RingBuf(ring))?)
        })
        .collect()
}

/// The perf layout's buffers: one per CPU, opened with the run's pages and
/// wakeups and stored in the program's PERF at the CPU's index.
fn open_perf_buffers(ebpf: &Ebpf, cpus: u32, settings: &ProgramSettings) -> anyhow::Result<Vec<PerfBuffer>> {
    let perf = ebpf.map(names::PERF).context("PERF map missing")?;
    let perf_fd = match perf {
        aya::maps::Map::PerfEventArray(data) => data.fd().as_fd(),
        _ => anyhow::bail!("PERF is not a perf event array"),
    };
    let wakeup = settings.wakeup_every.max(1);
    (0..cpus)
        .map(|cpu| {
            let buffer = PerfBuffer::open(cpu, settings.perf_pages as usize, wakeup)
                .with_context(|| format!("opening the perf buffer of CPU {cpu} ({} pages)", settings.perf_pages))?;
            let fd = buffer.as_fd().as_raw_fd() as u32;
            sys::bpf::map_update_elem(perf_fd, &cpu.to_ne_bytes(), &fd.to_ne_bytes())
                .with_context(|| format!("storing CPU {cpu}'s perf buffer in PERF"))?;
            Ok(buffer)
        })
        .collect()
}

/// A field of a legacy `bpf_map_def` {type, key_size, value_size,
/// max_entries, map_flags, ...}: its byte offset.
#[derive(Clone, Copy)]
enum MapDefField {
    ValueSize = 8,
    MapFlags = 16,
}

/// The program object as the settings need it. aya 0.14's loader sets a
/// map's max_entries but neither its flags nor its value size, so those are
/// patched into a copy of the object's map definitions: the ring's flags
/// for overwrite mode, and, without a size mix, the mix's per-CPU scratch
/// buffer cut to 8 bytes (the program's mix path is then dead code, which
/// the verifier skips since SIZE_MIX is a read-only constant), so a run
/// without a mix does not pin 16 KiB per CPU for nothing.
fn program_object(settings: &ProgramSettings) -> anyhow::Result<Vec<u8>> {
    let mut object = PROGRAM_OBJECT.to_vec();
    if settings.overwrite {
        patch_map_def(&mut object, names::RING, MapDefField::MapFlags, BPF_F_RB_OVERWRITE)?;
    }
    // The perf layout copies every event through the scratch buffer.
    if settings.size_table.is_none() && settings.layout != Layout::Perf {
        patch_map_def(&mut object, names::MIX_SCRATCH, MapDefField::ValueSize, 8)?;
    }
    Ok(object)
}

/// Set `field` of `map`'s definition in `object` to `value`.
fn patch_map_def(object: &mut [u8], map: &str, field: MapDefField, value: u32) -> anyhow::Result<()> {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _};
    let file = object::File::parse(&*object).context("parsing the kernel program object")?;
    let symbol = file
        .symbols()
        .find(|s| s.name() == Ok(map))
        .with_context(|| format!("the kernel program object has no {map} symbol"))?;
    let section = symbol
        .section_index()
        .and_then(|i| file.section_by_index(i).ok())
        .with_context(|| format!("{map}'s map definition has no section"))?;
    let (start, _) = section.file_range().with_context(|| format!("{map}'s map definition is not in the file"))?;
    // Relocatable object: a symbol's value is its offset in its section.
    let at = (start + symbol.address() + field as u64) as usize;
    object
        .get_mut(at..at + 4)
        .with_context(|| format!("{map}'s map definition is cut short"))?
        .copy_from_slice(&value.to_ne_bytes());
    Ok(())
}

/// Whether this kernel accepts BPF_F_RB_OVERWRITE (Linux 6.19+): creates a
/// one-page ring with the flag and closes it again.
pub fn overwrite_supported() -> bool {
    let page = sys::page_size() as u32;
    sys::bpf::create_map(BPF_MAP_TYPE_RINGBUF, 0, 0, page, BPF_F_RB_OVERWRITE).is_ok()
}

/// The kernel program's log level from `CAPACITY_BPF_LOG` (off by default:
/// logging costs a reserve in the program's own ring buffer).
fn bpf_log_level() -> anyhow::Result<u8> {
    let Ok(text) = std::env::var("CAPACITY_BPF_LOG") else {
        return Ok(0);
    };
    Ok(match text.to_ascii_lowercase().as_str() {
        "" | "off" => 0,
        "error" => aya_log::Level::Error as u8,
        "warn" => aya_log::Level::Warn as u8,
        "info" => aya_log::Level::Info as u8,
        "debug" => aya_log::Level::Debug as u8,
        "trace" => aya_log::Level::Trace as u8,
        other => {
            anyhow::bail!("CAPACITY_BPF_LOG={other} is not a level: use off, error, warn, info, debug or trace")
        }
    })
}

/// A per-instance token in the `which` argument of getpriority(2). Values 0-2
/// are real `which` values, so stay clear of them.
fn run_token() -> u32 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (nanos ^ std::process::id().rotate_left(16) ^ n.wrapping_mul(0x9E37_79B9)) | 0x4000_0000
}

/// One trigger: a getpriority(2) that the program turns into a batch of
/// events. The kernel answers EINVAL (the token is no valid `which`).
#[inline]
pub fn trigger(token: u32, producer: u32) {
    sys::process::getpriority(token, producer);
}

#[cfg(test)]
mod tests {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

    use super::*;

    fn settings(overwrite: bool, size_table: Option<Vec<u32>>) -> ProgramSettings {
        ProgramSettings {
            event_size: 64,
            size_table,
            batch: 1,
            keyspace: 16,
            ringbuf_size: 1 << 20,
            map_entries: 64,
            wakeup_every: 0,
            overwrite,
            map: true,
            layout: Layout::Shared,
            perf_pages: 8,
        }
    }

    /// Word `i` of `map`'s bpf_map_def {type, key_size, value_size, max_entries, map_flags}.
    fn map_def_word(object: &[u8], map: &str, i: usize) -> u32 {
        let file = object::File::parse(object).expect("parse");
        let symbol = file.symbols().find(|s| s.name() == Ok(map)).expect("map symbol");
        let section = file.section_by_index(symbol.section_index().unwrap()).unwrap();
        let at = (section.file_range().unwrap().0 + symbol.address()) as usize + 4 * i;
        u32::from_ne_bytes(object[at..at + 4].try_into().unwrap())
    }

    fn bytes_changed(object: &[u8]) -> usize {
        object.iter().zip(PROGRAM_OBJECT).filter(|(a, b)| a != b).count()
    }

    #[test]
    fn the_ring_flags_land_in_the_rings_map_definition() {
        let patched = program_object(&settings(true, Some(vec![64; 4]))).expect("patch");
        assert_eq!(patched.len(), PROGRAM_OBJECT.len());
        assert_eq!(map_def_word(&patched, names::RING, 0), BPF_MAP_TYPE_RINGBUF as u32);
        assert_eq!(map_def_word(&patched, names::RING, 4), BPF_F_RB_OVERWRITE);
        assert_eq!(bytes_changed(&patched), 1, "one byte of the flags word is set (bit 19)");
    }

    #[test]
    fn without_a_mix_the_scratch_buffer_shrinks_and_nothing_else_changes() {
        let full = capacity_common::MAX_MIX_EVENT_SIZE as u32;
        assert_eq!(map_def_word(PROGRAM_OBJECT, names::MIX_SCRATCH, 2), full);
        let with_mix = program_object(&settings(false, Some(vec![64; 4]))).expect("patch");
        assert_eq!(bytes_changed(&with_mix), 0);
        let fixed = program_object(&settings(false, None)).expect("patch");
        assert_eq!(map_def_word(&fixed, names::MIX_SCRATCH, 0), sys::bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32);
        assert_eq!(map_def_word(&fixed, names::MIX_SCRATCH, 2), 8);
        assert!(bytes_changed(&fixed) <= 2, "only the value size's low bytes");
    }
}
