//! The accounting every run must satisfy after its final drain. A mismatch
//! is a bug in this tool (exit 3), never a property of the host.
//!
//! The terms, each counted where it happens:
//! - `issued`: triggers the producers made (userspace);
//! - `triggers`: runs of the program that were one of them (program counter);
//! - `missed_runs`: runs the kernel skipped because a BPF program was
//!   already running on that CPU (the program's `recursion_misses`, kernel);
//! - `other_runs`: runs for other callers of the syscall (program counter);
//! - `dropped` = `dropped_full` + `dropped_busy`: failed reserves (program);
//! - `overwritten`: records the kernel overwrote before the consumer read
//!   them (overwrite mode; from the kernel's overwrite position);
//! - `consumed`, sequence gaps: what the consumer saw (userspace);
//! - perf layout: `lost`, the samples the kernel's PERF_RECORD_LOST records
//!   report, against the program's outputs that found no room
//!   (`dropped_full`), after a flush trigger per CPU (`flushes`) brought
//!   out the records still pending.
use super::{
    config::{Layout, MapUpdates, RunConfig},
    program::Counters,
    stage::Stage,
};
use crate::error::InvariantError;

/// Every event is either consumed, dropped or overwritten, every trigger is
/// either run or skipped by the kernel, and the kernel's counters, the
/// producers' own counts and the consumer's sequence numbers all agree.
pub(super) fn check_invariants(config: &RunConfig, stage: &Stage, c: &Counters) -> anyhow::Result<()> {
    let batch = u64::from(config.batch);
    let issued: u64 = stage.producers.iter().map(|p| p.triggers).sum();
    let missed = stage.kernel.recursion_misses;
    let consumer = &stage.consumer;
    let overwritten = consumer.overwritten;
    let consumer_missing = consumer.seq_gaps + consumer.tail_missing(&stage.kernel_attempted);
    let own_missed = issued.checked_sub(c.triggers);
    let checks = [
        (
            // Exact when nobody else ran the program meanwhile; other
            // callers' skipped runs can only add to the kernel's count.
            match own_missed {
                Some(own) if c.other_runs == 0 => own == missed,
                Some(own) => own <= missed,
                None => false,
            },
            format!(
                "producers issued {issued} triggers, the program ran {} and the kernel skipped {missed} (recursion_misses; {} runs of other callers)",
                c.triggers, c.other_runs
            ),
        ),
        (
            // The kernel's run count and the program's counters are read at
            // different moments: other callers' runs in between make them
            // differ, ours cannot (the producers are stopped then).
            !stage.stats_enabled
                || (c.other_runs == 0 && stage.kernel.run_count == c.triggers + c.flushes)
                || (c.other_runs > 0 && stage.kernel.run_count >= c.triggers + c.flushes),
            format!(
                "the kernel ran the program {} times, it counted {} triggers, {} flushes and {} other runs",
                stage.kernel.run_count, c.triggers, c.flushes, c.other_runs
            ),
        ),
        (
            c.triggers * batch == c.emitted + c.dropped,
            format!("triggers × batch = {} but emitted + dropped = {}", c.triggers * batch, c.emitted + c.dropped),
        ),
        (
            c.dropped == c.dropped_full + c.dropped_busy,
            format!("dropped {} but full {} + busy {}", c.dropped, c.dropped_full, c.dropped_busy),
        ),
        (
            c.emitted == consumer.consumed + overwritten,
            format!("emitted {} but consumed {} + overwritten {overwritten}", c.emitted, consumer.consumed),
        ),
        (
            stage.kernel_attempted.iter().sum::<u64>() == c.triggers * batch,
            format!(
                "the program's sequence numbers show {} events attempted, its counters {}",
                stage.kernel_attempted.iter().sum::<u64>(),
                c.triggers * batch
            ),
        ),
        (
            // With --map off no event touches the map.
            c.map_updates + c.map_errors == if config.map == MapUpdates::On { c.triggers * batch } else { 0 },
            format!(
                "map updates + errors = {} for {} events with --map {}",
                c.map_updates + c.map_errors,
                c.triggers * batch,
                config.map
            ),
        ),
        (
            consumer_missing == c.dropped + overwritten,
            format!("sequence gaps show {consumer_missing} missing, kernel dropped {} and overwrote {overwritten}", c.dropped),
        ),
        (
            config.layout != Layout::Perf || (stage.lost == c.dropped_full && c.flush_failures == 0),
            format!(
                "the kernel's lost-sample records count {} lost, the program {} outputs without room ({} flushes failed)",
                stage.lost, c.dropped_full, c.flush_failures
            ),
        ),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hdrhistogram::Histogram;

    use super::*;
    use crate::run::{consumer::ConsumerReport, generator::ProducerReport, program::KernelStats};

    /// A 7.x run: two producers, batch 4; the kernel skipped 3 of producer
    /// 1's 10 triggers, dropped 2 events (one busy) and overwrote 5.
    fn seven_x_run(missed: u64, other_runs_seen_by_kernel: u64) -> (RunConfig, Stage, Counters) {
        let config = RunConfig { batch: 4, producers: 2, ..RunConfig::default() };
        let producers = vec![
            ProducerReport { triggers: 10, elapsed: Duration::from_secs(1), per_phase: vec![10], scheduled: 10 },
            ProducerReport { triggers: 10, elapsed: Duration::from_secs(1), per_phase: vec![10], scheduled: 10 },
        ];
        let consumer = ConsumerReport {
            consumed: 68 - 2 - 5,
            drained_after_stop: 0,
            consumed_bytes: 0,
            seq_gaps: 7,
            out_of_order: 0,
            malformed: 0,
            overwritten: 5,
            next_seq: vec![40, 28],
            latency: Histogram::new(3).unwrap(),
            cpu_time: Duration::ZERO,
        };
        let kernel = KernelStats {
            run_time: Duration::ZERO,
            run_count: 17 + other_runs_seen_by_kernel,
            recursion_misses: missed,
        };
        let stage = Stage {
            producers,
            consumer,
            kernel,
            stats_enabled: true,
            kernel_attempted: vec![40, 28],
            consumed_per_ring: vec![66],
            lost: 0,
        };
        let counters = Counters {
            triggers: 17,
            emitted: 66,
            dropped: 2,
            dropped_full: 1,
            dropped_busy: 1,
            map_updates: 68,
            map_errors: 0,
            peak_occupancy_bytes: 0,
            other_runs: other_runs_seen_by_kernel,
            flushes: 0,
            flush_failures: 0,
        };
        (config, stage, counters)
    }

    #[test]
    fn every_term_accounted_passes() {
        let (config, stage, c) = seven_x_run(3, 0);
        check_invariants(&config, &stage, &c).expect("exact");
    }

    #[test]
    fn skipped_runs_the_kernel_did_not_count_break_it() {
        let (config, stage, c) = seven_x_run(2, 0);
        let err = check_invariants(&config, &stage, &c).unwrap_err().to_string();
        assert!(err.contains("producers issued 20 triggers, the program ran 17 and the kernel skipped 2"), "{err}");
    }

    #[test]
    fn other_callers_may_add_skipped_runs_of_their_own() {
        let (config, stage, c) = seven_x_run(5, 4);
        check_invariants(&config, &stage, &c).expect("2 of the 5 skipped runs are other callers'");
        let (config, stage, c) = seven_x_run(5, 0);
        assert!(check_invariants(&config, &stage, &c).is_err(), "nobody else ran: 5 != 3");
    }

    #[test]
    fn without_the_map_no_event_may_update_it() {
        let (mut config, phase, mut c) = seven_x_run(3, 0);
        config.map = MapUpdates::Off;
        let err = check_invariants(&config, &phase, &c).unwrap_err().to_string();
        assert!(err.contains("map updates + errors = 68 for 68 events with --map off"), "{err}");
        c.map_updates = 0;
        check_invariants(&config, &phase, &c).expect("no map traffic with --map off");
    }

    #[test]
    fn unclassified_drops_break_it() {
        let (config, stage, mut c) = seven_x_run(3, 0);
        c.dropped_busy = 0;
        let err = check_invariants(&config, &stage, &c).unwrap_err().to_string();
        assert!(err.contains("dropped 2 but full 1 + busy 0"), "{err}");
    }
}
