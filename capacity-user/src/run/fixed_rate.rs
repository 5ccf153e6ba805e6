//! One fixed-rate run, stage by stage: load the program, warm up, run the
//! producers and the consumer on separate CPUs, read the counters, check
//! the invariants.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use super::{
    config::RunConfig,
    consumer::{consume, RecordSizes},
    cpu::{pin_to_cpu, CpuPlan},
    generator::{produce, ProducerReport},
    invariants::check_invariants,
    program::{overwrite_supported, trigger, EmitProgram},
    reader::Reader,
    result::{summarize, RunResult},
    stage::Stage,
};
use crate::{event_sizes::EventSizes, layout::Layout, preflight};

/// Run at a fixed rate. `stop` (Ctrl-C) ends the run early: producers stop,
/// the consumer drains without its simulated work, and the partial result
/// is returned with `interrupted` set.
pub fn run_fixed_rate(config: &RunConfig, stop: &AtomicBool) -> anyhow::Result<RunResult> {
    config.validate()?;
    preflight::check_load_environment("capacity")?;
    if config.overwrite && !overwrite_supported() {
        let release =
            nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
        use crate::settings::Setting::Overwrite;
        let why = format!(
            " needs the ring buffer's overwrite mode (BPF_F_RB_OVERWRITE, Linux 6.19+), which kernel {release} refuses: run without "
        );
        return Err(crate::refuse!(Overwrite; Overwrite, why, Overwrite).into());
    }
    let mut program = EmitProgram::load(&config.program_settings())?;
    let largest_record = capacity_common::record_bytes(config.event_sizes.largest().into());
    let mut ring = Reader::new(
        program.take_outputs()?,
        config.overwrite,
        config.ringbuf_size,
        config.event_size() as usize,
        config.consumer.release_every(largest_record),
    )?;
    let mut stage = None;
    if !config.warmup.is_zero() && !stop.load(Ordering::Relaxed) {
        let warmup = run_stage(&program, &mut ring, config, config.warmup, stop)?;
        if stop.load(Ordering::Relaxed) {
            // Interrupted while warming up: that is the partial result.
            stage = Some(warmup);
        } else {
            program.reset()?;
        }
    }
    let stage = match stage {
        Some(warmup) => warmup,
        None => run_stage(&program, &mut ring, config, config.duration, stop)?,
    };
    program.flush_logs();
    let counters = program.counters()?;
    let per_cpu = program.per_cpu_counters()?;
    let result = summarize(config, &stage, &counters, &per_cpu, ring.counts(), stop.load(Ordering::Relaxed));
    check_invariants(config, &stage, &counters)?;
    Ok(result)
}

fn run_stage(
    program: &EmitProgram,
    ring: &mut Reader,
    config: &RunConfig,
    duration: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<Stage> {
    let token = program.token();
    let pace = config.pace(duration);
    let producers_done = AtomicBool::new(false);
    let kernel_before = program.kernel_stats()?;
    let counts_before = ring.counts().to_vec();
    // Rings per CPU fill at once only with producers on every CPU: the
    // consumer then shares a CPU with one of them.
    let cpus = if config.layout == Layout::Shared { CpuPlan::for_this_process() } else { CpuPlan::every_cpu() };
    let flush_cpus = CpuPlan::every_cpu();
    let flush = || {
        if config.layout == Layout::Perf {
            // One flush trigger on every CPU (see the program's `flush`).
            for cpu in flush_cpus.all() {
                pin_to_cpu(Some(cpu));
                trigger(token, u32::from(capacity_common::FLUSH_PRODUCER));
            }
            pin_to_cpu(cpus.consumer);
        }
    };
    let expected = match &config.event_sizes {
        EventSizes::Fixed(size) => RecordSizes::Fixed(*size),
        mix => RecordSizes::Mix(mix.table()),
    };
    let (producers, consumer) = thread::scope(|scope| {
        let consumer = scope.spawn(|| {
            pin_to_cpu(cpus.consumer);
            consume(ring, &config.consumer, &expected, &producers_done, stop, flush)
        });
        let producers: Vec<_> = (0..config.producers)
            .map(|id| {
                let cpu = cpus.producer(id);
                let pace = &pace;
                scope.spawn(move || {
                    pin_to_cpu(cpu);
                    produce(token, id, pace, stop)
                })
            })
            .collect();
        let reports: Vec<ProducerReport> =
            producers.into_iter().map(|p| p.join().expect("producer thread panicked")).collect();
        producers_done.store(true, Ordering::Release);
        (reports, consumer.join().expect("consumer thread panicked"))
    });
    let kernel = program.kernel_stats()?.since(&kernel_before);
    let batch = u64::from(config.batch);
    let kernel_attempted = program
        .producer_seqs(config.producers)?
        .into_iter()
        .zip(&producers)
        .map(|(seq, p)| kernel_attempted(p.triggers * batch, seq))
        .collect();
    let counts = ring.counts();
    let consumed_per_ring = counts.iter().zip(&counts_before).map(|(now, then)| now.records - then.records).collect();
    let lost = counts.iter().zip(&counts_before).map(|(now, then)| now.lost - then.lost).sum();
    Ok(Stage {
        producers,
        consumer,
        kernel,
        stats_enabled: program.stats_enabled(),
        kernel_attempted,
        consumed_per_ring,
        lost,
    })
}

/// Events the program attempted for a producer that asked for `issued`,
/// from the program's 32-bit sequence number `seq`: at most `issued`, and
/// equal to `seq` modulo 2^32 (runs the kernel skipped attempt nothing).
fn kernel_attempted(issued: u64, seq: u32) -> u64 {
    issued - u64::from((issued as u32).wrapping_sub(seq))
}

#[cfg(test)]
mod tests {
    #[test]
    fn attempted_events_come_from_the_wrapping_sequence() {
        assert_eq!(super::kernel_attempted(320, 320), 320);
        assert_eq!(super::kernel_attempted(320, 160), 160);
        assert_eq!(super::kernel_attempted((1 << 32) + 10, 4), (1 << 32) + 4);
        assert_eq!(super::kernel_attempted((1 << 32) + 10, u32::MAX), (1 << 32) - 1);
    }
}
