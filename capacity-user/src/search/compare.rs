//! `capacity compare`: the layouts side by side at one rate, each at the
//! largest size its memory budget buys (or, `--smallest`, at its own
//! smallest size that holds the workload), with what each one dropped,
//! how full it got, what its consumer spent and what it costs.
use std::sync::atomic::{AtomicBool, Ordering};

use capacity_common::MAX_RING_BYTES;
use serde::Serialize;

use super::{
    rate::judge,
    size::{self, SizeLimit, SizeResult, SizeSpec},
};
use crate::{
    layout::{perf_record_bytes, Layout, MAX_PERF_PAGES},
    memory::{
        layout_cost::{layout_cost, LayoutCost},
        model::Model,
    },
    output::{Report, Table},
    progress::Progress,
    run::{run_fixed_rate, RunConfig, RunResult},
    units::{format_bytes, format_rate},
};

/// Seconds of events `size`'s formulas buffer; compare shows none of them.
const BUFFER_SECONDS: f64 = 5.0;

#[derive(Debug, Clone)]
pub struct CompareSpec {
    pub layouts: Vec<Layout>,
    /// The budget each layout's total memory must stay within; None: what
    /// the shared ring of the workload's `ringbuf_size` costs.
    pub memory: Option<u64>,
    /// Each layout at its smallest holding size (`size`'s search) instead
    /// of the budget's largest.
    pub smallest: bool,
    /// `smallest`: the largest size searched, each ring's bytes or each
    /// CPU's perf buffer's data bytes.
    pub max: u64,
    /// The workload, its rate and duration (a search's step) included; the
    /// layout and its size are set per row.
    pub workload: RunConfig,
}

/// One layout's row.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub layout: Layout,
    /// Bytes of each ring, or of each CPU's perf buffer's data pages; null
    /// when `--smallest` found no size up to `--max` that holds.
    pub size: Option<u64>,
    /// Perf: the data pages per CPU; null otherwise.
    pub perf_pages: Option<u32>,
    pub drops: u64,
    pub drop_rate: f64,
    pub peak_occupancy_bytes: u64,
    pub consumer_ns_per_event: Option<f64>,
    pub p99_ns: u64,
    /// Everything the layout costs on this machine (`estimate ringbuf
    /// --layout`'s `total_bytes`); null with `size`.
    pub memory_bytes: Option<u64>,
    /// How the memory is made up.
    pub memory: Option<LayoutCost>,
    /// `--smallest`: trials the size search ran (null: the budget's size).
    pub sizes_tried: Option<u32>,
    /// `--smallest`: the answer passed its confirmation runs in a row.
    pub confirmed: Option<bool>,
    /// `--smallest`: why no size holds (`consumer` or `producer`), null
    /// when one does (and without `--smallest`).
    pub limited_by: Option<SizeLimit>,
    /// The run the figures are from, as `capacity load` reports it: the
    /// budget's run; with `--smallest`, the last passing confirmation run
    /// at the answer (no answer: the search's last run).
    pub run: RunResult,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompareResult {
    pub rate: f64,
    /// The budget (null with `--smallest`).
    pub memory_budget_bytes: Option<u64>,
    pub smallest: bool,
    pub layouts: Vec<CompareRow>,
    pub interrupted: bool,
}

/// A layout at one size: the ring's bytes, or the perf buffer's pages.
#[derive(Debug, Clone, Copy)]
struct Sized {
    ring: u64,
    pages: u32,
}

/// The sizes a layout can take, smallest first.
fn candidates(layout: Layout, page: u64, largest_event: u64) -> Vec<Sized> {
    match layout {
        Layout::Perf => (0..=MAX_PERF_PAGES.ilog2())
            .map(|p| Sized { ring: page, pages: 1 << p })
            .filter(|s| u64::from(s.pages) * page >= perf_record_bytes(largest_event))
            .collect(),
        _ => (page.ilog2()..=MAX_RING_BYTES.ilog2())
            .map(|p| Sized { ring: 1 << p, pages: 1 })
            .filter(|s| s.ring >= capacity_common::record_bytes(largest_event))
            .collect(),
    }
}

fn cost(model: &Model, layout: Layout, size: Sized) -> anyhow::Result<LayoutCost> {
    layout_cost(model, layout, size.ring, size.pages)
}

