//! Point-to-point with typed buffers of plain-old-data (mpi4py's uppercase `Send`/`Recv` on
//! arrays): bytes as they are, no serialisation.

use std::future::Future;

use bytemuck::Pod;
use bytes::Bytes;

use super::{receiving, sending, Comm};
use crate::engine::Arrival;
use crate::error::{Error, Result};
use crate::rendezvous::SendBuf;
use crate::request::{element_mismatch, status_of, IntoBuffer, ReceiveInto, Request};
use crate::status::{Source, Status, TagFilter};
use crate::waits::Traced;

impl Comm {
    // --- typed buffers (mpi4py's uppercase Send/Recv on arrays) ------------------------------

    /// Sends a slice of plain-old-data as its bytes (`comm.Send([array, MPI.INT], ...)`),
    /// without serialisation. The send starts when this is called. A small buffer is
    /// copied into the transport at once; a large one may be lent to a receiver that reads
    /// it straight out of this process's memory (shared memory with cross-memory attach, see
    /// rendezvous), and then the future completes once the receive
    /// has copied it, or after a short wait with a copy sent instead. Dropping the future
    /// still delivers the message.
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     if comm.rank() == 0 {
    ///         comm.send_buf(&[1.0f64, 2.0], 1, 0).await?; // comm.Send([arr, MPI.DOUBLE], 1)
    ///         Ok(vec![])
    ///     } else {
    ///         let mut arr = vec![0.0f64; 2];
    ///         comm.recv_into(&mut arr, 0, 0).await?;
    ///         Ok::<_, rmpi::Error>(arr)
    ///     }
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), &[1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn send_buf<'a, T: Pod>(
        &self,
        buf: &'a [T],
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'a + use<'a, T> {
        self.start_send_traced(as_bytes(buf), dest, tag)
    }

    /// Starts a typed-buffer send (see [`Comm::start_send_buf`]). Only a lent send waits
    /// (for its receiver to read it): only that one is traced.
    #[track_caller]
    fn start_send_traced<'a>(&self, buf: Result<&'a [u8]>, dest: usize, tag: i32) -> SendBuf<'a> {
        let (operation, at) = (
            sending("send_buf", dest, tag),
            std::panic::Location::caller(),
        );
        let started = self.start_send_buf(dest, tag, buf);
        SendBuf::of(started.map(|lent| lent.map(|lent| self.traced_at(operation, at, lent))))
    }

    /// Sends a vector of plain-old-data, handing its allocation to the transport without
    /// copying it.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     comm.send_vec(vec![5u32; 1000], 0, 0).await?; // no copy of the vector
    ///     Ok::<_, rmpi::Error>(comm.recv_buf::<u32>(0, 0).await?.0.len())
    /// });
    /// assert_eq!(*results[0].as_ref().unwrap(), 1000);
    /// ```
    pub fn send_vec<T: Pod + Send + Sync>(
        &self,
        buf: Vec<T>,
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static + use<T> {
        std::future::ready(self.start_send(dest, tag, owned_bytes(buf)))
    }

    /// Nonblocking [`send_buf`](Comm::send_buf) (`comm.Isend`). The request borrows `buf`
    /// until it completes.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     let data = [1u16, 2];
    ///     let sent = comm.isend_buf(&data, 0, 0);
    ///     let (back, _) = comm.recv_buf::<u16>(0, 0).await?;
    ///     sent.await?;
    ///     Ok::<_, rmpi::Error>(back)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[1, 2]);
    /// ```
    #[track_caller]
    pub fn isend_buf<'a, T: Pod>(&self, buf: &'a [T], dest: usize, tag: i32) -> Request<'a, ()> {
        self.start_send_traced(as_bytes(buf), dest, tag)
            .into_request()
    }

    /// Synchronous [`send_buf`](Comm::send_buf) (`comm.Ssend`).
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     if comm.rank() == 0 {
    ///         comm.ssend_buf(&[3u8], 1, 0).await?;
    ///         Ok(vec![])
    ///     } else {
    ///         Ok::<_, rmpi::Error>(comm.recv_buf::<u8>(0, 0).await?.0)
    ///     }
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), &[3]);
    /// ```
    #[track_caller]
    pub fn ssend_buf<T: Pod>(
        &self,
        buf: &[T],
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static + use<T> {
        let started = self.start_ssend(dest, tag, copy_bytes(buf));
        self.traced(
            sending("ssend_buf", dest, tag),
            async move { started?.await },
        )
    }

    /// Nonblocking [`ssend_buf`](Comm::ssend_buf) (`comm.Issend`).
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     let sent = comm.issend_buf(&[4u8], 0, 0);
    ///     let (back, _) = comm.recv_buf::<u8>(0, 0).await?;
    ///     sent.await?;
    ///     Ok::<_, rmpi::Error>(back)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[4]);
    /// ```
    #[track_caller]
    pub fn issend_buf<'a, T: Pod>(&self, buf: &'a [T], dest: usize, tag: i32) -> Request<'a, ()> {
        Request::new(self.ssend_buf(buf, dest, tag))
    }

    /// Receives into a caller's buffer (`comm.Recv([array, MPI.INT], ...)`). A message larger
    /// than the buffer is an [`Error::Truncated`]; one that is not a whole number of `T`s
    /// an [`Error::ElementMismatch`], as with [`recv_buf`](Comm::recv_buf); a shorter one
    /// fills the front, and [`Status::count`] says how many elements arrived. The future
    /// borrows the communicator as well as the buffer: nothing is counted or shared for
    /// it. Cancel-safe, as [`recv`](Comm::recv) is: dropped unfinished, it puts back
    /// whatever of its message had matched or already been copied into the buffer.
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     if comm.rank() == 0 {
    ///         comm.send_buf(&[1u8, 2, 3], 1, 0).await?; // 3 bytes
    ///         Ok::<_, rmpi::Error>(None)
    ///     } else {
    ///         let mut words = [0u32; 3];
    ///         Ok(comm.recv_into(&mut words, 0, 0).await.err()) // not whole u32s
    ///     }
    /// });
    /// assert!(matches!(
    ///     results[1].as_ref().unwrap(),
    ///     Some(rmpi::Error::ElementMismatch { message_bytes: 3, element_bytes: 4, .. })
    /// ));
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn recv_into<'a, T: Pod>(
        &'a self,
        buf: &'a mut [T],
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'a {
        self.receive_into(buf, source.into(), tag.into())
    }

    /// [`recv_into`](Comm::recv_into) as a named future, which its request keeps in place.
    #[track_caller]
    fn receive_into<'a, T: Pod>(
        &'a self,
        buf: &'a mut [T],
        source: Source,
        tag: TagFilter,
    ) -> Traced<IntoBuffer<'a>> {
        // Dropped unfinished, the receive puts back what of its message its buffer holds.
        // Built in one expression, not through `Result`s: every receive of a window is
        // moved into its request, and each extra move of a value just written stalls.
        let element_bytes = std::mem::size_of::<T>();
        let receive = match as_bytes_mut(buf) {
            Ok(buf) => match self.post_borrowing(source, tag) {
                Ok(waiting) => IntoBuffer::posted(ReceiveInto { waiting, buf }, element_bytes),
                Err(error) => IntoBuffer::failed(error, element_bytes),
            },
            Err(error) => IntoBuffer::failed(error, element_bytes),
        };
        self.traced(receiving("recv_into", source, tag), receive)
    }

    /// Nonblocking [`recv_into`](Comm::recv_into) (`comm.Irecv`). The request borrows `buf`
    /// mutably until it completes or is dropped.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     let mut buf = [0i32; 2];
    ///     let receive = comm.irecv_into(&mut buf, 0, 0);
    ///     comm.send_buf(&[7, 8], 0, 0).await?;
    ///     receive.await?;
    ///     Ok::<_, rmpi::Error>(buf)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[7, 8]);
    /// ```
    #[track_caller]
    pub fn irecv_into<'a, T: Pod>(
        &'a self,
        buf: &'a mut [T],
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Request<'a, Status> {
        Request::receiving(self.receive_into(buf, source.into(), tag.into()))
    }

    /// Receives a typed-buffer message into a new vector sized to fit it.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     comm.send_buf(&[1u64, 2, 3], 0, 0).await?;
    ///     let (values, status) = comm.recv_buf::<u64>(0, 0).await?;
    ///     assert_eq!(status.count::<u64>(), Some(3));
    ///     Ok::<_, rmpi::Error>(values)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn recv_buf<T: Pod>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<(Vec<T>, Status)>> + Send + 'static {
        let (source, tag) = (source.into(), tag.into());
        let incoming = self.post(source, tag);
        self.traced(receiving("recv_buf", source, tag), async move {
            to_vec(incoming?.await?)
        })
    }

    /// Sends `send` to `dest` and receives into `recv` from `source` at once (`comm.Sendrecv`).
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let peer = 1 - comm.rank();
    ///     let mut halo = [0u8; 2];
    ///     comm.sendrecv_buf(&[comm.rank() as u8; 2], peer, 0, &mut halo, peer, 0).await?;
    ///     Ok::<_, rmpi::Error>(halo)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[1, 1]);
    /// ```
    #[track_caller]
    pub fn sendrecv_buf<'a, S: Pod, R: Pod>(
        &'a self,
        send: &'a [S],
        dest: usize,
        send_tag: i32,
        recv: &'a mut [R],
        source: impl Into<Source>,
        recv_tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'a {
        let incoming = self.recv_into(recv, source, recv_tag);
        let sent = self.start_send_buf(dest, send_tag, as_bytes(send));
        async move {
            let sent = sent?;
            let status = incoming.await?;
            if let Some(lent) = sent {
                lent.await?;
            }
            Ok(status)
        }
    }
}

