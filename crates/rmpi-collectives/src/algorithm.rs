//! Which algorithm each collective uses, and how to force one.
//!
//! By default the choice follows MPICH's defaults, by communicator size and message size. It
//! can be forced for the whole process with environment variables (`RMPI_BARRIER_ALGORITHM`,
//! `RMPI_BCAST_ALGORITHM`, `RMPI_ALLGATHER_ALGORITHM`, `RMPI_ALLREDUCE_ALGORITHM`,
//! `RMPI_ALLTOALL_ALGORITHM`; values are the snake_case variant names, e.g.
//! `RMPI_BCAST_ALGORITHM=binomial`) or per call site with
//! [`Collectives::with_algorithms`](crate::Collectives::with_algorithms), so algorithms can be
//! benchmarked side by side. Where the root's choice matters (bcast), the root decides and
//! tells the others, so members with different settings still agree.

use std::sync::OnceLock;

use rmpi_core::host::{cores, ranks_per_core};
use rmpi_core::{Error, Result};

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
/// steps beat Rabenseifner's 2·log2(n) there (4 ranks on 2 cores, medians of 3 runs: 256 KiB
/// 99 us against 131, 1 MiB 355 against 370; 8 ranks: 256 KiB 284 against 307, 1 MiB 1,117
/// against 1,336), but not below (128 KiB: 74 against 64 on 4 ranks, 219 against 144 on 8).
const SEGMENT_OWNERS_FROM: usize = 256 * 1024;

macro_rules! algorithm_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every algorithm of this collective.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in environment variables.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

algorithm_enum! {
    /// Barrier algorithms.
    BarrierAlgorithm {
        /// Dissemination: in round k every member signals member + 2^k and waits for member
        /// - 2^k, ceil(log2 n) rounds. Members with cores of their own.
        Dissemination = "dissemination",
        /// Every member signals rank 0 and waits for its word that all have: two steps
        /// whatever n, where dissemination's every round waits for a turn on a shared
        /// core. More than two ranks per core.
        Flat = "flat",
    }
}

algorithm_enum! {
    /// Broadcast algorithms.
    BcastAlgorithm {
        /// Binomial tree: log2(n) rounds of whole-message sends. Short messages, few ranks.
        Binomial = "binomial",
        /// Binomial scatter of n pieces, then a ring allgather of the pieces (van de Geijn):
        /// about twice the message in total per rank, whatever n. Long messages.
        ScatterAllgather = "scatter_allgather",
        /// The root sends the data to every member itself: as many copies as the tree, none
        /// forwarded. On ranks that share cores, every forward waits for its rank's turn on
        /// a core. Any size, on more ranks than cores.
        Flat = "flat",
    }
}

algorithm_enum! {
    /// Allgather algorithms.
    AllgatherAlgorithm {
        /// Recursive doubling: log2(n) exchanges of doubling size (non-powers of two fold the
        /// extra ranks in first).
        RecursiveDoubling = "recursive_doubling",
        /// Bruck's algorithm: ceil(log2 n) rounds for any n. Short messages.
        Bruck = "bruck",
        /// Ring: n-1 rounds, each moving one block to the right neighbour. Long messages.
        Ring = "ring",
    }
}

algorithm_enum! {
    /// Allreduce algorithms.
    AllreduceAlgorithm {
        /// Recursive doubling: log2(n) exchanges of the whole vector. Short messages, and any
        /// non-commutative operation.
        RecursiveDoubling = "recursive_doubling",
        /// Binomial reduce to rank 0, then binomial broadcast.
        ReduceBcast = "reduce_bcast",
        /// Rabenseifner's: a reduce-scatter by recursive halving, then an allgather by
        /// recursive doubling, so each rank moves about twice the vector whatever n. Long
        /// typed buffers. Objects cannot be split, so for them it means `reduce_bcast`.
        Rabenseifner = "rabenseifner",
        /// Each rank reduces one segment, read from every other rank's input, then hands it
        /// to all: about twice the vector per rank as in `rabenseifner`, in two steps
        /// whatever n. Long typed buffers on more ranks than cores. Objects cannot be split,
        /// so for them it means `reduce_bcast`.
        SegmentOwners = "segment_owners",
    }
}

algorithm_enum! {
    /// All-to-all algorithms.
    AlltoallAlgorithm {
        /// Bruck's algorithm: ceil(log2 n) rounds, each forwarding about half the blocks
        /// (with their lengths) to rank + 2^k. Short blocks on many ranks.
        Bruck = "bruck",
        /// Every block sent at once, then every block received: the network overlaps them.
        /// Short and medium blocks.
        Scattered = "scattered",
        /// n-1 rounds, each exchanging with one partner (rank ± k): bounded traffic in flight.
        /// Long blocks.
        Pairwise = "pairwise",
    }
}

