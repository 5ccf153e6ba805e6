//! The kernel's own memory figure for a map or ring buffer: what
//! /proc/<pid>/fdinfo/<fd> shows as `memlock`, term by term, as the kernel
//! source computes it. Two eras:
//!
//! - 5.11 to 6.3: `bpf_map_memory_footprint()` (kernel/bpf/syscall.c), one
//!   rounded formula for every map type; ring buffers report 0.
//! - 6.4 on: `map->ops->map_mem_usage()`, one function per type
//!   (`htab_map_mem_usage`, `array_map_mem_usage`, `ringbuf_map_mem_usage`),
//!   which add `sizeof` of kernel structures: those come from BTF, or for
//!   the kernels capacity knows, from its table of their BTF sizes
//!   ([`super::kernels`]).
use std::path::Path;

use capacity_common::MAX_RING_BYTES;
use serde::Serialize;

use super::{
    btf::{KernelBtf, StructSizes},
    host::Host,
    kernels::{self, KnownKernel},
    round_up, MapKind, MapSpec,
};
use crate::kernel::KernelVersion;

/// The first kernel with `map_mem_usage`.
pub const PER_TYPE_SINCE: KernelVersion = KernelVersion::new(6, 4, 0);
/// The first kernel that charges maps to memory cgroups and shows
/// `bpf_map_memory_footprint()` as `memlock` (before, RLIMIT_MEMLOCK pages).
pub const FOOTPRINT_SINCE: KernelVersion = KernelVersion::new(5, 11, 0);

/// `HASHTAB_MAP_LOCK_COUNT` (hashtab.c): `htab_map_mem_usage` counts that
/// many `int` per possible CPU for the per-bucket-lock counters
/// (`bpf_htab.map_locked`).
const HASHTAB_MAP_LOCK_COUNT: u64 = 8;
/// The first kernel whose `htab_map_mem_usage` no longer has the term
/// `sizeof(int) * num_possible_cpus() * HASHTAB_MAP_LOCK_COUNT`. The counters
/// themselves went in 6.15, when the bucket locks became rqspinlocks ("bpf:
/// Convert hashtab.c to rqspinlock"), which shrank `struct bpf_htab` by 64
/// bytes; the term outlived them. Seen: Debian's 6.18.15 and 6.19.11
/// sources have it and the 6.18.44 host reports it; the 7.1.13 and 7.2.6
/// sources start from `sizeof(struct bpf_htab) + sizeof(struct bucket) *
/// n_buckets` without it; under qemu, Debian's 7.0.13 (2 CPUs) and 7.2.12
/// (2 and 4 CPUs) report 32 bytes per possible CPU less than with it.
pub const LOCK_COUNTERS_UNCOUNTED_SINCE: KernelVersion = KernelVersion::new(7, 0, 0);
/// `PCPU_MIN_UNIT_SIZE`: the largest per-CPU value after rounding to 8.
const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;
/// `KMALLOC_MAX_SIZE` in pages (order-10 allocations: 4 MiB with 4 KiB pages).
const KMALLOC_MAX_PAGES: u64 = 1 << 10;
/// `RINGBUF_POS_PAGES` (ringbuf.c): the consumer and producer pages.
const RINGBUF_POS_PAGES: u64 = 2;
/// `sizeof(void *)`, `sizeof(struct page *)`: the tool models 64-bit kernels.
const POINTER: u64 = 8;
const SIZEOF_INT: u64 = 4;

/// Struct sizes measured on this tool's reference machine (6.18.44, x86-64):
/// stand-ins, always reported as inexact, for a structure no BTF describes.
pub(crate) const REFERENCE_SIZES: StructSizes = StructSizes {
    bpf_htab: Some(832),
    htab_bucket: Some(16),
    htab_elem: Some(48),
    llist_node: Some(8),
    bpf_array: Some(312),
    bpf_ringbuf_map: Some(304),
    ringbuf_consumer_pos: Some(4096),
    has_map_mem_usage: Some(true),
};

/// How a kernel arrives at its `memlock` figure.
#[derive(Debug, Clone)]
pub enum Accounting {
    /// Before 6.4: `bpf_map_memory_footprint()`.
    Footprint,
    /// 6.4 and later: the map type's `map_mem_usage()`.
    PerType(Layout),
}

