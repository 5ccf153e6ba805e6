//! Watching a host over time and exporting it: `capacity watch` (a
//! refreshing table, or a Prometheus exporter with `--listen`), the
//! time-to-exhaustion fit, and `capacity alerts` (rules over the metrics).
//! tokio serves the exporter only; nothing here touches the load engine.
pub mod alerts;
pub mod history;
pub mod metrics;
pub mod ring_marks;
pub mod sample;
pub mod server;
pub mod trend;
pub mod watch;
