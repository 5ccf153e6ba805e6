//! One look at the host, reduced to what the exporter and the watch table
//! need: per map its memory, entries, limit and ring backlog; per program
//! its run counters. Filled from `capacity host`'s inventory.
use serde::Serialize;

/// A ring buffer's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RingSample {
    pub pending_bytes: u64,
    /// The ring's data size (its max_entries).
    pub size_bytes: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_distinct_sorted_commands() {
        assert_eq!(owner_label(["tracer", "agent", "tracer"]), "agent,tracer");
        assert_eq!(owner_label([]), "");
    }
}