impl Accounting {
    pub fn name(&self) -> &'static str {
        match self {
            Accounting::Footprint => "bpf_map_memory_footprint",
            Accounting::PerType(_) => "map_mem_usage",
        }
    }
}

/// Struct sizes for the per-type figures, and how far to trust them.
#[derive(Debug, Clone)]
pub struct Layout {
    sizes: StructSizes,
    /// The sizes are the modelled kernel's own (its BTF).
    trusted: bool,
    /// Where the sizes came from, for the report.
    pub source: String,
}

impl Layout {
    pub fn from_btf(btf: &KernelBtf, trusted: bool) -> Self {
        Self { sizes: btf.sizes.clone(), trusted, source: btf.path.display().to_string() }
    }

    /// Sizes known to be the modelled kernel's own.
    pub fn with_sizes(sizes: StructSizes, source: &str) -> Self {
        Self { sizes, trusted: true, source: source.into() }
    }

    /// A kernel of capacity's table: trusted for that kernel's series.
    pub fn from_known(kernel: &KnownKernel, trusted: bool) -> Self {
        Self { sizes: kernel.sizes.clone(), trusted, source: kernel.describe() }
    }

    /// The sizes themselves (what the model adds up).
    pub fn sizes(&self) -> &StructSizes {
        &self.sizes
    }

    /// No BTF at all: the reference machine's sizes, never exact.
    pub fn reference() -> Self {
        Self { sizes: REFERENCE_SIZES, trusted: false, source: "reference sizes (6.18.44 x86-64)".into() }
    }

    /// A size, and whether it is this kernel's own; `notes` collects why not.
    fn size(&self, pick: fn(&StructSizes) -> Option<u64>, what: &str, notes: &mut Vec<String>) -> (u64, bool) {
        match pick(&self.sizes) {
            Some(size) => (size, self.trusted),
            None => {
                notes.push(format!("{} does not describe {what}: used {}", self.source, Layout::reference().source));
                (pick(&REFERENCE_SIZES).expect("reference sizes are complete"), false)
            }
        }
    }
}

/// One addend of a figure, named as the kernel source names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    pub what: String,
    pub bytes: u64,
    /// The kernel function the term comes from.
    pub from: &'static str,
}

/// A modelled `memlock` figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figure {
    pub bytes: u64,
    /// Every size in it is the modelled kernel's own.
    pub exact: bool,
    pub terms: Vec<Term>,
    /// Why the figure is not exact, or what the kernel's figure leaves out.
    pub notes: Vec<String>,
}

/// Adds up terms and tracks exactness.
struct Sum {
    terms: Vec<Term>,
    exact: bool,
    notes: Vec<String>,
}

impl Sum {
    fn new(exact: bool, notes: Vec<String>) -> Self {
        Self { terms: Vec::new(), exact, notes }
    }

    fn add(&mut self, what: impl Into<String>, bytes: u64, from: &'static str) {
        self.terms.push(Term { what: what.into(), bytes, from });
    }

    fn finish(self) -> Figure {
        Figure {
            bytes: self.terms.iter().map(|t| t.bytes).sum(),
            exact: self.exact,
            terms: self.terms,
            notes: self.notes,
        }
    }
}

/// What one kernel reports for maps on one machine.
#[derive(Debug, Clone)]
pub struct Model {
    pub kernel: KernelVersion,
    pub host: Host,
    pub accounting: Accounting,
    /// Caveats for every figure of this model: sizes that are not the
    /// modelled kernel's own, or what its `memlock` leaves out.
    pub notes: Vec<String>,
}

