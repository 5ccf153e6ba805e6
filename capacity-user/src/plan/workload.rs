//! The workload file: what one deployment does and may grow to.
//!
//! ```toml
//! name = "flow-monitor"
//! events_per_second = "200k"   # or 200000
//! event_size = 96              # average bytes per event
//! buffer_seconds = 5           # optional, default 5
//! memory_budget = "256M"
//! arrivals = "burst:4x50ms/1s" # optional: constant (default), poisson, burst:...
//! layout = "per-cpu"           # optional: shared (default), per-cpu, per-cpus:N, perf
//! # profile = "rates.csv"      # or a recorded rate series (relative to this file)
//! # speedup = 60               # replayed this many times faster
//! nodes = 4                    # optional N+1: the deployment's nodes,
//! spare = 1                    # and how many may be lost
//!
//! [cpu]                        # optional per-event costs, in ns (tables
//! kernel_ns_per_event = 350    # come after the top-level keys: TOML reads
//! consumer_ns_per_event = 900  # every key below a [table] as its own)
//!
//! [growth]                     # optional, these are the defaults
//! events = 1.5
//! connections = 2.0
//!
//! [[maps]]
//! name = "flows"
//! type = "lru-hash"
//! entries = 65536
//! key_size = 16
//! value_size = 24
//! grows_with = "connections"   # default for hash maps; arrays: "none"
//! ```
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{
    layout::Layout,
    memory::{MapKind, MapSpec},
    run::arrivals::{Arrivals, Profile},
    units::{parse_rate, parse_size},
};

pub const DEFAULT_BUFFER_SECONDS: f64 = 5.0;
pub const DEFAULT_EVENTS_GROWTH: f64 = 1.5;
pub const DEFAULT_CONNECTIONS_GROWTH: f64 = 2.0;

/// A checked workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub name: String,
    pub events_per_second: f64,
    pub event_size: u64,
    pub buffer_seconds: f64,
    pub memory_budget: u64,
    pub cpu: Option<CpuCosts>,
    pub growth: Growth,
    pub maps: Vec<WorkloadMap>,
    /// How events arrive around `events_per_second` (for `--measure`).
    pub arrivals: Arrivals,
    /// How events reach userspace (for `--measure`).
    pub layout: Layout,
    /// N+1 planning: each node's load when `spare` of `nodes` are lost.
    pub redundancy: Option<Redundancy>,
}

/// `nodes = N`, `spare = S`: the events of the lost nodes move to the
/// others, so each carries rate × N / (N − S).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Redundancy {
    pub nodes: u32,
    pub spare: u32,
}

impl Redundancy {
    /// The factor each surviving node's load grows by.
    pub fn factor(&self) -> f64 {
        f64::from(self.nodes) / f64::from(self.nodes - self.spare)
    }
}

/// In-kernel and consumer CPU time per event, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuCosts {
    pub kernel_ns_per_event: f64,
    pub consumer_ns_per_event: f64,
}

/// Multipliers for what grows: events scale the rate (ring, CPU),
/// connections scale the maps keyed by connection.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Growth {
    pub events: f64,
    pub connections: f64,
}

impl Default for Growth {
    fn default() -> Self {
        Self { events: DEFAULT_EVENTS_GROWTH, connections: DEFAULT_CONNECTIONS_GROWTH }
    }
}

/// Which growth factor scales a map's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GrowsWith {
    Connections,
    Events,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadMap {
    pub name: String,
    pub spec: MapSpec,
    pub grows_with: GrowsWith,
}

impl Workload {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => anyhow::bail!("cannot read workload file {}: {e}", path.display()),
        };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse_in(&text, &base).map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))
    }

    /// Parses and checks a workload; errors are one line. A profile's path
    /// is relative to the working directory.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Self::parse_in(text, Path::new(""))
    }

    /// Parses and checks a workload whose profile path is relative to `base`.
    pub fn parse_in(text: &str, base: &Path) -> anyhow::Result<Self> {
        let raw: RawWorkload = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
                let message = e.message().replace('\n', " ");
                match line {
                    Some(line) => anyhow::bail!("line {line}: {}", message.trim()),
                    None => anyhow::bail!("{}", message.trim()),
                }
            }
        };
        raw.check(base)
    }
}

/// A number, or text with a unit (`"200k"`, `"256M"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Quantity {
    Number(f64),
    Text(String),
}

impl Quantity {
    fn rate(&self, field: &str) -> anyhow::Result<f64> {
        match self {
            Quantity::Number(n) if n.is_finite() && *n > 0.0 => Ok(*n),
            Quantity::Number(n) => anyhow::bail!("{field} = {n} must be a positive rate"),
            Quantity::Text(t) => parse_rate(t).map_err(|e| anyhow::anyhow!("{field}: {e}")),
        }
    }

