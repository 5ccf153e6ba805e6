//! Generating load: one fixed-rate run of the kernel program, driven by
//! paced producers and drained by a checked consumer, with every event
//! accounted for.
//!
//! - [`config`]: the run's settings, defaults and validation;
//! - [`program`]: the kernel program (load, attach, counters; drop detaches);
//! - [`arrivals`]: when triggers are due: constant, Poisson, bursts, a replayed profile;
//! - [`generator`]: producer threads paced against absolute deadlines;
//! - [`consumer`]: drains the ring, checks sequence numbers, measures latency;
//! - [`reader`]: reads every output of a layout (rings, perf buffers) in turn;
//! - [`ring`]: reads records from one ring, following overwrites in overwrite mode;
//! - [`walk`]: walks a ring's records between two positions (memory and positions only);
//! - [`fixed_rate`]: a run's stages (warm-up, then the measured part), threads on their CPUs;
//! - [`stage`]: what one stage measured;
//! - [`result`]: what a run measured and its table;
//! - [`invariants`]: the accounting checked after every run.
pub mod arrivals;
pub mod config;
pub mod consumer;
mod cpu;
mod fixed_rate;
pub mod generator;
mod invariants;
pub mod program;
pub mod reader;
mod result;
pub mod ring;
mod stage;

pub use config::{Layout, MapUpdates, RunConfig, Wakeup};
pub use fixed_rate::run_fixed_rate;
pub use result::{Latency, RingFigures, RunResult};
