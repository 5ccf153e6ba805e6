//! Two measurements of a real map's memory:
//! - the kernel's own figure, the `memlock:` line of /proc/self/fdinfo/<fd>;
//! - what a memory cgroup is charged while the map is created and filled:
//!   this thread (v1) or process (v2) runs in a fresh child cgroup for that
//!   moment, and the child is removed right after.
use std::{
    fs,
    os::fd::BorrowedFd,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::Context as _;

use crate::sys::{process::thread_id, FdInfo};

/// The kernel's `memlock` figure for an open map.
pub fn memlock(fd: BorrowedFd<'_>) -> anyhow::Result<u64> {
    FdInfo::of(fd)?.number("memlock").context("the map's fdinfo has no memlock: line")
}

/// Which cgroup hierarchy charges are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// Where fresh measuring cgroups are made, and how to get back home.
#[derive(Debug)]
pub struct ChargeMeter {
    version: Version,
    /// The cgroup this process was in: where it returns after each measurement.
    home: PathBuf,
    /// Where the measuring children are created.
    parent: PathBuf,
    /// The usage file read before and after, relative to a cgroup.
    counter: &'static str,
    /// `cgroup.subtree_control` where this meter enabled the memory
    /// controller itself, to turn it off again when done.
    enabled_memory: Option<PathBuf>,
}

static NEXT_CHILD: AtomicU32 = AtomicU32::new(0);

impl ChargeMeter {
    /// A usable memory cgroup: v2 where it has the memory controller, else
    /// v1's memory hierarchy. `None` when neither can be used.
    pub fn find() -> Option<Self> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let membership = fs::read_to_string("/proc/self/cgroup").ok()?;
        let mounts = cgroup_mounts(&mountinfo);
        let v2 = mounts.iter().find(|m| m.fstype == "cgroup2");
        if let Some(meter) = v2.and_then(|m| Self::v2(m, &membership)) {
            return Some(meter);
        }
        let v1 = mounts.iter().find(|m| m.fstype == "cgroup" && m.options.split(',').any(|o| o == "memory"))?;
        Self::v1(v1, &membership)
    }

    /// Where charges are read, for the report.
    pub fn source(&self) -> String {
        let version = match self.version {
            Version::V1 => "v1",
            Version::V2 => "v2",
        };
        format!("cgroup {version} {}", self.counter)
    }

    fn v1(mount: &Mount, membership: &str) -> Option<Self> {
        let path = membership.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers.split(',').any(|c| c == "memory").then_some(path)
        })?;
        let home = mount.dir_of(path)?;
        // A map is kernel memory: v1's kmem counter has it to the page, while
        // memory.usage_in_bytes is a deliberately fuzzy figure there.
        let counter = if home.join("memory.kmem.usage_in_bytes").exists() {
            "memory.kmem.usage_in_bytes"
        } else {
            "memory.usage_in_bytes"
        };
        Some(Self { version: Version::V1, parent: home.clone(), home, counter, enabled_memory: None })
    }

    fn v2(mount: &Mount, membership: &str) -> Option<Self> {
        let path = membership.lines().find_map(|l| l.strip_prefix("0::"))?;
        let home = mount.dir_of(path)?;
        let has_memory =
            |file: &Path| fs::read_to_string(file).is_ok_and(|s| s.split_whitespace().any(|c| c == "memory"));
        let root = PathBuf::from(&mount.point);
        if !has_memory(&root.join("cgroup.controllers")) {
            return None;
        }
        let mut meter = Self {
            version: Version::V2,
            home: home.clone(),
            parent: home.clone(),
            counter: "memory.current",
            enabled_memory: None,
        };
        if has_memory(&home.join("cgroup.subtree_control")) {
            return Some(meter);
        }
        if home == root {
            // The root cgroup may hold processes and delegate controllers.
            let control = root.join("cgroup.subtree_control");
            fs::write(&control, "+memory").ok()?;
            meter.enabled_memory = Some(control);
            return Some(meter);
        }
        // A cgroup with processes cannot delegate controllers to children:
        // measure in a sibling instead, which has memory if this one does.
        if has_memory(&home.join("cgroup.controllers")) {
            meter.parent = home.parent()?.to_path_buf();
            return Some(meter);
        }
        None
    }

    /// Runs `work` in a fresh child cgroup and returns its result with the
    /// growth of the cgroup's usage. A cgroup step that fails leaves the
    /// charge unknown (`None`), never the work undone or a cgroup behind.
    pub fn charge<T>(&self, work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Option<u64>)> {
        let child = self.parent.join(format!(
            "capacity-verify-{}-{}",
            std::process::id(),
            NEXT_CHILD.fetch_add(1, Ordering::Relaxed)
        ));
        let Ok(stay) = Stay::enter(self, child) else {
            return work().map(|t| (t, None));
        };
        let before = stay.usage();
        let result = work();
        let after = stay.usage();
        drop(stay);
        let value = result?;
        Ok((value, before.zip(after).map(|(b, a)| a.saturating_sub(b))))
    }

    fn move_here(&self, cgroup: &Path) -> std::io::Result<()> {
        match self.version {
            // v1 places threads one by one: move only the measuring thread.
            Version::V1 => fs::write(cgroup.join("tasks"), thread_id().to_string()),
            // v2's memory controller is process-wide.
            Version::V2 => fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string()),
        }
    }
}