    fn size(&self, field: &str) -> anyhow::Result<u64> {
        match self {
            Quantity::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n < u64::MAX as f64 => Ok(*n as u64),
            Quantity::Number(n) => anyhow::bail!("{field} = {n} must be a whole number of bytes"),
            Quantity::Text(t) => parse_size(t).map_err(|e| anyhow::anyhow!("{field}: {e}")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    #[serde(default)]
    name: Option<String>,
    events_per_second: Quantity,
    event_size: Quantity,
    #[serde(default)]
    buffer_seconds: Option<f64>,
    memory_budget: Quantity,
    #[serde(default)]
    cpu: Option<CpuCosts>,
    #[serde(default)]
    growth: Growth,
    #[serde(default)]
    maps: Vec<RawMap>,
    #[serde(default)]
    arrivals: Option<String>,
    #[serde(default)]
    layout: Layout,
    #[serde(default)]
    profile: Option<PathBuf>,
    #[serde(default)]
    speedup: Option<f64>,
    #[serde(default)]
    nodes: Option<u32>,
    #[serde(default)]
    spare: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    entries: Quantity,
    key_size: Quantity,
    value_size: Quantity,
    #[serde(default)]
    prealloc: Option<bool>,
    #[serde(default)]
    filled: Option<Quantity>,
    #[serde(default)]
    grows_with: Option<GrowsWith>,
}

impl RawWorkload {
    fn check(self, base: &Path) -> anyhow::Result<Workload> {
        let buffer_seconds = self.buffer_seconds.unwrap_or(DEFAULT_BUFFER_SECONDS);
        if !(buffer_seconds.is_finite() && buffer_seconds > 0.0) {
            anyhow::bail!("buffer_seconds = {buffer_seconds} must be positive");
        }
        let event_size = self.event_size.size("event_size")?;
        if event_size == 0 {
            anyhow::bail!("event_size must be at least 1 byte");
        }
        let memory_budget = self.memory_budget.size("memory_budget")?;
        if memory_budget == 0 {
            anyhow::bail!("memory_budget must be more than 0 bytes");
        }
        for (field, factor) in [("growth.events", self.growth.events), ("growth.connections", self.growth.connections)]
        {
            if !(factor.is_finite() && factor > 0.0) {
                anyhow::bail!("{field} = {factor} must be a positive factor, e.g. 1.5");
            }
        }
        if let Some(cpu) = self.cpu {
            for (field, ns) in [
                ("cpu.kernel_ns_per_event", cpu.kernel_ns_per_event),
                ("cpu.consumer_ns_per_event", cpu.consumer_ns_per_event),
            ] {
                if !(ns.is_finite() && ns >= 0.0) {
                    anyhow::bail!("{field} = {ns} must be 0 or more nanoseconds");
                }
            }
        }
        let maps = self.maps.into_iter().map(RawMap::check).collect::<anyhow::Result<Vec<_>>>()?;
        let arrivals = match (&self.arrivals, &self.profile) {
            (Some(_), Some(_)) => anyhow::bail!("give arrivals or profile, not both"),
            (Some(text), None) => text.parse().map_err(|e: String| anyhow::anyhow!("arrivals: {e}"))?,
            (None, Some(path)) => Arrivals::Profile(
                Profile::read(&base.join(path), self.speedup.unwrap_or(1.0)).map_err(anyhow::Error::msg)?,
            ),
            (None, None) if self.speedup.is_some() => anyhow::bail!("speedup needs a profile"),
            (None, None) => Arrivals::Constant,
        };
        let redundancy = match (self.nodes, self.spare) {
            (None, None) => None,
            (Some(nodes), spare) => {
                let spare = spare.unwrap_or(1);
                if nodes == 0 || spare >= nodes {
                    anyhow::bail!(
                        "nodes = {nodes}, spare = {spare}: spare must be below nodes (e.g. nodes = 4, spare = 1)"
                    );
                }
                Some(Redundancy { nodes, spare })
            }
            (None, Some(_)) => anyhow::bail!("spare needs nodes (the deployment's node count)"),
        };
        Ok(Workload {
            name: self.name.unwrap_or_else(|| "workload".into()),
            events_per_second: self.events_per_second.rate("events_per_second")?,
            event_size,
            buffer_seconds,
            memory_budget,
            cpu: self.cpu,
            growth: self.growth,
            maps,
            arrivals,
            layout: self.layout,
            redundancy,
        })
    }
}

impl RawMap {
    fn check(self) -> anyhow::Result<WorkloadMap> {
        let name = self.name;
        let in_map = |e: String| anyhow::anyhow!("map `{name}`: {e}");
        let kind: MapKind = self.kind.parse().map_err(in_map)?;
        let field = |q: &Quantity, what: &str| -> anyhow::Result<u32> {
            let value = q.size(what).map_err(|e| in_map(e.to_string()))?;
            u32::try_from(value).map_err(|_| in_map(format!("{what} = {value} does not fit the kernel's 32-bit field")))
        };
        let entries = field(&self.entries, "entries")?;
        let mut spec =
            MapSpec::new(kind, entries, field(&self.key_size, "key_size")?, field(&self.value_size, "value_size")?);
        if self.prealloc == Some(false) {
            let filled = self.filled.as_ref().map(|f| field(f, "filled")).transpose()?.unwrap_or(entries);
            spec = spec.without_prealloc(filled);
        }
        let grows_with =
            self.grows_with.unwrap_or(if kind.is_hash() { GrowsWith::Connections } else { GrowsWith::None });
        Ok(WorkloadMap { name, spec, grows_with })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in this file's documentation is a workload that reads
    /// as it says: every key where its comment puts it.
    #[test]
    fn the_documented_example_reads() {
        let doc: String = include_str!("workload.rs")
            .lines()
            .map_while(|l| l.strip_prefix("//!"))
            .skip_while(|l| l.trim() != "```toml")
            .skip(1)
            .take_while(|l| l.trim() != "```")
            .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
            .collect();
        assert!(doc.contains("[[maps]]"), "no toml example found: {doc}");
        let w = Workload::parse(&doc).unwrap_or_else(|e| panic!("the documented example is refused: {e:#}"));
        assert_eq!(w.name, "flow-monitor");
        assert_eq!(w.arrivals, "burst:4x50ms/1s".parse().unwrap());
        assert_eq!(w.redundancy, Some(Redundancy { nodes: 4, spare: 1 }));
        assert_eq!(w.cpu.map(|c| (c.kernel_ns_per_event, c.consumer_ns_per_event)), Some((350.0, 900.0)));
        assert_eq!(w.maps.len(), 1);
    }

    /// examples/workload.toml, which the README and docs/CLI.md point to, reads.
    #[test]
    fn the_example_file_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/workload.toml");
        Workload::read(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    }

    const MINIMAL: &str = r#"
        events_per_second = 1000
        event_size = 100
        memory_budget = "1M"
    "#;

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let w = Workload::parse(MINIMAL).unwrap();
        assert_eq!(w.buffer_seconds, 5.0);
        assert_eq!(w.growth, Growth { events: 1.5, connections: 2.0 });
        assert_eq!(w.memory_budget, 1 << 20);
        assert!(w.maps.is_empty() && w.cpu.is_none());
    }

    #[test]
    fn maps_grow_with_connections_unless_they_are_arrays() {
        let text = format!(
            "{MINIMAL}\n[[maps]]\nname = \"flows\"\ntype = \"lru-hash\"\nentries = \"64K\"\nkey_size = 16\nvalue_size = 24\n\
             [[maps]]\nname = \"stats\"\ntype = \"percpu-array\"\nentries = 8\nkey_size = 4\nvalue_size = 8\n"
        );
        let w = Workload::parse(&text).unwrap();
        assert_eq!(w.maps[0].spec, MapSpec::new(MapKind::LruHash, 65_536, 16, 24));
        assert_eq!(w.maps[0].grows_with, GrowsWith::Connections);
        assert_eq!(w.maps[1].grows_with, GrowsWith::None);
    }

    #[test]
    fn traffic_shape_and_redundancy_are_read() {
        let w = Workload::parse(&format!("arrivals = \"burst:4x50ms/1s\"\nnodes = 4\nspare = 1\n{MINIMAL}")).unwrap();
        assert_eq!(w.layout, Layout::Shared);
        let per_cpu = Workload::parse(&format!("layout = \"per-cpus:4\"\n{MINIMAL}")).unwrap();
        assert_eq!(per_cpu.layout, Layout::PerCpus(4));
        assert!(Workload::parse(&format!("layout = \"rings\"\n{MINIMAL}")).is_err());
        assert_eq!(w.arrivals.to_string(), "burst:4x50ms/1s");
        assert_eq!(w.redundancy, Some(Redundancy { nodes: 4, spare: 1 }));
        assert_eq!(w.redundancy.unwrap().factor(), 4.0 / 3.0);
        assert_eq!(Workload::parse(MINIMAL).unwrap().arrivals, Arrivals::Constant);
        let err = |text: &str| format!("{:#}", Workload::parse(text).unwrap_err());
        assert!(err(&format!("nodes = 2\nspare = 2\n{MINIMAL}")).contains("spare must be below nodes"));
        assert!(err(&format!("spare = 1\n{MINIMAL}")).contains("spare needs nodes"));
        assert!(err(&format!("arrivals = \"often\"\n{MINIMAL}")).contains("arrivals:"));
        assert!(err(&format!("profile = \"/nonexistent.csv\"\n{MINIMAL}")).contains("cannot read the profile"));
    }

    #[test]
    fn mistakes_are_one_line_with_the_place() {
        let err = |text: &str| format!("{:#}", Workload::parse(text).unwrap_err());
        assert!(err("events_per_second = 1000\nevent_size = 100\n").contains("memory_budget"));
        assert!(err(&format!("{MINIMAL}\nevnts = 3\n")).contains("line 6"), "the 6th line of the text");
        assert!(err(&MINIMAL.replace("1000", "\"fast\"")).contains("events_per_second"));
        let bad_map =
            format!("{MINIMAL}\n[[maps]]\nname = \"m\"\ntype = \"btree\"\nentries = 1\nkey_size = 4\nvalue_size = 4\n");
        assert!(err(&bad_map).contains("map `m`"));
        assert!(!err(&bad_map).contains('\n'));
    }
}
