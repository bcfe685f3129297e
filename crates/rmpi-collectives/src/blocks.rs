//! Algorithms that move blocks of bytes: barrier, scatter, gather, allgather, alltoall, and
//! the trees that broadcasts and reductions share.
//!
//! Both flavours run on these: a typed buffer is one block of its bytes, an object is one
//! block of its encoding. Blocks may differ in size from rank to rank (objects do), so lists
//! of blocks travel with their lengths. Trees work in ranks relative to the root, so the root
//! is always relative rank 0. Every rank count works, powers of two or not.

use rmpi_core::{Bytes, Error, Result};

use crate::algorithm::{AllgatherAlgorithm, AlltoallAlgorithm, BarrierAlgorithm};
use crate::round::Round;

fn relative(rank: usize, root: usize, n: usize) -> usize {
    (rank + n - root) % n
}

fn absolute(relative: usize, root: usize, n: usize) -> usize {
    (relative + root) % n
}

/// Frames a list of blocks: count, each length, then the bytes.
pub(crate) fn encode_blocks<'a>(blocks: impl ExactSizeIterator<Item = &'a Bytes> + Clone) -> Bytes {
    let mut header = Vec::with_capacity(8 * (blocks.len() + 1));
    header.extend_from_slice(&(blocks.len() as u64).to_le_bytes());
    for block in blocks.clone() {
        header.extend_from_slice(&(block.len() as u64).to_le_bytes());
    }
    Round::frame_parts(std::iter::once(header.as_slice()).chain(blocks.map(|b| b.as_ref())))
}

/// Reads a framed list of exactly `expected` blocks, without copying them.
pub(crate) fn decode_blocks(message: &Bytes, expected: usize) -> Result<Vec<Bytes>> {
    let body = Round::body(message);
    let malformed = |what: &str| Error::InvalidArgument(format!("malformed block list: {what}"));
    let word = |at: usize| -> Result<usize> {
        let bytes = body
            .get(at..at + 8)
            .ok_or_else(|| malformed("truncated header"))?;
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        usize::try_from(u64::from_le_bytes(word)).map_err(|_| malformed("length overflows"))
    };
    let count = word(0)?;
    if count != expected {
        return Err(malformed(&format!(
            "{count} blocks where {expected} were expected"
        )));
    }
    let mut offset = 8 * (count + 1);
    let mut blocks = Vec::with_capacity(count);
    for i in 0..count {
        let len = word(8 * (i + 1))?;
        let end = offset.checked_add(len).filter(|&end| end <= body.len());
        let end = end.ok_or_else(|| malformed("block runs past the message"))?;
        blocks.push(body.slice(offset..end));
        offset = end;
    }
    if offset != body.len() {
        return Err(malformed("trailing bytes"));
    }
    Ok(blocks)
}

/// A barrier by `algorithm`.
pub(crate) async fn barrier(round: &Round, algorithm: BarrierAlgorithm) -> Result<()> {
    match algorithm {
        BarrierAlgorithm::Dissemination => dissemination_barrier(round).await,
        BarrierAlgorithm::Flat => flat_barrier(round).await,
    }
}

/// Dissemination barrier: in round k every rank signals rank + 2^k and waits for rank - 2^k;
/// after ceil(log2 n) rounds everyone has heard, directly or not, from everyone.
async fn dissemination_barrier(round: &Round) -> Result<()> {
    let (rank, n) = (round.rank(), round.size());
    let mut distance = 1;
    while distance < n {
        round.send((rank + distance) % n, Round::frame(&[])).await?;
        round.recv_exact((rank + n - distance) % n, 0).await?;
        distance *= 2;
    }
    Ok(())
}

/// Flat barrier: every member signals rank 0; rank 0, once it has heard from all, tells
/// each that all have. Two steps whatever n; rank 0 takes the arrivals in rank order, but
/// needs them all anyway.
async fn flat_barrier(round: &Round) -> Result<()> {
    let n = round.size();
    if round.rank() == 0 {
        for member in 1..n {
            round.recv_exact(member, 0).await?;
        }
        for member in 1..n {
            round.send(member, Round::frame(&[])).await?;
        }
    } else {
        round.send(0, Round::frame(&[])).await?;
        round.recv_exact(0, 0).await?;
    }
    Ok(())
}

