//! One fixed-rate run, phase by phase: load the program, warm up, run the
//! producers and the consumer on separate CPUs, read the counters, check
//! the invariants.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use aya::maps::{MapData, RingBuf};

use super::{
    config::RunConfig,
    consumer::{consume, ConsumerReport, RecordSizes},
    cpu::{pin_to_cpu, CpuPlan},
    generator::{produce, ProducerReport},
    invariants::check_invariants,
    program::{EmitProgram, KernelStats},
    result::{summarize, RunResult},
};
use crate::preflight;

/// One phase's raw material.
pub(super) struct Phase {
    pub(super) producers: Vec<ProducerReport>,
    pub(super) consumer: ConsumerReport,
    pub(super) kernel: KernelStats,
}

/// Run at a fixed rate. `stop` (Ctrl-C) ends the run early: producers stop,
/// the consumer drains without its simulated work, and the partial result
/// is returned with `interrupted` set.
pub fn run_fixed_rate(config: &RunConfig, stop: &AtomicBool) -> anyhow::Result<RunResult> {
    config.validate()?;
    preflight::check_load_environment("capacity")?;
    let mut program = EmitProgram::load(&config.program_settings())?;
    let mut ring = program.take_ring()?;
    let mut phase = None;
    if !config.warmup.is_zero() && !stop.load(Ordering::Relaxed) {
        let warmup = run_phase(&program, &mut ring, config, config.warmup, stop);
        if stop.load(Ordering::Relaxed) {
            // Interrupted while warming up: that is the partial result.
            phase = Some(warmup);
        } else {
            program.reset()?;
        }
    }
    let phase = match phase {
        Some(warmup) => warmup,
        None => run_phase(&program, &mut ring, config, config.duration, stop),
    };
    program.flush_logs();
    let counters = program.counters()?;
    let result = summarize(config, &phase, &counters, stop.load(Ordering::Relaxed));
    check_invariants(config, &phase, &counters)?;
    Ok(result)
}

fn run_phase(
    program: &EmitProgram,
    ring: &mut RingBuf<MapData>,
    config: &RunConfig,
    duration: Duration,
    stop: &AtomicBool,
) -> Phase {
    let token = program.token();
    let pace = config.pace(duration);
    let producers_done = AtomicBool::new(false);
    let kernel_before = program.kernel_stats();
    let cpus = CpuPlan::for_this_process();
    let expected = match &config.size_mix {
        Some(mix) => RecordSizes::Mix(mix.table()),
        None => RecordSizes::Fixed(config.event_size),
    };
    let (producers, consumer) = thread::scope(|scope| {
        let consumer = scope.spawn(|| {
            pin_to_cpu(cpus.consumer);
            consume(ring, &config.consumer, &expected, &producers_done, stop)
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
    let kernel_after = program.kernel_stats();
    Phase {
        producers,
        consumer,
        kernel: KernelStats {
            run_time: kernel_after.run_time.saturating_sub(kernel_before.run_time),
            run_count: kernel_after.run_count.saturating_sub(kernel_before.run_count),
        },
    }
}