impl Model {
    /// The model for `kernel` (default: the running one) with struct sizes
    /// from `btf` (default: the running kernel's, when it is the kernel
    /// being modelled).
    pub fn new(kernel: Option<KernelVersion>, btf: Option<&Path>, host: Host) -> anyhow::Result<Self> {
        let running = KernelVersion::running()?;
        let target = kernel.unwrap_or(running);
        if target < FOOTPRINT_SINCE {
            anyhow::bail!(
                "kernel {target} accounts maps against RLIMIT_MEMLOCK, which this model does not cover: use --kernel {}.{} or newer",
                FOOTPRINT_SINCE.major,
                FOOTPRINT_SINCE.minor
            );
        }
        let given = btf.map(KernelBtf::read).transpose()?;
        let per_type = target >= PER_TYPE_SINCE;
        if let Some(btf) = &given {
            if btf.sizes.has_map_mem_usage.is_some_and(|has| has != per_type) {
                let era = if per_type { "before 6.4" } else { "6.4 or later" };
                anyhow::bail!(
                    "{} is BTF from a kernel {era}, but the model is for {target}: pass the --kernel that BTF belongs to",
                    btf.path.display()
                );
            }
        }
        let mut notes = Vec::new();
        let accounting = if !per_type {
            notes.push(format!(
                "{target} reports memlock by bpf_map_memory_footprint: ring buffers count 0 and buckets, element headers and spares are left out, so it understates what is allocated"
            ));
            Accounting::Footprint
        } else if let Some(btf) = &given {
            Accounting::PerType(Layout::from_btf(btf, true))
        } else {
            let is_running = kernels::same_series(target, running);
            let running_btf = if is_running { KernelBtf::running() } else { None };
            if let Some(btf) = running_btf {
                Accounting::PerType(Layout::from_btf(&btf, true))
            } else if let Some(known) = kernels::find(target) {
                // The running kernel without BTF may be another build of a
                // known series: its sizes are only known if it is that build.
                let trusted = !is_running || kernels::running_release().as_deref() == Some(known.release.as_str());
                if !trusted {
                    notes.push(format!(
                        "no BTF at {}: struct sizes are those of {}, another build of {}.{}; pass --btf for an exact figure",
                        super::btf::VMLINUX_BTF,
                        known.release,
                        target.major,
                        target.minor
                    ));
                }
                Accounting::PerType(Layout::from_known(&known, trusted))
            } else if let Some(nearest) = kernels::nearest(target, PER_TYPE_SINCE) {
                notes.push(format!(
                    "capacity does not know {target}'s struct sizes: these are the nearest known kernel's, {}; pass --btf with {target}'s BTF for an exact figure",
                    nearest.release
                ));
                Accounting::PerType(Layout::from_known(&nearest, false))
            } else {
                notes.push(format!(
                    "no BTF at {}: struct sizes are stand-ins; pass --btf for an exact figure",
                    super::btf::VMLINUX_BTF
                ));
                Accounting::PerType(Layout::reference())
            }
        };
        Ok(Self { kernel: target, host, accounting, notes })
    }

    /// The model with explicit parts (tests, and callers that already
    /// know the kernel's layout).
    pub fn with(kernel: KernelVersion, host: Host, accounting: Accounting) -> Self {
        Self { kernel, host, accounting, notes: Vec::new() }
    }

    /// The kernel's limits on a map, as `map_alloc_check` and `map_alloc`
    /// enforce them: a usage error that names the limit, or Ok.
    pub fn check_map(&self, spec: &MapSpec) -> anyhow::Result<()> {
        let kind = spec.kind;
        let (key, value) = (u64::from(spec.key_size), u64::from(spec.value_size));
        if spec.entries == 0 {
            anyhow::bail!("entries must be at least 1: the kernel refuses a {kind} map with max_entries 0");
        }
        if value == 0 {
            anyhow::bail!("value size must be at least 1: the kernel refuses a {kind} map with value_size 0");
        }
        if kind.is_hash() {
            if key == 0 {
                anyhow::bail!("key size 0 is invalid for a {kind} map: keys need at least 1 byte");
            }
            // htab_map_alloc_check(): an element must stay kmalloc-able.
            let limit = KMALLOC_MAX_PAGES * self.host.page_size - self.htab_elem_size();
            if key + value >= limit {
                anyhow::bail!(
                    "key size {key} + value size {value} is over the kernel's limit for a {kind} map (together under {limit} bytes)"
                );
            }
            // htab_map_alloc(): n_buckets, the entries rounded up to a power
            // of two, may not exceed U32_MAX / sizeof(struct bucket).
            let max_buckets = u64::from(u32::MAX) / self.bucket_size();
            let max_entries = 1u64 << (63 - max_buckets.leading_zeros());
            if u64::from(spec.entries) > max_entries {
                anyhow::bail!(
                    "{} entries are more than a {kind} map can hold ({max_entries}: its buckets must stay under 4 GiB)",
                    spec.entries
                );
            }
        } else {
            if key != 4 {
                anyhow::bail!("key size {key} is invalid for an {kind} map: array keys are 4-byte indexes");
            }
            // array_map_alloc_check(): round_up(value_size, 8) must not overflow.
            if value > i32::MAX as u64 {
                anyhow::bail!("value size {value} is over the kernel's limit for an {kind} map ({} bytes)", i32::MAX);
            }
        }
        // htab_map_alloc_check(), array_map_alloc_check(): per-CPU values
        // come from the per-CPU allocator's units.
        if kind.is_percpu() && round_up(value, 8) > PCPU_MIN_UNIT_SIZE {
            anyhow::bail!(
                "value size {value} is over the kernel's per-CPU value limit ({PCPU_MIN_UNIT_SIZE} bytes after rounding up to 8)"
            );
        }
        if !spec.prealloc && !kind.can_skip_prealloc() {
            anyhow::bail!("no-prealloc (BPF_F_NO_PREALLOC) is for hash and percpu-hash maps: the kernel always preallocates a {kind} map");
        }
        if spec.filled > spec.entries {
            anyhow::bail!("{} filled entries are more than the map's {} entries", spec.filled, spec.entries);
        }
        Ok(())
    }

