//! How a message travels: the one place that says which way a payload goes, by its size,
//! how many receive it, the job's settings and whether ranks have cores of their own.
//! Transports and collectives ask here; they carry the decision out.
//!
//! For one receiver, in order:
//! - **Copied**: a payload shorter than [`LEND_FROM`], or one the transport cannot lend,
//!   is copied into the transport (shared memory copies it straight into the ring; TCP
//!   writes it to the socket), and the send completes at once.
//! - **Lent** (a rendezvous, see [`crate::rendezvous`]): a typed-buffer send of at least
//!   [`LEND_FROM`] bytes to a receiver that can read this process's memory, from the
//!   transport's own threshold ([`single_copy_from`] for payloads it holds,
//!   [`loan_from`] for a caller's regions), where the transport prefers it
//!   ([`FastPaths::prefers_loan`](crate::FastPaths::prefers_loan)): the receiver copies it
//!   once, straight into its buffer.
//!
//! For several receivers (a broadcast's data):
//! - **Fanned out**: from [`FANOUT_FROM`] bytes, where the transport has an area all of them
//!   read, one copy for all ([`FastPaths::fan_out`](crate::FastPaths::fan_out)).
//! - **Shared**: otherwise, from [`SHARED_FROM`] bytes, one pooled copy that every send
//!   shares; below it, each send copies from the caller's buffer.

use crate::config::SingleCopy;
use crate::host::cores;

/// Typed-buffer payloads shorter than this are copied at once, never lent: the receiver's
/// system call and the release would cost more than the copy saves. Transports lend only
/// from their own threshold, which may be higher.
pub const LEND_FROM: usize = 16 << 10;

/// Payloads for several receivers of at least this many bytes are fanned out where the
/// transport can; shorter ones go to each receiver on its own, where it finds them in the
/// record's own lines. Fanning out paid from 16 KiB in a 4-rank bcast on 2 cores.
pub const FANOUT_FROM: usize = 16 << 10;

/// From this many bytes, data neither fanned out nor lent goes to several receivers in one
/// pooled copy rather than straight from the caller's buffer: a ring may not have room for
/// it all, and a sender copying straight into a full ring waits for its reader (who may not
/// have a core), where a pooled copy waits in the queue. Below it, copying straight into
/// the rings saves a copy.
pub const SHARED_FROM: usize = 128 << 10;

/// The smallest payload a transport holds that it lends rather than copies, under the
/// job's `choice` (`RMPI_SHM_SINGLE_COPY`), for a job of `ranks` ranks: with `Auto`,
/// 128 KiB where ranks outnumber cores (every ring's worth would wait for a context switch,
/// and one copy by the receiver wins), none otherwise (sender and receiver stream through
/// the ring at once, the receiver copying straight into its receive's buffer).
pub fn single_copy_from(choice: SingleCopy, ranks: usize) -> Option<usize> {
    match choice {
        SingleCopy::Auto if ranks > cores() => Some(128 << 10),
        SingleCopy::Auto => None,
        SingleCopy::Off => None,
        SingleCopy::From(bytes) => Some(bytes),
    }
}

/// The smallest region of a caller's memory lent in place
/// ([`FastPaths::lend`](crate::FastPaths::lend)) under `choice`: with `Auto`, from 32 KiB
/// where ranks have cores of their own (a collective's sender waits for its regions to be
/// read anyway, and one copy beats two); otherwise as [`single_copy_from`].
pub fn loan_from(choice: SingleCopy, ranks: usize) -> Option<usize> {
    match choice {
        SingleCopy::Auto if ranks <= cores() => Some(32 << 10),
        other => single_copy_from(other, ranks),
    }
}
