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
    let fix = match container() {
        Some(runtime) => format!(
            "this runs in a container ({runtime}): add BPF and PERFMON to its capabilities \
             (Kubernetes: securityContext.capabilities.add; podman, docker: --cap-add=BPF,PERFMON)"
        ),
        None => "run it with sudo".into(),
    };
    anyhow::bail!("{what} needs root or CAP_BPF+CAP_PERFMON to create BPF maps and programs: {fix}")
}

/// CAP_SYS_ADMIN (root): opening other processes' maps and programs by id.
pub fn check_admin(what: &str) -> anyhow::Result<()> {
    if caps::has_cap(None, caps::CapSet::Effective, Capability::CAP_SYS_ADMIN).unwrap_or(false) {
        return Ok(());
    }
    anyhow::bail!("{}", admin_advice(what, container()))
}

/// Why `what` needs CAP_SYS_ADMIN and how to grant it: sudo on a host; in a
/// container, where root without the capability is the usual case, the
/// capability in the pod's securityContext or the runtime's flags.
fn admin_advice(what: &str, container: Option<&str>) -> String {
    let fix = match container {
        Some(runtime) => format!(
            "this runs in a container ({runtime}): add SYS_ADMIN to its capabilities \
             (Kubernetes: securityContext.capabilities.add, as deploy/kubernetes/daemonset.yaml does; \
             podman, docker: --cap-add=SYS_ADMIN)"
        ),
        None => "run it with sudo".into(),
    };
    format!("{what} needs root (CAP_SYS_ADMIN) to open the maps and programs of other processes by id: {fix}")
}

/// The container runtime this process runs under, if any, from the marks
/// runtimes leave: Kubernetes sets KUBERNETES_SERVICE_HOST in every pod,
/// podman sets `container` and writes /run/.containerenv, docker writes
/// /.dockerenv. (/proc/1 cannot tell: with hostPID it is the host's init.)
fn container() -> Option<&'static str> {
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        Some("a Kubernetes pod")
    } else if Path::new("/run/.containerenv").exists() || std::env::var("container").is_ok_and(|c| c == "podman") {
        Some("podman")
    } else if Path::new("/.dockerenv").exists() {
        Some("docker")
    } else if std::env::var_os("container").is_some() {
        Some("a container")
    } else {
        None
    }
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
    fn the_missing_capability_is_named_where_it_is_granted() {
        let host = admin_advice("capacity watch", None);
        assert!(
            host.ends_with("CAP_SYS_ADMIN) to open the maps and programs of other processes by id: run it with sudo")
        );
        let pod = admin_advice("capacity watch", Some("a Kubernetes pod"));
        assert!(!pod.contains("sudo"), "{pod}");
        assert!(pod.contains("(a Kubernetes pod): add SYS_ADMIN to its capabilities"), "{pod}");
        assert!(pod.contains("securityContext.capabilities.add"), "{pod}");
    }

    #[test]
    fn missing_btf_is_refused() {
        let err = check_btf(Path::new("/nonexistent/vmlinux")).unwrap_err().to_string();
        assert!(err.contains("CONFIG_DEBUG_INFO_BTF"), "{err}");
    }
}
