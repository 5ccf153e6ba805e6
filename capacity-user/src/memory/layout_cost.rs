//! What a layout costs on a node: its rings (each charged as a ring
//! buffer map), the array of maps that holds them or the perf event array,
//! and, for perf, the perf buffers, which are no map memory at all.
//!
//! Where each figure comes from:
//! - a ring: `ringbuf_map_mem_usage` (the map's memlock), one per ring;
//! - the outer array of maps and the perf event array: `array_map_mem_usage`
//!   (both map types use it; a value is a 4-byte fd slot rounded to 8);
//! - a perf buffer: `(pages + 1) × page size` per CPU, the metadata page and
//!   the data pages the reader maps (its size in /proc/PID/maps). The kernel
//!   charges it to the user's perf allowance (`perf_event_mlock_kb` × online
//!   CPUs) first and only the excess to the process's pinned memory (VmPin):
//!   it is never in a map's memlock.
use serde::Serialize;

use super::{model::Model, MapKind, MapSpec};
use crate::layout::Layout;

/// The memory of a layout on the modelled node (`model.host.cpus` CPUs).
#[derive(Debug, Clone, Serialize)]
pub struct LayoutCost {
    pub layout: Layout,
    /// Rings, or perf buffers.
    pub rings: u32,
    /// One ring's memlock (null for perf).
    pub per_ring_bytes: Option<u64>,
    /// The array of maps or perf event array's memlock (0 for `shared`).
    pub outer_map_bytes: u64,
    /// Perf: every CPU's buffer, (pages + 1) × page size each; not map memory.
    pub buffer_bytes: Option<u64>,
    /// Everything the layout costs on the node.
    pub total_bytes: u64,
    /// Every map figure in it is the modelled kernel's own (the perf
    /// buffers are exact by construction).
    #[serde(skip)]
    pub exact: bool,
}

/// The cost of `layout` with rings of `ring_size` bytes, or perf buffers
/// of `perf_pages` data pages.
pub fn layout_cost(model: &Model, layout: Layout, ring_size: u64, perf_pages: u32) -> anyhow::Result<LayoutCost> {
    let cpus = model.host.cpus;
    let rings = layout.rings(cpus);
    // An fd array: value_size 4 (the fd userspace stores).
    let fd_array = |entries: u32| model.map(&MapSpec::new(MapKind::Array, entries, 4, 4));
    Ok(match layout {
        Layout::Shared => {
            let ring = model.ring(ring_size)?;
            LayoutCost {
                layout,
                rings,
                per_ring_bytes: Some(ring.bytes),
                outer_map_bytes: 0,
                buffer_bytes: None,
                total_bytes: ring.bytes,
                exact: ring.exact,
            }
        }
        Layout::PerCpus(_) => {
            let (ring, outer) = (model.ring(ring_size)?, fd_array(rings)?);
            LayoutCost {
                layout,
                rings,
                per_ring_bytes: Some(ring.bytes),
                outer_map_bytes: outer.bytes,
                buffer_bytes: None,
                total_bytes: ring.bytes * u64::from(rings) + outer.bytes,
                exact: ring.exact && outer.exact,
            }
        }
        Layout::Perf => {
            if !perf_pages.is_power_of_two() {
                anyhow::bail!("--perf-pages {perf_pages} must be a power of two");
            }
            let outer = fd_array(cpus)?;
            let buffers = perf_buffer_bytes(perf_pages, model.host.page_size) * u64::from(cpus);
            LayoutCost {
                layout,
                rings,
                per_ring_bytes: None,
                outer_map_bytes: outer.bytes,
                buffer_bytes: Some(buffers),
                total_bytes: buffers + outer.bytes,
                exact: outer.exact,
            }
        }
    })
}

/// One CPU's perf buffer as mapped: the metadata page and the data pages.
pub fn perf_buffer_bytes(pages: u32, page_size: u64) -> u64 {
    (u64::from(pages) + 1) * page_size
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kernel::KernelVersion, memory::host::Host};

    fn model(cpus: u32) -> Model {
        Model::new(Some(KernelVersion::new(6, 18, 0)), None, Host { cpus, page_size: 4096 }).unwrap()
    }

    #[test]
    fn rings_per_cpu_are_rings_times_one_ring_plus_the_outer_array() {
        let m = model(96);
        let ring = m.ring(1 << 20).unwrap().bytes;
        let cost = layout_cost(&m, Layout::PerCpus(1), 1 << 20, 0).unwrap();
        assert_eq!(cost.rings, 96);
        assert_eq!(cost.total_bytes, 96 * ring + cost.outer_map_bytes);
        let per_4 = layout_cost(&m, Layout::PerCpus(4), 1 << 20, 0).unwrap();
        assert_eq!(per_4.rings, 24);
        assert_eq!(per_4.total_bytes, 24 * ring + per_4.outer_map_bytes);
        assert_eq!(layout_cost(&m, Layout::Shared, 1 << 20, 0).unwrap().total_bytes, ring);
        assert!(ring > 1 << 20, "a ring is charged its data pages and more: {ring}");
        // struct bpf_array and 24 fd slots of 8 bytes.
        assert_eq!(per_4.outer_map_bytes - 24 * 8, cost.outer_map_bytes - 96 * 8);
    }

    #[test]
    fn perf_buffers_are_pages_plus_one_per_cpu_and_not_map_memory() {
        let cost = layout_cost(&model(96), Layout::Perf, 0, 64).unwrap();
        assert_eq!(cost.buffer_bytes, Some(65 * 4096 * 96));
        assert_eq!(cost.total_bytes, 65 * 4096 * 96 + cost.outer_map_bytes);
        assert_eq!(cost.per_ring_bytes, None);
        assert!(layout_cost(&model(2), Layout::Perf, 0, 3).is_err());
    }
}
