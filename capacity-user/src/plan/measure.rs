//! `capacity report --measure`: the plan tried on this host. A load run at
//! the grown rate through the recommended ring (whose per-event costs then
//! plan the cores), and a `size` search for the smallest ring that holds
//! the load the plan must survive.
use std::{sync::atomic::AtomicBool, time::Duration};

use super::{build, check, workload::Workload, Plan};
use crate::{
    memory::{host::Host, model::Model},
    search::size,
};

/// The measured plan, and whether a signal cut the measuring short (the
/// plan then holds what was measured until then).
pub struct Measured {
    pub plan: Plan,
    pub interrupted: bool,
}

/// The plan for `workload` under `model`, checked on this host with runs
/// `duration` long (privileged). A plan this host cannot try is refused
/// before anything runs.
pub fn measure(workload: &Workload, model: &Model, duration: Duration, stop: &AtomicBool) -> anyhow::Result<Measured> {
    let mut plan = build(workload, model, None)?;
    check::config(&plan, workload, duration).validate()?;
    let first_spec = check::size_spec(&plan, workload, duration);
    size::validate(&first_spec)?;
    let check = check::run(&plan, workload, duration, stop)?;
    let mut interrupted = check.run.interrupted;
    if let Some(costs) = check.costs() {
        plan = build(workload, model, Some(costs))?;
    }
    plan.check = Some(check);
    if !interrupted {
        // The ring search runs on this host, whatever kernel the plan models.
        let spec = check::size_spec(&plan, workload, duration);
        let host_model = Model::new(None, None, Host::this())?;
        let sized = size::size(size::validate(&spec)?, &host_model, stop)?;
        interrupted = sized.interrupted;
        plan.measured_ring = Some(sized);
    }
    Ok(Measured { plan, interrupted })
}
