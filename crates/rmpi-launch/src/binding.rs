//! Placing ranks on cores (`rmpirun --bind-to start|core|none`, as Open MPI and Hydra offer
//! binding).
//!
//! Ranks that wait on each other while the job connects (blocking on the launcher, on each
//! other's sockets) are woken by each other, and the scheduler tends to wake a task on the
//! core of the task that woke it. Two ranks then often begin on one core, and a rank that
//! waits politely (spinning briefly, then yielding) does not make the scheduler move its
//! neighbour away quickly: every message costs a context switch until it does, and a job's
//! first hundred small collectives could take several times as long. So by default each
//! rank moves to a core of its own (`RMPI_START_CPU`) once the job is connected, and is
//! left free to move on.
//! `--bind-to core` keeps each rank bound to its core (`RMPI_CPU`) from the start instead;
//! bound ranks cannot get away from the launcher's own threads on a small machine.

use crate::env;

pub use rmpi_core::host::available_cores;

/// Binds the calling thread, and the threads it starts afterwards, to the core named by
/// `RMPI_CPU`, if set. A failure is logged, not fatal: binding only helps speed.
///
/// ```
/// // Without RMPI_CPU (set by rmpirun --bind-to core) it does nothing.
/// rmpi_launch::binding::bind_from_env();
/// ```
pub fn bind_from_env() {
    if let Some(cpu) = core_from_env(env::CPU) {
        match bind_to(cpu) {
            Ok(()) => tracing::debug!("bound to core {cpu}"),
            Err(error) => tracing::warn!("cannot bind to core {cpu}: {error}"),
        }
    }
}

/// Moves the calling thread to the core named by `RMPI_START_CPU`, if set, and then lets it
/// run anywhere it could before; call it once the job is connected. Returns the core the
/// thread was on while it was bound there. A failure is logged, not fatal.
///
/// ```
/// // Without RMPI_START_CPU (set by rmpirun's default --bind-to start) it does nothing.
/// assert_eq!(rmpi_launch::binding::start_from_env(), None);
/// ```
pub fn start_from_env() -> Option<usize> {
    let cpu = core_from_env(env::START_CPU)?;
    match rmpi_core::host::move_onto(&[cpu]) {
        Ok(on) => {
            tracing::debug!("moved to core {on}");
            Some(on)
        }
        Err(error) => {
            tracing::warn!("cannot move to core {cpu}: {error}");
            None
        }
    }
}

/// The core number in variable `name`, if set; a value that is not one is logged.
fn core_from_env(name: &str) -> Option<usize> {
    let text = std::env::var(name).ok().filter(|text| !text.is_empty())?;
    match text.parse::<usize>() {
        Ok(cpu) if cpu < rustix::thread::CpuSet::MAX_CPU => Some(cpu),
        _ => {
            tracing::warn!("{name}={text:?} is not a core number; ignored");
            None
        }
    }
}

fn bind_to(cpu: usize) -> rustix::io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set)
}

/// The core each of a job's ranks gets: round-robin over `cores` among the ranks of its
/// host (`hosts[rank]`, all one host if `hosts` is empty), so two ranks of one host share a
/// core only when it has more ranks than cores.
///
/// ```
/// use rmpi_launch::binding::cores_for;
/// // Three ranks on one host with cores 0 and 1: the third shares core 0.
/// assert_eq!(cores_for(3, &[], &[0, 1]), [0, 1, 0]);
/// // Ranks on two hosts: each host's ranks count from its first core.
/// let hosts = ["a".to_string(), "b".to_string(), "a".to_string()];
/// assert_eq!(cores_for(3, &hosts, &[0, 1]), [0, 0, 1]);
/// ```
pub fn cores_for(ranks: usize, hosts: &[String], cores: &[usize]) -> Vec<usize> {
    if cores.is_empty() {
        return Vec::new();
    }
    (0..ranks)
        .map(|rank| {
            let local = match hosts.get(rank) {
                Some(host) => hosts[..rank].iter().filter(|h| *h == host).count(),
                None => rank,
            };
            cores[local % cores.len()]
        })
        .collect()
}
