//! `capacity report --measure`: the plan tried on this host. One load run
//! at the grown rate through the recommended ring, reporting drops and the
//! ring's peak occupancy against its size, and the per-event CPU costs the
//! plan's core count is then computed from.
use std::{sync::atomic::AtomicBool, time::Duration};

use capacity_common::{EVENT_HEADER_SIZE, MAX_BATCH, MAX_EVENT_SIZE};
use serde::Serialize;

use super::{
    workload::{CpuCosts, GrowsWith, Workload},
    Plan,
};
use crate::{
    event_sizes::EventSizes,
    output::{key_values, serde_name},
    preflight,
    run::{config::defaults, run_fixed_rate, RunConfig, RunResult},
    search::size::SizeSpec,
    settings::Setting,
    units::{format_bytes, format_rate},
};

/// Triggers per second one producer issues comfortably (about 200 ns per
/// unbatched trigger here): higher rates batch events per trigger.
const TRIGGERS_PER_SECOND: f64 = 100_000.0;
/// What the load run saw.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub verdict: Verdict,
    /// Peak occupancy as a share of the recommended ring.
    pub peak_occupancy_pct: f64,
    /// The run itself, its fields inline in the JSON: `target_rate` (the
    /// grown rate), `ringbuf_size` (the recommended ring), `event_size`
    /// (the workload's, at least the tool's own header), `batch`, the counts,
    /// `peak_occupancy_bytes`, the per-event costs and the rest of
    /// `capacity load`'s result.
    #[serde(flatten)]
    pub run: RunResult,
}

/// What the load run says of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// No drops, and the target rate reached.
    #[serde(rename = "holds")]
    Holds,
    /// The recommended ring dropped events.
    #[serde(rename = "drops")]
    Drops,
    /// No drops, but the producers fell short of the target rate.
    #[serde(rename = "rate not reached")]
    RateNotReached,
}

impl Check {
    /// Costs for the CPU plan, when the run measured both.
    pub fn costs(&self) -> Option<CpuCosts> {
        Some(CpuCosts {
            kernel_ns_per_event: self.run.kernel_ns_per_event?,
            consumer_ns_per_event: self.run.consumer_ns_per_event?,
        })
    }

    pub fn human(&self) -> String {
        let ns = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.1} ns"));
        let mut pairs = vec![
            ("check", format!("load run at the grown rate: {}", serde_name(&self.verdict))),
            (
                "rate",
                format!(
                    "{} target, {} reached in {:.2} s",
                    format_rate(self.run.target_rate),
                    format_rate(self.run.actual_rate),
                    self.run.duration_s
                ),
            ),
            ("events", format!("{} B each, batch {}", self.run.event_size, self.run.batch)),
            (
                "dropped",
                format!(
                    "{} of {} ({:.4}%)",
                    self.run.dropped,
                    self.run.emitted + self.run.dropped,
                    self.run.drop_rate * 100.0
                ),
            ),
            (
                "peak occupancy",
                format!(
                    "{} of the {} ring ({:.2}%)",
                    format_bytes(self.run.peak_occupancy_bytes),
                    format_bytes(self.run.ringbuf_size),
                    self.peak_occupancy_pct
                ),
            ),
            (
                "cost per event",
                format!("kernel {}, consumer {}", ns(self.run.kernel_ns_per_event), ns(self.run.consumer_ns_per_event)),
            ),
        ];
        if self.run.interrupted {
            pairs.push(("interrupted", "yes: partial result".into()));
        }
        key_values(&pairs)
    }
}

/// How the plan words a refusal of its runs' settings ([`SettingError`]):
/// by the workload file's key a value comes from, or as the plan's own
/// choice.
///
/// [`SettingError`]: crate::settings::SettingError
pub fn setting_name(setting: Setting) -> &'static str {
    match setting {
        Setting::Rate => "the plan's rate (from events_per_second)",
        Setting::Unpaced => "",
        Setting::EventSize => "event_size",
        Setting::RingbufSize | Setting::LargestRing => "the plan's recommended ring",
        Setting::Batch => "the plan's batch",
        Setting::BufferSeconds => "buffer_seconds",
        Setting::Arrivals => "arrivals",
        Setting::Layout => "layout",
        other => other.plain(),
    }
}