fn zero_sized() -> Error {
    Error::InvalidArgument("zero-sized element types cannot be used as buffers".into())
}

/// A buffer's bytes; zero-sized element types are refused, since their count cannot travel.
pub(super) fn as_bytes<T: Pod>(buf: &[T]) -> Result<&[u8]> {
    if std::mem::size_of::<T>() == 0 {
        return Err(zero_sized());
    }
    Ok(bytemuck::cast_slice(buf))
}

pub(super) fn as_bytes_mut<T: Pod>(buf: &mut [T]) -> Result<&mut [u8]> {
    if std::mem::size_of::<T>() == 0 {
        return Err(zero_sized());
    }
    Ok(bytemuck::cast_slice_mut(buf))
}

fn copy_bytes<T: Pod>(buf: &[T]) -> Result<Bytes> {
    as_bytes(buf).map(crate::pool::copy_of)
}

/// A vector of plain-old-data viewed as bytes, so `Bytes` can own it without a copy.
struct PodVec<T>(Vec<T>);

impl<T: Pod> AsRef<[u8]> for PodVec<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

fn owned_bytes<T: Pod + Send + Sync>(buf: Vec<T>) -> Result<Bytes> {
    as_bytes(&buf)?;
    Ok(Bytes::from_owner(PodVec(buf)))
}

/// A message as a new vector of `T`; one that is not a whole number of them is
/// [`Error::ElementMismatch`].
pub(super) fn to_vec<T: Pod>(arrival: Arrival) -> Result<(Vec<T>, Status)> {
    let status = status_of(&arrival);
    let Some(count) = status.count::<T>() else {
        return Err(element_mismatch(&status, std::mem::size_of::<T>()));
    };
    let mut out = vec![T::zeroed(); count];
    arrival
        .payload
        .copy_to(bytemuck::cast_slice_mut::<T, u8>(&mut out))?;
    Ok((out, status))
}
