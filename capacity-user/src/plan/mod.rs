//! `capacity report`: the lab's capacity plan for one workload. Ring size,
//! map memory, CPU cores and total memory, now and after growth, each by
//! the lab's formula and by the model of the kernel's accounting, and the
//! headroom left in the memory budget.
use serde::Serialize;

use crate::{
    memory::{
        estimate::{ModelInfo, RingPlan},
        model::Model,
        MapSpec,
    },
    output::{key_values, Report, Table},
    units::{format_bytes, format_rate},
};

pub mod check;
pub mod measure;
pub mod workload;

use check::Check;
use workload::{CpuCosts, GrowsWith, Growth, Redundancy, Workload};

/// The lab's CPU target: plan cores so they are 70% busy.
pub const TARGET_UTILISATION: f64 = 0.70;

/// How much of the memory budget a plan uses: the shared levels.
pub use crate::pressure::Level;

#[derive(Debug, Clone, Serialize)]
pub struct RingLine {
    pub record_bytes: u64,
    pub naive_bytes: u64,
    pub recommended_bytes: u64,
    /// What the kernel charges for the recommended ring.
    pub memlock_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MapLine {
    pub name: String,
    #[serde(flatten)]
    pub spec: MapSpec,
    pub naive_bytes: u64,
    pub model_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CpuLine {
    pub kernel_ns_per_event: f64,
    pub consumer_ns_per_event: f64,
    /// Cores the events keep busy.
    pub busy_cores: f64,
    /// Cores at the target utilisation.
    pub cores: f64,
    /// Whole cores to provision.
    pub cores_needed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// The lab's ring plus the lab's maps.
    pub naive_bytes: u64,
    /// The kernel's figure for the recommended ring plus the maps.
    pub model_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Headroom {
    pub budget_bytes: u64,
    /// The model's total as a share of the budget.
    pub used_pct: f64,
    pub level: Level,
}

/// The plan at one rate and map size: now, or after growth.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub events_per_second: f64,
    pub event_size: u64,
    pub buffer_seconds: f64,
    pub ring: RingLine,
    pub maps: Vec<MapLine>,
    /// Null without per-event costs (give `[cpu]` or use `--measure`).
    pub cpu: Option<CpuLine>,
    pub memory: Totals,
    pub headroom: Headroom,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub workload: String,
    #[serde(flatten)]
    pub model: ModelInfo,
    /// Every kernel figure in the plan is the modelled kernel's own.
    pub exact: bool,
    pub growth: Growth,
    pub target_utilisation: f64,
    /// `given` (the workload file), `measured` (`--measure`) or null.
    pub cpu_source: Option<&'static str>,
    pub now: Scenario,
    pub grown: Scenario,
    /// `nodes` and `spare` of the workload, null without N+1 planning.
    pub redundancy: Option<Redundancy>,
    /// N+1: the grown plan for one node carrying its share of the lost
    /// nodes' load (rate and connections × nodes / (nodes − spare)).
    pub failover: Option<Scenario>,
    /// How events arrive (the workload's `arrivals` or `profile`).
    pub arrivals: String,
    /// `--measure`: the smallest ring that held the load on this host.
    pub measured_ring: Option<crate::search::size::SizeResult>,
    /// The load run of `--measure`.
    pub check: Option<Check>,
    pub notes: Vec<String>,
}

/// The plan for `workload` under `model`, with per-event costs from the
/// workload file or, when given, a measurement.
pub fn build(workload: &Workload, model: &Model, measured: Option<CpuCosts>) -> anyhow::Result<Plan> {
    let (costs, cpu_source) = match (measured, workload.cpu) {
        (Some(costs), _) => (Some(costs), Some("measured")),
        (None, Some(costs)) => (Some(costs), Some("given")),
        (None, None) => (None, None),
    };
    let mut exact = true;
    let mut notes = model.notes.clone();
    let now = scenario(workload, model, Growth { events: 1.0, connections: 1.0 }, costs, &mut exact, &mut notes)?;
    let grown = scenario(workload, model, workload.growth, costs, &mut exact, &mut notes)?;
    let failover = workload
        .redundancy
        .map(|r| scenario(workload, model, failover_growth(workload.growth, r), costs, &mut exact, &mut notes))
        .transpose()?;
    match cpu_source {
        None => notes.push("no per-event CPU costs: add a [cpu] table to the workload or run with --measure".into()),
        Some("measured") => notes.push(
            "CPU costs are measured with this tool's own program and consumer on this host: add the workload's consumer work to them".into(),
        ),
        Some(_) => {}
    }
    notes.dedup();
    Ok(Plan {
        workload: workload.name.clone(),
        model: ModelInfo::of(model),
        exact,
        growth: workload.growth,
        target_utilisation: TARGET_UTILISATION,
        cpu_source,
        now,
        grown,
        redundancy: workload.redundancy,
        failover,
        arrivals: workload.arrivals.to_string(),
        measured_ring: None,
        check: None,
        notes,
    })
}

fn scenario(
    workload: &Workload,
    model: &Model,
    growth: Growth,
    costs: Option<CpuCosts>,
    exact: &mut bool,
    notes: &mut Vec<String>,
) -> anyhow::Result<Scenario> {
    let rate = workload.events_per_second * growth.events;
    let ring = RingPlan::new(model, rate, workload.event_size, workload.buffer_seconds)?;
    let ring_figure = model.ring(ring.recommended_bytes)?;
    *exact &= ring_figure.exact;
    notes.extend(ring_figure.notes);
    let mut maps = Vec::new();
    for map in &workload.maps {
        let factor = match map.grows_with {
            GrowsWith::Connections => growth.connections,
            GrowsWith::Events => growth.events,
            GrowsWith::None => 1.0,
        };
        let spec = grow(&map.spec, factor);
        let figure = model.map(&spec).map_err(|e| anyhow::anyhow!("map `{}`: {e}", map.name))?;
        *exact &= figure.exact;
        notes.extend(figure.notes);
        maps.push(MapLine { name: map.name.clone(), spec, naive_bytes: spec.naive_bytes(), model_bytes: figure.bytes });
    }
    let memory = Totals {
        naive_bytes: ring.naive_bytes + maps.iter().map(|m| m.naive_bytes).sum::<u64>(),
        model_bytes: ring_figure.bytes + maps.iter().map(|m| m.model_bytes).sum::<u64>(),
    };
    let used_pct = memory.model_bytes as f64 * 100.0 / workload.memory_budget as f64;
    Ok(Scenario {
        events_per_second: rate,
        event_size: workload.event_size,
        buffer_seconds: workload.buffer_seconds,
        ring: RingLine {
            record_bytes: ring.record_bytes,
            naive_bytes: ring.naive_bytes,
            recommended_bytes: ring.recommended_bytes,
            memlock_bytes: ring_figure.bytes,
        },
        maps,
        cpu: costs.map(|c| cpu_line(rate, c)),
        memory,
        headroom: Headroom { budget_bytes: workload.memory_budget, used_pct, level: Level::of(used_pct) },
    })
}

/// Growth for one node of N when S are lost: their events and connections
/// move to the N − S left, on top of the workload's own growth.
pub fn failover_growth(growth: Growth, redundancy: Redundancy) -> Growth {
    let f = redundancy.factor();
    Growth { events: growth.events * f, connections: growth.connections * f }
}

/// A map with its entries (and live elements) scaled by `factor`, rounded up.
fn grow(spec: &MapSpec, factor: f64) -> MapSpec {
    let scale = |n: u32| (f64::from(n) * factor).ceil().min(f64::from(u32::MAX)) as u32;
    MapSpec { entries: scale(spec.entries), filled: scale(spec.filled), ..*spec }
}

pub fn cpu_line(rate: f64, costs: CpuCosts) -> CpuLine {
    let busy_cores = rate * (costs.kernel_ns_per_event + costs.consumer_ns_per_event) / 1e9;
    let cores = busy_cores / TARGET_UTILISATION;
    CpuLine {
        kernel_ns_per_event: costs.kernel_ns_per_event,
        consumer_ns_per_event: costs.consumer_ns_per_event,
        busy_cores,
        cores,
        // A hair of tolerance so 2.0000000001 cores is 2, not 3.
        cores_needed: ((cores - 1e-9).ceil().max(1.0)) as u64,
    }
}

impl Report for Plan {
    fn human(&self) -> String {
        let m = &self.model;
        let mut out = key_values(&[
            ("workload", self.workload.clone()),
            ("kernel", m.to_string()),
            ("growth", format!("events ×{}, connections ×{}", self.growth.events, self.growth.connections)),
        ]);
        let failover_head = self.redundancy.map(|r| format!("{} of {} nodes lost", r.spare, r.nodes));
        let mut table = Table::new(
            ["".to_string(), "now".to_string(), "after growth".to_string()].into_iter().chain(failover_head),
        );
        let mut row = |label: &str, f: &dyn Fn(&Scenario) -> String| {
            let cells =
                [Some(label.to_string()), Some(f(&self.now)), Some(f(&self.grown)), self.failover.as_ref().map(f)];
            table.row(cells.into_iter().flatten());
        };
        row("events", &|s| format!("{} × {} B", format_rate(s.events_per_second), s.event_size));
        row("ring (lab)", &|s| format_bytes(s.ring.naive_bytes));
        row("ring (recommended)", &|s| {
            format!("{} ({} B records)", format_bytes(s.ring.recommended_bytes), s.ring.record_bytes)
        });
        row("ring memlock", &|s| format_bytes(s.ring.memlock_bytes));
        for (i, map) in self.now.maps.iter().enumerate() {
            let label = format!("map {} ({})", map.name, map.spec.kind);
            row(&label, &|s| {
                let m = &s.maps[i];
                format!(
                    "{} entries: {} (lab {})",
                    m.spec.entries,
                    format_bytes(m.model_bytes),
                    format_bytes(m.naive_bytes)
                )
            });
        }
        row("CPU cores", &|s| {
            s.cpu.as_ref().map_or("-".into(), |c| {
                format!("{} ({:.2} at {:.0}%)", c.cores_needed, c.cores, TARGET_UTILISATION * 100.0)
            })
        });
        row("memory (lab)", &|s| format_bytes(s.memory.naive_bytes));
        row("memory (model)", &|s| format_bytes(s.memory.model_bytes));
        row("budget used", &|s| {
            format!("{:.1}% of {}: {}", s.headroom.used_pct, format_bytes(s.headroom.budget_bytes), s.headroom.level)
        });
        out.push('\n');
        out.push_str(&table.render());
        if let Some(check) = &self.check {
            out.push('\n');
            out.push_str(&check.human());
        }
        if let Some(size) = &self.measured_ring {
            out.push('\n');
            out.push_str(&key_values(&[(
                "measured ring",
                match size.min_ringbuf_size {
                    Some(ring) => format!(
                        "{} held {} ({} arrivals){}; the plan recommends {}",
                        format_bytes(ring),
                        format_rate(size.rate),
                        self.arrivals,
                        if size.confirmed { ", confirmed" } else { ", not confirmed" },
                        format_bytes(self.failover.as_ref().unwrap_or(&self.grown).ring.recommended_bytes)
                    ),
                    None => format!(
                        "no ring up to {} held {}: limited by the {}",
                        format_bytes(size.max),
                        format_rate(size.rate),
                        size.limited_by.map(|l| l.to_string()).unwrap_or_else(|| "interruption".into())
                    ),
                },
            )]));
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        kernel::KernelVersion,
        memory::{host::Host, model::Accounting},
    };

    fn model() -> Model {
        Model::with(KernelVersion::new(6, 1, 0), Host { cpus: 2, page_size: 4096 }, Accounting::Footprint)
    }

    fn workload() -> Workload {
        Workload::parse(
            r#"
            name = "t"
            events_per_second = 100000
            event_size = 104
            memory_budget = "512M"
            [cpu]
            kernel_ns_per_event = 300
            consumer_ns_per_event = 700
            [[maps]]
            name = "flows"
            type = "hash"
            entries = 1000
            key_size = 8
            value_size = 8
            [[maps]]
            name = "stats"
            type = "array"
            entries = 10
            key_size = 4
            value_size = 8
            "#,
        )
        .unwrap()
    }

    #[test]
    fn n_plus_one_plans_a_node_for_the_lost_nodes_load() {
        let mut w = workload();
        w.redundancy = Some(Redundancy { nodes: 4, spare: 1 });
        let plan = build(&w, &model(), None).unwrap();
        // Grown 150k/s; one of four lost: each of three carries 150k × 4 / 3.
        let failover = plan.failover.as_ref().expect("a failover scenario");
        assert_eq!(failover.events_per_second, 200_000.0);
        // Connections ×2 then ×4/3: 1000 → 2667 entries (rounded up).
        assert_eq!(failover.maps[0].spec.entries, 2667);
        assert_eq!(failover.maps[1].spec.entries, 10, "arrays do not grow");
        // 200k/s × 112 B × 5 × 1.2 = 134.4 MB -> 2^28, where the grown plan fits 2^27.
        assert_eq!(failover.ring.recommended_bytes, 1 << 28);
        assert_eq!(plan.grown.ring.recommended_bytes, 1 << 27);
        // 200k/s × 1000 ns = 0.2 busy cores.
        assert!((failover.cpu.as_ref().unwrap().busy_cores - 0.2).abs() < 1e-12);
        assert!(build(&workload(), &model(), None).unwrap().failover.is_none());
        let human = plan.human();
        assert!(human.contains("1 of 4 nodes lost"), "{human}");
    }

    #[test]
    fn growth_scales_the_rate_and_the_connection_maps() {
        let plan = build(&workload(), &model(), None).unwrap();
        assert_eq!(plan.now.events_per_second, 100_000.0);
        assert_eq!(plan.grown.events_per_second, 150_000.0);
        // 100k/s × 112 B × 5 × 1.2 = 67.2 MB -> 2^27; grown 100.8 MB -> 2^27
        assert_eq!(plan.now.ring.recommended_bytes, 1 << 27);
        assert_eq!(plan.now.ring.naive_bytes, 1 << 26);
        assert_eq!(plan.grown.maps[0].spec.entries, 2000, "hash maps grow with connections");
        assert_eq!(plan.grown.maps[1].spec.entries, 10, "arrays do not grow");
        // 6.1: round_up(2000 × 16, 4096) = 32 768; round_up(10 × round_up(4 + 8, 8), 4096)
        assert_eq!(plan.grown.maps[0].model_bytes, 32_768);
        assert_eq!(plan.grown.maps[1].model_bytes, 4096);
        assert_eq!(plan.grown.maps[0].naive_bytes, 2000 * 80);
        // 100k/s × 1000 ns = 0.1 busy cores -> 0.142857 at 70%; grown 0.15 -> 0.214
        let cpu = plan.grown.cpu.as_ref().unwrap();
        assert!((cpu.busy_cores - 0.15).abs() < 1e-12);
        assert_eq!(cpu.cores_needed, 1);
        assert_eq!(plan.cpu_source, Some("given"));
        // 6.1 charges nothing for rings: the maps are the whole model total.
        assert_eq!(plan.grown.memory.model_bytes, 32_768 + 4096);
        assert_eq!(plan.grown.memory.naive_bytes, (1 << 27) + 2000 * 80 + 10 * 76);
        assert_eq!(plan.grown.headroom.level, Level::Healthy);
    }

    #[test]
    fn cores_round_up_at_the_target_utilisation() {
        let c = cpu_line(1_400_000.0, CpuCosts { kernel_ns_per_event: 500.0, consumer_ns_per_event: 500.0 });
        assert!((c.busy_cores - 1.4).abs() < 1e-12);
        assert!((c.cores - 2.0).abs() < 1e-12);
        assert_eq!(c.cores_needed, 2);
    }

    #[test]
    fn a_tight_budget_raises_the_level() {
        let mut w = workload();
        w.memory_budget = 36_000;
        let plan = build(&w, &model(), None).unwrap();
        assert_eq!(plan.grown.headroom.level, Level::Exhausted);
        assert!(plan.grown.headroom.used_pct > 100.0);
    }
}
