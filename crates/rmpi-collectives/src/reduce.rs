//! Reduction algorithms: reduce, allreduce, scan and exscan.
//!
//! They work on any [`Operand`]: a serde value combined whole, or a typed buffer combined
//! element by element. Every combination keeps lower ranks on the left, so non-commutative
//! operations get MPI's rank order.

use bytemuck::Pod;
use rmpi_core::{Bytes, Result};

use crate::algorithm::AllreduceAlgorithm;
use crate::blocks::binomial_bcast;
use crate::op::Op;
use crate::operand::{copy_exact, with_elements};
use crate::round::{Round, ABORT_MAX};

/// What a reduction moves and combines.
pub(crate) trait Operand: Sized + Send {
    /// What a receiver must know to decode a value (a buffer's length; nothing for objects).
    type Shape: Copy + Send + Sync;
    /// The operation type.
    type Op: ?Sized + Sync;
    /// This value's shape.
    fn shape(&self) -> Self::Shape;
    /// A framed message carrying the value.
    fn encode(&self) -> Result<Bytes>;
    /// The value in a framed message received from `source`.
    fn decode(shape: Self::Shape, message: Bytes, source: usize) -> Result<Self>;
    /// `lower ⊕ higher`.
    fn combine(lower: &Self, higher: &Self, op: &Self::Op) -> Self;
}

/// Binomial-tree reduce. Commutative operations reduce towards `root` directly; others
/// reduce in rank order towards rank 0, which then forwards the result to `root`.
pub(crate) async fn reduce<V: Operand>(
    round: &Round,
    root: usize,
    value: V,
    op: &V::Op,
    commutative: bool,
) -> Result<Option<V>> {
    let (rank, n) = (round.rank(), round.size());
    let tree_root = if commutative { root } else { 0 };
    let me = (rank + n - tree_root) % n;
    let shape = value.shape();
    let mut acc = value;
    let mut mask = 1;
    while mask < n {
        if me & mask == 0 {
            let child = me | mask;
            if child < n {
                let source = (child + tree_root) % n;
                let theirs = V::decode(shape, round.recv(source).await?, source)?;
                acc = V::combine(&acc, &theirs, op);
            }
        } else {
            round
                .send((me - mask + tree_root) % n, acc.encode()?)
                .await?;
            // A sender is never the tree's root, so a root that sends here is the real root
            // of a rank-ordered reduction: the result comes back from rank 0.
            return if rank == root {
                V::decode(shape, round.recv(tree_root).await?, tree_root).map(Some)
            } else {
                Ok(None)
            };
        }
        mask <<= 1;
    }
    // This rank is the tree's root.
    if rank == root {
        Ok(Some(acc))
    } else {
        round.send(root, acc.encode()?).await?;
        Ok(None)
    }
}

/// Allreduce by the chosen algorithm.
pub(crate) async fn allreduce<V: Operand>(
    round: &Round,
    value: V,
    op: &V::Op,
    commutative: bool,
    algorithm: AllreduceAlgorithm,
) -> Result<V> {
    match algorithm {
        AllreduceAlgorithm::RecursiveDoubling => recursive_doubling(round, value, op).await,
        // Objects cannot be split into segments; typed buffers take `rabenseifner` instead.
        AllreduceAlgorithm::ReduceBcast | AllreduceAlgorithm::Rabenseifner => {
            let shape = value.shape();
            let reduced = reduce(round, 0, value, op, commutative).await?;
            let message = reduced.map(|v| v.encode()).transpose()?;
            V::decode(shape, binomial_bcast(round, 0, message).await?, 0)
        }
    }
}

/// Recursive doubling (MPICH's short-message allreduce). With n not a power of two, the
/// first 2r ranks (r = n - pof2) pair up and the even one of each pair sits out, receiving
/// the result at the end. Blocks always combine lower ranks on the left.
async fn recursive_doubling<V: Operand>(round: &Round, value: V, op: &V::Op) -> Result<V> {
    let (rank, n) = (round.rank(), round.size());
    let pof2 = largest_power_of_two(n);
    let rem = n - pof2;
    let shape = value.shape();
    let mut acc = value;
    // Fold: even ranks below 2*rem hand their value to the odd rank above them.
    let new_rank = if rank < 2 * rem {
        if rank % 2 == 0 {
            round.send(rank + 1, acc.encode()?).await?;
            None
        } else {
            let theirs = V::decode(shape, round.recv(rank - 1).await?, rank - 1)?;
            acc = V::combine(&theirs, &acc, op);
            Some(rank / 2)
        }
    } else {
        Some(rank - rem)
    };
    let real = |new: usize| if new < rem { new * 2 + 1 } else { new + rem };
    if let Some(me) = new_rank {
        let mut mask = 1;
        while mask < pof2 {
            let partner = real(me ^ mask);
            round.send(partner, acc.encode()?).await?;
            let theirs = V::decode(shape, round.recv(partner).await?, partner)?;
            acc = if partner < rank {
                V::combine(&theirs, &acc, op)
            } else {
                V::combine(&acc, &theirs, op)
            };
            mask <<= 1;
        }
    }
    // Unfold: hand the result back to the ranks that sat out.
    if rank < 2 * rem {
        if rank % 2 == 0 {
            acc = V::decode(shape, round.recv(rank + 1).await?, rank + 1)?;
        } else {
            round.send(rank - 1, acc.encode()?).await?;
        }
    }
    Ok(acc)
}

