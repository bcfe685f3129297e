//! Collectives with a derived datatype per member (`MPI_Alltoallw`): each block is a
//! selection of the buffer ([`Datatype`]) rather than a run of it, so a matrix transpose or
//! an exchange of strided columns needs no packing by hand.

use std::future::Future;

use bytemuck::Pod;
use rmpi_core::datatype::Datatype;
use rmpi_core::{Error, Result};

use crate::buffers::displacements;
use crate::{BufferCollectives, Collectives};

/// Collectives whose blocks are [`Datatype`] selections. In `rmpi::prelude` with
/// [`Collectives`].
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// use rmpi::datatype::Datatype;
/// // Each rank sends every second element of its row to each rank.
/// let row = [comm.rank() as u32; 4];
/// let evens = Datatype::vector(2, 1, 2)?;
/// let mut got = [0u32; 4];
/// let halves = [Datatype::contiguous(2), Datatype::contiguous(2).offset(2)];
/// comm.alltoallw(&row, &[evens.clone(), evens], &mut got, &halves).await?;
/// assert_eq!(got, [0, 0, 1, 1]);
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
pub trait TypedCollectives: Collectives {
    /// Sends the selection `send_types[d]` of `send` to member `d`, and receives member
    /// `s`'s block into the selection `recv_types[s]` of `recv` (`comm.Alltoallw`). Each
    /// block travels as its packed elements, so the receiving selection must hold as many
    /// as the sender's selects.
    ///
    /// ```
    /// use rmpi::datatype::Datatype;
    /// use rmpi::prelude::*;
    /// // A transpose: each rank holds a row of a 2x2 matrix and sends element d to rank d.
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let row = [comm.rank() * 10, comm.rank() * 10 + 1];
    ///     let one = |at: usize| Datatype::contiguous(1).offset(at);
    ///     let mut column = [0usize; 2];
    ///     comm.alltoallw(&row, &[one(0), one(1)], &mut column, &[one(0), one(1)]).await?;
    ///     Ok::<_, rmpi::Error>(column)
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), &[1, 11]);
    /// ```
    #[track_caller]
    fn alltoallw<'a, T: Pod + Send + Sync>(
        &self,
        send: &[T],
        send_types: &[Datatype],
        recv: &'a mut [T],
        recv_types: &'a [Datatype],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let size = self.comm().size();
        let planned = plan(send, send_types, recv_types, size);
        // Reserved now, in collective order: an empty exchange where the plan failed, which
        // the other members see as a size mismatch and fail with.
        let (packed, send_counts, recv_counts, error) = match planned {
            Ok((packed, send_counts, recv_counts)) => (packed, send_counts, recv_counts, None),
            Err(error) => (Vec::new(), vec![0; size], vec![0; size], Some(error)),
        };
        let received = vec![T::zeroed(); recv_counts.iter().sum()];
        let send_displs = displacements(&send_counts);
        let exchange = self.ialltoallv_buf(
            packed,
            (send_counts, send_displs),
            received,
            (recv_counts.clone(), displacements(&recv_counts)),
        );
        async move {
            let buffers = exchange.await;
            if let Some(error) = error {
                return Err(error);
            }
            let received = buffers?.recv;
            let mut at = 0;
            for (datatype, count) in recv_types.iter().zip(&recv_counts) {
                datatype.unpack(&received[at..at + count], recv)?;
                at += count;
            }
            Ok(())
        }
    }
}

impl<C: Collectives + ?Sized> TypedCollectives for C {}

/// Every member's block packed in rank order, and the element counts each way.
fn plan<T: Pod>(
    send: &[T],
    send_types: &[Datatype],
    recv_types: &[Datatype],
    size: usize,
) -> Result<(Vec<T>, Vec<usize>, Vec<usize>)> {
    if send_types.len() != size || recv_types.len() != size {
        return Err(Error::InvalidArgument(format!(
            "alltoallw needs one send and one receive datatype per member ({size}): got {} and {}",
            send_types.len(),
            recv_types.len()
        )));
    }
    let send_counts: Vec<usize> = send_types.iter().map(Datatype::count).collect();
    let mut packed = Vec::with_capacity(send_counts.iter().sum());
    for datatype in send_types {
        datatype.pack_onto(send, &mut packed)?;
    }
    let recv_counts = recv_types.iter().map(Datatype::count).collect();
    Ok((packed, send_counts, recv_counts))
}