/// The run configuration that tries `plan` (its grown scenario).
pub fn config(plan: &Plan, workload: &Workload, duration: Duration) -> RunConfig {
    let grown = &plan.grown;
    let rate = grown.events_per_second;
    let event_size = workload.event_size.clamp(EVENT_HEADER_SIZE as u64, MAX_EVENT_SIZE as u64) as u32;
    let batch = ((rate / TRIGGERS_PER_SECOND).ceil() as u32).clamp(1, MAX_BATCH);
    // The program's flow map stands in for the workload's connection map.
    let connections = workload
        .maps
        .iter()
        .zip(&grown.maps)
        .find(|(map, _)| map.grows_with == GrowsWith::Connections && map.spec.kind.is_hash())
        .map(|(_, line)| line.spec.entries);
    let defaults = RunConfig::default();
    RunConfig {
        rate,
        duration,
        warmup: defaults::warmup(),
        event_sizes: EventSizes::Fixed(event_size),
        ringbuf_size: grown.ring.recommended_bytes,
        batch,
        keyspace: connections.unwrap_or(defaults.keyspace),
        map_entries: connections.unwrap_or(defaults.map_entries),
        arrivals: workload.arrivals.clone(),
        layout: workload.layout,
        ..defaults
    }
}

/// The `size` search `--measure` runs: the smallest ring, up to the one the
/// plan recommends, that holds the load the plan must survive (the N+1
/// failover load when the workload has nodes, else the grown one), with
/// the workload's arrivals, `step` per trial.
pub fn size_spec(plan: &Plan, workload: &Workload, step: Duration) -> SizeSpec {
    let target = plan.failover.as_ref().unwrap_or(&plan.grown);
    let mut config = config(plan, workload, step);
    config.rate = target.events_per_second;
    config.batch = ((config.rate / TRIGGERS_PER_SECOND).ceil() as u32).clamp(1, MAX_BATCH);
    let page = crate::sys::page_size();
    // Perf buffers are searched up to the largest `size` takes.
    let largest = match config.layout {
        crate::layout::Layout::Perf => u64::from(crate::layout::MAX_PERF_PAGES) * page,
        _ => u64::MAX,
    };
    SizeSpec {
        min: page,
        max: target.ring.recommended_bytes.max(page).min(largest),
        max_drop_rate: 0.0,
        step_duration: step,
        buffer_seconds: workload.buffer_seconds,
        workload: config,
    }
}

/// Runs the plan's load (privileged).
pub fn run(plan: &Plan, workload: &Workload, duration: Duration, stop: &AtomicBool) -> anyhow::Result<Check> {
    preflight::check_load_environment("capacity report --measure")?;
    let config = config(plan, workload, duration);
    let result = run_fixed_rate(&config, stop)?;
    let verdict = if result.dropped > 0 {
        Verdict::Drops
    } else if result.actual_rate < 0.95 * config.rate {
        Verdict::RateNotReached
    } else {
        Verdict::Holds
    };
    Ok(Check {
        verdict,
        peak_occupancy_pct: result.peak_occupancy_bytes as f64 * 100.0 / result.ringbuf_size as f64,
        run: result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        kernel::KernelVersion,
        memory::{
            host::Host,
            model::{Accounting, Model},
        },
        plan::build,
    };

    #[test]
    fn the_run_uses_the_grown_rate_and_the_recommended_ring() {
        let workload = Workload::parse(
            r#"
            events_per_second = "400k"
            event_size = 8
            memory_budget = "1G"
            [[maps]]
            name = "flows"
            type = "lru-hash"
            entries = 5000
            key_size = 16
            value_size = 24
            "#,
        )
        .unwrap();
        let model = Model::with(KernelVersion::new(6, 1, 0), Host { cpus: 2, page_size: 4096 }, Accounting::Footprint);
        let plan = build(&workload, &model, None).unwrap();
        let c = config(&plan, &workload, Duration::from_secs(2));
        assert_eq!(c.rate, 600_000.0);
        assert_eq!(c.batch, 6);
        assert_eq!(c.ringbuf_size, plan.grown.ring.recommended_bytes);
        assert_eq!(c.event_sizes, EventSizes::Fixed(EVENT_HEADER_SIZE as u32), "raised to the tool's header");
        assert_eq!((c.keyspace, c.map_entries), (10_000, 10_000));
        assert!(c.validate().is_ok());
    }
}
