//! A payload a peer lent: it stays in the peer's memory until the receive that matches it
//! copies it, once, straight into its buffer; then (or when it is dropped unread) the peer
//! is told it may let go. A region of the peer's caller's memory comes with a loan slot,
//! through which the peer may have moved it meanwhile (see [`loan_slot`](crate::loan_slot)).

use std::sync::Arc;

use rmpi_core::{Error, LentPayload, Result};
use rustix::process::Pid;

use crate::loan_slot::Source;
use crate::outbound::Senders;
use crate::record::Record;
use crate::single_copy;

/// See the [module documentation](self).
pub(crate) struct PeerPayload {
    /// The lender's rank and process.
    pub(crate) peer: usize,
    pub(crate) pid: Pid,
    /// Where the payload is in the lender's memory, and its length.
    pub(crate) address: u64,
    pub(crate) len: usize,
    /// The lender's loan slot, if it has one.
    pub(crate) slot: Option<u16>,
    /// Where the release goes.
    pub(crate) senders: Arc<Senders>,
    pub(crate) released: bool,
}

impl std::fmt::Debug for PeerPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerPayload")
            .field("peer", &self.peer)
            .field("address", &format_args!("{:#x}", self.address))
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl PeerPayload {
    /// Copies the payload with `copy`, given the address to copy from: where it was lent,
    /// or where the lender moved it.
    fn copy(&mut self, copy: impl FnOnce(u64) -> std::io::Result<()>) -> Result<()> {
        let Some(index) = self.slot else {
            let copied = copy(self.address);
            return self.finish(copied);
        };
        let senders = self.senders.clone();
        let slot = senders.segment().loan_slot(self.peer, index);
        let copied = match slot.claim() {
            Ok(Source::InPlace) => {
                let copied = copy(self.address);
                slot.finish_reading();
                copied
            }
            Ok(Source::Moved(address)) => copy(address),
            Err(state) => {
                self.release();
                return Err(Error::MalformedFrame {
                    rank: self.peer,
                    reason: format!("lent a payload through loan slot {index}, in state {state}"),
                });
            }
        };
        self.finish(copied)
    }

    /// Releases the payload after a copy, and says what became of the copy.
    fn finish(&mut self, copied: std::io::Result<()>) -> Result<()> {
        self.release();
        copied.map_err(|error| {
            if error.raw_os_error() == Some(libc::ESRCH) {
                Error::PeerLost { rank: self.peer }
            } else {
                Error::MalformedFrame {
                    rank: self.peer,
                    reason: format!(
                        "could not copy a lent payload of {} bytes: {error}",
                        self.len
                    ),
                }
            }
        })
    }

    fn release(&mut self) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        let released = Record::Released {
            address: self.address,
            len: self.len as u64,
        };
        if let Err(error) = self.senders.record(self.peer, released) {
            tracing::debug!("could not release a payload to rank {}: {error}", self.peer);
        }
    }
}

impl LentPayload for PeerPayload {
    fn len(&self) -> usize {
        self.len
    }

    fn read_into(&mut self, out: &mut [u8]) -> Result<()> {
        let pid = self.pid;
        self.copy(|address| single_copy::read_into(pid, address, out))
    }

    fn read_onto(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let (pid, len) = (self.pid, self.len);
        self.copy(|address| single_copy::read_onto(pid, address, len, out))
    }
}

impl Drop for PeerPayload {
    fn drop(&mut self) {
        self.release();
    }
}
