//! Makes a fresh machine able to build the kernel crate, idempotently.
//!
//! The BPF target needs a Rust `core` built for it and bpf-linker. Where a
//! nightly with rust-src exists it is used; otherwise, on Debian, Debian's
//! Rust with its prebuilt BPF `core` is installed and registered with rustup
//! as `debian-bpf` (rustup cannot fetch rust-src on these machines).
use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};

pub const DEBIAN_TOOLCHAIN: &str = "debian-bpf";
const DEBIAN_RUST_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "libstd-rust-web-dev-bpf"];
const LLVM_PACKAGES: &[&str] = &["llvm-22-dev", "libpolly-22-dev", "libzstd-dev", "zlib1g-dev"];
const BPF_LINKER_VERSION: &str = "0.13.0";
/// Real components the tests use: clang and libbpf-dev compile C BPF objects
/// (`inspect` and `host` tests); Prometheus and promtool scrape `capacity
/// watch` and check `capacity alerts`; podman and runc run the image (the
/// container test); python3-prometheus-client is the reference OpenMetrics
/// parser; python3-venv holds kubernetes-validate (PyPI).
const TEST_PACKAGES: &[&str] =
    &["clang", "libbpf-dev", "prometheus", "podman", "runc", "python3-prometheus-client", "python3-venv"];
/// kubernetes-validate checks the manifests against Kubernetes' own schemas.
const KUBERNETES_VALIDATE: &str = "kubernetes-validate";

/// The toolchain the kernel crate is built with, and how.
pub struct BpfToolchain {
    /// rustup toolchain name passed to aya-build.
    pub name: String,
}

impl BpfToolchain {
    /// Environment for cargo commands that build capacity-user.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("CAPACITY_BPF_TOOLCHAIN", &self.name);
    }
}

pub fn step(message: &str) {
    eprintln!("xtask: {message}");
}

/// Run a command, echoing it, and fail with its status.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: $ {}", describe(cmd));
    let status = cmd.status().with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

pub fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn is_debian() -> bool {
    Path::new("/etc/debian_version").exists() && succeeds("apt-get", &["--version"])
}

/// Install Debian packages that are missing, with one `apt-get update` first.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        step(&format!("Debian packages present: {}", packages.join(" ")));
        return Ok(());
    }
    if !is_debian() {
        bail!("missing packages {} and this is not a Debian host: install their equivalents", missing.join(" "));
    }
    step(&format!("installing Debian packages: {}", missing.join(" ")));
    run_checked(Command::new("apt-get").args(["update", "-q"]))?;
    run_checked(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn has_bpf_core(toolchain: &str) -> bool {
    let Ok(out) = Command::new("rustup")
        .args(["run", toolchain, "rustc", "--print", "target-libdir", "--target", "bpfel-unknown-none"])
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    out.status.success()
        && std::fs::read_dir(&dir)
            .is_ok_and(|d| d.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
}

fn nightly_with_rust_src() -> bool {
    Command::new("rustup").args(["+nightly", "component", "list", "--installed"]).output().is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("rust-src"))
    })
}

/// Make sure a BPF-capable Rust toolchain and bpf-linker exist; say which.
pub fn ensure_toolchain() -> Result<BpfToolchain> {
    if !succeeds("rustup", &["--version"]) {
        bail!(
            "rustup is not installed: install it from your distribution or rustup.rs, then rerun `cargo xtask setup`"
        );
    }
    let name = if has_bpf_core(DEBIAN_TOOLCHAIN) {
        step(&format!("BPF toolchain: `{DEBIAN_TOOLCHAIN}` (Debian's Rust with a prebuilt BPF core) is present"));
        DEBIAN_TOOLCHAIN.to_string()
    } else if nightly_with_rust_src() {
        step("BPF toolchain: nightly with rust-src is present (core is built with -Z build-std)");
        "nightly".to_string()
    } else if is_debian() {
        step("BPF toolchain: installing Debian's Rust with a prebuilt BPF core");
        apt_install(DEBIAN_RUST_PACKAGES)?;
        step(&format!("registering /usr as rustup toolchain `{DEBIAN_TOOLCHAIN}`"));
        run_checked(Command::new("rustup").args(["toolchain", "link", DEBIAN_TOOLCHAIN, "/usr"]))?;
        if !has_bpf_core(DEBIAN_TOOLCHAIN) {
            bail!("Debian's libstd-rust-web-dev-bpf did not provide a BPF core under /usr/lib/rustlib");
        }
        DEBIAN_TOOLCHAIN.to_string()
    } else {
        bail!(
            "no Rust toolchain can build for the BPF target: install a nightly toolchain with rust-src \
             (`rustup toolchain install nightly --component rust-src`), then rerun `cargo xtask setup`"
        );
    };
    ensure_bpf_linker()?;
    Ok(BpfToolchain { name })
}

/// Install the Debian packages the tests use, and kubernetes-validate (PyPI)
/// into its own virtualenv, target/test-tools/venv (Debian's Python is
/// externally managed); the tests find it there.
pub fn ensure_test_tools() -> Result<()> {
    step(&format!(
        "test tools: Debian packages {} (C BPF objects for the inspect and host tests; Prometheus and promtool for \
         watch and alerts; podman and runc for the container test; the OpenMetrics reference parser)",
        TEST_PACKAGES.join(" ")
    ));
    apt_install(TEST_PACKAGES)?;
    let venv = crate::workspace::workspace_root().join("target/test-tools/venv");
    let validate = venv.join("bin").join(KUBERNETES_VALIDATE);
    if succeeds(&validate.to_string_lossy(), &["--version"]) {
        step(&format!("{KUBERNETES_VALIDATE} is present in {}", venv.display()));
        return Ok(());
    }
    step(&format!("installing {KUBERNETES_VALIDATE} (PyPI) into {} (the kubernetes tests)", venv.display()));
    run_checked(Command::new("/usr/bin/python3").args(["-m", "venv"]).arg(&venv))?;
    run_checked(Command::new(venv.join("bin/pip")).args(["install", "--quiet", KUBERNETES_VALIDATE]))
}

fn ensure_bpf_linker() -> Result<()> {
    if succeeds("bpf-linker", &["--version"]) {
        step("bpf-linker is present");
        return Ok(());
    }
    step(&format!("installing bpf-linker {BPF_LINKER_VERSION} against LLVM 22 (about a minute)"));
    apt_install(LLVM_PACKAGES)?;
    run_checked(
        Command::new("cargo")
            .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("LLVM_PREFIX", "/usr/lib/llvm-22"),
    )?;
    if !succeeds("bpf-linker", &["--version"]) {
        bail!("bpf-linker was installed but is not on PATH: add ~/.cargo/bin to PATH");
    }
    Ok(())
}