/// Where this member sits in a binomial tree rooted at `root`: its parent (none for the
/// root) and its children, largest subtree first, as ranks of the round.
pub(crate) fn binomial_links(round: &Round, root: usize) -> (Option<usize>, Vec<usize>) {
    let n = round.size();
    let me = relative(round.rank(), root, n);
    let mut mask = 1;
    let mut parent = None;
    while mask < n {
        if me & mask != 0 {
            parent = Some(absolute(me - mask, root, n));
            break;
        }
        mask <<= 1;
    }
    let mut children = Vec::new();
    mask >>= 1;
    while mask > 0 {
        if me + mask < n {
            children.push(absolute(me + mask, root, n));
        }
        mask >>= 1;
    }
    (parent, children)
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
    let n = round.size();
    let me = relative(round.rank(), root, n);
    // `held[i]` is the block of relative rank me + i.
    let mut held: Vec<Bytes> = match blocks {
        Some(blocks) if me == 0 => (0..n)
            .map(|r| blocks[absolute(r, root, n)].clone())
            .collect(),
        _ => Vec::new(),
    };
    let mut mask = 1;
    while mask < n {
        if me & mask != 0 {
            let span = mask.min(n - me);
            held = decode_blocks(&round.recv(absolute(me - mask, root, n)).await?, span)?;
            break;
        }
        mask <<= 1;
    }
    mask >>= 1;
    while mask > 0 {
        if me + mask < n {
            let span = mask.min(n - me - mask);
            let message = encode_blocks(held[mask..mask + span].iter());
            round.send(absolute(me + mask, root, n), message).await?;
        }
        mask >>= 1;
    }
    held.into_iter()
        .next()
        .ok_or_else(|| Error::InvalidArgument("scatter root has no data".into()))
}

/// Binomial-tree gather: returns every rank's block, indexed by rank, at the root.
pub(crate) async fn binomial_gather(
    round: &Round,
    root: usize,
    mine: Bytes,
) -> Result<Option<Vec<Bytes>>> {
    let n = round.size();
    let me = relative(round.rank(), root, n);
    // `held[i]` is the block of relative rank me + i.
    let mut held = vec![mine];
    let mut mask = 1;
    while mask < n {
        if me & mask == 0 {
            let child = me | mask;
            if child < n {
                let span = mask.min(n - child);
                let message = round.recv(absolute(child, root, n)).await?;
                held.extend(decode_blocks(&message, span)?);
            }
        } else {
            round
                .send(absolute(me - mask, root, n), encode_blocks(held.iter()))
                .await?;
            return Ok(None);
        }
        mask <<= 1;
    }
    Ok(Some(
        (0..n).map(|r| held[relative(r, root, n)].clone()).collect(),
    ))
}

/// Allgather of one block per rank; returns every block, indexed by rank.
pub(crate) async fn allgather(
    round: &Round,
    mine: Bytes,
    algorithm: AllgatherAlgorithm,
) -> Result<Vec<Bytes>> {
    match algorithm {
        AllgatherAlgorithm::Ring => ring_allgather(round, mine).await,
        AllgatherAlgorithm::Bruck => bruck_allgather(round, mine).await,
        AllgatherAlgorithm::RecursiveDoubling => recursive_doubling_allgather(round, mine).await,
    }
}

pub(crate) async fn ring_allgather(round: &Round, mine: Bytes) -> Result<Vec<Bytes>> {
    let (rank, n) = (round.rank(), round.size());
    let (left, right) = ((rank + n - 1) % n, (rank + 1) % n);
    let mut blocks: Vec<Option<Bytes>> = vec![None; n];
    blocks[rank] = Some(mine);
    for step in 0..n - 1 {
        let outgoing = (rank + n - step) % n;
        let incoming = (rank + n - step - 1) % n;
        let block = blocks[outgoing]
            .clone()
            .expect("received in the previous step");
        round
            .send(right, encode_blocks(std::iter::once(&block)))
            .await?;
        let message = round.recv(left).await?;
        blocks[incoming] = decode_blocks(&message, 1)?.pop();
    }
    Ok(blocks
        .into_iter()
        .map(|b| b.expect("ring visits every rank"))
        .collect())
}

async fn bruck_allgather(round: &Round, mine: Bytes) -> Result<Vec<Bytes>> {
    let (rank, n) = (round.rank(), round.size());
    // `held[i]` is the block of rank (rank + i) % n.
    let mut held = vec![mine];
    let mut distance = 1;
    while distance < n {
        let count = distance.min(n - distance);
        let dest = (rank + n - distance) % n;
        let source = (rank + distance) % n;
        round
            .send(dest, encode_blocks(held[..count].iter()))
            .await?;
        held.extend(decode_blocks(&round.recv(source).await?, count)?);
        distance *= 2;
    }
    Ok((0..n).map(|r| held[(r + n - rank) % n].clone()).collect())
}

