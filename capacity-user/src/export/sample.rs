//! One look at the host, reduced to what the exporter and the watch table
//! need: per map its memory, entries, limit and ring backlog; per program
//! its run counters. Filled from `capacity host`'s inventory.
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::deployment::inventory::{self, Inventory, Options};

/// A ring buffer's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RingSample {
    pub pending_bytes: u64,
    /// The ring's data size (its max_entries).
    pub size_bytes: u64,
    /// The highest backlog since the previous sample (`watch --ring-interval`).
    pub pending_bytes_max: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapSample {
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// Commands of the processes holding it, sorted, comma-separated ("" when none).
    pub owner: String,
    /// The kernel's figure (fdinfo memlock).
    pub memory_bytes: u64,
    /// Entries in use, where the kernel can count them (hash-family maps).
    pub entries: Option<u64>,
    pub max_entries: u32,
    /// entries / max_entries, or a ring's fill.
    pub pressure: Option<f64>,
    /// The pressure's level (healthy, warning, critical, exhausted).
    pub level: Option<String>,
    pub ring: Option<RingSample>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramSample {
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub owner: String,
    pub run_count: u64,
    pub run_time_ns: u64,
    pub recursion_misses: Option<u64>,
}

/// Everything seen at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Seconds since the Unix epoch.
    pub at: f64,
    /// How long reading the inventory took.
    pub read_seconds: f64,
    pub maps: Vec<MapSample>,
    pub programs: Vec<ProgramSample>,
}

/// The `owner` label: the distinct commands, sorted, joined by commas. Pids
/// are left out so that a restart does not start a new series.
pub fn owner_label<'a>(commands: impl IntoIterator<Item = &'a str>) -> String {
    let mut commands: Vec<&str> = commands.into_iter().collect();
    commands.sort_unstable();
    commands.dedup();
    commands.join(",")
}

impl Snapshot {
    /// The inventory `capacity host` reads, reduced; `at` and `read_seconds`
    /// say when and how long.
    pub fn of(inventory: &Inventory, at: f64, read_seconds: f64) -> Self {
        let maps = inventory
            .maps
            .iter()
            .map(|m| MapSample {
                id: m.id,
                name: m.map.name.clone(),
                type_name: m.map.type_name.clone(),
                owner: owner_label(m.owners.iter().map(|o| o.comm.as_str())),
                memory_bytes: m.memlock_bytes,
                entries: m.entries,
                max_entries: m.map.max_entries,
                pressure: m.pressure,
                level: m.level.map(|l| l.name().to_string()),
                ring: m
                    .ringbuf_pending_bytes
                    .map(|pending_bytes| RingSample {
                        pending_bytes,
                        size_bytes: u64::from(m.map.max_entries),
                        pending_bytes_max: None,
                    }),
            })
            .collect();
        let programs = inventory
            .programs
            .iter()
            .map(|p| ProgramSample {
                id: p.id,
                name: p.name.clone(),
                type_name: p.type_name.clone(),
                owner: owner_label(p.owners.iter().map(|o| o.comm.as_str())),
                run_count: p.run_cnt,
                run_time_ns: p.run_time_ns,
                recursion_misses: p.recursion_misses,
            })
            .collect();
        Snapshot { at, read_seconds, maps, programs }
    }

    /// Reads this host now (as `capacity host` does; needs CAP_SYS_ADMIN).
    pub fn read_host() -> anyhow::Result<Self> {
        let at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let start = Instant::now();
        let inventory = inventory::inventory(&Options::default(), None)?;
        Ok(Self::of(&inventory, at, start.elapsed().as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_distinct_sorted_commands() {
        assert_eq!(owner_label(["tracer", "agent", "tracer"]), "agent,tracer");
        assert_eq!(owner_label([]), "");
    }
}