/// Rabenseifner's allreduce (MPICH's long-message one) on a typed buffer. Ranks fold to a
/// power of two as in recursive doubling; then a reduce-scatter by recursive halving leaves
/// each rank the reduction of one segment, and an allgather by recursive doubling (the same
/// exchanges in reverse) hands every segment to every rank. At each exchange both partners
/// hold the same segment, split at the same point, and their partial results cover aligned,
/// contiguous blocks of ranks, so combining the lower block on the left keeps rank order for
/// non-commutative operations too. `acc` holds this rank's contribution and ends holding the
/// result.
pub(crate) async fn rabenseifner<T: Pod + Send + Sync>(
    round: &Round,
    acc: &mut [T],
    op: &dyn Op<T>,
) -> Result<()> {
    let (rank, n) = (round.rank(), round.size());
    let pof2 = largest_power_of_two(n);
    let rem = n - pof2;
    // Combines `source`'s message into `acc`, straight from the message.
    let combine = |source: usize, message: Bytes, acc: &mut [T], theirs_lower: bool| {
        with_elements(&Round::body(&message), acc.len(), source, |theirs| {
            op.combine_slices(acc, theirs, theirs_lower)
        })
    };
    let new_rank = if rank < 2 * rem {
        if rank % 2 == 0 {
            round
                .send(rank + 1, Round::frame(bytemuck::cast_slice(acc)))
                .await?;
            None
        } else {
            let message = round.recv(rank - 1).await?;
            combine(rank - 1, message, acc, true)?;
            Some(rank / 2)
        }
    } else {
        Some(rank - rem)
    };
    let real = |new: usize| if new < rem { new * 2 + 1 } else { new + rem };
    if let Some(me) = new_rank {
        // (partner, the range kept, the range given) of each halving, replayed in reverse.
        let mut exchanges = Vec::new();
        let mut segment = 0..acc.len();
        let mut mask = 1;
        while mask < pof2 {
            let partner = real(me ^ mask);
            let mid = segment.start + segment.len() / 2;
            let (keep, give) = match me & mask {
                0 => (segment.start..mid, mid..segment.end),
                _ => (mid..segment.end, segment.start..mid),
            };
            round
                .send(
                    partner,
                    Round::frame(bytemuck::cast_slice(&acc[give.clone()])),
                )
                .await?;
            let message = round.recv(partner).await?;
            combine(partner, message, &mut acc[keep.clone()], partner < rank)?;
            exchanges.push((partner, keep.clone(), give));
            segment = keep;
            mask <<= 1;
        }
        for (partner, kept, given) in exchanges.into_iter().rev() {
            send_part(round, partner, &acc[kept]).await?;
            recv_part(round, partner, &mut acc[given]).await?;
        }
    }
    if rank < 2 * rem {
        if rank % 2 == 0 {
            recv_part(round, rank + 1, acc).await?;
        } else {
            send_part(round, rank - 1, acc).await?;
        }
    }
    Ok(())
}

/// Sends a finished part of an allreduce's result: one longer than any abort bare, copied
/// once, straight from `part` (into the ring, or into memory the transport lends), else
/// framed. [`recv_part`] at the other end makes the same choice from the same length.
async fn send_part<T: Pod>(round: &Round, dest: usize, part: &[T]) -> Result<()> {
    let bytes: &[u8] = bytemuck::cast_slice(part);
    if bytes.len() > ABORT_MAX {
        round.send_data(dest, bytes).await
    } else {
        round.send(dest, Round::frame(bytes)).await
    }
}

/// Receives what [`send_part`] sent into `part`: a bare part straight from the ring (or the
/// sender's memory), with no message to copy it out of.
async fn recv_part<T: Pod>(round: &Round, source: usize, part: &mut [T]) -> Result<()> {
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(part);
    if bytes.len() > ABORT_MAX {
        round.recv_data_into(source, bytes).await
    } else {
        let theirs = Round::body(&round.recv(source).await?);
        copy_exact(&theirs, bytes, source)
    }
}

/// The largest power of two not above `n` (n ≥ 1).
pub(crate) fn largest_power_of_two(n: usize) -> usize {
    if n.is_power_of_two() {
        n
    } else {
        n.next_power_of_two() / 2
    }
}

/// Inclusive (`exclusive = false`) or exclusive prefix reduction by recursive doubling
/// (MPICH's scan): after round k, `partial` holds the reduction of the 2^k ranks ending here.
pub(crate) async fn scan<V: Operand>(
    round: &Round,
    value: V,
    op: &V::Op,
    exclusive: bool,
) -> Result<Option<V>> {
    let (rank, n) = (round.rank(), round.size());
    let shape = value.shape();
    // `partial`: ranks (rank - 2^k, rank]; `prefix`: ranks [0, rank) seen so far.
    let mut partial = value;
    let mut prefix: Option<V> = None;
    let mut mask = 1;
    while mask < n {
        if rank + mask < n {
            round.send(rank + mask, partial.encode()?).await?;
        }
        if rank >= mask {
            let source = rank - mask;
            let theirs = V::decode(shape, round.recv(source).await?, source)?;
            partial = V::combine(&theirs, &partial, op);
            prefix = Some(match prefix {
                Some(p) => V::combine(&theirs, &p, op),
                None => theirs,
            });
        }
        mask <<= 1;
    }
    Ok(if exclusive { prefix } else { Some(partial) })
}
