//! The kernel program: load it with this run's settings, attach it, read its
//! counters, detach it. Dropping [`EmitProgram`] detaches and unloads
//! everything (the link and the maps belong to this process alone: nothing
//! is pinned).
use std::{
    os::fd::OwnedFd,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use aya::{
    maps::{Array, MapData, PerCpuArray, PerCpuValues, RingBuf},
    programs::TracePoint,
    Ebpf, EbpfLoader,
};
use capacity_common::{counter, names, MAX_PRODUCERS};

static PROGRAM_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/capacity"));

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
}

/// The counters of one program, summed over CPUs (peak occupancy: max).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub triggers: u64,
    pub emitted: u64,
    pub dropped: u64,
    pub map_updates: u64,
    pub map_errors: u64,
    pub peak_occupancy_bytes: u64,
}

/// In-kernel cost so far, from the kernel's program statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelStats {
    pub run_time: Duration,
    pub run_count: u64,
}

pub struct EmitProgram {
    ebpf: Ebpf,
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
        let mut ebpf = EbpfLoader::new()
            .override_global(aya_log::LEVEL, &log_level, false)
            .override_global(names::TARGET_TGID, &tgid, true)
            .override_global(names::RUN_TOKEN, &token, true)
            .override_global(names::EVENT_SIZE, &settings.event_size, true)
            .override_global(names::BATCH, &settings.batch, true)
            .override_global(names::KEYSPACE, &settings.keyspace, true)
            .override_global(names::WAKEUP_EVERY, &settings.wakeup_every, true)
            .override_global(names::SIZE_MIX, &u32::from(settings.size_table.is_some()), true)
            .map_max_entries(names::RING, settings.ringbuf_size)
            .map_max_entries(names::FLOWS, settings.map_entries)
            .load(PROGRAM_OBJECT)
            .context("loading the kernel program")?;
        if let Some(table) = &settings.size_table {
            let mut sizes: Array<&mut MapData, u32> =
                Array::try_from(ebpf.map_mut(names::EVENT_SIZES).context("EVENT_SIZES map missing")?)?;
            for (slot, size) in table.iter().enumerate() {
                sizes.set(slot as u32, size, 0).context("filling the event-size table")?;
            }
        }
        let stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).ok();
        let logger = if log_level > 0 {
            log::set_logger(&STDERR_LOG).ok();
            log::set_max_level(log::LevelFilter::Trace);
            aya_log::EbpfLogger::init(&mut ebpf).ok()
        } else {
            None
        };
        let program: &mut TracePoint = ebpf
            .program_mut(names::PROGRAM)
            .context("the kernel object has no capacity_emit program")?
            .try_into()?;
        program.load().context("the verifier rejected the kernel program")?;
        program
            .attach(names::TRACEPOINT_CATEGORY, names::TRACEPOINT_NAME)
            .with_context(|| {
                format!("attaching to tracepoint {}/{}", names::TRACEPOINT_CATEGORY, names::TRACEPOINT_NAME)
            })?;
        let counters = PerCpuArray::try_from(ebpf.take_map(names::COUNTERS).context("COUNTERS map missing")?)?;
        let producer_seq = Array::try_from(ebpf.take_map(names::PRODUCER_SEQ).context("PRODUCER_SEQ map missing")?)?;
        Ok(Self { ebpf, logger, counters, producer_seq, token, _stats: stats })
    }

    /// The token producers pass so that this instance, and only it, reacts.
    pub fn token(&self) -> u32 {
        self.token
    }

    /// The ring buffer, for the consumer. Can be taken once.
    pub fn take_ring(&mut self) -> anyhow::Result<RingBuf<MapData>> {
        let map = self.ebpf.take_map(names::RING).context("the ring buffer was already taken")?;
        Ok(RingBuf::try_from(map)?)
    }

    pub fn counters(&self) -> anyhow::Result<Counters> {
        let slot = |index: u32| -> anyhow::Result<PerCpuValues<u64>> { Ok(self.counters.get(&index, 0)?) };
        let sum = |index: u32| -> anyhow::Result<u64> { Ok(slot(index)?.iter().sum()) };
        Ok(Counters {
            triggers: sum(counter::TRIGGERS)?,
            emitted: sum(counter::EMITTED)?,
            dropped: sum(counter::DROPPED)?,
            map_updates: sum(counter::MAP_UPDATES)?,
            map_errors: sum(counter::MAP_ERRORS)?,
            peak_occupancy_bytes: slot(counter::PEAK_OCCUPANCY)?.iter().copied().max().unwrap_or(0),
        })
    }

    /// Zero the counters and sequence numbers, between a warm-up and the
    /// measured phase. Only call while no producer runs.
    pub fn reset(&mut self) -> anyhow::Result<()> {
        let cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow::anyhow!("{what}: {e}"))?;
        for slot in 0..capacity_common::counter::SLOTS {
            self.counters.set(slot, PerCpuValues::try_from(vec![0u64; cpus])?, 0)?;
        }
        for producer in 0..MAX_PRODUCERS {
            self.producer_seq.set(producer, 0, 0)?;
        }
        Ok(())
    }

    /// Print what the program logged (only when CAPACITY_BPF_LOG is set).
    pub fn flush_logs(&mut self) {
        if let Some(logger) = &mut self.logger {
            logger.flush();
        }
    }

    pub fn kernel_stats(&self) -> KernelStats {
        let info = self.ebpf.program(names::PROGRAM).and_then(|p| p.info().ok());
        info.map(|i| KernelStats { run_time: i.run_time(), run_count: i.run_count() }).unwrap_or_default()
    }
}

/// The kernel program's log level from `CAPACITY_BPF_LOG` (off by default:
/// logging costs a reserve in the program's own ring buffer).
fn bpf_log_level() -> anyhow::Result<u8> {
    let Ok(text) = std::env::var("CAPACITY_BPF_LOG") else { return Ok(0) };
    Ok(match text.to_ascii_lowercase().as_str() {
        "" | "off" => 0,
        "error" => aya_log::Level::Error as u8,
        "warn" => aya_log::Level::Warn as u8,
        "info" => aya_log::Level::Info as u8,
        "debug" => aya_log::Level::Debug as u8,
        "trace" => aya_log::Level::Trace as u8,
        other => crate::bail_usage!("CAPACITY_BPF_LOG={other} is not a level: use off, error, warn, info, debug or trace"),
    })
}

/// Prints the kernel program's log records on stderr.
struct StderrLog;
static STDERR_LOG: StderrLog = StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        eprintln!("capacity: bpf {}: {}", record.level(), record.args());
    }
    fn flush(&self) {}
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
    // SAFETY: getpriority takes two integers and touches no memory.
    unsafe {
        libc::syscall(libc::SYS_getpriority, token as libc::c_long, producer as libc::c_long);
    }
}
