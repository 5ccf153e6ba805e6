//! Sizes of the kernel structures that the 6.4+ memory figures add up, read
//! from a kernel's BTF. They differ between builds of the same version
//! (config options, lock debugging, new members), so no size is hard-coded:
//! a structure the BTF does not describe stays unknown.
use std::path::{Path, PathBuf};

use btf_rs::{Btf, Type};
use serde::{Deserialize, Serialize};

/// The running kernel's BTF (readable without privileges).
pub const VMLINUX_BTF: &str = crate::preflight::VMLINUX_BTF;

/// The structures `htab_map_mem_usage`, `array_map_mem_usage` and
/// `ringbuf_map_mem_usage` count, as one kernel build lays them out.
/// `None`: this BTF does not describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructSizes {
    /// `sizeof(struct bpf_htab)` (kernel/bpf/hashtab.c).
    pub bpf_htab: Option<u64>,
    /// `sizeof(struct bucket)`, found through `bpf_htab.buckets` because
    /// vmlinux has several structures named `bucket`.
    pub htab_bucket: Option<u64>,
    /// `sizeof(struct htab_elem)`, the element header before key and value.
    pub htab_elem: Option<u64>,
    /// `sizeof(struct llist_node)`, added per element without preallocation.
    pub llist_node: Option<u64>,
    /// `sizeof(struct bpf_array)` (kernel/bpf/arraymap.c).
    pub bpf_array: Option<u64>,
    /// `sizeof(struct bpf_ringbuf_map)` (kernel/bpf/ringbuf.c).
    pub bpf_ringbuf_map: Option<u64>,
    /// `offsetof(struct bpf_ringbuf, consumer_pos)`: the pages of ring
    /// metadata before the consumer page (`RINGBUF_PGOFF` in pages).
    pub ringbuf_consumer_pos: Option<u64>,
    /// `struct bpf_map_ops` has `map_mem_usage`: the BTF is from 6.4 or later.
    pub has_map_mem_usage: Option<bool>,
}

/// Sizes and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBtf {
    pub path: PathBuf,
    pub sizes: StructSizes,
}

impl KernelBtf {
    /// Reads raw BTF (like /sys/kernel/btf/vmlinux) or an ELF `vmlinux`
    /// that carries a `.BTF` section. Unreadable or malformed input is a
    /// usage error naming the file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                anyhow::bail!("cannot read BTF from {}: {e}: pass --btf with a kernel's BTF file", path.display())
            }
        };
        let sizes = match parse(&bytes) {
            Ok(sizes) => sizes,
            Err(e) => anyhow::bail!(
                "{} is not a kernel's BTF ({e}): pass /sys/kernel/btf/vmlinux or an ELF vmlinux with a .BTF section",
                path.display()
            ),
        };
        Ok(Self { path: path.to_path_buf(), sizes })
    }

    /// The running kernel's BTF, or `None` where it has none.
    pub fn running() -> Option<Self> {
        Self::read(Path::new(VMLINUX_BTF)).ok()
    }
}

const ELF_MAGIC: &[u8] = b"\x7fELF";

/// Struct sizes from BTF bytes (raw, or an ELF file's `.BTF` section).
pub fn parse(bytes: &[u8]) -> Result<StructSizes, String> {
    let raw = if bytes.starts_with(ELF_MAGIC) { elf_btf_section(bytes)? } else { bytes };
    let btf = Btf::from_bytes(raw).map_err(|e| e.to_string())?;
    let size_of = |name: &str| named_struct(&btf, name).map(|s| s.size() as u64);
    let htab = named_struct(&btf, "bpf_htab");
    let htab_bucket = htab
        .as_ref()
        .and_then(|h| member(&btf, h, "buckets"))
        .and_then(|m| pointee_struct(&btf, &m))
        .map(|s| s.size() as u64);
    let ringbuf_consumer_pos = named_struct(&btf, "bpf_ringbuf")
        .and_then(|rb| member(&btf, &rb, "consumer_pos"))
        .map(|m| u64::from(m.bit_offset() / 8));
    let has_map_mem_usage = named_struct(&btf, "bpf_map_ops").map(|ops| member(&btf, &ops, "map_mem_usage").is_some());
    let sizes = StructSizes {
        bpf_htab: htab.map(|h| h.size() as u64),
        htab_bucket,
        htab_elem: size_of("htab_elem"),
        llist_node: size_of("llist_node"),
        bpf_array: size_of("bpf_array"),
        bpf_ringbuf_map: size_of("bpf_ringbuf_map"),
        ringbuf_consumer_pos,
        has_map_mem_usage,
    };
    if sizes == StructSizes::default() {
        return Err("it describes none of the BPF map structures".into());
    }
    Ok(sizes)
}

