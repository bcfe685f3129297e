//! The [`BufferCollectives`] trait: MPI's collectives on typed buffers of plain data
//! (mpi4py's uppercase `Bcast`, `Gather`, ..., and the v-variants), blocking and nonblocking.

use std::future::Future;

use bytemuck::Pod;
use rmpi_core::waits::Operation;
use rmpi_core::{Request, Result};

use crate::buffers::{self, Buffers, Layout};
use crate::nonblocking::{self, start, start_owned};
use crate::op::Op;
use crate::round::Round;
use crate::Collectives;

/// MPI's collectives on typed buffers (`comm.Bcast`, `comm.Allreduce`, ...): slices of
/// [`Pod`] elements moved without serialization. Implemented for every [`Collectives`]
/// handle; `use rmpi::prelude::*` brings both traits into scope.
pub trait BufferCollectives: Collectives {
    /// Broadcasts the root's buffer into every member's (`comm.Bcast(buf, root)`). Every
    /// member's buffer must have the root's length.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let mut grid = [0.0f64; 3];
    /// if comm.rank() == 0 {
    ///     grid = [1.0, 2.0, 3.0];
    /// }
    /// comm.bcast_buf(&mut grid, 0).await?;
    /// assert_eq!(grid, [1.0, 2.0, 3.0]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let send: Vec<u32> = if comm.rank() == 0 { (0..8).collect() } else { Vec::new() };
    /// let mut mine = [0u32; 2];
    /// comm.scatter_buf(&send, &mut mine, 0).await?;
    /// let first = 2 * comm.rank() as u32;
    /// assert_eq!(mine, [first, first + 1]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let send = [comm.rank() as u32; 2];
    /// let mut all = vec![0u32; if comm.rank() == 0 { 8 } else { 0 }];
    /// comm.gather_buf(&send, &mut all, 0).await?;
    /// if comm.rank() == 0 {
    ///     assert_eq!(all, [0, 0, 1, 1, 2, 2, 3, 3]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let mut all = [0u16; 4];
    /// comm.allgather_buf(&[comm.rank() as u16], &mut all).await?;
    /// assert_eq!(all, [0, 1, 2, 3]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let mut sums = [0i64; 2];
    /// comm.reduce_buf(&[1, comm.rank() as i64], &mut sums, Sum, 0).await?;
    /// if comm.rank() == 0 {
    ///     assert_eq!(sums, [4, 6]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let mine = [comm.rank() as f64, 10.0 - comm.rank() as f64];
    /// let mut largest = [0.0f64; 2];
    /// comm.allreduce_buf(&mine, &mut largest, Max).await?;
    /// assert_eq!(largest, [3.0, 10.0]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let mut counted = [0u32];
    /// comm.scan_buf(&[1], &mut counted, Sum).await?;
    /// assert_eq!(counted, [comm.rank() as u32 + 1]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let mut before = [0u32];
    /// comm.exscan_buf(&[1], &mut before, Sum).await?;
    /// assert_eq!(before, [comm.rank() as u32]); // member 0's is left as it was
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let rank = comm.rank() as u32;
    /// let send: Vec<u32> = (0..4).map(|to| 10 * rank + to).collect();
    /// let mut recv = [0u32; 4];
    /// comm.alltoall_buf(&send, &mut recv).await?;
    /// assert_eq!(recv, [rank, 10 + rank, 20 + rank, 30 + rank]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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

