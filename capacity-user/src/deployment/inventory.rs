//! `capacity host`: every BPF map and program loaded on this host now, read
//! through the kernel's own interfaces: ids (BPF_*_GET_NEXT_ID), an fd per
//! id, that fd's fdinfo (memlock, run counts, recursion misses), the owners
//! of each (`owners`), live entries of hash maps (`entries`) and ring
//! backlogs (`ringbuf`). A library API: `capacity watch` samples it too.
use std::{
    os::fd::{AsFd, BorrowedFd},
    time::Duration,
};

use serde::Serialize;

use super::{
    entries::{self, Bound},
    kinds,
    layouts::{self, MapArray, PerfBuffers},
    owners::{self, Owner},
    ringbuf,
    sizing::{self, MapNamed, MapShape},
};
use crate::{
    kernel::KernelVersion,
    memory::{host::Host, model::Model},
    output::{Report, Table},
    pressure::Level,
    sys::{
        bpf_map_type::{
            BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF,
        },
        FdInfo,
    },
    units::format_bytes,
};

/// What to read beyond the basics.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Turn the kernel's BPF run-time statistics on for this long and report
    /// each program's cost over that window.
    pub enable_stats: Option<Duration>,
    /// Bound on counting a hash map's keys.
    pub count_bound: Bound,
}

/// One loaded map.
#[derive(Debug, Clone, Serialize)]
pub struct LiveMap {
    pub id: u32,
    #[serde(flatten)]
    pub map: MapNamed,
    pub owners: Vec<Owner>,
    /// The kernel's own figure (fdinfo `memlock`).
    pub memlock_bytes: u64,
    /// The memory model's figure for this map as it is now; null where the
    /// model does not cover the type.
    pub model_bytes: Option<u64>,
    /// The model's struct sizes are this kernel's own.
    pub model_exact: bool,
    /// model_bytes − memlock_bytes (0: the model is exact here).
    pub model_diff_bytes: Option<i64>,
    /// Entries in use (hash-family maps), counted by the kernel.
    pub entries: Option<u64>,
    /// False when the count stopped at its bound (a lower bound then).
    pub entries_complete: Option<bool>,
    /// entries / max_entries, or for a ring buffer its fill.
    pub pressure: Option<f64>,
    pub level: Option<Level>,
    pub ringbuf_pending_bytes: Option<u64>,
    /// The highest backlog since the previous look, from a fine sampler of
    /// the ring's positions (`watch --ring-interval`); absent when none ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ringbuf_pending_bytes_max: Option<u64>,
    pub ringbuf_fill: Option<f64>,
    pub note: Option<String>,
}

/// One loaded program.
#[derive(Debug, Clone, Serialize)]
pub struct LiveProgram {
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub owners: Vec<Owner>,
    pub memlock_bytes: Option<u64>,
    /// Runs and run time counted while BPF stats were on (since load; over
    /// the window with --enable-stats).
    pub run_cnt: u64,
    pub run_time_ns: u64,
    pub ns_per_run: Option<f64>,
    /// Runs the kernel skipped because the program was already running on that CPU.
    pub recursion_misses: Option<u64>,
}

/// Everything loaded now.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub kernel: KernelVersion,
    pub cpus: u32,
    pub page_size: u64,
    /// Sum of every map's memlock.
    pub total_bytes: u64,
    /// Sum of the model's figures where it has one.
    pub model_total_bytes: u64,
    /// Seconds BPF stats were on for the program figures (--enable-stats).
    pub stats_window_s: Option<f64>,
    pub budget_bytes: Option<u64>,
    pub over_budget: bool,
    pub maps: Vec<LiveMap>,
    pub programs: Vec<LiveProgram>,
    /// Every array of maps and the maps in its slots (rings per CPU).
    pub map_arrays: Vec<MapArray>,
    /// The perf buffers of each process holding a perf event array.
    pub perf_buffers: Vec<PerfBuffers>,
    /// Their bytes summed: not in `total_bytes` (no map's memlock).
    pub perf_buffer_bytes: u64,
}

