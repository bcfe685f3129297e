//! Neighbourhood collectives on a Cartesian communicator (`MPI_Neighbor_allgather`,
//! `MPI_Neighbor_alltoall`): each member exchanges with the ranks beside it on the grid, as a
//! stencil code's halo exchange does, instead of with every member.
//!
//! Neighbours come in MPI's order: for each dimension, the one a step back, then the one a
//! step ahead ([`Cartesian::neighbours`](rmpi_core::topology::Cartesian::neighbours)); a
//! slot past the edge of a non-periodic dimension has no neighbour and gets nothing. Block
//! `2d` goes to the neighbour back along dimension `d` and `2d + 1` to the one ahead; what
//! arrives from the neighbour back lands in slot `2d`, from the one ahead in `2d + 1`.
//!
//! ```
//! use rmpi::prelude::*;
//! let results = rmpi::local::run(3, |comm| async move {
//!     let ring = comm.create_cart(&[3], &[true]).await?.unwrap();
//!     ring.neighbor_allgather(ring.rank()).await
//! });
//! // Rank 0 on a ring of 3: rank 2 is back, rank 1 ahead.
//! assert_eq!(results[0].as_ref().unwrap(), &[Some(2), Some(1)]);
//! ```

use std::future::Future;

use bytemuck::Pod;
use rmpi_core::waits::Operation;
use rmpi_core::{Bytes, Error, Result};
use serde::{de::DeserializeOwned, Serialize};

use crate::buffers::check_len;
use crate::operand::{decode_object, encode_object};
use crate::round::Round;
use crate::Collectives;

