//! Exploring rates and sizes: the search for the maximum sustainable rate,
//! the ramp of fixed-rate steps, the search for the smallest ring that holds
//! a workload, and their SVG plots. Each drives the load
//! engine (`crate::run`) and adds nothing to its accounting.
//!
//! - [`rate`]: `capacity search`;
//! - [`pass_curve`]: the pass probability against rate, from every trial;
//! - [`offered_load`]: the batch producers need to offer the searched rate;
//! - [`ramp`]: `capacity ramp`;
//! - [`size`]: `capacity size`;
//! - [`compare`]: `capacity compare`, the layouts side by side;
//! - [`plot`]: the ramp curve and the size search as SVG.
pub mod compare;
pub mod offered_load;
pub mod pass_curve;
pub mod plot;
pub mod ramp;
pub mod rate;
pub mod size;

pub use rate::{search, Limit, SearchResult, SearchSpec};
