//! `capacity inspect FILE.o`: the maps an object declares, sized on each
//! node shape, and the budget gate.
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{
    nodes::{node_report, set_entries, NodeReport, NodeShape},
    object,
};
use crate::{
    kernel::KernelVersion,
    output::{Report, Table},
    units::format_bytes,
};

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub object: String,
    pub budget_bytes: Option<u64>,
    /// Some node's total is over the budget.
    pub over_budget: bool,
    pub nodes: Vec<NodeReport>,
}

/// What to inspect and how.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Node shapes (none: this host).
    pub nodes: Vec<NodeShape>,
    /// BTF per kernel X.Y, for exact struct sizes on other kernels.
    pub btfs: Vec<(KernelVersion, PathBuf)>,
    /// `--set NAME=ENTRIES`.
    pub overrides: Vec<(String, u32)>,
    pub budget: Option<u64>,
    /// Data pages of each perf buffer a perf event array's reader opens.
    pub perf_pages: u32,
}

/// Reads `path`, applies the overrides and sizes it on every node.
pub fn inspect(path: &Path, request: &Request) -> anyhow::Result<Inspection> {
    let (shapes, budget) = (&request.nodes, request.budget);
    let mut maps = object::read(path)?;
    set_entries(&mut maps, &request.overrides)?;
    let this_host = [NodeShape::default()];
    let shapes = if shapes.is_empty() { &this_host[..] } else { shapes };
    let nodes = shapes
        .iter()
        .map(|s| Ok(node_report(&s.model(&request.btfs)?, &maps, request.perf_pages)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let over_budget = budget.is_some_and(|b| nodes.iter().any(|n| n.total_bytes > b));
    Ok(Inspection { object: path.display().to_string(), budget_bytes: budget, over_budget, nodes })
}

impl Report for Inspection {
    fn human(&self) -> String {
        let mut out = format!("object  {}\n", self.object);
        for node in &self.nodes {
            out.push_str(&format!(
                "\nnode {} · {} CPUs · {} B pages ({})\n",
                node.kernel, node.cpus, node.page_size, node.accounting
            ));
            let mut table = Table::new(["map", "type", "key", "value", "entries", "flags", "memory", "note"]);
            for line in &node.maps {
                let memory = match (line.sized.model_bytes, line.sized.empty_bytes) {
                    (None, _) => "n/a".to_string(),
                    (Some(full), Some(empty)) => format!("{full} (empty {empty})"),
                    (Some(full), None) => format!("{full}{}", if line.sized.exact { "" } else { " ~" }),
                };
                let flags = &line.map.flag_names;
                table.row(line.map.cells().into_iter().chain([
                    if flags.is_empty() { "-".into() } else { flags.join(",") },
                    memory,
                    line.sized.note.clone().unwrap_or_default(),
                ]));
            }
            out.push_str(&table.render());
            let not_sized = match node.unsized_maps {
                0 => String::new(),
                n => format!(", {n} map(s) not sized"),
            };
            out.push_str(&format!(
                "total   {} B ({}){}{}\n",
                node.total_bytes,
                format_bytes(node.total_bytes),
                if node.exact { "" } else { ", not exact" },
                not_sized
            ));
            if node.inner_maps_bytes > 0 {
                out.push_str(&format!(
                    "inner   {} B ({}): every slot of each array of maps holding its inner map\n",
                    node.inner_maps_bytes,
                    format_bytes(node.inner_maps_bytes)
                ));
            }
            if node.perf_buffer_bytes > 0 {
                out.push_str(&format!(
                    "perf    {} B ({}): (pages + 1) × page per slot at --perf-pages {}, not map memory\n",
                    node.perf_buffer_bytes,
                    format_bytes(node.perf_buffer_bytes),
                    node.perf_pages
                ));
            }
            if node.layout_total_bytes != node.total_bytes {
                out.push_str(&format!(
                    "all     {} B ({}): the maps, their inner maps and perf buffers\n",
                    node.layout_total_bytes,
                    format_bytes(node.layout_total_bytes)
                ));
            }
            for note in &node.notes {
                out.push_str(&format!("note    {note}\n"));
            }
        }
        if let Some(budget) = self.budget_bytes {
            let verdict = if self.over_budget { "over on some node" } else { "every node within it" };
            out.push_str(&format!("\nbudget  {} B ({}): {verdict}\n", budget, format_bytes(budget)));
        }
        out
    }
}
