//! Blocking collectives: every member of the communicator calls the same ones in the same
//! order, as in MPI. Objects (mpi4py's lowercase calls), typed buffers (the uppercase ones)
//! and their nonblocking forms; algorithms are chosen as for the async API.

use bytemuck::Pod;
use rmpi_collectives::{
    BufferCollectives, Buffers, Collectives, NeighborCollectives, Op, TypedCollectives,
};
use rmpi_core::datatype::Datatype;
use serde::{de::DeserializeOwned, Serialize};

use super::Comm;

impl Comm {
    blocking_calls! {
        /// Waits until every member has called it (`comm.barrier()`).
        ///
        /// ```
        /// let done = rmpi::blocking::local::run(3, |comm| comm.barrier());
        /// assert!(done.iter().all(Result::is_ok));
        /// ```
        fn barrier[]() -> ();

        /// Sends the root's value to every member (`data = comm.bcast(data, root)`): the
        /// root passes `Some(value)`, the others `None`.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(3, |comm| {
        ///     let data = (comm.rank() == 0).then(|| vec![1, 2, 3]);
        ///     comm.bcast(data, 0)
        /// });
        /// assert!(got.into_iter().all(|data| data.unwrap() == [1, 2, 3]));
        /// ```
        fn bcast[T: Serialize + DeserializeOwned + Send + 'static](value: Option<T>, root: usize) -> T;

        /// Sends element `i` of the root's vector to member `i` (`comm.scatter(data, root)`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(3, |comm| {
        ///     let data = (comm.rank() == 0).then(|| vec![10, 11, 12]);
        ///     comm.scatter(data, 0)
        /// });
        /// assert_eq!(got.into_iter().map(Result::unwrap).collect::<Vec<i32>>(), [10, 11, 12]);
        /// ```
        fn scatter[T: Serialize + DeserializeOwned + Send + 'static](values: Option<Vec<T>>, root: usize) -> T;

        /// Collects every member's value at the root in rank order (`comm.gather(x, root)`):
        /// `Some(values)` at the root, `None` elsewhere.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(3, |comm| comm.gather(comm.rank() * 10, 0));
        /// assert_eq!(got[0].as_ref().unwrap(), &Some(vec![0, 10, 20]));
        /// assert_eq!(got[1].as_ref().unwrap(), &None);
        /// ```
        fn gather[T: Serialize + DeserializeOwned + Send + 'static](value: T, root: usize) -> Option<Vec<T>>;

        /// Collects every member's value at every member (`comm.allgather(x)`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.allgather(comm.rank()));
        /// assert!(got.into_iter().all(|all| all.unwrap() == [0, 1]));
        /// ```
        fn allgather[T: Serialize + DeserializeOwned + Send + 'static](value: T) -> Vec<T>;

        /// Combines every member's value with `op` in rank order, the result at the root
        /// (`comm.reduce(x, op=MPI.SUM, root)`).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(3, |comm| comm.reduce(comm.rank() + 1, Sum, 0));
        /// assert_eq!(got[0].as_ref().unwrap(), &Some(6));
        /// ```
        fn reduce[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O, root: usize) -> Option<T>;

        /// Combines every member's value with `op`, the result everywhere
        /// (`comm.allreduce(x, op)`).
        ///
        /// ```
        /// use rmpi::prelude::Max;
        /// let got = rmpi::blocking::local::run(3, |comm| comm.allreduce(comm.rank(), Max));
        /// assert!(got.into_iter().all(|max| max.unwrap() == 2));
        /// ```
        fn allreduce[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> T;

        /// Inclusive prefix reduction: member `i` gets `x0 ⊕ … ⊕ xi` (`comm.scan(x, op)`).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(3, |comm| comm.scan(1, Sum));
        /// assert_eq!(got.into_iter().map(Result::unwrap).collect::<Vec<i32>>(), [1, 2, 3]);
        /// ```
        fn scan[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> T;

        /// Exclusive prefix reduction: member `i > 0` gets `x0 ⊕ … ⊕ x(i-1)`, member 0 `None`
        /// (`comm.exscan(x, op)`).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(3, |comm| comm.exscan(1, Sum));
        /// assert_eq!(got.into_iter().map(Result::unwrap).collect::<Vec<Option<i32>>>(), [None, Some(1), Some(2)]);
        /// ```
        fn exscan[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> Option<T>;

        /// Sends `values[d]` to member `d` and returns what each member sent here
        /// (`comm.alltoall(values)`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     comm.alltoall(vec![comm.rank() * 10, comm.rank() * 10 + 1])
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[1, 11]);
        /// ```
        fn alltoall[T: Serialize + DeserializeOwned + Send + 'static](values: Vec<T>) -> Vec<T>;

        /// Reduces `values` element-wise with `op` and gives element `i` of the result to
        /// member `i` (`comm.reduce_scatter_block`).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.reduce_scatter(vec![1, 2], Sum));
        /// assert_eq!(got.into_iter().map(Result::unwrap).collect::<Vec<i32>>(), [2, 4]);
        /// ```
        fn reduce_scatter[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](values: Vec<T>, op: O) -> T;

        /// Sends the root's buffer into every member's (`comm.Bcast(arr, root)`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(3, |comm| {
        ///     let mut data = if comm.rank() == 0 { [1.0f64, 2.0] } else { [0.0; 2] };
        ///     comm.bcast_buf(&mut data, 0)?;
        ///     Ok(data)
        /// });
        /// assert!(got.into_iter().all(|data| data.unwrap() == [1.0, 2.0]));
        /// ```
        fn bcast_buf[T: Pod + Send + Sync](buf: &mut [T], root: usize) -> ();

        /// Splits the root's `send` into equal blocks, block `i` into member `i`'s `recv`
        /// (`comm.Scatter`); `send` is read at the root only.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mut mine = [0u8; 2];
        ///     comm.scatter_buf(&[1, 2, 3, 4], &mut mine, 0)?;
        ///     Ok(mine)
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[3, 4]);
        /// ```
        fn scatter_buf[T: Pod + Send + Sync](send: &[T], recv: &mut [T], root: usize) -> ();

        /// Gathers every member's `send` into the root's `recv`, in rank order (`comm.Gather`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mut all = [0u8; 2];
        ///     comm.gather_buf(&[comm.rank() as u8], &mut all, 0)?;
        ///     Ok(all)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &[0, 1]);
        /// ```
        fn gather_buf[T: Pod + Send + Sync](send: &[T], recv: &mut [T], root: usize) -> ();

        /// Gathers every member's `send` into every member's `recv` (`comm.Allgather`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mut all = [0u8; 2];
        ///     comm.allgather_buf(&[comm.rank() as u8], &mut all)?;
        ///     Ok(all)
        /// });
        /// assert!(got.into_iter().all(|all| all.unwrap() == [0, 1]));
        /// ```
        fn allgather_buf[T: Pod + Send + Sync](send: &[T], recv: &mut [T]) -> ();

        /// Element-wise reduction of every member's `send` into the root's `recv`
        /// (`comm.Reduce`).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mut total = [0i64; 2];
        ///     comm.reduce_buf(&[1, 2], &mut total, Sum, 0)?;
        ///     Ok(total)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &[2, 4]);
        /// ```
        fn reduce_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: &[T], recv: &mut [T], op: O, root: usize) -> ();

        /// Element-wise reduction of every member's `send` into every member's `recv`
        /// (`comm.Allreduce`).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(3, |comm| {
        ///     let mut total = [0.0f64];
        ///     comm.allreduce_buf(&[1.5], &mut total, Sum)?;
        ///     Ok(total[0])
        /// });
        /// assert!(got.into_iter().all(|total| total.unwrap() == 4.5));
        /// ```
        fn allreduce_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: &[T], recv: &mut [T], op: O) -> ();

        /// Inclusive element-wise prefix reduction (`comm.Scan`).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(3, |comm| {
        ///     let mut prefix = [0u32];
        ///     comm.scan_buf(&[1], &mut prefix, Sum)?;
        ///     Ok(prefix[0])
        /// });
        /// assert_eq!(got.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2, 3]);
        /// ```
        fn scan_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: &[T], recv: &mut [T], op: O) -> ();

        /// Exclusive element-wise prefix reduction (`comm.Exscan`); member 0's `recv` is left
        /// as it was.
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(3, |comm| {
        ///     let mut prefix = [0u32];
        ///     comm.exscan_buf(&[1], &mut prefix, Sum)?;
        ///     Ok(prefix[0])
        /// });
        /// assert_eq!(got.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 1, 2]);
        /// ```
        fn exscan_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: &[T], recv: &mut [T], op: O) -> ();

        /// Block `d` of `send` to member `d`, block `s` of `recv` from member `s`
        /// (`comm.Alltoall`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let r = comm.rank() as u8;
        ///     let mut recv = [0u8; 2];
        ///     comm.alltoall_buf(&[r * 10, r * 10 + 1], &mut recv)?;
        ///     Ok(recv)
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[1, 11]);
        /// ```
        fn alltoall_buf[T: Pod + Send + Sync](send: &[T], recv: &mut [T]) -> ();

        /// [`alltoall_buf`](Comm::alltoall_buf) with a count and displacement per member on
        /// each side (`comm.Alltoallv`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mut recv = [0u8; 2];
        ///     let r = comm.rank() as u8;
        ///     comm.alltoallv_buf(&[r, r], &[1, 1], &[0, 1], &mut recv, &[1, 1], &[0, 1])?;
        ///     Ok(recv)
        /// });
        /// assert!(got.into_iter().all(|recv| recv.unwrap() == [0, 1]));
        /// ```
        fn alltoallv_buf[T: Pod + Send + Sync](send: &[T], send_counts: &[usize], send_displs: &[usize], recv: &mut [T], recv_counts: &[usize], recv_displs: &[usize]) -> ();

        /// [`scatter_buf`](Comm::scatter_buf) with a count and displacement per member
        /// (`comm.Scatterv`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mut recv = vec![0u8; comm.rank() + 1];
        ///     comm.scatterv_buf(&[1, 2, 3], &[1, 2], &[0, 1], &mut recv, 0)?;
        ///     Ok(recv)
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[2, 3]);
        /// ```
        fn scatterv_buf[T: Pod + Send + Sync](send: &[T], counts: &[usize], displs: &[usize], recv: &mut [T], root: usize) -> ();

        /// [`gather_buf`](Comm::gather_buf) with a count and displacement per member
        /// (`comm.Gatherv`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mut all = [0u8; 3];
        ///     let mine = vec![comm.rank() as u8 + 1; comm.rank() + 1];
        ///     comm.gatherv_buf(&mine, &mut all, &[1, 2], &[0, 1], 0)?;
        ///     Ok(all)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &[1, 2, 2]);
        /// ```
        fn gatherv_buf[T: Pod + Send + Sync](send: &[T], recv: &mut [T], counts: &[usize], displs: &[usize], root: usize) -> ();

        /// [`allgather_buf`](Comm::allgather_buf) with a count and displacement per member
        /// (`comm.Allgatherv`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mut all = [0u8; 3];
        ///     let mine = vec![comm.rank() as u8 + 1; comm.rank() + 1];
        ///     comm.allgatherv_buf(&mine, &mut all, &[1, 2], &[0, 1])?;
        ///     Ok(all)
        /// });
        /// assert!(got.into_iter().all(|all| all.unwrap() == [1, 2, 2]));
        /// ```
        fn allgatherv_buf[T: Pod + Send + Sync](send: &[T], recv: &mut [T], counts: &[usize], displs: &[usize]) -> ();

        /// Element-wise reduction whose block `i` lands in member `i`'s `recv`
        /// (`comm.Reduce_scatter_block`).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mut mine = [0u32];
        ///     comm.reduce_scatter_buf(&[1, 2], &mut mine, Sum)?;
        ///     Ok(mine[0])
        /// });
        /// assert_eq!(got.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [2, 4]);
        /// ```
        fn reduce_scatter_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: &[T], recv: &mut [T], op: O) -> ();

        /// Sends `value` to each neighbour on the communicator's Cartesian grid and returns
        /// what each sent, by slot: back then ahead along each dimension, `None` past an edge
        /// (`comm.neighbor_allgather(x)`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(3, |comm| {
        ///     let ring = comm.create_cart(&[3], &[true])?.unwrap();
        ///     ring.neighbor_allgather(ring.rank())
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[Some(0), Some(2)]);
        /// ```
        fn neighbor_allgather[T: Serialize + DeserializeOwned + Send + 'static](value: T) -> Vec<Option<T>>;

        /// Sends `values[slot]` to each slot's neighbour and returns what each sent here
        /// (`comm.neighbor_alltoall(values)`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let line = comm.create_cart(&[2], &[false])?.unwrap();
        ///     line.neighbor_alltoall(vec!["back".to_string(), "ahead".to_string()])
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[Some("ahead".to_string()), None]);
        /// ```
        fn neighbor_alltoall[T: Serialize + DeserializeOwned + Send + 'static](values: Vec<T>) -> Vec<Option<T>>;

        /// Sends `send` to every neighbour and receives each one's into its slot's block of
        /// `recv` (`comm.Neighbor_allgather`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let line = comm.create_cart(&[2], &[false])?.unwrap();
        ///     let mut recv = [0u16; 2];
        ///     line.neighbor_allgather_buf(&[line.rank() as u16 + 1], &mut recv)?;
        ///     Ok(recv)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &[0, 2]);
        /// ```
        fn neighbor_allgather_buf[T: Pod + Send + Sync](send: &[T], recv: &mut [T]) -> ();

        /// Sends block `slot` of `send` to each slot's neighbour and receives each one's into
        /// its slot's block of `recv` (`comm.Neighbor_alltoall`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let line = comm.create_cart(&[2], &[false])?.unwrap();
        ///     let mut recv = [0u8; 2];
        ///     line.neighbor_alltoall_buf(&[1, 2], &mut recv)?;
        ///     Ok(recv)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &[0, 1]);
        /// ```
        fn neighbor_alltoall_buf[T: Pod + Send + Sync](send: &[T], recv: &mut [T]) -> ();

        /// Sends the selection `send_types[d]` of `send` to member `d` and receives member
        /// `s`'s into the selection `recv_types[s]` of `recv` (`comm.Alltoallw`).
        ///
        /// ```
        /// use rmpi::datatype::Datatype;
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let row = [comm.rank() as u8 * 10, comm.rank() as u8 * 10 + 1];
        ///     let one = |at: usize| Datatype::contiguous(1).offset(at);
        ///     let mut column = [0u8; 2];
        ///     comm.alltoallw(&row, &[one(0), one(1)], &mut column, &[one(0), one(1)])?;
        ///     Ok(column)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &[0, 10]);
        /// ```
        fn alltoallw[T: Pod + Send + Sync](send: &[T], send_types: &[Datatype], recv: &mut [T], recv_types: &[Datatype]) -> ();
    }

    request_calls! {
        /// Nonblocking [`barrier`](Comm::barrier) (`comm.Ibarrier()`).
        ///
        /// ```
        /// let done = rmpi::blocking::local::run(2, |comm| comm.ibarrier().wait());
        /// assert!(done.iter().all(Result::is_ok));
        /// ```
        fn ibarrier[]() -> ();
        /// Nonblocking [`bcast`](Comm::bcast).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.ibcast(Some(5u8), 0).wait());
        /// assert!(got.into_iter().all(|v| v.unwrap() == 5));
        /// ```
        fn ibcast[T: Serialize + DeserializeOwned + Send + 'static](value: Option<T>, root: usize) -> T;
        /// Nonblocking [`scatter`](Comm::scatter).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iscatter(Some(vec![4u8, 5]), 0).wait());
        /// assert_eq!(got[1].as_ref().unwrap(), &5);
        /// ```
        fn iscatter[T: Serialize + DeserializeOwned + Send + 'static](values: Option<Vec<T>>, root: usize) -> T;
        /// Nonblocking [`gather`](Comm::gather).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.igather(comm.rank(), 0).wait());
        /// assert_eq!(got[0].as_ref().unwrap(), &Some(vec![0, 1]));
        /// ```
        fn igather[T: Serialize + DeserializeOwned + Send + 'static](value: T, root: usize) -> Option<Vec<T>>;
        /// Nonblocking [`allgather`](Comm::allgather).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iallgather(comm.rank()).wait());
        /// assert!(got.into_iter().all(|v| v.unwrap() == [0, 1]));
        /// ```
        fn iallgather[T: Serialize + DeserializeOwned + Send + 'static](value: T) -> Vec<T>;
        /// Nonblocking [`alltoall`](Comm::alltoall).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.ialltoall(vec![comm.rank(); 2]).wait());
        /// assert!(got.into_iter().all(|v| v.unwrap() == [0, 1]));
        /// ```
        fn ialltoall[T: Serialize + DeserializeOwned + Send + 'static](values: Vec<T>) -> Vec<T>;
        /// Nonblocking [`reduce`](Comm::reduce).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.ireduce(1, Sum, 0).wait());
        /// assert_eq!(got[0].as_ref().unwrap(), &Some(2));
        /// ```
        fn ireduce[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O, root: usize) -> Option<T>;
        /// Nonblocking [`allreduce`](Comm::allreduce) (`comm.Iallreduce`).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iallreduce(1, Sum).wait());
        /// assert!(got.into_iter().all(|v| v.unwrap() == 2));
        /// ```
        fn iallreduce[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> T;
        /// Nonblocking [`scan`](Comm::scan).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iscan(1, Sum).wait());
        /// assert_eq!(got[1].as_ref().unwrap(), &2);
        /// ```
        fn iscan[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> T;
        /// Nonblocking [`exscan`](Comm::exscan).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iexscan(1, Sum).wait());
        /// assert_eq!(got[1].as_ref().unwrap(), &Some(1));
        /// ```
        fn iexscan[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](value: T, op: O) -> Option<T>;
        /// Nonblocking [`reduce_scatter`](Comm::reduce_scatter).
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.ireduce_scatter(vec![1, 2], Sum).wait());
        /// assert_eq!(got[1].as_ref().unwrap(), &4);
        /// ```
        fn ireduce_scatter[T: Serialize + DeserializeOwned + Send + 'static, O: Op<T> + 'static](values: Vec<T>, op: O) -> T;
        /// Nonblocking [`bcast_buf`](Comm::bcast_buf): owns the buffer and hands it back.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let buf = if comm.rank() == 0 { vec![7u8; 3] } else { vec![0; 3] };
        ///     comm.ibcast_buf(buf, 0).wait()
        /// });
        /// assert!(got.into_iter().all(|buf| buf.unwrap() == [7; 3]));
        /// ```
        fn ibcast_buf[T: Pod + Send + Sync](buf: Vec<T>, root: usize) -> Vec<T>;
        /// Nonblocking [`scatter_buf`](Comm::scatter_buf), handing both buffers back.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iscatter_buf(vec![1u8, 2], vec![0], 0).wait());
        /// assert_eq!(got[1].as_ref().unwrap().recv, [2]);
        /// ```
        fn iscatter_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, root: usize) -> Buffers<T>;
        /// Nonblocking [`gather_buf`](Comm::gather_buf), handing both buffers back.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.igather_buf(vec![comm.rank() as u8], vec![0; 2], 0).wait());
        /// assert_eq!(got[0].as_ref().unwrap().recv, [0, 1]);
        /// ```
        fn igather_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, root: usize) -> Buffers<T>;
        /// Nonblocking [`allgather_buf`](Comm::allgather_buf), handing both buffers back.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iallgather_buf(vec![comm.rank() as u8], vec![0; 2]).wait());
        /// assert_eq!(got[1].as_ref().unwrap().recv, [0, 1]);
        /// ```
        fn iallgather_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>) -> Buffers<T>;
        /// Nonblocking [`alltoall_buf`](Comm::alltoall_buf), handing both buffers back.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| comm.ialltoall_buf(vec![comm.rank() as u8; 2], vec![0; 2]).wait());
        /// assert_eq!(got[1].as_ref().unwrap().recv, [0, 1]);
        /// ```
        fn ialltoall_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>) -> Buffers<T>;
        /// Nonblocking [`reduce_buf`](Comm::reduce_buf), handing both buffers back.
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.ireduce_buf(vec![1u32], vec![0], Sum, 0).wait());
        /// assert_eq!(got[0].as_ref().unwrap().recv, [2]);
        /// ```
        fn ireduce_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O, root: usize) -> Buffers<T>;
        /// Nonblocking [`allreduce_buf`](Comm::allreduce_buf), handing both buffers back.
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iallreduce_buf(vec![1u32], vec![0], Sum).wait());
        /// assert_eq!(got[1].as_ref().unwrap().recv, [2]);
        /// ```
        fn iallreduce_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O) -> Buffers<T>;
        /// Nonblocking [`scan_buf`](Comm::scan_buf), handing both buffers back.
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iscan_buf(vec![1u32], vec![0], Sum).wait());
        /// assert_eq!(got[1].as_ref().unwrap().recv, [2]);
        /// ```
        fn iscan_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O) -> Buffers<T>;
        /// Nonblocking [`exscan_buf`](Comm::exscan_buf), handing both buffers back.
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.iexscan_buf(vec![1u32], vec![0], Sum).wait());
        /// assert_eq!(got[1].as_ref().unwrap().recv, [1]);
        /// ```
        fn iexscan_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O) -> Buffers<T>;
        /// Nonblocking [`reduce_scatter_buf`](Comm::reduce_scatter_buf), handing both buffers
        /// back.
        ///
        /// ```
        /// use rmpi::prelude::Sum;
        /// let got = rmpi::blocking::local::run(2, |comm| comm.ireduce_scatter_buf(vec![1u32, 2], vec![0], Sum).wait());
        /// assert_eq!(got[1].as_ref().unwrap().recv, [4]);
        /// ```
        fn ireduce_scatter_buf[T: Pod + Send + Sync, O: Op<T> + 'static](send: Vec<T>, recv: Vec<T>, op: O) -> Buffers<T>;
        /// Nonblocking [`scatterv_buf`](Comm::scatterv_buf), handing both buffers back.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     comm.iscatterv_buf(vec![1u8, 2, 3], vec![1, 2], vec![0, 1], vec![0; comm.rank() + 1], 0).wait()
        /// });
        /// assert_eq!(got[1].as_ref().unwrap().recv, [2, 3]);
        /// ```
        fn iscatterv_buf[T: Pod + Send + Sync](send: Vec<T>, counts: Vec<usize>, displs: Vec<usize>, recv: Vec<T>, root: usize) -> Buffers<T>;
        /// Nonblocking [`gatherv_buf`](Comm::gatherv_buf), handing both buffers back.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mine = vec![comm.rank() as u8 + 1; comm.rank() + 1];
        ///     comm.igatherv_buf(mine, vec![0; 3], vec![1, 2], vec![0, 1], 0).wait()
        /// });
        /// assert_eq!(got[0].as_ref().unwrap().recv, [1, 2, 2]);
        /// ```
        fn igatherv_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, counts: Vec<usize>, displs: Vec<usize>, root: usize) -> Buffers<T>;
        /// Nonblocking [`allgatherv_buf`](Comm::allgatherv_buf), handing both buffers back.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let mine = vec![comm.rank() as u8 + 1; comm.rank() + 1];
        ///     comm.iallgatherv_buf(mine, vec![0; 3], vec![1, 2], vec![0, 1]).wait()
        /// });
        /// assert_eq!(got[1].as_ref().unwrap().recv, [1, 2, 2]);
        /// ```
        fn iallgatherv_buf[T: Pod + Send + Sync](send: Vec<T>, recv: Vec<T>, counts: Vec<usize>, displs: Vec<usize>) -> Buffers<T>;
        /// Nonblocking [`alltoallv_buf`](Comm::alltoallv_buf): each layout is
        /// `(counts, displacements)`; both buffers come back.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let layout = (vec![1, 1], vec![0, 1]);
        ///     comm.ialltoallv_buf(vec![comm.rank() as u8; 2], layout.clone(), vec![0; 2], layout).wait()
        /// });
        /// assert_eq!(got[0].as_ref().unwrap().recv, [0, 1]);
        /// ```
        fn ialltoallv_buf[T: Pod + Send + Sync](send: Vec<T>, send_layout: (Vec<usize>, Vec<usize>), recv: Vec<T>, recv_layout: (Vec<usize>, Vec<usize>)) -> Buffers<T>;
    }
}