    /// Like [`alltoall_buf`](BufferCollectives::alltoall_buf) with a count and a displacement
    /// (in elements) per member on each side (`comm.Alltoallv`).
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let rank = comm.rank();
    /// // Member d gets d copies of this member's rank.
    /// let send: Vec<usize> = (0..4).flat_map(|d| vec![rank; d]).collect();
    /// let (send_counts, send_displs) = ([0, 1, 2, 3], [0, 0, 1, 3]);
    /// let (recv_counts, recv_displs) = ([rank; 4], [0, rank, 2 * rank, 3 * rank]);
    /// let mut recv = vec![0usize; 4 * rank];
    /// comm.alltoallv_buf(&send, &send_counts, &send_displs, &mut recv, &recv_counts, &recv_displs)
    ///     .await?;
    /// let expected: Vec<usize> = (0..4).flat_map(|from| vec![from; rank]).collect();
    /// assert_eq!(recv, expected);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let (counts, displs) = ([1, 2, 3, 4], [0, 1, 3, 6]);
    /// let send: Vec<u8> = if comm.rank() == 0 { (0..10).collect() } else { Vec::new() };
    /// let mut mine = vec![0u8; counts[comm.rank()]];
    /// comm.scatterv_buf(&send, &counts, &displs, &mut mine, 0).await?;
    /// let start = displs[comm.rank()] as u8;
    /// assert_eq!(mine, (start..start + mine.len() as u8).collect::<Vec<_>>());
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let (counts, displs) = ([1, 2, 3, 4], [0, 1, 3, 6]);
    /// let send = vec![comm.rank() as u8; counts[comm.rank()]];
    /// let mut all = vec![0u8; 10];
    /// comm.gatherv_buf(&send, &mut all, &counts, &displs, 0).await?;
    /// if comm.rank() == 0 {
    ///     assert_eq!(all, [0, 1, 1, 2, 2, 2, 3, 3, 3, 3]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let (counts, displs) = ([1, 2, 3, 4], [0, 1, 3, 6]);
    /// let send = vec![comm.rank() as u8; counts[comm.rank()]];
    /// let mut all = vec![0u8; 10];
    /// comm.allgatherv_buf(&send, &mut all, &counts, &displs).await?;
    /// assert_eq!(all, [0, 1, 1, 2, 2, 2, 3, 3, 3, 3]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let mut mine = [0u32; 2];
    /// comm.reduce_scatter_buf(&[1u32; 8], &mut mine, Sum).await?;
    /// assert_eq!(mine, [4, 4]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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

