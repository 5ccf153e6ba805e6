//! `capacity verify`: real maps and ring buffers over a matrix of sizes,
//! each measured by the kernel (`memlock`) and by a memory cgroup, and
//! compared with the lab's formula and the model.
use std::{fmt, os::fd::AsFd, path::Path, str::FromStr};

use serde::Serialize;

use super::{
    btf::{KernelBtf, StructSizes},
    estimate::ModelInfo,
    host::Host,
    maps::BpfMap,
    measure::{memlock, ChargeMeter},
    model::{Model, PER_TYPE_SINCE},
    MapKind, MapSpec,
};
use crate::{
    kernel::KernelVersion,
    output::{key_values, Report, Table},
    preflight,
};

/// What a verify case creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Map(MapKind),
    Ringbuf,
}

impl Subject {
    pub fn all() -> Vec<Subject> {
        MapKind::ALL.into_iter().map(Subject::Map).chain([Subject::Ringbuf]).collect()
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Map(kind) => kind.fmt(f),
            Subject::Ringbuf => f.write_str("ringbuf"),
        }
    }
}

impl FromStr for Subject {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("ringbuf") {
            return Ok(Subject::Ringbuf);
        }
        text.parse().map(Subject::Map).map_err(|e| format!("{e}, ringbuf"))
    }
}

/// Entry counts of the default matrix: powers of two and not.
pub const DEFAULT_ENTRIES: [u32; 4] = [1, 1000, 1024, 100_000];
/// Key and value sizes of hash maps: multiples of 8 and not.
const HASH_SIZES: [(u32, u32); 3] = [(4, 4), (5, 13), (8, 64)];
/// Value sizes of arrays (whose keys are always 4 bytes).
const ARRAY_VALUES: [u32; 3] = [4, 13, 64];
/// Ring sizes in pages' worth of bytes: from one page to 64 MiB.
const RING_SIZES: [u64; 6] = [0, 16 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20];

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub subjects: Vec<Subject>,
    pub entries: Vec<u32>,
    pub max_error_pct: Option<f64>,
}

/// One real map or ring and its figures.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    #[serde(rename = "type")]
    pub subject: String,
    /// `max_entries`: entries of a map, bytes of a ring.
    pub entries: u64,
    pub key_size: u32,
    pub value_size: u32,
    pub prealloc: bool,
    /// Elements inserted before measuring.
    pub filled: u32,
    /// The model's figure equals `memlock` to the byte.
    pub exact: bool,
    pub naive_bytes: u64,
    pub model_bytes: u64,
    pub memlock_bytes: u64,
    pub charged_bytes: Option<u64>,
    pub naive_error_pct: Option<f64>,
    pub model_error_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    #[serde(flatten)]
    pub model: ModelInfo,
    /// The cgroup file `charged_bytes` comes from; null if none was usable.
    pub charged_source: Option<String>,
    pub max_error_pct: Option<f64>,
    /// Cases whose model figure equals `memlock` to the byte.
    pub exact_cases: usize,
    /// Cases over `--max-error` (0 without it).
    pub failed_cases: usize,
    /// The running kernel's struct sizes as its BTF gives them (null
    /// without BTF): what `cargo xtask vm` checks capacity's kernels.toml
    /// against.
    pub btf_struct_sizes: Option<StructSizes>,
    pub cases: Vec<Case>,
}

/// One planned case, before anything is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Planned {
    Map(MapSpec),
    Ring(u64),
}

#[cfg(test)]
impl Planned {
    fn subject(&self) -> Subject {
        match self {
            Planned::Map(spec) => Subject::Map(spec.kind),
            Planned::Ring(_) => Subject::Ringbuf,
        }
    }
}

fn matrix(options: &VerifyOptions, host: Host) -> Vec<Planned> {
    let mut cases = Vec::new();
    for &subject in &options.subjects {
        match subject {
            Subject::Map(kind) if kind.is_hash() => {
                for &entries in &options.entries {
                    for (key, value) in HASH_SIZES {
                        let spec = MapSpec::new(kind, entries, key, value);
                        cases.push(Planned::Map(spec));
                        if kind.can_skip_prealloc() {
                            cases.push(Planned::Map(spec.without_prealloc(entries)));
                        }
                    }
                }
            }
            Subject::Map(kind) => {
                for &entries in &options.entries {
                    for value in ARRAY_VALUES {
                        cases.push(Planned::Map(MapSpec::new(kind, entries, 4, value)));
                    }
                }
            }
            Subject::Ringbuf => {
                let mut sizes: Vec<u64> = RING_SIZES.iter().map(|&s| s.max(host.page_size)).collect();
                sizes.dedup();
                cases.extend(sizes.into_iter().map(Planned::Ring));
            }
        }
    }
    cases
}