fn elf_btf_section(bytes: &[u8]) -> Result<&[u8], String> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(bytes).map_err(|e| format!("bad ELF: {e}"))?;
    let section = file.section_by_name(".BTF").ok_or("the ELF file has no .BTF section")?;
    section.data().map_err(|e| format!("unreadable .BTF section: {e}"))
}

fn named_struct(btf: &Btf, name: &str) -> Option<btf_rs::Struct> {
    btf.resolve_types_by_name(name).ok()?.into_iter().find_map(|t| match t {
        Type::Struct(s) => Some(s),
        _ => None,
    })
}

fn member(btf: &Btf, parent: &btf_rs::Struct, name: &str) -> Option<btf_rs::Member> {
    parent.members.iter().find(|m| btf.resolve_name(*m).is_ok_and(|n| n == name)).cloned()
}

/// The structure a pointer member points to, through typedefs and qualifiers.
fn pointee_struct(btf: &Btf, member: &btf_rs::Member) -> Option<btf_rs::Struct> {
    let mut current = btf.resolve_chained_type(member).ok()?;
    let mut through_pointer = false;
    for _ in 0..16 {
        current = match current {
            Type::Struct(s) if through_pointer => return Some(s),
            Type::Ptr(p) if !through_pointer => {
                through_pointer = true;
                btf.resolve_chained_type(&p).ok()?
            }
            Type::Typedef(t) => btf.resolve_chained_type(&t).ok()?,
            Type::Const(t) | Type::Volatile(t) | Type::Restrict(t) => btf.resolve_chained_type(&t).ok()?,
            Type::TypeTag(t) => btf.resolve_chained_type(&t).ok()?,
            _ => return None,
        };
    }
    None
}

/// Minimal raw BTF describing only the structures [`StructSizes`] reads,
/// with the given sizes: a kernel's layout in a few hundred bytes, for tests
/// that must not depend on the kernel they run on.
#[doc(hidden)]
pub fn synthetic_btf(sizes: &StructSizes) -> Vec<u8> {
    let mut w = BtfWriter::default();
    let int = w.int("int", 4);
    if let Some(size) = sizes.bpf_htab {
        let bucket = w.structure("bucket", sizes.htab_bucket.unwrap_or(0), &[]);
        let bucket_ptr = w.pointer(bucket);
        w.structure("bpf_htab", size, &[("buckets", bucket_ptr, 0)]);
    }
    for (name, size) in [
        ("htab_elem", sizes.htab_elem),
        ("llist_node", sizes.llist_node),
        ("bpf_array", sizes.bpf_array),
        ("bpf_ringbuf_map", sizes.bpf_ringbuf_map),
    ] {
        if let Some(size) = size {
            w.structure(name, size, &[]);
        }
    }
    if let Some(offset) = sizes.ringbuf_consumer_pos {
        w.structure("bpf_ringbuf", offset + 8, &[("consumer_pos", int, offset)]);
    }
    if let Some(has) = sizes.has_map_mem_usage {
        let members: &[(&str, u32, u64)] = if has { &[("map_mem_usage", int, 0)] } else { &[("map_alloc", int, 0)] };
        w.structure("bpf_map_ops", 8, members);
    }
    w.finish()
}

/// Writes the BTF wire format (include/uapi/linux/btf.h).
struct BtfWriter {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Default for BtfWriter {
    fn default() -> Self {
        Self { types: Vec::new(), strings: vec![0], next_id: 1 }
    }
}

impl BtfWriter {
    const KIND_INT: u32 = 1;
    const KIND_PTR: u32 = 2;
    const KIND_STRUCT: u32 = 4;

    fn string(&mut self, s: &str) -> u32 {
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        offset
    }

