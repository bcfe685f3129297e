//! One collective invocation on the wire: its tag, its messages, and how it fails.
//!
//! Every collective call takes the communicator's next collective tag when it is called (a
//! broadcast the next two) and talks only on the communicator's collective context, so
//! concurrent collectives and user point-to-point traffic never match each other's messages.
//!
//! Every message starts with one status byte (but bare data, longer than any abort, which
//! the receiver knows to expect): `OK` is followed by padding and the
//! algorithm's data, `ABORT` by the world rank where the failure happened and its error
//! text. A member whose part fails (a bad argument, a lost peer, an abort
//! it received) sends an abort to every other member before returning its error. Each member
//! waits only on members that either finish their part or abort, so every member returns:
//! some with results, the rest with [`Error::CollectiveFailed`] naming the member that failed.
//! An abort that reaches a member after it finished is left unread.

use std::future::Future;
use std::mem::MaybeUninit;
use std::panic::Location;

use rmpi_core::waits::{Operation, Traced};
use rmpi_core::{pool, Bytes, CollectiveComm, Comm, Error, Loans, Result, ANY_SOURCE};

const OK: u8 = 0;
const ABORT: u8 = 1;

/// The longest abort, in all (status byte, origin, reason), so that a bare data message
/// longer than it (see [`Round::recv_data_into`]) is never taken for one, nor one for it.
pub(crate) const ABORT_MAX: usize = 1024;

/// Where an abort's reason starts: after the status byte and the origin's world rank (a
/// little-endian `u64`).
const REASON_AT: usize = 1 + 8;

/// Where a data message's data starts: after the status byte and padding, so that data in a
/// buffer aligned as allocations are (16 bytes) is aligned for any element type, and a
/// receiver can combine elements in place instead of copying them out first.
pub(crate) const DATA_AT: usize = 16;

/// A data message's first bytes: the status and the padding.
const DATA_HEADER: [u8; DATA_AT] = {
    let mut header = [0u8; DATA_AT];
    header[0] = OK;
    header
};

/// A collective in progress on one member.
#[derive(Debug)]
pub(crate) struct Round {
    comm: Comm,
    /// What the program called, and where, for deadlock reports.
    operation: Operation,
    location: &'static Location<'static>,
    tag: i32,
    /// A broadcast's tag for its first message (see [`Round::recv_first`]).
    first_tag: Option<i32>,
}

impl Round {
    /// Reserves the communicator's next collective tag; call when the collective is called,
    /// as `operation` (which deadlock reports show with the caller's location).
    #[track_caller]
    pub(crate) fn start(comm: &Comm, operation: Operation) -> Round {
        Round {
            tag: comm.next_collective_tag(),
            first_tag: None,
            comm: comm.collective_view(),
            operation,
            location: Location::caller(),
        }
    }

    /// Like [`Round::start`] for a broadcast, which reserves a second tag for its first
    /// message: every member receives that one from whoever sends it, the root or a member
    /// passing it on, as the root's algorithm has it.
    #[track_caller]
    pub(crate) fn start_bcast(comm: &Comm, operation: Operation) -> Round {
        let tag = comm.next_collective_tag();
        Round {
            tag,
            first_tag: Some(comm.next_collective_tag()),
            comm: comm.collective_view(),
            operation,
            location: Location::caller(),
        }
    }

    fn first_tag(&self) -> i32 {
        self.first_tag
            .expect("a broadcast's round is started with Round::start_bcast")
    }

    /// Sends a broadcast's first message (framed) to `dest`.
    pub(crate) async fn send_first(&self, dest: usize, message: Bytes) -> Result<()> {
        let sent = self.comm.send_bytes(message, dest, self.first_tag()).await;
        self.explain(dest, sent).await
    }

    /// Sends a copy of a broadcast's first message, framed by [`Round::frame_into`], to
    /// `dest` now: a short one framed on the stack goes without an allocation. A failure
    /// goes to [`Round::explain`], as every send's does.
    pub(crate) fn send_first_now(&self, dest: usize, framed: &[u8]) -> Result<()> {
        self.comm.send_buf_now(framed, dest, self.first_tag())
    }

