//! Point-to-point with serde objects (mpi4py's lowercase `send`/`recv`) and raw bytes.

use std::future::Future;

use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

use super::{receiving, sending, status_of, Comm};
use crate::codec::{Codec, DefaultCodec};
use crate::engine::Arrival;
use crate::error::{Error, Result};
use crate::request::Request;
use crate::status::{Source, Status, TagFilter};

impl Comm {
    // --- objects (mpi4py's lowercase send/recv) --------------------------------------------

    /// Sends any serde value (`comm.send(obj, dest, tag)`): it is encoded with the
    /// [codec](crate::codec) and the call returns once the transport has it.
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     if comm.rank() == 0 {
    ///         comm.send(&vec![1, 2, 3], 1, 11).await?; // comm.send(data, dest=1, tag=11)
    ///         Ok(vec![])
    ///     } else {
    ///         comm.recv::<Vec<i32>>(0, 11).await // name the type to receive
    ///     }
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), &[1, 2, 3]);
    /// ```
    pub fn send<T: Serialize + ?Sized>(
        &self,
        value: &T,
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static + use<T> {
        std::future::ready(self.start_send(dest, tag, encode(value)))
    }

    /// Nonblocking [`send`](Comm::send) (`comm.isend`).
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     let sent = comm.isend("to myself", 0, 0);
    ///     let text: String = comm.recv(0, 0).await?;
    ///     sent.await?;
    ///     Ok::<_, rmpi::Error>(text)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), "to myself");
    /// ```
    #[track_caller]
    pub fn isend<T: Serialize + ?Sized>(
        &self,
        value: &T,
        dest: usize,
        tag: i32,
    ) -> Request<'static, ()> {
        Request::new(self.send(value, dest, tag))
    }

    /// Synchronous send (`comm.ssend`): completes only once a receive on `dest` has matched
    /// the message.
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     if comm.rank() == 0 {
    ///         comm.ssend(&7u8, 1, 0).await?; // returns once rank 1 has matched it
    ///         Ok(0)
    ///     } else {
    ///         comm.recv::<u8>(0, 0).await
    ///     }
    /// });
    /// assert_eq!(*results[1].as_ref().unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn ssend<T: Serialize + ?Sized>(
        &self,
        value: &T,
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static + use<T> {
        let started = self.start_ssend(dest, tag, encode(value));
        self.traced(sending("ssend", dest, tag), async move { started?.await })
    }

    /// Nonblocking [`ssend`](Comm::ssend) (`comm.issend`).
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     let sent = comm.issend(&1u8, 0, 0);
    ///     let value: u8 = comm.recv(0, 0).await?;
    ///     sent.await?;
    ///     Ok::<_, rmpi::Error>(value)
    /// });
    /// assert_eq!(*results[0].as_ref().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn issend<T: Serialize + ?Sized>(
        &self,
        value: &T,
        dest: usize,
        tag: i32,
    ) -> Request<'static, ()> {
        Request::new(self.ssend(value, dest, tag))
    }

    /// Receives a serde value (`comm.recv(source=..., tag=...)`). Cancel-safe: a future
    /// dropped before it completes (under `tokio::select!` or `timeout`) loses no message;
    /// one it had already matched goes to the next receive that fits it, in order.
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     if comm.rank() == 1 {
    ///         comm.send("hello", 0, 3).await?;
    ///         return Ok(String::new());
    ///     }
    ///     let greeting: String = comm.recv(rmpi::ANY_SOURCE, rmpi::ANY_TAG).await?;
    ///     Ok::<_, rmpi::Error>(greeting)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), "hello");
    /// ```
    #[track_caller]
    pub fn recv<T: DeserializeOwned>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let incoming = self.recv_with_status(source, tag);
        async move { Ok(incoming.await?.0) }
    }

    /// Receives a serde value and the [`Status`] saying who sent it with which tag.
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     if comm.rank() == 1 {
    ///         comm.send(&2.5f64, 0, 4).await?;
    ///         return Ok(None);
    ///     }
    ///     let (_, status) = comm.recv_with_status::<f64>(rmpi::ANY_SOURCE, rmpi::ANY_TAG).await?;
    ///     Ok::<_, rmpi::Error>(Some((status.source, status.tag)))
    /// });
    /// assert_eq!(*results[0].as_ref().unwrap(), Some((1, 4)));
    /// ```
    #[track_caller]
    pub fn recv_with_status<T: DeserializeOwned>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<(T, Status)>> + Send + 'static {
        let (source, tag) = (source.into(), tag.into());
        let incoming = self.post(source, tag);
        self.traced(receiving("recv", source, tag), async move {
            decode(incoming?.await?)
        })
    }

    /// Nonblocking [`recv`](Comm::recv) (`req = comm.irecv(source, tag)`; `req.wait()`
    /// gives the value, as mpi4py's does). As everywhere in rmpi, the plain name gives the
    /// value and `_with_status` adds the [`Status`].
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let incoming = comm.irecv::<String>(1 - comm.rank(), 0);
    ///     comm.send("hi", 1 - comm.rank(), 0).await?;
    ///     incoming.await
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), "hi");
    /// ```
    #[track_caller]
    pub fn irecv<T: DeserializeOwned + Send + 'static>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Request<'static, T> {
        Request::new(self.recv(source, tag))
    }

    /// Nonblocking [`recv_with_status`](Comm::recv_with_status): the value and who sent it.
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let incoming = comm.irecv_with_status::<u8>(rmpi::ANY_SOURCE, 0);
    ///     comm.send(&1u8, 1 - comm.rank(), 0).await?;
    ///     let (_, status) = incoming.await?;
    ///     Ok::<_, rmpi::Error>(status.source)
    /// });
    /// assert_eq!(*results[0].as_ref().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn irecv_with_status<T: DeserializeOwned + Send + 'static>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Request<'static, (T, Status)> {
        Request::new(self.recv_with_status(source, tag))
    }

    /// Sends `value` to `dest` and receives from `source` at once (`comm.sendrecv`), so two
    /// ranks can exchange without ordering their calls.
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let peer = 1 - comm.rank();
    ///     let (theirs, _) = comm.sendrecv::<_, usize>(&comm.rank(), peer, 0, peer, 0).await?;
    ///     Ok::<_, rmpi::Error>(theirs)
    /// });
    /// assert_eq!(*results[0].as_ref().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn sendrecv<S: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        value: &S,
        dest: usize,
        send_tag: i32,
        source: impl Into<Source>,
        recv_tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<(R, Status)>> + Send + 'static {
        let incoming = self.recv_with_status(source, recv_tag);
        let sent = self.start_send(dest, send_tag, encode(value));
        async move {
            sent?;
            incoming.await
        }
    }

    // --- raw bytes ------------------------------------------------------------------------

    /// Sends bytes as they are; the transport takes the `Bytes` without copying where it can.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     comm.send_bytes(rmpi::Bytes::from_static(b"raw"), 0, 0).await?;
    ///     let (bytes, _) = comm.recv_bytes(0, 0).await?;
    ///     Ok::<_, rmpi::Error>(bytes.to_vec())
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), b"raw");
    /// ```
    pub fn send_bytes(
        &self,
        payload: Bytes,
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static + use<> {
        std::future::ready(self.start_send(dest, tag, Ok(payload)))
    }

    /// Receives a message's bytes as they arrived, without copying them.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// if comm.rank() == 0 {
    ///     comm.send_bytes(rmpi::Bytes::from_static(b"raw"), 1, 0).await?;
    /// } else {
    ///     let (bytes, status) = comm.recv_bytes(0, 0).await?;
    ///     assert_eq!((&bytes[..], status.bytes), (&b"raw"[..], 3));
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn recv_bytes(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<(Bytes, Status)>> + Send + 'static {
        let (source, tag) = (source.into(), tag.into());
        let incoming = self.post(source, tag);
        self.traced(receiving("recv", source, tag), async move {
            let arrival = incoming?.await?;
            let status = status_of(&arrival);
            Ok((arrival.payload.into_bytes()?, status))
        })
    }
}

pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    DefaultCodec::encode(value)
        .map(Bytes::from)
        .map_err(|reason| Error::Encode { reason })
}

pub(super) fn decode<T: DeserializeOwned>(arrival: Arrival) -> Result<(T, Status)> {
    let status = status_of(&arrival);
    let payload = arrival.payload.into_bytes()?;
    let value = DefaultCodec::decode(&payload).map_err(|reason| Error::Decode {
        source_rank: status.source,
        tag: status.tag,
        reason,
    })?;
    Ok((value, status))
}
