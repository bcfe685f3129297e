//! Algorithms that move blocks of bytes: barrier, scatter, gather, allgather, alltoall, and
//! the trees that broadcasts and reductions share.
//!
//! Each algorithm is a planner, a pure function from a member's rank, the communicator's
//! size and the root to that member's [`Schedule`]; [`schedule::run`] carries it out. Both
//! flavours run on these: a typed buffer is one block of its bytes, an object is one block
//! of its encoding. Blocks may differ in size from rank to rank (objects do). Slots are
//! numbered by the rank whose block they hold, except in the alltoall planners, which say
//! theirs. Trees work in ranks relative to the root, so the root is always relative rank 0.
//! Every rank count works, powers of two or not.

use std::ops::Range;

use rmpi_core::{Bytes, Error, Result};

use crate::algorithm::{AllgatherAlgorithm, AlltoallAlgorithm, BarrierAlgorithm};
use crate::round::Round;
use crate::schedule::{self, Schedule};

fn relative(rank: usize, root: usize, n: usize) -> usize {
    (rank + n - root) % n
}

fn absolute(relative: usize, root: usize, n: usize) -> usize {
    (relative + root) % n
}

/// The ranks of relative ranks `range`, for a tree rooted at `root`.
fn absolutes(range: Range<usize>, root: usize, n: usize) -> impl Iterator<Item = usize> {
    range.map(move |r| absolute(r, root, n))
}

/// A barrier by `algorithm`.
pub(crate) async fn barrier(round: &Round, algorithm: BarrierAlgorithm) -> Result<()> {
    let plan = plan_barrier(round.rank(), round.size(), algorithm);
    schedule::run(round, &plan, Vec::new()).await.map(drop)
}

/// A barrier's part for `rank` of `n`. Dissemination: in round k every rank signals
/// rank + 2^k and waits for rank - 2^k; after ceil(log2 n) rounds everyone has heard,
/// directly or not, from everyone. Flat: every member signals rank 0; rank 0, once it has
/// heard from all, tells each that all have (two steps whatever n).
pub(crate) fn plan_barrier(rank: usize, n: usize, algorithm: BarrierAlgorithm) -> Schedule {
    let mut plan = Schedule::default();
    match algorithm {
        BarrierAlgorithm::Dissemination => {
            let mut distance = 1;
            while distance < n {
                plan.send((rank + distance) % n, []);
                plan.recv((rank + n - distance) % n, []);
                distance *= 2;
            }
        }
        BarrierAlgorithm::Flat if rank == 0 => {
            for member in 1..n {
                plan.recv(member, []);
            }
            for member in 1..n {
                plan.send(member, []);
            }
        }
        BarrierAlgorithm::Flat => {
            plan.send(0, []);
            plan.recv(0, []);
        }
    }
    plan
}

/// Where `rank` sits in a binomial tree of `n` rooted at `root`: its parent (none for the
/// root) and its children, largest subtree first.
pub(crate) fn tree_links(rank: usize, n: usize, root: usize) -> (Option<usize>, Vec<usize>) {
    let me = relative(rank, root, n);
    let parent = (me != 0).then(|| absolute(me - lowest_bit(me), root, n));
    (parent, tree_children(rank, n, root).collect())
}

/// The children of `rank` in a binomial tree of `n` rooted at `root`, largest subtree
/// first (see [`tree_links`]), without collecting them.
pub(crate) fn tree_children(rank: usize, n: usize, root: usize) -> impl Iterator<Item = usize> {
    let me = relative(rank, root, n);
    // A member's subtree spans the bits below its lowest set one; the root's, all of them.
    let span = match me {
        0 => n.next_power_of_two(),
        _ => lowest_bit(me),
    };
    std::iter::successors(Some(span >> 1), |&mask| Some(mask >> 1))
        .take_while(|&mask| mask > 0)
        .filter(move |&mask| me + mask < n)
        .map(move |mask| absolute(me + mask, root, n))
}

fn lowest_bit(x: usize) -> usize {
    x & x.wrapping_neg()
}

/// Where this member sits in a binomial tree rooted at `root` (see [`tree_links`]).
pub(crate) fn binomial_links(round: &Round, root: usize) -> (Option<usize>, Vec<usize>) {
    tree_links(round.rank(), round.size(), root)
}

