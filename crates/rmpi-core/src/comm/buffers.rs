//! Point-to-point with typed buffers of plain-old-data (mpi4py's uppercase `Send`/`Recv` on
//! arrays): bytes as they are, no serialisation.

use std::future::Future;

use bytemuck::Pod;
use bytes::Bytes;

use super::{receiving, sending, status_of, Comm};
use crate::engine::Arrival;
use crate::error::{Error, Result};
use crate::rendezvous::SendBuf;
use crate::request::{ReceiveInto, Request};
use crate::status::{Source, Status, TagFilter};

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
        // Only a lent send waits (for its receiver to read it): only that one is traced.
        let (operation, at) = (
            sending("send_buf", dest, tag),
            std::panic::Location::caller(),
        );
        let started = self.start_send_buf(dest, tag, as_bytes(buf));
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
        Request::new(self.send_buf(buf, dest, tag))
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
        let (source, tag) = (source.into(), tag.into());
        let incoming = self.post_borrowing(source, tag);
        let buf = as_bytes_mut(buf);
        self.traced(receiving("recv_into", source, tag), async move {
            let (waiting, buf) = (incoming?, buf?);
            // Dropped unfinished, it puts back what of its message its buffer holds.
            let mut receive = ReceiveInto { waiting, buf };
            let arrival = std::future::poll_fn(|cx| receive.poll_arrival(cx)).await?;
            copy_into(arrival, receive.buf, std::mem::size_of::<T>())
        })
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
        Request::new(self.recv_into(buf, source, tag))
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

/// Copies a message into a buffer of `element_bytes`-byte elements: one longer than the
/// buffer is [`Error::Truncated`], one that is not a whole number of elements
/// [`Error::ElementMismatch`], as [`Comm::recv_buf`] says of it too.
pub(super) fn copy_into(arrival: Arrival, buf: &mut [u8], element_bytes: usize) -> Result<Status> {
    let status = status_of(&arrival);
    if status.count_of(element_bytes).is_none() {
        return Err(element_mismatch(&status, element_bytes));
    }
    let payload = arrival.payload;
    let Some(front) = buf.get_mut(..payload.len()) else {
        return Err(truncated(&status, buf.len()));
    };
    payload.copy_to(front)?;
    Ok(status)
}

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

/// The error for a message longer than the `buffer_bytes` a receive has for it.
pub(super) fn truncated(status: &Status, buffer_bytes: usize) -> Error {
    Error::Truncated {
        source_rank: status.source,
        tag: status.tag,
        message_bytes: status.bytes,
        buffer_bytes,
    }
}

/// The error for a message that is not a whole number of `element_bytes`-byte elements.
pub(super) fn element_mismatch(status: &Status, element_bytes: usize) -> Error {
    Error::ElementMismatch {
        source_rank: status.source,
        message_bytes: status.bytes,
        element_bytes,
    }
}
