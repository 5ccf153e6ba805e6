//! Node shapes (`--node KERNEL[:CPUS[:PAGE]]`) and what one node's maps
//! add up to: each declared map sized with that node's memory model.
use std::{path::PathBuf, str::FromStr};

use serde::Serialize;

use super::{
    kinds,
    object::DeclaredMap,
    sizing::{self, MapNamed, MapShape, Sized},
};
use crate::{
    kernel::KernelVersion,
    memory::{
        host::{Host, MAX_CPUS},
        layout_cost::perf_buffer_bytes,
        model::Model,
    },
    sys::bpf_map_type::BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    units::parse_size,
};

/// A machine to plan for; what is not given is this host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeShape {
    pub kernel: Option<KernelVersion>,
    pub cpus: Option<u32>,
    pub page_size: Option<u64>,
}

impl FromStr for NodeShape {
    type Err = String;

    /// `6.1`, `6.12:192`, `6.12:192:16K`.
    fn from_str(text: &str) -> Result<Self, String> {
        // The caller (clap) names the flag and the value.
        let bad = |why: String| format!("{why}; use KERNEL[:CPUS[:PAGE]], e.g. 6.1:96 or 6.12:192:4096");
        let mut parts = text.split(':');
        let kernel = parts.next().unwrap_or("").parse::<KernelVersion>().map_err(bad)?;
        let cpus = parts
            .next()
            .map(|c| match c.parse::<u32>() {
                Ok(0) | Err(_) => Err(bad(format!("`{c}` is not a CPU count"))),
                Ok(n) if n > MAX_CPUS => {
                    Err(bad(format!("{n} CPUs is more than a kernel can have (NR_CPUS is at most {MAX_CPUS})")))
                }
                Ok(n) => Ok(n),
            })
            .transpose()?;
        let page_size = parts
            .next()
            .map(|p| match parse_size(p) {
                Ok(size) if size.is_power_of_two() && size >= 4096 => Ok(size),
                _ => Err(bad(format!("`{p}` is not a page size (4096, 16K, 64K)"))),
            })
            .transpose()?;
        if parts.next().is_some() {
            return Err(bad("too many fields".into()));
        }
        Ok(Self { kernel: Some(kernel), cpus, page_size })
    }
}

impl NodeShape {
    /// The memory model of this node, with struct sizes from the first of
    /// `btfs` given for its kernel (X.Y), else the running kernel's.
    pub fn model(&self, btfs: &[(KernelVersion, PathBuf)]) -> anyhow::Result<Model> {
        let this = Host::this();
        let host = Host { cpus: self.cpus.unwrap_or(this.cpus), page_size: self.page_size.unwrap_or(this.page_size) };
        let kernel = self.kernel.map_or_else(KernelVersion::running, Ok)?;
        let btf =
            btfs.iter().find(|(k, _)| (k.major, k.minor) == (kernel.major, kernel.minor)).map(|(_, p)| p.as_path());
        Model::new(Some(kernel), btf, host)
    }
}

/// `--btf KERNEL=FILE`: the BTF of the nodes running KERNEL (raw BTF or an ELF vmlinux).
pub fn parse_btf(text: &str) -> Result<(KernelVersion, PathBuf), String> {
    let bad = || "use KERNEL=FILE, e.g. 6.12=/boot/vmlinux-6.12 (raw BTF or an ELF vmlinux)".to_string();
    let (kernel, path) = text.split_once('=').ok_or_else(bad)?;
    let kernel = kernel.parse::<KernelVersion>().map_err(|_| bad())?;
    if path.is_empty() {
        return Err(bad());
    }
    Ok((kernel, PathBuf::from(path)))
}

/// One declared map on one node.
#[derive(Debug, Clone, Serialize)]
pub struct MapLine {
    #[serde(flatten)]
    pub map: MapNamed,
    pub section: &'static str,
    /// An inner map's outer map: its figure is per inner map and is not in the total.
    pub inner_of: Option<String>,
    #[serde(flatten)]
    pub sized: Sized,
    /// An array of maps: every slot holding a map of its inner definition
    /// (planned full, as an agent's rings per CPU); a perf event array: the
    /// perf buffers of its slots, (pages + 1) × page each, not map memory.
    /// Null for other maps.
    pub filled_bytes: Option<u64>,
}