impl Drop for ChargeMeter {
    fn drop(&mut self) {
        if let Some(control) = &self.enabled_memory {
            let _ = fs::write(control, "-memory");
        }
    }
}

/// This thread's stay in a measuring cgroup: leaving (also on error or
/// panic) moves it home and removes the cgroup.
struct Stay<'a> {
    meter: &'a ChargeMeter,
    cgroup: PathBuf,
}

impl<'a> Stay<'a> {
    fn enter(meter: &'a ChargeMeter, cgroup: PathBuf) -> std::io::Result<Self> {
        fs::create_dir(&cgroup)?;
        let stay = Self { meter, cgroup };
        meter.move_here(&stay.cgroup)?;
        Ok(stay)
    }

    fn usage(&self) -> Option<u64> {
        fs::read_to_string(self.cgroup.join(self.meter.counter)).ok()?.trim().parse().ok()
    }
}

impl Drop for Stay<'_> {
    fn drop(&mut self) {
        let _ = self.meter.move_here(&self.meter.home);
        let _ = fs::remove_dir(&self.cgroup);
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Mount {
    /// The directory of the hierarchy mounted here (`/` unless a namespace
    /// or bind mount shows a subtree).
    root: String,
    point: String,
    fstype: String,
    options: String,
}

impl Mount {
    /// The directory of the cgroup at `path` (as /proc/self/cgroup names it).
    fn dir_of(&self, path: &str) -> Option<PathBuf> {
        let relative = if self.root == "/" { path } else { path.strip_prefix(self.root.as_str())? };
        let dir = Path::new(&self.point).join(relative.trim_start_matches('/'));
        dir.is_dir().then_some(dir)
    }
}

/// cgroup and cgroup2 mounts from /proc/self/mountinfo.
fn cgroup_mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut rest = after.split(' ');
            let fstype = rest.next()?;
            let options = rest.nth(1)?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            Some(Mount {
                root: fields.get(3)?.to_string(),
                point: fields.get(4)?.to_string(),
                fstype: fstype.into(),
                options: options.into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_mounts_are_found_with_their_options() {
        let info = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
        let mounts = cgroup_mounts(info);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].point, "/sys/fs/cgroup/memory");
        assert_eq!(mounts[0].options, "rw,memory");
        assert_eq!(mounts[1].fstype, "cgroup2");
        assert_eq!(mounts[1].options, "rw,nsdelegate");
    }
}
