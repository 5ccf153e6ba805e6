//! Man pages and shell completions, generated from the clap tree that
//! parses the command line, so they cannot drift from `--help`. Run by
//! `cargo xtask docs` (through `examples/docs.rs`).
use std::{
    fs,
    path::{Path, PathBuf},
};

use clap_complete::Shell;

/// The shells completions are generated for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes `man/capacity.1` and one page per subcommand
/// (`man/capacity-load.1`, `man/capacity-estimate-map.1`, ...), and
/// `completions/` for bash, zsh and fish, under `dir`. Returns the files.
pub fn generate(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    fs::create_dir_all(&man)?;
    fs::create_dir_all(&completions)?;
    clap_mangen::generate_to(super::command(), &man)?;
    let mut files: Vec<PathBuf> = fs::read_dir(&man)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    for shell in SHELLS {
        files.push(clap_complete::generate_to(shell, &mut super::command(), "capacity", &completions)?);
    }
    files.sort();
    Ok(files)
}