/// One node's answer.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub kernel: KernelVersion,
    pub cpus: u32,
    pub page_size: u64,
    /// `bpf_map_memory_footprint` (before 6.4) or `map_mem_usage`.
    pub accounting: &'static str,
    /// Every sized map, planned full (inner maps left out).
    pub total_bytes: u64,
    /// Every figure in the total is exact and no map is left unsized.
    pub exact: bool,
    /// Maps without a figure (types the model does not cover).
    pub unsized_maps: usize,
    /// Caveats for every figure of this node.
    pub notes: Vec<String>,
    pub maps: Vec<MapLine>,
    /// The maps inside arrays (hash) of maps, every slot filled (rings per CPU).
    pub inner_maps_bytes: u64,
    /// Perf buffers of every perf event array: (perf_pages + 1) × page per slot; not map memory.
    pub perf_buffer_bytes: u64,
    /// The data pages per perf buffer assumed (`--perf-pages`; the reader chooses them).
    pub perf_pages: u32,
    /// `total_bytes` + `inner_maps_bytes` + `perf_buffer_bytes`: the layout's whole cost.
    pub layout_total_bytes: u64,
}

/// Sizes `maps` on the node `model` describes; perf buffers of `perf_pages` data pages.
pub fn node_report(model: &Model, maps: &[DeclaredMap], perf_pages: u32) -> NodeReport {
    let shape_of = |m: &DeclaredMap| {
        // A perf event array of 0 entries gets one per CPU from its loader
        // (libbpf, aya): sized so on this node.
        let perf = m.map_type == BPF_MAP_TYPE_PERF_EVENT_ARRAY as u32;
        MapShape {
            map_type: m.map_type,
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: if perf && m.max_entries == 0 { model.host.cpus } else { m.max_entries },
            flags: m.flags,
        }
    };
    let mut lines: Vec<MapLine> = maps
        .iter()
        .map(|m| {
            let shape = shape_of(m);
            let mut sized = sizing::size(model, &shape, None);
            if let Some(outer) = &m.inner_of {
                let per_inner = format!("per inner map of {outer}, in inner_maps_bytes for every slot");
                sized.note = Some(sized.note.map_or(per_inner.clone(), |n| format!("{per_inner}; {n}")));
            }
            let filled_bytes = (shape.map_type == BPF_MAP_TYPE_PERF_EVENT_ARRAY as u32)
                .then(|| perf_buffer_bytes(perf_pages, model.host.page_size) * u64::from(shape.max_entries));
            MapLine {
                map: MapNamed::new(m.name.clone(), &shape),
                section: m.section,
                inner_of: m.inner_of.clone(),
                sized,
                filled_bytes,
            }
        })
        .collect();
    // Each map-in-map planned full: its slots × its inner map's figure.
    let inner: Vec<(String, Option<u64>)> =
        lines.iter().filter_map(|l| l.inner_of.clone().map(|outer| (outer, l.sized.model_bytes))).collect();
    for (outer, per_inner) in inner {
        if let (Some(line), Some(per_inner)) = (lines.iter_mut().find(|l| l.map.name == outer), per_inner) {
            line.filled_bytes = Some(per_inner * u64::from(line.map.max_entries));
        }
    }
    let in_maps = |l: &&MapLine| l.map.type_name != kinds::map_type_name(BPF_MAP_TYPE_PERF_EVENT_ARRAY as u32);
    let inner_maps_bytes: u64 = lines.iter().filter(in_maps).filter_map(|l| l.filled_bytes).sum();
    let perf_buffer_bytes: u64 = lines.iter().filter(|l| !in_maps(l)).filter_map(|l| l.filled_bytes).sum();
    let outer = || lines.iter().filter(|l| l.inner_of.is_none());
    NodeReport {
        kernel: model.kernel,
        cpus: model.host.cpus,
        page_size: model.host.page_size,
        accounting: model.accounting.name(),
        total_bytes: outer().filter_map(|l| l.sized.model_bytes).sum(),
        exact: outer().all(|l| l.sized.exact),
        unsized_maps: outer().filter(|l| l.sized.model_bytes.is_none()).count(),
        notes: model.notes.clone(),
        inner_maps_bytes,
        perf_buffer_bytes,
        perf_pages,
        layout_total_bytes: outer().filter_map(|l| l.sized.model_bytes).sum::<u64>()
            + inner_maps_bytes
            + perf_buffer_bytes,
        maps: lines,
    }
}

