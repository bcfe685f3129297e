//! rmpi-collectives: MPI's collective operations as algorithms over rmpi-core's
//! point-to-point layer, so they run unchanged on every transport, built-in or third-party.
//!
//! Bring the [`Collectives`] trait into scope and call collectives on any
//! [`Comm`], in the two flavours of point-to-point:
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
//! use rmpi_collectives::{Collectives, Sum};
//! let results = rmpi_core::local::run(4, |comm| async move {
//!     let data = (comm.rank() == 0).then(|| vec![1, 2, 3]);
//!     let data: Vec<i32> = comm.bcast(data, 0).await?;
//!     let total = comm.allreduce(comm.rank() as u64, Sum).await?;
//!     let squares = comm.gather((comm.rank() + 1).pow(2), 0).await?;
//!     Ok::<_, rmpi_core::Error>((data, total, squares))
//! });
//! let (data, total, squares) = results.into_iter().next().unwrap()?;
//! assert_eq!((data, total, squares), (vec![1, 2, 3], 6, Some(vec![1, 4, 9, 16])));
//! # Ok::<(), rmpi_core::Error>(())
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
//! complete, or [`Error::CollectiveFailed`] naming the world rank where the failure happened
//! and why. No member waits forever.
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
#![deny(missing_docs)]

pub mod algorithm;
mod bcast;
mod blocks;
mod buffers;
mod fold;
mod neighbors;
mod nonblocking;
mod objects;
pub mod op;
mod operand;
mod reduce;
mod round;
mod schedule;
#[cfg(test)]
mod simulator;
mod typed;

use std::future::Future;

use bytemuck::Pod;
use rmpi_core::waits::Operation;
use rmpi_core::{Comm, Error, Request, Result};
use serde::{de::DeserializeOwned, Serialize};

pub use algorithm::{
    Algorithms, AllgatherAlgorithm, AllreduceAlgorithm, AlltoallAlgorithm, BarrierAlgorithm,
    BcastAlgorithm,
};
pub use buffers::Buffers;
pub use neighbors::NeighborCollectives;
pub use nonblocking::start;
pub use op::{
    BitAnd, BitOr, BitXor, Located, LogicalAnd, LogicalOr, LogicalXor, Max, MaxLoc, Min, MinLoc,
    Op, Prod, Sum, UserOp,
};
pub use typed::TypedCollectives;

use buffers::Layout;
use nonblocking::start_owned;
use round::Round;

/// A communicator with forced algorithms; see [`Collectives::with_algorithms`].
#[derive(Debug, Clone)]
pub struct Tuned {
    comm: Comm,
    algorithms: Algorithms,
}

impl Collectives for Tuned {
    fn comm(&self) -> &Comm {
        &self.comm
    }

    fn algorithms(&self) -> Result<Algorithms> {
        Ok(self.algorithms)
    }
}

impl Collectives for Comm {
    fn comm(&self) -> &Comm {
        self
    }

    fn algorithms(&self) -> Result<Algorithms> {
        Ok(self.config().algorithms)
    }
}

/// MPI's collective operations on a communicator. Every member must call the same
/// collectives in the same order; each call reserves its place in that order when it is
/// called, before its future is first polled.
pub trait Collectives {
    /// The communicator the collectives run on.
    fn comm(&self) -> &Comm;

    /// The algorithms forced for this communicator handle.
    fn algorithms(&self) -> Result<Algorithms>;

    /// The same communicator with forced algorithms, overriding the job's settings.
    fn with_algorithms(&self, algorithms: Algorithms) -> Tuned {
        Tuned {
            comm: self.comm().clone(),
            algorithms,
        }
    }

    // --- objects (mpi4py's lowercase collectives) -----------------------------------------

    /// Waits until every member has called it (`comm.barrier()`).
    #[track_caller]
    fn barrier(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        objects::barrier(
            Round::start(self.comm(), Operation::collective("barrier", None)),
            self.algorithms(),
        )
    }

