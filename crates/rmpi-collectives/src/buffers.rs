//! The typed-buffer collectives (mpi4py's uppercase `Bcast`, `Allreduce`, ...), one function
//! each.
//!
//! Each takes a [`Round`] reserved when the collective was called, so the borrowed form
//! (`bcast_buf(&mut buf)`) and the owned, nonblocking form (`ibcast_buf(vec)`, which runs as a
//! task of its own) share one body and take their place in the collective order at call time.

use bytemuck::Pod;
use rmpi_core::{Bytes, Error, Result};

use crate::algorithm::{Algorithms, AllreduceAlgorithm, Choose};
use crate::bcast;
use crate::blocks;
use crate::op::Op;
use crate::operand::{copy_exact, Buffer};
use crate::reduce;
use crate::round::Round;

/// The buffers of a finished nonblocking typed-buffer collective, handed back for reuse.
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// use rmpi::collectives::Buffers;
/// let Buffers { send, recv } = comm.iallgather_buf(vec![comm.rank() as u8], vec![0; 2]).await?;
/// assert_eq!((send, recv), (vec![comm.rank() as u8], vec![0, 1]));
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Buffers<T> {
    /// The send buffer, unchanged.
    pub send: Vec<T>,
    /// The receive buffer, holding the result (untouched where the collective gives this
    /// member nothing, such as a non-root's in a gather).
    pub recv: Vec<T>,
}

pub(crate) fn check_root(round: &Round, root: usize) -> Result<()> {
    if root < round.size() {
        Ok(())
    } else {
        Err(Error::InvalidRank {
            rank: root,
            size: round.size(),
        })
    }
}

pub(crate) fn check_len(what: &str, actual: usize, expected: usize) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{what} has {actual} elements where {expected} are needed"
        )))
    }
}

fn bytes_of<T: Pod>(buf: &[T]) -> Bytes {
    rmpi_core::pool::copy_of(bytemuck::cast_slice(buf))
}

pub(crate) async fn bcast<T: Pod + Send + Sync>(
    round: Round,
    algorithms: Result<Algorithms>,
    buf: &mut [T],
    root: usize,
) -> Result<()> {
    let buf: &mut [u8] = bytemuck::cast_slice_mut(buf);
    let part = match (check_root(&round, root), algorithms) {
        (Ok(()), Ok(algorithms)) if buf.len() > bcast::SHORT => {
            let general = bcast::bcast_into(&round, root, buf, &algorithms);
            round.traced(general).await
        }
        (Ok(()), Ok(algorithms)) => bcast::bcast_short(&round, root, buf, &algorithms).await,
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    match part {
        Ok(()) => Ok(()),
        Err(error) => round.fail(error).await,
    }
}

pub(crate) async fn scatter<T: Pod + Send + Sync>(
    round: Round,
    send: &[T],
    recv: &mut [T],
    root: usize,
) -> Result<()> {
    round
        .run(async {
            check_root(&round, root)?;
            let blocks = if round.rank() == root {
                check_len(
                    "the scatter root's send buffer",
                    send.len(),
                    recv.len() * round.size(),
                )?;
                Some(equal_parts(send, round.size()))
            } else {
                None
            };
            let mine = blocks::binomial_scatter(&round, root, blocks).await?;
            copy_exact(&mine, recv, root)
        })
        .await
}

pub(crate) async fn gather<T: Pod + Send + Sync>(
    round: Round,
    send: &[T],
    recv: &mut [T],
    root: usize,
) -> Result<()> {
    round
        .run(async {
            check_root(&round, root)?;
            if round.rank() == root {
                check_len(
                    "the gather root's receive buffer",
                    recv.len(),
                    send.len() * round.size(),
                )?;
            }
            if let Some(blocks) = blocks::binomial_gather(&round, root, bytes_of(send)).await? {
                place_equal(blocks, recv)?;
            }
            Ok(())
        })
        .await
}

pub(crate) async fn allgather<T: Pod + Send + Sync>(
    round: Round,
    algorithms: Result<Algorithms>,
    send: &[T],
    recv: &mut [T],
) -> Result<()> {
    round
        .run(async {
            check_len(
                "the allgather receive buffer",
                recv.len(),
                send.len() * round.size(),
            )?;
            let algorithm = algorithms?.allgather(round.size(), std::mem::size_of_val(recv));
            place_equal(
                blocks::allgather(&round, bytes_of(send), algorithm).await?,
                recv,
            )
        })
        .await
}

pub(crate) async fn reduce<T: Pod + Send + Sync, O: Op<T> + 'static>(
    round: Round,
    send: &[T],
    recv: &mut [T],
    op: O,
    root: usize,
) -> Result<()> {
    round
        .run(async {
            check_root(&round, root)?;
            if round.rank() == root {
                check_len("the reduce root's receive buffer", recv.len(), send.len())?;
            }
            let commutative = op.is_commutative();
            let operand = Buffer(send.to_vec());
            let op = &op as &dyn Op<T>;
            if let Some(reduced) = reduce::reduce(&round, root, operand, op, commutative).await? {
                recv.copy_from_slice(&reduced.0);
            }
            Ok(())
        })
        .await
}