/// Applies `--set NAME=ENTRIES` overrides; an unknown name is a usage error.
pub fn set_entries(maps: &mut [DeclaredMap], overrides: &[(String, u32)]) -> anyhow::Result<()> {
    for (name, entries) in overrides {
        match maps.iter_mut().find(|m| &m.name == name) {
            Some(map) => map.max_entries = *entries,
            None => {
                let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
                anyhow::bail!("the object has no map `{name}` to resize (its maps: {})", names.join(", "));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_shapes_parse_with_defaults() {
        let node: NodeShape = "6.1:96".parse().unwrap();
        assert_eq!(node, NodeShape { kernel: Some(KernelVersion::new(6, 1, 0)), cpus: Some(96), page_size: None });
        let node: NodeShape = "6.12:192:16K".parse().unwrap();
        assert_eq!((node.cpus, node.page_size), (Some(192), Some(16_384)));
        assert_eq!("6.12".parse::<NodeShape>().unwrap().cpus, None);
        assert_eq!(parse_btf("6.12=/tmp/v").unwrap(), (KernelVersion::new(6, 12, 0), PathBuf::from("/tmp/v")));
        assert!(parse_btf("6.12").unwrap_err().contains("KERNEL=FILE"));
        assert!("6.12:99999999".parse::<NodeShape>().unwrap_err().contains("NR_CPUS is at most 8192"));
        assert_eq!("6.12:8192".parse::<NodeShape>().unwrap().cpus, Some(8192));
        for bad in ["", "six", "6.1:0", "6.1:x", "6.1:4:1000", "6.1:4:4096:9"] {
            let err = bad.parse::<NodeShape>().unwrap_err();
            assert!(err.contains("KERNEL[:CPUS[:PAGE]]"), "{bad}: {err}");
        }
    }

    fn declared(name: &str, map_type: u32, inner_of: Option<&str>) -> DeclaredMap {
        DeclaredMap {
            name: name.into(),
            map_type,
            key_size: 4,
            value_size: 8,
            max_entries: 16,
            flags: 0,
            section: ".maps",
            inner_of: inner_of.map(String::from),
        }
    }

    #[test]
    fn totals_leave_out_inner_maps_and_count_unsized_ones() {
        let model = Model::with(
            KernelVersion::new(6, 1, 0),
            Host { cpus: 4, page_size: 4096 },
            crate::memory::model::Accounting::Footprint,
        );
        let maps = [
            declared("a", 2, None),
            declared("outer", 12, None),
            declared("outer.inner", 2, Some("outer")),
            declared("trie", 11, None),
        ];
        let report = node_report(&model, &maps, 8);
        // Footprint: round_up(16 × round_up(4 + 8, 8), 4096) = 4096 per array;
        // the outer array of maps: round_up(16 × 8, 4096).
        assert_eq!(report.total_bytes, 4096 + 4096);
        assert_eq!(report.unsized_maps, 1);
        assert!(!report.exact);
        assert!(report.maps[2].sized.note.as_deref().unwrap().starts_with("per inner map of outer"));
        // The outer array planned full: 16 inner arrays of 4096.
        assert_eq!(report.inner_maps_bytes, 16 * 4096);
        assert_eq!(report.layout_total_bytes, 4096 + 4096 + 16 * 4096);
    }

    #[test]
    fn set_overrides_named_maps_only() {
        let mut maps = vec![declared("flows", 1, None)];
        set_entries(&mut maps, &[("flows".into(), 1 << 20)]).unwrap();
        assert_eq!(maps[0].max_entries, 1 << 20);
        let err = set_entries(&mut maps, &[("nope".into(), 1)]).unwrap_err().to_string();
        assert_eq!(err, "the object has no map `nope` to resize (its maps: flows)");
    }
}