    /// The kernel's limits on a ring buffer (`ringbuf_map_alloc`).
    pub fn check_ring(&self, size: u64) -> anyhow::Result<()> {
        let page = self.host.page_size;
        if size == 0 || !size.is_power_of_two() || !size.is_multiple_of(page) {
            anyhow::bail!(
                "ring size {size} must be a power of two and a multiple of the page size ({page}): try {}",
                size.max(1).next_power_of_two().max(page)
            );
        }
        if size > MAX_RING_BYTES {
            anyhow::bail!("ring size {size} is more than the kernel's largest ring ({MAX_RING_BYTES} bytes, 2 GiB)");
        }
        Ok(())
    }

    /// What the kernel reports as `memlock` for this map (checked first).
    pub fn map(&self, spec: &MapSpec) -> anyhow::Result<Figure> {
        self.check_map(spec)?;
        Ok(match &self.accounting {
            Accounting::Footprint => self.footprint(spec.entries, spec.key_size, self.footprint_value_size(spec)),
            Accounting::PerType(layout) if spec.kind.is_hash() => self.htab_mem_usage(spec, layout),
            Accounting::PerType(layout) => self.array_mem_usage(spec, layout),
        })
    }

    /// What the kernel reports as `memlock` for a ring of `size` bytes.
    pub fn ring(&self, size: u64) -> anyhow::Result<Figure> {
        self.check_ring(size)?;
        Ok(match &self.accounting {
            // A ring buffer has key_size and value_size 0.
            Accounting::Footprint => self.footprint(size as u32, 0, 0),
            Accounting::PerType(layout) => self.ringbuf_mem_usage(size, layout),
        })
    }

    fn bucket_size(&self) -> u64 {
        match &self.accounting {
            Accounting::PerType(layout) => layout.size(|s| s.htab_bucket, "struct bucket", &mut Vec::new()).0,
            Accounting::Footprint => REFERENCE_SIZES.htab_bucket.unwrap_or(16),
        }
    }

    fn htab_elem_size(&self) -> u64 {
        match &self.accounting {
            Accounting::PerType(layout) => layout.size(|s| s.htab_elem, "struct htab_elem", &mut Vec::new()).0,
            Accounting::Footprint => REFERENCE_SIZES.htab_elem.unwrap_or(48),
        }
    }

    /// `bpf_map_value_size()` (syscall.c): per-CPU values once per possible CPU.
    fn footprint_value_size(&self, spec: &MapSpec) -> u32 {
        if spec.kind.is_percpu() {
            spec.value_size.next_multiple_of(8) * self.host.cpus
        } else {
            spec.value_size
        }
    }

    /// `bpf_map_memory_footprint()` (syscall.c, 5.11 to 6.3):
    /// `round_up(max_entries * round_up(key_size + value_size, 8), PAGE_SIZE)`.
    fn footprint(&self, max_entries: u32, key_size: u32, value_size: u32) -> Figure {
        let entry = round_up(u64::from(key_size) + u64::from(value_size), 8);
        let mut sum = Sum::new(true, self.notes.clone());
        sum.add(
            format!(
                "round_up({max_entries} entries × round_up({key_size} + {value_size}, 8), page {})",
                self.host.page_size
            ),
            round_up(u64::from(max_entries) * entry, self.host.page_size),
            "bpf_map_memory_footprint",
        );
        sum.finish()
    }

