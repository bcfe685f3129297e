//! Probes: what the next matching message is, without receiving it; and matched probes,
//! which take it out of matching so that no other receive can get it first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytemuck::Pod;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{buffers, objects, receiving, status_of, Comm};
use crate::engine::Arrival;
use crate::error::Result;
use crate::status::{Source, Status, TagFilter};

impl Comm {
    // --- probes ----------------------------------------------------------------------------

    /// Waits until a matching message has arrived and describes it without receiving it
    /// (`MPI_Probe`): the next receive with the same source and the status's tag gets it.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// if comm.rank() == 0 {
    ///     comm.send_buf(&[1u16, 2, 3], 1, 4).await?;
    /// } else {
    ///     let status = comm.probe(rmpi::ANY_SOURCE, rmpi::ANY_TAG).await?;
    ///     let mut buf = vec![0u16; status.count::<u16>().unwrap()];
    ///     comm.recv_into(&mut buf, status.source, status.tag).await?;
    ///     assert_eq!(buf, [1, 2, 3]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn probe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'static {
        let (source, tag) = (source.into(), tag.into());
        let started = self.pattern(source, tag);
        let engine = self.engine().clone();
        self.traced(super::receiving("probe", source, tag), async move {
            let (pattern, awaited) = started?;
            let (envelope, bytes) =
                std::future::poll_fn(|cx| engine.poll_probe(&pattern, &awaited, cx)).await?;
            Ok(Status {
                source: envelope.source as usize,
                tag: envelope.tag,
                bytes,
            })
        })
    }

    /// Describes a matching message if one has arrived, without waiting (`MPI_Iprobe`).
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(1, |comm| async move {
    /// assert!(comm.iprobe(0, 7)?.is_none());
    /// comm.send(&1u8, 0, 7).await?;
    /// let status = comm.iprobe(0, 7)?.expect("sent to ourselves");
    /// assert_eq!(status.tag, 7);
    /// # let _: u8 = comm.recv(0, 7).await?;
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn iprobe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Result<Option<Status>> {
        let (pattern, _) = self.pattern(source.into(), tag.into())?;
        Ok(self
            .engine()
            .iprobe(&pattern)
            .map(|(envelope, bytes)| Status {
                source: envelope.source as usize,
                tag: envelope.tag,
                bytes,
            }))
    }

    /// Waits for a matching message and takes it out of matching (`comm.Mprobe`): the
    /// returned [`Message`] is received with one of its methods, and no other receive or
    /// task can take it in between, as one can after [`probe`](Comm::probe) when several
    /// tasks share the communicator.
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     if comm.rank() == 0 {
    ///         comm.send_buf(&[1.0f64, 2.0, 3.0], 1, 5).await?;
    ///         return Ok(vec![]);
    ///     }
    ///     let message = comm.mprobe(rmpi::ANY_SOURCE, rmpi::ANY_TAG).await?;
    ///     let mut buf = vec![0.0f64; message.status().count::<f64>().unwrap()];
    ///     message.recv_into(&mut buf)?;
    ///     Ok::<_, rmpi::Error>(buf)
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), &[1.0, 2.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn mprobe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Message>> + Send + 'static {
        let (source, tag) = (source.into(), tag.into());
        let incoming = self.post(source, tag);
        self.traced(receiving("mprobe", source, tag), async move {
            Ok(Message::of(incoming?.await?))
        })
    }

    /// Takes a matching message out of matching if one has arrived, without waiting
    /// (`comm.Improbe`).
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     assert!(comm.improbe(0, 0)?.is_none());
    ///     comm.send("hi", 0, 0).await?;
    ///     let message = comm.improbe(0, 0)?.expect("sent to ourselves");
    ///     message.recv::<String>()
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), "hi");
    /// ```
    pub fn improbe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Result<Option<Message>> {
        let mut incoming = self.post(source.into(), tag.into())?;
        // Not there yet: dropping the receive withdraws it.
        match Pin::new(&mut incoming).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(arrival) => Ok(Some(Message::of(arrival?))),
            Poll::Pending => Ok(None),
        }
    }
}

/// A message a matched probe took out of matching (`MPI_Message`): it is this rank's to
/// receive, in any flavour, with one of the methods below. Dropping it drops the message.
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// if comm.rank() == 0 {
///     comm.send(&"hello".to_string(), 1, 0).await?;
/// } else {
///     let message: rmpi::Message = comm.mprobe(0, 0).await?;
///     assert_eq!(message.status().source, 0);
///     let text: String = message.recv()?;
///     assert_eq!(text, "hello");
/// }
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug)]
pub struct Message {
    arrival: Arrival,
    status: Status,
}

impl Message {
    fn of(arrival: Arrival) -> Message {
        let status = status_of(&arrival);
        Message { arrival, status }
    }

    /// Who sent it, with which tag, and how many bytes it has.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     comm.send_buf(&[0u32; 4], 0, 3).await?;
    ///     let status = comm.mprobe(0, 3).await?.status();
    ///     Ok::<_, rmpi::Error>((status.tag, status.count::<u32>()))
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &(3, Some(4)));
    /// ```
    pub fn status(&self) -> Status {
        self.status
    }

    /// Receives it as a serde value (`comm.mrecv`, mpi4py's `message.recv()`).
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     comm.send(&vec![1u8, 2], 0, 0).await?;
    ///     comm.mprobe(0, 0).await?.recv::<Vec<u8>>()
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[1, 2]);
    /// ```
    pub fn recv<T: DeserializeOwned>(self) -> Result<T> {
        Ok(objects::decode(self.arrival)?.0)
    }

    /// Receives it into a caller's buffer (`MPI_Mrecv`, mpi4py's `message.Recv(buf)`), with
    /// [`Comm::recv_into`]'s rules on sizes.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     comm.send_buf(&[7i16, 8], 0, 0).await?;
    ///     let mut buf = [0i16; 2];
    ///     comm.mprobe(0, 0).await?.recv_into(&mut buf)?;
    ///     Ok::<_, rmpi::Error>(buf)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[7, 8]);
    /// ```
    pub fn recv_into<T: Pod>(self, buf: &mut [T]) -> Result<Status> {
        let bytes = buffers::as_bytes_mut(buf)?;
        crate::request::copy_into(self.arrival, bytes, std::mem::size_of::<T>())
    }

    /// Receives it into a new vector sized to fit it.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     comm.send_buf(&[1u64; 3], 0, 0).await?;
    ///     comm.mprobe(0, 0).await?.recv_buf::<u64>()
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[1; 3]);
    /// ```
    pub fn recv_buf<T: Pod>(self) -> Result<Vec<T>> {
        Ok(buffers::to_vec(self.arrival)?.0)
    }

    /// Receives its bytes as they arrived.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     comm.send_bytes(rmpi::Bytes::from_static(b"ab"), 0, 0).await?;
    ///     comm.mprobe(0, 0).await?.recv_bytes()
    /// });
    /// assert_eq!(&results[0].as_ref().unwrap()[..], b"ab");
    /// ```
    pub fn recv_bytes(self) -> Result<Bytes> {
        self.arrival.payload.into_bytes()
    }
}