    /// Nonblocking [`bcast_buf`](BufferCollectives::bcast_buf) (`comm.Ibcast`); yields the buffer.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let buf = if comm.rank() == 0 { vec![7u32; 3] } else { vec![0; 3] };
    /// let request = comm.ibcast_buf(buf, 0);
    /// assert_eq!(request.await?, [7, 7, 7]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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
        /// Nonblocking [`scatter_buf`](BufferCollectives::scatter_buf) (`comm.Iscatter`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let send: Vec<u32> = if comm.rank() == 0 { (0..4).collect() } else { Vec::new() };
        /// let Buffers { recv, .. } = comm.iscatter_buf(send, vec![0; 1], 0).await?;
        /// assert_eq!(recv, [comm.rank() as u32]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iscatter_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, root: usize)
            = start |round, _, send, recv| buffers::scatter(round, send, recv, root);
        /// Nonblocking [`gather_buf`](BufferCollectives::gather_buf) (`comm.Igather`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let recv = vec![0u32; if comm.rank() == 0 { 4 } else { 0 }];
        /// let done = comm.igather_buf(vec![comm.rank() as u32], recv, 0).await?;
        /// if comm.rank() == 0 {
        ///     assert_eq!(done.recv, [0, 1, 2, 3]);
        /// }
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn igather_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, root: usize)
            = start |round, _, send, recv| buffers::gather(round, send, recv, root);
        /// Nonblocking [`allgather_buf`](BufferCollectives::allgather_buf) (`comm.Iallgather`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let done = comm.iallgather_buf(vec![comm.rank() as u32], vec![0; 4]).await?;
        /// assert_eq!(done.recv, [0, 1, 2, 3]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iallgather_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>)
            = start |round, algorithms, send, recv| buffers::allgather(round, algorithms, send, recv);
        /// Nonblocking [`alltoall_buf`](BufferCollectives::alltoall_buf) (`comm.Ialltoall`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let done = comm.ialltoall_buf(vec![comm.rank() as u32; 4], vec![0; 4]).await?;
        /// assert_eq!(done.recv, [0, 1, 2, 3]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn ialltoall_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>)
            = start |round, algorithms, send, recv| buffers::alltoall(round, algorithms, send, recv);
        /// Nonblocking [`reduce_buf`](BufferCollectives::reduce_buf) (`comm.Ireduce`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let done = comm.ireduce_buf(vec![1u64], vec![0], Sum, 0).await?;
        /// if comm.rank() == 0 {
        ///     assert_eq!(done.recv, [4]);
        /// }
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn ireduce_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O, root: usize)
            = start |round, _, send, recv| buffers::reduce(round, send, recv, op, root);
        /// Nonblocking [`allreduce_buf`](BufferCollectives::allreduce_buf) (`comm.Iallreduce`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let request = comm.iallreduce_buf(vec![comm.rank() as f64], vec![0.0], Min);
        /// // ... compute while it runs ...
        /// assert_eq!(request.await?.recv, [0.0]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iallreduce_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O)
            = start |round, algorithms, send, recv| buffers::allreduce(round, algorithms, send, recv, op);
        /// Nonblocking [`scan_buf`](BufferCollectives::scan_buf) (`comm.Iscan`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let done = comm.iscan_buf(vec![2u32], vec![0], Sum).await?;
        /// assert_eq!(done.recv, [2 * (comm.rank() as u32 + 1)]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iscan_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O)
            = start |round, _, send, recv| buffers::prefix(round, send, recv, op, false);
        /// Nonblocking [`exscan_buf`](BufferCollectives::exscan_buf) (`comm.Iexscan`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let done = comm.iexscan_buf(vec![2u32], vec![0], Sum).await?;
        /// assert_eq!(done.recv, [2 * comm.rank() as u32]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iexscan_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O)
            = start |round, _, send, recv| buffers::prefix(round, send, recv, op, true);
        /// Nonblocking [`reduce_scatter_buf`](BufferCollectives::reduce_scatter_buf)
        /// (`comm.Ireduce_scatter_block`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let done = comm.ireduce_scatter_buf(vec![1u32; 4], vec![0], Sum).await?;
        /// assert_eq!(done.recv, [4]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn ireduce_scatter_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O)
            = start |round, _, send, recv| buffers::reduce_scatter(round, send, recv, op);
        /// Nonblocking [`scatterv_buf`](BufferCollectives::scatterv_buf) (`comm.Iscatterv`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let send: Vec<u8> = if comm.rank() == 0 { vec![0, 1, 1, 2, 2, 2, 3, 3, 3, 3] } else { Vec::new() };
        /// let recv = vec![0u8; comm.rank() + 1];
        /// let done = comm.iscatterv_buf(send, vec![1, 2, 3, 4], vec![0, 1, 3, 6], recv, 0).await?;
        /// assert_eq!(done.recv, vec![comm.rank() as u8; comm.rank() + 1]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iscatterv_buf[T: Pod + Send + Sync](send: Vec<T>, counts: Vec<usize>, displs: Vec<usize>, recv: Vec<T>, root: usize)
            = start |round, _, send, recv| async move {
                buffers::scatterv(round, send, Layout::of(&counts, &displs), recv, root).await
            };
        /// Nonblocking [`gatherv_buf`](BufferCollectives::gatherv_buf) (`comm.Igatherv`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let send = vec![comm.rank() as u8; comm.rank() + 1];
        /// let done = comm.igatherv_buf(send, vec![0; 10], vec![1, 2, 3, 4], vec![0, 1, 3, 6], 0).await?;
        /// if comm.rank() == 0 {
        ///     assert_eq!(done.recv, [0, 1, 1, 2, 2, 2, 3, 3, 3, 3]);
        /// }
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn igatherv_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, counts: Vec<usize>, displs: Vec<usize>, root: usize)
            = start |round, _, send, recv| async move {
                buffers::gatherv(round, send, recv, Layout::of(&counts, &displs), root).await
            };
        /// Nonblocking [`allgatherv_buf`](BufferCollectives::allgatherv_buf) (`comm.Iallgatherv`).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
        /// let send = vec![comm.rank() as u8; comm.rank() + 1];
        /// let done = comm.iallgatherv_buf(send, vec![0; 10], vec![1, 2, 3, 4], vec![0, 1, 3, 6]).await?;
        /// assert_eq!(done.recv, [0, 1, 1, 2, 2, 2, 3, 3, 3, 3]);
        /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn iallgatherv_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, counts: Vec<usize>, displs: Vec<usize>)
            = start |round, algorithms, send, recv| async move {
                buffers::allgatherv(round, algorithms, send, recv, Layout::of(&counts, &displs)).await
            };
    }

    /// Nonblocking [`alltoallv_buf`](BufferCollectives::alltoallv_buf) (`comm.Ialltoallv`); each
    /// layout is `(counts, displacements)`.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let one_each = (vec![1; 4], vec![0, 1, 2, 3]);
    /// let send = vec![comm.rank() as u32; 4];
    /// let done = comm.ialltoallv_buf(send, one_each.clone(), vec![0; 4], one_each).await?;
    /// assert_eq!(done.recv, [0, 1, 2, 3]);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
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

impl<C: Collectives + ?Sized> BufferCollectives for C {}