    /// `htab_map_mem_usage()` (hashtab.c, 6.4 on), with the element layout
    /// of `htab_map_alloc()`.
    fn htab_mem_usage(&self, spec: &MapSpec, layout: &Layout) -> Figure {
        const FROM: &str = "htab_map_mem_usage";
        let mut notes = self.notes.clone();
        let (htab, htab_exact) = layout.size(|s| s.bpf_htab, "struct bpf_htab", &mut notes);
        let (bucket, bucket_exact) = layout.size(|s| s.htab_bucket, "struct bucket", &mut notes);
        let (elem_header, elem_exact) = layout.size(|s| s.htab_elem, "struct htab_elem", &mut notes);
        let (llist, llist_exact) =
            if spec.prealloc { (0, true) } else { layout.size(|s| s.llist_node, "struct llist_node", &mut notes) };
        let mut sum = Sum::new(htab_exact && bucket_exact && elem_exact && llist_exact, dedup(notes));
        let cpus = u64::from(self.host.cpus);
        let (kind, entries) = (spec.kind, u64::from(spec.entries));
        let value = round_up(u64::from(spec.value_size), 8);
        // htab_map_alloc(): key and value rounded to 8; a per-CPU map keeps a
        // pointer to its per-CPU value in the element instead.
        let elem_size =
            elem_header + round_up(u64::from(spec.key_size), 8) + if kind.is_percpu() { POINTER } else { value };
        let n_buckets = entries.next_power_of_two();

        sum.add("struct bpf_htab", htab, FROM);
        sum.add(
            format!("{n_buckets} buckets (entries rounded up to a power of two) × struct bucket {bucket}"),
            n_buckets * bucket,
            FROM,
        );
        if self.kernel < LOCK_COUNTERS_UNCOUNTED_SINCE {
            sum.add(
                format!(
                    "bucket lock counters: int × {cpus} CPUs × HASHTAB_MAP_LOCK_COUNT {HASHTAB_MAP_LOCK_COUNT} (counted before 7.0)"
                ),
                SIZEOF_INT * cpus * HASHTAB_MAP_LOCK_COUNT,
                FROM,
            );
        }
        if spec.prealloc {
            // htab_has_extra_elems(): a plain hash map preallocates one spare
            // element per CPU for updates that replace an element.
            let extra = if kind == MapKind::Hash { cpus } else { 0 };
            let count = entries + extra;
            sum.add(
                format!(
                    "{count} preallocated elements ({entries} + {extra} per-CPU spares) × elem_size {elem_size} (htab_elem {elem_header} + key and value rounded to 8)"
                ),
                elem_size * count,
                FROM,
            );
            if kind.is_percpu() {
                sum.add(
                    format!("per-CPU values: {value} × {cpus} CPUs × {count} elements"),
                    value * cpus * count,
                    FROM,
                );
            } else if !kind.is_lru() {
                sum.add(format!("extra_elems: one pointer × {cpus} CPUs"), POINTER * cpus, FROM);
            }
        } else {
            // Elements come from bpf_mem_alloc, each behind an llist_node;
            // only the live ones (htab->count or pcount) are counted.
            let live = u64::from(spec.filled);
            sum.add(
                format!("{live} live elements × (elem_size {elem_size} + llist_node {llist})"),
                (elem_size + llist) * live,
                FROM,
            );
            if kind.is_percpu() {
                sum.add(
                    format!("{live} per-CPU value headers × (llist_node {llist} + pointer)"),
                    (llist + POINTER) * live,
                    FROM,
                );
                sum.add(
                    format!("per-CPU values: {value} × {cpus} CPUs × {live} live elements"),
                    value * cpus * live,
                    FROM,
                );
            }
        }
        sum.finish()
    }

