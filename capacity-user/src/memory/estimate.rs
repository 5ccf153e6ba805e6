//! `capacity estimate`: the lab's figure and the kernel's, side by side,
//! for one map or one ring buffer. Computation only: no privileges.
use std::fmt;

use capacity_common::MAX_RING_BYTES;
use serde::Serialize;

use super::{
    btf::StructSizes,
    layout_cost::{layout_cost, LayoutCost},
    model::{Figure, Model, Term},
    ring_size::RingFormula,
    MapSpec,
};
use crate::{
    event_sizes::EventSizes,
    kernel::KernelVersion,
    layout::Layout,
    output::{key_values, Report, Table},
    units::format_bytes,
};

/// What the report says about the model it used.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub kernel: KernelVersion,
    pub cpus: u32,
    pub page_size: u64,
    /// `bpf_map_memory_footprint` (before 6.4) or `map_mem_usage`.
    pub accounting: &'static str,
    /// Where the struct sizes came from (6.4+ only).
    pub btf: Option<String>,
    /// The struct sizes the figures add up (6.4+ only).
    pub struct_sizes: Option<StructSizes>,
}

/// The model in one line, as the reports' `kernel` row shows it:
/// "6.18.0 (map_mem_usage, 4 CPUs, 4096 B pages)".
impl fmt::Display for ModelInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {} CPUs, {} B pages)", self.kernel, self.accounting, self.cpus, self.page_size)
    }
}

