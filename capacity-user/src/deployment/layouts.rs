//! The layouts of what is loaded now: which maps sit inside each array or
//! hash of maps (an agent's rings per CPU), and the perf buffers each process holding
//! a perf event array has mapped, with their sizes as /proc/PID/maps shows
//! them (perf buffers are no map memory: no map's memlock has them).
use std::{collections::BTreeSet, fs, os::fd::BorrowedFd};

use serde::Serialize;

use super::owners::Owner;
use crate::sys;

/// Slots read per array of maps at most (a bound on one host look).
const MAX_SLOTS: u32 = 1 << 16;

/// An array or a hash of maps and the maps in it.
#[derive(Debug, Clone, Serialize)]
pub struct MapArray {
    pub id: u32,
    pub name: String,
    /// `array-of-maps` or `hash-of-maps`.
    #[serde(rename = "type")]
    pub type_name: String,
    pub max_entries: u32,
    /// The ids of the maps in it: an array's filled slots in slot order, a
    /// hash's entries in the kernel's key order.
    pub inner_map_ids: Vec<u32>,
    /// The memlock of those maps (rings: each ring's), summed.
    pub inner_memlock_bytes: u64,
}

/// The maps in the slots of the array of maps `fd` (slot order; empty slots skipped).
pub fn inner_map_ids(fd: BorrowedFd<'_>, max_entries: u32) -> std::io::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for slot in 0..max_entries.min(MAX_SLOTS) {
        let mut id = [0u8; 4];
        if sys::bpf::map_lookup_elem(fd, &slot.to_ne_bytes(), &mut id)? {
            ids.push(u32::from_ne_bytes(id));
        }
    }
    Ok(ids)
}

/// The maps in the hash of maps `fd` (u32 or wider keys of `key_size`
/// bytes), in the order the kernel walks its keys; at most [`MAX_SLOTS`].
pub fn inner_map_ids_of_hash(fd: BorrowedFd<'_>, key_size: u32) -> std::io::Result<Vec<u32>> {
    let mut ids = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; key_size as usize];
    while ids.len() < MAX_SLOTS as usize && sys::bpf::map_get_next_key(fd, key.as_deref(), &mut next)? {
        let mut id = [0u8; 4];
        // An entry deleted since the walk passed it is skipped.
        if sys::bpf::map_lookup_elem(fd, &next, &mut id)? {
            ids.push(u32::from_ne_bytes(id));
        }
        key = Some(next.clone());
    }
    Ok(ids)
}

/// One process's perf buffers.
#[derive(Debug, Clone, Serialize)]
pub struct PerfBuffers {
    #[serde(flatten)]
    pub owner: Owner,
    /// Mappings of perf events (`anon_inode:[perf_event]`): one per buffer.
    pub buffers: u32,
    /// Their sizes summed: (data pages + 1) × page each.
    pub bytes: u64,
}

/// The perf buffers mapped by each of `owners` (the processes holding a
/// perf event array). Processes that exit or deny access are skipped.
pub fn perf_buffers(owners: &BTreeSet<Owner>) -> Vec<PerfBuffers> {
    owners
        .iter()
        .filter_map(|owner| {
            let maps = fs::read_to_string(format!("/proc/{}/maps", owner.pid)).ok()?;
            let sizes: Vec<u64> =
                maps.lines().filter(|l| l.ends_with("[perf_event]")).filter_map(mapping_bytes).collect();
            (!sizes.is_empty()).then(|| PerfBuffers {
                owner: owner.clone(),
                buffers: sizes.len() as u32,
                bytes: sizes.iter().sum(),
            })
        })
        .collect()
}

/// The size of one /proc/PID/maps line's mapping (`start-end ...`).
fn mapping_bytes(line: &str) -> Option<u64> {
    let (start, end) = line.split_whitespace().next()?.split_once('-')?;
    Some(u64::from_str_radix(end, 16).ok()? - u64::from_str_radix(start, 16).ok()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_maps_line_gives_its_mapping_size() {
        let line = "7f2a4c000000-7f2a4c009000 rw-s 00000000 00:0f 1058 anon_inode:[perf_event]";
        assert_eq!(super::mapping_bytes(line), Some(9 * 4096));
        assert_eq!(super::mapping_bytes("garbage"), None);
    }
}
