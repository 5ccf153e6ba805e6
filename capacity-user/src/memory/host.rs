//! The two facts about a machine that map memory depends on, as the model
//! takes them: how many CPUs it could ever have (per-CPU values are
//! allocated for each of them) and its page size. `sys::host` reads them
//! from this machine; a model of another machine is given them.
use serde::Serialize;

use crate::sys;
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
    /// This machine. Falls back to the CPUs this process may use when sysfs is absent.
    pub fn this() -> Self {
        let cpus = sys::possible_cpus().ok().filter(|&n| n > 0).unwrap_or_else(sys::host::usable_cpus);
        Self { cpus, page_size: sys::page_size() }
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