    fn header(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32) -> u32 {
        let name_off = if name.is_empty() { 0 } else { self.string(name) };
        for word in [name_off, (kind << 24) | vlen, size_or_type] {
            self.types.extend_from_slice(&word.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }

    fn int(&mut self, name: &str, size: u32) -> u32 {
        let id = self.header(name, Self::KIND_INT, 0, size);
        self.types.extend_from_slice(&(size * 8).to_le_bytes());
        id
    }

    fn pointer(&mut self, to: u32) -> u32 {
        self.header("", Self::KIND_PTR, 0, to)
    }

    fn structure(&mut self, name: &str, size: u64, members: &[(&str, u32, u64)]) -> u32 {
        let id = self.header(name, Self::KIND_STRUCT, members.len() as u32, size as u32);
        for &(member, type_id, byte_offset) in members {
            let name_off = self.string(member);
            for word in [name_off, type_id, (byte_offset * 8) as u32] {
                self.types.extend_from_slice(&word.to_le_bytes());
            }
        }
        id
    }

    fn finish(self) -> Vec<u8> {
        const HEADER_LEN: u32 = 24;
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9f_u16.to_le_bytes());
        out.extend_from_slice(&[1, 0]); // version 1, no flags
        for word in [HEADER_LEN, 0, self.types.len() as u32, self.types.len() as u32, self.strings.len() as u32] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's 6.12 as kernels.toml has it.
    fn debian_6_12_like() -> StructSizes {
        crate::memory::kernels::find(crate::kernel::KernelVersion::new(6, 12, 0))
            .expect("kernels.toml knows 6.12")
            .sizes
    }

    #[test]
    fn synthetic_btf_reads_back_the_same_sizes() {
        let sizes = debian_6_12_like();
        assert_eq!(parse(&synthetic_btf(&sizes)), Ok(sizes));
    }

    #[test]
    fn missing_structures_stay_unknown() {
        let sizes = StructSizes { bpf_array: Some(312), has_map_mem_usage: Some(false), ..Default::default() };
        let read = parse(&synthetic_btf(&sizes)).unwrap();
        assert_eq!(read.bpf_array, Some(312));
        assert_eq!(read.bpf_htab, None);
        assert_eq!(read.htab_bucket, None);
        assert_eq!(read.has_map_mem_usage, Some(false));
    }

    /// A minimal ELF64 file whose only section is `.BTF`.
    fn elf_with_btf(btf: &[u8]) -> Vec<u8> {
        let names = b"\0.BTF\0.shstrtab\0";
        let btf_at = 64u64;
        let names_at = btf_at + btf.len() as u64;
        let headers_at = (names_at + names.len() as u64).next_multiple_of(8);
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        elf.extend_from_slice(&1u16.to_le_bytes()); // ET_REL
        elf.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        elf.extend_from_slice(&1u32.to_le_bytes());
        elf.extend_from_slice(&[0; 16]); // entry, program headers
        elf.extend_from_slice(&headers_at.to_le_bytes());
        elf.extend_from_slice(&0u32.to_le_bytes());
        for half in [64u16, 0, 0, 64, 3, 2] {
            elf.extend_from_slice(&half.to_le_bytes());
        }
        elf.extend_from_slice(btf);
        elf.extend_from_slice(names);
        elf.resize(headers_at as usize, 0);
        for (name, kind, offset, size) in
            [(0u32, 0u32, 0u64, 0u64), (1, 1, btf_at, btf.len() as u64), (6, 3, names_at, names.len() as u64)]
        {
            elf.extend_from_slice(&name.to_le_bytes());
            elf.extend_from_slice(&kind.to_le_bytes());
            for word in [0u64, 0, offset, size] {
                elf.extend_from_slice(&word.to_le_bytes());
            }
            elf.extend_from_slice(&[0; 8]); // link, info
            elf.extend_from_slice(&1u64.to_le_bytes());
            elf.extend_from_slice(&0u64.to_le_bytes());
        }
        elf
    }

    #[test]
    fn an_elf_vmlinux_is_read_through_its_btf_section() {
        let sizes = debian_6_12_like();
        assert_eq!(parse(&elf_with_btf(&synthetic_btf(&sizes))), Ok(sizes));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse(b"not btf at all").is_err());
        assert!(parse(b"\x7fELFtruncated").is_err());
    }

    #[test]
    fn the_running_kernel_describes_its_maps() {
        // Every kernel this tool supports has BTF with these structures.
        let Some(btf) = KernelBtf::running() else { return };
        let s = &btf.sizes;
        assert!(s.bpf_htab.is_some() && s.htab_bucket.is_some() && s.htab_elem.is_some(), "{s:?}");
        assert!(s.bpf_array.is_some() && s.bpf_ringbuf_map.is_some(), "{s:?}");
        assert_eq!(s.llist_node, Some(8));
    }
}
