//! One look at the host: its maps as `capacity host` reads them (one
//! [`LiveMap`] type for both commands), its programs reduced to their run
//! counters, and how `watch` names a map's figures in its JSON and labels.
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{ser::SerializeStruct as _, Serialize, Serializer};

use crate::deployment::inventory::{self, Inventory, LiveMap, Options};

/// A ring buffer's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RingSample {
    pub pending_bytes: u64,
    /// The ring's data size (its max_entries).
    pub size_bytes: u64,
    /// The highest backlog since the previous sample (`watch --ring-interval`).
    pub pending_bytes_max: Option<u64>,
}

impl RingSample {
    /// The backlog of `map`, if it is a ring whose positions were read.
    pub fn of(map: &LiveMap) -> Option<Self> {
        let size_bytes = u64::from(map.map.max_entries);
        let pending_bytes_max = map.ringbuf_pending_bytes_max;
        map.ringbuf_pending_bytes.map(|pending_bytes| RingSample { pending_bytes, size_bytes, pending_bytes_max })
    }
}

/// The `owner` label of `map`: see [`owner_label`].
pub fn owner_of(map: &LiveMap) -> String {
    owner_label(map.owners.iter().map(|o| o.comm.as_str()))
}

/// A map as `watch --json` reports it (docs/CLI.md): `{id, name, type,
/// owner, memory_bytes, entries, max_entries, pressure, level, ring}`, the
/// metrics' names, where `host` reports the same map in its own words.
pub fn serialize_for_watch<S: Serializer>(map: &LiveMap, s: S) -> Result<S::Ok, S::Error> {
    let mut out = s.serialize_struct("LiveMap", 10)?;
    out.serialize_field("id", &map.id)?;
    out.serialize_field("name", &map.map.name)?;
    out.serialize_field("type", &map.map.type_name)?;
    out.serialize_field("owner", &owner_of(map))?;
    out.serialize_field("memory_bytes", &map.memlock_bytes)?;
    out.serialize_field("entries", &map.entries)?;
    out.serialize_field("max_entries", &map.map.max_entries)?;
    out.serialize_field("pressure", &map.pressure)?;
    out.serialize_field("level", &map.level)?;
    out.serialize_field("ring", &RingSample::of(map))?;
    out.end()
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
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Seconds since the Unix epoch.
    pub at: f64,
    /// How long reading the inventory took.
    pub read_seconds: f64,
    pub maps: Vec<LiveMap>,
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
    /// The inventory `capacity host` reads, its programs reduced; `at` and
    /// `read_seconds` say when and how long.
    pub fn of(inventory: Inventory, at: f64, read_seconds: f64) -> Self {
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
        Snapshot { at, read_seconds, maps: inventory.maps, programs }
    }

    /// Reads this host now (as `capacity host` does; needs CAP_SYS_ADMIN).
    pub fn read_host() -> anyhow::Result<Self> {
        let at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let start = Instant::now();
        let inventory = inventory::inventory(&Options::default(), None)?;
        Ok(Self::of(inventory, at, start.elapsed().as_secs_f64()))
    }
}

/// A live map for tests: a map of `map_type` with nothing read yet.
#[cfg(test)]
pub(crate) fn test_map(id: u32, name: &str, map_type: crate::sys::bpf_map_type, max_entries: u32) -> LiveMap {
    use crate::deployment::sizing::{MapNamed, MapShape};
    let shape = MapShape { map_type: map_type as u32, key_size: 4, value_size: 8, max_entries, flags: 0 };
    LiveMap {
        id,
        map: MapNamed::new(name.into(), &shape),
        owners: vec![],
        memlock_bytes: 0,
        model_bytes: None,
        model_exact: false,
        model_diff_bytes: None,
        entries: None,
        entries_complete: None,
        pressure: None,
        level: None,
        ringbuf_pending_bytes: None,
        ringbuf_pending_bytes_max: None,
        ringbuf_fill: None,
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{deployment::owners::Owner, pressure::Level, sys::bpf_map_type::BPF_MAP_TYPE_RINGBUF};

    #[test]
    fn watch_names_a_live_map_as_its_contract_says() {
        let ring = LiveMap {
            owners: vec![Owner { pid: 9, comm: "tracer".into() }, Owner { pid: 3, comm: "agent".into() }],
            memlock_bytes: 8_392_000,
            pressure: Some(0.25),
            level: Some(Level::Healthy),
            ringbuf_pending_bytes: Some(1024),
            ringbuf_pending_bytes_max: Some(3072),
            ringbuf_fill: Some(0.25),
            ..test_map(8, "events", BPF_MAP_TYPE_RINGBUF, 4096)
        };
        let mut json = serde_json::Serializer::new(Vec::new());
        serialize_for_watch(&ring, &mut json).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json.into_inner()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": 8, "name": "events", "type": "ringbuf", "owner": "agent,tracer",
                "memory_bytes": 8_392_000, "entries": null, "max_entries": 4096,
                "pressure": 0.25, "level": "healthy",
                "ring": {"pending_bytes": 1024, "size_bytes": 4096, "pending_bytes_max": 3072}
            })
        );
    }

    #[test]
    fn owners_are_distinct_sorted_commands() {
        assert_eq!(owner_label(["tracer", "agent", "tracer"]), "agent,tracer");
        assert_eq!(owner_label([]), "");
    }
}
