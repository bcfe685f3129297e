//! Which algorithm each collective uses, and how to force one.
//!
//! By default the choice follows MPICH's defaults, by communicator size and message size. It
//! can be forced for a job by its settings ([`rmpi_core::config`]: `RMPI_BCAST_ALGORITHM=binomial`
//! and the like) or per call site with
//! [`Collectives::with_algorithms`](crate::Collectives::with_algorithms), so algorithms can be
//! benchmarked side by side. Where the root's choice matters (bcast), the root decides and
//! tells the others, so members with different settings still agree.

pub use rmpi_core::config::{
    Algorithms, AllgatherAlgorithm, AllreduceAlgorithm, AlltoallAlgorithm, BarrierAlgorithm,
    BcastAlgorithm,
};
use rmpi_core::host::{cores, ranks_per_core};

/// MPICH's `MPIR_CVAR_BCAST_SHORT_MSG_SIZE`: below it, a binomial tree.
const BCAST_SHORT: usize = 12 * 1024;
/// MPICH's `MPIR_CVAR_BCAST_MIN_PROCS`: fewer ranks always use the binomial tree.
const BCAST_MIN_PROCS: usize = 8;
/// MPICH's `MPIR_CVAR_ALLGATHER_SHORT_MSG_SIZE` (total bytes gathered).
const ALLGATHER_SHORT: usize = 80 * 1024;
/// MPICH's `MPIR_CVAR_ALLGATHER_LONG_MSG_SIZE` (total bytes gathered).
const ALLGATHER_LONG: usize = 512 * 1024;
/// MPICH's `MPIR_CVAR_ALLTOALL_SHORT_MSG_SIZE` (bytes per block): at most this, and with
/// at least [`ALLTOALL_BRUCK_MIN_PROCS`] ranks, Bruck's algorithm.
const ALLTOALL_SHORT: usize = 256;
/// MPICH's minimum communicator size for Bruck's all-to-all.
const ALLTOALL_BRUCK_MIN_PROCS: usize = 8;
/// MPICH's `MPIR_CVAR_ALLTOALL_MEDIUM_MSG_SIZE` (bytes per block).
const ALLTOALL_MEDIUM: usize = 32 * 1024;
/// MPICH's `MPIR_CVAR_ALLREDUCE_SHORT_MSG_SIZE`.
const ALLREDUCE_SHORT: usize = 2 * 1024;
/// From this many bytes, on more ranks than cores, allreduce by segment owners: its two
/// steps beat Rabenseifner's 2·log2(n) there, but not below.
const SEGMENT_OWNERS_FROM: usize = 256 * 1024;

/// The collectives' choice of algorithm where none is forced, by communicator and message
/// size and by how crowded the job's cores are ([`crowding`]): what each `None` in
/// [`Algorithms`] means.
pub(crate) trait Choose {
    fn barrier_at(&self, crowding: usize) -> BarrierAlgorithm;
    fn bcast_at(&self, crowding: usize, ranks: usize, bytes: usize) -> BcastAlgorithm;
    fn allgather(&self, ranks: usize, total_bytes: usize) -> AllgatherAlgorithm;
    fn alltoall(&self, ranks: usize, block_bytes: usize) -> AlltoallAlgorithm;
    fn allreduce_at(&self, crowding: usize, bytes: usize) -> AllreduceAlgorithm;

    /// Barrier's algorithm for `ranks` members.
    fn barrier(&self, ranks: usize) -> BarrierAlgorithm {
        self.barrier_at(crowding(ranks))
    }

    /// Bcast's algorithm for `ranks` members and `bytes` of data.
    fn bcast(&self, ranks: usize, bytes: usize) -> BcastAlgorithm {
        self.bcast_at(crowding(ranks), ranks, bytes)
    }

    /// Allreduce's algorithm for `ranks` members and `bytes` of data. Members choose
    /// apart; members that were told to choose differently (different
    /// `RMPI_ALLREDUCE_ALGORITHM`s) get an error naming the sizes that did not match.
    fn allreduce(&self, ranks: usize, bytes: usize) -> AllreduceAlgorithm {
        self.allreduce_at(crowding(ranks), bytes)
    }
}

impl Choose for Algorithms {
    /// Dissemination (MPICH's), except where the job has more than two ranks per core on
    /// some host ([`crowding`]): then flat, whose two steps do not wait for a turn on a
    /// shared core in every round as dissemination's do.
    fn barrier_at(&self, crowding: usize) -> BarrierAlgorithm {
        self.barrier.unwrap_or(if crowding > 2 {
            BarrierAlgorithm::Flat
        } else {
            BarrierAlgorithm::Dissemination
        })
    }

