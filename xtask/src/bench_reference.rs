//! The reference every ring benchmark compares with: libbpf's
//! `ring_buffer__poll` consumer (bench/reference/), compiled with clang
//! against Debian's libbpf.
use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context, Result};

use crate::{
    setup::{describe, run_checked, step},
    workspace::workspace_root,
};

/// Compile the reference's BPF object and its libbpf consumer into target/bench/.
pub fn build_reference() -> Result<PathBuf> {
    let source = workspace_root().join("bench/reference");
    let out = workspace_root().join("target/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    step("building the libbpf reference consumer");
    // clang's BPF target has no multiarch include path of its own, and
    // <linux/bpf.h> needs <asm/types.h> from it.
    let multiarch = command_output(Command::new("cc").arg("-dumpmachine"))?;
    run_checked(
        Command::new("clang")
            .args(["-target", "bpf", "-O2", "-g", "-Wall"])
            .arg(format!("-I/usr/include/{multiarch}"))
            .arg("-c")
            .arg(source.join("ringbuf_ref.bpf.c"))
            .arg("-o")
            .arg(out.join("ringbuf_ref.bpf.o")),
    )?;
    let libbpf_flags = command_output(Command::new("pkg-config").args(["--cflags", "--libs", "libbpf"]))?;
    let binary = out.join("ringbuf_ref");
    run_checked(
        Command::new("cc")
            .args(["-O2", "-Wall", "-o"])
            .arg(&binary)
            .arg(source.join("ringbuf_ref.c"))
            .args(libbpf_flags.split_whitespace())
            .args(["-lelf", "-lz", "-lpthread"]),
    )?;
    Ok(binary)
}

fn command_output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!("`{}` failed ({})", describe(cmd), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
