//! Broadcast: the root's data to every member, by the algorithm the root picks.
//!
//! The root says which algorithm, and how many bytes, in a small header that is each
//! member's first message. Members receive it on the broadcast's own first-message tag from
//! whoever sends it (see [`Round::recv_first`]), so they agree on the algorithm even where
//! only the root knows the size, or settings differ, and learn only then whom the data
//! comes from:
//!
//! - binomial: the header carries the data, down the binomial tree;
//! - flat: the root sends the header, with the data, to every member itself;
//! - scatter-allgather: the header goes down the tree, then the pieces follow.
//!
//! Into buffers, long data goes apart from its header (binomial and flat), as a bare
//! message the receive copies straight into the member's buffer (from the ring, or from the
//! sender's memory) instead of into a message and then into the buffer. Whoever sent a
//! member a header saying data follows sends the data before anything can make it abort,
//! so the member gets what it was promised (and a bare message is longer than any abort,
//! so an abort in its place would still read as one).

use rmpi_core::send_path::SHARED_FROM;
use rmpi_core::{Bytes, Error, Loans, Result};

use crate::algorithm::{Algorithms, BcastAlgorithm, Choose};
use crate::blocks::{binomial_links, binomial_scatter, ring_allgather};
use crate::operand::{copy_exact, length_mismatch};
use crate::round::{Round, ABORT_MAX, DATA_AT};

mod short;
pub(crate) use short::{bcast_short, SHORT};

/// A header's length: the algorithm's number, then the data's length.
const HEADER: usize = 9;

/// From this many bytes, a broadcast into buffers sends the data apart from its header: the
/// copy saved outweighs the extra message.
const APART_FROM: usize = 32 << 10;
const _: () = assert!(APART_FROM > ABORT_MAX, "bare data is longer than any abort");

fn header(algorithm: BcastAlgorithm, len: usize) -> [u8; HEADER] {
    let mut header = [algorithm as u8; HEADER];
    header[1..].copy_from_slice(&(len as u64).to_le_bytes());
    header
}

/// The algorithm number and data length a first message's header announces.
fn read_header(message: &[u8]) -> Result<(u8, usize)> {
    match message.get(DATA_AT..DATA_AT + HEADER) {
        Some(h) => {
            let mut len = [0u8; 8];
            len.copy_from_slice(&h[1..HEADER]);
            Ok((h[0], u64::from_le_bytes(len) as usize))
        }
        None => Err(Error::InvalidArgument("bcast header is truncated".into())),
    }
}

fn is(algorithm: u8, which: BcastAlgorithm) -> bool {
    algorithm == which as u8
}

/// Broadcast of bytes (an object's encoding, or a short buffer).
pub(crate) async fn bcast(
    round: &Round,
    root: usize,
    data: Option<&[u8]>,
    algorithms: &Algorithms,
) -> Result<Bytes> {
    let first = match data {
        Some(data) => {
            let algorithm = algorithms.bcast(round.size(), data.len());
            let header = header(algorithm, data.len());
            let first = match algorithm {
                // The root's one copy of the data is into the message it sends.
                BcastAlgorithm::Binomial | BcastAlgorithm::Flat => {
                    Round::frame_parts([header.as_slice(), data])
                }
                BcastAlgorithm::ScatterAllgather => Round::frame(&header),
            };
            pass_on(round, root, &first).await?;
            first
        }
        None => {
            let (_, first) = round.recv_first().await?;
            pass_on(round, root, &first).await?;
            first
        }
    };
    rest(round, root, data, first).await
}

/// Sends a first message on from this member: from a flat broadcast's root to every
/// member, else to this member's children in the binomial tree (a flat broadcast's other
/// members pass nothing on).
async fn pass_on(round: &Round, root: usize, first: &Bytes) -> Result<()> {
    let (algorithm, _) = read_header(first)?;
    if is(algorithm, BcastAlgorithm::Flat) {
        if round.rank() == root {
            return send_first_to_all(round, root, first.clone()).await;
        }
        return Ok(());
    }
    for child in binomial_links(round, root).1 {
        round.send_first(child, first.clone()).await?;
    }
    Ok(())
}

/// What follows a broadcast's first message, once this member has it: the data.
async fn rest(round: &Round, root: usize, data: Option<&[u8]>, first: Bytes) -> Result<Bytes> {
    let n = round.size();
    let (algorithm, len) = read_header(&first)?;
    if !is(algorithm, BcastAlgorithm::ScatterAllgather) {
        let data = Round::body(&first).slice(HEADER..);
        if data.len() != len {
            return Err(Error::InvalidArgument(
                "bcast data does not match its header".into(),
            ));
        }
        return Ok(data);
    }
    // Scatter n pieces of the message, then gather them all everywhere.
    let piece = len.div_ceil(n).max(1);
    let pieces = data.map(|data| {
        let data = rmpi_core::pool::copy_of(data);
        (0..n)
            .map(|i| data.slice((i * piece).min(len)..((i + 1) * piece).min(len)))
            .collect()
    });
    let mine = binomial_scatter(round, root, pieces).await?;
    let pieces = ring_allgather(round, mine).await?;
    let mut out = Vec::with_capacity(len);
    for piece in &pieces {
        out.extend_from_slice(piece);
    }
    if out.len() != len {
        return Err(Error::InvalidArgument(
            "bcast pieces do not add up to the message".into(),
        ));
    }
    Ok(Bytes::from(out))
}

