//! Exploring rates: the search for the maximum sustainable rate, the
//! ramp of fixed-rate steps, and the ramp's SVG plot. Each drives the load
//! engine (`crate::run`) and adds nothing to its accounting.
//!
//! - [`rate`]: `capacity search`;
//! - [`pass_curve`]: the pass probability against rate, from every trial;
//! - [`offered_load`]: the batch producers need to offer the searched rate;
//! - [`ramp`]: `capacity ramp`;
//! - [`plot`]: the ramp curve as SVG.
pub mod offered_load;
pub mod pass_curve;
pub mod plot;
pub mod ramp;
pub mod rate;

pub use rate::{search, Limit, SearchResult, SearchSpec};
