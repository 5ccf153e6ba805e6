//! `cargo xtask docs` runs this: man pages and shell completions for
//! `capacity` into the directory given as the only argument.
use std::{path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: docs DIR");
        return ExitCode::from(2);
    };
    match capacity::cli::docs::generate(&dir) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("docs: cannot write into {}: {err}", dir.display());
            ExitCode::FAILURE
        }
    }
}