/// Binomial-tree broadcast of one framed message, forwarded without copies.
pub(crate) async fn binomial_bcast(
    round: &Round,
    root: usize,
    message: Option<Bytes>,
) -> Result<Bytes> {
    let (parent, children) = binomial_links(round, root);
    let message = match parent {
        Some(parent) => round.recv(parent).await?,
        None => message.ok_or_else(|| Error::InvalidArgument("bcast root has no data".into()))?,
    };
    for child in children {
        round.send(child, message.clone()).await?;
    }
    Ok(message)
}

/// Binomial-tree scatter: the root holds one block per rank (indexed by rank); each subtree
/// receives its blocks in one message. Returns this rank's block.
pub(crate) async fn binomial_scatter(
    round: &Round,
    root: usize,
    blocks: Option<Vec<Bytes>>,
) -> Result<Bytes> {
    let rank = round.rank();
    let inputs = match blocks {
        Some(blocks) if rank == root => blocks,
        _ if rank == root => return Err(Error::InvalidArgument("scatter root has no data".into())),
        _ => Vec::new(),
    };
    let plan = plan_binomial_scatter(rank, round.size(), root);
    let mut mine = schedule::run(round, &plan, inputs).await?;
    Ok(mine
        .pop()
        .expect("a scatter's part ends with this member's block"))
}

/// A binomial scatter's part: the root starts with every block, a member receives its
/// subtree's blocks from its parent and passes each child subtree's on; ends with its own.
pub(crate) fn plan_binomial_scatter(rank: usize, n: usize, root: usize) -> Schedule {
    let me = relative(rank, root, n);
    let mut plan = Schedule::with_slots(n);
    if me == 0 {
        plan.inputs = (0..n).collect();
    }
    let mut mask = 1;
    while mask < n {
        if me & mask != 0 {
            let span = mask.min(n - me);
            plan.recv(
                absolute(me - mask, root, n),
                absolutes(me..me + span, root, n),
            );
            break;
        }
        mask <<= 1;
    }
    mask >>= 1;
    while mask > 0 {
        let child = me + mask;
        if child < n {
            let span = mask.min(n - child);
            plan.send(
                absolute(child, root, n),
                absolutes(child..child + span, root, n),
            );
        }
        mask >>= 1;
    }
    plan.outputs = vec![rank];
    plan
}

/// Binomial-tree gather: returns every rank's block, indexed by rank, at the root.
pub(crate) async fn binomial_gather(
    round: &Round,
    root: usize,
    mine: Bytes,
) -> Result<Option<Vec<Bytes>>> {
    let plan = plan_binomial_gather(round.rank(), round.size(), root);
    let blocks = schedule::run(round, &plan, vec![mine]).await?;
    Ok((round.rank() == root).then_some(blocks))
}

/// A binomial gather's part: a member collects its children's subtrees, then sends its own
/// subtree's blocks to its parent in one message; the root ends with every block.
pub(crate) fn plan_binomial_gather(rank: usize, n: usize, root: usize) -> Schedule {
    let me = relative(rank, root, n);
    let mut plan = Schedule::with_slots(n);
    plan.inputs = vec![rank];
    let mut mask = 1;
    while mask < n {
        if me & mask != 0 {
            let held = mask.min(n - me);
            plan.send(
                absolute(me - mask, root, n),
                absolutes(me..me + held, root, n),
            );
            return plan;
        }
        let child = me | mask;
        if child < n {
            let span = mask.min(n - child);
            plan.recv(
                absolute(child, root, n),
                absolutes(child..child + span, root, n),
            );
        }
        mask <<= 1;
    }
    plan.outputs = (0..n).collect();
    plan
}

/// Allgather of one block per rank; returns every block, indexed by rank.
pub(crate) async fn allgather(
    round: &Round,
    mine: Bytes,
    algorithm: AllgatherAlgorithm,
) -> Result<Vec<Bytes>> {
    let plan = plan_allgather(round.rank(), round.size(), algorithm);
    schedule::run(round, &plan, vec![mine]).await
}

/// Ring allgather (see [`plan_allgather`]).
pub(crate) async fn ring_allgather(round: &Round, mine: Bytes) -> Result<Vec<Bytes>> {
    allgather(round, mine, AllgatherAlgorithm::Ring).await
}

