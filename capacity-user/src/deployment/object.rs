//! The maps an eBPF ELF object declares: BTF-defined maps (`.maps`),
//! legacy `maps` definitions, the global-data maps a loader creates for
//! `.data`, `.rodata` and `.bss`, and the inner map of each map-in-map.
//! Parsing is aya-obj's, the same code that loads objects in aya.
use std::path::Path;

use aya_obj::{EbpfSectionKind, Map, Object};
use serde::Serialize;

/// `EM_BPF`: the ELF machine of BPF objects.
const EM_BPF: u16 = 247;

/// One map as the object declares it (before any loader changes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredMap {
    pub name: String,
    /// `enum bpf_map_type`.
    pub map_type: u32,
    /// Sizes as the kernel sees them: from BTF types where the object gives
    /// them, so padded structs count with their padding.
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// `maps`, `.maps`, `.data`, `.rodata`, `.bss`.
    pub section: &'static str,
    /// For an inner map: the map-in-map it describes.
    pub inner_of: Option<String>,
}

/// Reads every map `path` declares, sorted by name, inner maps after their outer map.
pub fn read(path: &Path) -> anyhow::Result<Vec<DeclaredMap>> {
    let shown = path.display();
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) => {
            anyhow::bail!("cannot read {shown}: {e}: give the path of a BPF object file (clang -target bpf -c ...)")
        }
    };
    parse(&data).map_err(|e| anyhow::anyhow!("{shown}: {e}"))
}

/// The maps in an object's bytes; the error says why it is not a BPF object.
pub fn parse(data: &[u8]) -> Result<Vec<DeclaredMap>, String> {
    if !data.starts_with(b"\x7fELF") {
        return Err("not an ELF file: give a BPF object compiled with clang -target bpf".into());
    }
    use object::read::elf::FileHeader as _;
    let header = object::elf::FileHeader64::<object::Endianness>::parse(data)
        .map_err(|e| format!("not a 64-bit ELF object ({e}): BPF objects are 64-bit"))?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let machine = header.e_machine(endian);
    if machine != EM_BPF {
        return Err(format!(
            "an ELF object for machine {machine}, not BPF ({EM_BPF}): give a clang -target bpf object"
        ));
    }
    let maps_only = without_programs(data)?;
    let object =
        Object::parse(&maps_only).map_err(|e| format!("cannot read it as a BPF object: {}", error_chain(&e)))?;
    let mut maps: Vec<DeclaredMap> = Vec::new();
    for (name, map) in &object.maps {
        maps.push(declared(name, map, None));
        if let Some(inner) = map.inner() {
            maps.push(declared(&format!("{name}.inner"), &inner, Some(name.clone())));
        }
    }
    maps.sort_by(|a, b| {
        let key = |m: &DeclaredMap| (m.inner_of.clone().unwrap_or_else(|| m.name.clone()), m.inner_of.is_some());
        key(a).cmp(&key(b))
    });
    Ok(maps)
}

/// A copy of the object whose program sections are plain data: only maps
/// are read, so a program section aya does not know (`tcx/ingress`,
/// `ksyscall/...`, any loader's own) cannot stop it. aya-obj takes an
/// executable section that is not `.text` for a program.
fn without_programs(data: &[u8]) -> Result<Vec<u8>, String> {
    use object::{
        elf::{FileHeader64, SHF_EXECINSTR},
        read::elf::{FileHeader as _, SectionHeader as _},
        Endian as _, Endianness,
    };
    let bad = |e: object::Error| format!("a damaged ELF object: {e}");
    let header = FileHeader64::<Endianness>::parse(data).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let sections = header.sections(endian, data).map_err(bad)?;
    let table_offset = header.e_shoff(endian) as usize;
    let entry_size = usize::from(header.e_shentsize(endian));
    let mut copy = data.to_vec();
    for (index, section) in sections.iter().enumerate() {
        let flags = section.sh_flags(endian);
        let name = sections.section_name(endian, section).map_err(bad)?;
        if flags & u64::from(SHF_EXECINSTR) == 0 || name.starts_with(b".text") {
            continue;
        }
        // Elf64_Shdr: sh_name (4), sh_type (4), then sh_flags (8).
        let at = table_offset + index * entry_size + 8;
        let cleared = flags & !u64::from(SHF_EXECINSTR);
        let bytes = if endian.is_little_endian() { cleared.to_le_bytes() } else { cleared.to_be_bytes() };
        copy.get_mut(at..at + 8).ok_or("a damaged ELF object: section table out of bounds")?.copy_from_slice(&bytes);
    }
    Ok(copy)
}

fn declared(name: &str, map: &Map, inner_of: Option<String>) -> DeclaredMap {
    DeclaredMap {
        name: name.to_string(),
        map_type: map.map_type(),
        key_size: map.key_size(),
        value_size: map.value_size(),
        max_entries: map.max_entries(),
        flags: map.map_flags(),
        section: match map.section_kind() {
            EbpfSectionKind::Maps => "maps",
            EbpfSectionKind::BtfMaps => ".maps",
            EbpfSectionKind::Data => ".data",
            EbpfSectionKind::Rodata => ".rodata",
            EbpfSectionKind::Bss => ".bss",
            _ => "other",
        },
        inner_of,
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_bpf_objects_are_named_as_such() {
        assert!(parse(b"hello").unwrap_err().contains("not an ELF"));
        // This test binary is an ELF, but for the host's machine.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(parse(&exe).unwrap_err().contains("not BPF"), "{}", parse(&exe).unwrap_err());
        let err = read(Path::new("/nonexistent/x.o")).unwrap_err();
        assert!(err.to_string().contains("cannot read /nonexistent/x.o"), "{err}");
    }
}
