//! Blocking point-to-point: objects (mpi4py's `send`/`recv`), typed buffers (`Send`/`Recv`),
//! probes and their nonblocking forms.

use bytemuck::Pod;
use rmpi_core::datatype::Datatype;
use rmpi_core::equivalence::Equivalence;
use rmpi_core::{Bytes, Message, Result, Source, Status, TagFilter};
use serde::{de::DeserializeOwned, Serialize};

use super::{Comm, Request};

impl Comm {
    blocking_calls! {
        /// Sends any serde value (`comm.send(obj, dest, tag)`); returns once the transport
        /// has it.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 {
        ///         comm.send(&vec![1.5f64, 2.5], 1, 7)?;
        ///         Ok(vec![])
        ///     } else {
        ///         comm.recv::<Vec<f64>>(0, 7)
        ///     }
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[1.5, 2.5]);
        /// ```
        fn send[T: Serialize + ?Sized](value: &T, dest: usize, tag: i32) -> ();

        /// Synchronous send (`comm.ssend`): returns once a receive on `dest` has matched.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 { comm.ssend(&1u8, 1, 0)?; Ok(0) } else { comm.recv::<u8>(0, 0) }
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &1);
        /// ```
        fn ssend[T: Serialize + ?Sized](value: &T, dest: usize, tag: i32) -> ();

        /// Receives a serde value (`data = comm.recv(source, tag)`). Name the type you expect
        /// (`comm.recv::<Vec<u32>>(..)` or `let x: Vec<u32> = ..`): a message of another
        /// type is an [`Error::Decode`](crate::Error::Decode).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 {
        ///         comm.send("hello", 1, 0)?;
        ///         Ok(String::new())
        ///     } else {
        ///         let text: String = comm.recv(rmpi::ANY_SOURCE, rmpi::ANY_TAG)?;
        ///         Ok(text)
        ///     }
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), "hello");
        /// ```
        fn recv[T: DeserializeOwned](source: impl Into<Source>, tag: impl Into<TagFilter>) -> T;

        /// Receives a serde value and the [`Status`] saying who sent it with which tag.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 1 {
        ///         comm.send(&5u8, 0, 3)?;
        ///         return Ok(None);
        ///     }
        ///     let (_, status) = comm.recv_with_status::<u8>(rmpi::ANY_SOURCE, rmpi::ANY_TAG)?;
        ///     Ok(Some((status.source, status.tag)))
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &Some((1, 3)));
        /// ```
        fn recv_with_status[T: DeserializeOwned](source: impl Into<Source>, tag: impl Into<TagFilter>) -> (T, Status);

        /// Sends to `dest` and receives from `source` at once (`comm.sendrecv`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let peer = 1 - comm.rank();
        ///     let (theirs, _) = comm.sendrecv::<_, usize>(&comm.rank(), peer, 0, peer, 0)?;
        ///     Ok(theirs)
        /// });
        /// assert_eq!(got.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 0]);
        /// ```
        fn sendrecv[S: Serialize + ?Sized, R: DeserializeOwned](value: &S, dest: usize, send_tag: i32, source: impl Into<Source>, recv_tag: impl Into<TagFilter>) -> (R, Status);

        /// Sends bytes as they are, without serialisation or copy.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 {
        ///         comm.send_bytes(rmpi::Bytes::from_static(b"raw"), 1, 0)?;
        ///         Ok(Vec::new())
        ///     } else {
        ///         Ok(comm.recv_bytes(0, 0)?.0.to_vec())
        ///     }
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), b"raw");
        /// ```
        fn send_bytes[](payload: Bytes, dest: usize, tag: i32) -> ();

        /// Receives a message's bytes as they arrived (see [`send_bytes`](Comm::send_bytes)).
        ///
        /// ```
        /// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
        /// if comm.rank() == 0 {
        ///     comm.send_bytes(rmpi::Bytes::from_static(b"raw"), 1, 0)?;
        /// } else {
        ///     let (bytes, status) = comm.recv_bytes(0, 0)?;
        ///     assert_eq!((&bytes[..], status.bytes), (&b"raw"[..], 3));
        /// }
        /// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn recv_bytes[](source: impl Into<Source>, tag: impl Into<TagFilter>) -> (Bytes, Status);

        /// Sends a buffer of plain data (`comm.Send([arr, MPI.INT], dest, tag)`), without
        /// serialisation.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 {
        ///         comm.send_buf(&[1i32, 2, 3], 1, 0)?;
        ///         Ok(vec![])
        ///     } else {
        ///         let mut data = vec![0i32; 3];
        ///         comm.recv_into(&mut data, 0, 0)?;
        ///         Ok(data)
        ///     }
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[1, 2, 3]);
        /// ```
        fn send_buf[T: Pod](buf: &[T], dest: usize, tag: i32) -> ();

        /// Synchronous [`send_buf`](Comm::send_buf) (`comm.Ssend`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 { comm.ssend_buf(&[9u16], 1, 0)?; Ok(0) }
        ///     else { Ok(comm.recv_buf::<u16>(0, 0)?.0[0]) }
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &9);
        /// ```
        fn ssend_buf[T: Pod](buf: &[T], dest: usize, tag: i32) -> ();

        /// Receives into a caller's buffer (`comm.Recv([arr, MPI.INT], source, tag)`). A
        /// message larger than the buffer is [`Error::Truncated`](crate::Error::Truncated),
        /// one that is not a whole number of elements
        /// [`Error::ElementMismatch`](crate::Error::ElementMismatch); a shorter one fills the
        /// front and [`Status::count`] says how many elements came.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 {
        ///         comm.send_buf(&[7u32, 8], 1, 0)?;
        ///         Ok(0)
        ///     } else {
        ///         let mut buf = [0u32; 4];
        ///         let status = comm.recv_into(&mut buf, 0, 0)?;
        ///         Ok(status.count::<u32>().unwrap())
        ///     }
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &2);
        /// ```
        fn recv_into[T: Pod](buf: &mut [T], source: impl Into<Source>, tag: impl Into<TagFilter>) -> Status;

        /// Receives a typed-buffer message into a new vector sized to fit it.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 { comm.send_buf(&[0.5f32; 3], 1, 0)?; Ok(vec![]) }
        ///     else { Ok(comm.recv_buf::<f32>(0, 0)?.0) }
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[0.5; 3]);
        /// ```
        fn recv_buf[T: Pod](source: impl Into<Source>, tag: impl Into<TagFilter>) -> (Vec<T>, Status);

        /// Sends `send` to `dest` and receives into `recv` from `source` at once
        /// (`comm.Sendrecv`), as halo exchanges do.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let peer = 1 - comm.rank();
        ///     let mut halo = [0u8; 2];
        ///     comm.sendrecv_buf(&[comm.rank() as u8; 2], peer, 0, &mut halo, peer, 0)?;
        ///     Ok(halo)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &[1, 1]);
        /// ```
        fn sendrecv_buf[S: Pod, R: Pod](send: &[S], dest: usize, send_tag: i32, recv: &mut [R], source: impl Into<Source>, recv_tag: impl Into<TagFilter>) -> Status;

        /// Sends `values`, each packed field by field ([`Equivalence`]), as one message.
        ///
        /// ```
        /// use rmpi::datatype::Equivalence;
        /// #[derive(Equivalence, Clone, Copy)]
        /// struct Cell { solid: bool, heat: f32 }
        ///
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 {
        ///         comm.send_packed(&[Cell { solid: true, heat: 2.5 }; 3], 1, 0)?;
        ///         Ok(0.0)
        ///     } else {
        ///         let (cells, _) = comm.recv_packed::<Cell>(0, 0)?;
        ///         Ok(cells.iter().map(|c| c.heat).sum::<f32>())
        ///     }
        /// });
        /// assert_eq!(*got[1].as_ref().unwrap(), 7.5);
        /// ```
        fn send_packed[T: Equivalence](values: &[T], dest: usize, tag: i32) -> ();

        /// Receives packed values into a new vector sized to fit them
        /// ([`send_packed`](Comm::send_packed) shows it).
        ///
        /// ```
        /// use rmpi::datatype::Equivalence;
        /// #[derive(Equivalence, Clone, Copy)]
        /// struct Particle { alive: bool, mass: f64 }
        /// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
        /// if comm.rank() == 0 {
        ///     comm.send_packed(&[Particle { alive: true, mass: 1.5 }; 2], 1, 0)?;
        /// } else {
        ///     let (particles, _status) = comm.recv_packed::<Particle>(0, 0)?;
        ///     assert!(particles.iter().all(|p| p.alive && p.mass == 1.5));
        /// }
        /// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
        /// ```
        fn recv_packed[T: Equivalence](source: impl Into<Source>, tag: impl Into<TagFilter>) -> (Vec<T>, Status);

        /// Receives packed values into `buf`; more than it holds is an error.
        ///
        /// ```
        /// use rmpi::datatype::Equivalence;
        /// #[derive(Equivalence, Clone, Copy, Default, Debug, PartialEq)]
        /// struct Pair(u8, u64);
        ///
        /// let got = rmpi::blocking::local::run(1, |comm| {
        ///     comm.send_packed(&[Pair(1, 2)], 0, 0)?;
        ///     let mut buf = [Pair::default(); 2];
        ///     comm.recv_packed_into(&mut buf, 0, 0)?;
        ///     Ok(buf)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &[Pair(1, 2), Pair::default()]);
        /// ```
        fn recv_packed_into[T: Equivalence](buf: &mut [T], source: impl Into<Source>, tag: impl Into<TagFilter>) -> Status;

        /// Waits until a matching message has arrived and describes it without receiving it
        /// (`comm.Probe`), e.g. to size a buffer.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 { comm.send_buf(&[1u64; 5], 1, 0)?; return Ok(0) }
        ///     let status = comm.probe(0, 0)?;
        ///     let mut buf = vec![0u64; status.count::<u64>().unwrap()];
        ///     comm.recv_into(&mut buf, 0, 0)?;
        ///     Ok(buf.len())
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &5);
        /// ```
        fn probe[](source: impl Into<Source>, tag: impl Into<TagFilter>) -> Status;

        /// Waits for a matching message and takes it out of matching (`comm.Mprobe`), so
        /// that no other thread's receive can take it; receive it with its methods.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     if comm.rank() == 0 { comm.send("task", 1, 4)?; return Ok(String::new()) }
        ///     let message = comm.mprobe(rmpi::ANY_SOURCE, rmpi::ANY_TAG)?;
        ///     message.recv::<String>()
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), "task");
        /// ```
        fn mprobe[](source: impl Into<Source>, tag: impl Into<TagFilter>) -> Message;

        /// Sends `buf` to `dest` and replaces its contents with a message from `source`
        /// (`comm.Sendrecv_replace`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let peer = 1 - comm.rank();
        ///     let mut value = [comm.rank() as u64];
        ///     comm.sendrecv_replace_buf(&mut value, peer, 0, peer, 0)?;
        ///     Ok(value[0])
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &1);
        /// ```
        fn sendrecv_replace_buf[T: Pod + Send + Sync](buf: &mut [T], dest: usize, send_tag: i32, source: impl Into<Source>, recv_tag: impl Into<TagFilter>) -> Status;

        /// Sends the elements of `buf` that `datatype` selects as one message
        /// (`comm.Send([buf, 1, datatype], dest, tag)`).
        ///
        /// ```
        /// use rmpi::datatype::Datatype;
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let column = Datatype::vector(2, 1, 2)?.offset(1); // second column of a 2x2 array
        ///     if comm.rank() == 0 {
        ///         comm.send_typed(&[1, 2, 3, 4], &column, 1, 0)?;
        ///         Ok(vec![])
        ///     } else {
        ///         Ok(comm.recv_buf::<i32>(0, 0)?.0)
        ///     }
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[2, 4]);
        /// ```
        fn send_typed[T: Pod + Send + Sync](buf: &[T], datatype: &Datatype, dest: usize, tag: i32) -> ();

        /// Receives a message into the elements of `buf` that `datatype` selects
        /// (`comm.Recv([buf, 1, datatype], source, tag)`).
        ///
        /// ```
        /// use rmpi::datatype::Datatype;
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let diagonal = Datatype::indexed(&[(0, 1), (3, 1)])?;
        ///     let mut grid = [0u8; 4];
        ///     if comm.rank() == 0 {
        ///         comm.send_buf(&[5u8, 6], 1, 0)?;
        ///     } else {
        ///         comm.recv_typed(&mut grid, &diagonal, 0, 0)?;
        ///     }
        ///     Ok(grid)
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[5, 0, 0, 6]);
        /// ```
        fn recv_typed[T: Pod + Send](buf: &mut [T], datatype: &Datatype, source: impl Into<Source>, tag: impl Into<TagFilter>) -> Status;

        /// Sends a selection of `send` to `dest` and receives into a selection of `recv` from
        /// `source` at once (`comm.Sendrecv` with datatypes); `None` skips that half, as
        /// `MPI_PROC_NULL` does at a grid's edge.
        ///
        /// ```
        /// use rmpi::datatype::Datatype;
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let peer = Some(1 - comm.rank());
        ///     let one = Datatype::contiguous(1);
        ///     let mut theirs = [0u32];
        ///     comm.sendrecv_typed(&[comm.rank() as u32], &one, peer, 0, &mut theirs, &one, peer, 0)?;
        ///     Ok(theirs[0])
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &1);
        /// ```
        #[allow(clippy::too_many_arguments)]
        fn sendrecv_typed[S: Pod + Send + Sync, R: Pod + Send](send: &[S], send_type: &Datatype, dest: Option<usize>, send_tag: i32, recv: &mut [R], recv_type: &Datatype, source: Option<usize>, recv_tag: i32) -> Option<Status>;

        /// Sends the selection `send_type` of `buf` and receives into its selection
        /// `recv_type` at once: a halo exchange on one array (`None` skips a half).
        ///
        /// ```
        /// use rmpi::datatype::Datatype;
        /// let got = rmpi::blocking::local::run(2, |comm| {
        ///     let peer = Some(1 - comm.rank());
        ///     let mut cells = [comm.rank() as u8, 9];
        ///     let (own, halo) = (Datatype::contiguous(1), Datatype::contiguous(1).offset(1));
        ///     comm.sendrecv_replace_typed(&mut cells, &own, peer, 0, &halo, peer, 0)?;
        ///     Ok(cells)
        /// });
        /// assert_eq!(got[1].as_ref().unwrap(), &[1, 0]);
        /// ```
        #[allow(clippy::too_many_arguments)]
        fn sendrecv_replace_typed[T: Pod + Send + Sync](buf: &mut [T], send_type: &Datatype, dest: Option<usize>, send_tag: i32, recv_type: &Datatype, source: Option<usize>, recv_tag: i32) -> Option<Status>;
    }

    /// Describes a matching message if one has arrived, without waiting (`comm.Iprobe`).
    ///
    /// ```
    /// let got = rmpi::blocking::local::run(1, |comm| {
    ///     let before = comm.iprobe(0, 0)?.is_some();
    ///     comm.send(&1u8, 0, 0)?;
    ///     let after = comm.iprobe(0, 0)?.is_some();
    ///     comm.recv::<u8>(0, 0)?;
    ///     Ok((before, after))
    /// });
    /// assert_eq!(got[0].as_ref().unwrap(), &(false, true));
    /// ```
    pub fn iprobe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Result<Option<Status>> {
        self.runner.progress();
        self.inner.iprobe(source, tag)
    }

    /// Takes a matching message out of matching if one has arrived, without waiting
    /// (`comm.Improbe`).
    ///
    /// ```
    /// let got = rmpi::blocking::local::run(1, |comm| {
    ///     comm.send(&3u8, 0, 0)?;
    ///     let message = comm.improbe(0, 0)?.expect("sent to ourselves");
    ///     message.recv::<u8>()
    /// });
    /// assert_eq!(got[0].as_ref().unwrap(), &3);
    /// ```
    pub fn improbe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Result<Option<Message>> {
        self.runner.progress();
        self.inner.improbe(source, tag)
    }

    request_calls! {
        /// Nonblocking [`send`](Comm::send) (`comm.isend`).
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(1, |comm| {
        ///     let sent = comm.isend(&3u8, 0, 0);
        ///     let value = comm.recv::<u8>(0, 0)?;
        ///     sent.wait()?;
        ///     Ok(value)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &3);
        /// ```
        fn isend[T: Serialize + ?Sized](value: &T, dest: usize, tag: i32) -> ();

        /// Nonblocking [`ssend`](Comm::ssend) (`comm.issend`): complete once matched.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(1, |comm| {
        ///     let sent = comm.issend(&3u8, 0, 0);
        ///     let value = comm.recv::<u8>(0, 0)?;
        ///     sent.wait()?;
        ///     Ok(value)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &3);
        /// ```
        fn issend[T: Serialize + ?Sized](value: &T, dest: usize, tag: i32) -> ();

        /// Nonblocking [`recv`](Comm::recv) (`req = comm.irecv(source, tag)`): waiting gives
        /// the value.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(1, |comm| {
        ///     let receive = comm.irecv::<u8>(0, 0);
        ///     comm.send(&4u8, 0, 0)?;
        ///     receive.wait()
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &4);
        /// ```
        fn irecv[T: DeserializeOwned + Send + 'static](source: impl Into<Source>, tag: impl Into<TagFilter>) -> T;

        /// Nonblocking [`recv_with_status`](Comm::recv_with_status): the value and its status.
        ///
        /// ```
        /// let got = rmpi::blocking::local::run(1, |comm| {
        ///     let receive = comm.irecv_with_status::<u8>(rmpi::ANY_SOURCE, rmpi::ANY_TAG);
        ///     comm.send(&4u8, 0, 6)?;
        ///     Ok(receive.wait()?.1.tag)
        /// });
        /// assert_eq!(got[0].as_ref().unwrap(), &6);
        /// ```
        fn irecv_with_status[T: DeserializeOwned + Send + 'static](source: impl Into<Source>, tag: impl Into<TagFilter>) -> (T, Status);
    }

    /// Nonblocking [`send_buf`](Comm::send_buf) (`comm.Isend`); the request borrows `buf`
    /// until it is complete.
    ///
    /// ```
    /// let got = rmpi::blocking::local::run(1, |comm| {
    ///     let data = [1u32, 2];
    ///     let sent = comm.isend_buf(&data, 0, 0);
    ///     let (back, _) = comm.recv_buf::<u32>(0, 0)?;
    ///     sent.wait()?;
    ///     Ok(back)
    /// });
    /// assert_eq!(got[0].as_ref().unwrap(), &[1, 2]);
    /// ```
    #[track_caller]
    pub fn isend_buf<'a, T: Pod>(&'a self, buf: &'a [T], dest: usize, tag: i32) -> Request<'a, ()> {
        let _context = self.runner.enter();
        Request::new(self.inner.isend_buf(buf, dest, tag), &self.runner)
    }

    /// Nonblocking [`ssend_buf`](Comm::ssend_buf) (`comm.Issend`).
    ///
    /// ```
    /// let got = rmpi::blocking::local::run(1, |comm| {
    ///     let sent = comm.issend_buf(&[5u8], 0, 0);
    ///     let (back, _) = comm.recv_buf::<u8>(0, 0)?;
    ///     sent.wait()?;
    ///     Ok(back)
    /// });
    /// assert_eq!(got[0].as_ref().unwrap(), &[5]);
    /// ```
    #[track_caller]
    pub fn issend_buf<'a, T: Pod>(
        &'a self,
        buf: &'a [T],
        dest: usize,
        tag: i32,
    ) -> Request<'a, ()> {
        let _context = self.runner.enter();
        Request::new(self.inner.issend_buf(buf, dest, tag), &self.runner)
    }

    /// Nonblocking [`recv_into`](Comm::recv_into) (`comm.Irecv`); the request borrows `buf`
    /// mutably until it is complete or dropped. [`Request`] shows it in use.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
    /// if comm.rank() == 0 {
    ///     comm.send_buf(&[4u32, 5], 1, 0)?;
    /// } else {
    ///     let mut buf = [0u32; 2];
    ///     let status = comm.irecv_into(&mut buf, 0, 0).wait()?;
    ///     assert_eq!(status.bytes, 8);
    ///     assert_eq!(buf, [4, 5]);
    /// }
    /// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn irecv_into<'a, T: Pod>(
        &'a self,
        buf: &'a mut [T],
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Request<'a, Status> {
        let _context = self.runner.enter();
        Request::new(self.inner.irecv_into(buf, source, tag), &self.runner)
    }
}
