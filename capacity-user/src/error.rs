//! How a run ends, and the exit code for each way.
//!
//! Exit codes (docs/CLI.md): 0 success, 1 a requested check failed, 2 bad
//! input or an unusable environment, 3 the tool broke one of its own
//! invariants (a bug), 130 interrupted by Ctrl-C (143 by SIGTERM) after
//! printing the partial result.
//!
//! One error story: every failure is an `anyhow::Error` whose message (with
//! its context) is one line that says what is wrong and how to fix it. Only
//! a broken invariant is told apart ([`InvariantError`], exit 3); anything
//! else is the input's or the environment's to fix (exit 2), kernel
//! refusals included.
use std::process::ExitCode;

/// The tool's own accounting does not add up: a bug, reported loudly.
#[derive(Debug, thiserror::Error)]
#[error("invariant broken: {0}")]
pub struct InvariantError(pub String);

/// stdout's reader closed it (EPIPE): nobody is left to read the result,
/// so the program stops quietly with exit 0, as `head`'s writers do.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct ClosedStdout;

/// What a command reports back to `main` when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A gate the user asked for (`--max-error`, `--budget`, a ring up to
    /// `size --max`) failed.
    CheckFailed,
    /// Ctrl-C or SIGTERM: the partial result was printed.
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::CheckFailed => ExitCode::from(1),
            Outcome::Interrupted => ExitCode::from(crate::signal::interrupted_exit_code()),
        }
    }
}

/// Exit code for an error: 3 for a broken invariant, 0 for a closed stdout
/// (nothing went wrong; the reader stopped reading), 2 for everything else
/// (bad input, environment, kernel refusals).
pub fn exit_code_for(error: &anyhow::Error) -> ExitCode {
    if error.downcast_ref::<InvariantError>().is_some() {
        ExitCode::from(3)
    } else if is_closed_stdout(error) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The error is stdout's reader going away: nothing to say about it.
pub fn is_closed_stdout(error: &anyhow::Error) -> bool {
    error.downcast_ref::<ClosedStdout>().is_some()
}

/// The error as one line: anyhow's chain joined with ": ", newlines folded.
pub fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace('\n', " ")
}
