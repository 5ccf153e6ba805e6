//! `capacity compare`: the layouts side by side at one rate, each at the
//! largest size its memory budget buys (or, `--smallest`, at its own
//! smallest size that holds the workload), with what each one dropped,
//! how full it got, what its consumer spent and what it costs.
use std::sync::atomic::{AtomicBool, Ordering};

use capacity_common::MAX_RING_BYTES;
use serde::Serialize;

use super::rate::judge;
use crate::{
    layout::Layout,
    memory::{
        layout_cost::{layout_cost, LayoutCost},
        model::Model,
    },
    output::{Report, Table},
    progress::Progress,
    run::{run_fixed_rate, RunConfig, RunResult},
    units::{format_bytes, format_rate},
};

/// Largest perf buffer tried, in data pages (256 MiB of 4 KiB pages per CPU).
const MAX_PERF_PAGES: u32 = 1 << 16;

#[derive(Debug, Clone)]
pub struct CompareSpec {
    pub layouts: Vec<Layout>,
    /// The budget each layout's total memory must stay within; None: what
    /// the shared ring of the workload's `ringbuf_size` costs.
    pub memory: Option<u64>,
    /// Each layout at its smallest holding size instead of the budget's largest.
    pub smallest: bool,
    /// The workload, its rate and duration included; the layout and its
    /// size are set per row.
    pub workload: RunConfig,
}

/// One layout's row.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub layout: Layout,
    /// Bytes of each ring, or of each CPU's perf buffer's data pages.
    pub size: u64,
    /// Perf: the data pages per CPU; null otherwise.
    pub perf_pages: Option<u32>,
    pub drops: u64,
    pub drop_rate: f64,
    pub peak_occupancy_bytes: u64,
    pub consumer_ns_per_event: Option<f64>,
    pub p99_ns: u64,
    /// Everything the layout costs on this machine (`estimate ringbuf --layout`'s `total_bytes`).
    pub memory_bytes: u64,
    /// How the memory is made up.
    pub memory: LayoutCost,
    /// `--smallest`: sizes tried below this one dropped (null: the budget's size).
    pub sizes_tried: Option<u32>,
    /// The run itself, as `capacity load` reports it.
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
fn candidates(layout: Layout, page: u64, record: u64) -> Vec<Sized> {
    match layout {
        Layout::Perf => (0..=MAX_PERF_PAGES.ilog2())
            .map(|p| Sized { ring: page, pages: 1 << p })
            .filter(|s| u64::from(s.pages) * page >= record + 4)
            .collect(),
        _ => (page.ilog2()..=MAX_RING_BYTES.ilog2())
            .map(|p| Sized { ring: 1 << p, pages: 1 })
            .filter(|s| s.ring >= record)
            .collect(),
    }
}

fn cost(model: &Model, layout: Layout, size: Sized) -> anyhow::Result<LayoutCost> {
    layout_cost(model, layout, size.ring, size.pages)
}

