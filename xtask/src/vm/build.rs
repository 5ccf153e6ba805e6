//! Static builds of `capacity` and of the capacity-tests binary, so they
//! run in an initramfs that has no C library. An explicit `--target` keeps
//! build scripts and proc-macros dynamic (they run on the host), and
//! aya-build compiles the kernel crate with its own CARGO_ENCODED_RUSTFLAGS,
//! which take precedence over RUSTFLAGS.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};
use cargo_metadata::{Artifact, Message, Target, TargetKind};

use crate::{
    setup::{describe, step, BpfToolchain},
    workspace::cargo,
};

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The integration test binary of capacity-tests (tests/tests/integration/main.rs).
pub const TEST_BINARY: &str = "integration";

pub struct Built {
    pub capacity: PathBuf,
    /// The integration test binary, every area's tests.
    pub tests: PathBuf,
    /// The test crate's helper programs (bpf_holder, bpf_log): the tests
    /// start them by the paths cargo built them at (CARGO_BIN_EXE_*).
    pub test_helpers: Vec<PathBuf>,
}

/// `target_dir` is the VM builds' own, so they do not evict the host builds.
pub fn build(toolchain: &BpfToolchain, target_dir: &Path) -> Result<Built> {
    step("building capacity and the integration test binary, statically linked, for the VM");
    let static_cargo = |args: &[&str]| {
        let mut cmd = cargo(args);
        cmd.args(["--release", "--target", TARGET, "--message-format=json-render-diagnostics"])
            .env("CARGO_TARGET_DIR", target_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static");
        toolchain.apply(&mut cmd);
        cmd
    };
    let capacity = artifacts(&mut static_cargo(&["build", "--package", "capacity-user", "--bin", "capacity"]))?
        .into_iter()
        .find(|(target, _)| target.is_kind(TargetKind::Bin) && target.name == "capacity")
        .map(|(_, path)| path)
        .context("cargo built no `capacity` binary")?;
    let test_artifacts = artifacts(&mut static_cargo(&["test", "--no-run", "--package", "capacity-tests"]))?;
    let tests = test_artifacts
        .iter()
        .find(|(target, _)| target.is_kind(TargetKind::Test) && target.name == TEST_BINARY)
        .map(|(_, path)| path.clone())
        .with_context(|| format!("cargo built no `{TEST_BINARY}` test binary of capacity-tests"))?;
    let test_helpers = test_artifacts
        .into_iter()
        .filter(|(target, _)| target.is_kind(TargetKind::Bin))
        .map(|(_, path)| path)
        .collect();
    Ok(Built { capacity, tests, test_helpers })
}

/// Run cargo with JSON messages and return the executables it produced,
/// with their targets.
fn artifacts(cmd: &mut Command) -> Result<Vec<(Target, PathBuf)>> {
    eprintln!("xtask: $ {}", describe(cmd));
    let out = cmd.stderr(Stdio::inherit()).output().with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!("`{}` failed ({})", describe(cmd), out.status);
    }
    let mut found = Vec::new();
    for message in Message::parse_stream(out.stdout.as_slice()) {
        if let Message::CompilerArtifact(Artifact { target, executable: Some(exe), .. }) =
            message.context("read cargo's JSON messages")?
        {
            found.push((target, exe.into_std_path_buf()));
        }
    }
    Ok(found)
}
