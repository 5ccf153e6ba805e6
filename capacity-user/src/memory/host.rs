//! The two facts about a machine that map memory depends on: how many CPUs
//! it could ever have (per-CPU values are allocated for each of them) and
//! its page size.
use serde::Serialize;

/// The most CPUs any kernel can be built for: x86_64's NR_CPUS range ends
/// at 8192 (CONFIG_MAXSMP), so a node with more is a typo.
pub const MAX_CPUS: u32 = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Host {
    /// `num_possible_cpus()`: online, offline and hot-pluggable CPUs alike.
    pub cpus: u32,
    pub page_size: u64,
}

impl Host {
    /// This machine. Falls back to the online CPU count when sysfs is absent.
    pub fn this() -> Self {
        // aya counts /sys/devices/system/cpu/possible, as it does to size
        // the per-CPU values it reads.
        let cpus = aya::util::nr_cpus()
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
        Self { cpus, page_size: page_size() }
    }
}

/// This machine's page size (`sysconf(_SC_PAGESIZE)`); 4096 if it cannot say.
pub fn page_size() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(size)) if size > 0 => size as u64,
        _ => 4096,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_host_has_cpus_and_pages() {
        let host = Host::this();
        assert!(host.cpus >= 1);
        // Possible CPUs include every online one.
        assert!(host.cpus as usize >= std::thread::available_parallelism().unwrap().get());
        assert!(host.page_size.is_power_of_two());
    }
}