/// Neighbourhood collectives, for any communicator that has a Cartesian topology
/// ([`Comm::create_cart`](rmpi_core::Comm::create_cart)); on others they fail with an
/// error saying so. Every member of the communicator calls them, in the same order as its
/// other collectives. In [`prelude`](crate) with [`Collectives`].
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
/// // A 2x2 grid that wraps around: each rank has a neighbour on each side of each axis.
/// let grid = comm.create_cart(&[2, 2], &[true, true]).await?.unwrap();
/// let heard = grid.neighbor_allgather(grid.rank()).await?;
/// assert_eq!(heard.len(), 4);
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
pub trait NeighborCollectives: Collectives {
    /// Sends `value` to every neighbour and returns what each sent, by slot
    /// (`comm.neighbor_allgather(x)`); `None` where there is no neighbour.
    ///
    /// ```
    /// use rmpi::prelude::*;
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let line = comm.create_cart(&[2], &[false]).await?.unwrap();
    ///     line.neighbor_allgather(line.rank() * 10).await
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[None, Some(10)]);
    /// ```
    #[track_caller]
    fn neighbor_allgather<T: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        value: T,
    ) -> impl Future<Output = Result<Vec<Option<T>>>> + Send + 'static {
        let (round, neighbours) = start(self, "neighbor_allgather");
        let plan = encode_object(&value).and_then(|block| {
            let neighbours = neighbours?;
            Ok((vec![block; neighbours.len()], neighbours))
        });
        objects_exchange(round, plan)
    }

    /// Sends `values[slot]` to each slot's neighbour and returns what each sent here, by
    /// slot (`comm.neighbor_alltoall(values)`); `values` has two entries per dimension.
    ///
    /// ```
    /// use rmpi::prelude::*;
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let ring = comm.create_cart(&[2], &[true]).await?.unwrap();
    ///     let me = ring.rank() as i32;
    ///     // To the neighbour back: -me; ahead: +me.
    ///     ring.neighbor_alltoall(vec![-me, me]).await
    /// });
    /// // Rank 0's neighbour both ways is rank 1: from back comes its "ahead" block.
    /// assert_eq!(results[0].as_ref().unwrap(), &[Some(1), Some(-1)]);
    /// ```
    #[track_caller]
    fn neighbor_alltoall<T: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        values: Vec<T>,
    ) -> impl Future<Output = Result<Vec<Option<T>>>> + Send + 'static {
        let (round, neighbours) = start(self, "neighbor_alltoall");
        let blocks: Result<Vec<Bytes>> = values.iter().map(|v| encode_object(v)).collect();
        let plan = blocks.and_then(|blocks| {
            let neighbours = neighbours?;
            check_len(
                "the neighbor_alltoall vector",
                blocks.len(),
                neighbours.len(),
            )?;
            Ok((blocks, neighbours))
        });
        objects_exchange(round, plan)
    }

    /// Sends `send` to every neighbour and receives each neighbour's into its slot's block
    /// of `recv`, which holds one `send`-sized block per slot (`comm.Neighbor_allgather`);
    /// blocks without a neighbour are left as they were.
    ///
    /// ```
    /// use rmpi::prelude::*;
    /// let results = rmpi::local::run(3, |comm| async move {
    ///     let line = comm.create_cart(&[3], &[false]).await?.unwrap();
    ///     let mut recv = [-1i64; 2];
    ///     line.neighbor_allgather_buf(&[line.rank() as i64], &mut recv).await?;
    ///     Ok::<_, rmpi::Error>(recv)
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), &[0, 2]);
    /// assert_eq!(results[2].as_ref().unwrap(), &[1, -1]);
    /// ```
    #[track_caller]
    fn neighbor_allgather_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let (round, neighbours) = start(self, "neighbor_allgather_buf");
        let plan = neighbours.map(|neighbours| {
            let block = Round::frame(bytemuck::cast_slice(send));
            (vec![block; neighbours.len()], send.len(), neighbours)
        });
        buffers_exchange(round, plan, recv)
    }

    /// Sends block `slot` of `send` to each slot's neighbour and receives each neighbour's
    /// into its slot's block of `recv` (`comm.Neighbor_alltoall`); both hold one equal
    /// block per slot, and blocks without a neighbour are left as they were.
    ///
    /// ```
    /// use rmpi::prelude::*;
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let line = comm.create_cart(&[2], &[false]).await?.unwrap();
    ///     let me = line.rank() as u8;
    ///     let mut recv = [0u8; 2];
    ///     line.neighbor_alltoall_buf(&[10 + me, 20 + me], &mut recv).await?;
    ///     Ok::<_, rmpi::Error>(recv)
    /// });
    /// // Rank 1's neighbour back is rank 0, whose block for "ahead" is 20.
    /// assert_eq!(results[1].as_ref().unwrap(), &[20, 0]);
    /// ```
    #[track_caller]
    fn neighbor_alltoall_buf<'a, T: Pod + Send + Sync>(
        &self,
        send: &'a [T],
        recv: &'a mut [T],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let (round, neighbours) = start(self, "neighbor_alltoall_buf");
        let plan = neighbours.and_then(|neighbours| {
            let slots = neighbours.len();
            if send.len() % slots != 0 || recv.len() != send.len() {
                return Err(Error::InvalidArgument(format!(
                    "neighbor_alltoall_buf needs send and recv of one equal block per \
                     neighbour slot ({slots}): got {} and {} elements",
                    send.len(),
                    recv.len()
                )));
            }
            let block = send.len() / slots;
            let blocks = (0..slots)
                .map(|slot| {
                    Round::frame(bytemuck::cast_slice(
                        &send[slot * block..(slot + 1) * block],
                    ))
                })
                .collect();
            Ok((blocks, block, neighbours))
        });
        buffers_exchange(round, plan, recv)
    }
}

impl<C: Collectives + ?Sized> NeighborCollectives for C {}

/// The collective's round, reserved now, and this member's neighbours on the grid.
#[track_caller]
fn start<C: Collectives + ?Sized>(
    comm: &C,
    name: &'static str,
) -> (Round, Result<Vec<Option<usize>>>) {
    let comm = comm.comm();
    let round = Round::start(comm, Operation::collective(name, None));
    let neighbours = match comm.cartesian() {
        Some(grid) => grid.neighbours(comm.rank()),
        None => Err(Error::InvalidArgument(format!(
            "{name} needs a communicator with a Cartesian topology (create_cart); {} has none",
            comm.name()
        ))),
    };
    (round, neighbours)
}

