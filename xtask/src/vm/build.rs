//! Static builds of `capacity` and of the capacity-tests binaries, so they
//! run in an initramfs that has no C library. An explicit `--target` keeps
//! build scripts and proc-macros dynamic (they run on the host), and
//! aya-build compiles the kernel crate with its own CARGO_ENCODED_RUSTFLAGS,
//! which take precedence over RUSTFLAGS.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{
    setup::{describe, step, BpfToolchain},
    tasks::cargo,
};

const TARGET: &str = "x86_64-unknown-linux-gnu";

pub struct Built {
    pub capacity: PathBuf,
    /// Integration test binaries of capacity-tests, by target name.
    pub tests: Vec<(String, PathBuf)>,
}

/// `target_dir` is the VM builds' own, so they do not evict the host builds.
pub fn build(toolchain: &BpfToolchain, target_dir: &Path) -> Result<Built> {
    step("building capacity and the test binaries, statically linked, for the VM");
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
        .find(|(kind, name, _)| kind == "bin" && name == "capacity")
        .map(|(_, _, path)| path)
        .context("cargo built no `capacity` binary")?;
    let tests = artifacts(&mut static_cargo(&["test", "--no-run", "--package", "capacity-tests"]))?
        .into_iter()
        .filter(|(kind, _, _)| kind == "test")
        .map(|(_, name, path)| (name, path))
        .collect();
    Ok(Built { capacity, tests })
}

/// Run cargo with JSON messages and return the executables it produced:
/// (target kind, target name, path).
fn artifacts(cmd: &mut Command) -> Result<Vec<(String, String, PathBuf)>> {
    eprintln!("xtask: $ {}", describe(cmd));
    let out = cmd.stderr(Stdio::inherit()).output().with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!("`{}` failed ({})", describe(cmd), out.status);
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else { continue };
        let (Some("compiler-artifact"), Some(exe)) = (msg["reason"].as_str(), msg["executable"].as_str()) else {
            continue;
        };
        let kind = msg["target"]["kind"][0].as_str().unwrap_or_default().to_string();
        let name = msg["target"]["name"].as_str().unwrap_or_default().to_string();
        found.push((kind, name, PathBuf::from(exe)));
    }
    Ok(found)
}
