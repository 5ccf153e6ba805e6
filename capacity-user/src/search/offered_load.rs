//! When the load generator, not the ring, sets the limit: the batch that
//! lets it offer the searched rate, and the advice when it cannot.
//!
//! A producer thread issues triggers (syscalls) at some maximum rate; each
//! trigger emits `batch` events. Raising the batch multiplies what one
//! thread can offer without needing another CPU, which is what a 2-CPU host
//! (one for the consumer, one for producers) has to spare.
use capacity_common::MAX_BATCH;

use crate::{
    settings::{Piece, Setting, Words},
    units::format_rate,
};

/// Aim this far above the target: a trigger with a larger batch takes
/// longer in the kernel, so triggers per second fall as the batch grows.
pub const HEADROOM: f64 = 1.5;
/// Producers whose actual rate stays under this share of the target are
/// saturated, even when the trial passed (pacing alone reaches 99.9%).
pub const SATURATED: f64 = 0.99;

/// The batch with which producers that reached `reached` events/s at
/// `batch` can offer `target`: None when `batch` already suffices or
/// nothing larger is allowed.
pub fn batch_to_reach(target: f64, reached: f64, batch: u32) -> Option<u32> {
    if reached.is_nan() || reached <= 0.0 || reached >= target {
        return None;
    }
    let triggers_per_s = reached / f64::from(batch);
    let needed = (target * HEADROOM / triggers_per_s).ceil().min(f64::from(MAX_BATCH)) as u32;
    (needed > batch).then_some(needed)
}

/// What to change when the search ended limited by the generator: the
/// answer then describes the load generator, not the ring. The caller
/// names the settings to change ([`Words::name_with`]).
pub fn advice(target: f64, reached: f64, batch: u32, producers: u32, batch_fixed: bool) -> Words {
    let head: Vec<Piece> = vec![
        format!("the load generator, not the ring, set this limit: {producers} producer(s) at ").into(),
        Setting::Batch.into(),
        format!(" {batch} peaked at {}", format_rate(reached)).into(),
    ];
    let tail: Vec<Piece> = match batch_to_reach(target, reached, batch) {
        Some(needed) if batch_fixed => vec![
            "; rerun with ".into(),
            Setting::Batch.into(),
            format!(" {needed} to offer {} (or without ", format_rate(target)).into(),
            Setting::Batch.into(),
            ": the search then chooses one)".into(),
        ],
        _ => {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
            // One CPU is the consumer's; producers share the rest.
            if cpus > producers + 1 {
                vec![
                    "; rerun with ".into(),
                    Setting::Producers.into(),
                    format!(" {} to use this host's other CPUs", cpus - 1).into(),
                ]
            } else {
                vec![format!(
                    ", and this host has no CPU to spare for another producer ({cpus} CPUs, one for the consumer): \
                     the ring and the consumer sustain at least the answer"
                )
                .into()]
            }
        }
    };
    Words::new(head.into_iter().chain(tail).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_grows_to_offer_the_target_with_headroom() {
        // 450k triggers/s: 10M needs 10M × 1.5 / 450k = 33.3 -> 34.
        assert_eq!(batch_to_reach(10e6, 450e3, 1), Some(34));
        // Same thread speed at batch 4 (1.8M events/s): still 34.
        assert_eq!(batch_to_reach(10e6, 1.8e6, 4), Some(34));
        assert_eq!(batch_to_reach(10e6, 10e6, 4), None);
        assert_eq!(batch_to_reach(1e12, 450e3, 1), Some(MAX_BATCH));
        assert_eq!(batch_to_reach(1e12, 450e3, MAX_BATCH), None);
        assert_eq!(batch_to_reach(10e6, 0.0, 1), None);
    }

    #[test]
    fn advice_names_the_flag() {
        fn flags(s: Setting) -> &'static str {
            match s {
                Setting::Batch => "--batch",
                Setting::KeepBatch => "--keep-batch",
                Setting::Producers => "--producers",
                other => other.plain(),
            }
        }
        let mut fixed = advice(10e6, 450e3, 1, 1, true);
        fixed.name_with(flags);
        let fixed = fixed.to_string();
        assert!(
            fixed.contains("rerun with --batch 34 to offer 10.00M/s (or without --batch: the search then chooses one)"),
            "{fixed}"
        );
        assert!(fixed.contains("not the ring"), "{fixed}");
        let mut maxed = advice(10e6, 3e6, MAX_BATCH, 1, false);
        maxed.name_with(flags);
        let maxed = maxed.to_string();
        assert!(maxed.contains("--producers") || maxed.contains("no CPU to spare"), "{maxed}");
    }
}
