//! `cargo xtask image`: the DaemonSet's image, built offline with podman
//! from deploy/kubernetes/Containerfile (`FROM scratch`) and a statically
//! linked release build of `capacity`.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::{
    setup::{apt_install, describe, ensure_toolchain, run_checked, step, BpfToolchain},
    workspace::{cargo, workspace_root},
};

/// Debian packages that build and run the image (crun, podman's default,
/// refuses on these hosts; deploy/podman/containers.conf picks runc).
pub const PODMAN_PACKAGES: &[&str] = &["podman", "runc"];
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The image's repository; `localhost/` is what podman calls a local image.
const REPOSITORY: &str = "localhost/capacity";

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The image's tag (default: capacity-user's crate version).
    #[arg(long)]
    tag: Option<String>,
}

/// podman with the settings these hosts need (deploy/podman/containers.conf).
pub fn podman() -> Command {
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", containers_conf());
    cmd
}

pub fn containers_conf() -> PathBuf {
    workspace_root().join("deploy/podman/containers.conf")
}

/// capacity-user's version, the default tag.
fn crate_version() -> Result<String> {
    let path = workspace_root().join("capacity-user/Cargo.toml");
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(&path)?)?;
    manifest
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .with_context(|| format!("no package.version in {}", path.display()))
}

/// `cargo xtask image`: builds it and prints its name on stdout.
pub fn run(args: &ImageArgs) -> Result<()> {
    let toolchain = ensure_toolchain()?;
    let name = build(&toolchain, args.tag.as_deref())?;
    println!("{name}");
    Ok(())
}

/// Installs podman if missing, builds the static binary and the image; the
/// image's name.
pub fn build(toolchain: &BpfToolchain, tag: Option<&str>) -> Result<String> {
    step(&format!("image: Debian packages {} (podman builds and runs the image)", PODMAN_PACKAGES.join(" ")));
    apt_install(PODMAN_PACKAGES)?;
    let tag = match tag {
        Some(tag) => tag.to_string(),
        None => crate_version()?,
    };
    let name = format!("{REPOSITORY}:{tag}");
    let work = workspace_root().join("target/image");
    let binary = static_release(toolchain, &work)?;
    // The build context holds the binary alone: nothing else is sent to podman.
    let context = work.join("context");
    std::fs::create_dir_all(&context)?;
    std::fs::copy(&binary, context.join("capacity"))
        .with_context(|| format!("copy {} into {}", binary.display(), context.display()))?;
    step(&format!("building image {name} with podman"));
    run_checked(
        podman()
            .args(["build", "--quiet", "--file"])
            .arg(workspace_root().join("deploy/kubernetes/Containerfile"))
            .args(["--tag", &name])
            .arg(&context),
    )?;
    let size = podman().args(["image", "inspect", "--format", "{{.Size}}", &name]).output()?;
    step(&format!("image {name}: {} bytes", String::from_utf8_lossy(&size.stdout).trim()));
    Ok(name)
}

/// `capacity`, release, statically linked (as the VM's debug build is, in
/// vm/build.rs), in its own target dir so the host's builds stay warm.
fn static_release(toolchain: &BpfToolchain, target_dir: &Path) -> Result<PathBuf> {
    step("building capacity (release, statically linked) for the image");
    let mut build = cargo(&["build", "--release", "--package", "capacity-user", "--bin", "capacity"]);
    build
        .args(["--target", TARGET])
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    toolchain.apply(&mut build);
    run_checked(&mut build)?;
    let binary = target_dir.join(TARGET).join("release/capacity");
    let file = Command::new("file").arg(&binary).output();
    if let Ok(file) = file {
        let text = String::from_utf8_lossy(&file.stdout);
        if text.contains("dynamically linked") {
            bail!("{} is dynamically linked: `{}` ignored RUSTFLAGS", binary.display(), describe(&build));
        }
    }
    Ok(binary)
}
