//! Reduction algorithms: reduce, allreduce, scan and exscan.
//!
//! They work on any [`Operand`]: a serde value combined whole, or a typed buffer combined
//! element by element. Every combination keeps lower ranks on the left, so non-commutative
//! operations get MPI's rank order.

use std::ops::Range;

use bytemuck::Pod;
use rmpi_core::{Loans, Result};

use crate::algorithm::AllreduceAlgorithm;
use crate::blocks::{binomial_bcast, largest_power_of_two};
use crate::fold::{self, FoldPlan, ACC, PREFIX, THEIRS};
use crate::op::Op;
use crate::operand::{copy_exact, with_elements, Operand};
use crate::round::{Round, ABORT_MAX};

/// Binomial-tree reduce (see [`plan_reduce`]).
pub(crate) async fn reduce<V: Operand>(
    round: &Round,
    root: usize,
    value: V,
    op: &V::Op,
    commutative: bool,
) -> Result<Option<V>> {
    let plan = plan_reduce(round.rank(), round.size(), root, commutative);
    fold::run(round, &plan, value, op).await
}

/// A binomial-tree reduce's part: each member folds in its children's subtrees, then sends
/// the result to its parent. Commutative operations reduce towards `root` directly; others
/// reduce in rank order towards rank 0, which then forwards the result to `root`.
pub(crate) fn plan_reduce(rank: usize, n: usize, root: usize, commutative: bool) -> FoldPlan {
    let tree_root = if commutative { root } else { 0 };
    let me = (rank + n - tree_root) % n;
    let mut plan = FoldPlan::default();
    let mut mask = 1;
    while mask < n {
        if me & mask != 0 {
            plan.send((me - mask + tree_root) % n, ACC);
            // A sender is never the tree's root, so a root that sends here is the real root
            // of a rank-ordered reduction: the result comes back from rank 0.
            if rank == root {
                plan.recv(tree_root, ACC);
                plan.result = Some(ACC);
            }
            return plan;
        }
        let child = me | mask;
        if child < n {
            plan.recv_fold((child + tree_root) % n, ACC, false);
        }
        mask <<= 1;
    }
    // This member is the tree's root.
    if rank == root {
        plan.result = Some(ACC);
    } else {
        plan.send(root, ACC);
    }
    plan
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
        // Objects cannot be split into segments; typed buffers take the others instead.
        AllreduceAlgorithm::ReduceBcast
        | AllreduceAlgorithm::Rabenseifner
        | AllreduceAlgorithm::SegmentOwners => {
            let shape = value.shape();
            let reduced = reduce(round, 0, value, op, commutative).await?;
            let message = reduced.map(|v| v.encode()).transpose()?;
            V::decode(shape, binomial_bcast(round, 0, message).await?, 0)
        }
    }
}

/// Recursive doubling (see [`plan_recursive_doubling`]).
async fn recursive_doubling<V: Operand>(round: &Round, value: V, op: &V::Op) -> Result<V> {
    let plan = plan_recursive_doubling(round.rank(), round.size());
    let result = fold::run(round, &plan, value, op).await?;
    Ok(result.expect("recursive doubling leaves every member the result"))
}

/// Recursive doubling (MPICH's short-message allreduce). With n not a power of two, the
/// first 2r ranks (r = n - pof2) pair up and the even one of each pair sits out, receiving
/// the result at the end. Values always combine lower ranks on the left.
pub(crate) fn plan_recursive_doubling(rank: usize, n: usize) -> FoldPlan {
    let pof2 = largest_power_of_two(n);
    let rem = n - pof2;
    let mut plan = FoldPlan::default();
    // Fold: even ranks below 2*rem hand their value to the odd rank above them.
    let new_rank = if rank < 2 * rem {
        if rank % 2 == 0 {
            plan.send(rank + 1, ACC);
            None
        } else {
            plan.recv_fold(rank - 1, ACC, true);
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
            plan.send(partner, ACC);
            plan.recv_fold(partner, ACC, partner < rank);
            mask <<= 1;
        }
    }
    // Unfold: hand the result back to the ranks that sat out.
    if rank < 2 * rem {
        if rank % 2 == 0 {
            plan.recv(rank + 1, ACC);
        } else {
            plan.send(rank - 1, ACC);
        }
    }
    plan.result = Some(ACC);
    plan
}

