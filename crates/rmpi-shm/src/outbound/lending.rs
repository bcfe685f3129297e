//! Lending: payloads a peer reads straight out of this process's memory instead of through
//! the ring, what is lent to whom, recalling it, and its release.

use std::time::Instant;

use bytes::Bytes;
use rmpi_core::{Header, Loan, Loans, Result};

use super::{Outgoing, Senders};
use crate::loan_slot::{LoanSlot, Recalled};
use crate::record::Record;
use crate::sync;

/// Memory lent to a peer, until it releases it.
pub(crate) struct Lent {
    /// Where it was lent, and how long it is: what the release names.
    pub(crate) address: u64,
    pub(crate) len: usize,
    /// Its slot in this rank's loan table, if it may move before it is read.
    pub(crate) slot: Option<u16>,
    pub(crate) held: Held,
}

/// What a [`Lent`] keeps until the peer releases it.
pub(crate) enum Held {
    /// A payload handed to the transport, kept here.
    Owned(Bytes),
    /// A region of the caller's memory (see [`rmpi_core::loan`]): only its place is known
    /// here, never read; dropping the loan returns it.
    Borrowed(Loan),
    /// Nothing: a recalled region the peer had read already.
    Nothing,
}

impl Lent {
    /// Whether this is what a release of `len` bytes at `address` names.
    pub(crate) fn is(&self, address: u64, len: u64) -> bool {
        self.address == address && self.len as u64 == len
    }
}

/// What a rank lends its peers that can read its memory (see [`Senders::lend`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lending {
    /// Payloads handed to the transport of at least this many bytes.
    pub(crate) payloads_from: usize,
    /// Regions of a caller's memory of at least this many bytes.
    pub(crate) regions_from: usize,
    /// Typed-buffer sends are lent whenever they can be, not only when
    /// [`Senders::prefers_loan`] finds it pays (single copies were asked for).
    pub(crate) always: bool,
}

impl Senders {
    /// Lends `dest` the `header.len` bytes at `address` in this process, if it can read
    /// them from here and they are large enough to be worth it; see [`FastPaths::lend`].
    ///
    /// [`FastPaths::lend`]: rmpi_core::FastPaths::lend
    pub(crate) fn lend(
        &self,
        dest: usize,
        header: Header,
        address: u64,
        loan: Loan,
    ) -> Result<bool> {
        let len = header.len as usize;
        if !(self.outbound(dest)?.lock().lends && len >= self.lending.regions_from) {
            return Ok(false);
        }
        let Some(slot) = self.free_slots.lock().pop() else {
            return Ok(false); // as many lent as there are slots: send a copy
        };
        self.segment.loan_slot(self.rank, slot).lend();
        let queued = self.enqueue(dest, |out| {
            out.lent.push_back(Lent {
                address,
                len,
                slot: Some(slot),
                held: Held::Borrowed(loan),
            });
            Outgoing::Bare(Record::Lent {
                header,
                address,
                slot: Some(slot),
            })
        });
        if !matches!(queued, Ok(true)) {
            self.free_slots.lock().push(slot);
        }
        // A closed peer returned the loan (dropped, unqueued): the engine reports it gone.
        queued.map(|_| true)
    }

    /// Whether a typed-buffer send to `dest` had better be lent than streamed through the
    /// ring: where ranks share cores (every ring's worth would wait for a context switch),
    /// or while `dest` is still reading what came before, or was at the last such send
    /// (messages sent in streams, from memory that is not in cache: one copy beats two,
    /// and the first of the next stream waits for nothing). A receiver that has read
    /// everything twice in a row is waiting for each message, and the two copy it
    /// through the ring together faster than it could read it from here alone.
    pub(crate) fn prefers_loan(&self, dest: usize) -> bool {
        if self.lending.always || !self.spinning {
            return true;
        }
        let Ok(out) = self.outbound(dest) else {
            return false;
        };
        let mut out = out.lock();
        let behind = !out.lent.is_empty() || !out.queue.is_empty() || !out.producer.caught_up();
        std::mem::replace(&mut out.behind, behind) || behind
    }

    /// Takes back every region of `payload` lent under `loans` (see [`FastPaths::recall`]):
    /// a peer that has not begun reading one is given a copy to read instead, one that is
    /// reading it is waited for. Every such loan is returned when this returns.
    ///
    /// [`FastPaths::recall`]: rmpi_core::FastPaths::recall
    pub(crate) fn recall(&self, loans: &Loans, payload: &[u8]) {
        let start = payload.as_ptr() as u64;
        for (peer, out) in self.outbound.iter().enumerate() {
            let Some(out) = out else { continue };
            let mut out = out.lock();
            for lent in out.lent.iter_mut() {
                let (Held::Borrowed(loan), Some(index)) = (&lent.held, lent.slot) else {
                    continue;
                };
                if !loan.is_under(loans) {
                    continue;
                }
                let at = lent.address.wrapping_sub(start) as usize;
                let Some(region) = payload.get(at..at.saturating_add(lent.len)) else {
                    debug_assert!(false, "recalled with a payload that does not hold the loan");
                    continue;
                };
                let slot = self.segment.loan_slot(self.rank, index);
                // A region already claimed needs no copy, and mostly is by now.
                let copy = match slot.is_lent() {
                    true => rmpi_core::pool::copy_of(region),
                    false => Bytes::new(),
                };
                lent.held = match slot.recall(copy.as_ptr() as u64) {
                    Recalled::Moved => Held::Owned(copy),
                    Recalled::Read => Held::Nothing,
                    Recalled::Reading => {
                        self.wait_until_read(slot, peer);
                        Held::Nothing
                    }
                };
            }
        }
    }

    /// Waits while `peer` copies a region lent to it through `slot`, which takes as long
    /// as a copy does, unless it dies doing it.
    fn wait_until_read(&self, slot: &LoanSlot, peer: usize) {
        let mut since = Instant::now();
        while !slot.is_read() {
            if since.elapsed() >= sync::LIVENESS_CHECK {
                if !sync::alive(self.pids[peer]) {
                    return;
                }
                since = Instant::now();
            }
            sync::pause(self.spinning);
        }
    }

    /// `peer` released the payload it names, which must be one lent to it. Receives match
    /// in any order, so releases come in any order too.
    pub(crate) fn take_back(
        &self,
        peer: usize,
        address: u64,
        len: u64,
    ) -> std::result::Result<(), String> {
        let Some(out) = self.outbound.get(peer).and_then(Option::as_ref) else {
            return Ok(());
        };
        let mut out = out.lock();
        let found = out.lent.iter().position(|lent| lent.is(address, len));
        match found {
            Some(at) => {
                if let Some(slot) = out.lent.remove(at).and_then(|lent| lent.slot) {
                    self.free_slots.lock().push(slot);
                }
                Ok(())
            }
            None => Err(format!(
                "released {len} bytes at {address:#x}, which were not lent to it"
            )),
        }
    }

    /// Whether a peer that is still there holds payloads lent from here.
    pub(crate) fn lending(&self) -> bool {
        self.outbound.iter().flatten().any(|out| {
            let out = out.lock();
            !out.closed && !out.lent.is_empty()
        })
    }
}
