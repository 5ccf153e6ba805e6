//! capacity: measure what BPF ring buffers carry and what BPF maps cost, on
//! the running kernel. The binary is a thin layer over these modules.

pub mod cli;
pub mod deployment;
pub mod error;
pub mod event_sizes;
pub mod export;
pub mod kernel;
pub mod layout;
pub mod memory;
#[cfg(test)]
mod notices;
pub mod observe;
pub mod output;
pub mod plan;
pub mod preflight;
pub mod pressure;
pub mod progress;
pub mod run;
pub mod search;
pub mod settings;
pub mod signal;
pub mod sys;
pub mod units;