/// Broadcast into every member's buffer of the same size: the general path, for what
/// [`bcast_short`] does not take. Long data goes apart from its header: down the binomial
/// tree, where a member passes header and data on once it holds the data; or flat, the root
/// sending every member the header and then the data.
pub(crate) async fn bcast_into(
    round: &Round,
    root: usize,
    buf: &mut [u8],
    algorithms: &Algorithms,
) -> Result<()> {
    if round.rank() == root {
        let algorithm = algorithms.bcast(round.size(), buf.len());
        if buf.len() < APART_FROM || algorithm == BcastAlgorithm::ScatterAllgather {
            return bcast(round, root, Some(&*buf), algorithms).await.map(drop);
        }
        let first = Round::frame(&header(algorithm, buf.len()));
        if algorithm == BcastAlgorithm::Flat {
            // Every member is sent its data before any error here can make this abort.
            let headers = send_first_to_all(round, root, first).await;
            let members: Vec<usize> = others(round, root).collect();
            let mut data = Outgoing::new(buf);
            let sent = data.send(round, &members).await;
            return headers.and(sent).and(data.settle(round).await);
        }
        return send_apart(round, &binomial_links(round, root).1, first, buf).await;
    }
    let (sender, first) = round.recv_first().await?;
    member_part(round, root, buf, sender, first).await
}

/// A member's part of a broadcast into `buf` once it has the first message, from `sender`.
async fn member_part(
    round: &Round,
    root: usize,
    buf: &mut [u8],
    sender: usize,
    first: Bytes,
) -> Result<()> {
    let (algorithm, len) = read_header(&first)?;
    let apart = Round::body(&first).len() == HEADER
        && len > 0
        && !is(algorithm, BcastAlgorithm::ScatterAllgather);
    if !apart {
        pass_on(round, root, &first).await?;
        let data = rest(round, root, None, first).await?;
        return copy_exact(&data, buf, root);
    }
    // A binomial member passes nothing on now: its children learn of this failure from
    // its abort, where they wait for the header.
    if len != buf.len() {
        return Err(length_mismatch(root, len, buf.len()));
    }
    if is(algorithm, BcastAlgorithm::Flat) {
        return round.recv_data_into(root, buf).await;
    }
    round.recv_data_into(sender, buf).await?;
    send_apart(round, &binomial_links(round, root).1, first, buf).await
}

/// Sends `first` to each child in the binomial tree, then `data` to them all (see
/// [`Outgoing`]); returns once they have read what was lent to them.
async fn send_apart(round: &Round, children: &[usize], first: Bytes, data: &[u8]) -> Result<()> {
    for &child in children {
        round.send_first(child, first.clone()).await?;
    }
    let mut outgoing = Outgoing::new(data);
    outgoing.send(round, children).await?;
    outgoing.settle(round).await
}

/// A broadcast's data on its way to members, bare: to all of them in one copy they all
/// read where the transport can make one (shared memory's fan-out); else lent in place to
/// each member the transport can lend it to (see [`rmpi_core::loan`]), so nobody copies it
/// on the way out; to the others straight from the buffer (into the rings), or, to several
/// from [`SHARED_FROM`](rmpi_core::send_path::SHARED_FROM) bytes, in one pooled copy shared
/// by all, made when first needed.
struct Outgoing<'a> {
    data: &'a [u8],
    loans: Loans,
    shared: Option<Bytes>,
}

impl<'a> Outgoing<'a> {
    fn new(data: &'a [u8]) -> Outgoing<'a> {
        Outgoing {
            data,
            loans: Loans::new(),
            shared: None,
        }
    }

    /// Sends the data to each of `members`. A member that cannot be sent to does not stop
    /// the others (they expect the data); the first error comes after.
    async fn send(&mut self, round: &Round, members: &[usize]) -> Result<()> {
        if members.len() > 1 && round.fan_out_data(members, self.data)? {
            return Ok(());
        }
        let mut sent = Ok(());
        for &member in members {
            sent = sent.and(self.send_one(round, member, members.len()).await);
        }
        sent
    }

    /// Sends the data to `member`, one of `members`.
    async fn send_one(&mut self, round: &Round, member: usize, members: usize) -> Result<()> {
        if round.lend_data(member, self.data, &self.loans).await? {
            return Ok(());
        }
        if members == 1 || self.data.len() < SHARED_FROM {
            return round.send_data(member, self.data).await;
        }
        let shared = self
            .shared
            .get_or_insert_with(|| rmpi_core::pool::copy_of(self.data));
        round.send(member, shared.clone()).await
    }

    /// Waits until every member lent the data has read it.
    async fn settle(self, round: &Round) -> Result<()> {
        round.settle(&self.loans).await
    }
}

/// Sends a first message from the root to every other member, nearest first. A send that
/// fails (to a member that failed and left) does not stop the others: they may expect data
/// bare after it, and must have it before the root can send them an abort. The first error
/// comes after.
async fn send_first_to_all(round: &Round, root: usize, first: Bytes) -> Result<()> {
    let mut sent = Ok(());
    for member in others(round, root) {
        sent = sent.and(round.send_first(member, first.clone()).await);
    }
    sent
}

/// Every member but the root, nearest after it first.
fn others(round: &Round, root: usize) -> impl Iterator<Item = usize> + use<> {
    let n = round.size();
    (1..n).map(move |step| (root + step) % n)
}
