//! Which live rings `RING` names: a map id, a map name, or `pid:PID` (every
//! ring that process holds), found through the kernel's map ids and the
//! owners `deployment` reads from /proc.
use std::{os::fd::AsFd, str::FromStr};

use anyhow::bail;
use serde::Serialize;

use crate::deployment::{
    owners::{self, Owner},
    ringbuf::RingView,
};

/// What the command line named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Id(u32),
    Name(String),
    Pid(u32),
}

impl FromStr for Selector {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(pid) = text.strip_prefix("pid:") {
            return pid
                .parse()
                .map(Selector::Pid)
                .map_err(|_| format!("`{text}` is not pid:PID with a process id, e.g. pid:1234"));
        }
        if text.is_empty() {
            return Err("the ring is empty: give a map id, a map name or pid:PID".into());
        }
        Ok(text.parse().map(Selector::Id).unwrap_or_else(|_| Selector::Name(text.to_string())))
    }
}

/// The ring as reports name it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RingInfo {
    pub id: u32,
    pub name: String,
    pub size_bytes: u64,
    pub owners: Vec<Owner>,
}

/// A ring found and mapped, ready to sample.
pub struct Ring {
    pub info: RingInfo,
    pub view: RingView,
}

/// Finds and maps the rings `selector` names (needs CAP_SYS_ADMIN: the
/// caller checks). Errors say what was not found and how to look.
pub fn find(selector: &Selector) -> anyhow::Result<Vec<Ring>> {
    let owners = owners::scan();
    let mut rings = Vec::new();
    let mut other_type = None;
    for info in aya::maps::loaded_maps().filter_map(Result::ok) {
        // The raw name: name_as_str() would make aya probe the kernel with maps of its own.
        let name = String::from_utf8_lossy(info.name()).into_owned();
        let wanted = match selector {
            Selector::Id(id) => info.id() == *id,
            Selector::Name(wanted) => name == *wanted,
            Selector::Pid(pid) => owners.of_map(info.id()).iter().any(|o| o.pid == *pid),
        };
        if !wanted {
            continue;
        }
        if !matches!(info.map_type(), Ok(aya::maps::MapType::RingBuf)) {
            other_type.get_or_insert(info.id());
            continue;
        }
        // A map freed since its id was listed is skipped.
        let Ok(fd) = info.fd() else { continue };
        let size = u64::from(info.max_entries());
        let view = RingView::open(fd.as_fd(), size)
            .map_err(|e| anyhow::anyhow!("cannot map ring {} ({name}) read-only: {e}", info.id()))?;
        rings.push(Ring {
            info: RingInfo { id: info.id(), name, size_bytes: size, owners: owners.of_map(info.id()) },
            view,
        });
    }
    rings.sort_by_key(|r| r.info.id);
    match (selector, rings.len(), other_type) {
        (Selector::Id(id), 0, Some(_)) => {
            bail!("map {id} is not a ring buffer: give the id of a ringbuf map (`capacity host` lists them)")
        }
        (Selector::Id(id), 0, None) => bail!("no BPF map has id {id}: `capacity host` lists the rings loaded now"),
        (Selector::Name(name), 0, _) => {
            bail!("no ring buffer is named `{name}`: `capacity host` lists the rings loaded now")
        }
        (Selector::Name(name), n, _) if n > 1 => {
            let ids: Vec<String> = rings.iter().map(|r| r.info.id.to_string()).collect();
            bail!("{n} ring buffers are named `{name}` (ids {}): give one id", ids.join(", "))
        }
        (Selector::Pid(pid), 0, _) => {
            bail!("process {pid} holds no BPF ring buffer open: check the pid, or give a map id")
        }
        _ => Ok(rings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_are_named_by_id_name_or_pid() {
        assert_eq!("42".parse::<Selector>(), Ok(Selector::Id(42)));
        assert_eq!("events".parse::<Selector>(), Ok(Selector::Name("events".into())));
        assert_eq!("pid:77".parse::<Selector>(), Ok(Selector::Pid(77)));
        assert!("pid:me".parse::<Selector>().unwrap_err().contains("pid:PID"));
        assert!("".parse::<Selector>().is_err());
    }
}