pub(crate) async fn allreduce<T: Pod + Send + Sync, O: Op<T> + 'static>(
    round: Round,
    algorithms: Result<Algorithms>,
    send: &[T],
    recv: &mut [T],
    op: O,
) -> Result<()> {
    round
        .run(async {
            check_len("the allreduce receive buffer", recv.len(), send.len())?;
            let algorithm = algorithms?.allreduce(round.size(), std::mem::size_of_val(send));
            let commutative = op.is_commutative();
            let op = &op as &dyn Op<T>;
            match algorithm {
                AllreduceAlgorithm::Rabenseifner => {
                    return reduce::rabenseifner(&round, send, recv, op).await
                }
                AllreduceAlgorithm::SegmentOwners => {
                    return reduce::segment_owners(&round, send, recv, op).await
                }
                _ => {}
            }
            let operand = Buffer(send.to_vec());
            let reduced = reduce::allreduce(&round, operand, op, commutative, algorithm).await?;
            recv.copy_from_slice(&reduced.0);
            Ok(())
        })
        .await
}

pub(crate) async fn prefix<T: Pod + Send + Sync, O: Op<T> + 'static>(
    round: Round,
    send: &[T],
    recv: &mut [T],
    op: O,
    exclusive: bool,
) -> Result<()> {
    round
        .run(async {
            check_len("the scan receive buffer", recv.len(), send.len())?;
            let operand = Buffer(send.to_vec());
            let scanned = reduce::scan(&round, operand, &op as &dyn Op<T>, exclusive).await?;
            if let Some(scanned) = scanned {
                recv.copy_from_slice(&scanned.0);
            }
            Ok(())
        })
        .await
}

pub(crate) async fn alltoall<T: Pod + Send + Sync>(
    round: Round,
    algorithms: Result<Algorithms>,
    send: &[T],
    recv: &mut [T],
) -> Result<()> {
    round
        .run(async {
            check_len("the alltoall receive buffer", recv.len(), send.len())?;
            let part = send.len() / round.size();
            check_len("the alltoall send buffer", send.len(), part * round.size())?;
            let algorithm = algorithms?.alltoall(round.size(), part * std::mem::size_of::<T>());
            let blocks = equal_parts(send, round.size());
            place_equal(blocks::alltoall(&round, blocks, algorithm).await?, recv)
        })
        .await
}

/// Counts and displacements (in elements) of one side of a v-variant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout<'a> {
    pub(crate) counts: &'a [usize],
    pub(crate) displs: &'a [usize],
}

impl<'a> Layout<'a> {
    pub(crate) fn of(counts: &'a [usize], displs: &'a [usize]) -> Layout<'a> {
        Layout { counts, displs }
    }
}

pub(crate) async fn alltoallv<T: Pod + Send + Sync>(
    round: Round,
    algorithms: Result<Algorithms>,
    send: &[T],
    send_layout: Layout<'_>,
    recv: &mut [T],
    recv_layout: Layout<'_>,
) -> Result<()> {
    round
        .run(async {
            // Counts differ between members, so the choice cannot depend on them.
            let algorithm = algorithms?.alltoall(round.size(), 0);
            let blocks = parts_of(send, send_layout)?;
            place(
                blocks::alltoall(&round, blocks, algorithm).await?,
                recv,
                recv_layout,
            )
        })
        .await
}

pub(crate) async fn scatterv<T: Pod + Send + Sync>(
    round: Round,
    send: &[T],
    layout: Layout<'_>,
    recv: &mut [T],
    root: usize,
) -> Result<()> {
    round
        .run(async {
            check_root(&round, root)?;
            let blocks = if round.rank() == root {
                check_len("the scatterv counts", layout.counts.len(), round.size())?;
                Some(parts_of(send, layout)?)
            } else {
                None
            };
            copy_exact(
                &blocks::binomial_scatter(&round, root, blocks).await?,
                recv,
                root,
            )
        })
        .await
}

