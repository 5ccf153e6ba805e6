//! Which CPU each thread of a run is pinned to.
use crate::sys::host::{allowed_cpus, set_affinity};

/// Where threads run: the consumer on one CPU, producers on the others, as
/// the kernel's own ring buffer benchmark does. Without it the scheduler
/// sometimes stacks producer and consumer on one core and the rate halves.
#[derive(Debug, Clone)]
pub(super) struct CpuPlan {
    pub(super) consumer: Option<usize>,
    producers: Vec<usize>,
}

impl CpuPlan {
    pub(super) fn for_this_process() -> Self {
        let allowed = allowed_cpus();
        match allowed.split_last() {
            Some((&last, rest)) if !rest.is_empty() => Self { consumer: Some(last), producers: rest.to_vec() },
            _ => Self { consumer: None, producers: vec![] },
        }
    }

    /// Producers one per allowed CPU in turn, the consumer left to the
    /// scheduler: the per-CPU layouts', whose rings fill only so.
    pub(super) fn every_cpu() -> Self {
        Self { consumer: None, producers: allowed_cpus() }
    }

    /// Every CPU this process may run on.
    pub(super) fn all(&self) -> Vec<usize> {
        let mut all = self.producers.clone();
        all.extend(self.consumer);
        all
    }

    pub(super) fn producer(&self, id: u32) -> Option<usize> {
        (!self.producers.is_empty()).then(|| self.producers[id as usize % self.producers.len()])
    }
}

pub(super) fn pin_to_cpu(cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        // Best effort: an unpinned run is still a valid run.
        let _ = set_affinity(&[cpu]);
    }
}