/// Runs every layout of `spec` on this machine (`model` its memory).
pub fn compare(spec: &CompareSpec, model: &Model, stop: &AtomicBool) -> anyhow::Result<CompareResult> {
    if spec.smallest {
        return smallest(spec, model, stop);
    }
    let page = model.host.page_size;
    let largest_event = spec.workload.event_sizes.largest().into();
    let budget = match spec.memory {
        Some(bytes) => bytes,
        None => layout_cost(model, Layout::Shared, spec.workload.ringbuf_size, 1)?.total_bytes,
    };
    // Every layout's size first, so that a budget too small fails before any run.
    let mut plans = Vec::new();
    for &layout in &spec.layouts {
        let sizes = candidates(layout, page, largest_event);
        let mut fitting = None;
        for &size in &sizes {
            if cost(model, layout, size)?.total_bytes <= budget {
                fitting = Some(size);
            }
        }
        let Some(size) = fitting else {
            let least = sizes.first().map(|&s| cost(model, layout, s)).transpose()?;
            anyhow::bail!(
                "--memory {budget} cannot hold layout {layout} on this machine: its smallest costs {} B; raise --memory",
                least.map_or(0, |c| c.total_bytes)
            );
        };
        plans.push((layout, size));
    }
    let progress = Progress::new(None);
    let mut rows = Vec::new();
    let mut interrupted = false;
    for (layout, size) in plans {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let config = RunConfig { layout, ringbuf_size: size.ring, perf_pages: size.pages, ..spec.workload.clone() };
        progress.running(format!("{layout} at {}", describe(layout, size, page)));
        let run = run_fixed_rate(&config, stop)?;
        if run.interrupted {
            interrupted = true;
            break;
        }
        progress.finished(format!(
            "{layout:<12} {:<14} drops {:.4}%, consumer {}{}",
            describe(layout, size, page),
            run.drop_rate * 100.0,
            format_rate(run.consumed_per_s),
            if judge(&run, 0.0).is_none() { "" } else { " (dropped or below the rate)" }
        ));
        let memory = cost(model, layout, size)?;
        rows.push(CompareRow {
            layout,
            size: Some(if layout == Layout::Perf { u64::from(size.pages) * page } else { size.ring }),
            perf_pages: (layout == Layout::Perf).then_some(size.pages),
            memory_bytes: Some(memory.total_bytes),
            memory: Some(memory),
            sizes_tried: None,
            confirmed: None,
            limited_by: None,
            ..figures(run)
        });
    }
    Ok(CompareResult {
        rate: spec.workload.rate,
        memory_budget_bytes: Some(budget),
        smallest: false,
        layouts: rows,
        interrupted,
    })
}

/// A row's figures from `run`, the rest empty.
fn figures(run: RunResult) -> CompareRow {
    CompareRow {
        layout: run.layout,
        size: None,
        perf_pages: None,
        drops: run.dropped,
        drop_rate: run.drop_rate,
        peak_occupancy_bytes: run.peak_occupancy_bytes,
        consumer_ns_per_event: run.consumer_ns_per_event,
        p99_ns: run.latency_ns.p99,
        memory_bytes: None,
        memory: None,
        sizes_tried: None,
        confirmed: None,
        limited_by: None,
        run,
    }
}

/// `--smallest`: `size`'s search per layout (largest first, bisection,
/// the answer confirmed by passes in a row), from one page to `spec.max`.
fn smallest(spec: &CompareSpec, model: &Model, stop: &AtomicBool) -> anyhow::Result<CompareResult> {
    let searches: Vec<SizeSpec> = spec
        .layouts
        .iter()
        .map(|&layout| SizeSpec {
            min: model.host.page_size,
            max: spec.max,
            max_drop_rate: 0.0,
            step_duration: spec.workload.duration,
            buffer_seconds: BUFFER_SECONDS,
            workload: RunConfig { layout, ..spec.workload.clone() },
        })
        .collect();
    // Every layout's settings first, so that a bad one fails before any run.
    let valid = searches.iter().map(size::validate).collect::<Result<Vec<_>, _>>()?;
    let progress = Progress::new(None);
    let mut rows = Vec::new();
    let mut interrupted = false;
    for search in valid {
        let layout = search.workload.layout;
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let result = size::size_within(search, model, stop, &progress, &format!("{layout:<12} "))?;
        // An interrupted search has no answer to show.
        if result.interrupted {
            interrupted = true;
            break;
        }
        if let Some(row) = searched_row(model, result)? {
            rows.push(row);
        }
    }
    Ok(CompareResult {
        rate: spec.workload.rate,
        memory_budget_bytes: None,
        smallest: true,
        layouts: rows,
        interrupted,
    })
}

