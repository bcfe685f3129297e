//! The [`Collectives`] trait: MPI's collectives on objects (mpi4py's lowercase `bcast`,
//! `gather`, ...), blocking and nonblocking, as methods on any communicator handle.

use std::future::Future;

use rmpi_core::waits::Operation;
use rmpi_core::{Comm, Error, Request, Result};
use serde::{de::DeserializeOwned, Serialize};

use crate::algorithm::Algorithms;
use crate::nonblocking::{self, start};
use crate::objects;
use crate::op::Op;
use crate::round::Round;

/// MPI's collective operations on a communicator. Every member must call the same
/// collectives in the same order; each call reserves its place in that order when it is
/// called, before its future is first polled.
pub trait Collectives {
    /// The communicator the collectives run on.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let world = Collectives::comm(&comm);
    /// assert_eq!(world.size(), 4);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    fn comm(&self) -> &Comm;

    /// The algorithms forced for this communicator handle.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// // Nothing forced: each collective picks by size, as the job's settings say.
    /// assert_eq!(comm.algorithms()?, rmpi::collectives::Algorithms::default());
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    fn algorithms(&self) -> Result<Algorithms>;

    /// The same communicator with forced algorithms, overriding the job's settings.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// use rmpi::collectives::{Algorithms, BcastAlgorithm};
    /// let forced = Algorithms { bcast: Some(BcastAlgorithm::Binomial), ..Algorithms::default() };
    /// let tuned = comm.with_algorithms(forced);
    /// let word: String = tuned.bcast((comm.rank() == 0).then(|| "hi".to_string()), 0).await?;
    /// assert_eq!(word, "hi");
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    fn with_algorithms(&self, algorithms: Algorithms) -> Tuned {
        Tuned {
            comm: self.comm().clone(),
            algorithms,
        }
    }

    // --- objects (mpi4py's lowercase collectives) -----------------------------------------

    /// Waits until every member has called it (`comm.barrier()`).
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// comm.barrier().await?; // every member has got here
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[track_caller]
    fn barrier(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        objects::barrier(
            Round::start(self.comm(), Operation::collective("barrier", None)),
            self.algorithms(),
        )
    }

    /// Sends the root's value to every member (`data = comm.bcast(data, root)`). The root
    /// passes `Some(value)`; the others' argument is ignored.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let data = (comm.rank() == 0).then(|| vec![1, 2, 3]);
    /// let data: Vec<i32> = comm.bcast(data, 0).await?;
    /// assert_eq!(data, [1, 2, 3]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let parts = (comm.rank() == 0).then(|| vec![10, 11, 12, 13]);
    /// let mine: i32 = comm.scatter(parts, 0).await?;
    /// assert_eq!(mine, 10 + comm.rank() as i32);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let squares = comm.gather(comm.rank() * comm.rank(), 0).await?;
    /// assert_eq!(squares, (comm.rank() == 0).then(|| vec![0, 1, 4, 9]));
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let ranks = comm.allgather(comm.rank()).await?;
    /// assert_eq!(ranks, [0, 1, 2, 3]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let total = comm.reduce(comm.rank(), Sum, 0).await?;
    /// assert_eq!(total, (comm.rank() == 0).then_some(6));
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let largest = comm.allreduce(comm.rank(), Max).await?;
    /// assert_eq!(largest, 3);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let counted = comm.scan(1usize, Sum).await?;
    /// assert_eq!(counted, comm.rank() + 1);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let before = comm.exscan(1usize, Sum).await?;
    /// assert_eq!(before, (comm.rank() > 0).then_some(comm.rank()));
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let rank = comm.rank();
    /// let sent: Vec<(usize, usize)> = (0..4).map(|to| (rank, to)).collect();
    /// let got = comm.alltoall(sent).await?;
    /// assert_eq!(got, (0..4).map(|from| (from, rank)).collect::<Vec<_>>());
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let mine = comm.reduce_scatter(vec![1, 2, 3, 4], Sum).await?;
    /// assert_eq!(mine, 4 * (comm.rank() as i32 + 1));
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let request = comm.ibarrier();
        /// // ... work that does not need the others ...
        /// request.await?;
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn ibarrier[]() -> () = barrier;
        /// Nonblocking [`bcast`](Collectives::bcast) (`comm.ibcast`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let request = comm.ibcast((comm.rank() == 0).then_some(42u8), 0);
        /// assert_eq!(request.await?, 42);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn ibcast[T: Serialize + DeserializeOwned + Send + 'static](value: Option<T>, root: usize) -> T = bcast;
        /// Nonblocking [`scatter`](Collectives::scatter).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let request = comm.iscatter((comm.rank() == 0).then(|| vec!['a', 'b', 'c', 'd']), 0);
        /// assert_eq!(request.await?, ['a', 'b', 'c', 'd'][comm.rank()]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iscatter[T: Serialize + DeserializeOwned + Send + 'static](values: Option<Vec<T>>, root: usize) -> T = scatter;
        /// Nonblocking [`gather`](Collectives::gather).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let all = comm.igather(comm.rank(), 0).await?;
        /// assert_eq!(all, (comm.rank() == 0).then(|| vec![0, 1, 2, 3]));
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn igather[T: Serialize + DeserializeOwned + Send + 'static](value: T, root: usize) -> Option<Vec<T>> = gather;
        /// Nonblocking [`allgather`](Collectives::allgather).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// assert_eq!(comm.iallgather(comm.rank()).await?, [0, 1, 2, 3]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iallgather[T: Serialize + DeserializeOwned + Send + 'static](value: T) -> Vec<T> = allgather;
        /// Nonblocking [`alltoall`](Collectives::alltoall).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let got = comm.ialltoall(vec![comm.rank(); 4]).await?;
        /// assert_eq!(got, [0, 1, 2, 3]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn ialltoall[T: Serialize + DeserializeOwned + Send + 'static](values: Vec<T>) -> Vec<T> = alltoall;
        /// Nonblocking [`reduce`](Collectives::reduce).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let product = comm.ireduce(comm.rank() + 1, Prod, 0).await?;
        /// assert_eq!(product, (comm.rank() == 0).then_some(24));
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn ireduce[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O, root: usize) -> Option<T> = reduce;
        /// Nonblocking [`allreduce`](Collectives::allreduce) (`comm.iallreduce`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let request = comm.iallreduce(comm.rank(), Sum);
        /// assert_eq!(request.await?, 6);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iallreduce[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> T = allreduce;
        /// Nonblocking [`scan`](Collectives::scan).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// assert_eq!(comm.iscan(comm.rank(), Max).await?, comm.rank());
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iscan[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> T = scan;
        /// Nonblocking [`exscan`](Collectives::exscan).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let before = comm.iexscan(2usize, Sum).await?;
        /// assert_eq!(before, (comm.rank() > 0).then_some(2 * comm.rank()));
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iexscan[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> Option<T> = exscan;
        /// Nonblocking [`reduce_scatter`](Collectives::reduce_scatter).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let mine = comm.ireduce_scatter(vec![1u32; 4], Sum).await?;
        /// assert_eq!(mine, 4);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn ireduce_scatter[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](values: Vec<T>, op: O) -> T = reduce_scatter;
    }
}

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