    /// MPICH's choice, except where ranks share cores ([`crowding`]): then flat. Each hop
    /// of a tree waits for its rank's turn on a core before it forwards, and scatter and
    /// allgather send many more messages, each waiting for a context switch.
    fn bcast_at(&self, crowding: usize, ranks: usize, bytes: usize) -> BcastAlgorithm {
        self.bcast.unwrap_or(if crowding > 1 {
            BcastAlgorithm::Flat
        } else if bytes < BCAST_SHORT || ranks < BCAST_MIN_PROCS {
            BcastAlgorithm::Binomial
        } else {
            BcastAlgorithm::ScatterAllgather
        })
    }

    fn allgather(&self, ranks: usize, total_bytes: usize) -> AllgatherAlgorithm {
        self.allgather.unwrap_or(if total_bytes >= ALLGATHER_LONG {
            AllgatherAlgorithm::Ring
        } else if ranks.is_power_of_two() {
            AllgatherAlgorithm::RecursiveDoubling
        } else if total_bytes < ALLGATHER_SHORT {
            AllgatherAlgorithm::Bruck
        } else {
            AllgatherAlgorithm::Ring
        })
    }

    fn alltoall(&self, ranks: usize, block_bytes: usize) -> AlltoallAlgorithm {
        self.alltoall.unwrap_or(
            if block_bytes <= ALLTOALL_SHORT && ranks >= ALLTOALL_BRUCK_MIN_PROCS {
                AlltoallAlgorithm::Bruck
            } else if block_bytes < ALLTOALL_MEDIUM {
                AlltoallAlgorithm::Scattered
            } else {
                AlltoallAlgorithm::Pairwise
            },
        )
    }

    /// MPICH's choice, except for long vectors where ranks share cores ([`crowding`]):
    /// segment owners. Members choose apart; members that were told to choose differently
    /// (different `RMPI_ALLREDUCE_ALGORITHM`s) get an error naming the sizes that did not
    /// match.
    fn allreduce_at(&self, crowding: usize, bytes: usize) -> AllreduceAlgorithm {
        self.allreduce.unwrap_or(if bytes <= ALLREDUCE_SHORT {
            AllreduceAlgorithm::RecursiveDoubling
        } else if crowding > 1 && bytes >= SEGMENT_OWNERS_FROM {
            AllreduceAlgorithm::SegmentOwners
        } else {
            AllreduceAlgorithm::Rabenseifner
        })
    }
}

/// How many ranks share a core where the job is most crowded: what its ranks agreed when it
/// started ([`ranks_per_core`]), so that every member of a collective chooses alike even
/// where hosts have different numbers of cores, and a job spread over hosts with a core per
/// rank keeps MPICH's choices. Ranks that are threads of one process never agreed and see
/// the same cores: for them, `ranks` on this host's.
fn crowding(ranks: usize) -> usize {
    ranks_per_core().unwrap_or_else(|| ranks.div_ceil(cores()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_with_a_core_per_rank_keeps_mpichs_choices_however_many_ranks() {
        // 16 ranks over hosts with a core each: more ranks than any one host's cores.
        let chosen = Algorithms::default();
        assert_eq!(chosen.barrier_at(1), BarrierAlgorithm::Dissemination);
        assert_eq!(
            chosen.bcast_at(1, 16, 1 << 20),
            BcastAlgorithm::ScatterAllgather
        );
        assert_eq!(chosen.bcast_at(1, 16, 8), BcastAlgorithm::Binomial);
        assert_eq!(
            chosen.allreduce_at(1, 1 << 20),
            AllreduceAlgorithm::Rabenseifner
        );
    }

    #[test]
    fn ranks_that_share_cores_go_flat_and_split_long_vectors_by_owner() {
        let chosen = Algorithms::default();
        assert_eq!(chosen.barrier_at(2), BarrierAlgorithm::Dissemination);
        assert_eq!(chosen.barrier_at(4), BarrierAlgorithm::Flat);
        assert_eq!(chosen.bcast_at(2, 4, 8), BcastAlgorithm::Flat);
        assert_eq!(chosen.bcast_at(4, 16, 1 << 20), BcastAlgorithm::Flat);
        assert_eq!(
            chosen.allreduce_at(2, 1 << 20),
            AllreduceAlgorithm::SegmentOwners
        );
        assert_eq!(
            chosen.allreduce_at(2, 64 << 10),
            AllreduceAlgorithm::Rabenseifner
        );
        assert_eq!(
            chosen.allreduce_at(4, 8),
            AllreduceAlgorithm::RecursiveDoubling
        );
    }

    #[test]
    fn a_forced_algorithm_wins_whatever_the_crowding() {
        let forced = Algorithms {
            barrier: Some(BarrierAlgorithm::Dissemination),
            bcast: Some(BcastAlgorithm::Binomial),
            allreduce: Some(AllreduceAlgorithm::ReduceBcast),
            ..Algorithms::default()
        };
        assert_eq!(forced.barrier_at(8), BarrierAlgorithm::Dissemination);
        assert_eq!(forced.bcast_at(8, 16, 1 << 20), BcastAlgorithm::Binomial);
        assert_eq!(
            forced.allreduce_at(8, 1 << 20),
            AllreduceAlgorithm::ReduceBcast
        );
    }
}