    /// Receives this member's first message of a broadcast, from whichever member sends it
    /// (only one does), and says who that was; an abort becomes an error.
    pub(crate) async fn recv_first(&self) -> Result<(usize, Bytes)> {
        let (message, status) = self.comm.recv_bytes(ANY_SOURCE, self.first_tag()).await?;
        Ok((status.source, self.checked(status.source, message)?))
    }

    /// [`Round::recv_first`] into `out`, which must hold the message, or an abort (up to
    /// [`ABORT_MAX`] bytes) in its place: the sender, and the message's length.
    pub(crate) async fn recv_first_into(&self, out: &mut [u8]) -> Result<(usize, usize)> {
        let status = self
            .comm
            .recv_into(out, ANY_SOURCE, self.first_tag())
            .await?;
        self.check(status.source, &out[..status.bytes])?;
        Ok((status.source, status.bytes))
    }

    pub(crate) fn rank(&self) -> usize {
        self.comm.rank()
    }

    pub(crate) fn size(&self) -> usize {
        self.comm.size()
    }

    /// Frames what `write` appends as a data message, without copying it afterwards.
    pub(crate) fn frame_with(write: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> Result<Bytes> {
        let mut message = DATA_HEADER.to_vec();
        write(&mut message)?;
        Ok(Bytes::from(message))
    }

    /// Frames the concatenation of `parts` as one data message in `out`, which must hold it,
    /// and returns the message. `out` need not be initialized: room on the stack for the
    /// longest message is not cleared for every short one.
    pub(crate) fn frame_into<'o>(out: &'o mut [MaybeUninit<u8>], parts: &[&[u8]]) -> &'o [u8] {
        let mut end = 0;
        for part in [DATA_HEADER.as_slice()].iter().chain(parts) {
            let room = &mut out[end..end + part.len()];
            // SAFETY: `room` is as long as `part`, and a `MaybeUninit<u8>` is laid out as a
            // `u8`; the two cannot overlap, `room` being borrowed mutably.
            unsafe {
                std::ptr::copy_nonoverlapping(part.as_ptr(), room.as_mut_ptr().cast(), part.len())
            };
            end += part.len();
        }
        // SAFETY: the first `end` bytes of `out` were written just above.
        unsafe { std::slice::from_raw_parts(out.as_ptr().cast::<u8>(), end) }
    }

    /// Frames `body` as a data message.
    pub(crate) fn frame(body: &[u8]) -> Bytes {
        Self::frame_parts([body])
    }

    /// Frames the concatenation of `parts` as one data message, in pooled memory when it
    /// is large (see [`rmpi_core::pool`]).
    pub(crate) fn frame_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]> + Clone) -> Bytes {
        let len = DATA_AT + parts.clone().into_iter().map(<[u8]>::len).sum::<usize>();
        let mut message = pool::vec_with_capacity(len);
        message.extend_from_slice(&DATA_HEADER);
        for part in parts {
            message.extend_from_slice(part);
        }
        pool::into_bytes(message)
    }

    /// The data of a framed message.
    pub(crate) fn body(message: &Bytes) -> Bytes {
        message.slice(DATA_AT..)
    }

    /// Sends a framed message (one made by [`Round::frame`] or received), without copying it.
    pub(crate) async fn send(&self, dest: usize, message: Bytes) -> Result<()> {
        let sent = self.comm.send_bytes(message, dest, self.tag).await;
        self.explain(dest, sent).await
    }

    /// Sends `data` as it is, without framing: only where the receiver knows a bare data
    /// message comes next (see [`Round::recv_data_into`]).
    pub(crate) async fn send_data(&self, dest: usize, data: &[u8]) -> Result<()> {
        let sent = self.comm.send_buf(data, dest, self.tag).await;
        self.explain(dest, sent).await
    }

    /// Sends `data` bare, as [`Round::send_data`] does, to each of `dests` (distinct) in one
    /// copy they all read, if the transport can (see [`CollectiveComm::fan_out_buf`]); `false` if
    /// it cannot, and nothing was sent.
    pub(crate) fn fan_out_data(&self, dests: &[usize], data: &[u8]) -> Result<bool> {
        self.comm.fan_out_buf(data, dests, self.tag)
    }

    /// Sends `data` bare, as [`Round::send_data`] does, but lent in place, if the transport
    /// can lend it to `dest`: the caller must not write to it before [`Round::settle`] (see
    /// [`rmpi_core::loan`]). `false` if it cannot, and nothing was sent.
    pub(crate) async fn lend_data(&self, dest: usize, data: &[u8], loans: &Loans) -> Result<bool> {
        match self.comm.lend_buf(data, dest, self.tag, loans) {
            Ok(lent) => Ok(lent),
            Err(error) => self.explain(dest, Err(error)).await.map(|()| false),
        }
    }

    /// Waits until every member has read what this one lent it under `loans`.
    pub(crate) async fn settle(&self, loans: &Loans) -> Result<()> {
        self.comm.settle(loans).await
    }

    /// A send to a member that finished before the collective did: it can only have left
    /// because its part failed, after telling everyone why. Its abort says more than the
    /// send's error, and is what the other members report.
    pub(crate) async fn explain(&self, dest: usize, sent: Result<()>) -> Result<()> {
        if let Err(Error::PeerFinished { .. }) = sent {
            if let Ok(Some(_)) = self.comm.iprobe(dest, self.tag) {
                if let Err(aborted @ Error::CollectiveFailed { .. }) = self.recv(dest).await {
                    return Err(aborted);
                }
            }
        }
        sent
    }

    /// Receives a bare data message from `source` straight into `buf`, which it must fill.
    /// Where `source` may abort instead of sending it, `buf` must be longer than
    /// [`ABORT_MAX`]: an abort in its place is then shorter, and becomes an error as in
    /// [`Round::recv`].
    pub(crate) async fn recv_data_into(&self, source: usize, buf: &mut [u8]) -> Result<()> {
        let expected = buf.len();
        let status = self.comm.recv_into(buf, source, self.tag).await?;
        if status.bytes == expected {
            return Ok(());
        }
        // An abort, or data of another size (members that chose different algorithms).
        let short = Bytes::copy_from_slice(&buf[..status.bytes]);
        match self.checked(source, short) {
            Err(aborted @ Error::CollectiveFailed { .. }) => Err(aborted),
            _ => Err(size_mismatch(source, expected, status.bytes)),
        }
    }

    /// Receives the next framed data message from `source`; an abort becomes an error.
    pub(crate) async fn recv(&self, source: usize) -> Result<Bytes> {
        let (message, _) = self.comm.recv_bytes(source, self.tag).await?;
        self.checked(source, message)
    }

    /// A received framed message from `source` if it carries data; an abort as an error.
    fn checked(&self, source: usize, message: Bytes) -> Result<Bytes> {
        self.check(source, &message).map(|()| message)
    }

    /// [`Round::checked`] for a message received into the caller's memory.
    fn check(&self, source: usize, message: &[u8]) -> Result<()> {
        match message.first() {
            Some(&OK) if message.len() >= DATA_AT => Ok(()),
            // Bare data is longer than any abort, whatever its first byte; an abort's
            // reason is text, cut at a character boundary.
            Some(&ABORT)
                if (REASON_AT..=ABORT_MAX).contains(&message.len())
                    && std::str::from_utf8(&message[REASON_AT..]).is_ok() =>
            {
                let mut origin = [0u8; 8];
                origin.copy_from_slice(&message[1..REASON_AT]);
                Err(Error::CollectiveFailed {
                    rank: u64::from_le_bytes(origin) as usize,
                    reason: String::from_utf8_lossy(&message[REASON_AT..]).into_owned(),
                })
            }
            _ => Err(Error::MalformedFrame {
                rank: self.comm.world_rank(source).unwrap_or(source),
                reason: "collective message without a status byte".into(),
            }),
        }
    }

    /// Runs this member's part (as the collective the program called, for deadlock
    /// reports); if it fails, tells every other member before returning.
    pub(crate) async fn run<T>(&self, part: impl Future<Output = Result<T>>) -> Result<T> {
        match self.traced(part).await {
            Ok(value) => Ok(value),
            Err(error) => self.fail(error).await,
        }
    }

    /// `wait` as the collective the program called, for deadlock reports: what
    /// [`Round::run`] does for a whole part, for a part that waits only there.
    pub(crate) fn traced<F: Future>(&self, wait: F) -> Traced<F> {
        self.comm.traced_at(self.operation, self.location, wait)
    }

    /// Ends this member's part with `error`, telling every other member first (see the
    /// module's documentation).
    pub(crate) async fn fail<T>(&self, error: Error) -> Result<T> {
        // Pass on the original failure and where it happened, not "failed because it
        // failed".
        let origin = error
            .peer()
            .unwrap_or_else(|| self.comm.world_rank(self.rank()).unwrap_or(0));
        let mut reason = match &error {
            Error::CollectiveFailed { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        let mut end = reason.len().min(ABORT_MAX - REASON_AT);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        let mut abort = vec![ABORT];
        abort.extend_from_slice(&(origin as u64).to_le_bytes());
        abort.extend_from_slice(reason.as_bytes());
        let abort = Bytes::from(abort);
        for peer in (0..self.size()).filter(|&p| p != self.rank()) {
            // A peer that is gone cannot be waiting. One may wait for its first message of
            // a broadcast, on the broadcast's other tag.
            for tag in [Some(self.tag), self.first_tag].into_iter().flatten() {
                let _ = self.comm.send_bytes(abort.clone(), peer, tag).await;
            }
        }
        Err(error)
    }
}

/// Rank `source` sent `got` bytes of data where the collective expected `expected`.
fn size_mismatch(source: usize, expected: usize, got: usize) -> Error {
    Error::InvalidArgument(format!(
        "collective expected {expected} bytes from rank {source}, got {got}: members disagree \
         on the message size"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpi_core::local;

    /// A message framed in uninitialized room is the status and padding, then the parts,
    /// and nothing after them.
    #[test]
    fn framing_in_place_writes_the_header_and_the_parts() {
        let mut room = [MaybeUninit::uninit(); 64];
        let framed = Round::frame_into(&mut room, &[&[1, 2, 3], &[], &[4]]);
        assert_eq!(framed.len(), DATA_AT + 4);
        assert_eq!(&framed[..DATA_AT], &DATA_HEADER);
        assert_eq!(&framed[DATA_AT..], &[1, 2, 3, 4]);
        assert_eq!(Round::frame_into(&mut room, &[]), &DATA_HEADER);
    }

    /// A member that fails where another waits for bare data from it: the abort, however
    /// long its reason, arrives shorter than the data and is read as the abort it is.
    #[test]
    fn an_abort_in_place_of_bare_data_is_an_abort() {
        let long = "x".repeat(5 * ABORT_MAX);
        let outcomes = local::run(2, |comm| {
            let long = long.clone();
            async move {
                let round = Round::start(&comm, Operation::collective("test", None));
                if comm.rank() == 1 {
                    let failed = round.run(async { Err::<(), _>(Error::InvalidArgument(long)) });
                    return failed.await;
                }
                let mut buf = vec![0u8; ABORT_MAX + 1];
                round.recv_data_into(1, &mut buf).await
            }
        });
        match &outcomes[0] {
            Err(Error::CollectiveFailed { rank: 1, reason }) => {
                assert!(
                    reason.len() < ABORT_MAX && reason.contains("xxx"),
                    "{}",
                    reason.len()
                )
            }
            other => panic!("expected the abort, got {other:?}"),
        }
    }

    /// Bare data of another size than expected (members that chose different algorithms)
    /// is a size mismatch, even when its first byte is an abort's status byte.
    #[test]
    fn bare_data_that_looks_like_an_abort_is_not_one() {
        let outcomes = local::run(2, |comm| async move {
            let round = Round::start(&comm, Operation::collective("test", None));
            let data = vec![ABORT; 2 * ABORT_MAX];
            if comm.rank() == 1 {
                round.send_data(0, &data).await?;
                round.send_data(0, &data).await?;
                return Ok::<(), Error>(());
            }
            let mut buf = vec![0u8; 3 * ABORT_MAX];
            let into = round.recv_data_into(1, &mut buf).await;
            assert!(
                matches!(&into, Err(Error::InvalidArgument(m)) if m.contains("disagree")),
                "{into:?}"
            );
            let framed = round.recv(1).await;
            assert!(
                matches!(framed, Err(Error::MalformedFrame { .. })),
                "{framed:?}"
            );
            Ok(())
        });
        for outcome in outcomes {
            outcome.unwrap();
        }
    }
}
