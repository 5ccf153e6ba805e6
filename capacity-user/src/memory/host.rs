//! The two facts about a machine that map memory depends on: how many CPUs
//! it could ever have (per-CPU values are allocated for each of them) and
//! its page size.
use serde::Serialize;

const POSSIBLE_CPUS: &str = "/sys/devices/system/cpu/possible";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Host {
    /// `num_possible_cpus()`: online, offline and hot-pluggable CPUs alike.
    pub cpus: u32,
    pub page_size: u64,
}

impl Host {
    /// This machine. Falls back to the online CPU count when sysfs is absent.
    pub fn this() -> Self {
        let cpus = std::fs::read_to_string(POSSIBLE_CPUS)
            .ok()
            .and_then(|list| count_cpu_list(&list))
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

/// Counts a kernel CPU list such as `0-3,8,10-11`.
fn count_cpu_list(list: &str) -> Option<u32> {
    let mut count = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        count += match part.split_once('-') {
            Some((first, last)) => last.trim().parse::<u32>().ok()?.checked_sub(first.trim().parse().ok()?)? + 1,
            None => {
                part.trim().parse::<u32>().ok()?;
                1
            }
        };
    }
    (count > 0).then_some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_count_ranges_and_singles() {
        assert_eq!(count_cpu_list("0-1\n"), Some(2));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(count_cpu_list("x"), None);
    }

    #[test]
    fn this_host_has_cpus_and_pages() {
        let host = Host::this();
        assert!(host.cpus >= 1);
        assert!(host.page_size.is_power_of_two());
    }
}