    /// `array_map_mem_usage()` (arraymap.c, 6.4 on), with
    /// `elem_size = round_up(value_size, 8)` from `array_map_alloc()`.
    fn array_mem_usage(&self, spec: &MapSpec, layout: &Layout) -> Figure {
        const FROM: &str = "array_map_mem_usage";
        let mut notes = self.notes.clone();
        let (array, exact) = layout.size(|s| s.bpf_array, "struct bpf_array", &mut notes);
        let cpus = u64::from(self.host.cpus);
        let entries = u64::from(spec.entries);
        let elem_size = round_up(u64::from(spec.value_size), 8);
        let mut sum = Sum::new(exact, dedup(notes));
        sum.add("struct bpf_array", array, FROM);
        if spec.kind.is_percpu() {
            sum.add(format!("{entries} per-CPU value pointers"), entries * POINTER, FROM);
            sum.add(format!("per-CPU values: {entries} × {elem_size} × {cpus} CPUs"), entries * elem_size * cpus, FROM);
        } else if spec.mmapable {
            // BPF_F_MMAPABLE: the struct and the values each start on a page.
            let page = self.host.page_size;
            sum.terms[0].bytes = round_up(array, page);
            sum.terms[0].what = format!("struct bpf_array {array}, rounded up to a page (BPF_F_MMAPABLE)");
            sum.add(
                format!("values: {entries} × {elem_size} (value rounded to 8), rounded up to a page"),
                round_up(entries * elem_size, page),
                FROM,
            );
        } else {
            sum.add(format!("values: {entries} × {elem_size} (value rounded to 8)"), entries * elem_size, FROM);
        }
        sum.finish()
    }

    /// `ringbuf_map_mem_usage()` (ringbuf.c, 6.4 on). The data pages are
    /// mapped twice in a row so records can wrap, so the page pointer array
    /// (`bpf_ringbuf_area_alloc()`) holds them twice.
    fn ringbuf_mem_usage(&self, size: u64, layout: &Layout) -> Figure {
        const FROM: &str = "ringbuf_map_mem_usage";
        let mut notes = self.notes.clone();
        let (map, map_exact) = layout.size(|s| s.bpf_ringbuf_map, "struct bpf_ringbuf_map", &mut notes);
        let (consumer_pos, pos_exact) =
            layout.size(|s| s.ringbuf_consumer_pos, "struct bpf_ringbuf.consumer_pos", &mut notes);
        let page = self.host.page_size;
        // RINGBUF_NR_META_PAGES: the header pages before consumer_pos
        // (RINGBUF_PGOFF) plus the consumer and producer pages.
        let meta_pages = consumer_pos / page + RINGBUF_POS_PAGES;
        let data_pages = size / page;
        let mut sum = Sum::new(map_exact && pos_exact, dedup(notes));
        sum.add("struct bpf_ringbuf_map", map, FROM);
        sum.add(
            format!("{} pages ({meta_pages} metadata + {data_pages} data) × {page}", meta_pages + data_pages),
            (meta_pages + data_pages) * page,
            FROM,
        );
        sum.add(
            format!("page pointers: {meta_pages} metadata + 2 × {data_pages} data (mapped twice)"),
            (meta_pages + 2 * data_pages) * POINTER,
            FROM,
        );
        sum.finish()
    }
}

