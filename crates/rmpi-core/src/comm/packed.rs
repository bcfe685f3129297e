//! Point-to-point for [`Equivalence`] types: structs sent field by field, padding left out.

use std::future::Future;

use bytes::Bytes;

use super::{receiving, status_of, Comm};
use crate::engine::Arrival;
use crate::equivalence::{self, Equivalence};
use crate::error::{Error, Result};
use crate::request::{element_mismatch, truncated};
use crate::status::{Source, Status, TagFilter};

impl Comm {
    /// Sends `values`, each packed field by field ([`Equivalence`]), as one message
    /// (`comm.Send([values, 1, struct_type], dest, tag)`).
    ///
    /// ```
    /// use rmpi::datatype::Equivalence;
    /// #[derive(Equivalence, Clone, Copy)]
    /// struct Sample { id: u16, value: f64 }
    ///
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     if comm.rank() == 0 {
    ///         comm.send_packed(&[Sample { id: 1, value: 0.5 }], 1, 0).await?;
    ///         Ok(0.0)
    ///     } else {
    ///         Ok::<_, rmpi::Error>(comm.recv_packed::<Sample>(0, 0).await?.0[0].value)
    ///     }
    /// });
    /// assert_eq!(*results[1].as_ref().unwrap(), 0.5);
    /// ```
    pub fn send_packed<T: Equivalence>(
        &self,
        values: &[T],
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static + use<T> {
        let packed = match T::PACKED_SIZE {
            0 => Err(Error::InvalidArgument(
                "a type that packs to no bytes cannot be sent as elements".into(),
            )),
            _ => Ok(equivalence::pack(values)),
        };
        let sent = packed.map(|packed| self.send_vec(packed, dest, tag));
        async move { sent?.await }
    }

    /// Receives a message of packed values into a new vector sized to fit it. A message
    /// that is not a whole number of them is an [`Error::ElementMismatch`].
    /// [`send_packed`](Comm::send_packed) shows it in use.
    ///
    /// ```
    /// use rmpi::datatype::Equivalence;
    /// #[derive(Equivalence, Clone, Copy)]
    /// struct Particle { alive: bool, mass: f64 }
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// if comm.rank() == 0 {
    ///     comm.send_packed(&[Particle { alive: true, mass: 1.5 }; 2], 1, 0).await?;
    /// } else {
    ///     let (particles, _status) = comm.recv_packed::<Particle>(0, 0).await?;
    ///     assert!(particles.iter().all(|p| p.alive && p.mass == 1.5));
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn recv_packed<T: Equivalence>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<(Vec<T>, Status)>> + Send + 'static {
        let (source, tag) = (source.into(), tag.into());
        let incoming = self.post(source, tag);
        self.traced(receiving("recv_packed", source, tag), async move {
            let (bytes, status) = arrived(incoming?.await?)?;
            let values = equivalence::unpack(&bytes)
                .ok_or_else(|| element_mismatch(&status, T::PACKED_SIZE))?;
            Ok((values, status))
        })
    }

    /// Receives a message of packed values into `buf` (`comm.Recv` with a struct type):
    /// more values than `buf` holds are an [`Error::Truncated`], fewer fill its front.
    ///
    /// ```
    /// use rmpi::datatype::Equivalence;
    /// #[derive(Equivalence, Clone, Copy, Default)]
    /// struct Pair(u8, u32);
    ///
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let mut buf = [Pair::default(); 4];
    ///     if comm.rank() == 0 {
    ///         comm.send_packed(&[Pair(1, 2), Pair(3, 4)], 1, 0).await?;
    ///     } else {
    ///         let status = comm.recv_packed_into(&mut buf, 0, 0).await?;
    ///         assert_eq!(status.bytes, 10);
    ///     }
    ///     Ok::<_, rmpi::Error>(buf[1].1)
    /// });
    /// assert_eq!(*results[1].as_ref().unwrap(), 4);
    /// ```
    #[track_caller]
    pub fn recv_packed_into<'a, T: Equivalence>(
        &self,
        buf: &'a mut [T],
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'a {
        let (source, tag) = (source.into(), tag.into());
        let incoming = self.post(source, tag);
        self.traced(receiving("recv_packed_into", source, tag), async move {
            let (bytes, status) = arrived(incoming?.await?)?;
            let count = status
                .count_of(T::PACKED_SIZE)
                .ok_or_else(|| element_mismatch(&status, T::PACKED_SIZE))?;
            let Some(front) = buf.get_mut(..count) else {
                return Err(truncated(&status, buf.len() * T::PACKED_SIZE));
            };
            equivalence::unpack_into(&bytes, front);
            Ok(status)
        })
    }
}

/// A message's bytes as they arrived (read in only if they were lent), and its status.
fn arrived(arrival: Arrival) -> Result<(Bytes, Status)> {
    let status = status_of(&arrival);
    Ok((arrival.payload.into_bytes()?, status))
}