/// Rabenseifner's allreduce (MPICH's long-message one) on a typed buffer. Ranks fold to a
/// power of two as in recursive doubling; then a reduce-scatter by recursive halving leaves
/// each rank the reduction of one segment, and an allgather by recursive doubling (the same
/// exchanges in reverse) hands every segment to every rank. At each exchange both partners
/// hold the same segment, split at the same point, and their partial results cover aligned,
/// contiguous blocks of ranks, so combining the lower block on the left keeps rank order for
/// non-commutative operations too. `input` is this rank's contribution; `acc` ends holding
/// the result.
///
/// Parts are lent in place where the transport can (see [`rmpi_core::loan`]), so the
/// receiver copies them straight out of the sender's buffers; nothing is copied on the way
/// out. Every region lent is left alone until its reader is known to have read it: a half
/// given away in the reduce-scatter is next written when the partner sends the other half
/// back, after its read, and the halves sent in the allgather are never written again.
/// The loans still out at the end are waited for before returning the buffer to the caller.
/// The first halving takes its halves from `input`, so `acc` is never filled with a copy of
/// it: the partner's half lands in `acc` and `input`'s is combined into it, and the half of
/// `acc` given away there is free until the allgather, scratch space for the later halvings.
pub(crate) async fn rabenseifner<T: Pod + Send + Sync>(
    round: &Round,
    input: &[T],
    acc: &mut [T],
    op: &dyn Op<T>,
) -> Result<()> {
    let (rank, n) = (round.rank(), round.size());
    let pof2 = largest_power_of_two(n);
    let rem = n - pof2;
    let loans = Loans::new();
    // Whether `acc` holds this rank's partial result yet (else `input` alone has it).
    let mut started = false;
    let new_rank = if rank < 2 * rem {
        acc.copy_from_slice(input);
        started = true;
        if rank % 2 == 0 {
            round
                .send(rank + 1, Round::frame(bytemuck::cast_slice(acc)))
                .await?;
            None
        } else {
            let message = round.recv(rank - 1).await?;
            with_elements(&Round::body(&message), acc.len(), rank - 1, |theirs| {
                op.combine_slices(acc, theirs, true)
            })?;
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
        // Where a partner's half is received before it is combined, when not in `spare`.
        let mut free = 0..0;
        let mut spare: Vec<T> = Vec::new();
        let mut mask = 1;
        while mask < pof2 {
            let partner = real(me ^ mask);
            let mid = segment.start + segment.len() / 2;
            let (keep, give) = match me & mask {
                0 => (segment.start..mid, mid..segment.end),
                _ => (mid..segment.end, segment.start..mid),
            };
            if started {
                lend_part(round, partner, &acc[give.clone()], &loans).await?;
                let (kept, theirs) = if free.len() >= keep.len() {
                    disjoint_mut(acc, keep.clone(), free.start..free.start + keep.len())
                } else {
                    spare.resize(keep.len(), T::zeroed());
                    (&mut acc[keep.clone()], &mut spare[..])
                };
                recv_part(round, partner, theirs).await?;
                op.combine_slices(kept, theirs, partner < rank);
            } else {
                lend_part(round, partner, &input[give.clone()], &loans).await?;
                let kept = &mut acc[keep.clone()];
                recv_part(round, partner, kept).await?;
                // `kept` holds the partner's half: `input`'s is the other operand.
                op.combine_slices(kept, &input[keep.clone()], rank < partner);
                started = true;
                free = give.clone();
            }
            exchanges.push((partner, keep.clone(), give));
            segment = keep;
            mask <<= 1;
        }
        if !started {
            acc.copy_from_slice(input); // a single rank
        }
        for (partner, kept, given) in exchanges.into_iter().rev() {
            lend_part(round, partner, &acc[kept], &loans).await?;
            recv_part(round, partner, &mut acc[given]).await?;
        }
    }
    if rank < 2 * rem {
        if rank % 2 == 0 {
            recv_part(round, rank + 1, acc).await?;
        } else {
            lend_part(round, rank - 1, acc, &loans).await?;
        }
    }
    round.settle(&loans).await
}

/// Allreduce by segment owners, on a typed buffer: each rank owns one segment of the
/// vector, reads that segment of every other rank's input (lent in place where the
/// transport can), combines them in rank order, and hands the result to every other rank
/// (in one copy they all read where the transport can fan out, else lent to each). Each
/// rank reads about twice the vector, as in [`rabenseifner`], but in two steps whatever n
/// instead of 2·log2(n): on ranks that share cores, every step is a wait for the partner's
/// turn on a core. `input` is this rank's contribution; `acc` ends holding the result.
///
/// `input` is only read, so its segments are lent at once. The result segment is lent or
/// fanned out only once it is complete and is not written again; the other segments of
/// `acc` serve as scratch space while the result is combined, before the others' results
/// arrive in them.
pub(crate) async fn segment_owners<T: Pod + Send + Sync>(
    round: &Round,
    input: &[T],
    acc: &mut [T],
    op: &dyn Op<T>,
) -> Result<()> {
    let (rank, n, len) = (round.rank(), round.size(), acc.len());
    let segment = |k: usize| segment_of(len, n, k);
    let mine = segment(rank);
    // The ranks after this one first, so that the ranks do not all start with rank 0.
    let others: Vec<usize> = (1..n).map(|d| (rank + d) % n).collect();
    let loans = Loans::new();
    for &owner in &others {
        lend_part(round, owner, &input[segment(owner)], &loans).await?;
    }
    // Where the others' parts of this segment wait to be combined: acc outside `mine`.
    let mut spare: Vec<T> = Vec::new();
    let (result, scratch) = if mine.start >= mine.len() {
        disjoint_mut(acc, mine.clone(), 0..mine.len())
    } else if acc.len() - mine.end >= mine.len() {
        disjoint_mut(acc, mine.clone(), mine.end..mine.end + mine.len())
    } else {
        spare.resize(mine.len(), T::zeroed());
        (&mut acc[mine.clone()], &mut spare[..])
    };
    // `result` = input(0) ⊕ input(1) ⊕ … ⊕ input(n-1), on this segment.
    for contributor in 0..n {
        if contributor == rank {
            match contributor {
                0 => result.copy_from_slice(&input[mine.clone()]),
                _ => op.combine_slices(result, &input[mine.clone()], false),
            }
        } else if contributor == 0 {
            recv_part(round, contributor, result).await?;
        } else {
            recv_part(round, contributor, scratch).await?;
            op.combine_slices(result, scratch, false);
        }
    }
    let bytes: &[u8] = bytemuck::cast_slice(&acc[mine.clone()]);
    let fanned =
        others.len() > 1 && bytes.len() > ABORT_MAX && round.fan_out_data(&others, bytes)?;
    if !fanned {
        for &member in &others {
            lend_part(round, member, &acc[mine.clone()], &loans).await?;
        }
    }
    for &owner in &others {
        recv_part(round, owner, &mut acc[segment(owner)]).await?;
    }
    round.settle(&loans).await
}

/// The `k`th of `n` segments of a vector of `len` elements: as even as can be, the longer
/// ones first.
fn segment_of(len: usize, n: usize, k: usize) -> Range<usize> {
    let (base, extra) = (len / n, len % n);
    let start = k * base + k.min(extra);
    start..start + base + usize::from(k < extra)
}

/// Two disjoint ranges of `slice`, both mutable.
fn disjoint_mut<T>(slice: &mut [T], a: Range<usize>, b: Range<usize>) -> (&mut [T], &mut [T]) {
    debug_assert!(
        a.end <= b.start || b.end <= a.start,
        "{a:?} and {b:?} overlap"
    );
    if a.start < b.start {
        let (low, high) = slice.split_at_mut(b.start);
        (&mut low[a], &mut high[..b.len()])
    } else {
        let (low, high) = slice.split_at_mut(a.start);
        (&mut high[..a.len()], &mut low[b])
    }
}

/// Sends a part of an allreduce's buffer, which the caller leaves alone until `loans` are
/// settled: one longer than any abort bare, lent in place where the transport can (else
/// copied once, straight from `part`), a shorter one framed. [`recv_part`] at the other
/// end makes the same choice from the same length.
async fn lend_part<T: Pod>(round: &Round, dest: usize, part: &[T], loans: &Loans) -> Result<()> {
    let bytes: &[u8] = bytemuck::cast_slice(part);
    if bytes.len() > ABORT_MAX {
        match round.lend_data(dest, bytes, loans).await? {
            true => Ok(()),
            false => round.send_data(dest, bytes).await,
        }
    } else {
        round.send(dest, Round::frame(bytes)).await
    }
}

/// Receives what [`lend_part`] sent into `part`: a bare part straight from the ring (or the
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

/// Inclusive (`exclusive = false`) or exclusive prefix reduction (see [`plan_scan`]).
pub(crate) async fn scan<V: Operand>(
    round: &Round,
    value: V,
    op: &V::Op,
    exclusive: bool,
) -> Result<Option<V>> {
    let plan = plan_scan(round.rank(), round.size(), exclusive);
    fold::run(round, &plan, value, op).await
}

/// A prefix reduction by recursive doubling (MPICH's scan): after round k, [`ACC`] holds
/// the reduction of the 2^k ranks ending here and [`PREFIX`] that of the ranks before this
/// one seen so far; rank 0 has no exclusive result.
pub(crate) fn plan_scan(rank: usize, n: usize, exclusive: bool) -> FoldPlan {
    let mut plan = FoldPlan::default();
    let mut have_prefix = false;
    let mut mask = 1;
    while mask < n {
        if rank + mask < n {
            plan.send(rank + mask, ACC);
        }
        if rank >= mask {
            plan.recv_fold(rank - mask, ACC, true);
            if have_prefix {
                plan.fold(THEIRS, PREFIX, true);
            } else {
                plan.move_to(THEIRS, PREFIX);
                have_prefix = true;
            }
        }
        mask <<= 1;
    }
    plan.result = match exclusive {
        false => Some(ACC),
        true => have_prefix.then_some(PREFIX),
    };
    plan
}

#[cfg(test)]
mod tests;
