//! The accounting every run must satisfy after its final drain. A mismatch
//! is a bug in this tool (exit 3), never a property of the host.
use super::{config::RunConfig, measured::Phase, program::Counters};
use crate::error::InvariantError;

/// Every event is either consumed or counted as dropped, and the kernel's
/// counters, the producers' own counts and the consumer's sequence numbers
/// all agree. A mismatch is a bug in this tool.
pub(super) fn check_invariants(config: &RunConfig, phase: &Phase, c: &Counters) -> anyhow::Result<()> {
    let batch = u64::from(config.batch);
    let issued: u64 = phase.producers.iter().map(|p| p.triggers).sum();
    let attempted_per_producer: Vec<u64> = phase.producers.iter().map(|p| p.triggers * batch).collect();
    let consumer = &phase.consumer;
    let consumer_missing = consumer.seq_gaps + consumer.tail_missing(&attempted_per_producer);
    let checks = [
        (c.triggers == issued, format!("kernel saw {} triggers, producers issued {issued}", c.triggers)),
        (
            c.triggers * batch == c.emitted + c.dropped,
            format!("triggers × batch = {} but emitted + dropped = {}", c.triggers * batch, c.emitted + c.dropped),
        ),
        (c.emitted == consumer.consumed, format!("emitted {} but consumed {}", c.emitted, consumer.consumed)),
        (
            c.map_updates + c.map_errors == c.triggers * batch,
            format!("map updates + errors = {} for {} events", c.map_updates + c.map_errors, c.triggers * batch),
        ),
        (consumer_missing == c.dropped, format!("sequence gaps show {consumer_missing} missing, kernel dropped {}", c.dropped)),
        (consumer.out_of_order == 0, format!("{} records out of order", consumer.out_of_order)),
        (consumer.malformed == 0, format!("{} malformed records", consumer.malformed)),
    ];
    let broken: Vec<String> = checks.into_iter().filter(|(ok, _)| !ok).map(|(_, why)| why).collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(InvariantError(broken.join("; ")).into())
    }
}
