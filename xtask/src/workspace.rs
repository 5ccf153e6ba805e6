//! Where the workspace is, and cargo run in it: what every task needs and
//! nothing it depends on.
use std::{path::PathBuf, process::Command};

/// The workspace's top folder (xtask sits in it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

/// `cargo ARGS`, run from the workspace with the cargo that runs xtask.
pub fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args).current_dir(workspace_root());
    cmd
}
