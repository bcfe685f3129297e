//! rmpi-collectives: MPI's collective operations as algorithms over rmpi-core's
//! point-to-point layer, so they run unchanged on every transport, built-in or third-party.
//!
//! Bring the [`Collectives`] (objects) and [`BufferCollectives`] (typed buffers) traits into
//! scope, as `use rmpi::prelude::*` does, and call collectives on any
//! [`Comm`](rmpi_core::Comm), in the two flavours of point-to-point:
//!
//! | mpi4py                               | rmpi                                             |
//! |--------------------------------------|--------------------------------------------------|
//! | `data = comm.bcast(data, root=0)`    | `comm.bcast(data, 0).await?` (`Option<T>` in)     |
//! | `comm.scatter(data, root=0)`         | `comm.scatter(data, 0).await?`                   |
//! | `comm.gather(x, root=0)`             | `comm.gather(x, 0).await?` (`Some(vec)` at root) |
//! | `comm.allreduce(x, op=MPI.SUM)`      | `comm.allreduce(x, Sum).await?`                  |
//! | `comm.Bcast(array, root=0)`          | `comm.bcast_buf(&mut array, 0).await?`           |
//! | `comm.Allreduce(a, b, op=MPI.MAX)`   | `comm.allreduce_buf(&a, &mut b, Max).await?`     |
//! | `comm.ibcast(data)`                  | `comm.ibcast(data, 0)` returns a `Request`        |
//!
//! ```
//! use rmpi::prelude::*;
//! let results = rmpi::local::run(4, |comm| async move {
//!     let data = (comm.rank() == 0).then(|| vec![1, 2, 3]);
//!     let data: Vec<i32> = comm.bcast(data, 0).await?;
//!     let total = comm.allreduce(comm.rank() as u64, Sum).await?;
//!     let squares = comm.gather((comm.rank() + 1).pow(2), 0).await?;
//!     Ok::<_, rmpi::Error>((data, total, squares))
//! });
//! let (data, total, squares) = results.into_iter().next().unwrap()?;
//! assert_eq!((data, total, squares), (vec![1, 2, 3], 6, Some(vec![1, 4, 9, 16])));
//! # Ok::<(), rmpi::Error>(())
//! ```
//!
//! # Algorithms
//!
//! Each collective has the algorithms the field uses, chosen by communicator and message size
//! from MPICH's default thresholds, and can be forced: see [`algorithm`]. Inside the crate,
//! the algorithms that move blocks and those that reduce whole values are data (a schedule
//! of sends, receives and combinations per member), run by one executor each and checked for
//! every communicator size from 1 to 64 and every root without a transport.
//!
//! # Errors across ranks
//!
//! A collective that fails at one member does not leave the others waiting. Arguments every
//! member checks alike (a root outside the communicator) fail at every member at once. A
//! failure only one member can see (the root's data of the wrong length, a non-root's buffer
//! of the wrong length, a lost peer, bytes that do not decode) makes that member send an abort
//! to every other member; each member then returns either its result, if its part was already
//! complete, or [`Error::CollectiveFailed`] naming the world rank where the failure
//! happened and why. No member waits forever.
//!
//! # Nonblocking collectives
//!
//! The `i`-prefixed methods (`ibcast`, `iallreduce`, ...) and [`start`] return a
//! [`Request`] at once; on a tokio runtime the collective runs as a task of its own, so it
//! progresses while the caller does other work, including other communication. Every
//! collective takes its place in the collective order when it is called, so nonblocking and
//! blocking collectives can be mixed freely as long as every member calls them in the same
//! order. The typed-buffer ones (`ibcast_buf`, `iallreduce_buf`, ...) own their buffers
//! while they run and hand them back as [`Buffers`] (or the one buffer, for `ibcast_buf`).
//!
//! # V-variants
//!
//! Object collectives already take one value of any size per member, which is what MPI's
//! v-variants exist for; `scatterv`, `gatherv`, `allgatherv` and `alltoallv` are therefore
//! typed-buffer collectives (`scatterv_buf`, ...) with counts and displacements in elements.
//!
//! [`Error::CollectiveFailed`]: rmpi_core::Error::CollectiveFailed
//! [`Request`]: rmpi_core::Request
#![deny(missing_docs)]

pub mod algorithm;
mod bcast;
mod blocks;
mod buffer_collectives;
mod buffers;
mod collectives;
mod fold;
mod neighbors;
mod nonblocking;
mod objects;
pub mod op;
mod operand;
mod reduce;
mod round;
mod schedule;
mod scratch;
#[cfg(test)]
mod simulator;
mod typed;

pub use algorithm::{
    Algorithms, AllgatherAlgorithm, AllreduceAlgorithm, AlltoallAlgorithm, BarrierAlgorithm,
    BcastAlgorithm,
};
pub use buffer_collectives::BufferCollectives;
pub use buffers::Buffers;
pub use collectives::{Collectives, Tuned};
pub use neighbors::NeighborCollectives;
pub use nonblocking::start;
pub use op::{
    BitAnd, BitOr, BitXor, Located, LogicalAnd, LogicalOr, LogicalXor, Max, MaxLoc, Min, MinLoc,
    Op, Prod, Sum, UserOp,
};
pub use typed::TypedCollectives;
