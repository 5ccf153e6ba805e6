//! The tasks behind `cargo xtask run` and `cargo xtask test`.
use std::{path::PathBuf, process::Command};

use anyhow::{bail, Result};

use crate::{
    setup::{ensure_test_tools, ensure_toolchain, run_checked, step, BpfToolchain},
    workspace::{cargo, workspace_root},
};

pub(crate) fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Build `capacity` in release mode; its path.
pub(crate) fn build_release_capacity(toolchain: &BpfToolchain) -> Result<PathBuf> {
    step("building capacity (release)");
    let mut build = cargo(&["build", "--release", "--package", "capacity-user", "--bin", "capacity"]);
    toolchain.apply(&mut build);
    run_checked(&mut build)?;
    Ok(workspace_root().join("target/release/capacity"))
}

/// Build `capacity` in release mode and run it with `args`, as root.
pub fn run(args: &[String]) -> Result<()> {
    let toolchain = ensure_toolchain()?;
    let binary = build_release_capacity(&toolchain)?;
    let mut cmd = if is_root() {
        Command::new(&binary)
    } else {
        step("not root: running capacity through sudo");
        let mut c = Command::new("sudo");
        c.arg(&binary);
        c
    };
    cmd.args(args);
    eprintln!("xtask: $ {}", crate::setup::describe(&cmd));
    let status = cmd.status()?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

/// Every test: unit tests and the privileged integration tests, release
/// mode so that rates measured in tests resemble real use.
pub fn test(extra: &[String]) -> Result<()> {
    let toolchain = ensure_toolchain()?;
    ensure_test_tools()?;
    if !is_root() {
        step("WARNING: not root: the privileged tests will skip (CI runs them as root)");
    }
    let binary = build_release_capacity(&toolchain)?;
    // The container test runs this image as the DaemonSet would. Without
    // it only that test fails (under CI), saying why; the others run.
    let image = crate::image::build(&toolchain, Some("test")).map_err(|e| {
        step(&format!("WARNING: the image was not built, the container test will say so: {e:#}"));
        format!("{e:#}")
    });
    step("running the tests");
    let mut test = cargo(&["test", "--release", "--workspace", "--no-fail-fast"]);
    test.args(extra);
    toolchain.apply(&mut test);
    test.env("CAPACITY_BIN", binary);
    match image {
        Ok(image) => test.env("CAPACITY_IMAGE", image),
        Err(why) => test.env("CAPACITY_IMAGE_ERROR", why),
    };
    // One test at a time: the integration tests are one binary, and a cheap
    // test of one area beside a timing-sensitive kernel test of another
    // disturbs it (ARCHITECTURE.md). `-- --test-threads=N` overrides it.
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        test.env("RUST_TEST_THREADS", "1");
    }
    run_checked(&mut test).or_else(|e| bail!("{e}"))
}

/// Man pages and completions, generated from capacity's own clap tree by
/// capacity-user's `docs` example: the example links the library (and so
/// needs the BPF toolchain, like every build of it) while xtask itself stays
/// buildable without it.
pub fn docs(out: &std::path::Path) -> Result<()> {
    let toolchain = ensure_toolchain()?;
    let out = workspace_root().join(out);
    step(&format!("generating man pages and completions into {}", out.display()));
    let mut generate = cargo(&["run", "--quiet", "--release", "--package", "capacity-user", "--example", "docs", "--"]);
    generate.arg(&out);
    toolchain.apply(&mut generate);
    run_checked(&mut generate)
}
