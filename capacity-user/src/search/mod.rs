//! Exploring rates: the binary search for the maximum sustainable rate, the
//! ramp of fixed-rate steps, and the ramp's SVG plot. Each drives the load
//! engine (`crate::run`) and adds nothing to its accounting.
//!
//! - [`rate`]: `capacity search`;
//! - [`ramp`]: `capacity ramp`;
//! - [`plot`]: the ramp curve as SVG.
pub mod plot;
pub mod ramp;
pub mod rate;

pub use rate::{search, Limit, SearchResult, SearchSpec};
