//! The integration tests: one test binary, one module per area of the
//! product, so the suite links once and a test's name says its area
//! (`load::batches_and_several_producers_are_counted_exactly`). Select an
//! area with a name filter: `cargo xtask test -- -p capacity-tests load::`.
//! `cargo xtask test` runs the tests one at a time (ARCHITECTURE.md says why).
mod alerts;
mod arrivals;
mod bad_input;
mod container;
mod docs;
mod estimate;
mod event_sizes;
mod host;
mod inspect;
mod kubernetes;
mod layouts;
mod load;
mod memory;
mod observe;
mod plan_traffic;
mod program;
mod search;
mod size;
mod watch;
