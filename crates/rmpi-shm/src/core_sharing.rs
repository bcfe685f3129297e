//! Ranks that find themselves on one core move apart.
//!
//! Ranks with cores of their own wait for each other by spinning, then yielding. The
//! scheduler sometimes wakes a rank on the core of the rank that woke it, and two ranks on
//! one core then take turns: each wait spins out its budget while the rank it waits for
//! cannot run, and the scheduler is slow to move either away (both look busy, and each ran
//! a moment ago). So a rank whose yield gave its core away (the yield took long: something
//! else ran) says in its doorbell line which core it is on, and if a peer of a lower rank
//! said the same core, it moves to another core it may run on, and is then free to move
//! again. The lower rank stays, so two ranks never swap cores.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmpi_core::host::{available_cores, current_core, move_onto};
use rmpi_core::lock::unpoisoned as lock;

use crate::ShmTransport;

/// A yield that took this long gave the core away: another task ran on it meanwhile.
pub(crate) const GAVE_AWAY: Duration = Duration::from_micros(3);

/// The shortest time between two moves of one rank, so that a peer's stale word on where
/// it was cannot keep a rank moving.
const BETWEEN_MOVES: Duration = Duration::from_millis(100);

/// When this rank last moved to another core.
#[derive(Debug, Default)]
pub(crate) struct Moves {
    last: Mutex<Option<Instant>>,
}

impl ShmTransport {
    /// Called after a yield that gave this rank's core away, where ranks have cores of their
    /// own: says where this rank is, and moves it if a lower-ranked peer said the same core.
    pub(crate) fn gave_core_away(&self) {
        let cpu = current_core();
        self.segment.doorbell(self.rank).set_cpu(cpu);
        let shared = (0..self.rank).any(|peer| self.segment.doorbell(peer).cpu() == Some(cpu));
        if !shared {
            return;
        }
        let mut last = lock(&self.watch.moves.last);
        if last.is_some_and(|at| at.elapsed() < BETWEEN_MOVES) {
            return;
        }
        *last = Some(Instant::now());
        if let Some(to) = move_off(cpu) {
            self.segment.doorbell(self.rank).set_cpu(to);
            tracing::debug!(
                rank = self.rank,
                from = cpu,
                to,
                "shared a core with a peer; moved"
            );
        }
    }
}

/// Moves the calling thread off core `cpu` to another it may run on, then lets it run
/// anywhere it could before; returns the core it moved to, or `None` if it may run only on
/// `cpu` (bound there) or could not move.
pub(crate) fn move_off(cpu: usize) -> Option<usize> {
    let elsewhere: Vec<usize> = available_cores()
        .into_iter()
        .filter(|&core| core != cpu)
        .collect();
    if elsewhere.is_empty() {
        return None;
    }
    move_onto(&elsewhere)
        .inspect_err(|error| tracing::debug!("cannot move off core {cpu}: {error}"))
        .ok()
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use rustix::thread::CpuSet;

    use super::*;

    fn same(a: &CpuSet, b: &CpuSet) -> bool {
        (0..CpuSet::MAX_CPU).all(|cpu| a.is_set(cpu) == b.is_set(cpu))
    }

    #[test]
    fn a_thread_moves_off_its_core_and_stays_free_to_run_anywhere() {
        std::thread::spawn(|| {
            let allowed = rustix::thread::sched_getaffinity(None).unwrap();
            let here = current_core();
            if allowed.count() < 2 {
                eprintln!("skipped: this thread may run on one core only");
                return;
            }
            let to = move_off(here).expect("another core to move to");
            assert_ne!(to, here);
            assert!(allowed.is_set(to));
            assert!(same(
                &rustix::thread::sched_getaffinity(None).unwrap(),
                &allowed
            ));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_bound_to_its_core_stays() {
        std::thread::spawn(|| {
            let here = current_core();
            let mut only = CpuSet::new();
            only.set(here);
            rustix::thread::sched_setaffinity(None, &only).unwrap();
            assert_eq!(move_off(here), None);
            assert!(same(
                &rustix::thread::sched_getaffinity(None).unwrap(),
                &only
            ));
        })
        .join()
        .unwrap();
    }
}