    /// Sends the root's value to every member (`data = comm.bcast(data, root)`). The root
    /// passes `Some(value)`; the others' argument is ignored.
    #[track_caller]
    fn bcast<T: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        value: Option<T>,
        root: usize,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let round = Round::start_bcast(self.comm(), Operation::collective("bcast", Some(root)));
        objects::bcast(round, self.algorithms(), value, root)
    }

    /// Sends element `i` of the root's vector to member `i` (`comm.scatter(data, root)`). The
    /// root passes `Some` vector with one element per member.
    #[track_caller]
    fn scatter<T: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        values: Option<Vec<T>>,
        root: usize,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        objects::scatter(
            Round::start(self.comm(), Operation::collective("scatter", Some(root))),
            values,
            root,
        )
    }

    /// Collects every member's value at the root, in rank order (`comm.gather(x, root)`):
    /// `Some(values)` at the root, `None` elsewhere.
    #[track_caller]
    fn gather<T: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        value: T,
        root: usize,
    ) -> impl Future<Output = Result<Option<Vec<T>>>> + Send + 'static {
        objects::gather(
            Round::start(self.comm(), Operation::collective("gather", Some(root))),
            value,
            root,
        )
    }

    /// Collects every member's value at every member, in rank order (`comm.allgather(x)`).
    /// Object sizes may differ between members, so the algorithm is the short-message one
    /// unless forced.
    #[track_caller]
    fn allgather<T: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        value: T,
    ) -> impl Future<Output = Result<Vec<T>>> + Send + 'static {
        objects::allgather(
            Round::start(self.comm(), Operation::collective("allgather", None)),
            self.algorithms(),
            value,
        )
    }

    /// Combines every member's value with `op` in rank order; the result at the root
    /// (`comm.reduce(x, op, root)`).
    #[track_caller]
    fn reduce<T, O>(
        &self,
        value: T,
        op: O,
        root: usize,
    ) -> impl Future<Output = Result<Option<T>>> + Send + 'static
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        O: Op<T> + 'static,
    {
        objects::reduce(
            Round::start(self.comm(), Operation::collective("reduce", Some(root))),
            value,
            op,
            root,
        )
    }

    /// Combines every member's value with `op` in rank order; the result everywhere
    /// (`comm.allreduce(x, op)`). Recursive doubling unless forced (object sizes may differ).
    #[track_caller]
    fn allreduce<T, O>(&self, value: T, op: O) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        O: Op<T> + 'static,
    {
        objects::allreduce(
            Round::start(self.comm(), Operation::collective("allreduce", None)),
            self.algorithms(),
            value,
            op,
        )
    }

    /// Inclusive prefix reduction: member `i` gets `x0 ⊕ … ⊕ xi` (`comm.scan(x, op)`).
    #[track_caller]
    fn scan<T, O>(&self, value: T, op: O) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        O: Op<T> + 'static,
    {
        let scanned = objects::scan(
            Round::start(self.comm(), Operation::collective("scan", None)),
            value,
            op,
            false,
        );
        async move {
            let scanned = scanned.await?;
            scanned.ok_or_else(|| Error::InvalidArgument("scan produced nothing".into()))
        }
    }

    /// Exclusive prefix reduction: member `i > 0` gets `x0 ⊕ … ⊕ x(i-1)`, member 0 `None`
    /// (`comm.exscan(x, op)`).
    #[track_caller]
    fn exscan<T, O>(
        &self,
        value: T,
        op: O,
    ) -> impl Future<Output = Result<Option<T>>> + Send + 'static
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        O: Op<T> + 'static,
    {
        objects::scan(
            Round::start(self.comm(), Operation::collective("exscan", None)),
            value,
            op,
            true,
        )
    }

    /// Sends `values[d]` to member `d` and returns what each member sent here, by rank
    /// (`comm.alltoall(values)`). Object sizes may differ, so the algorithm is the
    /// short-message one unless forced.
    #[track_caller]
    fn alltoall<T: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        values: Vec<T>,
    ) -> impl Future<Output = Result<Vec<T>>> + Send + 'static {
        objects::alltoall(
            Round::start(self.comm(), Operation::collective("alltoall", None)),
            self.algorithms(),
            values,
        )
    }

    /// Reduces `values` element-wise across members with `op` and gives element `i` of the
    /// result to member `i` (`comm.reduce_scatter_block`); `values` has one element per member.
    #[track_caller]
    fn reduce_scatter<T, O>(
        &self,
        values: Vec<T>,
        op: O,
    ) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        O: Op<T> + 'static,
    {
        objects::reduce_scatter(
            Round::start(self.comm(), Operation::collective("reduce_scatter", None)),
            values,
            op,
        )
    }

    // --- nonblocking objects: each starts its blocking namesake as a request --------------

    nonblocking::objects! {
        /// Nonblocking [`barrier`](Collectives::barrier) (`comm.Ibarrier()`).
        fn ibarrier[]() -> () = barrier;
        /// Nonblocking [`bcast`](Collectives::bcast) (`comm.ibcast`).
        fn ibcast[T: Serialize + DeserializeOwned + Send + 'static](value: Option<T>, root: usize) -> T = bcast;
        /// Nonblocking [`scatter`](Collectives::scatter).
        fn iscatter[T: Serialize + DeserializeOwned + Send + 'static](values: Option<Vec<T>>, root: usize) -> T = scatter;
        /// Nonblocking [`gather`](Collectives::gather).
        fn igather[T: Serialize + DeserializeOwned + Send + 'static](value: T, root: usize) -> Option<Vec<T>> = gather;
        /// Nonblocking [`allgather`](Collectives::allgather).
        fn iallgather[T: Serialize + DeserializeOwned + Send + 'static](value: T) -> Vec<T> = allgather;
        /// Nonblocking [`alltoall`](Collectives::alltoall).
        fn ialltoall[T: Serialize + DeserializeOwned + Send + 'static](values: Vec<T>) -> Vec<T> = alltoall;
        /// Nonblocking [`reduce`](Collectives::reduce).
        fn ireduce[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O, root: usize) -> Option<T> = reduce;
        /// Nonblocking [`allreduce`](Collectives::allreduce) (`comm.iallreduce`).
        fn iallreduce[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> T = allreduce;
        /// Nonblocking [`scan`](Collectives::scan).
        fn iscan[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> T = scan;
        /// Nonblocking [`exscan`](Collectives::exscan).
        fn iexscan[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> Option<T> = exscan;
        /// Nonblocking [`reduce_scatter`](Collectives::reduce_scatter).
        fn ireduce_scatter[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](values: Vec<T>, op: O) -> T = reduce_scatter;
    }

    // --- typed buffers (mpi4py's uppercase collectives) ---------------------------------------

    /// Broadcasts the root's buffer into every member's (`comm.Bcast(buf, root)`). Every
    /// member's buffer must have the root's length.
    #[track_caller]
    fn bcast_buf<'a, T: Pod + Send + Sync>(
        &self,
        buf: &'a mut [T],
        root: usize,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::bcast(
            Round::start_bcast(self.comm(), Operation::collective("bcast_buf", Some(root))),
            self.algorithms(),
            buf,
            root,
        )
    }

    /// Scatters equal parts of the root's `send` buffer (`recv.len()` elements per member,
    /// in rank order) into every member's `recv` (`comm.Scatter(send, recv, root)`). Only the
    /// root's `send` is read; the others may pass an empty slice.
    #[track_caller]
    fn scatter_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
        root: usize,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::scatter(
            Round::start(
                self.comm(),
                Operation::collective("scatter_buf", Some(root)),
            ),
            send,
            recv,
            root,
        )
    }

    /// Gathers every member's `send` buffer into the root's `recv`, in rank order
    /// (`comm.Gather(send, recv, root)`). The root's `recv` holds `size × send.len()`
    /// elements; the others' is not touched.
    #[track_caller]
    fn gather_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
        root: usize,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::gather(
            Round::start(self.comm(), Operation::collective("gather_buf", Some(root))),
            send,
            recv,
            root,
        )
    }

    /// Gathers every member's `send` buffer into every member's `recv`, in rank order
    /// (`comm.Allgather(send, recv)`); `recv` holds `size × send.len()` elements.
    #[track_caller]
    fn allgather_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::allgather(
            Round::start(self.comm(), Operation::collective("allgather_buf", None)),
            self.algorithms(),
            send,
            recv,
        )
    }

    /// Reduces every member's `send` element-wise with `op` into the root's `recv`
    /// (`comm.Reduce(send, recv, op, root)`); the others' `recv` is not touched.
    #[track_caller]
    fn reduce_buf<'a, T: Pod + Send + Sync, O: Op<T> + 'static>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
        op: O,
        root: usize,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::reduce(
            Round::start(self.comm(), Operation::collective("reduce_buf", Some(root))),
            send,
            recv,
            op,
            root,
        )
    }

    /// Reduces every member's `send` element-wise with `op` into every member's `recv`
    /// (`comm.Allreduce(send, recv, op)`).
    #[track_caller]
    fn allreduce_buf<'a, T: Pod + Send + Sync, O: Op<T> + 'static>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
        op: O,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::allreduce(
            Round::start(self.comm(), Operation::collective("allreduce_buf", None)),
            self.algorithms(),
            send,
            recv,
            op,
        )
    }

    /// Inclusive element-wise prefix reduction into `recv` (`comm.Scan(send, recv, op)`).
    #[track_caller]
    fn scan_buf<'a, T: Pod + Send + Sync, O: Op<T> + 'static>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
        op: O,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::prefix(
            Round::start(self.comm(), Operation::collective("scan_buf", None)),
            send,
            recv,
            op,
            false,
        )
    }

    /// Exclusive element-wise prefix reduction into `recv` (`comm.Exscan(send, recv, op)`);
    /// member 0's `recv` is not touched.
    #[track_caller]
    fn exscan_buf<'a, T: Pod + Send + Sync, O: Op<T> + 'static>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
        op: O,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::prefix(
            Round::start(self.comm(), Operation::collective("exscan_buf", None)),
            send,
            recv,
            op,
            true,
        )
    }

    /// Sends part `d` of `send` to member `d` and receives part `s` of `recv` from member
    /// `s` (`comm.Alltoall(send, recv)`); both hold `size` equal parts.
    #[track_caller]
    fn alltoall_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::alltoall(
            Round::start(self.comm(), Operation::collective("alltoall_buf", None)),
            self.algorithms(),
            send,
            recv,
        )
    }

    /// Like [`alltoall_buf`](Collectives::alltoall_buf) with a count and a displacement
    /// (in elements) per member on each side (`comm.Alltoallv`).
    #[allow(clippy::too_many_arguments)]
    #[track_caller]
    fn alltoallv_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        send_counts: &'a [usize],
        send_displs: &'a [usize],
        recv: &'a mut [T],
        recv_counts: &'a [usize],
        recv_displs: &'a [usize],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let send_layout = Layout::of(send_counts, send_displs);
        let recv_layout = Layout::of(recv_counts, recv_displs);
        let (round, algorithms) = (
            Round::start(self.comm(), Operation::collective("alltoallv_buf", None)),
            self.algorithms(),
        );
        buffers::alltoallv(round, algorithms, send, send_layout, recv, recv_layout)
    }

    /// Scatters `counts[i]` elements at `displs[i]` of the root's `send` to member `i`'s
    /// `recv`, which holds exactly its count (`comm.Scatterv`).
    #[track_caller]
    fn scatterv_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        counts: &'a [usize],
        displs: &'a [usize],
        recv: &'a mut [T],
        root: usize,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let layout = Layout::of(counts, displs);
        buffers::scatterv(
            Round::start(
                self.comm(),
                Operation::collective("scatterv_buf", Some(root)),
            ),
            send,
            layout,
            recv,
            root,
        )
    }

    /// Gathers each member's `send` into the root's `recv` at `displs[i]`, where member `i`
    /// sends `counts[i]` elements (`comm.Gatherv`). Counts and displacements are read at the
    /// root only.
    #[track_caller]
    fn gatherv_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
        counts: &'a [usize],
        displs: &'a [usize],
        root: usize,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let layout = Layout::of(counts, displs);
        buffers::gatherv(
            Round::start(
                self.comm(),
                Operation::collective("gatherv_buf", Some(root)),
            ),
            send,
            recv,
            layout,
            root,
        )
    }

    /// Gathers each member's `send` (member `i` sends `counts[i]` elements) into every
    /// member's `recv` at `displs[i]` (`comm.Allgatherv`).
    #[track_caller]
    fn allgatherv_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
        counts: &'a [usize],
        displs: &'a [usize],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let layout = Layout::of(counts, displs);
        let (round, algorithms) = (
            Round::start(self.comm(), Operation::collective("allgatherv_buf", None)),
            self.algorithms(),
        );
        buffers::allgatherv(round, algorithms, send, recv, layout)
    }

    /// Reduces `send` (`size` equal parts) element-wise across members with `op` and leaves
    /// part `i` of the result in member `i`'s `recv` (`comm.Reduce_scatter_block`).
    #[track_caller]
    fn reduce_scatter_buf<'a, T: Pod + Send + Sync, O: Op<T> + 'static>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
        op: O,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        buffers::reduce_scatter(
            Round::start(
                self.comm(),
                Operation::collective("reduce_scatter_buf", None),
            ),
            send,
            recv,
            op,
        )
    }

    // --- nonblocking typed buffers --------------------------------------------------------------
    //
    // These own their buffers, so the collective can run as a task of its own (see [`start`])
    // while the caller goes on; the request hands the buffers back when it completes.

    /// Nonblocking [`bcast_buf`](Collectives::bcast_buf) (`comm.Ibcast`); yields the buffer.
    #[track_caller]
    fn ibcast_buf<T: Pod + Send + Sync>(
        &self,
        buf: Vec<T>,
        root: usize,
    ) -> Request<'static, Vec<T>> {
        let (round, algorithms) = (
            Round::start_bcast(self.comm(), Operation::collective("ibcast_buf", Some(root))),
            self.algorithms(),
        );
        start(async move {
            let mut buf = buf;
            buffers::bcast(round, algorithms, &mut buf, root).await?;
            Ok(buf)
        })
    }

    nonblocking::buffers! {
        /// Nonblocking [`scatter_buf`](Collectives::scatter_buf) (`comm.Iscatter`).
        fn iscatter_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, root: usize)
            = start |round, _, send, recv| buffers::scatter(round, send, recv, root);
        /// Nonblocking [`gather_buf`](Collectives::gather_buf) (`comm.Igather`).
        fn igather_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, root: usize)
            = start |round, _, send, recv| buffers::gather(round, send, recv, root);
        /// Nonblocking [`allgather_buf`](Collectives::allgather_buf) (`comm.Iallgather`).
        fn iallgather_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>)
            = start |round, algorithms, send, recv| buffers::allgather(round, algorithms, send, recv);
        /// Nonblocking [`alltoall_buf`](Collectives::alltoall_buf) (`comm.Ialltoall`).
        fn ialltoall_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>)
            = start |round, algorithms, send, recv| buffers::alltoall(round, algorithms, send, recv);
        /// Nonblocking [`reduce_buf`](Collectives::reduce_buf) (`comm.Ireduce`).
        fn ireduce_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O, root: usize)
            = start |round, _, send, recv| buffers::reduce(round, send, recv, op, root);
        /// Nonblocking [`allreduce_buf`](Collectives::allreduce_buf) (`comm.Iallreduce`).
        fn iallreduce_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O)
            = start |round, algorithms, send, recv| buffers::allreduce(round, algorithms, send, recv, op);
        /// Nonblocking [`scan_buf`](Collectives::scan_buf) (`comm.Iscan`).
        fn iscan_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O)
            = start |round, _, send, recv| buffers::prefix(round, send, recv, op, false);
        /// Nonblocking [`exscan_buf`](Collectives::exscan_buf) (`comm.Iexscan`).
        fn iexscan_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O)
            = start |round, _, send, recv| buffers::prefix(round, send, recv, op, true);
        /// Nonblocking [`reduce_scatter_buf`](Collectives::reduce_scatter_buf)
        /// (`comm.Ireduce_scatter_block`).
        fn ireduce_scatter_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O)
            = start |round, _, send, recv| buffers::reduce_scatter(round, send, recv, op);
        /// Nonblocking [`scatterv_buf`](Collectives::scatterv_buf) (`comm.Iscatterv`).
        fn iscatterv_buf[T: Pod + Send + Sync](send: Vec<T>, counts: Vec<usize>, displs: Vec<usize>, recv: Vec<T>, root: usize)
            = start |round, _, send, recv| async move {
                buffers::scatterv(round, send, Layout::of(&counts, &displs), recv, root).await
            };
        /// Nonblocking [`gatherv_buf`](Collectives::gatherv_buf) (`comm.Igatherv`).
        fn igatherv_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, counts: Vec<usize>, displs: Vec<usize>, root: usize)
            = start |round, _, send, recv| async move {
                buffers::gatherv(round, send, recv, Layout::of(&counts, &displs), root).await
            };
        /// Nonblocking [`allgatherv_buf`](Collectives::allgatherv_buf) (`comm.Iallgatherv`).
        fn iallgatherv_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, counts: Vec<usize>, displs: Vec<usize>)
            = start |round, algorithms, send, recv| async move {
                buffers::allgatherv(round, algorithms, send, recv, Layout::of(&counts, &displs)).await
            };
    }

    /// Nonblocking [`alltoallv_buf`](Collectives::alltoallv_buf) (`comm.Ialltoallv`); each
    /// layout is `(counts, displacements)`.
    #[track_caller]
    fn ialltoallv_buf<T: Pod + Send + Sync>(
        &self,
        send: Vec<T>,
        send_layout: (Vec<usize>, Vec<usize>),
        recv: Vec<T>,
        recv_layout: (Vec<usize>, Vec<usize>),
    ) -> Request<'static, Buffers<T>> {
        let (round, algorithms) = (
            Round::start(self.comm(), Operation::collective("ialltoallv_buf", None)),
            self.algorithms(),
        );
        start_owned(send, recv, move |send, recv| {
            Box::pin(async move {
                let send_layout = Layout::of(&send_layout.0, &send_layout.1);
                let recv_layout = Layout::of(&recv_layout.0, &recv_layout.1);
                buffers::alltoallv(round, algorithms, send, send_layout, recv, recv_layout).await
            })
        })
    }
}