/// A layout's row from its search: the answer, its memory, and the last
/// passing confirmation run at it; without an answer, the search's last
/// run and why. None when the search ran nothing.
fn searched_row(model: &Model, result: SizeResult) -> anyhow::Result<Option<CompareRow>> {
    let SizeResult { layout, min_ringbuf_size: answer, min_perf_pages, confirmed, limited_by, trials, .. } = result;
    let sizes_tried = trials.len() as u32;
    let passed_at_answer = |t: &&size::SizeTrial| t.passed && Some(t.run.ringbuf_size) == answer;
    let shown = trials
        .iter()
        .rev()
        .find(|t| t.confirmation && passed_at_answer(t))
        .or_else(|| trials.iter().rev().find(passed_at_answer))
        .or(trials.last());
    let Some(shown) = shown else { return Ok(None) };
    let memory = answer.map(|size| layout_cost(model, layout, size, min_perf_pages.unwrap_or(1))).transpose()?;
    Ok(Some(CompareRow {
        layout,
        size: answer,
        perf_pages: min_perf_pages,
        memory_bytes: memory.as_ref().map(|m| m.total_bytes),
        memory,
        sizes_tried: Some(sizes_tried),
        confirmed: Some(confirmed),
        limited_by,
        ..figures(shown.run.clone())
    }))
}

fn describe(layout: Layout, size: Sized, page: u64) -> String {
    match layout {
        Layout::Perf => format!("{} pages ({})", size.pages, format_bytes(u64::from(size.pages) * page)),
        _ => format_bytes(size.ring),
    }
}

impl Report for CompareResult {
    fn human(&self) -> String {
        let mut table =
            Table::new(["layout", "size", "drops", "drop rate", "peak", "consumer ns/event", "p99 latency", "memory"]);
        for r in &self.layouts {
            let size = match (r.size, r.perf_pages, r.limited_by) {
                (Some(_), Some(pages), _) => format!("{pages} pages/CPU"),
                (Some(size), None, _) => format!("{}/ring", format_bytes(size)),
                (None, _, Some(limit)) => format!("none: {limit}"),
                (None, _, None) => "none".into(),
            };
            table.row([
                format!("{} ({})", r.layout, r.run.rings),
                size,
                r.drops.to_string(),
                format!("{:.4}%", r.drop_rate * 100.0),
                format_bytes(r.peak_occupancy_bytes),
                r.consumer_ns_per_event.map_or("-".into(), |c| format!("{c:.1}")),
                format!("{} us", r.p99_ns / 1000),
                r.memory_bytes.map_or("-".into(), format_bytes),
            ]);
        }
        let mut out = match self.memory_budget_bytes {
            Some(budget) => format!(
                "at {}, each layout at the largest size costing at most {} ({budget} B)\n\n",
                format_rate(self.rate),
                format_bytes(budget)
            ),
            None => format!(
                "at {}, each layout at its smallest size without drops (size's search, confirmed by 3 passes)\n\n",
                format_rate(self.rate)
            ),
        };
        out.push_str(&table.render());
        if self.interrupted {
            out.push_str("interrupted: partial result\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kernel::KernelVersion, memory::host::Host};

    #[test]
    fn candidates_start_where_one_record_fits() {
        let rings = candidates(Layout::PerCpus(1), 4096, 64);
        assert_eq!(rings.first().map(|s| s.ring), Some(4096));
        assert_eq!(rings.last().map(|s| s.ring), Some(MAX_RING_BYTES));
        let perf = candidates(Layout::Perf, 4096, 8192);
        assert_eq!(perf.first().map(|s| s.pages), Some(4), "8208 bytes need 3 pages, so 4");
    }

    #[test]
    fn the_budget_buys_each_layout_its_largest_fitting_size() {
        // The 6.18 host's own accounting (capacity's table of known kernels).
        let model = Model::new(Some(KernelVersion::new(6, 18, 0)), None, Host { cpus: 4, page_size: 4096 }).unwrap();
        let budget = layout_cost(&model, Layout::Shared, 8 << 20, 1).unwrap().total_bytes;
        for layout in [Layout::Shared, Layout::PerCpus(1), Layout::PerCpus(2), Layout::Perf] {
            let sizes = candidates(layout, 4096, 64);
            let fits: Vec<_> =
                sizes.iter().filter(|&&s| cost(&model, layout, s).unwrap().total_bytes <= budget).collect();
            let largest = fits.last().expect("a size fits");
            let next = sizes[fits.len()];
            assert!(cost(&model, layout, next).unwrap().total_bytes > budget, "{layout}: the next size is over");
            if layout == Layout::PerCpus(1) {
                assert_eq!(largest.ring, 1 << 20, "four rings of 2 MiB are over 8 MiB with their pages");
            }
        }
    }
}