/// Reads everything loaded now (needs CAP_SYS_ADMIN: the caller checks).
pub fn inventory(options: &Options, budget: Option<u64>) -> anyhow::Result<Inventory> {
    let host = Host::this();
    // The running kernel's model is the same for every inventory of this
    // process: its BTF is parsed once, not on every `watch` sample (that
    // parse was most of a sample's CPU at few maps; `cargo xtask bench host`).
    static RUNNING: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    let model = match RUNNING.get() {
        Some(model) => model,
        None => {
            let model = Model::new(None, None, host)?;
            RUNNING.get_or_init(|| model)
        }
    };
    let owners = owners::scan();
    let maps = read_maps(model, &owners, options.count_bound);
    let map_arrays = read_map_arrays(&maps);
    let perf_owners = maps
        .iter()
        .filter(|m| m.map.type_name == kinds::map_type_name(BPF_MAP_TYPE_PERF_EVENT_ARRAY as u32))
        .flat_map(|m| m.owners.iter().cloned())
        .collect();
    let perf_buffers = layouts::perf_buffers(&perf_owners);
    let (programs, stats_window_s) = match options.enable_stats {
        Some(window) => {
            let stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).map_err(|e| {
                anyhow::anyhow!("the kernel refused BPF_ENABLE_STATS ({e}): --enable-stats needs kernel 5.8+ and root")
            })?;
            let before = read_programs(&owners);
            std::thread::sleep(window);
            let after = read_programs(&owners);
            drop(stats);
            (over_window(&before, after), Some(window.as_secs_f64()))
        }
        None => (read_programs(&owners), None),
    };
    let total_bytes = maps.iter().map(|m| m.memlock_bytes).sum();
    Ok(Inventory {
        kernel: model.kernel,
        cpus: host.cpus,
        page_size: host.page_size,
        total_bytes,
        model_total_bytes: maps.iter().filter_map(|m| m.model_bytes).sum(),
        stats_window_s,
        budget_bytes: budget,
        over_budget: budget.is_some_and(|b| total_bytes > b),
        maps,
        programs,
        map_arrays,
        perf_buffer_bytes: perf_buffers.iter().map(|p| p.bytes).sum(),
        perf_buffers,
    })
}

/// The arrays and hashes of maps among `maps`, with the maps in them.
fn read_map_arrays(maps: &[LiveMap]) -> Vec<MapArray> {
    let array_of_maps = kinds::map_type_name(BPF_MAP_TYPE_ARRAY_OF_MAPS as u32);
    let hash_of_maps = kinds::map_type_name(BPF_MAP_TYPE_HASH_OF_MAPS as u32);
    maps.iter()
        .filter(|m| m.map.type_name == array_of_maps || m.map.type_name == hash_of_maps)
        .filter_map(|m| {
            let info = aya::maps::MapInfo::from_id(m.id).ok()?;
            let fd = info.fd().ok()?;
            let inner_map_ids = if m.map.type_name == array_of_maps {
                layouts::inner_map_ids(fd.as_fd(), m.map.max_entries).ok()?
            } else {
                layouts::inner_map_ids_of_hash(fd.as_fd(), m.map.key_size).ok()?
            };
            let inner_memlock_bytes =
                maps.iter().filter(|i| inner_map_ids.contains(&i.id)).map(|i| i.memlock_bytes).sum();
            Some(MapArray {
                id: m.id,
                name: m.map.name.clone(),
                type_name: m.map.type_name.clone(),
                max_entries: m.map.max_entries,
                inner_map_ids,
                inner_memlock_bytes,
            })
        })
        .collect()
}

fn read_maps(model: &Model, owners: &owners::Owners, bound: Bound) -> Vec<LiveMap> {
    let mut maps: Vec<LiveMap> = aya::maps::loaded_maps()
        .filter_map(Result::ok)
        .filter_map(|info| {
            // A map freed since its id was listed is skipped.
            let fd = info.fd().ok()?;
            Some(live_map(model, owners, &info, fd.as_fd(), bound))
        })
        .collect();
    maps.sort_by_key(|m| m.id);
    maps
}