/// Runs the matrix on this kernel and its gate, with the exit code the CLI
/// expects. The CLI will map `passes()` itself; until then this stays.
impl VerifyReport {
    /// No case is over the `--max-error` gate (true without one).
    pub fn passes(&self) -> bool {
        self.failed_cases == 0
    }
}

/// Runs the matrix on this kernel (privileged).
pub fn run(options: &VerifyOptions) -> anyhow::Result<VerifyReport> {
    preflight::check_privileges("capacity verify")?;
    let running = KernelVersion::running()?;
    if running >= PER_TYPE_SINCE {
        // The per-type figures need this kernel's struct sizes.
        preflight::check_btf(Path::new(preflight::VMLINUX_BTF))?;
    }
    let host = Host::this();
    let model = Model::new(None, None, host)?;
    let meter = ChargeMeter::find();
    let plan = matrix(options, host);
    log::info!(
        "verify: {} cases on {running}; charges from {}",
        plan.len(),
        meter.as_ref().map_or("no memory cgroup".into(), ChargeMeter::source)
    );
    let mut cases = Vec::with_capacity(plan.len());
    for planned in plan {
        cases.push(match planned {
            Planned::Map(spec) => map_case(&model, meter.as_ref(), &spec)?,
            Planned::Ring(size) => ring_case(&model, meter.as_ref(), size)?,
        });
    }
    let over = |c: &Case| options.max_error_pct.is_some_and(|max| c.model_error_pct.is_none_or(|e| e > max));
    Ok(VerifyReport {
        model: ModelInfo::of(&model),
        charged_source: meter.as_ref().map(ChargeMeter::source),
        max_error_pct: options.max_error_pct,
        exact_cases: cases.iter().filter(|c| c.model_bytes == c.memlock_bytes).count(),
        failed_cases: cases.iter().filter(|c| over(c)).count(),
        btf_struct_sizes: KernelBtf::running().map(|btf| btf.sizes),
        cases,
    })
}

fn map_case(model: &Model, meter: Option<&ChargeMeter>, spec: &MapSpec) -> anyhow::Result<Case> {
    let figure = model.map(spec)?;
    let create = || {
        let map = BpfMap::create(spec, model.host.cpus)?;
        if spec.kind.is_hash() {
            map.fill(spec.filled)?;
        }
        Ok(map)
    };
    let (map, charged_bytes) = match meter {
        Some(meter) => meter.charge(create)?,
        None => (create()?, None),
    };
    let figures = Figures {
        naive_bytes: spec.naive_bytes(),
        model_bytes: figure.bytes,
        memlock_bytes: memlock(map.as_fd())?,
        charged_bytes,
    };
    Ok(Case {
        key_size: spec.key_size,
        value_size: spec.value_size,
        prealloc: spec.prealloc,
        filled: if spec.kind.is_hash() { spec.filled } else { 0 },
        ..Case::new(spec.kind.to_string(), spec.entries.into(), figures)
    })
}

fn ring_case(model: &Model, meter: Option<&ChargeMeter>, size: u64) -> anyhow::Result<Case> {
    let figure = model.ring(size)?;
    let (ring, charged_bytes) = match meter {
        Some(meter) => meter.charge(|| BpfMap::ring(size))?,
        None => (BpfMap::ring(size)?, None),
    };
    let figures = Figures {
        // The lab counts a ring as its size.
        naive_bytes: size,
        model_bytes: figure.bytes,
        memlock_bytes: memlock(ring.as_fd())?,
        charged_bytes,
    };
    Ok(Case::new(Subject::Ringbuf.to_string(), size, figures))
}

/// What one case measured and computed.
struct Figures {
    naive_bytes: u64,
    model_bytes: u64,
    memlock_bytes: u64,
    charged_bytes: Option<u64>,
}

