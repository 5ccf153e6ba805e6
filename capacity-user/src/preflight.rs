//! Checks that this host can run a privileged command, before anything is
//! loaded: each failure is one line that says what is wrong and how to fix it.
use std::path::Path;

use caps::Capability;

use crate::kernel::KernelVersion;

/// BPF ring buffers arrived in 5.8; bpf_loop, which batches events, in 5.17.
pub const MIN_KERNEL: KernelVersion = KernelVersion::new(5, 17, 0);
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";
const TRACEFS_MOUNTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Everything a command that loads programs needs. `what` names the command
/// in messages (e.g. "capacity load").
pub fn check_load_environment(what: &str) -> anyhow::Result<()> {
    check_privileges(what)?;
    check_kernel(KernelVersion::running()?)?;
    check_btf(Path::new(VMLINUX_BTF))?;
    raise_memlock_limit();
    ensure_tracefs()?;
    Ok(())
}

/// Root, or CAP_BPF with CAP_PERFMON (CAP_SYS_ADMIN also covers both).
pub fn check_privileges(what: &str) -> anyhow::Result<()> {
    let has = |cap| caps::has_cap(None, caps::CapSet::Effective, cap).unwrap_or(false);
    if has(Capability::CAP_SYS_ADMIN) || (has(Capability::CAP_BPF) && has(Capability::CAP_PERFMON)) {
        return Ok(());
    }
    anyhow::bail!("{what} needs root or CAP_BPF+CAP_PERFMON to create BPF maps and programs: run it with sudo")
}

/// CAP_SYS_ADMIN (root): opening other processes' maps and programs by id.
pub fn check_admin(what: &str) -> anyhow::Result<()> {
    if caps::has_cap(None, caps::CapSet::Effective, Capability::CAP_SYS_ADMIN).unwrap_or(false) {
        return Ok(());
    }
    anyhow::bail!(
        "{what} needs root (CAP_SYS_ADMIN) to open the maps and programs of other processes by id: run it with sudo"
    )
}

pub fn check_kernel(running: KernelVersion) -> anyhow::Result<()> {
    if running < MIN_KERNEL {
        anyhow::bail!(
            "kernel {running} is too old: capacity needs {}.{} or newer (BPF ring buffers and bpf_loop); boot a newer kernel",
            MIN_KERNEL.major,
            MIN_KERNEL.minor
        );
    }
    Ok(())
}

pub fn check_btf(path: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > 0 || std::fs::read(path).is_ok_and(|b| !b.is_empty()) => Ok(()),
        _ => anyhow::bail!(
            "this kernel exposes no BTF at {}: use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
            path.display()
        ),
    }
}

/// Maps were charged to RLIMIT_MEMLOCK before 5.11; lift it so old kernels
/// measure the map, not the limit.
fn raise_memlock_limit() {
    use nix::sys::resource::{setrlimit, Resource, RLIM_INFINITY};
    let _ = setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY);
}

/// The syscall tracepoints need tracefs. Fresh machines often have it
/// unmounted, so mount it when we can and say so.
pub fn ensure_tracefs() -> anyhow::Result<()> {
    if tracefs_path().is_some() {
        return Ok(());
    }
    let target = TRACEFS_MOUNTS[0];
    let mounted = Path::new(target).is_dir()
        && nix::mount::mount(Some("tracefs"), target, Some("tracefs"), nix::mount::MsFlags::empty(), None::<&str>)
            .is_ok();
    if mounted && tracefs_path().is_some() {
        log::info!("mounted tracefs at {target}");
        return Ok(());
    }
    anyhow::bail!("tracefs is not mounted and could not be mounted: run `mount -t tracefs tracefs {target}`")
}

/// The mounted tracefs, as aya looks for it: the first candidate that has entries.
pub fn tracefs_path() -> Option<&'static str> {
    TRACEFS_MOUNTS.into_iter().find(|m| std::fs::read_dir(m).is_ok_and(|mut d| d.next().is_some()))
}

/// Root or equivalent: used by tests and by commands that only sometimes need it.
pub fn is_privileged() -> bool {
    check_privileges("").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_kernels_are_refused_with_a_fix() {
        let err = check_kernel(KernelVersion::new(5, 4, 0)).unwrap_err().to_string();
        assert!(err.contains("5.4.0 is too old"), "{err}");
        assert!(err.contains("5.17"), "{err}");
        assert!(check_kernel(KernelVersion::new(6, 1, 0)).is_ok());
    }

    #[test]
    fn missing_btf_is_refused() {
        let err = check_btf(Path::new("/nonexistent/vmlinux")).unwrap_err().to_string();
        assert!(err.contains("CONFIG_DEBUG_INFO_BTF"), "{err}");
    }
}