/// Runs an object exchange planned at call time: each slot's encoded block, and the
/// neighbours; the values that came back, by slot.
async fn objects_exchange<T: DeserializeOwned>(
    round: Round,
    plan: Result<(Vec<Bytes>, Vec<Option<usize>>)>,
) -> Result<Vec<Option<T>>> {
    round
        .run(async {
            let (blocks, neighbours) = plan?;
            let incoming = exchange(&round, &neighbours, blocks).await?;
            decode_slots(incoming, &neighbours)
        })
        .await
}

/// Runs a typed-buffer exchange planned at call time: each slot's framed block, the
/// elements per block, and the neighbours; what came back lands in `recv`'s blocks.
async fn buffers_exchange<T: Pod>(
    round: Round,
    plan: Result<(Vec<Bytes>, usize, Vec<Option<usize>>)>,
    recv: &mut [T],
) -> Result<()> {
    round
        .run(async {
            let (blocks, block, neighbours) = plan?;
            let incoming = exchange_framed(&round, &neighbours, blocks).await?;
            place_blocks(incoming, recv, block, &neighbours)
        })
        .await
}

/// Object blocks as framed messages, exchanged by [`exchange_framed`]; bodies back.
async fn exchange(
    round: &Round,
    neighbours: &[Option<usize>],
    blocks: Vec<Bytes>,
) -> Result<Vec<Option<Bytes>>> {
    let framed = blocks.iter().map(|block| Round::frame(block)).collect();
    exchange_framed(round, neighbours, framed).await
}

/// Sends block `slot` to each slot's neighbour and receives each slot's block, as the
/// module describes. A neighbour may fill two slots (both ways along a periodic dimension
/// of 2, or this rank itself along one of 1): its messages arrive in the order it sent
/// them, back before ahead, which is ahead before back as this rank sees them, so the
/// receives are made in that order.
async fn exchange_framed(
    round: &Round,
    neighbours: &[Option<usize>],
    blocks: Vec<Bytes>,
) -> Result<Vec<Option<Bytes>>> {
    for (dest, block) in neighbours.iter().zip(blocks) {
        if let Some(dest) = *dest {
            round.send(dest, block).await?;
        }
    }
    let mut incoming = vec![None; neighbours.len()];
    for dimension in 0..neighbours.len() / 2 {
        for slot in [2 * dimension + 1, 2 * dimension] {
            if let Some(source) = neighbours[slot] {
                incoming[slot] = Some(Round::body(&round.recv(source).await?));
            }
        }
    }
    Ok(incoming)
}

fn decode_slots<T: DeserializeOwned>(
    incoming: Vec<Option<Bytes>>,
    neighbours: &[Option<usize>],
) -> Result<Vec<Option<T>>> {
    incoming
        .into_iter()
        .zip(neighbours)
        .map(|(block, source)| match (block, source) {
            (Some(block), Some(source)) => decode_object(&block, *source).map(Some),
            _ => Ok(None),
        })
        .collect()
}

/// Copies each slot's block into its place in `recv`, refusing blocks of the wrong size.
fn place_blocks<T: Pod>(
    incoming: Vec<Option<Bytes>>,
    recv: &mut [T],
    block: usize,
    neighbours: &[Option<usize>],
) -> Result<()> {
    check_len(
        "the receive buffer's blocks",
        recv.len(),
        block * neighbours.len(),
    )?;
    let recv: &mut [u8] = bytemuck::cast_slice_mut(recv);
    let bytes = block * std::mem::size_of::<T>();
    for (slot, data) in incoming.into_iter().enumerate() {
        if let (Some(data), Some(source)) = (data, neighbours[slot]) {
            crate::operand::copy_exact(&data, &mut recv[slot * bytes..(slot + 1) * bytes], source)?;
        }
    }
    Ok(())
}