/// Runs every layout of `spec` on this machine (`model` its memory).
pub fn compare(spec: &CompareSpec, model: &Model, stop: &AtomicBool) -> anyhow::Result<CompareResult> {
    let page = model.host.page_size;
    let record = capacity_common::record_bytes(spec.workload.event_sizes.largest().into());
    let budget = match (spec.smallest, spec.memory) {
        (true, _) => None,
        (false, Some(bytes)) => Some(bytes),
        (false, None) => Some(layout_cost(model, Layout::Shared, spec.workload.ringbuf_size, 1)?.total_bytes),
    };
    // Every layout's size first, so that a budget too small fails before any run.
    let mut plans = Vec::new();
    for &layout in &spec.layouts {
        let sizes = candidates(layout, page, record);
        let plan = match budget {
            Some(budget) => {
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
                vec![size]
            }
            None => sizes,
        };
        plans.push((layout, plan));
    }
    let progress = Progress::new(None);
    let mut rows = Vec::new();
    let mut interrupted = false;
    'layouts: for (layout, sizes) in plans {
        let mut tried = 0;
        let mut last = None;
        for size in sizes {
            if stop.load(Ordering::Relaxed) {
                interrupted = true;
                break 'layouts;
            }
            let config = RunConfig { layout, ringbuf_size: size.ring, perf_pages: size.pages, ..spec.workload.clone() };
            progress.running(format!("{layout} at {}", describe(layout, size, page)));
            let run = run_fixed_rate(&config, stop)?;
            tried += 1;
            if run.interrupted {
                interrupted = true;
                break 'layouts;
            }
            let holds = judge(&run, 0.0).is_none();
            progress.finished(format!(
                "{layout:<12} {:<14} drops {:.4}%, consumer {}",
                describe(layout, size, page),
                run.drop_rate * 100.0,
                format_rate(run.consumed_per_s)
            ));
            last = Some((size, run));
            if !spec.smallest || holds {
                break;
            }
        }
        if let Some((size, run)) = last {
            let memory = cost(model, layout, size)?;
            rows.push(CompareRow {
                layout,
                size: if layout == Layout::Perf { u64::from(size.pages) * page } else { size.ring },
                perf_pages: (layout == Layout::Perf).then_some(size.pages),
                drops: run.dropped,
                drop_rate: run.drop_rate,
                peak_occupancy_bytes: run.peak_occupancy_bytes,
                consumer_ns_per_event: run.consumer_ns_per_event,
                p99_ns: run.latency_ns.p99,
                memory_bytes: memory.total_bytes,
                memory,
                sizes_tried: spec.smallest.then_some(tried),
                run,
            });
        }
    }
    Ok(CompareResult {
        rate: spec.workload.rate,
        memory_budget_bytes: budget,
        smallest: spec.smallest,
        layouts: rows,
        interrupted,
    })
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
            let size = match r.perf_pages {
                Some(pages) => format!("{pages} pages/CPU"),
                None => format!("{}/ring", format_bytes(r.size)),
            };
            table.row([
                format!("{} ({})", r.layout, r.memory.rings),
                size,
                r.drops.to_string(),
                format!("{:.4}%", r.drop_rate * 100.0),
                format_bytes(r.peak_occupancy_bytes),
                r.consumer_ns_per_event.map_or("-".into(), |c| format!("{c:.1}")),
                format!("{} us", r.p99_ns / 1000),
                format_bytes(r.memory_bytes),
            ]);
        }
        let mut out = match self.memory_budget_bytes {
            Some(budget) => format!(
                "at {}, each layout at the largest size costing at most {} ({budget} B)\n\n",
                format_rate(self.rate),
                format_bytes(budget)
            ),
            None => format!("at {}, each layout at its smallest size without drops\n\n", format_rate(self.rate)),
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
        let rings = candidates(Layout::PerCpus(1), 4096, 72);
        assert_eq!(rings.first().map(|s| s.ring), Some(4096));
        assert_eq!(rings.last().map(|s| s.ring), Some(MAX_RING_BYTES));
        let perf = candidates(Layout::Perf, 4096, 8200);
        assert_eq!(perf.first().map(|s| s.pages), Some(4), "8204 bytes need 3 pages, so 4");
    }

    #[test]
    fn the_budget_buys_each_layout_its_largest_fitting_size() {
        // The 6.18 host's own accounting (capacity's table of known kernels).
        let model = Model::new(Some(KernelVersion::new(6, 18, 0)), None, Host { cpus: 4, page_size: 4096 }).unwrap();
        let budget = layout_cost(&model, Layout::Shared, 8 << 20, 1).unwrap().total_bytes;
        for layout in [Layout::Shared, Layout::PerCpus(1), Layout::PerCpus(2), Layout::Perf] {
            let sizes = candidates(layout, 4096, 72);
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
