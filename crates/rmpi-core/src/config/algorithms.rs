//! The collective algorithms a job can force (`RMPI_*_ALGORITHM`, or
//! `Collectives::with_algorithms` per call site). Which one runs when none is forced is the
//! collectives crate's choice, by communicator and message size.

macro_rules! algorithm_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every algorithm of this collective.
            ///
            #[doc = concat!("```\nuse rmpi::collectives::", stringify!($name), ";\nassert!(", stringify!($name), "::ALL.len() >= 2);\n```")]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in environment variables.
            ///
            #[doc = concat!("```\nuse rmpi::collectives::", stringify!($name), ";\nlet names: Vec<&str> = ", stringify!($name), "::ALL.iter().map(|a| a.name()).collect();\nassert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));\n```")]
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
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
///
/// ```
/// let config = rmpi::config::Config::from_vars([("RMPI_BCAST_ALGORITHM", "binomial")])?;
/// assert_eq!(config.algorithms.bcast, Some(rmpi::collectives::BcastAlgorithm::Binomial));
/// # Ok::<(), rmpi::Error>(())
/// ```
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