fn live_map(
    model: &Model,
    owners: &owners::Owners,
    info: &aya::maps::MapInfo,
    fd: BorrowedFd<'_>,
    bound: Bound,
) -> LiveMap {
    // A map freed meanwhile reads as empty fields: type 0, no memlock.
    let fields = FdInfo::of(fd).unwrap_or_default();
    let map_type = fields.number_u32("map_type").unwrap_or(0);
    let shape = MapShape {
        map_type,
        key_size: info.key_size(),
        value_size: info.value_size(),
        max_entries: info.max_entries(),
        flags: info.map_flags(),
    };
    let mut notes = Vec::new();
    let (entries, entries_complete) = if kinds::is_hash_family(map_type) {
        match entries::count(fd, map_type, shape.key_size, shape.value_size, bound) {
            Ok(count) => {
                if !count.complete {
                    notes.push(format!("entries: counting stopped at {} keys (a lower bound)", count.entries));
                }
                (Some(count.entries), Some(count.complete))
            }
            Err(e) => {
                notes.push(format!("entries not counted: {e}"));
                (None, None)
            }
        }
    } else {
        (None, None)
    };
    let (ringbuf_pending_bytes, ringbuf_fill) = if map_type == BPF_MAP_TYPE_RINGBUF as u32 {
        match ringbuf::backlog(fd, shape.max_entries.into()) {
            Ok(b) => (Some(b.pending_bytes), Some(b.fill)),
            Err(e) => {
                notes.push(format!("ring positions not read: {e}"));
                (None, None)
            }
        }
    } else {
        (None, None)
    };
    let live = entries.map(|e| u32::try_from(e).unwrap_or(u32::MAX).min(shape.max_entries));
    let sized = sizing::size(model, &shape, live.or(Some(shape.max_entries)));
    notes.extend(sized.note.clone());
    let memlock_bytes = fields.number("memlock").unwrap_or(0);
    let pressure = match (entries, ringbuf_fill) {
        (Some(e), _) if shape.max_entries > 0 => Some(e as f64 / f64::from(shape.max_entries)),
        (_, Some(fill)) => Some(fill),
        _ => None,
    };
    LiveMap {
        id: info.id(),
        // The raw name: name_as_str() would make aya probe the kernel with maps of its own.
        map: MapNamed::new(String::from_utf8_lossy(info.name()).into_owned(), &shape),
        owners: owners.of_map(info.id()),
        memlock_bytes,
        model_bytes: sized.model_bytes,
        model_exact: sized.exact && entries_complete != Some(false),
        model_diff_bytes: sized.model_bytes.map(|m| m as i64 - memlock_bytes as i64),
        entries,
        entries_complete,
        pressure,
        level: pressure.map(Level::of_ratio),
        ringbuf_pending_bytes,
        ringbuf_pending_bytes_max: None,
        ringbuf_fill,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

fn read_programs(owners: &owners::Owners) -> Vec<LiveProgram> {
    let mut programs: Vec<LiveProgram> = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter_map(|info| {
            let fd = info.fd().ok()?;
            let fields = FdInfo::of(fd.as_fd()).unwrap_or_default();
            let run_cnt = fields.number("run_cnt").unwrap_or(0);
            let run_time_ns = fields.number("run_time_ns").unwrap_or(0);
            Some(LiveProgram {
                id: info.id(),
                // The raw name: name_as_str() would make aya probe the kernel with maps of its own.
                name: String::from_utf8_lossy(info.name()).into_owned(),
                type_name: kinds::prog_type_name(fields.number_u32("prog_type").unwrap_or(0)),
                owners: owners.of_program(info.id()),
                memlock_bytes: fields.number("memlock"),
                run_cnt,
                run_time_ns,
                ns_per_run: ns_per_run(run_time_ns, run_cnt),
                recursion_misses: fields.number("recursion_misses"),
            })
        })
        .collect();
    programs.sort_by_key(|p| p.id);
    programs
}

fn ns_per_run(run_time_ns: u64, run_cnt: u64) -> Option<f64> {
    (run_cnt > 0).then(|| run_time_ns as f64 / run_cnt as f64)
}

/// The programs as they are after the window, with run figures over it.
fn over_window(before: &[LiveProgram], mut after: Vec<LiveProgram>) -> Vec<LiveProgram> {
    for program in &mut after {
        if let Some(old) = before.iter().find(|b| b.id == program.id) {
            program.run_cnt = program.run_cnt.saturating_sub(old.run_cnt);
            program.run_time_ns = program.run_time_ns.saturating_sub(old.run_time_ns);
            program.ns_per_run = ns_per_run(program.run_time_ns, program.run_cnt);
        }
    }
    after
}

fn owners_text(owners: &[Owner]) -> String {
    if owners.is_empty() {
        return "-".into();
    }
    owners.iter().map(|o| format!("{}({})", o.comm, o.pid)).collect::<Vec<_>>().join(",")
}

impl Report for Inventory {
    fn human(&self) -> String {
        let mut out = format!(
            "host    kernel {} · {} CPUs · {} B pages\nmaps    {} · memlock total {} B ({})\n\n",
            self.kernel,
            self.cpus,
            self.page_size,
            self.maps.len(),
            self.total_bytes,
            format_bytes(self.total_bytes)
        );
        let mut maps =
            Table::new(["id", "name", "type", "key", "value", "max", "memlock", "model", "entries", "level", "owners"]);
        for m in &self.maps {
            let model = match (m.model_bytes, m.model_diff_bytes) {
                (None, _) => "n/a".to_string(),
                (Some(_), Some(0)) => "exact".to_string(),
                (Some(bytes), Some(diff)) => format!("{bytes} ({diff:+})"),
                (Some(bytes), None) => bytes.to_string(),
            };
            let entries = match (m.entries, m.ringbuf_pending_bytes) {
                (Some(e), _) => format!("{e}{}", if m.entries_complete == Some(false) { "+" } else { "" }),
                (None, Some(p)) => format!("{p} B pending"),
                _ => "-".into(),
            };
            let level = match (m.pressure, m.level) {
                (Some(p), Some(l)) => format!("{:.1}% {l}", p * 100.0),
                _ => "-".into(),
            };
            maps.row(std::iter::once(m.id.to_string()).chain(m.map.cells()).chain([
                m.memlock_bytes.to_string(),
                model,
                entries,
                level,
                owners_text(&m.owners),
            ]));
        }
        out.push_str(&maps.render());
        let window =
            self.stats_window_s.map_or(String::new(), |s| format!(" · run figures over {s:.1} s of BPF stats"));
        out.push_str(&format!("\nprograms {}{window}\n\n", self.programs.len()));
        let mut programs =
            Table::new(["id", "name", "type", "runs", "run time ns", "ns/run", "recursion misses", "owners"]);
        for p in &self.programs {
            programs.row([
                p.id.to_string(),
                p.name.clone(),
                p.type_name.clone(),
                p.run_cnt.to_string(),
                p.run_time_ns.to_string(),
                p.ns_per_run.map_or("-".into(), |v| format!("{v:.1}")),
                p.recursion_misses.map_or("-".into(), |v| v.to_string()),
                owners_text(&p.owners),
            ]);
        }
        out.push_str(&programs.render());
        for array in &self.map_arrays {
            out.push_str(&format!(
                "\n{} {} ({}): {} of {} slots filled, maps {}, {} B memlock inside\n",
                array.type_name.replace('-', " "),
                array.id,
                array.name,
                array.inner_map_ids.len(),
                array.max_entries,
                array.inner_map_ids.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
                array.inner_memlock_bytes
            ));
        }
        for perf in &self.perf_buffers {
            out.push_str(&format!(
                "\nperf buffers of {}({}): {} mapped, {} B ({}); not map memory\n",
                perf.owner.comm,
                perf.owner.pid,
                perf.buffers,
                perf.bytes,
                format_bytes(perf.bytes)
            ));
        }
        if let Some(budget) = self.budget_bytes {
            let verdict = if self.over_budget { "over" } else { "within" };
            out.push_str(&format!("\nbudget  {} B ({}): total {verdict}\n", budget, format_bytes(budget)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_window_subtracts_the_first_sample() {
        let program = |run_cnt, run_time_ns| LiveProgram {
            id: 7,
            name: "p".into(),
            type_name: "tracepoint".into(),
            owners: vec![],
            memlock_bytes: None,
            run_cnt,
            run_time_ns,
            ns_per_run: ns_per_run(run_time_ns, run_cnt),
            recursion_misses: Some(0),
        };
        let after = over_window(&[program(10, 1000)], vec![program(30, 5000)]);
        assert_eq!((after[0].run_cnt, after[0].run_time_ns, after[0].ns_per_run), (20, 4000, Some(200.0)));
        let idle = over_window(&[program(30, 5000)], vec![program(30, 5000)]);
        assert_eq!(idle[0].ns_per_run, None);
    }
}
