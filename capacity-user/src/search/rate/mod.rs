//! The maximum sustainable rate as a statistical statement: the highest
//! rate at which a trial passes with probability `pass_probability`, at
//! `confidence`, learned from every trial of the search (`pass_curve`).
//!
//! - [`spec`]: what is asked, how a trial is judged, where trials may go;
//! - [`calibrate`]: the producers measured first, and the one batch the
//!   search keeps;
//! - [`searcher`]: where trials go, retests, and when to stop;
//! - [`statement`]: the answer, its spread and the host's noise;
//! - [`report`]: the result, what limited it, and its table.
use std::sync::atomic::AtomicBool;

use crate::run::{run_fixed_rate, RunConfig, RunResult};

pub mod calibrate;
pub mod report;
pub mod searcher;
pub mod spec;
pub mod statement;
#[cfg(test)]
pub(crate) mod tests;

pub use report::{SearchResult, Trial};
pub use searcher::search_with;
pub use spec::{
    candidate, judge, min_events, trial_duration, validate, BatchSource, Limit, Phase, SearchSpec, DEFAULT_STEP,
    DEFAULT_TIME_BUDGET, MAX_TRIAL, PRODUCER_TOLERANCE,
};
pub use statement::{estimate, statement, Estimate, Spread};

/// Runs one trial: `run_fixed_rate`, or a synthetic host in tests.
pub type TrialRunner<'a> = dyn FnMut(&RunConfig, &AtomicBool) -> anyhow::Result<RunResult> + 'a;

/// Search between `low` and `high`; see the module documentation.
pub fn search(spec: &SearchSpec, stop: &AtomicBool) -> anyhow::Result<SearchResult> {
    search_with(spec, stop, &mut run_fixed_rate)
}
