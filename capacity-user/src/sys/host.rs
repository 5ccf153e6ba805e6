//! The machine facts kernel sizes depend on: its page size and how many
//! CPUs it could ever have (the kernel allocates per-CPU values for each);
//! and the CPUs this thread may run on, read and set.

/// This machine's page size (`sysconf(_SC_PAGESIZE)`); 4096 if it cannot say.
pub fn page_size() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(size)) if size > 0 => size as u64,
        _ => 4096,
    }
}

/// `num_possible_cpus()`: online, offline and hot-pluggable CPUs alike, as
/// /sys/devices/system/cpu/possible lists them (aya counts them the same
/// way to size the per-CPU values it reads and writes).
pub fn possible_cpus() -> std::io::Result<u32> {
    let cpus = aya::util::nr_cpus().map_err(|(what, e)| std::io::Error::new(e.kind(), format!("{what}: {e}")))?;
    u32::try_from(cpus).map_err(std::io::Error::other)
}

/// The CPUs this process may run on, for when sysfs cannot say how many are possible.
pub fn usable_cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// This thread's allowed CPUs (sched_getaffinity(2)), in order; none if it cannot say.
pub fn allowed_cpus() -> Vec<usize> {
    nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map(|set| (0..nix::sched::CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false)).collect())
        .unwrap_or_default()
}

/// Keeps this thread (and the threads it spawns after) to `cpus` (sched_setaffinity(2)).
pub fn set_affinity(cpus: &[usize]) -> nix::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_pages_and_cpus() {
        assert!(page_size().is_power_of_two());
        // Possible CPUs include every one this process may use.
        assert!(possible_cpus().expect("sysfs lists possible CPUs") >= usable_cpus());
    }

    #[test]
    fn affinity_is_read_back_as_set() {
        let all = allowed_cpus();
        assert_eq!(all.len() as u32, usable_cpus());
        // On a thread of its own, so the test's thread keeps its CPUs.
        let first = std::thread::spawn(move || {
            set_affinity(&all[..1]).expect("sched_setaffinity");
            allowed_cpus()
        });
        assert_eq!(first.join().unwrap(), [allowed_cpus()[0]]);
    }
}
