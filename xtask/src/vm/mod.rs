//! `cargo xtask vm`: the privileged tests and `capacity verify` on other
//! kernels. Each kernel boots under qemu from a minimal initramfs that holds
//! static builds of the integration test binary and of `capacity`; the serial console
//! carries the results back.
mod build;
mod initramfs;
mod kernel;
mod qemu;
mod results;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::{kernel_sizes, setup, workspace::workspace_root};

/// Kernels booted when no `--kernel` is given: Debian's 6.1 accounts map
/// memory the pre-6.4 way (ring buffers report 0 memlock), 6.12 the new way,
/// 7.2 (trixie-backports) without the hash lock counters and with
/// preemptible syscall tracepoints.
const DEFAULT_KERNELS: &[&str] = &["6.1", "6.12", "7.2"];

/// Areas of the integration test binary (tests/tests/integration/<area>.rs)
/// run when no TEST ARGS are given: the short load runs, which check the
/// accounting invariants, the kernel program's filters, log and map
/// definitions (what the verifier accepts differs by kernel), and the
/// memory tests, and the layouts (rings per CPU, perf buffers) with a
/// producer on every guest CPU.
const DEFAULT_AREAS: &[&str] = &["load", "program", "memory", "layouts"];

/// qemu and the guest's shell; the initramfs is written in Rust.
const PACKAGES: &[&str] = &["qemu-system-x86", "busybox-static"];

#[derive(Args)]
pub struct VmArgs {
    /// A kernel to boot: a series such as 6.1, 6.12 or 7.2 (the newest
    /// Debian cloud kernel of it: linux-image-<series>.*-cloud-amd64 from the
    /// host's apt, or from 6.19 on linux-binary-<series>.*-cloud-amd64 from
    /// trixie-backports or sid through an apt configuration of its own;
    /// downloaded once and cached under ~/.cache/capacity-vm or
    /// $CAPACITY_VM_CACHE), or the path of a bzImage. Repeat for several
    /// kernels; without it: 6.1, 6.12 and 7.2.
    #[arg(long = "kernel", value_name = "VERSION|PATH")]
    kernels: Vec<String>,
    /// Seconds one kernel may take from boot to power-off before its VM is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
    /// Write the booted kernels' struct sizes (their BTF, as `capacity verify`
    /// reads it) into capacity-user/src/memory/kernels.toml. Without it, a
    /// kernel whose sizes differ from its row fails, as does one of the
    /// default kernels without a row; another kernel without one passes
    /// with a notice saying how to add it.
    #[arg(long)]
    write_kernel_sizes: bool,
    /// `auto` uses KVM when a probe boot works and software emulation (TCG) otherwise.
    #[arg(long, value_enum, default_value_t = qemu::Accel::Auto)]
    accel: qemu::Accel,
    /// The guest's CPUs (the layout tests put a producer on each, so 4 or
    /// more check rings per CPU beyond this host's two; under TCG for
    /// correctness only, never for timings).
    #[arg(long, value_name = "N", default_value_t = qemu::DEFAULT_CPUS)]
    cpus: u32,
    /// Arguments for the integration test binary of capacity-tests (after
    /// `--`), instead of the default areas: name filters such as `watch::`,
    /// `--skip NAME`, `--exact`, ...; `::` runs every area. Without them the
    /// VM runs the areas `load::` (short runs that check the accounting
    /// invariants), `program::`, `memory::` and `layouts::`. Tests see CI=true (they must
    /// not skip) and CAPACITY_VM=1 (emulated CPUs: relax speed and timing checks).
    #[arg(last = true, value_name = "TEST ARGS")]
    test_args: Vec<String>,
}

/// The test binary to run in the guest, with its arguments.
pub struct PlannedTest {
    pub name: String,
    pub binary: PathBuf,
    pub args: Vec<String>,
}

