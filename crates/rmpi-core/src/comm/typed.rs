//! Point-to-point with derived datatypes: the selected elements of a buffer, packed into one
//! message (`comm.Send([buf, 1, column_type], ...)`).

use std::future::Future;

use bytemuck::Pod;

use super::Comm;
use crate::datatype::Datatype;
use crate::error::{Error, Result};
use crate::request::truncated;
use crate::status::{Source, Status, TagFilter};

impl Comm {
    /// Sends the elements of `buf` that `datatype` selects, in order, as one message
    /// (`comm.Send([buf, 1, datatype], dest, tag)`). The message is the packed elements, so
    /// any receive of as many elements matches it.
    ///
    /// ```
    /// use rmpi::datatype::Datatype;
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     // A 3x3 row-major array; send its last column.
    ///     let column = Datatype::vector(3, 1, 3)?.offset(2);
    ///     if comm.rank() == 0 {
    ///         let grid: Vec<i32> = (0..9).collect();
    ///         comm.send_typed(&grid, &column, 1, 0).await?;
    ///         Ok::<_, rmpi::Error>(vec![])
    ///     } else {
    ///         Ok(comm.recv_buf::<i32>(0, 0).await?.0)
    ///     }
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), &[2, 5, 8]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn send_typed<T: Pod + Send + Sync>(
        &self,
        buf: &[T],
        datatype: &Datatype,
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static + use<T> {
        let packed = datatype.pack(buf);
        let sent = packed.map(|packed| self.send_vec(packed, dest, tag));
        async move { sent?.await }
    }

    /// Receives a message into the elements of `buf` that `datatype` selects, in order
    /// (`comm.Recv([buf, 1, datatype], source, tag)`). More elements than it selects are an
    /// [`Error::Truncated`]; fewer fill the first places. A `datatype` that does not fit
    /// `buf` is an error before anything is received.
    ///
    /// ```
    /// use rmpi::datatype::Datatype;
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let column = Datatype::vector(2, 1, 2)?; // first column of a 2x2 array
    ///     if comm.rank() == 0 {
    ///         comm.send_buf(&[7u8, 9], 1, 0).await?;
    ///         Ok::<_, rmpi::Error>([0; 4])
    ///     } else {
    ///         let mut grid = [0u8; 4];
    ///         comm.recv_typed(&mut grid, &column, 0, 0).await?;
    ///         Ok(grid)
    ///     }
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), &[7, 0, 9, 0]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn recv_typed<'a, T: Pod + Send>(
        &self,
        buf: &'a mut [T],
        datatype: &'a Datatype,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'a {
        let fits = (datatype.extent() <= buf.len())
            .then_some(())
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "the datatype reaches element {} but the buffer has {}",
                    datatype.extent(),
                    buf.len()
                ))
            });
        let incoming = fits.map(|()| self.recv_buf::<T>(source, tag));
        async move {
            let (packed, status) = incoming?.await?;
            if packed.len() > datatype.count() {
                return Err(truncated(
                    &status,
                    datatype.count() * std::mem::size_of::<T>(),
                ));
            }
            datatype.unpack(&packed, buf)?;
            Ok(status)
        }
    }

    /// Sends the selection `send_type` of `send` to `dest` and receives into the selection
    /// `recv_type` of `recv` from `source`, at once (`comm.Sendrecv` with datatypes): a halo
    /// exchange in one call. `None` as `dest` or `source` skips that half, as MPI's
    /// `MPI_PROC_NULL` does at the edge of a grid; the status is then `None` too.
    ///
    /// ```
    /// use rmpi::datatype::Datatype;
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let peer = Some(1 - comm.rank());
    ///     let row = Datatype::contiguous(2);
    ///     let mine = [comm.rank() as u16; 2];
    ///     let mut theirs = [0u16; 2];
    ///     comm.sendrecv_typed(&mine, &row, peer, 0, &mut theirs, &row, peer, 0).await?;
    ///     Ok::<_, rmpi::Error>(theirs)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[1, 1]);
    /// ```
    #[allow(clippy::too_many_arguments)]
    #[track_caller]
    pub fn sendrecv_typed<'a, S: Pod + Send + Sync, R: Pod + Send>(
        &'a self,
        send: &[S],
        send_type: &Datatype,
        dest: Option<usize>,
        send_tag: i32,
        recv: &'a mut [R],
        recv_type: &'a Datatype,
        source: Option<usize>,
        recv_tag: i32,
    ) -> impl Future<Output = Result<Option<Status>>> + Send + 'a + use<'a, S, R> {
        let incoming = source.map(|source| self.recv_typed(recv, recv_type, source, recv_tag));
        let sent = dest.map(|dest| self.send_typed(send, send_type, dest, send_tag));
        either_half(sent, incoming)
    }

    /// Sends the selection `send_type` of `buf` to `dest` and receives into its selection
    /// `recv_type` from `source`, at once: a halo exchange on one array, whose edge goes
    /// out while the neighbour's edge lands in its halo (`comm.Sendrecv` with one buffer
    /// for both, which MPI allows where the selections do not overlap). The outgoing
    /// elements are copied before anything is received; `None` skips a half.
    ///
    /// ```
    /// use rmpi::datatype::Datatype;
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let peer = Some(1 - comm.rank());
    ///     // [own, halo]: our own value goes out, the peer's lands in the halo.
    ///     let mut cells = [comm.rank() as u8 + 10, 0];
    ///     let (own, halo) = (Datatype::contiguous(1), Datatype::contiguous(1).offset(1));
    ///     comm.sendrecv_replace_typed(&mut cells, &own, peer, 0, &halo, peer, 0).await?;
    ///     Ok::<_, rmpi::Error>(cells)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[10, 11]);
    /// ```
    #[allow(clippy::too_many_arguments)]
    #[track_caller]
    pub fn sendrecv_replace_typed<'a, T: Pod + Send + Sync>(
        &'a self,
        buf: &'a mut [T],
        send_type: &Datatype,
        dest: Option<usize>,
        send_tag: i32,
        recv_type: &'a Datatype,
        source: Option<usize>,
        recv_tag: i32,
    ) -> impl Future<Output = Result<Option<Status>>> + Send + 'a + use<'a, T> {
        let sent = dest.map(|dest| self.send_typed(buf, send_type, dest, send_tag));
        let incoming = source.map(|source| self.recv_typed(buf, recv_type, source, recv_tag));
        either_half(sent, incoming)
    }

    /// Sends `buf` to `dest` and replaces its contents with a message from `source`
    /// (`comm.Sendrecv_replace`); the message must fit `buf`.
    ///
    /// ```
    /// let results = rmpi::local::run(3, |comm| async move {
    ///     let (rank, size) = (comm.rank(), comm.size());
    ///     let mut token = [rank as u32];
    ///     comm.sendrecv_replace_buf(&mut token, (rank + 1) % size, 0, (rank + size - 1) % size, 0).await?;
    ///     Ok::<_, rmpi::Error>(token[0])
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &2);
    /// ```
    #[track_caller]
    pub fn sendrecv_replace_buf<'a, T: Pod + Send + Sync>(
        &'a self,
        buf: &'a mut [T],
        dest: usize,
        send_tag: i32,
        source: impl Into<Source>,
        recv_tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'a {
        let sent = self.send_vec(buf.to_vec(), dest, send_tag);
        let incoming = self.recv_into(buf, source, recv_tag);
        async move {
            sent.await?;
            incoming.await
        }
    }
}

/// The two halves of a send-receive, either of which may be skipped: the send completes,
/// then the receive, whose status is the outcome.
async fn either_half(
    sent: Option<impl Future<Output = Result<()>>>,
    incoming: Option<impl Future<Output = Result<Status>>>,
) -> Result<Option<Status>> {
    if let Some(sent) = sent {
        sent.await?;
    }
    match incoming {
        Some(incoming) => incoming.await.map(Some),
        None => Ok(None),
    }
}
