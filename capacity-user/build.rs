//! Builds the kernel program (capacity-ebpf) for the BPF target with the
//! toolchain `cargo xtask setup` registers, and embeds it in the binary.
use std::process::Command;

/// rustup toolchain name `cargo xtask setup` links to Debian's Rust (which
/// ships a prebuilt `core` for the BPF targets).
const BPF_TOOLCHAIN: &str = "debian-bpf";

fn main() -> anyhow::Result<()> {
    let toolchain = std::env::var("CAPACITY_BPF_TOOLCHAIN").unwrap_or_else(|_| BPF_TOOLCHAIN.into());
    println!("cargo:rerun-if-env-changed=CAPACITY_BPF_TOOLCHAIN");
    let linker_ok = Command::new("bpf-linker").arg("--version").output().is_ok_and(|o| o.status.success());
    if !linker_ok {
        anyhow::bail!("bpf-linker is not installed: run `cargo xtask setup` (it installs the BPF toolchain)");
    }
    let toolchain_ok = Command::new("rustup")
        .args(["run", &toolchain, "rustc", "--print", "target-libdir", "--target", "bpfel-unknown-none"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !toolchain_ok {
        anyhow::bail!("rustup toolchain `{toolchain}` with a BPF `core` is missing: run `cargo xtask setup`");
    }
    if toolchain == BPF_TOOLCHAIN {
        // aya-ebpf uses one unstable feature; Debian's stable rustc accepts it
        // for that crate alone. (The value `1` would ask for build-std.)
        // SAFETY: build scripts are single-threaded.
        unsafe { std::env::set_var("RUSTC_BOOTSTRAP", "aya_ebpf") };
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../capacity-ebpf");
    aya_build::build_ebpf(
        [aya_build::Package { name: "capacity-ebpf", root_dir: root, ..Default::default() }],
        aya_build::Toolchain::Custom(&toolchain),
    )
}