pub(crate) async fn gatherv<T: Pod + Send + Sync>(
    round: Round,
    send: &[T],
    recv: &mut [T],
    layout: Layout<'_>,
    root: usize,
) -> Result<()> {
    round
        .run(async {
            check_root(&round, root)?;
            if round.rank() == root {
                check_len("the gatherv counts", layout.counts.len(), round.size())?;
                check_len(
                    "the root's own gatherv count",
                    layout.counts[root],
                    send.len(),
                )?;
                parts_of(recv, layout)?; // bounds, before any data moves
            }
            match blocks::binomial_gather(&round, root, bytes_of(send)).await? {
                Some(blocks) => place(blocks, recv, layout),
                None => Ok(()),
            }
        })
        .await
}

pub(crate) async fn allgatherv<T: Pod + Send + Sync>(
    round: Round,
    algorithms: Result<Algorithms>,
    send: &[T],
    recv: &mut [T],
    layout: Layout<'_>,
) -> Result<()> {
    round
        .run(async {
            check_len("the allgatherv counts", layout.counts.len(), round.size())?;
            check_len(
                "this member's allgatherv count",
                layout.counts[round.rank()],
                send.len(),
            )?;
            parts_of(recv, layout)?;
            let total = layout.counts.iter().sum::<usize>() * std::mem::size_of::<T>();
            let algorithm = algorithms?.allgather(round.size(), total);
            place(
                blocks::allgather(&round, bytes_of(send), algorithm).await?,
                recv,
                layout,
            )
        })
        .await
}

pub(crate) async fn reduce_scatter<T: Pod + Send + Sync, O: Op<T> + 'static>(
    round: Round,
    send: &[T],
    recv: &mut [T],
    op: O,
) -> Result<()> {
    round
        .run(async {
            check_len(
                "the reduce_scatter send buffer",
                send.len(),
                recv.len() * round.size(),
            )?;
            let commutative = op.is_commutative();
            let operand = Buffer(send.to_vec());
            let reduced =
                reduce::reduce(&round, 0, operand, &op as &dyn Op<T>, commutative).await?;
            let blocks = reduced.map(|all| equal_parts(&all.0, round.size()));
            copy_exact(&blocks::binomial_scatter(&round, 0, blocks).await?, recv, 0)
        })
        .await
}

/// `buf` split into `parts` equal consecutive parts (one copy of `buf`, then shared slices).
pub(crate) fn equal_parts<T: Pod>(buf: &[T], parts: usize) -> Vec<Bytes> {
    let all = bytes_of(buf);
    let part = all.len() / parts.max(1);
    (0..parts)
        .map(|i| all.slice(i * part..(i + 1) * part))
        .collect()
}

/// Copies one block per member into consecutive equal parts of `out`.
fn place_equal<T: Pod>(blocks: Vec<Bytes>, out: &mut [T]) -> Result<()> {
    let counts = vec![out.len() / blocks.len().max(1); blocks.len()];
    let displs = displacements(&counts);
    place(
        blocks,
        out,
        Layout {
            counts: &counts,
            displs: &displs,
        },
    )
}

/// Prefix sums of `counts`: where each part starts when parts are packed.
pub(crate) fn displacements(counts: &[usize]) -> Vec<usize> {
    counts
        .iter()
        .scan(0, |next, &count| {
            let at = *next;
            *next += count;
            Some(at)
        })
        .collect()
}

/// The element range of each part of a layout within a buffer of `len`, bounds-checked.
fn ranges(
    layout: Layout<'_>,
    len: usize,
) -> Result<impl Iterator<Item = Result<std::ops::Range<usize>>> + '_> {
    check_len(
        "the displacements",
        layout.displs.len(),
        layout.counts.len(),
    )?;
    Ok(layout
        .counts
        .iter()
        .zip(layout.displs)
        .map(move |(&count, &displ)| {
            displ
                .checked_add(count)
                .filter(|&end| end <= len)
                .map(|end| displ..end)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "part of {count} elements at {displ} runs past a buffer of {len}"
                    ))
                })
        }))
}

/// The parts of `buf` given by a layout, as blocks.
fn parts_of<T: Pod>(buf: &[T], layout: Layout<'_>) -> Result<Vec<Bytes>> {
    ranges(layout, buf.len())?
        .map(|range| Ok(bytes_of(&buf[range?])))
        .collect()
}

/// Copies block `i` into part `i` of `out`; each must fill its part exactly.
fn place<T: Pod>(blocks: Vec<Bytes>, out: &mut [T], layout: Layout<'_>) -> Result<()> {
    check_len("the counts", layout.counts.len(), blocks.len())?;
    let ranges: Vec<_> = ranges(layout, out.len())?.collect::<Result<_>>()?;
    for (rank, (block, range)) in blocks.iter().zip(ranges).enumerate() {
        copy_exact(block, &mut out[range], rank)?;
    }
    Ok(())
}