/// Forced algorithms; `None` leaves the choice to message and communicator size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Algorithms {
    /// Barrier.
    pub barrier: Option<BarrierAlgorithm>,
    /// Broadcast.
    pub bcast: Option<BcastAlgorithm>,
    /// Allgather.
    pub allgather: Option<AllgatherAlgorithm>,
    /// Allreduce.
    pub allreduce: Option<AllreduceAlgorithm>,
    /// All-to-all.
    pub alltoall: Option<AlltoallAlgorithm>,
}

impl Algorithms {
    /// The choices forced by `RMPI_*_ALGORITHM` environment variables, read once per process.
    /// An unknown value is an error naming the variable and the accepted values.
    pub fn from_env() -> Result<Algorithms> {
        static FROM_ENV: OnceLock<Result<Algorithms, String>> = OnceLock::new();
        FROM_ENV
            .get_or_init(|| {
                Ok(Algorithms {
                    barrier: env_choice(
                        "RMPI_BARRIER_ALGORITHM",
                        BarrierAlgorithm::ALL,
                        BarrierAlgorithm::parse,
                        BarrierAlgorithm::name,
                    )?,
                    bcast: env_choice(
                        "RMPI_BCAST_ALGORITHM",
                        BcastAlgorithm::ALL,
                        BcastAlgorithm::parse,
                        BcastAlgorithm::name,
                    )?,
                    allgather: env_choice(
                        "RMPI_ALLGATHER_ALGORITHM",
                        AllgatherAlgorithm::ALL,
                        AllgatherAlgorithm::parse,
                        AllgatherAlgorithm::name,
                    )?,
                    allreduce: env_choice(
                        "RMPI_ALLREDUCE_ALGORITHM",
                        AllreduceAlgorithm::ALL,
                        AllreduceAlgorithm::parse,
                        AllreduceAlgorithm::name,
                    )?,
                    alltoall: env_choice(
                        "RMPI_ALLTOALL_ALGORITHM",
                        AlltoallAlgorithm::ALL,
                        AlltoallAlgorithm::parse,
                        AlltoallAlgorithm::name,
                    )?,
                })
            })
            .clone()
            .map_err(Error::InvalidArgument)
    }

    /// Dissemination (MPICH's), except where the job has more than two ranks per core on
    /// some host ([`crowding`]): then flat. On 2 cores, medians of 6 runs: 8 ranks 13.3 us
    /// against 20.5, 16 ranks 37.8 against 66.2, 5 ranks 9.7 against 14.3; but 4 ranks 5.6
    /// against 5.1 and 2 ranks 0.61 against 0.40.
    pub(crate) fn barrier(&self, ranks: usize) -> BarrierAlgorithm {
        self.barrier_at(crowding(ranks))
    }

    fn barrier_at(&self, crowding: usize) -> BarrierAlgorithm {
        self.barrier.unwrap_or(if crowding > 2 {
            BarrierAlgorithm::Flat
        } else {
            BarrierAlgorithm::Dissemination
        })
    }

    /// MPICH's choice, except where ranks share cores ([`crowding`]): then flat. Each hop
    /// of a tree waits for its rank's turn on a core before it forwards, and scatter and
    /// allgather send many more messages, each waiting for a context switch (at 8 ranks on
    /// 2 cores, 3-6x slower from 16 KiB to 1 MiB than the binomial tree). Flat took 485-700
    /// us at 1 MiB against 740-820 down the tree, and 6-14 us at 8 bytes against 10-30.
    pub(crate) fn bcast(&self, ranks: usize, bytes: usize) -> BcastAlgorithm {
        self.bcast_at(crowding(ranks), ranks, bytes)
    }

    fn bcast_at(&self, crowding: usize, ranks: usize, bytes: usize) -> BcastAlgorithm {
        self.bcast.unwrap_or(if crowding > 1 {
            BcastAlgorithm::Flat
        } else if bytes < BCAST_SHORT || ranks < BCAST_MIN_PROCS {
            BcastAlgorithm::Binomial
        } else {
            BcastAlgorithm::ScatterAllgather
        })
    }

    pub(crate) fn allgather(&self, ranks: usize, total_bytes: usize) -> AllgatherAlgorithm {
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

    pub(crate) fn alltoall(&self, ranks: usize, block_bytes: usize) -> AlltoallAlgorithm {
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
    pub(crate) fn allreduce(&self, ranks: usize, bytes: usize) -> AllreduceAlgorithm {
        self.allreduce_at(crowding(ranks), bytes)
    }

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

fn env_choice<A: Copy>(
    variable: &str,
    all: &[A],
    parse: fn(&str) -> Option<A>,
    name: fn(A) -> &'static str,
) -> Result<Option<A>, String> {
    match std::env::var(variable) {
        Err(_) => Ok(None),
        Ok(text) if text.is_empty() || text == "auto" => Ok(None),
        Ok(text) => parse(&text).map(Some).ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|a| name(*a)).collect();
            format!(
                "{variable}={text}: expected auto or one of {}",
                names.join(", ")
            )
        }),
    }
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
