//! The one error type of rmpi's point-to-point layer.
//!
//! Every failure a user can cause or meet (a wrong rank, a buffer that is too small, a peer that
//! went away, bytes that do not decode) is a variant here, never a panic or a hang. Variants that
//! concern a peer name it by its rank in the world communicator, so that an error seen on a
//! derived communicator still points at the process that failed.

use std::io;

/// What went wrong in an rmpi operation.
///
/// Its `Debug` form is its message, so that `fn main() -> rmpi::Result<()>` ends with
/// `Error: <what went wrong>` rather than a variant's fields.
///
/// ```
/// let results = rmpi::local::run(2, |comm| async move { comm.send(&1u8, 99, 0).await });
/// let error = results[0].as_ref().unwrap_err();
/// assert!(matches!(error, rmpi::Error::InvalidRank { rank: 99, size: 2 }));
/// assert_eq!(format!("{error:?}"), "invalid rank 99: communicator has 2 ranks");
/// assert_eq!(format!("{error:?}"), error.to_string());
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rank outside `0..size` was given as a destination or source.
    #[error("invalid rank {rank}: communicator has {size} ranks")]
    InvalidRank {
        /// The rank that was asked for.
        rank: usize,
        /// The size of the communicator it was asked of.
        size: usize,
    },

    /// A tag outside `0..=TAG_UB` was given to a send, or a negative one to a receive.
    #[error("invalid tag {tag}: tags are 0..={}", crate::TAG_UB)]
    InvalidTag {
        /// The tag that was given.
        tag: i32,
    },

    /// The matched message is larger than the receive buffer. The message is consumed, as
    /// MPI does with `MPI_ERR_TRUNCATE`; none of it is silently dropped into the buffer.
    #[error(
        "message truncated: {message_bytes} bytes from rank {source_rank} (tag {tag}) \
         do not fit a {buffer_bytes}-byte buffer"
    )]
    Truncated {
        /// Sender's rank in the receiving communicator.
        source_rank: usize,
        /// Tag of the message.
        tag: i32,
        /// Size of the message.
        message_bytes: usize,
        /// Size of the buffer it was to be received into.
        buffer_bytes: usize,
    },

    /// A message's length is not a whole number of the requested element type.
    #[error(
        "message of {message_bytes} bytes from rank {source_rank} is not a whole number of \
         {element_bytes}-byte elements"
    )]
    ElementMismatch {
        /// Sender's rank in the receiving communicator.
        source_rank: usize,
        /// Size of the message.
        message_bytes: usize,
        /// Size of one element of the requested type.
        element_bytes: usize,
    },

    /// An object could not be encoded for sending.
    #[error("cannot encode message: {reason}")]
    Encode {
        /// The codec's description of the failure.
        reason: String,
    },

    /// A received message could not be decoded as the requested type.
    #[error("cannot decode message from rank {source_rank} (tag {tag}): {reason}")]
    Decode {
        /// Sender's rank in the receiving communicator.
        source_rank: usize,
        /// Tag of the message.
        tag: i32,
        /// The codec's description of the failure.
        reason: String,
    },

    /// A peer died or its connection broke while an operation needed it.
    #[error("lost contact with rank {rank}")]
    PeerLost {
        /// The lost peer's rank in the world communicator.
        rank: usize,
    },

    /// A peer shut down cleanly while an operation still waited for it: the message or
    /// acknowledgement can never come (under MPI, the program would hang).
    #[error("rank {rank} finished while an operation still waited for it")]
    PeerFinished {
        /// The finished peer's rank in the world communicator.
        rank: usize,
    },

    /// A peer sent bytes that break the wire protocol.
    #[error("malformed frame from rank {rank}: {reason}")]
    MalformedFrame {
        /// The sender's rank in the world communicator, where it is known.
        rank: usize,
        /// What was wrong with the frame.
        reason: String,
    },

    /// A peer sent more messages than this rank holds before receives take them (the
    /// job's `RMPI_UNEXPECTED_BYTES`): the rank stops taking its messages, and
    /// operations that involve it fail, rather than the process running out of memory.
    #[error(
        "rank {rank} was cut off for sending more than this rank holds of messages no receive \
         has taken: {messages} messages ({bytes} bytes with bookkeeping) were waiting, past \
         the limit of {limit} bytes (RMPI_UNEXPECTED_BYTES); receive sooner, or raise the limit"
    )]
    Flooded {
        /// The sender, as a world rank.
        rank: usize,
        /// Messages of all senders waiting for a receive when the limit was passed.
        messages: u64,
        /// What they held, with 256 bytes of bookkeeping each.
        bytes: u64,
        /// The limit.
        limit: u64,
    },

    /// A collective operation failed at another member, which told the rest so that none of
    /// them waits for it.
    #[error("collective operation failed at rank {rank}: {reason}")]
    CollectiveFailed {
        /// World rank of the member where it failed.
        rank: usize,
        /// That member's error.
        reason: String,
    },

    /// An argument that is neither a rank nor a tag is out of its range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Joining the job failed: the launcher's key-value service could not be reached, a rank
    /// never published its address, or the environment a launcher provides is malformed.
    #[error("bootstrap failed: {0}")]
    Bootstrap(String),

    /// The transport's I/O failed.
    #[error("transport I/O error: {0}")]
    Io(#[from] io::Error),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `Result` with rmpi's [`Error`].
///
/// ```
/// fn checked(rank: usize, size: usize) -> rmpi::Result<usize> {
///     if rank < size { Ok(rank) } else { Err(rmpi::Error::InvalidRank { rank, size }) }
/// }
/// assert!(checked(3, 2).is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The world rank of the peer this error is about, where it is about one.
    ///
    /// ```
    /// assert_eq!(rmpi::Error::PeerLost { rank: 3 }.peer(), Some(3));
    /// assert_eq!(rmpi::Error::InvalidRank { rank: 9, size: 2 }.peer(), None);
    /// ```
    pub fn peer(&self) -> Option<usize> {
        match self {
            Error::PeerLost { rank }
            | Error::PeerFinished { rank }
            | Error::MalformedFrame { rank, .. }
            | Error::Flooded { rank, .. }
            | Error::CollectiveFailed { rank, .. } => Some(*rank),
            _ => None,
        }
    }
}
