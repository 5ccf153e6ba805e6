//! A kernel map's description, sized with the memory model
//! (`crate::memory::model`): the figure, or a note saying why there is none.
//! Shared by `inspect` (maps an object declares, planned full) and `host`
//! (maps loaded now, with the entries they hold).
use serde::Serialize;

use super::kinds;
use crate::{
    memory::{model::Model, MapKind, MapSpec},
    sys::{bpf_map_type::*, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC},
};

/// What a map is, as the kernel describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapShape {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

/// A map as the reports name it: its name and its shape, in numbers and words.
#[derive(Debug, Clone, Serialize)]
pub struct MapNamed {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub flag_names: Vec<String>,
}

impl MapNamed {
    pub fn new(name: String, shape: &MapShape) -> Self {
        Self {
            name,
            type_name: kinds::map_type_name(shape.map_type),
            key_size: shape.key_size,
            value_size: shape.value_size,
            max_entries: shape.max_entries,
            flags: shape.flags,
            flag_names: kinds::flag_names(shape.flags),
        }
    }

    /// The table cells: name, type, key, value, entries.
    pub fn cells(&self) -> [String; 5] {
        [
            self.name.clone(),
            self.type_name.clone(),
            self.key_size.to_string(),
            self.value_size.to_string(),
            self.max_entries.to_string(),
        ]
    }
}

/// The model's answer for one map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sized {
    /// What the kernel reports as `memlock`; null where the model does not
    /// cover the type or the map is not one the kernel would create.
    pub model_bytes: Option<u64>,
    /// A map without preallocation, empty (inspect only).
    pub empty_bytes: Option<u64>,
    pub exact: bool,
    pub note: Option<String>,
}

impl Sized {
    fn none(note: String) -> Self {
        Self { model_bytes: None, empty_bytes: None, exact: false, note: Some(note) }
    }
}