pub fn run(args: VmArgs) -> Result<()> {
    setup::apt_install(PACKAGES)?;
    let toolchain = setup::ensure_toolchain()?;
    if args.cpus == 0 || args.cpus > 64 {
        bail!("--cpus {} is out of range: use 1 to 64", args.cpus);
    }
    let specs: Vec<String> =
        if args.kernels.is_empty() { DEFAULT_KERNELS.iter().map(|k| k.to_string()).collect() } else { args.kernels };
    let kernels = specs.iter().map(|s| kernel::resolve(s)).collect::<Result<Vec<_>>>()?;

    let work_dir = workspace_root().join("target/vm");
    let built = build::build(&toolchain, &work_dir)?;
    let (plan, missing) = plan(built.tests.clone(), &list_tests(&built.tests)?, &args.test_args);
    for area in &missing {
        setup::step(&format!(
            "WARNING: the integration tests have no area `{area}` (tests/tests/integration/{area}.rs): it cannot run"
        ));
    }
    let image = work_dir.join("initramfs.cpio");
    initramfs::write(&image, &built.capacity, &built.test_helpers, &plan)?;

    let accel = qemu::choose_accel(args.accel, &kernels[0].image, &image)?;
    let timeout = Duration::from_secs(args.timeout);
    let mut reports = Vec::new();
    for kernel in &kernels {
        setup::step(&format!("booting {} ({}) with {accel} and {} CPUs", kernel.label, kernel.origin, args.cpus));
        let log = work_dir.join("logs").join(format!("{}.log", kernel.label));
        let boot = qemu::boot(kernel, &image, accel, args.cpus, timeout, &log)?;
        reports.push(results::KernelReport::from_boot(&kernel.label, &boot));
    }

    check_kernel_sizes(&mut reports, args.write_kernel_sizes)?;
    println!("{}", results::summary(&reports));
    let failed: Vec<&str> = reports.iter().filter(|r| !r.passed()).map(|r| r.label.as_str()).collect();
    if !missing.is_empty() {
        bail!("test areas missing: {} (the VM run is incomplete without them)", missing.join(", "));
    }
    if !failed.is_empty() {
        bail!("failed on {} (console logs in {})", failed.join(", "), work_dir.join("logs").display());
    }
    Ok(())
}

/// Each booted kernel's BTF struct sizes against its row of kernels.toml:
/// written with `write`, else a problem of that kernel, except a missing row
/// of a kernel CI does not boot (DEFAULT_KERNELS), which is only a notice.
fn check_kernel_sizes(reports: &mut [results::KernelReport], write: bool) -> Result<()> {
    let mut rows = kernel_sizes::read()?;
    let mut changed = false;
    for report in reports.iter_mut() {
        let (Some(release), Some(sizes)) = (report.release.clone(), report.btf_struct_sizes.clone()) else {
            continue;
        };
        let measured = match kernel_sizes::Row::from_verify(&release, &sizes) {
            Ok(row) => row,
            Err(err) => {
                report.add_problem(format!("struct sizes: {err:#}"));
                continue;
            }
        };
        let standing = kernel_sizes::standing(&rows, &measured);
        match standing {
            kernel_sizes::Standing::Agrees => setup::step(&format!("{release}: struct sizes as in kernels.toml")),
            _ if write => {
                setup::step(&format!("{release}: struct sizes written to kernels.toml"));
                kernel_sizes::upsert(&mut rows, measured);
                changed = true;
            }
            _ => match kernel_sizes::problem(&standing, &measured.series, DEFAULT_KERNELS) {
                Some(problem) => report.add_problem(problem),
                None => {
                    if let kernel_sizes::Standing::Unknown(notice) = &standing {
                        setup::step(&format!("NOTICE {release}: {notice}"));
                    }
                }
            },
        }
    }
    if changed {
        kernel_sizes::write(&rows)?;
    }
    Ok(())
}

/// The names of the tests in a test binary, as libtest lists them (the
/// static build runs on the host too).
fn list_tests(binary: &Path) -> Result<Vec<String>> {
    let out = Command::new(binary)
        .args(["--list", "--format", "terse"])
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !out.status.success() {
        bail!("`{} --list` failed ({})", binary.display(), out.status);
    }
    let listing = String::from_utf8_lossy(&out.stdout);
    Ok(listing.lines().filter_map(|l| l.strip_suffix(": test")).map(String::from).collect())
}

/// The run in the guest: the binary with TEST ARGS, else with a name filter
/// per default area (libtest runs the tests that match any); and the
/// default areas that have no test in `tests` (names as `area::test`).
fn plan(binary: PathBuf, tests: &[String], test_args: &[String]) -> (PlannedTest, Vec<String>) {
    let name = build::TEST_BINARY.to_string();
    if !test_args.is_empty() {
        return (PlannedTest { name, binary, args: test_args.to_vec() }, Vec::new());
    }
    let missing = DEFAULT_AREAS
        .iter()
        .filter(|area| !tests.iter().any(|t| t.starts_with(&format!("{area}::"))))
        .map(|area| area.to_string())
        .collect();
    let args = DEFAULT_AREAS.iter().map(|area| format!("{area}::")).collect();
    (PlannedTest { name, binary, args }, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn default_plan_filters_the_areas_and_names_what_is_missing() {
        let (plan, missing) = plan(PathBuf::from("/t/integration"), &names(&["bad_input::a", "load::b"]), &[]);
        assert_eq!(plan.name, "integration");
        assert_eq!(plan.args, ["load::", "program::", "memory::", "layouts::"]);
        assert_eq!(missing, ["program", "memory", "layouts"]);
    }

    #[test]
    fn test_args_replace_the_default_areas() {
        let (plan, missing) = plan(PathBuf::from("/t/integration"), &[], &["--skip".into(), "slow".into()]);
        assert_eq!(plan.args, ["--skip", "slow"]);
        assert!(missing.is_empty());
    }
}