impl ModelInfo {
    pub fn of(model: &Model) -> Self {
        Self {
            kernel: model.kernel,
            cpus: model.host.cpus,
            page_size: model.host.page_size,
            accounting: model.accounting.name(),
            btf: match &model.accounting {
                super::model::Accounting::PerType(layout) => Some(layout.source.clone()),
                super::model::Accounting::Footprint => None,
            },
            struct_sizes: match &model.accounting {
                super::model::Accounting::PerType(layout) => Some(layout.sizes().clone()),
                super::model::Accounting::Footprint => None,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MapEstimate {
    #[serde(flatten)]
    pub spec: MapSpec,
    #[serde(flatten)]
    pub model: ModelInfo,
    pub exact: bool,
    pub naive_bytes: u64,
    pub model_bytes: u64,
    pub terms: Vec<Term>,
    pub notes: Vec<String>,
}

pub fn map(model: &Model, spec: MapSpec) -> anyhow::Result<MapEstimate> {
    let figure = model.map(&spec)?;
    Ok(MapEstimate {
        spec,
        model: ModelInfo::of(model),
        exact: figure.exact,
        naive_bytes: spec.naive_bytes(),
        model_bytes: figure.bytes,
        terms: figure.terms,
        notes: figure.notes,
    })
}

impl Report for MapEstimate {
    fn human(&self) -> String {
        let mut pairs = vec![
            (
                "map",
                format!(
                    "{} ({} entries, key {} B, value {} B)",
                    self.spec.kind, self.spec.entries, self.spec.key_size, self.spec.value_size
                ),
            ),
            ("kernel", self.model.to_string()),
            ("struct sizes", sizes_source(&self.model)),
            ("naive (lab)", format!("{} ({} B)", format_bytes(self.naive_bytes), self.naive_bytes)),
            (
                "model (memlock)",
                format!("{} ({} B){}", format_bytes(self.model_bytes), self.model_bytes, inexact(self.exact)),
            ),
        ];
        if !self.spec.prealloc {
            pairs.insert(1, ("prealloc", format!("no, {} live elements", self.spec.filled)));
        }
        human_with_terms(&pairs, &self.terms, &self.notes)
    }
}

/// The ring for a rate (`rate` set), or the cost of a ring of a given size.
#[derive(Debug, Clone, Serialize)]
pub struct RingEstimate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffer_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_bytes: Option<u64>,
    /// A size mix (`LO..HI` or `S1:W1,...`): `event_size` is then its mean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_size_mix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_record_bytes: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naive_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_bytes: Option<u64>,
    /// The ring whose memory is reported: the recommended one, or `--size`.
    pub size: u64,
    #[serde(flatten)]
    pub model: ModelInfo,
    pub exact: bool,
    pub memlock_bytes: u64,
    pub terms: Vec<Term>,
    pub notes: Vec<String>,
    /// The layout's rings and buffers on the node (`--layout`).
    #[serde(flatten)]
    pub layout_cost: Option<LayoutCost>,
}

impl RingEstimate {
    /// The cost of `layout` with rings of this estimate's size on the
    /// model's node; perf buffers of `perf_pages` pages, or (none given) of
    /// the ring's size in pages.
    pub fn with_layout(mut self, model: &Model, layout: Layout, perf_pages: Option<u32>) -> anyhow::Result<Self> {
        let pages = perf_pages.unwrap_or(((self.size / model.host.page_size).max(1)) as u32);
        self.layout_cost = Some(layout_cost(model, layout, self.size, pages)?);
        Ok(self)
    }
}

/// The ring buffer a rate needs, and what the kernel charges for it.
pub fn ring_for_rate(model: &Model, rate: f64, event_size: u64, seconds: f64) -> anyhow::Result<RingEstimate> {
    let plan = RingPlan::new(model, rate, event_size, seconds)?;
    let figure = model.ring(plan.recommended_bytes)?;
    Ok(RingEstimate {
        rate: Some(rate),
        event_size: Some(event_size),
        buffer_seconds: Some(seconds),
        record_bytes: Some(plan.record_bytes),
        naive_bytes: Some(plan.naive_bytes),
        recommended_bytes: Some(plan.recommended_bytes),
        ..ring_report(model, plan.recommended_bytes, figure)
    })
}

/// The ring buffer a rate of events of `sizes` needs: one size, or a mix.
pub fn ring_for_sizes(model: &Model, rate: f64, sizes: &EventSizes, seconds: f64) -> anyhow::Result<RingEstimate> {
    match sizes {
        EventSizes::Fixed(size) => ring_for_rate(model, rate, (*size).into(), seconds),
        mix => ring_for_mix(model, rate, mix, seconds),
    }
}

/// The ring buffer a rate of mixed-size events needs: the lab's formula
/// with the mean event size, the recommendation with the mean record (each
/// event's header and alignment counted), never below the largest record.
pub fn ring_for_mix(model: &Model, rate: f64, mix: &EventSizes, seconds: f64) -> anyhow::Result<RingEstimate> {
    let formula = RingFormula::of(mix);
    // The input checks of a single size, at the mix's mean.
    RingPlan::new(model, rate, formula.mean_event_size.round() as u64, seconds)?;
    let recommended = formula.recommended_bytes(rate, seconds, model.host.page_size);
    if recommended > MAX_RING_BYTES {
        anyhow::bail!(
            "{rate} events/s of {mix} for {seconds} s need a ring of {}, more than the kernel's largest (2 GiB): lower the rate, the sizes or the buffer seconds",
            format_bytes(recommended)
        );
    }
    let figure = model.ring(recommended)?;
    Ok(RingEstimate {
        rate: Some(rate),
        event_size: Some(formula.mean_event_size.round() as u64),
        buffer_seconds: Some(seconds),
        record_bytes: Some(formula.mean_record_bytes.ceil() as u64),
        event_size_mix: Some(mix.to_string()),
        mean_record_bytes: Some(formula.mean_record_bytes),
        naive_bytes: Some(formula.lab_bytes(rate, seconds)),
        recommended_bytes: Some(recommended),
        ..ring_report(model, recommended, figure)
    })
}

/// What the kernel charges for a ring of `size` bytes.
pub fn ring_of_size(model: &Model, size: u64) -> anyhow::Result<RingEstimate> {
    let figure = model.ring(size)?;
    Ok(ring_report(model, size, figure))
}

fn ring_report(model: &Model, size: u64, figure: Figure) -> RingEstimate {
    RingEstimate {
        rate: None,
        event_size: None,
        buffer_seconds: None,
        record_bytes: None,
        event_size_mix: None,
        mean_record_bytes: None,
        naive_bytes: None,
        recommended_bytes: None,
        size,
        model: ModelInfo::of(model),
        exact: figure.exact,
        memlock_bytes: figure.bytes,
        terms: figure.terms,
        notes: figure.notes,
        layout_cost: None,
    }
}

/// Ring sizes for a rate: the lab's and the corrected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingPlan {
    pub record_bytes: u64,
    pub naive_bytes: u64,
    pub recommended_bytes: u64,
}

impl RingPlan {
    /// Checks the inputs and that the kernel can make the ring.
    pub fn new(model: &Model, rate: f64, event_size: u64, seconds: f64) -> anyhow::Result<Self> {
        if !(rate.is_finite() && rate > 0.0) {
            anyhow::bail!("the rate must be a positive number of events per second");
        }
        if event_size == 0 {
            anyhow::bail!("the event size must be at least 1 byte");
        }
        if !(seconds.is_finite() && seconds > 0.0) {
            anyhow::bail!("the buffer seconds must be positive");
        }
        let formula = RingFormula::fixed(event_size);
        let recommended_bytes = formula.recommended_bytes(rate, seconds, model.host.page_size);
        if recommended_bytes > MAX_RING_BYTES {
            anyhow::bail!(
                "{} events/s of {event_size} B for {seconds} s need a ring of {}, more than the kernel's largest (2 GiB): lower the rate, the event size or the buffer seconds",
                rate,
                format_bytes(recommended_bytes)
            );
        }
        Ok(Self {
            record_bytes: formula.largest_record_bytes,
            naive_bytes: formula.lab_bytes(rate, seconds),
            recommended_bytes,
        })
    }
}

impl Report for RingEstimate {
    fn human(&self) -> String {
        let mut pairs = Vec::new();
        if let (Some(rate), Some(size), Some(seconds)) = (self.rate, self.event_size, self.buffer_seconds) {
            pairs.push(("workload", format!("{rate} events/s × {size} B for {seconds} s")));
            match (&self.event_size_mix, self.mean_record_bytes) {
                (Some(mix), Some(mean)) => {
                    pairs.push(("event sizes", format!("{mix} (mean event {size} B)")));
                    pairs.push(("record", format!("{mean:.1} B on average (8-byte header, each rounded up to 8)")));
                }
                _ => pairs
                    .push(("record", format!("{} B (8-byte header, rounded up to 8)", self.record_bytes.unwrap_or(0)))),
            }
            pairs.push(("naive ring (lab)", format_bytes(self.naive_bytes.unwrap_or(0))));
            pairs.push(("recommended ring", format_bytes(self.recommended_bytes.unwrap_or(0))));
        } else {
            pairs.push(("ring", format!("{} ({} B)", format_bytes(self.size), self.size)));
        }
        pairs.push(("kernel", self.model.to_string()));
        pairs.push(("struct sizes", sizes_source(&self.model)));
        pairs.push((
            "memlock",
            format!("{} ({} B){}", format_bytes(self.memlock_bytes), self.memlock_bytes, inexact(self.exact)),
        ));
        if let Some(cost) = &self.layout_cost {
            pairs.push(("layout", format!("{} ({} ring(s) or buffers)", cost.layout, cost.rings)));
            if let Some(ring) = cost.per_ring_bytes {
                pairs.push(("per ring", format!("{} ({ring} B memlock)", format_bytes(ring))));
            }
            if cost.outer_map_bytes > 0 {
                pairs.push((
                    "outer map",
                    format!("{} B memlock (array of maps / perf event array)", cost.outer_map_bytes),
                ));
            }
            if let Some(buffers) = cost.buffer_bytes {
                pairs.push((
                    "perf buffers",
                    format!("{} ({buffers} B; (pages + 1) × page per CPU, not map memory)", format_bytes(buffers)),
                ));
            }
            pairs.push(("total", format!("{} ({} B)", format_bytes(cost.total_bytes), cost.total_bytes)));
        }
        human_with_terms(&pairs, &self.terms, &self.notes)
    }
}

/// Where the struct sizes came from: a BTF file or capacity's table.
fn sizes_source(model: &ModelInfo) -> String {
    model.btf.clone().unwrap_or_else(|| "none needed (one formula before 6.4)".into())
}

fn inexact(exact: bool) -> &'static str {
    if exact {
        ""
    } else {
        ", not exact"
    }
}

fn human_with_terms(pairs: &[(&str, String)], terms: &[Term], notes: &[String]) -> String {
    let mut out = key_values(pairs);
    let mut table = Table::new(["bytes", "term", "kernel function"]);
    for term in terms {
        table.row([term.bytes.to_string(), term.what.clone(), term.from.to_string()]);
    }
    out.push('\n');
    out.push_str(&table.render());
    for note in notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

#[cfg(test)]
mod mix_tests {
    use super::*;
    use crate::memory::{host::Host, model::Accounting};

    #[test]
    fn a_mix_is_planned_from_its_mean_record() {
        let model = Model::with(
            "6.18".parse().unwrap(),
            Host { cpus: 2, page_size: 4096 },
            Accounting::PerType(super::super::model::Layout::reference()),
        );
        // 64:70,512:25,4096:5 → mean record 384.8125 B: 10k/s × 5 s × 1.2 = 23.1 MB → 32 MiB;
        // the lab's mean event (376.8 B) gives 22.6 MB → 32 MiB too.
        let mix: EventSizes = "64:70,512:25,4096:5".parse().unwrap();
        let r = ring_for_mix(&model, 10_000.0, &mix, 5.0).unwrap();
        assert_eq!(r.recommended_bytes, Some(32 << 20));
        assert_eq!(r.naive_bytes, Some(32 << 20));
        assert_eq!(r.event_size, Some(377));
        // A slow mix still needs room for its largest record.
        let r = ring_for_mix(&model, 1.0, &mix, 1.0).unwrap();
        assert_eq!(r.recommended_bytes, Some(8192));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MapKind;
    use crate::memory::{host::Host, model::Accounting};

    fn model_6_1() -> Model {
        Model::with(KernelVersion::new(6, 1, 0), Host { cpus: 2, page_size: 4096 }, Accounting::Footprint)
    }

    #[test]
    fn map_estimates_carry_both_figures() {
        let e = map(&model_6_1(), MapSpec::new(MapKind::Hash, 1000, 8, 8)).unwrap();
        assert_eq!(e.naive_bytes, 80_000);
        assert_eq!(e.model_bytes, 16_384);
        assert!(e.exact);
        let json = serde_json::to_value(&e).unwrap();
        for field in
            ["type", "entries", "key_size", "value_size", "cpus", "kernel", "exact", "naive_bytes", "model_bytes"]
        {
            assert!(json.get(field).is_some(), "missing {field} in {json}");
        }
        assert_eq!(json["type"], "hash");
        assert_eq!(json["kernel"], "6.1.0");
    }

    #[test]
    fn ring_estimates_for_a_rate() {
        let e = ring_for_rate(&model_6_1(), 1000.0, 100, 5.0).unwrap();
        assert_eq!(e.record_bytes, Some(112));
        assert_eq!(e.naive_bytes, Some(1 << 20));
        assert_eq!(e.recommended_bytes, Some(1 << 20));
        assert_eq!(e.memlock_bytes, 0, "6.1 reports 0 for ring buffers");
        let json = serde_json::to_value(&e).unwrap();
        for field in [
            "rate", "event_size", "buffer_seconds", "record_bytes", "naive_bytes", "recommended_bytes", "memlock_bytes",
        ] {
            assert!(json.get(field).is_some(), "missing {field} in {json}");
        }
    }

    #[test]
    fn ring_estimates_of_a_size_have_only_size_fields() {
        let e = ring_of_size(&model_6_1(), 1 << 16).unwrap();
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["size"], 65_536);
        assert!(json.get("rate").is_none());
        assert!(ring_of_size(&model_6_1(), 12_288).is_err());
    }

    #[test]
    fn rings_beyond_the_kernels_limit_are_refused() {
        let err = RingPlan::new(&model_6_1(), 10e6, 4096, 60.0).unwrap_err().to_string();
        assert!(err.contains("2 GiB"), "{err}");
    }
}