impl Case {
    /// A case with its figures and errors, keyless, preallocated and empty
    /// (a ring's shape; a map case fills in its own).
    fn new(subject: String, entries: u64, figures: Figures) -> Self {
        let Figures { naive_bytes, model_bytes, memlock_bytes, charged_bytes } = figures;
        Self {
            subject,
            entries,
            key_size: 0,
            value_size: 0,
            prealloc: true,
            filled: 0,
            exact: model_bytes == memlock_bytes,
            naive_bytes,
            model_bytes,
            memlock_bytes,
            charged_bytes,
            naive_error_pct: error_pct(naive_bytes, memlock_bytes),
            model_error_pct: error_pct(model_bytes, memlock_bytes),
        }
    }
}

/// |figure − memlock| / memlock in percent: 0 when both are 0, null when
/// only memlock is (no relative error exists).
pub fn error_pct(figure: u64, memlock: u64) -> Option<f64> {
    match (figure, memlock) {
        (0, 0) => Some(0.0),
        (_, 0) => None,
        _ => Some(figure.abs_diff(memlock) as f64 * 100.0 / memlock as f64),
    }
}

impl Report for VerifyReport {
    fn human(&self) -> String {
        let pct = |p: Option<f64>| p.map_or("n/a".into(), |p| format!("{p:.2}"));
        let charged = |c: Option<u64>| c.map_or("-".into(), |c| c.to_string());
        let mut table = Table::new([
            "type", "prealloc", "entries", "key", "value", "naive", "model", "memlock", "charged", "naive err%",
            "model err%",
        ]);
        for c in &self.cases {
            table.row([
                c.subject.clone(),
                if c.prealloc { "yes".into() } else { format!("no ({})", c.filled) },
                c.entries.to_string(),
                c.key_size.to_string(),
                c.value_size.to_string(),
                c.naive_bytes.to_string(),
                c.model_bytes.to_string(),
                c.memlock_bytes.to_string(),
                charged(c.charged_bytes),
                pct(c.naive_error_pct),
                pct(c.model_error_pct),
            ]);
        }
        let mut pairs = vec![
            ("kernel", self.model.to_string()),
            ("charges", self.charged_source.clone().unwrap_or_else(|| "no memory cgroup usable".into())),
            ("model exact", format!("{} of {} cases", self.exact_cases, self.cases.len())),
        ];
        if let Some(max) = self.max_error_pct {
            pairs.push(("gate", format!("model error ≤ {max}%: {} case(s) over", self.failed_cases)));
        }
        format!("{}\n{}", table.render(), key_values(&pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_relative_to_memlock() {
        assert_eq!(error_pct(110, 100), Some(10.0));
        assert_eq!(error_pct(90, 100), Some(10.0));
        assert_eq!(error_pct(0, 0), Some(0.0));
        assert_eq!(error_pct(4096, 0), None);
    }

    #[test]
    fn subjects_parse_and_list_ringbuf() {
        assert_eq!("ringbuf".parse(), Ok(Subject::Ringbuf));
        assert_eq!("lru-hash".parse(), Ok(Subject::Map(MapKind::LruHash)));
        assert!("queue".parse::<Subject>().unwrap_err().ends_with("ringbuf"));
    }

    #[test]
    fn the_matrix_covers_every_type_and_size_class() {
        let options =
            VerifyOptions { subjects: Subject::all(), entries: DEFAULT_ENTRIES.to_vec(), max_error_pct: None };
        let plan = matrix(&options, Host { cpus: 2, page_size: 4096 });
        for subject in Subject::all() {
            assert!(plan.iter().any(|p| p.subject() == subject), "{subject} missing");
        }
        let maps = || {
            plan.iter().filter_map(|p| match p {
                Planned::Map(spec) => Some(spec),
                Planned::Ring(_) => None,
            })
        };
        assert!(maps().any(|s| !s.entries.is_power_of_two()) && maps().any(|s| s.entries.is_power_of_two()));
        assert!(maps().any(|s| s.value_size % 8 != 0) && maps().any(|s| s.value_size % 8 == 0));
        assert!(maps().any(|s| s.key_size % 8 != 0) && maps().any(|s| s.key_size % 8 == 0));
        assert!(maps().any(|s| !s.prealloc && s.kind == MapKind::PercpuHash));
        let rings: Vec<u64> = plan
            .iter()
            .filter_map(|p| match p {
                Planned::Ring(size) => Some(*size),
                Planned::Map(_) => None,
            })
            .collect();
        assert_eq!(rings.first(), Some(&4096));
        assert_eq!(rings.last(), Some(&(64 << 20)));
    }
}