/// How `shape` is modelled: a map spec (with a note when the type is
/// modelled through another), a ring, or nothing.
enum Modelled {
    Map(MapSpec, Option<&'static str>),
    Ring(u64),
    Not,
}

fn modelled(shape: &MapShape, live: Option<u32>) -> Modelled {
    let entries = shape.max_entries;
    let no_prealloc = shape.flags & BPF_F_NO_PREALLOC != 0;
    if shape.map_type == BPF_MAP_TYPE_RINGBUF as u32 {
        return Modelled::Ring(entries.into());
    }
    if let Some(kind) = MapKind::from_bpf_map_type(shape.map_type) {
        let mut spec = MapSpec::new(kind, entries, shape.key_size, shape.value_size);
        if no_prealloc {
            spec = spec.without_prealloc(live.unwrap_or(entries));
        }
        if kind == MapKind::Array && shape.flags & BPF_F_MMAPABLE != 0 {
            spec = spec.mmapable();
        }
        return Modelled::Map(spec, None);
    }
    // Arrays of file descriptors: the kernel keeps one pointer per slot
    // (value_size 4, rounded up to 8) and accounts them with
    // array_map_mem_usage, as for a plain array.
    let pointer_arrays =
        [BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_CGROUP_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS];
    if pointer_arrays.iter().any(|&t| t as u32 == shape.map_type) {
        let spec = MapSpec::new(MapKind::Array, entries, shape.key_size, shape.value_size);
        return Modelled::Map(spec, Some("modelled as an array of pointers (array_map_mem_usage)"));
    }
    Modelled::Not
}

/// The figure for `shape` on `model`'s kernel and machine. `live` is the
/// number of entries a map holds (host); `None` plans the map full and,
/// without preallocation, also gives its empty figure (inspect).
pub fn size(model: &Model, shape: &MapShape, live: Option<u32>) -> Sized {
    let type_name = kinds::map_type_name(shape.map_type);
    let own_notes = |notes: &[String]| -> Option<String> {
        let own: Vec<&str> = notes.iter().filter(|n| !model.notes.contains(n)).map(String::as_str).collect();
        (!own.is_empty()).then(|| own.join("; "))
    };
    match modelled(shape, live) {
        Modelled::Ring(size) => match model.ring(size) {
            Ok(figure) => Sized {
                model_bytes: Some(figure.bytes),
                empty_bytes: None,
                exact: figure.exact,
                note: own_notes(&figure.notes),
            },
            Err(e) => Sized::none(format!("not sized: {e}")),
        },
        Modelled::Map(spec, how) => match model.map(&spec) {
            Ok(figure) => {
                let empty_bytes = (live.is_none() && !spec.prealloc)
                    .then(|| model.map(&spec.without_prealloc(0)).ok().map(|f| f.bytes))
                    .flatten();
                let mut notes: Vec<String> = how.map(String::from).into_iter().collect();
                notes.extend(own_notes(&figure.notes));
                if empty_bytes.is_some() {
                    notes.push("no-prealloc: planned full; empty_bytes is the empty map".into());
                }
                Sized {
                    model_bytes: Some(figure.bytes),
                    empty_bytes,
                    exact: figure.exact,
                    note: (!notes.is_empty()).then(|| notes.join("; ")),
                }
            }
            Err(e) => Sized::none(format!("not sized: {e}")),
        },
        Modelled::Not => Sized::none(format!("the memory model does not cover {type_name} maps")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        kernel::KernelVersion,
        memory::{
            host::Host,
            model::{Accounting, Model, REFERENCE_SIZES},
        },
    };

    fn model(cpus: u32) -> Model {
        // The reference machine's 6.18 sizes.
        let layout = crate::memory::model::Layout::with_sizes(REFERENCE_SIZES, "test");
        Model::with(KernelVersion::new(6, 18, 0), Host { cpus, page_size: 4096 }, Accounting::PerType(layout))
    }

    fn shape(map_type: u32, key: u32, value: u32, entries: u32, flags: u32) -> MapShape {
        MapShape { map_type, key_size: key, value_size: value, max_entries: entries, flags }
    }

    #[test]
    fn modelled_types_take_the_memory_model() {
        let m = model(2);
        // Same figures as the memory model's own tests (memlock on 6.18).
        assert_eq!(size(&m, &shape(1, 8, 8, 1000, 0), None).model_bytes, Some(81_424));
        assert_eq!(size(&m, &shape(27, 0, 0, 4096, 0), None).model_bytes, Some(16_728));
        let sized = size(&m, &shape(2, 4, 8, 1024, 0), None);
        assert_eq!((sized.model_bytes, sized.exact, sized.note), (Some(8504), true, None));
    }

    #[test]
    fn per_cpu_maps_scale_with_the_nodes_cpus() {
        // percpu-array 1024 × 8: 312 + 1024 × 8 + 1024 × 8 × CPUs
        assert_eq!(size(&model(2), &shape(6, 4, 8, 1024, 0), None).model_bytes, Some(312 + 8192 + 16_384));
        assert_eq!(size(&model(96), &shape(6, 4, 8, 1024, 0), None).model_bytes, Some(312 + 8192 + 8192 * 96));
    }

    #[test]
    fn no_prealloc_is_planned_full_with_the_empty_figure_beside() {
        let sized = size(&model(2), &shape(1, 8, 8, 1000, BPF_F_NO_PREALLOC), None);
        // 17 280 empty + 1000 × 72 (memory::model's no-prealloc test)
        assert_eq!(sized.empty_bytes, Some(17_280));
        assert_eq!(sized.model_bytes, Some(17_280 + 72_000));
        assert!(sized.note.unwrap().contains("planned full"));
        // With live entries (host): those only, no empty figure.
        let live = size(&model(2), &shape(1, 8, 8, 1000, BPF_F_NO_PREALLOC), Some(10));
        assert_eq!((live.model_bytes, live.empty_bytes), (Some(17_280 + 720), None));
    }

    #[test]
    fn other_types_are_listed_with_a_note() {
        let sized = size(&model(2), &shape(11, 8, 8, 100, BPF_F_NO_PREALLOC), None);
        assert_eq!(sized.model_bytes, None);
        assert!(!sized.exact);
        assert_eq!(sized.note.as_deref(), Some("the memory model does not cover lpm-trie maps"));
        // Arrays of fds are arrays of pointers.
        let outer = size(&model(2), &shape(12, 4, 4, 8, 0), None);
        assert_eq!(outer.model_bytes, Some(312 + 8 * 8));
        // A map the kernel would refuse is not sized, and says why.
        let bad = size(&model(2), &shape(27, 0, 0, 5000, 0), None);
        assert_eq!(bad.model_bytes, None);
        assert!(bad.note.unwrap().contains("power of two"));
        // Mmapable arrays (libbpf's .data, .bss) take whole pages.
        assert_eq!(size(&model(2), &shape(2, 4, 100, 1, BPF_F_MMAPABLE), None).model_bytes, Some(8192));
    }
}