fn dedup(mut notes: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::btf::{synthetic_btf, KernelBtf};

    const HOST: Host = Host { cpus: 2, page_size: 4096 };

    /// This machine's 6.18.44 layout (from its BTF).
    fn layout_6_18() -> Layout {
        Layout { sizes: REFERENCE_SIZES, trusted: true, source: "test".into() }
    }

    fn per_type(layout: Layout) -> Model {
        Model::with(KernelVersion::new(6, 18, 0), HOST, Accounting::PerType(layout))
    }

    fn footprint(cpus: u32) -> Model {
        Model::with(KernelVersion::new(6, 1, 0), Host { cpus, page_size: 4096 }, Accounting::Footprint)
    }

    fn bytes(model: &Model, spec: MapSpec) -> u64 {
        model.map(&spec).unwrap().bytes
    }

    // Each expected value below was read from `memlock:` of a real map on
    // the 6.18.44 host (2 possible CPUs, 4 KiB pages).
    #[test]
    fn hash_maps_match_memlock_on_6_18() {
        let m = per_type(layout_6_18());
        // 832 + 1×16 + 64 + (1 + 2)×64 + 2×8
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1, 4, 4)), 1120);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 2, 4, 4)), 1200);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1000, 8, 8)), 81_424);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1000, 5, 13)), 89_440);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1024, 4, 8)), 82_960);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::LruHash, 1, 4, 4)), 976);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::LruHash, 1000, 5, 13)), 89_280);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::PercpuHash, 1, 4, 4)), 992);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::PercpuHash, 1000, 5, 13)), 113_280);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::LruPercpuHash, 1024, 4, 8)), 99_200);
    }

    #[test]
    fn arrays_and_rings_match_memlock_on_6_18() {
        let m = per_type(layout_6_18());
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Array, 1, 4, 4)), 320);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Array, 1024, 4, 8)), 8504);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::PercpuArray, 2, 4, 4)), 360);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::PercpuArray, 1024, 4, 8)), 24_888);
        assert_eq!(m.ring(4096).unwrap().bytes, 16_728);
        assert_eq!(m.ring(8192).unwrap().bytes, 20_840);
        assert_eq!(m.ring(65_536).unwrap().bytes, 78_408);
        // BPF_F_MMAPABLE: page(312) + page(1 × 8)
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Array, 1, 4, 4).mmapable()), 8192);
    }

    #[test]
    fn without_prealloc_only_live_elements_count() {
        let m = per_type(layout_6_18());
        let empty = MapSpec::new(MapKind::Hash, 1000, 8, 8).without_prealloc(0);
        // 832 + 1024 × 16 + 64
        assert_eq!(bytes(&m, empty), 17_280);
        // + 10 × (48 + 8 + 8 + 8)
        assert_eq!(bytes(&m, empty.without_prealloc(10)), 17_280 + 720);
        let percpu = MapSpec::new(MapKind::PercpuHash, 1000, 8, 8).without_prealloc(10);
        // elem 48 + 8 + 8 = 64; + llist 8; + (8 + 8) header; + 8 × 2 CPUs
        assert_eq!(bytes(&m, percpu), 17_280 + 10 * (72 + 16 + 16));
    }

    #[test]
    fn a_6_12_layout_moves_the_figures_by_its_struct_sizes() {
        // Debian's 6.12 (kernels.toml, read back through BTF): bpf_htab 64
        // bytes larger (it still has map_locked), bpf_array 48 bytes
        // smaller, than on 6.18.
        let sizes = kernels::find(KernelVersion::new(6, 12, 0)).unwrap().sizes;
        assert_eq!((sizes.bpf_htab, sizes.bpf_array), (Some(896), Some(264)));
        let btf = KernelBtf { path: "6.12".into(), sizes: super::super::btf::parse(&synthetic_btf(&sizes)).unwrap() };
        let m = Model::with(KernelVersion::new(6, 12, 0), HOST, Accounting::PerType(Layout::from_btf(&btf, true)));
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1, 4, 4)), 1120 + 64);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Array, 1, 4, 4)), 320 - 48);
        assert!(m.map(&MapSpec::new(MapKind::Hash, 1, 4, 4)).unwrap().exact);
    }

    fn model_7_2() -> Model {
        let known = kernels::find(KernelVersion::new(7, 2, 0)).expect("kernels.toml knows 7.2");
        Model::with(KernelVersion::new(7, 2, 12), HOST, Accounting::PerType(Layout::from_known(&known, true)))
    }

    // Each expected value below was read from `memlock:` of a real map in
    // Debian's 7.2.12 cloud kernel under qemu (2 possible CPUs, 4 KiB pages).
    #[test]
    fn hash_maps_match_memlock_on_7_2() {
        let m = model_7_2();
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1, 4, 4)), 1120);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1, 4, 4).without_prealloc(1)), 984);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1000, 4, 4)), 81_424);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1000, 5, 13)), 89_440);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1000, 5, 13).without_prealloc(1000)), 97_280);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::PercpuHash, 1, 4, 4)), 992);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::PercpuHash, 1000, 5, 13)), 113_280);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::LruHash, 1, 4, 4)), 976);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::LruHash, 1000, 5, 13)), 89_280);
        assert_eq!(bytes(&m, MapSpec::new(MapKind::LruPercpuHash, 1024, 4, 4)), 99_200);
        let figure = m.map(&MapSpec::new(MapKind::Hash, 1, 4, 4)).unwrap();
        assert!(figure.exact);
        assert!(!figure.terms.iter().any(|t| t.what.contains("lock counters")), "{:?}", figure.terms);
    }

    #[test]
    fn the_lock_counters_count_per_cpu_before_7_0_only() {
        // Same struct sizes, two kernels: 4-byte counters × 8 × possible CPUs.
        let layout = || Accounting::PerType(layout_6_18());
        let spec = MapSpec::new(MapKind::Hash, 1000, 4, 4);
        for cpus in [2, 4] {
            let host = Host { cpus, page_size: 4096 };
            let before = Model::with(KernelVersion::new(6, 19, 11), host, layout()).map(&spec).unwrap().bytes;
            let after = Model::with(LOCK_COUNTERS_UNCOUNTED_SINCE, host, layout()).map(&spec).unwrap().bytes;
            assert_eq!(before - after, 4 * 8 * u64::from(cpus));
        }
    }

    #[test]
    fn footprint_is_one_rounded_formula_before_6_4() {
        let m = footprint(2);
        // round_up(1000 × round_up(8 + 8, 8), 4096) = round_up(16 000, 4096)
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1000, 8, 8)), 16_384);
        // round_up(1000 × round_up(5 + 13, 8) = 24 000, 4096) = 24 576
        assert_eq!(bytes(&m, MapSpec::new(MapKind::LruHash, 1000, 5, 13)), 24_576);
        // per-CPU: value round_up(13, 8) × 2 = 32; round_up(5 + 32, 8) = 40
        assert_eq!(bytes(&m, MapSpec::new(MapKind::PercpuHash, 1000, 5, 13)), 40_960);
        // 4 CPUs: 16 × 4 = 64; round_up(4 + 64, 8) = 72; 1 × 72 -> one page
        assert_eq!(bytes(&footprint(4), MapSpec::new(MapKind::PercpuArray, 1, 4, 13)), 4096);
        // Live elements do not matter.
        assert_eq!(bytes(&m, MapSpec::new(MapKind::Hash, 1000, 8, 8).without_prealloc(0)), 16_384);
        // Ring buffers report 0.
        assert_eq!(m.ring(1 << 20).unwrap().bytes, 0);
        assert!(m.ring(1 << 20).unwrap().exact);
    }

    #[test]
    fn missing_structures_make_the_figure_inexact() {
        let partial = StructSizes { bpf_array: Some(312), ..Default::default() };
        let m = per_type(Layout { sizes: partial, trusted: true, source: "partial".into() });
        assert!(m.map(&MapSpec::new(MapKind::Array, 8, 4, 8)).unwrap().exact);
        let hash = m.map(&MapSpec::new(MapKind::Hash, 8, 4, 8)).unwrap();
        assert!(!hash.exact);
        assert!(hash.notes.iter().any(|n| n.contains("struct bpf_htab")), "{:?}", hash.notes);
        assert!(!m.ring(4096).unwrap().exact);
    }

    #[test]
    fn the_kernels_limits_are_usage_errors() {
        let m = per_type(layout_6_18());
        let err = |spec: MapSpec| m.check_map(&spec).unwrap_err().to_string();
        assert!(err(MapSpec::new(MapKind::Hash, 0, 4, 4)).contains("entries must be at least 1"));
        assert!(err(MapSpec::new(MapKind::Hash, 1, 0, 4)).contains("key size 0"));
        assert!(err(MapSpec::new(MapKind::Hash, 1, 4, (4 << 20) - 52)).contains("key size 4 + value size"));
        assert!(m.check_map(&MapSpec::new(MapKind::Hash, 1, 4, (4 << 20) - 53)).is_ok());
        assert!(err(MapSpec::new(MapKind::Array, 1, 8, 4)).contains("4-byte"));
        assert!(err(MapSpec::new(MapKind::Array, 1, 4, 0)).contains("value size"));
        assert!(err(MapSpec::new(MapKind::PercpuHash, 1, 4, 32_769)).contains("per-CPU"));
        assert!(err(MapSpec::new(MapKind::Array, 1, 4, 1 << 31)).contains("limit"));
        assert!(err(MapSpec::new(MapKind::Hash, (1 << 27) + 1, 4, 4)).contains("more than"));
        assert!(err(MapSpec::new(MapKind::LruHash, 1, 4, 4).without_prealloc(1)).contains("no-prealloc"));
        assert!(err(MapSpec { filled: 3, ..MapSpec::new(MapKind::Hash, 2, 4, 4) }).contains("filled"));
        assert!(m.check_map(&MapSpec::new(MapKind::PercpuArray, 1, 4, 32_768)).is_ok());
        assert!(m.check_map(&MapSpec::new(MapKind::Hash, 1 << 27, 4, 4)).is_ok());
        assert!(m.check_ring(12_288).unwrap_err().to_string().contains("power of two"));
        assert!(m.check_ring(2048).unwrap_err().to_string().contains("multiple of the page size"));
        assert!(m.check_ring(1 << 32).unwrap_err().to_string().contains("largest"));
    }
}
