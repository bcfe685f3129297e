//! What rmpi needs to know about the machine a rank runs on.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::OnceLock;

/// This host's name (`MPI_Get_processor_name`, mpi4py's `MPI.Get_processor_name()`).
///
/// ```
/// assert!(!rmpi::host::name().is_empty());
/// ```
pub fn name() -> String {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let name = read("/proc/sys/kernel/hostname")
        .or_else(|| read("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    match name.trim() {
        "" => "localhost".to_string(),
        name => name.to_string(),
    }
}

/// What tells this host from others, for deciding which ranks share memory: `named` (the
/// job's `RMPI_HOST`, to group ranks by hand) where given, otherwise its name, its boot and
/// its network namespace (containers and namespaces on one machine share a name but may
/// not share memory). Printable ASCII without spaces or `=`.
///
/// ```
/// assert_eq!(rmpi::host::identity(None), rmpi::host::identity(None));
/// assert_eq!(rmpi::host::identity(Some("node 7")), "node_7");
/// ```
pub fn identity(named: Option<&str>) -> String {
    let identity = match named {
        Some(named) => named.to_string(),
        None => {
            let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
            let network = std::fs::read_link("/proc/self/ns/net")
                .map(|link| link.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!(
                "{}/{}/{network}",
                name(),
                read("/proc/sys/kernel/random/boot_id").trim()
            )
        }
    };
    identity
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '=' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The cores this process may run on, read once (it is not cheap). Transports and
/// collectives compare it with the number of ranks: with more ranks than cores, waiting
/// must give the core away, and algorithms that send many messages lose. The first call
/// counts: `rmpi::init` makes it before a rank binds itself to one core.
///
/// ```
/// assert!(rmpi::host::cores() >= 1);
/// ```
pub fn cores() -> usize {
    cores_once()
}

/// The cores the calling thread may run on, in order (none if the system will not say).
///
/// ```
/// assert!(!rmpi::host::available_cores().is_empty());
/// ```
pub fn available_cores() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&cpu| set.is_set(cpu))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The core the calling thread is running on (it may move at any moment).
///
/// ```
/// let on = rmpi::host::current_core();
/// assert!(rmpi::host::available_cores().contains(&on));
/// ```
pub fn current_core() -> usize {
    rustix::thread::sched_getcpu()
}

/// Moves the calling thread onto one of `cores`, then lets it run anywhere it could before:
/// the thread leaves the core it was on without being bound anywhere, and the scheduler is
/// free to move it on. Returns the core it moved to, or why it could not move (a failure to
/// let go afterwards is logged).
///
/// ```
/// let first = rmpi::host::available_cores()[0];
/// assert_eq!(rmpi::host::move_onto(&[first]).ok(), Some(first));
/// ```
pub fn move_onto(cores: &[usize]) -> std::io::Result<usize> {
    use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
    let before = sched_getaffinity(None)?;
    let mut onto = CpuSet::new();
    for &cpu in cores.iter().filter(|&&cpu| cpu < CpuSet::MAX_CPU) {
        onto.set(cpu);
    }
    sched_setaffinity(None, &onto)?;
    // Allowed only there, the thread is on one of them now.
    let on = current_core();
    if let Err(error) = sched_setaffinity(None, &before) {
        tracing::warn!("cannot let go of cores {cores:?}: {error}");
    }
    Ok(on)
}

/// How much a rank may hold of messages no receive has taken, unless the job says
/// (`RMPI_UNEXPECTED_BYTES`): 1 GiB, or less on a small host, so that all `ranks_here` ranks
/// of this host together hold at most half of its memory.
///
/// ```
/// let one = rmpi::host::unexpected_bytes_default(1);
/// assert!(one <= 1 << 30 && one > 0);
/// assert!(rmpi::host::unexpected_bytes_default(64) <= one);
/// ```
pub fn unexpected_bytes_default(ranks_here: usize) -> usize {
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            kib.checked_mul(1024)
        })
        .unwrap_or(usize::MAX);
    (1usize << 30)
        .min(memory / 2 / ranks_here.max(1))
        .max(1 << 20)
}

fn cores_once() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The most ranks of the job that share one core on any of its hosts, as every rank of the
/// job agreed when it started (see [`agree_ranks_per_core`]); `None` before that, and in
/// jobs that never agreed (ranks that are threads of one process, which see the same
/// [`cores`]). Collectives whose members must all choose the same algorithm, and cannot
/// detect when they did not, choose by this rather than by their own host's cores: hosts
/// of one job may have different numbers of cores.
///
/// ```
/// // A program that never joined a job has not agreed on it.
/// assert_eq!(rmpi::host::ranks_per_core(), None);
/// ```
pub fn ranks_per_core() -> Option<usize> {
    RANKS_PER_CORE.get().copied()
}

/// Records what the job's ranks agreed [`ranks_per_core`] is; `rmpi::init` calls it once,
/// before any collective. Later calls are ignored.
///
/// ```
/// rmpi::host::agree_ranks_per_core(2);
/// assert_eq!(rmpi::host::ranks_per_core(), Some(2));
/// ```
pub fn agree_ranks_per_core(ranks: usize) {
    let _ = RANKS_PER_CORE.set(ranks.max(1));
}

static RANKS_PER_CORE: OnceLock<usize> = OnceLock::new();

/// The most ranks sharing one core on any host, where rank `r` runs on `hosts[r]` and sees
/// `cores[r]` cores (the fewest any of a host's ranks sees counts for the host). One pass:
/// jobs may have thousands of ranks.
///
/// ```
/// // Four ranks on host "a" (2 cores), one on "b" (4 cores).
/// let hosts = ["a", "a", "a", "a", "b"];
/// assert_eq!(rmpi::host::most_ranks_per_core(&hosts, &[2, 2, 2, 2, 4]), 2);
/// ```
pub fn most_ranks_per_core<H: Hash + Eq>(hosts: &[H], cores: &[usize]) -> usize {
    // Each host's ranks, and the fewest cores one of them sees.
    let mut per_host: HashMap<&H, (usize, usize)> = HashMap::new();
    for (host, &seen) in hosts.iter().zip(cores) {
        let (ranks, fewest) = per_host.entry(host).or_insert((0, usize::MAX));
        *ranks += 1;
        *fewest = (*fewest).min(seen.max(1));
    }
    per_host
        .values()
        .map(|&(ranks, fewest)| ranks.div_ceil(fewest))
        .max()
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::most_ranks_per_core;

    #[test]
    fn the_most_crowded_host_counts() {
        // 8 ranks on a 2-core host, 2 on a 16-core one.
        let hosts = ["a", "a", "a", "a", "a", "a", "a", "a", "b", "b"];
        let cores = [2, 2, 2, 2, 2, 2, 2, 2, 16, 16];
        assert_eq!(most_ranks_per_core(&hosts, &cores), 4);
        // 5 ranks on 2 cores round up; one rank bound narrower than the others counts.
        assert_eq!(most_ranks_per_core(&["a"; 5], &[2; 5]), 3);
        assert_eq!(most_ranks_per_core(&["a"; 3], &[4, 4, 1]), 3);
        assert_eq!(most_ranks_per_core(&["a", "b"], &[8, 8]), 1);
    }
}
