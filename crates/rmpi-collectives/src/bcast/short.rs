//! Broadcast into buffers of at most [`SHORT`] bytes, the common small broadcast, in few
//! steps.
//!
//! The root frames the first message, data and all, on the stack and hands each receiver a
//! copy at once, without waiting; the other members receive it into a [`Scratch`] buffer
//! and copy the data from there. Nothing is allocated, and only a member's receive is
//! traced for deadlock reports, not the whole part. Where this path cannot serve (the
//! root's algorithm sends the data apart from its header), the general path,
//! [`bcast_into`], takes over.

use std::mem::MaybeUninit;

use rmpi_core::{Bytes, Error, Result};

use super::{bcast_into, header, is, member_part, others, read_header, HEADER};
use crate::algorithm::{Algorithms, BcastAlgorithm, Choose};
use crate::blocks::tree_children;
use crate::operand::{copy_exact, length_mismatch};
use crate::round::{Round, ABORT_MAX, DATA_AT};
use crate::scratch::Scratch;

/// The most data a broadcast into buffers sends on this path.
pub(crate) const SHORT: usize = 2048;

/// The room for a first message carrying `data` bytes.
const fn framed(data: usize) -> usize {
    DATA_AT + HEADER + data
}

/// The room a member keeps for its first message: it may be an abort instead, which must
/// arrive whole.
const RECEIVED: usize = if framed(SHORT) > ABORT_MAX {
    framed(SHORT)
} else {
    ABORT_MAX
};

/// This member's part of a broadcast into `buf`, at most [`SHORT`] bytes long.
pub(crate) async fn bcast_short(
    round: &Round,
    root: usize,
    buf: &mut [u8],
    algorithms: &Algorithms,
) -> Result<()> {
    if round.rank() != root {
        return member(round, root, buf).await;
    }
    let algorithm = algorithms.bcast(round.size(), buf.len());
    if algorithm == BcastAlgorithm::ScatterAllgather {
        return round.traced(bcast_into(round, root, buf, algorithms)).await;
    }
    match send_framed(round, root, algorithm, buf) {
        Ok(()) => Ok(()),
        Err((dest, error)) => round.explain(dest, Err(error)).await,
    }
}

/// The root's first message, carrying `data` and framed on the stack, to every member
/// (flat) or to the root's children (binomial); a failure names the member the send to
/// failed.
fn send_framed(
    round: &Round,
    root: usize,
    algorithm: BcastAlgorithm,
    data: &[u8],
) -> std::result::Result<(), (usize, Error)> {
    let mut out = [MaybeUninit::uninit(); framed(SHORT)];
    let first = Round::frame_into(&mut out, &[&header(algorithm, data.len()), data]);
    pass_on_now(round, root, algorithm as u8, first)
}

/// A member's part: the first message is received into scratch memory and, where it
/// carries the data, passed on and copied from there.
async fn member(round: &Round, root: usize, buf: &mut [u8]) -> Result<()> {
    let mut out = Scratch::take(RECEIVED);
    let (sender, received) = match round.traced(round.recv_first_into(&mut out)).await {
        // Only data makes a first message this long: more than this member's buffer.
        Err(Error::Truncated { message_bytes, .. }) => {
            let len = message_bytes.saturating_sub(DATA_AT + HEADER);
            return Err(length_mismatch(root, len, buf.len()));
        }
        received => received?,
    };
    let first = &out[..received];
    let (algorithm, len) = read_header(first)?;
    let carries_data =
        !is(algorithm, BcastAlgorithm::ScatterAllgather) && first.len() == DATA_AT + HEADER + len;
    if !carries_data {
        let first = Bytes::copy_from_slice(first);
        return round
            .traced(member_part(round, root, buf, sender, first))
            .await;
    }
    if let Err((child, error)) = pass_on_now(round, root, algorithm, first) {
        return round.explain(child, Err(error)).await;
    }
    copy_exact(&first[DATA_AT + HEADER..], buf, root)
}

/// [`pass_on`](super::pass_on) for a first message in this member's memory, each send
/// handing the transport a copy at once; a failure names the member the send to failed.
fn pass_on_now(
    round: &Round,
    root: usize,
    algorithm: u8,
    first: &[u8],
) -> std::result::Result<(), (usize, Error)> {
    let send = |dest| round.send_first_now(dest, first).map_err(|e| (dest, e));
    if !is(algorithm, BcastAlgorithm::Flat) {
        return tree_children(round.rank(), round.size(), root).try_for_each(send);
    }
    if round.rank() != root {
        return Ok(());
    }
    // Every member is sent its message whatever fails, as in `send_first_to_all`.
    let mut sent = Ok(());
    for member in others(round, root) {
        sent = sent.and(send(member));
    }
    sent
}
