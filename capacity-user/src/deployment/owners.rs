//! Which processes hold each BPF map and program, found as bpftool finds
//! them: every open file of every process that is a BPF map, program or
//! link (/proc/PID/fd), and the id its fdinfo names.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
};

use serde::Serialize;

use crate::sys::FdInfo;

/// A process holding a BPF object open.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Owner {
    pub pid: u32,
    pub comm: String,
}

/// Owners by map id and by program id.
#[derive(Debug, Default)]
pub struct Owners {
    pub maps: BTreeMap<u32, BTreeSet<Owner>>,
    pub programs: BTreeMap<u32, BTreeSet<Owner>>,
}

impl Owners {
    pub fn of_map(&self, id: u32) -> Vec<Owner> {
        self.maps.get(&id).map(|o| o.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn of_program(&self, id: u32) -> Vec<Owner> {
        self.programs.get(&id).map(|o| o.iter().cloned().collect()).unwrap_or_default()
    }
}

/// What one open file is, for BPF purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Map(u32),
    /// A program, held directly or through a link attaching it.
    Program(u32),
}

/// Classifies an open file from its /proc/PID/fd link target and its fdinfo.
pub fn classify(link_target: &str, fdinfo: &FdInfo) -> Option<Held> {
    match link_target {
        "anon_inode:bpf-map" => fdinfo.number_u32("map_id").map(Held::Map),
        "anon_inode:bpf-prog" | "anon_inode:bpf_link" => fdinfo.number_u32("prog_id").map(Held::Program),
        _ => None,
    }
}

/// Scans every process but this one. Processes that exit or deny access
/// while being read are skipped.
pub fn scan() -> Owners {
    let mut owners = Owners::default();
    let me = std::process::id();
    let Ok(procs) = fs::read_dir("/proc") else { return owners };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        let mut comm = None;
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else { continue };
            let target = target.to_string_lossy();
            if !target.starts_with("anon_inode:bpf") {
                continue;
            }
            let fd_name = fd.file_name();
            let Ok(info) = FdInfo::of_process(pid, &fd_name.to_string_lossy()) else { continue };
            let Some(held) = classify(&target, &info) else { continue };
            let comm = comm
                .get_or_insert_with(|| {
                    fs::read_to_string(format!("/proc/{pid}/comm"))
                        .map(|c| c.trim_end().to_string())
                        .unwrap_or_default()
                })
                .clone();
            let owner = Owner { pid, comm };
            match held {
                Held::Map(id) => owners.maps.entry(id).or_default().insert(owner),
                Held::Program(id) => owners.programs.entry(id).or_default().insert(owner),
            };
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_classified_by_target_and_fdinfo() {
        let map = &FdInfo::parse("pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1057\nmap_type:\t1\nkey_size:\t4\nmemlock:\t1120\nmap_id:\t42\nfrozen:\t0\n");
        assert_eq!(classify("anon_inode:bpf-map", map), Some(Held::Map(42)));
        let prog = &FdInfo::parse("prog_type:\t5\nprog_tag:\tabc\nmemlock:\t4096\nprog_id:\t7\nrun_time_ns:\t0\n");
        assert_eq!(classify("anon_inode:bpf-prog", prog), Some(Held::Program(7)));
        let link = &FdInfo::parse("link_type:\tperf\nlink_id:\t3\nprog_tag:\tabc\nprog_id:\t7\n");
        assert_eq!(classify("anon_inode:bpf_link", link), Some(Held::Program(7)));
        assert_eq!(classify("/dev/null", map), None);
        assert_eq!(classify("anon_inode:bpf-map", &FdInfo::parse("pos:\t0\n")), None);
    }
}