async fn recursive_doubling_allgather(round: &Round, mine: Bytes) -> Result<Vec<Bytes>> {
    let (rank, n) = (round.rank(), round.size());
    let pof2 = largest_power_of_two(n);
    // Ranks beyond the largest power of two hand their block to a partner and sit out.
    if rank >= pof2 {
        round
            .send(rank - pof2, encode_blocks(std::iter::once(&mine)))
            .await?;
        return decode_blocks(&round.recv(rank - pof2).await?, n);
    }
    // `held[r]` for rank r, filled in as the doubling proceeds.
    let mut held: Vec<Option<Bytes>> = vec![None; n];
    held[rank] = Some(mine);
    let extra = rank + pof2;
    if extra < n {
        held[extra] = decode_blocks(&round.recv(extra).await?, 1)?.pop();
    }
    // Each rank < pof2 stands for itself and its extra; exchange groups of growing size.
    let group = |base: usize, size: usize| -> Vec<usize> {
        (base..base + size)
            .flat_map(|r| [r, r + pof2])
            .filter(|&r| r < n)
            .collect()
    };
    let mut mask = 1;
    while mask < pof2 {
        let partner = rank ^ mask;
        let mine_base = rank & !(mask - 1);
        let theirs_base = partner & !(mask - 1);
        let mine_ranks = group(mine_base, mask);
        let theirs_ranks = group(theirs_base, mask);
        let outgoing: Vec<Bytes> = mine_ranks
            .iter()
            .map(|&r| held[r].clone().expect("held before exchanging"))
            .collect();
        round.send(partner, encode_blocks(outgoing.iter())).await?;
        let incoming = decode_blocks(&round.recv(partner).await?, theirs_ranks.len())?;
        for (r, block) in theirs_ranks.into_iter().zip(incoming) {
            held[r] = Some(block);
        }
        mask <<= 1;
    }
    let all: Vec<Bytes> = held
        .into_iter()
        .map(|b| b.expect("every rank gathered"))
        .collect();
    if extra < n {
        round.send(extra, encode_blocks(all.iter())).await?;
    }
    Ok(all)
}

/// All-to-all: `blocks[d]` goes to rank `d`; returns the block from each rank, by rank.
pub(crate) async fn alltoall(
    round: &Round,
    blocks: Vec<Bytes>,
    algorithm: AlltoallAlgorithm,
) -> Result<Vec<Bytes>> {
    let (rank, n) = (round.rank(), round.size());
    let mut received: Vec<Bytes> = vec![Bytes::new(); n];
    received[rank] = blocks[rank].clone();
    let partners = |step: usize| ((rank + step) % n, (rank + n - step) % n);
    match algorithm {
        AlltoallAlgorithm::Bruck => {
            // `held[i]` starts as the block for rank + i. In round k the blocks whose index
            // has bit k set move 2^k ranks on, keeping their index, so each travels exactly
            // its index and `held[i]` ends as the block from rank - i.
            let mut held: Vec<Bytes> = (0..n).map(|i| blocks[(rank + i) % n].clone()).collect();
            let mut distance = 1;
            while distance < n {
                let moving: Vec<usize> = (0..n).filter(|i| i & distance != 0).collect();
                let (dest, source) = partners(distance);
                round
                    .send(dest, encode_blocks(moving.iter().map(|&i| &held[i])))
                    .await?;
                let incoming = decode_blocks(&round.recv(source).await?, moving.len())?;
                for (i, block) in moving.into_iter().zip(incoming) {
                    held[i] = block;
                }
                distance <<= 1;
            }
            for (source, block) in received.iter_mut().enumerate() {
                *block = held[(rank + n - source) % n].clone();
            }
        }
        AlltoallAlgorithm::Scattered => {
            for step in 1..n {
                let (dest, _) = partners(step);
                round.send(dest, Round::frame(&blocks[dest])).await?;
            }
            for step in 1..n {
                let (_, source) = partners(step);
                received[source] = Round::body(&round.recv(source).await?);
            }
        }
        AlltoallAlgorithm::Pairwise => {
            for step in 1..n {
                let (dest, source) = partners(step);
                round.send(dest, Round::frame(&blocks[dest])).await?;
                received[source] = Round::body(&round.recv(source).await?);
            }
        }
    }
    Ok(received)
}

/// The largest power of two not above `n` (n ≥ 1).
pub(crate) fn largest_power_of_two(n: usize) -> usize {
    if n.is_power_of_two() {
        n
    } else {
        n.next_power_of_two() / 2
    }
}
