//! `capacity`: a thin binary over the library. Parse, dispatch, map the
//! outcome to an exit code; every error is one line on stderr.
use std::process::ExitCode;

use capacity::{cli, error};

fn main() -> ExitCode {
    cli::init_logging();
    let command = match cli::parse() {
        Ok(command) => command,
        Err(code) => return code,
    };
    match cli::run(command) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) if error::is_closed_stdout(&err) => error::exit_code_for(&err),
        Err(err) => {
            eprintln!("capacity: error: {}", error::one_line(&err));
            error::exit_code_for(&err)
        }
    }
}
