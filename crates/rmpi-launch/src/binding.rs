//! Binding ranks to cores (`rmpirun --bind-to core`, as Open MPI and Hydra offer).
//!
//! Two ranks started together sometimes begin on the same core, and a rank that waits
//! politely (spinning briefly, then yielding) does not make the scheduler move its neighbour
//! away quickly: the first messages of a job then cost a context switch each (seen here as
//! 2-rank allreduces of 10 us instead of 2 us for the first few hundred calls). Bound, each
//! rank has a core from the start. `rmpirun` names the core in `RMPI_CPU`, and the rank
//! binds itself to it when it joins the job. It is off by default: on this 2-core machine
//! bound ranks also cannot get away from the launcher's own threads, and whether that costs
//! more than it saves did not show through the noise of the measurements.

use crate::env;

/// The cores this process may run on, in order.
pub fn available_cores() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&cpu| set.is_set(cpu))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Binds the calling thread, and the threads it starts afterwards, to the core named by
/// `RMPI_CPU`, if set. A failure is logged, not fatal: binding only helps speed.
pub fn bind_from_env() {
    let text = match std::env::var(env::CPU) {
        Ok(text) if !text.is_empty() => text,
        _ => return,
    };
    let cpu = match text.parse::<usize>() {
        Ok(cpu) if cpu < rustix::thread::CpuSet::MAX_CPU => cpu,
        _ => {
            tracing::warn!("{}={text:?} is not a core number; not binding", env::CPU);
            return;
        }
    };
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    match rustix::thread::sched_setaffinity(None, &set) {
        Ok(()) => tracing::debug!("bound to core {cpu}"),
        Err(error) => tracing::warn!("cannot bind to core {cpu}: {error}"),
    }
}