/// An allgather's part by `algorithm`. Ring: n - 1 steps, each passing the block last
/// received to the right. Bruck: in round k send the 2^k blocks held so far to rank - 2^k.
/// Recursive doubling: ranks beyond the largest power of two hand their block to a partner
/// below it and sit out; the rest exchange groups of doubling size with rank ^ 2^k.
pub(crate) fn plan_allgather(rank: usize, n: usize, algorithm: AllgatherAlgorithm) -> Schedule {
    let mut plan = Schedule::with_slots(n);
    plan.inputs = vec![rank];
    plan.outputs = (0..n).collect();
    match algorithm {
        AllgatherAlgorithm::Ring => {
            let (left, right) = ((rank + n - 1) % n, (rank + 1) % n);
            for step in 0..n - 1 {
                plan.send(right, [(rank + n - step) % n]);
                plan.recv(left, [(rank + n - step - 1) % n]);
            }
        }
        AllgatherAlgorithm::Bruck => {
            // After round k this member holds the blocks of rank .. rank + 2^(k+1).
            let mut distance = 1;
            while distance < n {
                let count = distance.min(n - distance);
                let held = (rank..rank + count).map(|r| r % n);
                plan.send((rank + n - distance) % n, held);
                let arriving = (rank + distance..rank + distance + count).map(|r| r % n);
                plan.recv((rank + distance) % n, arriving);
                distance *= 2;
            }
        }
        AllgatherAlgorithm::RecursiveDoubling => plan_recursive_doubling(rank, n, &mut plan),
    }
    plan
}

fn plan_recursive_doubling(rank: usize, n: usize, plan: &mut Schedule) {
    let pof2 = largest_power_of_two(n);
    if rank >= pof2 {
        plan.send(rank - pof2, [rank]);
        plan.recv(rank - pof2, 0..n);
        return;
    }
    let extra = rank + pof2;
    if extra < n {
        plan.recv(extra, [extra]);
    }
    // Each rank below pof2 stands for itself and its extra.
    let group = |base: usize, size: usize| {
        (base..base + size)
            .flat_map(move |r| [r, r + pof2])
            .filter(move |&r| r < n)
    };
    let mut mask = 1;
    while mask < pof2 {
        let partner = rank ^ mask;
        plan.send(partner, group(rank & !(mask - 1), mask));
        plan.recv(partner, group(partner & !(mask - 1), mask));
        mask <<= 1;
    }
    if extra < n {
        plan.send(extra, 0..n);
    }
}

/// All-to-all: `blocks[d]` goes to rank `d`; returns the block from each rank, by rank.
pub(crate) async fn alltoall(
    round: &Round,
    blocks: Vec<Bytes>,
    algorithm: AlltoallAlgorithm,
) -> Result<Vec<Bytes>> {
    let plan = plan_alltoall(round.rank(), round.size(), algorithm);
    schedule::run(round, &plan, blocks).await
}

/// An all-to-all's part: input `d` is the block for rank `d`, output `s` the block from
/// rank `s`. Bruck: slot `i` starts as the block for rank + i; in round k the blocks whose
/// slot has bit k set move 2^k ranks on, keeping their slot, so each travels exactly its
/// slot number and slot `i` ends as the block from rank - i. Scattered and pairwise: slot
/// `d` holds the block for rank `d`, slot n + s the block from rank `s`; scattered sends all
/// before receiving any, pairwise exchanges with one partner per step.
pub(crate) fn plan_alltoall(rank: usize, n: usize, algorithm: AlltoallAlgorithm) -> Schedule {
    let partners = |step: usize| ((rank + step) % n, (rank + n - step) % n);
    if algorithm == AlltoallAlgorithm::Bruck {
        let mut plan = Schedule::with_slots(n);
        plan.inputs = (0..n).map(|d| (d + n - rank) % n).collect();
        let mut distance = 1;
        while distance < n {
            let moving: Vec<usize> = (0..n).filter(|i| i & distance != 0).collect();
            let (dest, source) = partners(distance);
            plan.send(dest, moving.iter().copied());
            plan.recv(source, moving);
            distance <<= 1;
        }
        plan.outputs = (0..n).map(|s| (rank + n - s) % n).collect();
        return plan;
    }
    let mut plan = Schedule::with_slots(2 * n);
    plan.inputs = (0..n).collect();
    let pairwise = algorithm == AlltoallAlgorithm::Pairwise;
    for step in 1..n {
        let (dest, source) = partners(step);
        plan.send(dest, [dest]);
        if pairwise {
            plan.recv(source, [n + source]);
        }
    }
    if !pairwise {
        for step in 1..n {
            let (_, source) = partners(step);
            plan.recv(source, [n + source]);
        }
    }
    plan.outputs = (0..n).map(|s| if s == rank { s } else { n + s }).collect();
    plan
}

/// The largest power of two not above `n` (n ≥ 1).
pub(crate) fn largest_power_of_two(n: usize) -> usize {
    if n.is_power_of_two() {
        n
    } else {
        n.next_power_of_two() / 2
    }
}

#[cfg(test)]
mod tests;
